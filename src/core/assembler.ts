import { concat, EMPTY } from './bytes.ts';
import type { DataOpcode } from './constants.ts';
import type { Event, Message } from './events.ts';

/**
 * Turns streaming frame events into whole messages: the only place that buffers payload. The connection has
 * already enforced the message size limit, so the buffer is bounded by it. Payload views are kept only until
 * the message completes; a single-piece message is returned without a copy (a view into the received chunk).
 */
export class MessageAssembler {
  private opcode: DataOpcode = 1;
  /** The message's only payload piece so far (most messages have one: no array is made for them). */
  private first: Uint8Array | null = null;
  /** All payload pieces, once there are two or more. */
  private pieces: Uint8Array[] | null = null;
  private length = 0;

  /** Feeds one event; returns the completed message when `event` ends one, else null. */
  push(event: Event): Message | null {
    switch (event.type) {
      case 'frame-start':
        if (event.first) {
          this.opcode = event.opcode;
          this.first = null;
          this.pieces = null;
          this.length = 0;
        }
        return null;
      case 'frame-data':
        if (this.pieces !== null) this.pieces.push(event.data);
        else if (this.first === null) this.first = event.data;
        else {
          this.pieces = [this.first, event.data];
          this.first = null;
        }
        this.length += event.data.length;
        return null;
      case 'frame-end': {
        if (!event.fin) return null;
        const pieces = this.pieces;
        const data = pieces !== null ? concat(pieces, this.length) : (this.first ?? EMPTY);
        this.first = null;
        this.pieces = null;
        this.length = 0;
        return { opcode: this.opcode, data };
      }
      default:
        return null;
    }
  }
}
