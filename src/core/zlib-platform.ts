/**
 * The only place in core/ that touches node:zlib: raw DEFLATE contexts that run synchronously and keep their
 * sliding window between calls, which is what permessage-deflate's context takeover needs (RFC 7692 §7.2.3).
 *
 * Why the native handle and not `_processChunk`: on Node 20 the synchronous `_processChunk(chunk, flush)` (the
 * path behind `zlib.inflateRawSync`) closes the zlib handle when it returns, so the second message would find
 * `_handle === null`. We therefore create the context with the public `createInflateRaw()`/`createDeflateRaw()`
 * (which validate options and run inflateInit2/deflateInit2) and drive its handle with the same call
 * `processChunkSync` makes: `handle.writeSync(flush, in, inOff, inLen, out, outOff, outLen)`, whose result lands
 * in the stream's `_writeState` (`[availOutAfter, availInAfter]`). That signature has been stable since Node 10.
 * We also own `handle.onerror`, so a data error is a return value here instead of a stream 'error' event.
 * `assertInternals()` turns a future change of these internals into a clear error at creation time.
 *
 * Driving zlib ourselves also gives the output limit its teeth: we hand zlib at most `limit + 1` bytes of output
 * room, so a decompression bomb stops after `limit` bytes however much it would expand.
 */
import type * as zlibTypes from 'node:zlib';
import { requireBuiltin } from './platform.ts';

/** Loaded on the first context: a server or client that never negotiates permessage-deflate never loads zlib. */
let zlibModule: typeof zlibTypes | undefined;
const zlib = (): typeof zlibTypes => (zlibModule ??= requireBuiltin('node:zlib'));

/** `none` lets zlib keep input buffered; `sync` flushes to a byte boundary with an empty stored block. */
export type ZlibFlush = 'none' | 'sync';

export interface ZlibOutput {
  /** Output bytes, in order (fresh copies the caller may keep). */
  chunks: Uint8Array[];
  /** Total length of `chunks`. */
  length: number;
  /** More than `limit` bytes came out; zlib was stopped there, so the context is now mid-stream. */
  overflow: boolean;
  /** Inflate only: the DEFLATE stream ended (a block with BFINAL = 1); input after it was left unread. */
  ended: boolean;
}

export interface ZlibFailure {
  /** zlib's message, e.g. `invalid block type`. */
  error: string;
}

export interface RawZlib {
  /** Runs all of `input` through zlib; stops early once more than `limit` bytes of output have come out. */
  push(input: Uint8Array, flush: ZlibFlush, limit?: number): ZlibOutput | ZlibFailure;
  /** Forgets the sliding window and any partial stream (inflateReset / deflateReset). */
  reset(): void;
  /** Frees zlib's memory; the object must not be used afterwards. */
  close(): void;
}

export interface RawDeflaterOptions {
  /** 9..15; 8 is not supported by zlib's deflate (see permessage-deflate.ts), callers map it to 9. */
  windowBits: number;
  /** 0..9 */
  level: number;
  /** 1..9 */
  memLevel: number;
}

/** Output room per zlib call. The bytes are copied out right away, so one buffer serves every context. */
const OUT_CHUNK = 16 * 1024;
let scratch: Uint8Array | null = null;

/** Node's zlib handle as `processChunkSync` in lib/zlib.js uses it (internal API). */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string, errno: number, code?: string) => void;
  reset(): void;
}

interface NodeZlibInternals {
  _handle: NativeHandle | null;
  _writeState: Uint32Array;
  close(): void;
}

/** zlib.h's flush values (fixed by zlib's ABI). */
const Z_NO_FLUSH = 0;
const Z_SYNC_FLUSH = 2;

/** Node allocates a stream-side output buffer of `chunkSize` that we never use: keep it at the minimum (Z_MIN_CHUNK). */
const UNUSED_STREAM_CHUNK = 64;

export function createRawInflater(windowBits: number): RawZlib {
  return new NodeRawZlib(zlib().createInflateRaw({ windowBits, chunkSize: UNUSED_STREAM_CHUNK }));
}

export function createRawDeflater(options: RawDeflaterOptions): RawZlib {
  const { windowBits, level, memLevel } = options;
  return new NodeRawZlib(
    zlib().createDeflateRaw({ windowBits, level, memLevel, chunkSize: UNUSED_STREAM_CHUNK }),
  );
}

function assertInternals(stream: object): asserts stream is NodeZlibInternals {
  const s = stream as Partial<NodeZlibInternals>;
  if (typeof s._handle?.writeSync !== 'function' || !(s._writeState instanceof Uint32Array)) {
    throw new Error(
      `node:zlib internals changed (Node ${process.version}): no _handle.writeSync/_writeState`,
    );
  }
}

class NodeRawZlib implements RawZlib {
  readonly #stream: NodeZlibInternals;
  readonly #handle: NativeHandle;
  #error: string | null = null;

  constructor(stream: object) {
    assertInternals(stream);
    this.#stream = stream;
    this.#handle = stream._handle!;
    this.#handle.onerror = (message) => {
      this.#error = message;
    };
  }

  push(input: Uint8Array, flush: ZlibFlush, limit = Number.POSITIVE_INFINITY): ZlibOutput | ZlibFailure {
    const out = (scratch ??= new Uint8Array(OUT_CHUNK));
    const state = this.#stream._writeState;
    const flag = flush === 'sync' ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    const result: ZlibOutput = { chunks: [], length: 0, overflow: false, ended: false };
    let inOff = 0;
    let inLeft = input.length;
    for (;;) {
      // One byte more than the limit allows, so "more than limit" is observable without inflating further.
      const room = Math.min(out.length, limit - result.length + 1);
      this.#handle.writeSync(flag, input, inOff, inLeft, out, 0, room);
      if (this.#error !== null) return this.#fail();
      const [outLeft, nextInLeft] = state as unknown as [number, number];
      const produced = room - outLeft;
      if (produced > 0) {
        result.chunks.push(out.slice(0, produced));
        result.length += produced;
      }
      inOff += inLeft - nextInLeft;
      inLeft = nextInLeft;
      if (result.length > limit) {
        result.overflow = true;
        return result;
      }
      // zlib stops with output room to spare only when it is done: all input used and flushed, or (inflate)
      // the stream ended and the rest of the input is not part of it.
      if (outLeft > 0) {
        result.ended = inLeft > 0;
        return result;
      }
    }
  }

  reset(): void {
    this.#error = null;
    this.#handle.reset();
  }

  close(): void {
    this.#stream.close();
  }

  #fail(): ZlibFailure {
    const error = this.#error!;
    this.#error = null;
    return { error };
  }
}
