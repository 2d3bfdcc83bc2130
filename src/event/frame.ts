/**
 * wslay's frame-based API: one frame at a time, with non-blocking I/O through callbacks and no protocol rules
 * beyond what the frame format itself needs. Headers are written by the core's `writeHeader`, frames are read by
 * the core's `FrameParser`; this file adds wslay's resumable state (a frame may go out over many calls) and its
 * return codes.
 */
import { applyMask } from '../core/bytes.ts';
import { isControl, MAX_CONTROL_PAYLOAD } from '../core/constants.ts';
import { writeHeader } from '../core/frame.ts';
import { FrameParser, Step } from '../core/frame-parser.ts';
import { defaultRandomMask } from '../core/platform.ts';
import { ReadBuffers } from './read-buffers.ts';
import { ErrorCode, type FrameCallbacks, type FrameIocb, IoFlags } from './types.ts';

/** Where the outgoing frame is. */
const SendState = {
  PrepHeader: 'prep-header',
  SendHeader: 'send-header',
  SendPayload: 'send-payload',
} as const;
type SendState = (typeof SendState)[keyof typeof SendState];

/** The largest header: 2 bytes, 8 bytes of length, 4 bytes of mask. */
const MAX_HEADER_SIZE = 14;

/** Where `advance` puts bytes: a callback or a buffer. `put` returns how many it took, or a negative ErrorCode. */
type Put = (data: Uint8Array, more: boolean) => number;

export class FrameContext {
  private readonly callbacks: FrameCallbacks;
  private sendState: SendState = SendState.PrepHeader;
  private readonly header = new Uint8Array(MAX_HEADER_SIZE);
  private headerLength = 0;
  private headerOffset = 0;
  private readonly mask = new Uint8Array(4);
  private masked = false;
  private payloadLength = 0;
  private payloadOffset = 0;
  private readonly parser = new FrameParser();
  private readonly readBuffers = new ReadBuffers();

  constructor(callbacks: FrameCallbacks) {
    for (const name of ['send', 'recv', 'genmask'] as const) {
      const callback = callbacks[name];
      if (callback !== undefined && typeof callback !== 'function') {
        throw new TypeError(`callback ${name} must be a function`);
      }
    }
    this.callbacks = { ...callbacks };
  }

  /**
   * Sends (part of) a frame: the header, then `iocb.data`. Returns how many payload bytes were sent; call
   * again with the rest of the payload in `iocb.data` until all `iocb.payloadLength` bytes are gone. Returns
   * `WantWrite` when the callback would block, `InvalidArgument` for a frame that cannot be encoded.
   */
  send(iocb: FrameIocb): number {
    return this.advance(iocb, (data, more) => this.callSend(data, more));
  }

  /**
   * Like `send`, into `buf` (at least 14 bytes): how many bytes were written and how many of them were
   * payload (advance `iocb.data` by `payloadWritten`).
   */
  write(iocb: FrameIocb, buf: Uint8Array): { written: number; payloadWritten: number } | number {
    if (buf.length < MAX_HEADER_SIZE) return ErrorCode.InvalidArgument;
    let at = 0;
    const result = this.advance(iocb, (data) => {
      const n = Math.min(buf.length - at, data.length);
      if (n === 0) return ErrorCode.WouldBlock;
      buf.set(data.subarray(0, n), at);
      at += n;
      return n;
    });
    if (result === ErrorCode.WantWrite) return { written: at, payloadWritten: 0 };
    return result < 0 ? result : { written: at, payloadWritten: result };
  }

  private advance(iocb: FrameIocb, put: Put): number {
    if (this.sendState === SendState.PrepHeader) {
      const prepared = this.prepareHeader(iocb);
      if (prepared !== 0) return prepared;
    }
    if (this.sendState === SendState.SendHeader) {
      const more = this.payloadLength > 0;
      while (this.headerOffset < this.headerLength) {
        const n = put(this.header.subarray(this.headerOffset, this.headerLength), more);
        if (n < 0 || n === 0) return n === 0 || n === ErrorCode.WouldBlock ? ErrorCode.WantWrite : n;
        this.headerOffset += n;
      }
      this.sendState = SendState.SendPayload;
    }
    return this.sendPayload(iocb, put);
  }

  private prepareHeader(iocb: FrameIocb): number {
    const { fin, rsv, opcode, payloadLength, data } = iocb;
    const valid =
      Number.isInteger(opcode) &&
      opcode >= 0 &&
      opcode <= 0xf &&
      Number.isInteger(rsv) &&
      rsv >= 0 &&
      rsv <= 7 &&
      Number.isSafeInteger(payloadLength) &&
      payloadLength >= 0 &&
      data.length <= payloadLength &&
      // RFC 6455 §5.5: control frames are not fragmented and carry at most 125 bytes.
      (!isControl(opcode) || (fin && payloadLength <= MAX_CONTROL_PAYLOAD));
    if (!valid) return ErrorCode.InvalidArgument;
    this.masked = iocb.mask;
    if (this.masked) {
      const failed = this.nextMask();
      if (failed !== 0) return failed;
    }
    const header = { fin, rsv, opcode, mask: this.masked ? this.mask : null };
    this.headerLength = writeHeader(this.header, 0, header, payloadLength);
    this.headerOffset = 0;
    this.payloadLength = payloadLength;
    this.payloadOffset = 0;
    this.sendState = SendState.SendHeader;
    return 0;
  }

  private sendPayload(iocb: FrameIocb, put: Put): number {
    let sent = 0;
    const data = iocb.data.subarray(0, this.payloadLength - this.payloadOffset);
    while (sent < data.length) {
      let piece = data.subarray(sent);
      if (this.masked) {
        piece = piece.slice();
        applyMask(piece, this.mask, this.payloadOffset & 3);
      }
      const n = put(piece, false);
      if (n === 0 || n === ErrorCode.WouldBlock) break;
      if (n < 0) return n;
      sent += n;
      this.payloadOffset += n;
    }
    if (this.payloadOffset === this.payloadLength) this.sendState = SendState.PrepHeader;
    else if (sent === 0 && data.length > 0) return ErrorCode.WantWrite;
    return sent;
  }

  private callSend(data: Uint8Array, more: boolean): number {
    let n: number;
    try {
      n = this.callbacks.send(data, more ? IoFlags.MsgMore : 0);
    } catch {
      return ErrorCode.CallbackFailure;
    }
    if (n === -1 || n === ErrorCode.WouldBlock) return ErrorCode.WouldBlock;
    if (n < 0) return ErrorCode.CallbackFailure;
    if (!Number.isInteger(n) || n > data.length) return ErrorCode.InvalidCallback;
    return n;
  }

  private nextMask(): number {
    const genmask = this.callbacks.genmask;
    if (genmask === undefined) {
      this.mask.set(defaultRandomMask());
      return 0;
    }
    try {
      return genmask(this.mask) === 0 ? 0 : ErrorCode.InvalidCallback;
    } catch {
      return ErrorCode.InvalidCallback;
    }
  }

  /**
   * Reads the next piece of a frame into `iocb`: its header fields and `data`, a piece of unmasked payload
   * (empty for a frame without payload). Returns the piece's length, `WantRead` when the recv callback has
   * nothing more, `Proto` for bytes that are not a valid frame header.
   */
  recv(iocb: FrameIocb): number {
    const parser = this.parser;
    for (;;) {
      switch (parser.next()) {
        case Step.Head:
          // RFC 6455 §5.5: control frames are not fragmented and carry at most 125 bytes.
          if (isControl(parser.opcode) && (!parser.fin || parser.length > MAX_CONTROL_PAYLOAD)) {
            return ErrorCode.Proto;
          }
          break;
        case Step.BadLength:
          return ErrorCode.Proto;
        case Step.Header:
          if (parser.length === 0) return this.fill(iocb, new Uint8Array(0));
          break;
        case Step.Data:
          return this.fill(iocb, parser.data);
        case Step.End:
          break;
        case Step.NeedData: {
          const read = this.readSome();
          if (read <= 0) return read === 0 ? ErrorCode.WantRead : read;
        }
      }
    }
  }

  private fill(iocb: FrameIocb, data: Uint8Array): number {
    const parser = this.parser;
    iocb.fin = parser.fin;
    iocb.rsv = parser.rsv;
    iocb.opcode = parser.opcode;
    iocb.payloadLength = parser.length;
    iocb.mask = parser.masked;
    iocb.data = data;
    return data.length;
  }

  /** Calls the recv callback once: bytes read, 0 when nothing came, or a negative ErrorCode. */
  private readSome(): number {
    const region = this.readBuffers.next();
    let got: number | Uint8Array;
    try {
      got = this.callbacks.recv(region, 0);
    } catch {
      return ErrorCode.CallbackFailure;
    }
    if (typeof got === 'number') {
      if (got === -1 || got === ErrorCode.WouldBlock) return 0;
      if (got < 0) return ErrorCode.CallbackFailure;
      if (!Number.isInteger(got) || got > region.length) return ErrorCode.InvalidCallback;
      got = region.subarray(0, got);
    } else if (!(got instanceof Uint8Array) || got.length > region.length) {
      return ErrorCode.InvalidCallback;
    }
    if (got.length === 0) return 0;
    const end = ReadBuffers.endWithin(region, got);
    if (end >= 0) this.readBuffers.commit(end);
    this.parser.push(got);
    return got.length;
  }
}
