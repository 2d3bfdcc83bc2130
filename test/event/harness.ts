/**
 * wslay's test fixtures in TypeScript: a scripted recv callback (bytes delivered in a given sequence of pieces,
 * would-block between them), an accumulating send callback, a one-byte send callback, and a recorder of every
 * callback the event context makes.
 */
import { ErrorCode, type EventCallbacks, type EventContext } from '../../src/event/index.ts';
import { toHex } from '../helpers/hex.ts';

/** Recv callback fed from a script: each call returns the next piece, or would-block when the piece is done. */
export class ScriptedRecv {
  private pieces: Uint8Array[] = [];
  /** Calls that returned data; after each piece comes one would-block. */
  calls = 0;
  private blocked = false;

  constructor(pieces: Uint8Array[] = []) {
    this.pieces = [...pieces];
  }

  push(...pieces: Uint8Array[]): void {
    this.pieces.push(...pieces);
  }

  get remaining(): number {
    return this.pieces.reduce((n, p) => n + p.length, 0);
  }

  /** Copies into the buffer (wslay style); a piece larger than the buffer is split. */
  readonly recv = (ctx: EventContext, buf: Uint8Array): number => {
    const data = this.take(ctx, buf.length);
    if (data === null) return -1;
    buf.set(data);
    return data.length;
  };

  /** Returns the piece itself (zero-copy). */
  readonly recvChunk = (ctx: EventContext, buf: Uint8Array): number | Uint8Array =>
    this.take(ctx, buf.length) ?? -1;

  /** At most `max` bytes of the next piece; null (would-block reported to `ctx`) after each piece. */
  private take(ctx: EventContext, max: number): Uint8Array | null {
    const piece = this.pieces[0];
    if (piece === undefined || this.blocked) {
      this.blocked = false;
      ctx.setError(ErrorCode.WouldBlock);
      return null;
    }
    const n = Math.min(piece.length, max);
    if (n === piece.length) {
      this.pieces.shift();
      this.blocked = true;
    } else this.pieces[0] = piece.subarray(n);
    this.calls++;
    return piece.subarray(0, n);
  }
}

/** Send callback that takes everything (wslay's accumulator), or at most `limit` bytes per call. */
export class Accumulator {
  private parts: Uint8Array[] = [];
  /** Total bytes it accepts before it would-block (Infinity: never blocks). */
  budget = Number.POSITIVE_INFINITY;
  flags: number[] = [];

  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  readonly send = (ctx: EventContext, data: Uint8Array, flags: number): number => {
    const n = Math.min(data.length, this.limit, this.budget);
    if (n === 0) {
      ctx.setError(ErrorCode.WouldBlock);
      return -1;
    }
    this.budget -= n;
    this.parts.push(data.slice(0, n));
    this.flags.push(flags);
    return n;
  };

  get hex(): string {
    return this.parts.map(toHex).join('');
  }

  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }

  clear(): void {
    this.parts = [];
    this.flags = [];
  }
}

export type Seen =
  | { cb: 'start'; fin: boolean; rsv: number; opcode: number; payloadLength: number }
  | { cb: 'chunk'; data: string }
  | { cb: 'end' }
  | { cb: 'msg'; rsv: number; opcode: number; msg: string; statusCode: number };

/** Callbacks that record what they see (`chunks` merged so every feed schedule gives the same list). */
export function recorder(): { seen: Seen[]; messages: () => Seen[]; callbacks: EventCallbacks } {
  const seen: Seen[] = [];
  const callbacks: EventCallbacks = {
    onFrameRecvStart: (_ctx, arg) => seen.push({ cb: 'start', ...arg }),
    onFrameRecvChunk: (_ctx, arg) => {
      const last = seen.at(-1);
      if (last?.cb === 'chunk') last.data += toHex(arg.data);
      else seen.push({ cb: 'chunk', data: toHex(arg.data) });
    },
    onFrameRecvEnd: () => seen.push({ cb: 'end' }),
    onMsgRecv: (_ctx, arg) => seen.push({ cb: 'msg', ...arg, msg: toHex(arg.msg) }),
  };
  return { seen, messages: () => seen.filter((s) => s.cb === 'msg'), callbacks };
}

/** A genmask callback that always gives the same key. */
export function fixedGenmask(key: Uint8Array): (ctx: EventContext, buf: Uint8Array) => number {
  return (_ctx, buf) => {
    buf.set(key);
    return 0;
  };
}
