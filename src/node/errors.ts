/** Errors of the Node layer. Peer violations stay `ProtocolError` (core); misuse stays `UsageError`. */

/** Why an opening handshake failed; `code` is stable (switch on it), `status`/`body` come with UNEXPECTED_STATUS. */
export type HandshakeErrorCode =
  | 'INVALID_URL'
  | 'INVALID_SCHEME'
  | 'HANDSHAKE_TIMEOUT'
  | 'UNEXPECTED_STATUS'
  | 'BAD_UPGRADE'
  | 'BAD_CONNECTION'
  | 'BAD_ACCEPT'
  | 'UNREQUESTED_PROTOCOL'
  | 'MISSING_PROTOCOL'
  | 'UNREQUESTED_EXTENSION'
  | 'ABORTED'
  /** A socket or TLS error, passed through with its own code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED…). */
  | (string & {});

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  readonly code: HandshakeErrorCode;
  /** The server's status when it answered with something other than 101. */
  readonly status: number | undefined;
  /** The start of that answer's body (at most `MAX_ERROR_BODY` bytes), as UTF-8 text. */
  readonly body: string | undefined;

  constructor(
    code: HandshakeErrorCode,
    message: string,
    details: { status?: number; body?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.body = details.body;
  }
}

/** Why the Node layer dropped an open connection without a close handshake. */
export type WebSocketErrorCode = 'BUFFER_OVERFLOW' | 'CLOSE_TIMEOUT' | 'HEARTBEAT_TIMEOUT';

export class WebSocketError extends Error {
  override readonly name = 'WebSocketError';
  constructor(
    readonly code: WebSocketErrorCode,
    message: string,
  ) {
    super(message);
  }
}
