/** Errors of the Node layer. Peer violations stay `ProtocolError` (core); misuse stays `UsageError`. */

/**
 * Why an opening handshake failed; `code` is stable (switch on it). `status` comes with UNEXPECTED_STATUS (with
 * `body`), the redirect codes, PROXY_REFUSED and PROXY_AUTH_REQUIRED (the proxy's HTTP status) and the SOCKS
 * reply codes (the SOCKS5 reply, or the RFC 1929 status for SOCKS_AUTH_FAILED).
 */
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
  /** A redirect's Location is not a URL, or not a ws/wss/http/https one. */
  | 'INVALID_REDIRECT'
  /** A redirect from wss:// (or https://) to ws:// (or http://). */
  | 'INSECURE_REDIRECT'
  /** More redirects than `maxRedirects` (a redirect loop ends here too). */
  | 'TOO_MANY_REDIRECTS'
  /** The `proxy` option (or the environment's proxy variable) is not a usable proxy URL. */
  | 'INVALID_PROXY'
  /** The proxy could not be reached (the cause has the socket's error). */
  | 'PROXY_UNREACHABLE'
  /** The proxy closed the connection (or it failed) before answering. */
  | 'PROXY_CLOSED'
  /** The proxy's answer is malformed, too large (over 16 KiB), or followed by unexpected bytes. */
  | 'PROXY_BAD_RESPONSE'
  /** The HTTP proxy answered 407 (or 401): credentials missing or refused. */
  | 'PROXY_AUTH_REQUIRED'
  /** The HTTP proxy answered CONNECT with a status other than 2xx (in `status`). */
  | 'PROXY_REFUSED'
  /** The SOCKS5 proxy wants credentials and none were given. */
  | 'SOCKS_AUTH_REQUIRED'
  /** The SOCKS5 proxy accepts none of the methods offered. */
  | 'SOCKS_NO_ACCEPTABLE_METHOD'
  /** The SOCKS5 proxy refused the username and password. */
  | 'SOCKS_AUTH_FAILED'
  /** SOCKS5 replies 1 to 8 (RFC 1928 §6), and SOCKS_FAILURE for an unassigned one. */
  | 'SOCKS_GENERAL_FAILURE'
  | 'SOCKS_NOT_ALLOWED'
  | 'SOCKS_NETWORK_UNREACHABLE'
  | 'SOCKS_HOST_UNREACHABLE'
  | 'SOCKS_CONNECTION_REFUSED'
  | 'SOCKS_TTL_EXPIRED'
  | 'SOCKS_COMMAND_NOT_SUPPORTED'
  | 'SOCKS_ADDRESS_NOT_SUPPORTED'
  | 'SOCKS_FAILURE'
  /** A socket or TLS error, passed through with its own code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED…). */
  | (string & {});

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  readonly code: HandshakeErrorCode;
  /** The server's status when it answered with something other than 101, or the proxy's (see the codes). */
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
export type WebSocketErrorCode = 'BUFFER_OVERFLOW' | 'CLOSE_TIMEOUT' | 'HEARTBEAT_TIMEOUT' | 'SOCKET_CLOSED';

export class WebSocketError extends Error {
  override readonly name = 'WebSocketError';
  constructor(
    readonly code: WebSocketErrorCode,
    message: string,
  ) {
    super(message);
  }
}
