import type { ProtocolError } from './errors.ts';

/**
 * A negotiated WebSocket extension as the `Connection` drives it (RFC 6455 §9). Extensions transform data
 * messages only; control frames never pass through them.
 *
 * The interface is synchronous on purpose: the core never waits. An extension that needs to keep state between
 * messages (permessage-deflate's sliding window) keeps it inside the object.
 */
export interface Extension {
  /** Registered token, e.g. `permessage-deflate`. */
  readonly name: string;
  /** RSV bits (wslay numbering, `Rsv.Rsv1` = 4) this extension gives a meaning to. */
  readonly rsv: number;
  /**
   * Decodes a chunk of an incoming message whose first frame carried one of our RSV bits. Called once or more
   * per frame, in order; `fin` is true on the message's last chunk (possibly empty). Returns the decoded bytes,
   * at most `limit` of them in total for this call, or a `ProtocolError` (1007 for corrupt data, 1009 past
   * `limit`). Returned arrays belong to the caller (the extension must not reuse them).
   */
  decode(data: Uint8Array, fin: boolean, limit: number): Uint8Array[] | ProtocolError;
  /**
   * Encodes one fragment of an outgoing data message (`first` on the message's first fragment, `fin` on its
   * last). Returns the payload to frame and the RSV bits for this frame; the core only sends RSV bits on the
   * first frame of a message (RFC 7692 §6.1). An extension that leaves a message alone returns `rsv: 0` on its
   * first fragment and must then leave every fragment of that message alone.
   */
  encode(data: Uint8Array, first: boolean, fin: boolean): { payload: Uint8Array; rsv: number };
  /** Releases what the extension holds (zlib contexts); called once when the connection is closed. */
  dispose?(): void;
}
