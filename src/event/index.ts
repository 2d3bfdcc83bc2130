// tslay/event: wslay's event-based and frame-based API. Public exports only.
export { CloseCode, Opcode, Rsv } from '../core/constants.ts';
export { EventContext } from './context.ts';
export { createDeflateCodec, type DeflateCodec, type DeflateCodecOptions } from './deflate.ts';
export { FrameContext } from './frame.ts';
export { getRsv1, getRsv2, getRsv3, isCtrlFrame } from './rsv.ts';
export {
  ErrorCode,
  type EventCallbacks,
  type EventMsg,
  type FragmentedMsg,
  type FragmentedMsgReader,
  type FrameCallbacks,
  type FrameIocb,
  IoFlags,
  type OnFrameRecvChunkArg,
  type OnFrameRecvStartArg,
  type OnMsgRecvArg,
  type ReadResult,
} from './types.ts';
