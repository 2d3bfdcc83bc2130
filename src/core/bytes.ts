/** Byte helpers for the hot path: masking, concatenation, a chunk queue that copies only across boundaries. */

export const EMPTY = new Uint8Array(0);

/** Below this many bytes a byte loop beats setting up a 32-bit view. */
const WORD_THRESHOLD = 32;
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * XORs `data` in place with the 4-byte `mask`, starting at mask position `offset` (0..3), and returns the mask
 * position after the last byte. RFC 6455 §5.3: octet i of the transformed data is octet i of the original data
 * XOR octet (i MOD 4) of the masking key. Aligned 32-bit words are processed four bytes at a time.
 */
export function applyMask(data: Uint8Array, mask: Uint8Array, offset = 0): number {
  const length = data.length;
  let i = 0;
  if (length >= WORD_THRESHOLD) {
    // Byte loop up to a 4-byte aligned address, then whole words with the mask rotated to that phase.
    const misalignment = (data.byteOffset & 3) === 0 ? 0 : 4 - (data.byteOffset & 3);
    for (; i < misalignment; i++) data[i] ^= mask[(offset + i) & 3];
    const phase = (offset + i) & 3;
    const m0 = mask[phase];
    const m1 = mask[(phase + 1) & 3];
    const m2 = mask[(phase + 2) & 3];
    const m3 = mask[(phase + 3) & 3];
    const word = littleEndian
      ? (m0 | (m1 << 8) | (m2 << 16) | (m3 << 24)) >>> 0
      : ((m0 << 24) | (m1 << 16) | (m2 << 8) | m3) >>> 0;
    const words = (length - i) >>> 2;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i += words << 2;
  }
  for (; i < length; i++) data[i] ^= mask[(offset + i) & 3];
  return (offset + length) & 3;
}

/** Copies `source` masked with `mask` into `target` at `at` (client frames: the caller's payload stays intact). */
export function copyMasked(source: Uint8Array, mask: Uint8Array, target: Uint8Array, at: number): void {
  target.set(source, at);
  applyMask(target.subarray(at, at + source.length), mask, 0);
}

export function concat(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let length = total ?? 0;
  if (total === undefined) for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes bytes already known to be valid UTF-8. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * A FIFO of byte chunks. `take(n)` returns a view into the head chunk when the bytes are contiguous and copies
 * only when they cross a chunk boundary (ws's `consume`).
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
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

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.total = 0;
  }

  private takeFromHead(n: number): Uint8Array {
    const chunk = this.chunks[this.head];
    const view = n === chunk.length ? chunk : chunk.subarray(this.offset, this.offset + n);
    this.offset += n;
    this.total -= n;
    if (this.offset === chunk.length) {
      this.offset = 0;
      this.head++;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      } else if (this.head > 64) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    }
    return view;
  }
}
