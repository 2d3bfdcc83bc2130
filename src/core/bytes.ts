/** Byte helpers for the hot path: masking, concatenation, a chunk queue that copies only across boundaries. */

import { allocUnsafe, ByteView, nativeMasking } from './platform.ts';
import { type SimdKernel, simdKernel } from './simd-mask.ts';

export const EMPTY = new Uint8Array(0);

/** Below this many bytes a byte loop (4 bytes per step) beats setting up a 32-bit view. */
const WORD_THRESHOLD = 96;
/** From this many bytes the WebAssembly SIMD kernel (copy in, XOR, copy out) beats 32-bit words in JavaScript. */
const SIMD_THRESHOLD = 128;
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Which kernel masks runs of `WORD_THRESHOLD` bytes and more: node's native one, WebAssembly SIMD, or words. */
export const maskKernel: 'native' | 'simd' | 'js' =
  nativeMasking !== null ? 'native' : simdKernel !== null ? 'simd' : 'js';

/** The key rotated to start at mask position `phase` (1..3), for the native kernel, which starts at 0. */
const rotatedKey = new Uint8Array(4);
function rotate(mask: Uint8Array, phase: number): Uint8Array {
  rotatedKey[0] = mask[phase & 3];
  rotatedKey[1] = mask[(phase + 1) & 3];
  rotatedKey[2] = mask[(phase + 2) & 3];
  rotatedKey[3] = mask[(phase + 3) & 3];
  return rotatedKey;
}

/** The 4 mask bytes starting at `phase`, as the 32-bit word whose memory order is m[phase], m[phase+1], …. */
function maskWord(mask: Uint8Array, phase: number, little: boolean): number {
  const m0 = mask[phase & 3];
  const m1 = mask[(phase + 1) & 3];
  const m2 = mask[(phase + 2) & 3];
  const m3 = mask[(phase + 3) & 3];
  return little ? m0 | (m1 << 8) | (m2 << 16) | (m3 << 24) : (m0 << 24) | (m1 << 16) | (m2 << 8) | m3;
}

/**
 * XORs `data` in place with the 4-byte `mask`, starting at mask position `offset` (0..3), and returns the mask
 * position after the last byte. RFC 6455 §5.3: octet i of the transformed data is octet i of the original data
 * XOR octet (i MOD 4) of the masking key. Short runs go byte by byte, longer ones through node's native kernel
 * where there is one (Node >= 26), else large ones through the WebAssembly SIMD kernel, the rest as aligned
 * 32-bit words.
 */
export function applyMask(data: Uint8Array, mask: Uint8Array, offset = 0): number {
  const length = data.length;
  if (length < WORD_THRESHOLD) maskBytes(data, mask, offset, 0, length);
  else if (nativeMasking !== null)
    nativeMasking.unmask(data, (offset & 3) === 0 ? mask : rotate(mask, offset));
  else if (length >= SIMD_THRESHOLD && simdKernel !== null) maskSimd(simdKernel, data, mask, offset, data, 0);
  else maskWords(data, mask, offset);
  return (offset + length) & 3;
}

/** `applyMask` without WebAssembly (the fallback path; exported for tests and benchmarks). */
export function applyMaskJs(data: Uint8Array, mask: Uint8Array, offset = 0): number {
  if (data.length < WORD_THRESHOLD) maskBytes(data, mask, offset, 0, data.length);
  else maskWords(data, mask, offset);
  return (offset + data.length) & 3;
}

/** Bytes [from, to) of `data`, whose byte 0 has mask position `offset`. */
function maskBytes(data: Uint8Array, mask: Uint8Array, offset: number, from: number, to: number): void {
  const phase = offset + from;
  const m0 = mask[phase & 3];
  const m1 = mask[(phase + 1) & 3];
  const m2 = mask[(phase + 2) & 3];
  const m3 = mask[(phase + 3) & 3];
  let i = from;
  for (; i + 4 <= to; i += 4) {
    data[i] ^= m0;
    data[i + 1] ^= m1;
    data[i + 2] ^= m2;
    data[i + 3] ^= m3;
  }
  for (; i < to; i++) data[i] ^= mask[(offset + i) & 3];
}

/**
 * `maskBytes` that writes elsewhere: bytes [from, to) of `source` masked into `target` at `at + from`. In place,
 * the loop of `maskBytes` (one array) is a few nanoseconds faster per short payload, so both are kept.
 */
function maskBytesInto(
  source: Uint8Array,
  mask: Uint8Array,
  offset: number,
  from: number,
  to: number,
  target: Uint8Array,
  at: number,
): void {
  const phase = offset + from;
  const m0 = mask[phase & 3];
  const m1 = mask[(phase + 1) & 3];
  const m2 = mask[(phase + 2) & 3];
  const m3 = mask[(phase + 3) & 3];
  let i = from;
  for (; i + 4 <= to; i += 4) {
    target[at + i] = source[i] ^ m0;
    target[at + i + 1] = source[i + 1] ^ m1;
    target[at + i + 2] = source[i + 2] ^ m2;
    target[at + i + 3] = source[i + 3] ^ m3;
  }
  for (; i < to; i++) target[at + i] = source[i] ^ mask[(offset + i) & 3];
}

/** Payloads shorter than this can be masked by `maskShortInto`. */
export const SHORT_MASK_LIMIT = WORD_THRESHOLD;

/**
 * Bytes [from, from + length) of `source`, the first at mask position `offset`, masked into `target` at `at`;
 * `length` < SHORT_MASK_LIMIT. No view of the source range is made (a short message's copy is made straight from
 * the socket's read). Returns the mask position after them.
 */
export function maskShortInto(
  source: Uint8Array,
  from: number,
  length: number,
  mask: Uint8Array,
  offset: number,
  target: Uint8Array,
  at: number,
): number {
  // maskBytesInto indexes the mask and the target by source index: shift both to make `from` land on them.
  maskBytesInto(source, mask, offset - from, from, from + length, target, at - from);
  return (offset + length) & 3;
}

/** Byte loop up to a 4-byte aligned address, whole words (4 per step) with the mask rotated to that phase, tail. */
function maskWords(data: Uint8Array, mask: Uint8Array, offset: number): void {
  const length = data.length;
  const misalignment = (4 - (data.byteOffset & 3)) & 3;
  let i = 0;
  for (; i < misalignment; i++) data[i] ^= mask[(offset + i) & 3];
  const word = maskWord(mask, offset + i, littleEndian) | 0;
  const words = (length - i) >>> 2;
  const view = new Int32Array(data.buffer, data.byteOffset + i, words);
  let w = 0;
  for (; w + 4 <= words; w += 4) {
    view[w] ^= word;
    view[w + 1] ^= word;
    view[w + 2] ^= word;
    view[w + 3] ^= word;
  }
  for (; w < words; w++) view[w] ^= word;
  i += words << 2;
  for (; i < length; i++) data[i] ^= mask[(offset + i) & 3];
}

/**
 * `source` masked (mask position `offset` at byte 0) into `target` at `at` through the SIMD kernel, one block at
 * a time: copy in, XOR, copy out. `target` may be `source` (in place, `at` 0).
 */
function maskSimd(
  kernel: SimdKernel,
  source: Uint8Array,
  mask: Uint8Array,
  offset: number,
  target: Uint8Array,
  at: number,
): void {
  const length = source.length;
  const { memory, block, xor } = kernel;
  const word = maskWord(mask, offset, true) | 0; // WebAssembly memory is little-endian
  let o = 0;
  while (length - o >= 64) {
    const n = Math.min(block, (length - o) & ~63);
    // A payload within one block (the usual case) is copied in whole, tail and all: no view of it is made.
    memory.set(o === 0 && length <= block ? source : source.subarray(o, o + n), 0);
    xor(0, n, word);
    target.set(blockView(memory, n), at + o);
    o += n;
  }
  maskBytesInto(source, mask, offset, o, length, target, at); // the tail, under 64 bytes
}

/** Views of the kernel's memory by length (a multiple of 64), made once each: copying out needs no new view. */
const blockViews: (Uint8Array | undefined)[] = new Array(simdKernel === null ? 0 : simdKernel.block / 64 + 1);
function blockView(memory: Uint8Array, n: number): Uint8Array {
  const i = n >>> 6;
  let view = blockViews[i];
  if (view === undefined) {
    view = memory.subarray(0, n);
    blockViews[i] = view;
  }
  return view;
}

/** Copies `source` masked with `mask` into `target` at `at` (client frames: the caller's payload stays intact). */
export function copyMasked(source: Uint8Array, mask: Uint8Array, target: Uint8Array, at: number): void {
  maskInto(source, mask, 0, target, at);
}

/**
 * Copies `source` masked into `target` at `at`, byte 0 of `source` at mask position `offset` (0..3), and returns
 * the mask position after its last byte: `applyMask` that writes elsewhere, in the same single pass.
 */
export function maskInto(
  source: Uint8Array,
  mask: Uint8Array,
  offset: number,
  target: Uint8Array,
  at: number,
): number {
  const length = source.length;
  if (length < WORD_THRESHOLD) {
    maskBytesInto(source, mask, offset, 0, length, target, at);
  } else if (nativeMasking !== null) {
    nativeMasking.mask(source, (offset & 3) === 0 ? mask : rotate(mask, offset), target, at, length);
  } else if (length >= SIMD_THRESHOLD && simdKernel !== null) {
    maskSimd(simdKernel, source, mask, offset, target, at);
  } else {
    target.set(source, at);
    maskWords(target.subarray(at, at + length), mask, offset);
  }
  return (offset + length) & 3;
}

export function concat(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let length = total ?? 0;
  if (total === undefined) for (const c of chunks) length += c.length;
  const out = allocUnsafe(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is content (a close reason or message may start with it), not a marker to strip.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes bytes already known to be valid UTF-8. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The chunks of an empty ByteQueue that never held any (shared; never written to). */
const NO_CHUNKS: Uint8Array[] = [];

/**
 * A FIFO of byte chunks. `take(n)` returns a view into the head chunk when the bytes are contiguous and copies
 * only when they cross a chunk boundary (ws's `consume`).
 */
export class ByteQueue {
  /** Made for the first chunk: an idle connection's queue holds no array. */
  private chunks: Uint8Array[] = NO_CHUNKS;
  private head = 0;
  private offset = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Byte at position `index` from the front, without consuming it. */
  peek(index: number): number {
    let i = this.head;
    let at = this.offset + index;
    while (at >= this.chunks[i].length) {
      at -= this.chunks[i].length;
      i++;
    }
    return this.chunks[i][at];
  }

  /** Takes exactly `n` bytes (n <= length). */
  take(n: number): Uint8Array {
    const first = this.chunks[this.head];
    if (this.offset + n <= first.length) return this.takeFromHead(n);
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const part = this.takeSome(n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Takes between 1 and `max` bytes from the head chunk (zero-copy view); the queue must not be empty. */
  takeSome(max: number): Uint8Array {
    const available = this.chunks[this.head].length - this.offset;
    return this.takeFromHead(Math.min(available, max));
  }

  /** Copies the unread bytes into one chunk of the queue's own: the chunks they are in may be reused after this. */
  detach(): void {
    const total = this.total;
    if (total === 0) {
      this.clear();
      return;
    }
    const copy = allocUnsafe(total);
    let at = 0;
    for (let i = this.head, offset = this.offset; at < total; i++, offset = 0) {
      const chunk = this.chunks[i];
      copy.set(offset === 0 ? chunk : chunk.subarray(offset), at);
      at += chunk.length - offset;
    }
    this.chunks = [copy];
    this.head = 0;
    this.offset = 0;
  }

  clear(): void {
    this.chunks = NO_CHUNKS;
    this.head = 0;
    this.offset = 0;
    this.total = 0;
  }

  /** The chunk holding the next unread byte (the queue must not be empty), and that byte's index in it. */
  get headChunk(): Uint8Array {
    return this.chunks[this.head];
  }
  get headOffset(): number {
    return this.offset;
  }

  /** Consumes `n` bytes of the head chunk without making a view (n <= what the head chunk has left). */
  skip(n: number): void {
    const chunk = this.chunks[this.head];
    this.offset += n;
    this.total -= n;
    if (this.offset === chunk.length) this.nextChunk();
  }

  private takeFromHead(n: number): Uint8Array {
    const chunk = this.chunks[this.head];
    // A view made by its constructor: cheaper than `subarray`, which looks the constructor up (species).
    const view = n === chunk.length ? chunk : new ByteView(chunk.buffer, chunk.byteOffset + this.offset, n);
    this.offset += n;
    this.total -= n;
    if (this.offset === chunk.length) this.nextChunk();
    return view;
  }

  private nextChunk(): void {
    this.offset = 0;
    this.head++;
    if (this.head === this.chunks.length) {
      // One chunk (the usual case) is popped: setting `length` is a runtime call and drops the array's storage.
      if (this.head === 1) this.chunks.pop();
      else this.chunks.length = 0;
      this.head = 0;
    } else if (this.head > 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
