import { concat, EMPTY } from './bytes.ts';
import type { DataOpcode } from './constants.ts';
import type { Event, Message } from './events.ts';
import { allocUnsafe, ByteView } from './platform.ts';

/**
 * Pieces at least this long are kept as views (not copied) while a message arrives, if they use at least half of
 * the memory they keep alive: socket reads of a large message, 64 KiB each.
 */
const VIEW_MIN = 4096;

/** May `piece` be held as a view until its message ends? Then it holds at most twice its bytes. */
function keepable(piece: Uint8Array): boolean {
  return piece.length >= VIEW_MIN && 2 * piece.length >= piece.buffer.byteLength;
}

/**
 * May `piece`, the latest of a message of `length` bytes, be held as a view for now, its next pieces being
 * likely to lie next to it? Only at the start of a buffer no longer than the message.
 */
function mayGrow(piece: Uint8Array, length: number): boolean {
  return piece.byteOffset === 0 && piece.buffer.byteLength <= length;
}

/**
 * Turns streaming frame events into whole messages: the place that buffers payload (the frame parser holds at most
 * one frame's, see FrameParser). The connection has already enforced the message size limit, so the buffer is
 * bounded by it.
 *
 * Memory is proportional to the message's bytes, whatever its framing: a single-piece message is returned without
 * a copy (a view into the received chunk), so is one whose pieces lie next to each other in one buffer (the frame
 * parser unmasks a large last frame into one). Pieces next to each other in one buffer join into one view. A
 * message whose views, but the first and the latest, each use at least half of the memory they keep alive (a big
 * frame read from the socket 64 KiB at a time, or copied into the parser's segments) keeps them as views and
 * copies them once, into one buffer of the message's size, at its end: one allocation and one copy per message,
 * where a buffer growing by doubling would allocate and copy about twice the message. The latest view may be a
 * piece at the start of a buffer no longer than the message (a segment that the next pieces fill); it is judged
 * when a piece that does not join it comes. Otherwise, from the first view that fails, pieces are copied as they
 * arrive into one buffer whose capacity doubles, so no view or object per fragment outlives its fragment. A
 * message of n bytes holds at most 3n bytes and the first view's chunk while it arrives, and 4n for the moment
 * views turn into a buffer (a million one-byte frames cost one buffer, not a million views).
 */
export class MessageAssembler {
  private opcode: DataOpcode = 1;
  /** The message's only payload piece so far (most messages have one: nothing is copied for them). */
  private first: Uint8Array | null = null;
  /** The pieces so far, once there are two or more and all are kept as views (see `keepable`). */
  private views: Uint8Array[] | null = null;
  /** The payload so far, once a piece could not be kept as a view; `length` bytes of it are used. */
  private buffer: Uint8Array | null = null;
  private length = 0;
  /**
   * Where the message ends, when the current frame is its last and its bytes arrive as they are (no extension
   * decodes them), else -1: a buffer that must grow within that frame is then made to that size, when that is at
   * most twice the bytes it will hold, instead of doubling (a 64 KiB message costs 64 KiB, not 128). Earlier
   * frames of a fragmented message grow by doubling, so many small frames cost amortised copies.
   */
  private frameEnd = -1;

  /** Feeds one event; returns the completed message when `event` ends one, else null. */
  push(event: Event): Message | null {
    switch (event.type) {
      case 'frame-start':
        if (event.first) {
          this.opcode = event.opcode;
          this.first = null;
          this.views = null;
          this.buffer = null;
          this.length = 0;
        }
        this.frameEnd = event.fin && event.rsv === 0 ? this.length + event.length : -1;
        return null;
      case 'frame-data':
        this.append(event.data);
        return null;
      case 'frame-end': {
        if (!event.fin) return null;
        const data =
          this.buffer !== null
            ? this.buffer.subarray(0, this.length)
            : this.views !== null
              ? concat(this.views, this.length)
              : (this.first ?? EMPTY);
        this.first = null;
        this.views = null;
        this.buffer = null;
        this.length = 0;
        return { opcode: this.opcode, data };
      }
      default:
        return null;
    }
  }

  private append(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.buffer === null) {
      const first = this.first;
      const views = this.views;
      const last = views !== null ? views[views.length - 1] : first;
      if (last === null) {
        this.first = data;
        this.length = data.length;
        return;
      }
      if (data.buffer === last.buffer && data.byteOffset === last.byteOffset + last.length) {
        // Adjacent in one buffer (the parser unmasks a large last frame into one): joining copies nothing.
        const joined = new ByteView(last.buffer, last.byteOffset, last.length + data.length);
        if (views !== null) views[views.length - 1] = joined;
        else this.first = joined;
        this.length += data.length;
        return;
      }
      // The first piece is a view already, whatever its size (it shares its chunk with the message before). A
      // piece that starts a buffer no longer than the message so far may still grow into it (the parser copies
      // a long frame into such segments): it is judged once another piece comes.
      if (
        (views === null || keepable(last)) &&
        (keepable(data) || mayGrow(data, this.length + data.length))
      ) {
        if (views !== null) views.push(data);
        else {
          this.views = [last, data];
          this.first = null;
        }
        this.length += data.length;
        return;
      }
    }
    const needed = this.length + data.length;
    let buffer = this.buffer;
    if (buffer === null || needed > buffer.length) {
      const frameEnd = this.frameEnd;
      const size =
        frameEnd >= needed && frameEnd <= 2 * needed
          ? frameEnd
          : Math.max(needed, 2 * (buffer?.length ?? this.length));
      const grown = allocUnsafe(size);
      if (buffer !== null) grown.set(buffer.subarray(0, this.length), 0);
      else if (this.views !== null) {
        let at = 0;
        for (const view of this.views) {
          grown.set(view, at);
          at += view.length;
        }
      } else grown.set(this.first!, 0);
      this.buffer = buffer = grown;
      this.first = null;
      this.views = null;
    }
    buffer.set(data, this.length);
    this.length = needed;
  }
}
