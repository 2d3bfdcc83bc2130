/**
 * Protocol handlers chosen by `Sec-WebSocket-Protocol` (libwebsockets' protocol table), and `ServiceSocket`, the
 * per-connection handle they receive (lua-websockets' `websocket` object).
 *
 * Selection, decided once here: the client lists subprotocols in its order of preference, and the first one the
 * table knows wins (libwebsockets walks the client's list the same way). A client that offers none of ours (or
 * nothing at all) is served by the table's first protocol, without a `Sec-WebSocket-Protocol` answer header (the
 * client did not offer it, so it must not be named: RFC 6455 §4.1, client rule 6), unless `requireProtocol` is
 * set: then it gets 400 Bad Request.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from '../node/websocket.ts';
import type { BroadcastMessage, BroadcastResult, BroadcastTarget } from './broadcast.ts';

// ─── selection ────────────────────────────────────────────────────────────────────────────────────────────

export type ProtocolChoice =
  | {
      ok: true;
      /** The handler that serves the connection. */
      name: string;
      /** The value of the answer's `Sec-WebSocket-Protocol`, or undefined to send none. */
      header: string | undefined;
    }
  | { ok: false; status: 400; reason: string };

export interface ProtocolSelectionOptions {
  /** Refuse (400) a client that offers none of the table's protocols, instead of serving it the first one. */
  requireProtocol?: boolean;
}

/** Picks the handler for a client that offered `offered` (in its order of preference). */
export function chooseProtocol(
  offered: readonly string[],
  names: readonly string[],
  options: ProtocolSelectionOptions = {},
): ProtocolChoice {
  const match = offered.find((protocol) => names.includes(protocol));
  if (match !== undefined) return { ok: true, name: match, header: match };
  if (options.requireProtocol === true) {
    const reason =
      offered.length === 0
        ? `a subprotocol is required: one of ${names.join(', ')}`
        : `none of the offered subprotocols is supported (supported: ${names.join(', ')})`;
    return { ok: false, status: 400, reason };
  }
  const first = names[0];
  if (first === undefined) return { ok: false, status: 400, reason: 'no WebSocket protocol is served here' };
  return { ok: true, name: first, header: undefined };
}

// ─── handlers ─────────────────────────────────────────────────────────────────────────────────────────────

/** Per-socket user data when a protocol does not create its own. */
export type SocketData = Record<string, unknown>;

/** Called once per accepted connection of a protocol (lua-websockets' `on_connect` / `on_established`). */
export type ConnectHandler = (ws: ServiceSocket, req: IncomingMessage) => void;

/** A protocol with typed per-socket data: `createData(req)` gives each socket its `ws.data`. */
export interface ProtocolSpec<Data = SocketData> {
  onConnect(ws: ServiceSocket<Data>, req: IncomingMessage): void;
  createData?(req: IncomingMessage): Data;
}

/** Protocol name → handler; the first entry also serves clients that offer no known protocol. */
// biome-ignore lint/suspicious/noExplicitAny: each entry chooses its own data type; the table holds them all.
export type ProtocolTable = Readonly<Record<string, ConnectHandler | ProtocolSpec<any>>>;

export function connectHandlerOf(entry: ProtocolTable[string]): ProtocolSpec<unknown> {
  return typeof entry === 'function' ? { onConnect: entry as ProtocolSpec<unknown>['onConnect'] } : entry;
}

// ─── the per-socket handle ────────────────────────────────────────────────────────────────────────────────

export type WriteType = 'text' | 'binary';
/** Text arrives as a string, binary as a Buffer. */
export type ReceiveHandler<Data> = (
  ws: ServiceSocket<Data>,
  data: string | Buffer,
  isBinary: boolean,
) => void;
export type ClosedHandler<Data> = (ws: ServiceSocket<Data>, code: number, reason: string) => void;
/** Called with a broadcast's payload (a string for text, bytes for binary); it decides what to write. */
export type BroadcastHandler<Data> = (ws: ServiceSocket<Data>, data: string | Uint8Array) => void;

/** What a socket needs from its context. */
export interface SocketHost {
  broadcast(protocol: string, data: string | Uint8Array, options?: { binary?: boolean }): BroadcastResult;
  subscribe(ws: ServiceSocket<unknown>, topic: string): void;
  unsubscribe(ws: ServiceSocket<unknown>, topic: string): boolean;
  /** A handler threw: reported, and the connection is closed with 1011. */
  handlerError(ws: ServiceSocket<unknown>, error: unknown): void;
}

/**
 * One WebSocket of a service context. Handlers are registered from the protocol's connect handler; a message that
 * arrives before `onReceive` is set waits in the WebSocket's queue and is delivered once it is.
 */
export class ServiceSocket<Data = SocketData> implements BroadcastTarget {
  /** The Node-layer WebSocket (events, backpressure, ping/pong) for what this handle does not cover. */
  readonly websocket: WebSocket;
  /** The name of the protocol handler serving this socket (also when the client offered none). */
  readonly protocol: string;
  /** Per-socket user data (the protocol's `createData(req)`, or `{}`). */
  data: Data;
  private readonly host: SocketHost;
  private receiveHandler: ReceiveHandler<Data> | null = null;
  private closedHandler: ClosedHandler<Data> | null = null;
  private broadcastMode: BroadcastHandler<Data> | WriteType | null = null;

  constructor(websocket: WebSocket, protocol: string, data: Data, host: SocketHost) {
    this.websocket = websocket;
    this.protocol = protocol;
    this.data = data;
    this.host = host;
    websocket.on('close', (code, reason) => this.closed(code, reason));
    // Errors are reported through 'close' (1006 or the close code); a listener keeps EventEmitter from throwing.
    websocket.on('error', () => {});
  }

  /** The Node socket (lua-websockets' `get_socket_fd`): addresses, TLS details. */
  get socket(): Socket {
    return this.websocket.socket;
  }

  get isOpen(): boolean {
    return this.websocket.readyState === 1;
  }

  get bufferedAmount(): number {
    return this.websocket.bufferedAmount;
  }

  /**
   * Sends one message: `'text'` or `'binary'`; by default a string is text and bytes are binary. Returns false
   * when the send buffer is over its high-water mark. Throws `InvalidStateError` once the socket is closing.
   */
  write(data: string | Uint8Array, type?: WriteType): boolean {
    const binary = type === undefined ? typeof data !== 'string' : type === 'binary';
    return this.websocket.send(data, { binary });
  }

  onReceive(handler: ReceiveHandler<Data>): this {
    const first = this.receiveHandler === null;
    this.receiveHandler = handler;
    if (first) this.websocket.on('message', (data, isBinary) => this.received(data, isBinary));
    return this;
  }

  /** Called once when the connection is closed (`code` 1006 when it ended without a close frame). */
  onClosed(handler: ClosedHandler<Data>): this {
    this.closedHandler = handler;
    return this;
  }

  /**
   * What a broadcast to this socket's protocol does here (lua-websockets' `on_broadcast`): `'text'` or
   * `'binary'` forwards it as that kind of message; a function receives the payload and writes what it wants
   * (or nothing). The default forwards it as its own kind (strings as text, bytes as binary). Topics published
   * with `context.publish` are always forwarded as their own kind.
   */
  onBroadcast(handlerOrMode: BroadcastHandler<Data> | WriteType): this {
    this.broadcastMode = handlerOrMode;
    return this;
  }

  /** Sends `data` to every open socket of this protocol, this one included (libwebsockets' semantics). */
  broadcast(data: string | Uint8Array, options?: { binary?: boolean }): BroadcastResult {
    return this.host.broadcast(this.protocol, data, options);
  }

  subscribe(topic: string): this {
    this.host.subscribe(this as ServiceSocket<unknown>, topic);
    return this;
  }

  unsubscribe(topic: string): boolean {
    return this.host.unsubscribe(this as ServiceSocket<unknown>, topic);
  }

  /** Starts the closing handshake (no code: an empty close frame). Closing twice is a no-op. */
  close(code?: number, reason?: string): void {
    this.websocket.close(code, reason);
  }

  /** Destroys the connection without a closing handshake. */
  terminate(): void {
    this.websocket.terminate();
  }

  /** @internal A protocol broadcast (or, `direct`, a topic message) reaching this socket. */
  deliver(message: BroadcastMessage, direct: boolean): void {
    const mode = direct ? null : this.broadcastMode;
    if (typeof mode === 'function') {
      this.guard(() => mode(this, message.data));
      return;
    }
    this.websocket.sendPrepared(mode === null ? message.defaultFrame : message.frame(mode));
  }

  private received(data: Buffer, isBinary: boolean): void {
    const handler = this.receiveHandler;
    if (handler === null) return;
    this.guard(() => handler(this, isBinary ? data : data.toString('utf8'), isBinary));
  }

  private closed(code: number, reason: string): void {
    const handler = this.closedHandler;
    if (handler !== null) this.guard(() => handler(this, code, reason));
  }

  private guard(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.host.handlerError(this as ServiceSocket<unknown>, error);
    }
  }
}
