import { concat } from './bytes.ts';
import type { DataOpcode } from './constants.ts';
import type { Event, Message } from './events.ts';

/**
 * Turns streaming frame events into whole messages: the only place that buffers payload. The connection has
 * already enforced the message size limit, so the buffer is bounded by it. Payload views are kept only until
 * the message completes; a single-piece message is returned without a copy (a view into the received chunk).
 */
export class MessageAssembler {
  private opcode: DataOpcode = 1;
  private pieces: Uint8Array[] = [];
  private length = 0;

  /** Feeds one event; returns the completed message when `event` ends one, else null. */
  push(event: Event): Message | null {
    switch (event.type) {
      case 'frame-start':
        if (event.first) {
          this.opcode = event.opcode;
          this.pieces = [];
          this.length = 0;
        }
        return null;
      case 'frame-data':
        this.pieces.push(event.data);
        this.length += event.data.length;
        return null;
      case 'frame-end': {
        if (!event.fin) return null;
        const data = this.pieces.length === 0 ? new Uint8Array(0) : concat(this.pieces, this.length);
        this.pieces = [];
        this.length = 0;
        return { opcode: this.opcode, data };
      }
      default:
        return null;
    }
  }
}
