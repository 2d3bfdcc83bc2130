import type { DataOpcode } from './constants.ts';
import type { ProtocolError } from './errors.ts';

/**
 * What a `Connection` reports, one at a time, from `nextEvent()`.
 *
 * Data frames stream: `frame-start`, one or more `frame-data` (unmasked, decoded by the negotiated extensions,
 * in order; a view into the chunk given to `receiveData`, so copy it before reusing that buffer),
 * `frame-end`. A message is the frames from a non-continuation frame to the next frame with `fin`.
 */
export type Event =
  | {
      type: 'frame-start';
      /** The message's opcode, repeated on continuation frames. */
      opcode: DataOpcode;
      /** true when this is the first frame of its message. */
      first: boolean;
      fin: boolean;
      /** RSV bits of the frame as sent (wslay numbering: RSV1 = 4). */
      rsv: number;
      /** Payload length on the wire (before any extension decodes it). */
      length: number;
    }
  | { type: 'frame-data'; data: Uint8Array }
  | { type: 'frame-end'; fin: boolean }
  /** A whole message that came in one frame, reported instead of its three frame events (`wholeMessages`). */
  | { type: 'message'; opcode: DataOpcode; data: Uint8Array }
  /** The peer pinged; the pong is already queued. */
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  /** The peer's close frame (code 1005 when it had no payload); our echo is already queued. */
  | { type: 'close'; code: number; reason: string }
  /** We failed the connection (RFC 6455 §7.1.7); our close frame is queued. */
  | { type: 'fail'; error: ProtocolError }
  /** Input is finished; no more events will come. */
  | { type: 'end' };

export type EventType = Event['type'];

/** A whole data message, as `MessageAssembler` builds it. */
export interface Message {
  opcode: DataOpcode;
  data: Uint8Array;
}

/** A close frame's facts. */
export interface CloseInfo {
  code: number;
  reason: string;
}
