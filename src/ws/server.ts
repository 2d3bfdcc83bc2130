/**
 * tslay/ws `WebSocketServer`: ws 8's server class. Exactly one of `port` (an `http.Server` of its own, answering
 * 426 to plain HTTP), `server` (the application's http(s) server) or `noServer` (the application calls
 * `handleUpgrade`). `options` is read at each handshake, so a hook set after construction is used (graphql-ws
 * sets `options.handleProtocols`). Bad handshakes get ws's answers: 405 for a method other than GET, 400 with
 * ws's message for a bad Upgrade, key, version, subprotocol list or extension offer (or a `'wsClientError'`
 * event when the application listens to it), 401 when `verifyClient` refuses, 503 after `close()`.
 */
import type * as crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type * as https from 'node:https';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Extension } from '../core/extension.ts';
import type { ExtensionFactory } from '../core/extensions.ts';
import { negotiateServer } from '../core/extensions.ts';
import { isToken } from '../core/http1.ts';
import { requireBuiltin } from '../core/platform.ts';
import { deflateFactory, type WsCommonOptions, type WsPerMessageDeflateOptions } from './options.ts';
import { kAttach, WebSocket } from './websocket.ts';

const nodeHttp: typeof http = requireBuiltin('node:http');
const nodeCrypto: typeof crypto = requireBuiltin('node:crypto');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const kHandled = Symbol('tslay.ws.handled');

export interface VerifyClientInfo {
  origin: string | undefined;
  secure: boolean;
  req: http.IncomingMessage;
}

export type VerifyClientCallback = (
  verified: boolean,
  code?: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
) => void;

export interface ServerOptions extends WsCommonOptions {
  host?: string;
  port?: number;
  backlog?: number;
  server?: http.Server | https.Server;
  noServer?: boolean;
  /** Only upgrades to this path (query ignored); others get 400. */
  path?: string;
  /** Keep the open WebSockets in `clients`. Default true. */
  clientTracking?: boolean;
  /** Default false (no compression), as ws. */
  perMessageDeflate?: boolean | WsPerMessageDeflateOptions;
  verifyClient?:
    | ((info: VerifyClientInfo) => boolean)
    | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);
  handleProtocols?: (protocols: Set<string>, request: http.IncomingMessage) => string | false;
  /** The class of the WebSockets made: `WebSocket` or a subclass. */
  WebSocket?: typeof WebSocket;
}

export interface WebSocketServerEventMap {
  connection: [socket: WebSocket, request: http.IncomingMessage];
  headers: [headers: string[], request: http.IncomingMessage];
  listening: [];
  error: [error: Error];
  wsClientError: [error: Error, socket: Duplex, request: http.IncomingMessage];
  close: [];
}

type Callback = (ws: WebSocket, request: http.IncomingMessage) => void;

function socketOnError(this: Duplex): void {
  this.destroy();
}

/** ws's subprotocol list: comma-separated tokens, none empty or repeated. Throws on anything else. */
function parseProtocols(header: string): Set<string> {
  const protocols = new Set<string>();
  for (const part of header.split(',')) {
    const protocol = part.trim();
    if (!isToken(protocol) || protocols.has(protocol))
      throw new SyntaxError('Invalid Sec-WebSocket-Protocol header');
    protocols.add(protocol);
  }
  return protocols;
}

/** The HTTP answer to a refused handshake, then the socket is closed, as ws writes it. */
function abortHandshake(
  socket: Duplex,
  code: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
): void {
  const body = message || nodeHttp.STATUS_CODES[code] || '';
  const fields: http.OutgoingHttpHeaders = {
    Connection: 'close',
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  };
  socket.once('finish', socket.destroy);
  socket.end(
    `HTTP/1.1 ${code} ${nodeHttp.STATUS_CODES[code]}\r\n` +
      Object.keys(fields)
        .map((name) => `${name}: ${String(fields[name])}`)
        .join('\r\n') +
      `\r\n\r\n${body}`,
  );
}

export class WebSocketServer extends EventEmitter<WebSocketServerEventMap> {
  /** The options, read at each handshake. */
  options: ServerOptions & { WebSocket: typeof WebSocket };
  /** The open WebSockets (with `clientTracking`, the default). */
  clients: Set<WebSocket> | undefined;
  private _server: http.Server | https.Server | null = null;
  private state = RUNNING;
  private shouldEmitClose = false;
  private removeListeners: (() => void) | null = null;
  /** permessage-deflate factory for the current `perMessageDeflate` option (it is stateless). */
  private deflate: { option: ServerOptions['perMessageDeflate']; factory: ExtensionFactory | null } | null =
    null;

  constructor(options: ServerOptions, callback?: () => void) {
    super();
    const resolved = { clientTracking: true, WebSocket, ...options };
    const hasPort = resolved.port !== undefined && resolved.port !== null;
    if (
      (!hasPort && !resolved.server && !resolved.noServer) ||
      (hasPort && (resolved.server || resolved.noServer)) ||
      (resolved.server && resolved.noServer)
    ) {
      throw new TypeError(
        'One and only one of the "port", "server", or "noServer" options must be specified',
      );
    }
    // A bad perMessageDeflate option throws here rather than at the first handshake.
    this.deflateFactory(resolved.perMessageDeflate);
    if (hasPort) {
      const server = nodeHttp.createServer((_req, res) => {
        const body = nodeHttp.STATUS_CODES[426]!;
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      server.listen(resolved.port, resolved.host, resolved.backlog, callback);
      this._server = server;
    } else if (resolved.server) {
      this._server = resolved.server;
    }
    if (this._server !== null) {
      const server = this._server;
      const onListening = () => this.emit('listening');
      const onError = (error: Error) => this.emit('error', error);
      const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      this.removeListeners = () => {
        server.off('listening', onListening);
        server.off('error', onError);
        server.off('upgrade', onUpgrade);
      };
    }
    if (resolved.clientTracking) this.clients = new Set();
    this.options = resolved;
  }

  /** The listening address, as the http server reports it. Throws in noServer mode. */
  address(): net.AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    return this._server === null ? null : this._server.address();
  }

  /**
   * Stops accepting connections; 'close' follows once the server is closed (its own) or every tracked client has
   * closed (attached or noServer), as with ws. Open WebSockets are not closed: close or terminate them yourself.
   */
  close(cb?: (error?: Error) => void): void {
    if (this.state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(() => this.emitClose());
      return;
    }
    if (cb) this.once('close', cb);
    if (this.state === CLOSING) return;
    this.state = CLOSING;
    const server = this._server;
    this.removeListeners?.();
    this.removeListeners = null;
    this._server = null;
    if (this.options.noServer || this.options.server) {
      if (this.clients !== undefined && this.clients.size > 0) this.shouldEmitClose = true;
      else process.nextTick(() => this.emitClose());
    } else {
      server!.close(() => this.emitClose());
    }
  }

  private emitClose(): void {
    this.state = CLOSED;
    this.emit('close');
  }

  /** Whether this server handles the request: its path matches `options.path` (query ignored). */
  shouldHandle(req: http.IncomingMessage): boolean {
    const path = this.options.path;
    if (path) {
      const url = req.url ?? '';
      const query = url.indexOf('?');
      if ((query === -1 ? url : url.slice(0, query)) !== path) return false;
    }
    return true;
  }

  private deflateFactory(option: ServerOptions['perMessageDeflate']): ExtensionFactory | null {
    if (this.deflate === null || this.deflate.option !== option) {
      this.deflate = { option, factory: deflateFactory(option) };
    }
    return this.deflate.factory;
  }

  /** Checks and answers an upgrade request; `cb` gets the open WebSocket. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, cb: Callback): void {
    socket.on('error', socketOnError);
    const headers = req.headers;
    const key = headers['sec-websocket-key'];
    const upgrade = headers.upgrade;
    const version = Number(headers['sec-websocket-version']);
    if (req.method !== 'GET') {
      this.refuse(req, socket, 405, 'Invalid HTTP method');
      return;
    }
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
      this.refuse(req, socket, 400, 'Invalid Upgrade header');
      return;
    }
    if (key === undefined || !KEY_PATTERN.test(key)) {
      this.refuse(req, socket, 400, 'Missing or invalid Sec-WebSocket-Key header');
      return;
    }
    if (version !== 13 && version !== 8) {
      this.refuse(req, socket, 400, 'Missing or invalid Sec-WebSocket-Version header', {
        'Sec-WebSocket-Version': '13, 8',
      });
      return;
    }
    if (!this.shouldHandle(req)) {
      abortHandshake(socket, 400);
      return;
    }
    let protocols = new Set<string>();
    const protocolHeader = headers['sec-websocket-protocol'];
    if (protocolHeader !== undefined) {
      try {
        protocols = parseProtocols(protocolHeader);
      } catch {
        this.refuse(req, socket, 400, 'Invalid Sec-WebSocket-Protocol header');
        return;
      }
    }
    const factory = this.deflateFactory(this.options.perMessageDeflate);
    const offer = headers['sec-websocket-extensions'];
    let negotiated: { header: string; extensions: Extension[] } = {
      header: '',
      extensions: [],
    };
    if (factory !== null && offer !== undefined) {
      const result = negotiateServer(offer, [factory]);
      if ('error' in result) {
        this.refuse(req, socket, 400, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
        return;
      }
      negotiated = result;
    }
    const verify = this.options.verifyClient;
    if (verify !== undefined && verify !== null) {
      const info: VerifyClientInfo = {
        origin: headers[version === 8 ? 'sec-websocket-origin' : 'origin'] as string | undefined,
        secure: Boolean(
          (req.socket as { authorized?: boolean }).authorized ||
            (req.socket as { encrypted?: boolean }).encrypted,
        ),
        req,
      };
      if (verify.length === 2) {
        (verify as (info: VerifyClientInfo, callback: VerifyClientCallback) => void)(
          info,
          (verified, code, message, extra) => {
            if (!verified) {
              this.dispose(negotiated.extensions);
              abortHandshake(socket, code || 401, message, extra);
              return;
            }
            this.completeUpgrade(negotiated, key, protocols, req, socket, head, cb);
          },
        );
        return;
      }
      if (!(verify as (info: VerifyClientInfo) => boolean)(info)) {
        this.dispose(negotiated.extensions);
        abortHandshake(socket, 401);
        return;
      }
    }
    this.completeUpgrade(negotiated, key, protocols, req, socket, head, cb);
  }

  private dispose(extensions: readonly Extension[]): void {
    for (const extension of extensions) extension.dispose?.();
  }

  /** A 400 (or 405) for a malformed request: ws's answer, or a 'wsClientError' event if someone listens. */
  private refuse(
    req: http.IncomingMessage,
    socket: Duplex,
    code: number,
    message: string,
    headers?: http.OutgoingHttpHeaders,
  ): void {
    if (this.listenerCount('wsClientError') > 0) {
      const error = new Error(message);
      Error.captureStackTrace(error, this.refuse);
      this.emit('wsClientError', error, socket, req);
      return;
    }
    abortHandshake(socket, code, message, headers);
  }

  private completeUpgrade(
    negotiated: { header: string; extensions: Extension[] },
    key: string,
    protocols: Set<string>,
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: Callback,
  ): void {
    if (!socket.readable || !socket.writable) {
      this.dispose(negotiated.extensions);
      socket.destroy();
      return;
    }
    const marked = socket as Duplex & { [kHandled]?: boolean };
    if (marked[kHandled]) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration',
      );
    }
    if (this.state > RUNNING) {
      this.dispose(negotiated.extensions);
      abortHandshake(socket, 503);
      return;
    }
    marked[kHandled] = true;
    const digest = nodeCrypto
      .createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    const lines = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${digest}`,
    ];
    const options = this.options;
    const ws = new options.WebSocket(null, undefined, options);
    let protocol: string | false | undefined;
    if (protocols.size > 0) {
      protocol = options.handleProtocols
        ? options.handleProtocols(protocols, req)
        : protocols.values().next().value;
      if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    }
    if (negotiated.header !== '') lines.push(`Sec-WebSocket-Extensions: ${negotiated.header}`);
    this.emit('headers', lines, req);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    socket.removeListener('error', socketOnError);
    ws[kAttach](socket, head, {
      protocol: protocol || '',
      maxPayload: options.maxPayload,
      extensions: negotiated.extensions,
      extensionNames: negotiated.extensions.map((extension) => extension.name),
    });
    const clients = this.clients;
    if (clients !== undefined) {
      clients.add(ws);
      ws.on('close', () => {
        clients.delete(ws);
        if (this.shouldEmitClose && clients.size === 0) process.nextTick(() => this.emitClose());
      });
    }
    cb(ws, req);
  }
}
