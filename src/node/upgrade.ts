/**
 * `handleUpgrade(req, socket, head)`: turns an HTTP upgrade request of any node:http(s) server into a WebSocket
 * (RFC 6455 §4.2), or answers it with the right HTTP error and returns null.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ExtensionFactory, negotiateServer } from '../core/extensions.ts';
import {
  type AcceptedRequest,
  buildAccept,
  buildReject,
  checkH2Request,
  checkRequest,
  h2AcceptHeaders,
  h2Reject,
  type ProtocolSelector,
  type RejectOptions,
  selectProtocol,
} from '../core/handshake.ts';
import type { HeaderInput } from '../core/http1.ts';
import { extensionFactories, type PerMessageDeflateOption } from './deflate-option.ts';
import { isH2Stream } from './h2.ts';
import { WebSocket, type WebSocketOptions } from './websocket.ts';

/**
 * The request of an opening handshake, as `verifyClient`, the `headers` function and the 'connection' event see
 * it. node's `IncomingMessage` is one: attached servers and `handleUpgrade` pass the real one. A server listening
 * on its own port reads the request head itself and passes a plain object with just these fields.
 */
export interface UpgradeRequest {
  /** `'GET'` for every request that reaches `verifyClient` (anything else is refused before). */
  readonly method?: string | undefined;
  /** The request target: path and query (`/chat?room=1`). */
  readonly url?: string | undefined;
  /** `'1.1'`, or `'2.0'` for a WebSocket over HTTP/2 (RFC 8441; the request is node's `Http2ServerRequest`). */
  readonly httpVersion: string;
  /**
   * Header fields by lowercase name. node joins most repeated fields into one string; a server on its own port
   * gives a repeated field as an array of its values.
   */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The connection (`req.socket.remoteAddress` is the peer's address). */
  readonly socket: Socket;
}

export interface UpgradeOptions extends WebSocketOptions {
  /**
   * Subprotocols we speak, in our order of preference (the first one the client offered wins), or a function
   * choosing among the client's offers (`undefined`/`false` for none).
   */
  protocols?: ProtocolSelector;
  /** Extension factories in our order of preference (e.g. permessage-deflate); none by default. */
  extensions?: readonly ExtensionFactory[];
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or its options; added after `extensions`. Default
   * off (CPU and zlib memory per connection; see deflate-option.ts).
   */
  perMessageDeflate?: PerMessageDeflateOption;
  /** Largest incoming message; beyond it the connection fails with 1009. Default 64 MiB. */
  maxPayload?: number;
  /** Extra headers for the 101 answer (Set-Cookie…), or a function of the request. */
  headers?: HeaderInput | ((req: UpgradeRequest) => HeaderInput | undefined);
}

function ignoreError(): void {}

/**
 * Answers a refused handshake and closes the connection once the answer is written. Over HTTP/2, the answer is
 * HEADERS and DATA on the request's stream, which then ends (the connection stays for its other streams).
 */
export function rejectUpgrade(socket: Duplex, status: number, options: RejectOptions = {}): void {
  socket.on('error', ignoreError);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  if (isH2Stream(socket)) {
    if (socket.headersSent) {
      socket.destroy();
      return;
    }
    const { headers, body } = h2Reject(status, options);
    socket.respond(headers);
    socket.end(body);
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(buildReject(status, options));
}

/**
 * Validates the request as RFC 6455 §4.2.1 asks (RFC 8441 §4-5 over HTTP/2). Exposed so a server can check before
 * its own (async) steps.
 */
export function checkUpgrade(req: UpgradeRequest): ReturnType<typeof checkRequest> {
  const info = { method: req.method ?? '', httpVersion: req.httpVersion, headers: req.headers };
  return req.httpVersion === '2.0' ? checkH2Request(info) : checkRequest(info);
}

/**
 * Completes the handshake: writes the `101 Switching Protocols` answer and returns the open WebSocket. A bad
 * request is answered (400, 405, 426 with `Sec-WebSocket-Version: 13`, …) and gives null.
 */
export function handleUpgrade(
  req: UpgradeRequest,
  socket: Duplex,
  head: Uint8Array,
  options: UpgradeOptions = {},
): WebSocket | null {
  const check = checkUpgrade(req);
  if (!check.ok) {
    rejectUpgrade(socket, check.status, { reason: check.reason, headers: check.headers });
    return null;
  }
  return acceptUpgrade(req, socket, head, check, options);
}

/** The second half of `handleUpgrade`, for a request that `checkUpgrade` accepted. */
export function acceptUpgrade(
  req: UpgradeRequest,
  socket: Duplex,
  head: Uint8Array,
  check: AcceptedRequest,
  options: UpgradeOptions,
): WebSocket | null {
  const negotiated = negotiateServer(check.extensions, extensionFactories(options, 'server'));
  if ('error' in negotiated) {
    rejectUpgrade(socket, 400, { body: negotiated.error });
    return null;
  }
  try {
    const protocol = selectProtocol(check.protocols, options.protocols ?? []);
    const headers = typeof options.headers === 'function' ? options.headers(req) : options.headers;
    const answer = { key: check.key, protocol, extensions: negotiated.header, headers };
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return null;
    }
    if (isH2Stream(socket)) socket.respond(h2AcceptHeaders(answer));
    else socket.write(buildAccept(answer));
    return new WebSocket(socket as Socket, {
      highWaterMark: options.highWaterMark,
      maxBufferedAmount: options.maxBufferedAmount,
      readHighWaterMark: options.readHighWaterMark,
      closeTimeout: options.closeTimeout,
      heartbeat: options.heartbeat,
      maxPayload: options.maxPayload,
      role: 'server',
      head,
      protocol: protocol ?? '',
      extensions: negotiated.extensions,
      extensionsHeader: negotiated.header,
    });
  } catch (error) {
    // Our own misuse (a selector that picked an unoffered protocol, an invalid header): the client gets a 500.
    for (const extension of negotiated.extensions) extension.dispose?.();
    rejectUpgrade(socket, 500);
    throw error;
  }
}
