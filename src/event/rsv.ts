import { isControl, Rsv } from '../core/constants.ts';

/** `wslay_is_ctrl_frame`: is `opcode` a control frame's (close, ping, pong)? */
export function isCtrlFrame(opcode: number): boolean {
  return isControl(opcode);
}

/** `wslay_get_rsv1`: the RSV1 bit of `rsv` (wslay numbering), as 0 or 1. */
export function getRsv1(rsv: number): number {
  return (rsv & Rsv.Rsv1) === 0 ? 0 : 1;
}

export function getRsv2(rsv: number): number {
  return (rsv & Rsv.Rsv2) === 0 ? 0 : 1;
}

export function getRsv3(rsv: number): number {
  return (rsv & Rsv.Rsv3) === 0 ? 0 : 1;
}
