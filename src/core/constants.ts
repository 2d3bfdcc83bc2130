/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];
export type DataOpcode = typeof Opcode.Text | typeof Opcode.Binary;

/** Close status codes (RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number Registry"). */
export const CloseCode = {
  NormalClosure: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatusRcvd: 1005,
  AbnormalClosure: 1006,
  InvalidFramePayloadData: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExt: 1010,
  InternalServerError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  TlsHandshake: 1015,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Connection states, named after the WebSocket API's readyState values. */
export const State = {
  Connecting: 'connecting',
  Open: 'open',
  Closing: 'closing',
  Closed: 'closed',
} as const;
export type State = (typeof State)[keyof typeof State];

export const Role = { Client: 'client', Server: 'server' } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** RSV bits with wslay's numbering: RSV1 = 4, RSV2 = 2, RSV3 = 1 (the header's bits 6..4 shifted down by 4). */
export const Rsv = { None: 0, Rsv1: 4, Rsv2: 2, Rsv3: 1 } as const;

/** Largest payload length we accept: 2^53-1, the largest integer a JavaScript number holds exactly. */
export const MAX_PAYLOAD_LENGTH = Number.MAX_SAFE_INTEGER;
/** RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less". */
export const MAX_CONTROL_PAYLOAD = 125;

export function isControl(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

export function isKnownOpcode(opcode: number): boolean {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}

/**
 * May `code` appear in a close frame on the wire? RFC 6455 §7.4: 1000-1003, 1007-1011 are defined; 1004,
 * 1005, 1006 and 1015 MUST NOT be sent; the IANA registry adds 1012-1014; 3000-4999 are for libraries,
 * frameworks and applications. Everything else below 5000 is reserved.
 */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  if (code >= 1000 && code <= 1003) return true;
  return code >= 1007 && code <= 1014;
}
