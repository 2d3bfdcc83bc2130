import { applyMask, ByteQueue, EMPTY, maskInto, maskShortInto, SHORT_MASK_LIMIT } from './bytes.ts';
import { MAX_PAYLOAD_LENGTH } from './constants.ts';
import { allocUnsafe, ByteView } from './platform.ts';

/** Where the parser is in the current frame. */
export const ParserState = {
  /** Waiting for the first two bytes (FIN, RSV, opcode, MASK, 7-bit length). */
  ReadHead: 'read-head',
  /** Waiting for the extended length (2 or 8 bytes) and the masking key (4 bytes) if any. */
  ReadExtended: 'read-extended',
  ReadPayload: 'read-payload',
} as const;
export type ParserState = (typeof ParserState)[keyof typeof ParserState];

/** What one call to `FrameParser.next()` produced. The frame's facts are fields of the parser. */
export const Step = {
  NeedData: 0,
  /** The first two bytes were read: `fin`, `rsv`, `opcode`, `masked` are set (validate them now). */
  Head: 1,
  /** The whole header was read: `length` is set. */
  Header: 2,
  /** `data` holds the next unmasked piece of the payload. */
  Data: 3,
  /** The frame's payload is complete. */
  End: 4,
  /** The 64-bit length has its most significant bit set, or is beyond 2^53-1 (`tooLong`). */
  BadLength: 5,
} as const;
export type Step = (typeof Step)[keyof typeof Step];

/**
 * The masking key of the frame being unmasked, filled from the parser's `maskKey` right before each unmasking:
 * parsers run one at a time, and a key as a number costs an idle parser no buffer of its own.
 */
const maskBytes = new Uint8Array(4);

/**
 * Streaming frame parser (RFC 6455 §5.2): chunks in, header facts and unmasked payload pieces out. A `Data` step
 * is a view into the chunk it came in, unmasked in place (so chunks are owned), with one exception that saves a
 * copy: a masked frame that ends a message as it is (FIN, no RSV bit) and goes on past the bytes received, but
 * is at most twice as long as them, is unmasked into one buffer of the frame's length as its pieces arrive. Its
 * `Data` views are then adjacent in that buffer, and the message assembler joins them without copying (masking
 * into another buffer costs the same single pass as masking in place). The buffer is bounded by the bytes held
 * (2x), and the connection has checked the frame's length against its limits at `Header`. With `copies` (lent
 * chunks) every `Data` is a copy instead, and those of a long frame that the consumer gathers share a few segments.
 * Frame rules (which opcodes, which bits) are the connection's business; the parser only reads.
 */
export class FrameParser {
  state: ParserState = ParserState.ReadHead;
  fin = false;
  rsv = 0;
  opcode = 0;
  masked = false;
  /** Payload length: the 7-bit value after `Head`, the real length after `Header`. */
  length = 0;
  /** After `BadLength`: true when the length is valid per RFC but beyond 2^53-1. */
  tooLong = false;
  data: Uint8Array = EMPTY;
  /** The masking key's 4 bytes, big-endian (the first byte in the high bits). */
  private maskKey = 0;
  private maskOffset = 0;
  private remaining = 0;
  /** The frame's payload buffer while a frame is unmasked into one (see the class comment), else null. */
  private frameBuffer: Uint8Array | null = null;
  /**
   * The chunks are lent, not owned (see `Connection.lendInput`): every `Data` is then a buffer of its own (masked
   * payload is unmasked into it, in the pass that would have unmasked it in place), never a view of a chunk.
   */
  copies = false;
  /**
   * Every piece of the current data frame is kept until its message ends (the consumer assembles whole messages
   * and no extension decodes them; the connection sets it per frame). With `copies`, the pieces of a long frame
   * are then copied into segments (see `pieceBuffer`) instead of a buffer each.
   */
  gathers = false;
  /** The segment the current frame's pieces are copied into (see `pieceBuffer`), and how much of it is used. */
  private segment: Uint8Array | null = null;
  private segmentAt = 0;
  private readonly input = new ByteQueue();

  /** Bytes received but not parsed yet. */
  get buffered(): number {
    return this.input.length;
  }

  push(chunk: Uint8Array): void {
    this.input.push(chunk);
  }

  /** Copies the bytes not parsed yet out of the chunks they came in, which their owner is about to reuse. */
  keepInput(): void {
    this.input.detach();
  }

  /** Drops unparsed input (after the connection failed, input is discarded). */
  discard(): void {
    this.input.clear();
    this.frameBuffer = null;
    this.segment = null;
  }

  next(): Step {
    switch (this.state) {
      case ParserState.ReadHead:
        return this.readHead();
      case ParserState.ReadExtended:
        return this.readExtended();
      case ParserState.ReadPayload:
        return this.readPayload();
    }
  }

  private readHead(): Step {
    const input = this.input;
    if (input.length < 2) return Step.NeedData;
    const chunk = input.headChunk;
    const at = input.headOffset;
    const b0 = chunk[at];
    const b1 = at + 1 < chunk.length ? chunk[at + 1] : input.peek(1);
    this.fin = (b0 & 0x80) !== 0;
    this.rsv = (b0 >>> 4) & 0x7;
    this.opcode = b0 & 0x0f;
    this.masked = (b1 & 0x80) !== 0;
    this.length = b1 & 0x7f;
    this.state = ParserState.ReadExtended;
    return Step.Head;
  }

  private readExtended(): Step {
    const extra = (this.length === 126 ? 2 : this.length === 127 ? 8 : 0) + (this.masked ? 4 : 0);
    const input = this.input;
    const size = 2 + extra;
    if (input.length < size) return Step.NeedData;
    // Read the header where it lies when it is contiguous (the common case); copy it only across chunks.
    let head = input.headChunk;
    let at = input.headOffset;
    if (head.length - at >= size) input.skip(size);
    else {
      head = input.take(size);
      at = 0;
    }
    at += 2;
    if (this.length === 126) {
      this.length = (head[at] << 8) | head[at + 1];
      at += 2;
    } else if (this.length === 127) {
      // RFC 6455 §5.2: "the most significant bit MUST be 0".
      const high = ((head[at] << 24) | (head[at + 1] << 16) | (head[at + 2] << 8) | head[at + 3]) >>> 0;
      const low = ((head[at + 4] << 24) | (head[at + 5] << 16) | (head[at + 6] << 8) | head[at + 7]) >>> 0;
      if (high > 0x7fffffff || high * 0x100000000 + low > MAX_PAYLOAD_LENGTH) {
        this.tooLong = high <= 0x7fffffff;
        return Step.BadLength;
      }
      this.length = high * 0x100000000 + low;
      at += 8;
    }
    if (this.masked) {
      this.maskKey = (head[at] << 24) | (head[at + 1] << 16) | (head[at + 2] << 8) | head[at + 3];
    }
    this.remaining = this.length;
    this.maskOffset = 0;
    this.state = ParserState.ReadPayload;
    return Step.Header;
  }

  /** After `Header`: is the frame's whole payload in the chunk being read, so that it comes as one `Data`? */
  payloadInHead(): boolean {
    const input = this.input;
    const length = this.length;
    return length === 0 || (input.length >= length && input.headChunk.length - input.headOffset >= length);
  }

  private readPayload(): Step {
    if (this.remaining === 0) {
      this.state = ParserState.ReadHead;
      return Step.End;
    }
    const input = this.input;
    const available = input.length;
    if (available === 0) return Step.NeedData;
    const remaining = this.remaining;
    if (this.masked) {
      const key = this.maskKey;
      maskBytes[0] = key >>> 24;
      maskBytes[1] = key >>> 16;
      maskBytes[2] = key >>> 8;
      maskBytes[3] = key;
      // A short rest of a frame that lies in one lent chunk (a small message, as a rule) is copied and unmasked
      // from where it lies: the same bytes as the path below, without a view of them first.
      if (this.copies && remaining < SHORT_MASK_LIMIT && this.frameBuffer === null && this.segment === null) {
        const chunk = input.headChunk;
        const from = input.headOffset;
        if (chunk.length - from >= remaining) {
          const copy = payloadBuffer(remaining);
          this.maskOffset = maskShortInto(chunk, from, remaining, maskBytes, this.maskOffset, copy, 0);
          input.skip(remaining);
          this.remaining = 0;
          this.data = copy;
          return Step.Data;
        }
      }
    }
    // A piece that goes into a segment is at most what is left of it.
    const segment = this.segment;
    const data = input.takeSome(
      segment === null ? remaining : Math.min(remaining, segment.length - this.segmentAt),
    );
    this.remaining = remaining - data.length;
    if (!this.masked) {
      if (this.copies) {
        const copy = this.pieceBuffer(data.length, remaining);
        copy.set(data);
        this.data = copy;
      } else this.data = data;
      return Step.Data;
    }
    let target = this.frameBuffer;
    if (
      target === null &&
      remaining === this.length &&
      remaining > available &&
      remaining <= 2 * available &&
      this.fin &&
      this.rsv === 0
    ) {
      target = this.frameBuffer = allocUnsafe(remaining);
    }
    if (target === null) {
      if (this.copies) {
        const copy = this.pieceBuffer(data.length, remaining);
        this.maskOffset = maskInto(data, maskBytes, this.maskOffset, copy, 0);
        this.data = copy;
      } else {
        this.maskOffset = applyMask(data, maskBytes, this.maskOffset);
        this.data = data;
      }
      return Step.Data;
    }
    const at = this.length - remaining;
    this.maskOffset = maskInto(data, maskBytes, this.maskOffset, target, at);
    this.data = target.subarray(at, at + data.length);
    if (this.remaining === 0) this.frameBuffer = null;
    return Step.Data;
  }

  /**
   * Where the copy of a piece of `length` bytes of lent input goes, `remaining` being the frame's bytes still to
   * come with it: the next bytes of the current segment, or a buffer of its own. A long data frame that the
   * consumer gathers (`gathers`) is copied into segments, each as long as the frame's bytes received so far with
   * this piece, at most `SEGMENT_MAX` and at most the rest of the frame. Its pieces lie next to each other in a
   * few buffers (the message assembler joins them as they come) instead of one buffer per socket read, and the
   * segments hold at most twice the frame's bytes received, all of which the consumer keeps. A segment is full
   * before the next one is made, and let go once full.
   */
  private pieceBuffer(length: number, remaining: number): Uint8Array {
    let segment = this.segment;
    if (segment === null) {
      const long = remaining > length && remaining > SLAB_PIECE_MAX;
      if (!long || !this.gathers || this.rsv !== 0 || this.opcode >= 8) return payloadBuffer(length);
      const received = this.length - remaining + length;
      segment = this.segment = allocUnsafe(
        Math.min(remaining, SEGMENT_MAX, Math.max(received, SLAB_PIECE_MAX)),
      );
      this.segmentAt = 0;
    }
    const at = this.segmentAt;
    this.segmentAt = at + length;
    if (this.segmentAt === segment.length) this.segment = null;
    return new ByteView(segment.buffer, segment.byteOffset + at, length);
  }
}

/**
 * Copies of lent payload (see `FrameParser.copies`) up to this long are cut from a shared slab, as node's Buffer
 * pool does, but from 64 KiB instead of 8: an allocation of its own costs more than a small message's whole path.
 * A kept copy holds its slab alive, as a view of a 64 KiB socket read held it before.
 */
const SLAB_PIECE_MAX = 4096;
const SLAB_SIZE = 64 * 1024;
/**
 * The longest segment (see `FrameParser.pieceBuffer`): a 1 MiB frame takes 5 buffers instead of 17. Segments without
 * a cap measured slower on Node 20 (each is fresh memory to fault in).
 */
const SEGMENT_MAX = 256 * 1024;
// The slab's memory and where it starts in it, read once: a typed array's `buffer` is a runtime call.
let slab: ArrayBufferLike = new ArrayBuffer(0);
let slabStart = 0;
let slabOffset = SLAB_SIZE;

function payloadBuffer(length: number): Uint8Array {
  if (length > SLAB_PIECE_MAX) return allocUnsafe(length);
  if (slabOffset + length > SLAB_SIZE) {
    const fresh = allocUnsafe(SLAB_SIZE);
    slab = fresh.buffer;
    slabStart = fresh.byteOffset;
    slabOffset = 0;
  }
  const view = new ByteView(slab, slabStart + slabOffset, length);
  // 8-byte aligned, like node's pool, so a copy can be viewed as any typed array.
  slabOffset += (length + 7) & ~7;
  return view;
}
