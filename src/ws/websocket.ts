/**
 * tslay/ws `WebSocket`: the `WebSocket` class of ws 8, over tslay's core `Connection` and the Node layer's pump.
 *
 * The contract is ws's documentation (doc/ws.md): the same constructor, options and defaults, events with the
 * same arguments, methods, properties and error messages. What differs is said where it differs, and in
 * docs/migrating-from-ws.md.
 *
 * Client: `new WebSocket(url, protocols?, options?)` starts the opening handshake with node's `http(s).request`
 * (so `agent`, `createConnection`, `headers` and TLS options work as with ws) and returns in CONNECTING.
 * Server: `WebSocketServer` makes instances with `new WebSocket(null)` and attaches the upgraded socket.
 */
// The module's binding, not the global: globalThis.Buffer is an accessor, one getter call per use.
import { Buffer } from 'node:buffer';
import type * as crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { MessageAssembler } from '../core/assembler.ts';
import { Connection } from '../core/connection.ts';
import { Opcode, State } from '../core/constants.ts';
import type { Event, Message } from '../core/events.ts';
import type { Extension } from '../core/extension.ts';
import { negotiateClient, offerExtensions } from '../core/extensions.ts';
import type { PreparedFrame } from '../core/frame.ts';
import { acceptKey } from '../core/handshake.ts';
import { isToken } from '../core/http1.ts';
import { requireBuiltin } from '../core/platform.ts';
import { WebSocketError } from '../node/errors.ts';
import { Pump, type PumpHandler } from '../node/pump.ts';
import { wsProtocolError } from './errors.ts';
import {
  addEventListener,
  type CloseEvent,
  defineEventAttributes,
  type ErrorEvent,
  kWasClean,
  type MessageEvent,
  removeEventListener,
  type Event as WsEvent,
} from './event-target.ts';
import {
  deflateFactory,
  maxPayloadOf,
  WS_DEFAULTS,
  type WsCommonOptions,
  type WsPerMessageDeflateOptions,
} from './options.ts';

const nodeHttp: typeof http = requireBuiltin('node:http');
const nodeCrypto: typeof crypto = requireBuiltin('node:crypto');

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
const BINARY_TYPES: readonly string[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];
const READY_STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;
const EMPTY_BUFFER = Buffer.alloc(0);

/** Data `send()` takes: what ws takes, except `Blob` (asynchronous in ws; convert with `await blob.arrayBuffer()`). */
export type Data = string | Buffer | ArrayBuffer | ArrayBufferView | readonly Buffer[] | number;

export type RawData = Buffer | ArrayBuffer | Buffer[] | Blob;

export interface ClientOptions extends WsCommonOptions, Omit<https.RequestOptions, 'headers' | 'timeout'> {
  /** 8 or 13. Default 13. */
  protocolVersion?: number;
  /** Milliseconds for the opening handshake (request to 101). Default: none. */
  handshakeTimeout?: number;
  /** permessage-deflate: offered by default, as ws does. */
  perMessageDeflate?: boolean | WsPerMessageDeflateOptions;
  followRedirects?: boolean;
  /** Default 10. */
  maxRedirects?: number;
  origin?: string;
  headers?: http.OutgoingHttpHeaders;
  /** Subprotocols, when the second argument is the options object. */
  protocols?: string | string[];
  /** Called with the request instead of `req.end()` (to write a body or headers late). */
  finishRequest?: (request: http.ClientRequest, websocket: WebSocket) => void;
  /** Fills the 4-byte masking key of each frame. Default: crypto random bytes. */
  generateMask?: (mask: Buffer) => void;
}

export interface SendOptions {
  binary?: boolean;
  /** Accepted; whether a message is compressed follows permessage-deflate's threshold. */
  compress?: boolean;
  /** `false` sends a fragment; the next sends continue the message until one with `fin: true`. */
  fin?: boolean;
  /** Accepted; clients always mask and servers never do, as RFC 6455 requires. */
  mask?: boolean;
}

/** What the server hands a WebSocket it made (see `WebSocketServer.completeUpgrade`). @internal */
export interface AttachOptions extends WsCommonOptions {
  /** The negotiated subprotocol ('' for none). */
  protocol: string;
  extensions: Extension[];
  extensionNames: string[];
}

export interface WebSocketEventMap {
  open: [];
  message: [data: RawData, isBinary: boolean];
  close: [code: number, reason: Buffer];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  upgrade: [response: http.IncomingMessage];
  'unexpected-response': [request: http.ClientRequest, response: http.IncomingMessage];
  redirect: [url: string, request: http.ClientRequest];
}

/** Attaches an upgraded socket to a server-side WebSocket. */
export const kAttach = Symbol('tslay.ws.attach');

function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

function toBuffer(data: Exclude<Data, number>): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (typeof Blob !== 'undefined' && (data as unknown) instanceof Blob) {
    throw new TypeError('tslay/ws does not send Blob data; send `await blob.arrayBuffer()` instead');
  }
  // ws sends anything else through Buffer.from as well.
  return Buffer.from(data as unknown as string);
}

function notOpen(readyState: number): Error {
  return new Error(`WebSocket is not open: readyState ${readyState} (${READY_STATE_NAMES[readyState]})`);
}

export class WebSocket extends EventEmitter<WebSocketEventMap> implements PumpHandler {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;
  /** EventTarget attributes (ws's event objects; `event.target` is this WebSocket). */
  declare onopen: ((this: WebSocket, event: WsEvent<WebSocket>) => unknown) | null;
  declare onmessage: ((this: WebSocket, event: MessageEvent<WebSocket>) => unknown) | null;
  declare onclose: ((this: WebSocket, event: CloseEvent<WebSocket>) => unknown) | null;
  declare onerror: ((this: WebSocket, event: ErrorEvent<WebSocket>) => unknown) | null;
  /** EventTarget: `addEventListener(type, handler, { once })` for 'open', 'message', 'close' and 'error'. */
  declare addEventListener: typeof addEventListener;
  declare removeEventListener: typeof removeEventListener;

  private _readyState = 0;
  private _binaryType: BinaryType = 'nodebuffer';
  private _url: string | undefined = undefined;
  private _protocol = '';
  private _extensionNames: string[] = [];
  private readonly _isServer: boolean;
  private _closeCode = 1006;
  private _closeMessage: Buffer = EMPTY_BUFFER;
  private _errorEmitted = false;
  private _paused = false;
  /** Bytes `send()` was given after close (ws counts them in `bufferedAmount`). */
  private _bufferedAmount = 0;
  private conn: Connection | null = null;
  private pump: Pump | null = null;
  private rawSocket: Duplex | null = null;
  private sender: { sendFrame(list: readonly Buffer[], cb?: (error?: Error | null) => void): void } | null =
    null;
  private _req: http.ClientRequest | null = null;
  private assembler: MessageAssembler | null = null;
  /** A message sent with `fin: false` is in progress. */
  private fragmenting = false;
  private readonly autoPong: boolean;
  private readonly maxPendingAutoPongs: number;
  private pendingAutoPongs = 0;
  private readonly onAutoPongWritten: () => void;
  private readonly closeTimeout: number;
  private maxBufferedAmount: number = WS_DEFAULTS.maxBufferedAmount;
  private redirects = 0;
  private readonly endSocket = (): void => {
    this.rawSocket?.end();
  };
  /** Host and scheme of the first request, which credentials may be sent to on redirects. */
  private originalHost: string | null = null;
  private originalSecure = false;

  constructor(address: null, protocols?: undefined, options?: WsCommonOptions);
  constructor(address: string | URL, protocols?: string | string[] | ClientOptions, options?: ClientOptions);
  constructor(
    address: string | URL | null,
    protocols?: string | string[] | ClientOptions,
    options?: ClientOptions | WsCommonOptions,
  ) {
    super();
    let list: string[] = [];
    let opts: ClientOptions = (options ?? {}) as ClientOptions;
    if (protocols !== undefined) {
      if (Array.isArray(protocols)) list = protocols;
      else if (typeof protocols === 'object' && protocols !== null) opts = protocols as ClientOptions;
      else list = [protocols as string];
    }
    if (list.length === 0 && opts.protocols !== undefined) {
      list = Array.isArray(opts.protocols) ? opts.protocols : [opts.protocols];
    }
    this.autoPong = opts.autoPong ?? true;
    this.maxPendingAutoPongs = (opts.maxPendingAutoPongs ?? WS_DEFAULTS.maxPendingAutoPongs) | 0;
    this.onAutoPongWritten = () => {
      this.pendingAutoPongs--;
    };
    this.closeTimeout = opts.closeTimeout ?? WS_DEFAULTS.closeTimeout;
    this.maxBufferedAmount = opts.maxBufferedAmount ?? WS_DEFAULTS.maxBufferedAmount;
    if (address === null) {
      this._isServer = true;
      return;
    }
    this._isServer = false;
    this.startClient(address, list, opts);
  }

  get binaryType(): BinaryType {
    return this._binaryType;
  }

  set binaryType(type: BinaryType) {
    if (BINARY_TYPES.includes(type)) this._binaryType = type;
  }

  get bufferedAmount(): number {
    return this.pump === null ? this._bufferedAmount : this.pump.bufferedAmount + this._bufferedAmount;
  }

  /** The negotiated extensions' names, comma-separated ('' for none), as ws's `extensions`. */
  get extensions(): string {
    return this._extensionNames.join();
  }

  get isPaused(): boolean {
    return this._paused;
  }

  get protocol(): string {
    return this._protocol;
  }

  get readyState(): number {
    const conn = this.conn;
    if (conn === null || this._readyState !== 1) return this._readyState;
    return conn.state === State.Open ? 1 : 2;
  }

  /** The URL of a client (undefined on the server side). */
  get url(): string | undefined {
    return this._url;
  }

  /** @internal For CloseEvent's `wasClean`: close frames went both ways. */
  get [kWasClean](): boolean {
    const conn = this.conn;
    return conn !== null && conn.closeSent !== null && conn.closeReceived !== null;
  }

  /** The upgraded socket (null until open). */
  get socket(): Duplex | null {
    return this.rawSocket;
  }

  /** ws's name for `socket`, which software built on ws reads (engine.io: `_socket.remoteAddress`). */
  get _socket(): Duplex | null {
    return this.rawSocket;
  }

  /**
   * The part of ws's internal sender that engine.io uses for broadcasts: `sendFrame(list, cb)` writes a frame
   * that ws's `Sender.frame` encoded once for every recipient (unmasked: server side only).
   */
  get _sender(): { sendFrame(list: readonly Buffer[], cb?: (error?: Error | null) => void): void } | null {
    if (this.conn === null || !this._isServer) return null;
    this.sender ??= { sendFrame: (list, cb) => this.sendFrame(list, cb) };
    return this.sender;
  }

  private sendFrame(list: readonly Buffer[], cb: ((error?: Error | null) => void) | undefined): void {
    if (this.readyState !== 1) {
      this.sendAfterClose(undefined, cb);
      return;
    }
    if (this.overflowed()) {
      this.sendAfterClose(undefined, cb);
      return;
    }
    const opcode = list[0]![0]! & 0x0f;
    for (const bytes of list) this.conn!.sendPrepared({ opcode, bytes });
    this.flushThen(cb);
  }

  // ── sending ────────────────────────────────────────────────────────────────────────────────────────────

  send(data: Data, cb?: (error?: Error | null) => void): void;
  send(data: Data, options: SendOptions, cb?: (error?: Error | null) => void): void;
  send(
    data: Data,
    options?: SendOptions | ((error?: Error | null) => void),
    cb?: (error?: Error | null) => void,
  ): void {
    const state = this.readyState;
    if (state === 0) throw notOpen(0);
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    const value = typeof data === 'number' ? data.toString() : data;
    if (state !== 1) {
      this.sendAfterClose(value, cb);
      return;
    }
    const bytes = value === undefined || value === null ? EMPTY_BUFFER : toBuffer(value);
    const binary = options?.binary ?? typeof value !== 'string';
    const fin = options?.fin ?? true;
    const conn = this.conn!;
    if (this.overflowed()) {
      this.sendAfterClose(value, cb);
      return;
    }
    if (this.fragmenting) conn.sendContinuation(bytes, fin);
    else if (binary) conn.sendBinary(bytes, fin);
    else conn.sendText(bytes, fin);
    this.fragmenting = !fin;
    this.flushThen(cb);
  }

  /** Sends a frame encoded once for many connections (`prepareFrame` of tslay/core). Server side only. */
  sendPrepared(frame: PreparedFrame, cb?: (error?: Error | null) => void): void {
    const state = this.readyState;
    if (state !== 1) {
      if (state === 0) throw notOpen(0);
      this.sendAfterClose(undefined, cb);
      return;
    }
    this.conn!.sendPrepared(frame);
    this.flushThen(cb);
  }

  ping(
    data?: Data | ((error?: Error | null) => void),
    mask?: boolean | ((error?: Error | null) => void),
    cb?: (error?: Error | null) => void,
  ): void {
    this.control(Opcode.Ping, data, mask, cb);
  }

  pong(
    data?: Data | ((error?: Error | null) => void),
    mask?: boolean | ((error?: Error | null) => void),
    cb?: (error?: Error | null) => void,
  ): void {
    this.control(Opcode.Pong, data, mask, cb);
  }

  private control(
    opcode: number,
    data: Data | ((error?: Error | null) => void) | undefined,
    mask: boolean | ((error?: Error | null) => void) | undefined,
    cb: ((error?: Error | null) => void) | undefined,
  ): void {
    const state = this.readyState;
    if (state === 0) throw notOpen(0);
    if (typeof data === 'function') {
      cb = data;
      data = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    const value = typeof data === 'number' ? data.toString() : data;
    if (state !== 1) {
      this.sendAfterClose(value, cb);
      return;
    }
    const bytes = value === undefined || value === null ? EMPTY_BUFFER : toBuffer(value);
    if (bytes.length > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    if (opcode === Opcode.Ping) this.conn!.sendPing(bytes);
    else this.conn!.sendPong(bytes);
    this.flushThen(cb);
  }

  /**
   * tslay's bound on unwritten bytes (`maxBufferedAmount`): past it, the peer is not reading and the socket is
   * destroyed ('error' BUFFER_OVERFLOW, then 'close' 1006).
   */
  private overflowed(): boolean {
    const pump = this.pump!;
    if (pump.bufferedAmount <= this.maxBufferedAmount) return false;
    pump.destroy(
      new WebSocketError('BUFFER_OVERFLOW', `more than ${this.maxBufferedAmount} bytes wait to be written`),
    );
    return true;
  }

  /** Flushes on this turn's microtask; `cb` fires once the bytes were handed to the socket. */
  private flushThen(cb: ((error?: Error | null) => void) | undefined): void {
    if (cb === undefined) this.pump!.scheduleFlush();
    else this.pump!.afterWrite(cb);
  }

  /** ws's answer to a send when the socket is closing or closed: no throw, the callback gets an error. */
  private sendAfterClose(
    data: Exclude<Data, number> | undefined,
    cb: ((error?: Error | null) => void) | undefined,
  ): void {
    if (data)
      this._bufferedAmount += typeof data === 'string' ? Buffer.byteLength(data) : toBuffer(data).length;
    if (cb !== undefined) process.nextTick(cb, notOpen(this.readyState));
  }

  /**
   * Starts the closing handshake. ws's checks: a code must be a valid close code (TypeError), the reason at most
   * 123 bytes (RangeError). Closing while CONNECTING aborts the handshake.
   */
  close(code?: number, data?: string | Buffer): void {
    const state = this.readyState;
    if (state === 3) return;
    if (state === 0) {
      this.abortHandshake(this._req, 'WebSocket was closed before the connection was established');
      return;
    }
    if (code !== undefined && (typeof code !== 'number' || !isValidCloseCode(code))) {
      throw new TypeError('First argument must be a valid error code number');
    }
    const reason = data === undefined ? '' : typeof data === 'string' ? data : Buffer.from(data).toString();
    if (Buffer.byteLength(reason) > 123)
      throw new RangeError('The message must not be greater than 123 bytes');
    const conn = this.conn!;
    if (state === 2 || conn.closeSent !== null) return;
    conn.sendClose(code, code === undefined ? '' : reason);
    this.pump!.scheduleFlush();
  }

  /** Destroys the socket now; 'close' reports 1006. While CONNECTING, aborts the handshake. */
  terminate(): void {
    const state = this.readyState;
    if (state === 3) return;
    if (state === 0) {
      this.abortHandshake(this._req, 'WebSocket was closed before the connection was established');
      return;
    }
    this.pump!.destroy();
  }

  pause(): void {
    const state = this.readyState;
    if (state === 0 || state === 3) return;
    this._paused = true;
    this.pump!.pauseReading();
  }

  resume(): void {
    const state = this.readyState;
    if (state === 0 || state === 3) return;
    this._paused = false;
    this.pump!.resumeReading();
  }

  // ── the open connection ────────────────────────────────────────────────────────────────────────────────

  /** @internal Attaches an upgraded socket: the WebSocket is OPEN and emits 'open'. */
  [kAttach](
    socket: Duplex,
    head: Uint8Array,
    options: AttachOptions & { generateMask?: (mask: Buffer) => void },
  ): void {
    const generate = options.generateMask;
    this.conn = new Connection({
      role: this._isServer ? 'server' : 'client',
      maxMessageSize: maxPayloadOf(options.maxPayload),
      extensions: options.extensions,
      autoPong: false,
      // ws answers a close frame with the peer's code and reason.
      echoCloseReason: true,
      wholeMessages: true,
      ...(generate === undefined
        ? {}
        : {
            randomMask: () => {
              const mask = Buffer.alloc(4);
              generate(mask);
              return mask;
            },
          }),
    });
    this._protocol = options.protocol;
    this._extensionNames = options.extensionNames;
    this.assembler = new MessageAssembler();
    this.rawSocket = socket;
    this.pump = new Pump(this.conn, socket as net.Socket, this, {
      closeTimeout: this.closeTimeout,
      // ws keeps reading however much waits to be written (a peer may be reading its own backlog, as a
      // stream's peer does): the pump does not pause reading for our writes. Automatic pongs are bounded by
      // maxPendingAutoPongs, the application's sends by maxBufferedAmount.
      highWaterMark: Number.POSITIVE_INFINITY,
    });
    this._readyState = 1;
    this.emit('open');
    this.pump.receive(head);
  }

  /** @internal */
  handleEvent(event: Event): void {
    switch (event.type) {
      case 'message':
        this.deliver(event);
        return;
      case 'frame-start':
      case 'frame-data':
        this.assembler!.push(event);
        return;
      case 'frame-end': {
        const message = this.assembler!.push(event);
        if (message !== null) this.deliver(message);
        return;
      }
      case 'ping': {
        const data = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength);
        if (this.autoPong && this.readyState === 1) {
          if (this.maxPendingAutoPongs > 0 && this.pendingAutoPongs >= this.maxPendingAutoPongs) {
            this.terminate();
          } else {
            this.pendingAutoPongs++;
            this.pong(data, !this._isServer, this.onAutoPongWritten);
          }
        }
        this.emit('ping', data);
        return;
      }
      case 'pong':
        this.emit('pong', Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength));
        return;
      case 'close':
        this._closeCode = event.code;
        this._closeMessage = event.reason === '' ? EMPTY_BUFFER : Buffer.from(event.reason);
        return;
      case 'fail': {
        // As ws: once the close frame for the violation is written, our side of the connection ends too (a
        // client would otherwise wait up to closeTimeout for the server's FIN).
        if (!this._isServer) this.pump!.afterWrite(this.endSocket);
        const error = wsProtocolError(event.error);
        if (error !== null) this.emitError(error);
        return;
      }
      default:
        return;
    }
  }

  private deliver(message: Message): void {
    const data = Buffer.isBuffer(message.data)
      ? message.data
      : Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
    if (message.opcode !== Opcode.Binary) this.emit('message', data, false);
    else this.emit('message', this.binary(data), true);
  }

  private binary(data: Buffer): RawData {
    switch (this._binaryType) {
      case 'arraybuffer':
        return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
          ? (data.buffer as ArrayBuffer)
          : (data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
      case 'fragments':
        // Messages are assembled as they arrive (memory in proportion to the bytes, not the frames): one fragment.
        return [data];
      case 'blob':
        return new Blob([data]);
      default:
        return data;
    }
  }

  /** @internal */
  handleDrain(): void {}

  /** @internal */
  handleClose(error: Error | null): void {
    if (error instanceof WebSocketError && error.code === 'BUFFER_OVERFLOW') this.emitError(error);
    this.emitClose();
  }

  private emitError(error: Error): void {
    if (this._errorEmitted) return;
    this._errorEmitted = true;
    // An 'error' without a listener would throw out of the socket's event handler; ws users always listen.
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private emitClose(): void {
    if (this._readyState === 3) return;
    this._readyState = 3;
    this.emit('close', this._closeCode, this._closeMessage);
  }

  // ── the client's opening handshake ─────────────────────────────────────────────────────────────────────

  private startClient(address: string | URL, protocols: string[], options: ClientOptions): void {
    const version = options.protocolVersion ?? 13;
    if (version !== 8 && version !== 13) {
      throw new RangeError(`Unsupported protocol version: ${version} (supported versions: 8, 13)`);
    }
    let url: URL;
    if (address instanceof URL) url = address;
    else {
      try {
        url = new URL(address);
      } catch {
        throw new SyntaxError(`Invalid URL: ${address}`);
      }
    }
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (typeof protocol !== 'string' || !isToken(protocol) || seen.has(protocol)) {
        throw new SyntaxError('An invalid or duplicated subprotocol was specified');
      }
      seen.add(protocol);
    }
    this.request(url, protocols, options, true);
  }

  private request(address: URL, protocols: string[], options: ClientOptions, first: boolean): void {
    let url = address;
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      url = new URL(url);
      url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
    }
    this._url = url.href;
    const secure = url.protocol === 'wss:';
    let invalid: string | undefined;
    if (url.protocol !== 'ws:' && !secure) {
      invalid = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", or "https:"';
    } else if (url.hash) invalid = 'The URL contains a fragment identifier';
    if (invalid !== undefined) {
      const error = new SyntaxError(invalid);
      if (first) throw error;
      this.emitErrorAndClose(error);
      return;
    }
    if (first) {
      this.originalHost = url.host;
      this.originalSecure = secure;
    }
    const key = nodeCrypto.randomBytes(16).toString('base64');
    const deflate = deflateFactory(options.perMessageDeflate ?? true);
    const factories = deflate === null ? [] : [deflate];
    const headers: http.OutgoingHttpHeaders = {
      ...options.headers,
      'Sec-WebSocket-Version': options.protocolVersion ?? 13,
      'Sec-WebSocket-Key': key,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
    };
    const offered = offerExtensions(factories);
    if (offered !== '') headers['Sec-WebSocket-Extensions'] = offered;
    if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(',');
    if (options.origin !== undefined) {
      headers[(options.protocolVersion ?? 13) < 13 ? 'Sec-WebSocket-Origin' : 'Origin'] = options.origin;
    }
    if (!first && this.crossesOrigin(url)) {
      // As curl (and ws) do: credentials do not follow a redirect to another host or from wss to ws.
      for (const name of Object.keys(headers)) {
        const lower = name.toLowerCase();
        if (lower === 'authorization' || lower === 'cookie' || lower === 'host') delete headers[name];
      }
    }
    const {
      protocolVersion: _version,
      handshakeTimeout,
      perMessageDeflate: _deflate,
      followRedirects,
      maxRedirects,
      origin: _origin,
      headers: _headers,
      protocols: _protocols,
      finishRequest,
      generateMask,
      autoPong: _autoPong,
      maxPendingAutoPongs: _pongs,
      closeTimeout: _closeTimeout,
      maxPayload,
      maxBufferedAmount: _maxBuffered,
      skipUTF8Validation: _skip,
      allowSynchronousEvents: _sync,
      maxFragments: _fragments,
      maxBufferedChunks: _chunks,
      ...requestOptions
    } = options;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const defaultPort = secure ? 443 : 80;
    const init: https.RequestOptions = {
      createConnection: secure ? connectTls : connectTcp,
      defaultPort,
      ...requestOptions,
      method: 'GET',
      host,
      port: url.port || defaultPort,
      path: url.pathname + url.search,
      headers,
    };
    if (url.username || url.password) {
      init.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    }
    if (handshakeTimeout !== undefined) init.timeout = handshakeTimeout;
    const req = (secure ? https.request : nodeHttp.request)(init);
    this._req = req;
    if (!first) this.emit('redirect', this._url, req);
    if (handshakeTimeout !== undefined) {
      req.on('timeout', () => this.abortHandshake(req, 'Opening handshake has timed out'));
    }
    req.on('error', (error) => {
      if (this._req !== req) return;
      this._req = null;
      this.emitErrorAndClose(error);
    });
    req.on('response', (res) => {
      if (this._req !== req) return;
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (location && followRedirects === true && status >= 300 && status < 400) {
        if (++this.redirects > (maxRedirects ?? 10)) {
          this.abortHandshake(req, 'Maximum redirects exceeded');
          return;
        }
        this._req = null;
        req.destroy();
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          this.emitErrorAndClose(new SyntaxError(`Invalid URL: ${location}`));
          return;
        }
        this.request(next, protocols, options, false);
        return;
      }
      if (this.listenerCount('unexpected-response') > 0) this.emit('unexpected-response', req, res);
      else this.abortHandshake(req, `Unexpected server response: ${status}`);
    });
    req.on('upgrade', (res, socket: Duplex, head: Buffer) => {
      if (this._req !== req) return;
      this.emit('upgrade', res);
      // The application may have closed the WebSocket from an 'upgrade' listener.
      if (this._readyState !== 0) return;
      this._req = null;
      const upgrade = res.headers.upgrade;
      if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
        this.abortHandshake(socket, 'Invalid Upgrade header');
        return;
      }
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        this.abortHandshake(socket, 'Invalid Sec-WebSocket-Accept header');
        return;
      }
      const chosen = res.headers['sec-websocket-protocol'];
      let protocolError: string | undefined;
      if (chosen !== undefined) {
        if (protocols.length === 0) protocolError = 'Server sent a subprotocol but none was requested';
        else if (!protocols.includes(chosen)) protocolError = 'Server sent an invalid subprotocol';
      } else if (protocols.length > 0) protocolError = 'Server sent no subprotocol';
      if (protocolError !== undefined) {
        this.abortHandshake(socket, protocolError);
        return;
      }
      const answered = res.headers['sec-websocket-extensions'];
      let extensions: Extension[] = [];
      if (answered !== undefined) {
        if (deflate === null) {
          this.abortHandshake(
            socket,
            'Server sent a Sec-WebSocket-Extensions header but no extension was requested',
          );
          return;
        }
        const negotiated = negotiateClient(answered, factories);
        if ('error' in negotiated) {
          const message = /not offered|unknown|not requested/i.test(negotiated.error)
            ? 'Server indicated an extension that was not requested'
            : 'Invalid Sec-WebSocket-Extensions header';
          this.abortHandshake(socket, message);
          return;
        }
        extensions = negotiated.extensions;
      }
      this[kAttach](socket, head, {
        protocol: chosen ?? '',
        maxPayload,
        extensions,
        extensionNames: extensions.map((extension) => extension.name),
        ...(generateMask === undefined ? {} : { generateMask }),
      });
    });
    if (finishRequest !== undefined) finishRequest(req, this);
    else req.end();
  }

  /** Redirected to another host, or from wss: to ws:. */
  private crossesOrigin(url: URL): boolean {
    if (this.originalHost === null) return false;
    return url.host !== this.originalHost || (this.originalSecure && url.protocol !== 'wss:');
  }

  private abortHandshake(stream: http.ClientRequest | Duplex | null, message: string): void {
    this._readyState = 2;
    const error = new Error(message);
    Error.captureStackTrace(error, this.abortHandshake);
    if (stream === null) {
      process.nextTick(() => this.emitErrorAndClose(error));
      return;
    }
    if (stream instanceof nodeHttp.ClientRequest) {
      this._req = null;
      stream.destroy();
      stream.socket?.destroy();
      process.nextTick(() => this.emitErrorAndClose(error));
      return;
    }
    stream.on('error', () => {});
    stream.destroy();
    process.nextTick(() => this.emitErrorAndClose(error));
  }

  private emitErrorAndClose(error: Error): void {
    this._readyState = 2;
    this.emitError(error);
    this.emitClose();
  }
}

defineEventAttributes(WebSocket.prototype);
Object.defineProperty(WebSocket.prototype, 'addEventListener', {
  configurable: true,
  writable: true,
  value: addEventListener,
});
Object.defineProperty(WebSocket.prototype, 'removeEventListener', {
  configurable: true,
  writable: true,
  value: removeEventListener,
});

for (const [name, value] of [
  ['CONNECTING', 0],
  ['OPEN', 1],
  ['CLOSING', 2],
  ['CLOSED', 3],
] as const) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
}

function connectTcp(options: http.ClientRequestArgs): net.Socket {
  return net.connect(options as net.NetConnectOpts);
}

/** As ws does: SNI with the host name, none for an IP address. */
function connectTls(options: http.ClientRequestArgs): tls.TLSSocket {
  const tlsOptions = options as tls.ConnectionOptions;
  const host = tlsOptions.host ?? '';
  if (!tlsOptions.servername && tlsOptions.servername !== '') {
    tlsOptions.servername = net.isIP(host) ? '' : host;
  }
  return tls.connect(tlsOptions);
}
