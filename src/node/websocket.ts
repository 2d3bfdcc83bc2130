/**
 * `WebSocket`: the Node handle over a core `Connection` and a socket. Two ways to receive, one queue between them:
 *
 * - events: `ws.on('message', (data, isBinary) => …)` like ws: `data` is a Buffer for text and binary messages
 *   alike (text is valid UTF-8, checked by the core; `data.toString()` decodes it). No string is built unless
 *   the application asks for one, so an echo or a proxy never decodes.
 * - stream (websocket-stream): `ws.read()` returns the next whole message or `null` without blocking, and
 *   `ws.readState` tells "a message is partly here" from "nothing"; `for await (const m of ws)` ends at close.
 *
 * While there is no 'message' listener, messages are queued (like a paused Readable) and reading from the peer
 * pauses once `readHighWaterMark` bytes wait; adding a 'message' listener delivers the queue first.
 */
// The module's binding, not the global: globalThis.Buffer is an accessor, one getter call per use.
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { MessageAssembler } from '../core/assembler.ts';
import { EMPTY } from '../core/bytes.ts';
import { encodeClosePayload } from '../core/close.ts';
import { Connection } from '../core/connection.ts';
import { CloseCode, Opcode, type Role, State } from '../core/constants.ts';
import { UsageError } from '../core/errors.ts';
import type { Event } from '../core/events.ts';
import type { Extension } from '../core/extension.ts';
import type { PreparedFrame } from '../core/frame.ts';
import { WebSocketError } from './errors.ts';
import { Pump, type PumpHandler } from './pump.ts';

/** WHATWG readyState numbers. */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/** Tuning shared by servers and clients. Every default is chosen so that a slow or dead peer costs bounded memory. */
export interface WebSocketOptions {
  /** `send()` returns false once this many bytes wait to be written; 'drain' follows. Default 1 MiB. */
  highWaterMark?: number;
  /**
   * Hard limit: a send that finds more than this many bytes still waiting destroys the socket (a peer that does
   * not read). No close frame is sent, since it would queue behind the backlog; 'close' reports 1006 and 'error'
   * a `WebSocketError` BUFFER_OVERFLOW. Memory per connection is bounded by this plus one message. Default 16 MiB.
   */
  maxBufferedAmount?: number;
  /** Queued, unread messages (stream skin) above which reading from the peer pauses. Default 1 MiB. */
  readHighWaterMark?: number;
  /** Milliseconds to wait for the peer to close TCP after the close handshake; then destroy. Default 10 s. */
  closeTimeout?: number;
  /** Send a ping every this many ms and terminate the connection if no pong came since the last one. Default off. */
  heartbeat?: number;
}

export interface WebSocketInit extends WebSocketOptions {
  role: Role;
  /** Bytes that arrived with the handshake (the `head` of an upgrade). */
  head?: Uint8Array;
  /** The negotiated subprotocol ('' for none). */
  protocol?: string;
  /** The negotiated extensions, and the Sec-WebSocket-Extensions value that announced them. */
  extensions?: Extension[];
  extensionsHeader?: string;
  /** Largest incoming message; beyond it the connection fails with 1009. Default 64 MiB. */
  maxPayload?: number;
  /** Client only: masking keys (tests inject a deterministic source). */
  randomMask?: () => Uint8Array;
}

/** A whole message from `read()` or async iteration. */
export interface ReceivedMessage {
  data: Buffer;
  isBinary: boolean;
}

/**
 * What `read()` would find: `ready` a whole message; `partial` part of the next message has arrived (frames of it,
 * not its end); `empty` nothing yet; `closed` nothing more will come.
 */
export type ReadState = 'ready' | 'partial' | 'empty' | 'closed';

export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView;

export interface WebSocketEvents {
  message: [data: Buffer, isBinary: boolean];
  ping: [data: Buffer];
  pong: [data: Buffer];
  /** `code` is the peer's close code, 1005 if its close frame had none, 1006 if no close frame came. */
  close: [code: number, reason: string, wasClean: boolean];
  error: [error: Error];
  drain: [];
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

const DEFAULTS = {
  highWaterMark: 1024 * 1024,
  maxBufferedAmount: 16 * 1024 * 1024,
  readHighWaterMark: 1024 * 1024,
  closeTimeout: 10_000,
} as const;

/**
 * A listener table with a slot for each of a WebSocket's events. EventEmitter makes a `{ __proto__: null }`
 * object, which V8 keeps as a dictionary (about 180 bytes per connection); an instance of this class stays a fast
 * object of 72 bytes, and adding a listener fills a slot without changing its shape. Its prototype is emptied
 * (no `constructor`) and cut from Object.prototype, so no event name finds an inherited value. (A literal with
 * `__proto__` would do the same but costs 60-230 ns to make, against 8 ns for `new`.)
 */
class ListenerTable {
  message = undefined;
  close = undefined;
  error = undefined;
  ping = undefined;
  pong = undefined;
  drain = undefined;
}
Reflect.deleteProperty(ListenerTable.prototype, 'constructor');
Object.setPrototypeOf(ListenerTable.prototype, null);
Object.freeze(ListenerTable.prototype);

/** The bits of `WebSocket.flags`. */
const Flag = {
  /** Frames of a message have arrived, not its end (`readState` 'partial'). */
  InMessage: 1 << 0,
  /** Queued messages are handed to a new 'message' listener on the next turn. */
  DrainScheduled: 1 << 1,
  /** The 'newListener' listener is on (it is added with the first queued message). */
  WatchingListeners: 1 << 2,
  /** A send returned false: 'drain' is emitted once the backlog is under the high-water mark. */
  NeedDrain: 1 << 3,
  Closed: 1 << 4,
  /** A pong came since the last heartbeat ping. */
  PongSeen: 1 << 5,
} as const;

type Waiter = (result: IteratorResult<ReceivedMessage, undefined>) => void;
// Shared empty stand-ins, replaced by an array of its own when a connection first needs one (never mutated).
const NO_MESSAGES: (ReceivedMessage | undefined)[] = [];
const NO_WAITERS: Waiter[] = [];

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toBytes(data: Exclude<SendData, string>): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new UsageError('INVALID_DATA', 'data must be a string, an ArrayBuffer or an ArrayBufferView');
}

function controlBytes(data: string | Uint8Array | undefined): Uint8Array {
  return data === undefined ? EMPTY : typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

export class WebSocket
  extends EventEmitter<WebSocketEvents>
  implements PumpHandler, AsyncIterable<ReceivedMessage>
{
  static readonly CONNECTING = ReadyState.CONNECTING;
  static readonly OPEN = ReadyState.OPEN;
  static readonly CLOSING = ReadyState.CLOSING;
  static readonly CLOSED = ReadyState.CLOSED;

  /**
   * The underlying socket (read-only use: addresses, TLS details). Over HTTP/2 it is the WebSocket's stream;
   * `socket.session.socket` is the connection.
   */
  readonly socket: Socket;
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value of the handshake ('' for none). */
  readonly extensions: string;
  /** The peer's address, once read (`null`: not read yet; see `remoteAddress`). */
  private peerAddress: string | undefined | null = null;
  private readonly conn: Connection;
  private readonly pump: Pump;
  /** Made by the first frame received. */
  private assembler: MessageAssembler | null = null;
  private readonly highWaterMark: number;
  private readonly maxBufferedAmount: number;
  private readonly readHighWaterMark: number;
  /** Messages no listener took yet; made for the first one (most applications never queue). */
  private queue: (ReceivedMessage | undefined)[] = NO_MESSAGES;
  private queueHead = 0;
  private queuedBytes = 0;
  /** Pending `next()` calls of async iterators; made for the first one. */
  private waiters: Waiter[] = NO_WAITERS;
  /** The yes/no state of the WebSocket, one bit per `Flag`. */
  private flags: number = Flag.PongSeen;
  private heartbeatTimer: NodeJS.Timeout | null = null;

  /** Normally made by `serve()`, `connect()` or `handleUpgrade()`: the handshake is done, the socket is open. */
  constructor(socket: Socket, init: WebSocketInit) {
    super();
    (this as { _events?: object })._events = new ListenerTable();
    this.socket = socket;
    this.protocol = init.protocol ?? '';
    this.extensions = init.extensionsHeader ?? '';
    this.highWaterMark = init.highWaterMark ?? DEFAULTS.highWaterMark;
    this.maxBufferedAmount = init.maxBufferedAmount ?? DEFAULTS.maxBufferedAmount;
    this.readHighWaterMark = init.readHighWaterMark ?? DEFAULTS.readHighWaterMark;
    // Options left undefined take Connection's defaults (one plain literal: spreads would copy objects).
    this.conn = new Connection({
      role: init.role,
      maxMessageSize: init.maxPayload,
      extensions: init.extensions,
      randomMask: init.randomMask,
      wholeMessages: true,
    });
    this.pump = new Pump(this.conn, socket, this, {
      closeTimeout: init.closeTimeout ?? DEFAULTS.closeTimeout,
      highWaterMark: this.highWaterMark,
    });
    if (init.heartbeat !== undefined && init.heartbeat > 0) {
      this.heartbeatTimer = setInterval(() => this.beat(), init.heartbeat);
    }
    this.pump.receive(init.head ?? EMPTY);
  }

  /** Is any of the bits in `flag` set? */
  private is(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  /**
   * The peer's address. Read from the socket when first asked (an idle connection keeps no copy), and at the
   * latest when the closing handshake starts, so it stays available after a clean close; after a connection
   * that was reset without ever being asked, it is `undefined`.
   */
  get remoteAddress(): string | undefined {
    if (this.peerAddress === null) {
      const socket = this.socket;
      // Over HTTP/2 the duplex is a stream; the address is its session's connection's.
      const address =
        socket.remoteAddress ?? (socket as { session?: { socket?: Socket } }).session?.socket?.remoteAddress;
      // Not cached while unknown: a socket that has closed knows none, and neither would a later read.
      if (address === undefined) return undefined;
      this.peerAddress = address;
    }
    return this.peerAddress;
  }

  /** Names of the events that have listeners (an empty slot of the listener table is not one). */
  override eventNames(): ReturnType<EventEmitter<WebSocketEvents>['eventNames']> {
    return super.eventNames().filter((name) => this.listenerCount(name) > 0);
  }

  get readyState(): ReadyState {
    if (this.is(Flag.Closed)) return ReadyState.CLOSED;
    return this.conn.state === State.Open ? ReadyState.OPEN : ReadyState.CLOSING;
  }

  /** Bytes waiting to be written: queued frames plus the socket's buffer. */
  get bufferedAmount(): number {
    return this.pump.bufferedAmount;
  }

  // ── sending ────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Sends one message: a string as text, bytes as binary. `{ binary: false }` sends bytes as a text message
   * without decoding them (they must be UTF-8; an echo passes received text through this way). Returns false once
   * `highWaterMark` bytes wait ('drain' follows). Throws `InvalidStateError` unless open. The bytes are written
   * after the current tick: do not modify a buffer after sending it.
   */
  send(data: SendData, options?: { binary?: boolean }): boolean {
    if (typeof data === 'string') {
      return this.sendBytes(Buffer.from(data, 'utf8'), options?.binary === true);
    }
    return this.sendBytes(toBytes(data), options?.binary !== false);
  }

  /** Stream skin (websocket-stream's `write(OpCode, buf)`): Text, Binary, Ping or Pong from `Opcode`. */
  write(opcode: number, data: Uint8Array): boolean {
    switch (opcode) {
      case Opcode.Text:
        return this.sendBytes(data, false);
      case Opcode.Binary:
        return this.sendBytes(data, true);
      case Opcode.Ping:
        this.ping(data);
        return this.afterSend();
      case Opcode.Pong:
        this.pong(data);
        return this.afterSend();
      default:
        throw new UsageError('INVALID_OPCODE', `write() takes Text, Binary, Ping or Pong, not ${opcode}`);
    }
  }

  /** Sends a frame encoded once for many connections (`prepareFrame`, broadcast). Server side only. */
  sendPrepared(frame: PreparedFrame): boolean {
    this.conn.sendPrepared(frame);
    this.pump.scheduleFlush();
    return this.afterSend();
  }

  ping(data?: string | Uint8Array): void {
    this.conn.sendPing(controlBytes(data));
    this.pump.scheduleFlush();
  }

  pong(data?: string | Uint8Array): void {
    this.conn.sendPong(controlBytes(data));
    this.pump.scheduleFlush();
  }

  /**
   * Starts the closing handshake. Throws `UsageError` for a code that may not be sent or a reason over 123 UTF-8
   * bytes; without a code the close frame is empty (the peer sees 1005). Closing twice is a no-op.
   */
  close(code?: number, reason = ''): void {
    encodeClosePayload(code, reason);
    if (this.conn.closeSent !== null || this.conn.state === State.Closed) return;
    void this.remoteAddress;
    this.conn.sendClose(code, reason);
    this.pump.scheduleFlush();
  }

  /** Destroys the socket now, without a closing handshake ('close' reports 1006). */
  terminate(): void {
    this.pump.destroy();
  }

  private sendBytes(bytes: Uint8Array, binary: boolean): boolean {
    const conn = this.conn;
    if (this.pump.bufferedAmount > this.maxBufferedAmount && conn.state === State.Open) {
      this.pump.destroy(
        new WebSocketError('BUFFER_OVERFLOW', `more than ${this.maxBufferedAmount} bytes wait to be written`),
      );
      return false;
    }
    if (binary) conn.sendBinary(bytes);
    else conn.sendText(bytes);
    this.pump.scheduleFlush();
    return this.afterSend();
  }

  private afterSend(): boolean {
    if (this.pump.bufferedAmount < this.highWaterMark) return true;
    this.flags |= Flag.NeedDrain;
    this.pump.wantDrain = true;
    return false;
  }

  // ── receiving: stream skin ─────────────────────────────────────────────────────────────────────────────

  /** The next whole message, or `null` (see `readState` for why). Never blocks. */
  read(): ReceivedMessage | null {
    if (this.queueHead === this.queue.length) return null;
    const message = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    this.queuedBytes -= message.data.length;
    if (this.queuedBytes <= this.readHighWaterMark) this.pump.resumeReading();
    return message;
  }

  get readState(): ReadState {
    if (this.queueHead < this.queue.length) return 'ready';
    if (this.is(Flag.InMessage)) return 'partial';
    return this.is(Flag.Closed) ? 'closed' : 'empty';
  }

  /** Whole messages until the connection closes (a message listener, if any, takes them instead). */
  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage, undefined> {
    return {
      next: () => {
        const message = this.read();
        if (message !== null) return Promise.resolve({ value: message, done: false });
        if (this.is(Flag.Closed)) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          if (this.waiters === NO_WAITERS) this.waiters = [];
          this.waiters.push(resolve);
        });
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  // ── PumpHandler ────────────────────────────────────────────────────────────────────────────────────────

  /** @internal */
  handleEvent(event: Event): void {
    switch (event.type) {
      case 'message':
        this.deliver(toBuffer(event.data), event.opcode === Opcode.Binary);
        return;
      case 'frame-start':
        this.flags |= Flag.InMessage;
        (this.assembler ??= new MessageAssembler()).push(event);
        return;
      case 'frame-data':
        // A frame's data and end follow its start, which made the assembler.
        (this.assembler as MessageAssembler).push(event);
        return;
      case 'frame-end': {
        const message = (this.assembler as MessageAssembler).push(event);
        if (message === null) return;
        this.flags &= ~Flag.InMessage;
        this.deliver(toBuffer(message.data), message.opcode === Opcode.Binary);
        return;
      }
      case 'ping':
        if (this.listenerCount('ping') > 0) this.emit('ping', toBuffer(event.data));
        return;
      case 'pong':
        this.flags |= Flag.PongSeen;
        if (this.listenerCount('pong') > 0) this.emit('pong', toBuffer(event.data));
        return;
      case 'fail':
        this.flags &= ~Flag.InMessage;
        if (this.listenerCount('error') > 0) this.emit('error', event.error);
        return;
      case 'close':
        // Read while the socket still knows it (see `remoteAddress`).
        void this.remoteAddress;
        return;
      default:
        // 'close' and 'end' are reported once the socket is closed, with the outcome of both.
        return;
    }
  }

  /** @internal */
  handleDrain(): void {
    if (!this.is(Flag.NeedDrain) || this.pump.bufferedAmount >= this.highWaterMark) return;
    this.flags &= ~Flag.NeedDrain;
    this.pump.wantDrain = false;
    this.emit('drain');
  }

  /** @internal */
  handleClose(error: Error | null): void {
    this.flags |= Flag.Closed;
    this.flags &= ~Flag.InMessage;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    const received = this.conn.closeReceived;
    const wasClean = received !== null && this.conn.closeSent !== null && error === null;
    if (error !== null && this.listenerCount('error') > 0) this.emit('error', error);
    const waiters = this.waiters;
    this.waiters = NO_WAITERS;
    for (const resolve of waiters) resolve({ value: undefined, done: true });
    this.emit('close', received?.code ?? CloseCode.AbnormalClosure, received?.reason ?? '', wasClean);
  }

  private deliver(data: Buffer, isBinary: boolean): void {
    if (this.queueHead === this.queue.length) {
      // `emit` is false when nobody listens: the message then goes to a reader.
      if (this.emit('message', data, isBinary)) return;
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        waiter({ value: { data, isBinary }, done: false });
        return;
      }
    }
    if (this.queue === NO_MESSAGES) this.queue = [];
    if (!this.is(Flag.WatchingListeners)) {
      this.flags |= Flag.WatchingListeners;
      this.on('newListener', this.onNewListener);
    }
    this.queue.push({ data, isBinary });
    this.queuedBytes += data.length;
    if (this.queuedBytes > this.readHighWaterMark) this.pump.pauseReading();
  }

  /** A 'newListener' listener (a method shared by all instances: the emitter calls it with itself as `this`). */
  private onNewListener(this: WebSocket, event: string | symbol): void {
    if (event !== 'message' || this.is(Flag.DrainScheduled) || this.queueHead === this.queue.length) return;
    this.flags |= Flag.DrainScheduled;
    queueMicrotask(() => this.deliverQueued());
  }

  /** A 'message' listener was added while messages waited: they go to it first, in order. */
  private deliverQueued(): void {
    this.flags &= ~Flag.DrainScheduled;
    while (this.listenerCount('message') > 0) {
      const message = this.read();
      if (message === null) return;
      this.emit('message', message.data, message.isBinary);
    }
  }

  private beat(): void {
    if (this.conn.state !== State.Open) return;
    if (!this.is(Flag.PongSeen)) {
      this.pump.destroy(new WebSocketError('HEARTBEAT_TIMEOUT', 'no pong since the last heartbeat ping'));
      return;
    }
    this.flags &= ~Flag.PongSeen;
    this.ping();
  }
}
