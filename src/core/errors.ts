import type { CloseCode } from './constants.ts';

/** Stable string codes for peer violations; users can switch on `error.code`. */
export type ProtocolErrorCode =
  | 'RESERVED_BITS'
  | 'RESERVED_OPCODE'
  | 'MASKED_FRAME'
  | 'UNMASKED_FRAME'
  | 'CONTROL_TOO_LONG'
  | 'FRAGMENTED_CONTROL'
  | 'UNEXPECTED_CONTINUATION'
  | 'EXPECTED_CONTINUATION'
  | 'PAYLOAD_TOO_LONG'
  | 'NON_MINIMAL_LENGTH'
  | 'MESSAGE_TOO_BIG'
  | 'INVALID_UTF8'
  | 'INVALID_CLOSE_PAYLOAD'
  | 'INVALID_CLOSE_CODE'
  | 'DATA_AFTER_CLOSE'
  | 'EXTENSION_ERROR'
  | 'UNEXPECTED_EOF';

/** A violation by the peer. Never thrown out of the core: it is reported as a `fail` event. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    readonly closeCode: CloseCode | number,
    message: string,
    /**
     * An extension's decoder failing past its output limit: the bytes it decoded up to the limit, which the
     * caller still validates, so that the first offending byte decides the close code (1007 for invalid UTF-8
     * within the limit, else 1009) however the input was chunked.
     */
    readonly decoded?: readonly Uint8Array[],
  ) {
    super(message);
  }
}

/** Our own misuse: an operation that the connection's state does not allow (e.g. sending after close). */
export class InvalidStateError extends Error {
  override readonly name = 'InvalidStateError';
  readonly code = 'INVALID_STATE';
}

/** Our own misuse: an argument that can never be valid (a close code of 1005, a 126-byte ping, …). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
