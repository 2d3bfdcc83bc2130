/**
 * `serve(options)`: a WebSocket server on its own port, or attached to an http(s).Server the application owns.
 *
 * On its own port the server is a plain `net.Server` (`tls.Server` with `tls`): it reads the request head itself
 * (head-reader.ts) and answers the handshake in bytes, without node:http's parser, request objects and
 * streams. Attached, it takes node's 'upgrade' events. Both go through the same steps from there (`onUpgrade`).
 *
 * The request is checked (RFC 6455 §4.2.1) before `verifyClient` runs, so authentication code only ever sees
 * well-formed handshakes. Limits, each with the reason for its default:
 * - `maxHeaderSize` 16 KiB (node's http default): a longer request head gets 431.
 * - `handshakeTimeout` 10 s: a connection that has not completed its upgrade by then (a stalled request, a slow
 *   `verifyClient`) is destroyed, so idle sockets cannot pile up.
 * - `maxPayload` 64 MiB (the core's default): a longer message fails the connection with 1009.
 */
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { EMPTY } from '../core/bytes.ts';
import type { AcceptedRequest } from '../core/handshake.ts';
import type { HeaderInput } from '../core/http1.ts';
import { extensionFactories } from './deflate-option.ts';
import { H2Sessions, routeByPreface } from './h2.ts';
import { HandshakeDeadlines } from './handshake-deadlines.ts';
import { HeadReader } from './head-reader.ts';
import {
  acceptUpgrade,
  checkUpgrade,
  rejectUpgrade,
  type UpgradeOptions,
  type UpgradeRequest,
} from './upgrade.ts';
import type { WebSocket } from './websocket.ts';

/** `true` accepts; `false` refuses with 403; an object refuses with its status, headers and body. */
export type VerifyResult = boolean | { status: number; headers?: HeaderInput; body?: string | Uint8Array };

export interface ServeOptions extends UpgradeOptions {
  /** Port to listen on (0: any free port). Ignored with `server`. Default 0. */
  port?: number;
  /** Address to listen on. Default: node's (every interface). */
  host?: string;
  /** Only upgrades to this path (query ignored) are handled; others get 404 (or are left to other listeners). */
  path?: string;
  /** Attach to this server instead of creating one; `close()` then leaves it running. */
  server?: http.Server | https.Server;
  /** Serve wss:// with these TLS options (at least `cert` and `key`; those of `https.createServer` work). */
  tls?: https.ServerOptions;
  /** Decides whether to accept a (well-formed) handshake. May be async; a throw or rejection answers 500. */
  verifyClient?: (req: UpgradeRequest) => VerifyResult | Promise<VerifyResult>;
  /** Milliseconds from connection (or upgrade request, with `server`) to a completed handshake. Default 10 s. */
  handshakeTimeout?: number;
  /** Largest request head in bytes; beyond it the answer is 431. Default 16 KiB. Ignored with `server`. */
  maxHeaderSize?: number;
  /**
   * Also accept WebSockets over HTTP/2 (RFC 8441 extended CONNECT) on the same port: with `tls`, ALPN offers
   * `h2` before `http/1.1`; without, a connection that opens with the HTTP/2 preface is HTTP/2 (prior
   * knowledge). Many WebSockets then share one connection. Ignored with `server`. Default false.
   */
  http2?: boolean;
}

export interface CloseOptions {
  /** Close code sent to every client. Default 1001 (going away). */
  code?: number;
  reason?: string;
  /** Milliseconds to wait for clients to finish their closing handshake; then they are destroyed. Default 10 s. */
  timeout?: number;
}

export interface ServerEvents {
  connection: [ws: WebSocket, req: UpgradeRequest];
  /** A failure outside any one connection (a throwing `protocols` selector, a server error after listening). */
  error: [error: Error];
  close: [];
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;
const DEFAULT_CLOSE_TIMEOUT = 10_000;

export class WebSocketServer extends EventEmitter<ServerEvents> {
  /** Open connections; a WebSocket leaves the set when it emits 'close'. */
  readonly clients = new Set<WebSocket>();
  /** The server accepting connections: our own `net.Server` / `tls.Server`, or the `server` option. */
  readonly netServer: net.Server;
  private readonly options: ServeOptions;
  private readonly ownsServer: boolean;
  private readonly handshakeTimeout: number;
  private readonly deadlines: HandshakeDeadlines;
  /** Reads request heads on our own server (null when attached: node's http does it). */
  private readonly reader: HeadReader | null = null;
  /** The HTTP/2 side (`http2` option, own server only). */
  private readonly h2: H2Sessions | null = null;
  /** 'close' listener of every client (`this` is the WebSocket): one function per server, not per client. */
  private readonly removeClient: (this: WebSocket) => void;
  private closing: Promise<void> | null = null;

  constructor(options: ServeOptions = {}) {
    super();
    this.options = options;
    const clients = this.clients;
    this.removeClient = function (this: WebSocket) {
      clients.delete(this);
    };
    // A bad perMessageDeflate option throws here rather than at the first handshake.
    extensionFactories(options, 'server');
    this.handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.deadlines = new HandshakeDeadlines(this.handshakeTimeout);
    this.ownsServer = options.server === undefined;
    if (options.server === undefined) {
      const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
      this.reader = new HeadReader({ maxHeaderSize, onUpgrade: this.onUpgrade });
      if (options.http2 === true) {
        this.h2 = new H2Sessions({
          onConnect: (req, stream) => this.onUpgrade(req, stream, EMPTY),
          idleTimeout: this.handshakeTimeout,
          maxHeaderSize,
        });
      }
      this.netServer = this.createServer();
      this.netServer.on('error', this.onServerError);
    } else {
      this.netServer = options.server;
      this.netServer.on('upgrade', this.onUpgrade);
    }
  }

  /**
   * Made as node makes http and https servers: without Nagle (small frames leave at once); plain TCP half-open
   * (the WebSocket decides when to end its side), TLS not (a half-open tls.Server never releases a connection
   * whose peer gave up during the TLS handshake); ALPN `http/1.1` by default.
   */
  private createServer(): net.Server {
    const tlsOptions = this.options.tls;
    if (tlsOptions === undefined) {
      return net.createServer({ allowHalfOpen: true, noDelay: true }, this.onConnection);
    }
    const server = tls.createServer({
      ALPNProtocols: this.h2 === null ? ['http/1.1'] : ['h2', 'http/1.1'],
      handshakeTimeout: this.handshakeTimeout,
      ...tlsOptions,
      noDelay: true,
    });
    server.on('secureConnection', this.onConnection);
    return server;
  }

  /** The listening address (after `serve()` resolved). */
  address(): net.AddressInfo {
    return this.netServer.address() as net.AddressInfo;
  }

  get port(): number {
    return this.address().port;
  }

  /** Starts listening (own server only); `serve()` calls it. */
  listen(): Promise<this> {
    if (!this.ownsServer) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      const server = this.netServer;
      const onError = (error: Error) => reject(error);
      server.once('error', onError);
      server.listen(this.options.port ?? 0, this.options.host, () => {
        server.off('error', onError);
        resolve(this);
      });
    });
  }

  /**
   * Graceful shutdown: stops accepting, sends `code` (1001) to every open client, waits for their closing
   * handshakes up to `timeout`, destroys whoever is left, and closes the server if it is ours.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options);
    return this.closing;
  }

  private async shutdown(options: CloseOptions): Promise<void> {
    const server = this.netServer;
    const closed = this.ownsServer
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    if (this.reader === null) server.off('upgrade', this.onUpgrade);
    else this.dropRequestsInProgress(this.reader);
    this.h2?.close();
    const code = options.code ?? 1001;
    for (const ws of this.clients) if (ws.readyState === 1) ws.close(code, options.reason ?? '');
    await this.allClosed(options.timeout ?? this.options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT);
    // Sessions whose peer has not closed them after our GOAWAY and their last stream.
    this.h2?.destroy();
    await closed;
    this.emit('close');
  }

  /** Resolves when every client has emitted 'close'; past `timeout` the rest are terminated. */
  private allClosed(timeout: number): Promise<void> {
    if (this.clients.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.clients.size > 0) return;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        for (const ws of this.clients) ws.terminate();
      }, timeout);
      for (const ws of this.clients) ws.once('close', () => queueMicrotask(check));
    });
  }

  /**
   * Like node's `closeAllConnections()` on shutdown: connections still sending their request head are dropped.
   * Those past it (in `verifyClient`) are answered 503 when it returns.
   */
  private dropRequestsInProgress(reader: HeadReader): void {
    for (const socket of this.deadlines.sockets()) {
      if (reader.isReading(socket as net.Socket)) socket.destroy();
    }
  }

  // ── HTTP side ───────────────────────────────────────────────────────────────────────────────────────────

  private readonly onServerError = (error: Error): void => {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  };

  /** A connection to our own server: the handshake clock starts, and its request head is read. */
  private readonly onConnection = (socket: net.Socket): void => {
    const h2 = this.h2;
    if (h2 !== null && (socket as tls.TLSSocket).alpnProtocol === 'h2') {
      h2.accept(socket);
      return;
    }
    this.deadlines.add(socket);
    if (h2 === null || this.options.tls !== undefined) {
      this.reader!.read(socket);
      return;
    }
    routeByPreface(
      socket,
      (connection) => {
        this.deadlines.delete(connection);
        h2.accept(connection);
      },
      this.reader!.read,
      this.handshakeTimeout,
    );
  };

  private readonly onUpgrade = (req: UpgradeRequest, socket: Duplex, head: Uint8Array): void => {
    const refusal = this.refusal(req);
    if (refusal === 'ignore') return;
    if (refusal !== null) {
      rejectUpgrade(socket, refusal.status);
      return;
    }
    this.deadlines.add(socket);
    const check = checkUpgrade(req);
    if (!check.ok) {
      rejectUpgrade(socket, check.status, { reason: check.reason, headers: check.headers });
      return;
    }
    const verify = this.options.verifyClient;
    let verdict: VerifyResult | Promise<VerifyResult> = true;
    try {
      if (verify !== undefined) verdict = verify(req);
    } catch (error) {
      this.verifyFailed(socket, error);
      return;
    }
    if (typeof verdict === 'boolean' || !('then' in verdict)) {
      this.verified(req, socket, head, check, verdict);
      return;
    }
    // Bytes that arrive meanwhile wait in the socket: nobody listens to 'data' until the WebSocket exists.
    socket.pause();
    verdict.then(
      (result) => this.verified(req, socket, head, check, result),
      (error: unknown) => this.verifyFailed(socket, error),
    );
  };

  /** Refusals that do not depend on the handshake itself: shutting down, another path. */
  private refusal(req: UpgradeRequest): { status: number } | 'ignore' | null {
    if (this.closing) return { status: 503 };
    if (this.matchesPath(req)) return null;
    // With a shared server, another listener may own this path.
    if (!this.ownsServer && this.netServer.listenerCount('upgrade') > 1) return 'ignore';
    return { status: 404 };
  }

  private matchesPath(req: UpgradeRequest): boolean {
    const path = this.options.path;
    if (path === undefined) return true;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    return (query === -1 ? url : url.slice(0, query)) === path;
  }

  private verified(
    req: UpgradeRequest,
    socket: Duplex,
    head: Uint8Array,
    check: AcceptedRequest,
    verdict: VerifyResult,
  ): void {
    if (socket.destroyed) return;
    if (verdict === true) this.accept(req, socket, head, check);
    else if (verdict === false) rejectUpgrade(socket, 403);
    else rejectUpgrade(socket, verdict.status, { headers: verdict.headers, body: verdict.body });
  }

  private verifyFailed(socket: Duplex, error: unknown): void {
    rejectUpgrade(socket, 500);
    if (this.listenerCount('error') > 0)
      this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  private accept(req: UpgradeRequest, socket: Duplex, head: Uint8Array, check: AcceptedRequest): void {
    this.deadlines.delete(socket);
    if (this.closing) {
      rejectUpgrade(socket, 503);
      return;
    }
    // Paused while an async verifyClient ran; the WebSocket's 'data' listener is added before data flows again.
    if (socket.isPaused()) socket.resume();
    let ws: WebSocket | null;
    try {
      ws = acceptUpgrade(req, socket, head, check, this.options);
    } catch (error) {
      if (this.listenerCount('error') > 0) this.emit('error', error as Error);
      return;
    }
    if (ws === null) return;
    this.reader?.release(socket as net.Socket);
    this.clients.add(ws);
    ws.on('close', this.removeClient);
    this.emit('connection', ws, req);
  }
}

/** Creates a WebSocket server and starts listening (or attaches to `options.server`). */
export function serve(options: ServeOptions = {}): Promise<WebSocketServer> {
  return new WebSocketServer(options).listen();
}
