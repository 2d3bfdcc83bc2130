/**
 * Buffers handed to recv callbacks. wslay reads into one 4096-byte buffer; here the core keeps views into what
 * it was given (payload pieces, partial headers), so a buffer region is never handed out twice: regions are cut
 * from a 64 KiB slab, and the bytes a callback filled stay with the reader (like Node's Buffer pool).
 */
export const READ_BUFFER_SIZE = 4096;
const SLAB_SIZE = 64 * 1024;

export class ReadBuffers {
  private slab = new Uint8Array(0);
  private pos = 0;

  /** A fresh region of `READ_BUFFER_SIZE` bytes (the same one again until `commit` is called). */
  next(): Uint8Array {
    if (this.slab.length - this.pos < READ_BUFFER_SIZE) {
      this.slab = new Uint8Array(SLAB_SIZE);
      this.pos = 0;
    }
    return this.slab.subarray(this.pos, this.pos + READ_BUFFER_SIZE);
  }

  /** The first `end` bytes of the last region now belong to the reader: they are never handed out again. */
  commit(end: number): void {
    this.pos += (end + 7) & ~7;
  }

  /** Where `chunk` ends within `region`, when it is a view of it; -1 otherwise. */
  static endWithin(region: Uint8Array, chunk: Uint8Array): number {
    if (chunk.buffer !== region.buffer) return -1;
    const end = chunk.byteOffset + chunk.length - region.byteOffset;
    return chunk.byteOffset >= region.byteOffset && end <= region.length ? end : -1;
  }
}
