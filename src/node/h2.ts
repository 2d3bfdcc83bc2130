/**
 * WebSockets over HTTP/2 (RFC 8441) beside the HTTP/1.1 upgrade, on the same port.
 *
 *   TLS:    ALPN 'h2' ─────────────────────────────┐
 *   plain:  first bytes = the HTTP/2 preface ──────┴──▶ H2Sessions ──'stream'──▶ extended CONNECT ──▶ onWebSocket
 *           anything else ──▶ the HTTP/1.1 path                              └─▶ any other request ──▶ onRequest
 *
 * HTTP/2 only changes how the byte stream is obtained: an extended CONNECT stream (`:method CONNECT`,
 * `:protocol websocket`) goes through the same checks, `verifyClient`, pump and `Connection` as an upgraded socket,
 * with `:status 200` in place of `101`. The stream is the WebSocket's duplex: HTTP/2 flow control applies per
 * stream (a paused WebSocket stops its own stream's window, not the others'), ending the WebSocket ends the stream,
 * and a reset stream is a WebSocket closed without a close frame (1006).
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type * as https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { requireBuiltin } from '../core/platform.ts';

/** Loaded by the first `H2Sessions`: a server that never serves HTTP/2 never loads node:http2. */
let http2Module: typeof http2 | undefined;
const nodeHttp2 = (): typeof http2 => (http2Module ??= requireBuiltin('node:http2'));

/** What every HTTP/2 connection starts with (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** 'h2' when `bytes` start with the HTTP/2 preface, 'more' while they are a proper prefix of it, else 'http/1.1'. */
export function sniffPreface(bytes: Uint8Array): 'h2' | 'http/1.1' | 'more' {
  const n = Math.min(bytes.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== PREFACE[i]) return 'http/1.1';
  return n === PREFACE.length ? 'h2' : 'more';
}

function ignoreError(): void {}

/**
 * Reads a plaintext connection's first bytes to tell HTTP/2 with prior knowledge (RFC 9113 §3.3) from HTTP/1.1,
 * then hands the socket, those bytes put back, to `h2` or `h1`. At most 24 bytes are held meanwhile; a connection
 * that sends nothing for `timeout` ms is destroyed.
 */
export function routeByPreface(
  socket: Socket,
  h2: (socket: Socket) => void,
  h1: (socket: Socket) => void,
  timeout: number,
): void {
  let seen: Buffer | null = null;
  const onData = (chunk: Buffer): void => {
    seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
    const verdict = sniffPreface(seen);
    if (verdict === 'more') return;
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('timeout', onTimeout);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    if (verdict === 'h2') {
      h2(socket);
      return;
    }
    h1(socket);
    // The HTTP/1.1 reader listens for 'data' on a socket we paused: let it flow again.
    process.nextTick(() => socket.resume());
  };
  const onEnd = (): void => {
    socket.destroy();
  };
  const onTimeout = (): void => {
    socket.destroy();
  };
  socket.on('error', ignoreError);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('timeout', onTimeout);
  socket.setTimeout(timeout);
}

/** The request of an extended CONNECT, as `verifyClient` and the 'connection' event see it (node's compat object). */
export type H2Request = http2.Http2ServerRequest;

export interface H2SessionsOptions {
  /** An extended CONNECT (any `:protocol`): the WebSocket server checks it and answers on `stream`. */
  onConnect(req: H2Request, stream: http2.ServerHttp2Stream): void;
  /** Every other request. Default: 405 (a WebSocket-only server). */
  onRequest?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  /**
   * Milliseconds a session may go without any frame while it has no open stream; then it is closed. Also the
   * longest time to the first frame.
   */
  idleTimeout: number;
  /** Largest header block accepted (SETTINGS_MAX_HEADER_LIST_SIZE). */
  maxHeaderSize: number;
}

function answer(
  res: http2.Http2ServerResponse,
  status: number,
  reason: string,
  headers: http2.OutgoingHttpHeaders,
): void {
  const body = `${status} ${reason}\n`;
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
  });
  res.end(body);
}

/** Open streams of each session, for the idle rule. */
const openStreams = new WeakMap<http2.Http2Session, number>();

/**
 * The HTTP/2 side of a server: node's http2 sessions (with SETTINGS_ENABLE_CONNECT_PROTOCOL), fed connections
 * that the server accepted itself (after ALPN or the preface). Not listening on its own.
 */
export class H2Sessions {
  readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly server: http2.Http2Server;
  private readonly options: H2SessionsOptions;
  private closing = false;

  constructor(options: H2SessionsOptions) {
    this.options = options;
    this.server = nodeHttp2().createServer({
      settings: { enableConnectProtocol: true, maxHeaderListSize: options.maxHeaderSize },
    });
    this.server.on('session', this.onSession);
    this.server.on('stream', this.onStream);
    this.server.on('sessionError', ignoreError);
  }

  /** Serves HTTP/2 on a connection (a TLS socket that chose 'h2', or a plain one that sent the preface). */
  accept(socket: Duplex): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    // HTTP/2 has GOAWAY for ending a connection cleanly: a peer's EOF ends ours too (the plain listener of a
    // WebSocket server is half-open for HTTP/1.1's sake).
    (socket as Socket).allowHalfOpen = false;
    this.server.emit('connection', socket);
  }

  /** Stops taking new streams: GOAWAY on every session (open streams go on until they end). */
  close(): void {
    this.closing = true;
    for (const session of this.sessions) session.close();
  }

  /** Ends every session now. */
  destroy(): void {
    this.closing = true;
    for (const session of this.sessions) session.destroy();
  }

  private readonly onSession = (session: http2.ServerHttp2Session): void => {
    this.sessions.add(session);
    openStreams.set(session, 0);
    session.on('error', ignoreError);
    session.once('close', () => this.sessions.delete(session));
    session.setTimeout(this.options.idleTimeout, () => {
      if ((openStreams.get(session) ?? 0) === 0) session.close();
    });
    if (this.closing) session.close();
  };

  private readonly onStream = (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    _flags: number,
    rawHeaders: string[],
  ): void => {
    const session = stream.session!;
    openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    stream.once('close', () => openStreams.set(session, (openStreams.get(session) ?? 1) - 1));
    stream.on('error', ignoreError);
    const req = new (nodeHttp2().Http2ServerRequest)(stream, headers, {}, rawHeaders);
    const connect = headers[':method'] === 'CONNECT';
    if (connect && headers[':protocol'] !== undefined) {
      this.options.onConnect(req, stream);
      return;
    }
    const res = new (nodeHttp2().Http2ServerResponse)(stream);
    if (connect) {
      // A plain CONNECT asks for a TCP tunnel (RFC 9113 §8.5): not something this server does.
      answer(res, 501, 'Not Implemented', {});
    } else if (this.options.onRequest !== undefined) {
      this.options.onRequest(req, res);
    } else {
      answer(res, 405, 'Method Not Allowed', { allow: 'CONNECT' });
    }
  };
}

/** Whether `socket` is an HTTP/2 stream (an answer there is HEADERS, not bytes of an HTTP/1.1 response). */
export function isH2Stream(socket: Duplex): socket is http2.ServerHttp2Stream {
  return typeof (socket as Partial<http2.ServerHttp2Stream>).respond === 'function';
}

/**
 * Puts HTTP/2 beside node's HTTP/1.1 on an http(s).Server that has not started listening: connections that chose
 * 'h2' by ALPN (https) or open with the preface (http) go to `h2`, all others to the server's own listeners.
 */
export function shareServer(server: http.Server | https.Server, h2: H2Sessions, timeout: number): void {
  const secure = server instanceof tls.Server;
  const event = secure ? 'secureConnection' : 'connection';
  const http1 = server.listeners(event) as Array<(socket: Socket) => void>;
  server.removeAllListeners(event);
  const toHttp1 = (socket: Socket): void => {
    for (const listener of http1) listener.call(server, socket);
  };
  const toH2 = (socket: Socket): void => h2.accept(socket);
  server.on(event, (socket: Socket) => {
    if (!secure) routeByPreface(socket, toH2, toHttp1, timeout);
    else if ((socket as tls.TLSSocket).alpnProtocol === 'h2') toH2(socket);
    else toHttp1(socket);
  });
}
