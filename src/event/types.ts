/**
 * Types and constants of the event layer: wslay's event-based and frame-based API with TypeScript names
 * (see docs: the event layer's contract maps every wslay name to one here).
 */
import type { EventContext } from './context.ts';

/** wslay's error codes, same numbers: functions return them (negative) instead of throwing. */
export const ErrorCode = {
  WantRead: -100,
  WantWrite: -101,
  Proto: -200,
  InvalidArgument: -300,
  InvalidCallback: -301,
  NoMoreMsg: -302,
  CallbackFailure: -400,
  WouldBlock: -401,
  NoMem: -500,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Flags given to the send callbacks. `MsgMore`: more bytes follow right away (a hint, like MSG_MORE). */
export const IoFlags = { MsgMore: 1 } as const;

export interface OnFrameRecvStartArg {
  fin: boolean;
  /** RSV bits, wslay numbering: RSV1 = 4, RSV2 = 2, RSV3 = 1. */
  rsv: number;
  /** The frame's own opcode: `Opcode.Continuation` for the second and later frames of a message. */
  opcode: number;
  payloadLength: number;
}

export interface OnFrameRecvChunkArg {
  /** A piece of unmasked payload; valid only during the callback (copy it to keep it). */
  data: Uint8Array;
}

export interface OnMsgRecvArg {
  /** RSV bits of the message's first frame. */
  rsv: number;
  opcode: number;
  /**
   * The whole message (a close message's payload includes its 2-byte code). Empty for data messages in
   * no-buffering mode.
   */
  msg: Uint8Array;
  /** For a close message: its status code, 0 when it had none. Otherwise 0. */
  statusCode: number;
}

export interface EventCallbacks {
  /**
   * Fill `buf` with at most `buf.length` bytes and return how many, or return a chunk of at most `buf.length`
   * bytes (zero-copy: the context owns it afterwards). Nothing to read now: `ctx.setError(ErrorCode.WouldBlock)`
   * and return -1. Any other failure: `ctx.setError(ErrorCode.CallbackFailure)` and return -1 (or throw).
   */
  recv?(ctx: EventContext, buf: Uint8Array, flags: number): number | Uint8Array;
  /** Send at most `data.length` bytes and return how many were taken; same error convention as `recv`. */
  send?(ctx: EventContext, data: Uint8Array, flags: number): number;
  /** Client only: fill `buf` (4 bytes) with a fresh mask key and return 0. Default: crypto-strong random bytes. */
  genmask?(ctx: EventContext, buf: Uint8Array): number;
  onFrameRecvStart?(ctx: EventContext, arg: OnFrameRecvStartArg): void;
  onFrameRecvChunk?(ctx: EventContext, arg: OnFrameRecvChunkArg): void;
  onFrameRecvEnd?(ctx: EventContext): void;
  /** Called for every complete message, control messages (ping, pong, close) included. */
  onMsgRecv?(ctx: EventContext, arg: OnMsgRecvArg): void;
}

/** `queueMsg`'s argument. A string is sent as its UTF-8 bytes. */
export interface EventMsg {
  opcode: number;
  msg: Uint8Array | string;
}

/** What a fragmented message's reader produced: `length` bytes were written into the buffer. */
export interface ReadResult {
  length: number;
  /** true once the source is exhausted (this piece is the last one). */
  eof: boolean;
}

/**
 * `queueFragmentedMsg`'s reader: write at most `buf.length` (4096) bytes of the message into `buf`. Length 0
 * without eof means "nothing yet, ask again later". On failure: `ctx.setError(ErrorCode.CallbackFailure)`;
 * return -1 (or throw).
 */
export type FragmentedMsgReader = (ctx: EventContext, buf: Uint8Array, source: unknown) => ReadResult | -1;

export interface FragmentedMsg {
  opcode: number;
  source: unknown;
  readCallback: FragmentedMsgReader;
}

/** The frame API's I/O control block (wslay's `struct wslay_frame_iocb`). */
export interface FrameIocb {
  fin: boolean;
  rsv: number;
  opcode: number;
  /** The whole frame's payload length. */
  payloadLength: number;
  mask: boolean;
  /** Sending: the payload bytes not sent yet. Receiving: the piece of (unmasked) payload just read. */
  data: Uint8Array;
}

/** The frame API's callbacks: like the event callbacks, without a context argument. */
export interface FrameCallbacks {
  send(data: Uint8Array, flags: number): number;
  recv(buf: Uint8Array, flags: number): number | Uint8Array;
  genmask?(buf: Uint8Array): number;
}
