import { isUtf8 } from './platform.ts';

/**
 * Incremental UTF-8 validation (RFC 3629) that fails at the chunk holding the first invalid byte, so a text
 * message fails fast across fragment boundaries (RFC 6455 §8.1). Complete sequences are checked in bulk with
 * simdutf (`isUtf8`); the at most 3 bytes of a sequence cut by a chunk boundary go through a byte-wise state
 * machine whose ranges are exactly those of RFC 3629's grammar, so a bad prefix (overlong, surrogate, > U+10FFFF)
 * is caught in the chunk where it starts.
 */
export class Utf8Validator {
  /** Continuation bytes still expected. */
  private need = 0;
  /** Range allowed for the next continuation byte (narrowed after E0, ED, F0, F4). */
  private lower = 0x80;
  private upper = 0xbf;

  /** Feeds the next chunk; false when the bytes so far cannot start any valid UTF-8 string. */
  push(data: Uint8Array): boolean {
    const length = data.length;
    let i = 0;
    if (this.need === 0) {
      // Fast path: a piece that is complete UTF-8 on its own (the common case) is one bulk check.
      if (length >= SHORT_RUN ? isUtf8(data) : validBody(data, 0, length)) return true;
    } else while (this.need > 0 && i < length) if (!this.step(data[i++])) return false;
    if (i === length) return true;
    const tail = incompleteTailStart(data, i);
    if (!validBody(data, i, tail)) return false;
    for (let t = tail; t < length; t++) if (!this.step(data[t])) return false;
    return true;
  }

  /** true when the bytes fed so far form complete UTF-8 (no sequence left open). */
  end(): boolean {
    return this.need === 0;
  }

  reset(): void {
    this.need = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  private step(byte: number): boolean {
    if (this.need > 0) {
      if (byte < this.lower || byte > this.upper) return false;
      this.need--;
      this.lower = 0x80;
      this.upper = 0xbf;
      return true;
    }
    return this.lead(byte);
  }

  private lead(byte: number): boolean {
    if (byte < 0x80) return true;
    if (byte < 0xc2) return false; // continuation byte or overlong C0/C1
    if (byte < 0xe0) this.need = 1;
    else if (byte < 0xf0) {
      this.need = 2;
      if (byte === 0xe0) this.lower = 0xa0; // overlong
      if (byte === 0xed) this.upper = 0x9f; // surrogates
    } else if (byte < 0xf5) {
      this.need = 3;
      if (byte === 0xf0) this.lower = 0x90; // overlong
      if (byte === 0xf4) this.upper = 0x8f; // above U+10FFFF
    } else return false;
    return true;
  }
}

/** Index where a trailing, incomplete multi-byte sequence starts (or `data.length` when there is none). */
function incompleteTailStart(data: Uint8Array, from: number): number {
  const length = data.length;
  let j = length - 1;
  const stop = Math.max(from, length - 4);
  while (j >= stop && (data[j] & 0xc0) === 0x80) j--;
  if (j < from || j < stop) return length;
  const lead = data[j];
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return j + size > length ? j : length;
}

const SHORT_RUN = 24;

function validBody(data: Uint8Array, from: number, to: number): boolean {
  if (to - from >= SHORT_RUN) return isUtf8(data.subarray(from, to));
  for (let i = from; i < to; i++) if (data[i] >= 0x80) return isUtf8(data.subarray(i, to));
  return true;
}

/** Whole-buffer check (close reasons, assembled messages). */
export function isValidUtf8(data: Uint8Array): boolean {
  return data.length < SHORT_RUN ? validBody(data, 0, data.length) : isUtf8(data);
}
