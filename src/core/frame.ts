import { concat, copyMasked } from './bytes.ts';
import { allocUnsafe } from './platform.ts';

/**
 * Frame encoding (RFC 6455 §5.2) into an `Outbox`: small frames are copied into a shared slab so that many
 * frames leave in one write; large unmasked payloads are passed through without a copy.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-------+-+-------------+-------------------------------+
 *  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *  +-+-+-+-+-------+-+-------------+-------------------------------+
 */
export interface FrameHeader {
  fin: boolean;
  /** wslay numbering: RSV1 = 4, RSV2 = 2, RSV3 = 1. */
  rsv: number;
  opcode: number;
  /** 4-byte masking key (client frames), or null. */
  mask: Uint8Array | null;
}

/** Bytes of header needed for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/** Writes the header at `at` in `target`; returns the offset just past it. */
export function writeHeader(target: Uint8Array, at: number, header: FrameHeader, length: number): number {
  target[at] = (header.fin ? 0x80 : 0) | (header.rsv << 4) | header.opcode;
  const maskBit = header.mask ? 0x80 : 0;
  if (length < 126) {
    target[at + 1] = maskBit | length;
    at += 2;
  } else if (length < 0x10000) {
    target[at + 1] = maskBit | 126;
    target[at + 2] = length >>> 8;
    target[at + 3] = length & 0xff;
    at += 4;
  } else {
    target[at + 1] = maskBit | 127;
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    target[at + 2] = 0;
    target[at + 3] = 0;
    target[at + 4] = (high >>> 8) & 0xff;
    target[at + 5] = high & 0xff;
    target[at + 6] = low >>> 24;
    target[at + 7] = (low >>> 16) & 0xff;
    target[at + 8] = (low >>> 8) & 0xff;
    target[at + 9] = low & 0xff;
    at += 10;
  }
  const mask = header.mask;
  if (mask) {
    target[at] = mask[0];
    target[at + 1] = mask[1];
    target[at + 2] = mask[2];
    target[at + 3] = mask[3];
    at += 4;
  }
  return at;
}

/** Encodes one frame into a new buffer (tests, `prepareFrame`, the frame API). */
export function encodeFrame(header: FrameHeader, payload: Uint8Array): Uint8Array {
  const out = allocUnsafe(headerSize(payload.length, header.mask !== null) + payload.length);
  const at = writeHeader(out, 0, header, payload.length);
  if (header.mask) copyMasked(payload, header.mask, out, at);
  else out.set(payload, at);
  return out;
}

/** A server frame encoded once and written as-is to many connections (broadcast). */
export interface PreparedFrame {
  readonly opcode: number;
  readonly bytes: Uint8Array;
}

export function prepareFrame(opcode: number, payload: Uint8Array): PreparedFrame {
  return { opcode, bytes: encodeFrame({ fin: true, rsv: 0, opcode, mask: null }, payload) };
}

const SLAB_SIZE = 64 * 1024;
/** Payloads up to this size are copied into the slab; larger unmasked ones are referenced. */
const COPY_LIMIT = 4 * 1024;
/** Several chunks holding at most this many bytes in all leave as one (see `Outbox.take`). */
const COALESCE_LIMIT = 16 * 1024;
/** Below this many bytes a plain loop copies faster than `TypedArray#set`. */
const SMALL_COPY = 64;

/**
 * One slab shared by every `Outbox` of the process (like Node's own Buffer pool): an idle connection holds no
 * output memory, and a byte of the slab is written once only, so regions handed out stay valid.
 */
const pool = { slab: allocUnsafe(SLAB_SIZE), pos: 0 };

/**
 * Outgoing bytes waiting for `dataToSend()`. Small frames are copied into the shared slab; consecutive frames
 * of one connection form one region, which leaves as one chunk, so a burst of replies becomes one write.
 */
export class Outbox {
  /**
   * The only chunk cut so far, or null. Most connections have one chunk per flush (a reply, a broadcast frame);
   * holding it in a field rather than in an array spares an array per connection and flush, which matters when
   * a broadcast to tens of thousands of sockets keeps their outboxes full for many event-loop turns: those
   * arrays would outlive young-generation collections and pile up as old-generation garbage.
   */
  private single: Uint8Array | null = null;
  /** Chunks cut so far, once there are two or more. */
  private chunks: Uint8Array[] | null = null;
  private region: Uint8Array | null = null;
  private regionStart = 0;
  private regionEnd = 0;
  private queued = 0;

  /** Bytes waiting to be taken. */
  get size(): number {
    return this.queued;
  }

  writeFrame(header: FrameHeader, payload: Uint8Array): void {
    const length = payload.length;
    const masked = header.mask !== null;
    const head = headerSize(length, masked);
    if (length <= COPY_LIMIT) {
      const slab = this.reserve(head + length);
      const at = writeHeader(slab, pool.pos, header, length);
      if (masked) copyMasked(payload, header.mask!, slab, at);
      else if (length > SMALL_COPY) slab.set(payload, at);
      else for (let i = 0; i < length; i++) slab[at + i] = payload[i];
      this.commit(head + length);
    } else if (masked) {
      this.push(encodeFrame(header, payload));
    } else {
      writeHeader(this.reserve(head), pool.pos, header, length);
      this.commit(head);
      this.push(payload);
    }
  }

  /**
   * Appends bytes that are already a frame (prepared broadcast frames), by reference whatever their size: a
   * frame given to many connections is then held once, not once per connection, and a broadcast burst costs
   * the distinct frames plus a pointer per connection and frame. `take()` still joins small chunks into one.
   */
  writeRaw(bytes: Uint8Array): void {
    this.push(bytes);
  }

  take(): Uint8Array[] {
    this.cut();
    const single = this.single;
    if (single !== null) {
      this.single = null;
      this.queued = 0;
      return [single];
    }
    let chunks = this.chunks;
    if (chunks === null) return [];
    // Frames of several connections interleave in the shared slab (a broadcast writes one frame to each in
    // turn), so one connection's small frames can end up as many chunks. Joining them costs one copy of at most
    // COALESCE_LIMIT bytes and saves a many-part writev. (`chunks` holds two or more: one alone is `single`.)
    if (this.queued <= COALESCE_LIMIT) chunks = [concat(chunks, this.queued)];
    this.chunks = null;
    this.queued = 0;
    return chunks;
  }

  /** Drops everything queued (the connection was torn down). */
  clear(): void {
    this.region = null;
    this.single = null;
    this.chunks = null;
    this.queued = 0;
  }

  /** Makes room for `n` bytes at `pool.pos`, continuing this outbox's region when nobody wrote in between. */
  private reserve(n: number): Uint8Array {
    if (pool.pos + n > pool.slab.length) {
      this.cut();
      pool.slab = allocUnsafe(Math.max(SLAB_SIZE, n));
      pool.pos = 0;
    }
    if (this.region !== pool.slab || this.regionEnd !== pool.pos) {
      this.cut();
      this.region = pool.slab;
      this.regionStart = this.regionEnd = pool.pos;
    }
    return pool.slab;
  }

  private commit(n: number): void {
    pool.pos += n;
    this.regionEnd = pool.pos;
    this.queued += n;
  }

  private push(chunk: Uint8Array): void {
    this.cut();
    this.add(chunk);
    this.queued += chunk.length;
  }

  /** Appends a chunk: into `single` when it is the first, else into `chunks` (with `single` moved there). */
  private add(chunk: Uint8Array): void {
    const chunks = this.chunks;
    if (chunks !== null) chunks.push(chunk);
    else if (this.single === null) this.single = chunk;
    else {
      this.chunks = [this.single, chunk];
      this.single = null;
    }
  }

  /** Closes the region written since the last cut into a chunk. */
  private cut(): void {
    if (this.region !== null && this.regionEnd > this.regionStart) {
      const region = this.region;
      this.add(
        new Uint8Array(
          region.buffer,
          region.byteOffset + this.regionStart,
          this.regionEnd - this.regionStart,
        ),
      );
    }
    this.region = null;
  }
}
