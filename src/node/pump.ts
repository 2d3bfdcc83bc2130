/**
 * The pump: moves bytes between a core `Connection` and a Node socket (architecture.md, "Node adapters").
 *
 *   socket read ──receiveData()──▶ Connection ──nextEvent()──▶ handler.handleEvent()   (until null or paused)
 *   handler / WebSocket commands ──▶ Connection ──dataToSend()──▶ one socket write per batch (cork/uncork)
 *
 * Writes are batched: every command schedules one flush on the microtask queue, and the pull loop flushes once
 * after a chunk's events, so the replies to a burst of messages leave in one write (writev). The pump decides
 * nothing about the protocol; it owns the socket, the close timer and the buffer limits.
 */

import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { EMPTY } from '../core/bytes.ts';
import type { Connection } from '../core/connection.ts';
import { CloseCode } from '../core/constants.ts';
import type { Event } from '../core/events.ts';
import { ByteView } from '../core/platform.ts';
import { Deadlines } from './deadlines.ts';
import { WebSocketError } from './errors.ts';
import { isH2Stream } from './h2.ts';

export interface PumpHandler {
  /** One event from the connection. */
  handleEvent(event: Event): void;
  /** The socket drained (everything queued was handed to the kernel). */
  handleDrain(): void;
  /** The socket is closed; `error` is the first socket error or the reason the pump destroyed it. */
  handleClose(error: Error | null): void;
}

/** Called once: with null when the bytes were handed to the socket, or with the error that lost them. */
export type WriteCallback = (error: Error | null) => void;

export interface PumpOptions {
  /** Milliseconds to wait for the peer to close TCP once a close is expected; then the socket is destroyed. */
  closeTimeout: number;
  /** Outgoing bytes (socket buffer + queued frames) above which reading from the peer pauses until 'drain'. */
  highWaterMark: number;
}

/** The pump of a socket, for the socket listeners below (node calls them with the socket as `this`). */
const kPump = Symbol('tslay.pump');
type PumpedSocket = Socket & { [kPump]: Pump };

/*
 * One set of socket listeners for every connection, rather than a set of bound closures per connection: an idle
 * connection then costs the socket plus a few small objects.
 */
function onSocketData(this: PumpedSocket, chunk: Buffer): void {
  this[kPump].receiveData(chunk);
}
/** A read into the shared buffer; false stops reading (node's `onread` callback contract). */
function onSocketRead(this: PumpedSocket, length: number): boolean {
  // Node passes the socket's kBuffer, always `sharedRead`: its memory is read once, not per read (a typed array's
  // `buffer` is a runtime call).
  return this[kPump].receiveLent(new ByteView(sharedMemory, sharedStart, length));
}
function onSocketEnd(this: PumpedSocket): void {
  this[kPump].receiveEnd();
}
function onSocketDrain(this: PumpedSocket): void {
  this[kPump].drained();
}
function onSocketError(this: PumpedSocket, error: Error): void {
  this[kPump].errored(error);
}
function onSocketClose(this: PumpedSocket): void {
  this[kPump].socketClosed();
}

/**
 * Pumps with a flush scheduled: one microtask flushes all of them (a broadcast schedules many), and no pump needs
 * a bound callback of its own.
 */
const flushQueue: Pump[] = [];
/** The queue's next pump: flushed ones before it are dropped in bulk, not shifted off one budget at a time. */
let flushHead = 0;

/**
 * Sockets written per turn of the event loop. Every flush is a system call (about 10 µs on loopback), so a
 * broadcast to 19,000 sockets in one turn would hold timers and I/O for a fifth of a second; past this many
 * writes the rest of the queue waits for the next turn (setImmediate). Each pump's frames stay in its queue in
 * the order they were sent, so deferring a flush never reorders anything.
 */
export const FLUSH_BUDGET = 256;

function flushQueued(): void {
  let i = flushHead;
  let writes = 0;
  try {
    // A flush does not schedule another synchronously, but the loop would take it in if one did.
    while (i < flushQueue.length && writes < FLUSH_BUDGET) {
      const pump = flushQueue[i++];
      if (pump.flushScheduled) {
        writes++;
        pump.flush();
      }
    }
  } finally {
    // If a flush threw, the pumps after it still get theirs, in a microtask of their own.
    flushHead = i;
    if (i === flushQueue.length) {
      flushQueue.length = 0;
      flushHead = 0;
    } else if (i > 4096 && i > flushQueue.length >>> 1) {
      // A queue that never quite drains (sends arriving as fast as the budget writes) is compacted now and then.
      flushQueue.splice(0, i);
      flushHead = 0;
    }
    if (flushQueue.length > flushHead) {
      if (writes < FLUSH_BUDGET) queueMicrotask(flushQueued);
      else setImmediate(flushQueued);
    }
  }
}

/**
 * Reads into one buffer shared by every socket: node's `onread` mode of net.Socket (`new Socket({ onread: {
 * buffer, callback } })`), here for sockets node made itself (a server's connections), which cannot be given
 * that option. A read then costs no buffer of its own: a socket read otherwise allocates 64 KiB, allocates a
 * buffer of the bytes read and copies them into it (a 32-byte echo answers about 1.15x the messages without
 * that). Reads are
 * handed to the callback one at a time, on this thread, and the connection copies what it keeps (see
 * `Connection.lendInput`) before the next one lands in the same memory.
 *
 * Sockets take this mode only when it is node's own, as in its `Socket` constructor: a TCP or pipe handle with
 * `useUserBuffer`, the socket's own `kBuffer`, `kBufferCb` and `kBufferGen` fields (found by name, so a node
 * that renamed them keeps the 'data' events), and nothing buffered in the socket's stream yet. TLS sockets and
 * HTTP/2 streams keep 'data' events.
 */
const SHARED_READ_SIZE = 64 * 1024;
let sharedRead: Buffer | null = null;
let sharedMemory: ArrayBufferLike = new ArrayBuffer(0);
let sharedStart = 0;

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

interface BufferKeys {
  kBuffer: symbol;
  kBufferCb: symbol;
  kBufferGen: symbol;
}

/** net.Socket's symbols for its onread fields: the same for every socket, found on the first one that has them. */
let bufferKeys: BufferKeys | null = null;

function findBufferKeys(socket: Socket): BufferKeys | null {
  let kBuffer: symbol | undefined;
  let kBufferCb: symbol | undefined;
  let kBufferGen: symbol | undefined;
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === 'kBuffer') kBuffer = key;
    else if (key.description === 'kBufferCb') kBufferCb = key;
    else if (key.description === 'kBufferGen') kBufferGen = key;
  }
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return null;
  bufferKeys = { kBuffer, kBufferCb, kBufferGen };
  return bufferKeys;
}

function lendReads(socket: Socket, callback: (this: PumpedSocket, length: number) => boolean): boolean {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  const kind = handle.constructor?.name;
  if (kind !== 'TCP' && kind !== 'Pipe') return false;
  if (socket.readableLength !== 0 || socket.destroyed || socket.readableEnded) return false;
  const keys = bufferKeys ?? findBufferKeys(socket);
  if (keys === null) return false;
  const { kBuffer, kBufferCb, kBufferGen } = keys;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (!Object.hasOwn(fields, kBuffer) || fields[kBuffer] != null || fields[kBufferGen] != null) return false;
  if (sharedRead === null) {
    sharedRead = Buffer.allocUnsafe(SHARED_READ_SIZE);
    sharedMemory = sharedRead.buffer;
    sharedStart = sharedRead.byteOffset;
  }
  fields[kBuffer] = sharedRead;
  fields[kBufferCb] = callback;
  handle.useUserBuffer(sharedRead);
  return true;
}

/**
 * The deadlines of closing handshakes, one list (and one timer) per close timeout in use: a pump whose peer does
 * not close the connection in time is destroyed. A list is dropped once empty, so the map holds only timeouts of
 * pumps closing now.
 */
const closeDeadlines = new Map<number, Deadlines<Pump>>();

function closeDeadlinesFor(timeout: number): Deadlines<Pump> {
  let deadlines = closeDeadlines.get(timeout);
  if (deadlines === undefined) {
    deadlines = new Deadlines(timeout, closeTimedOut);
    closeDeadlines.set(timeout, deadlines);
  }
  return deadlines;
}

function closeTimedOut(pump: Pump): void {
  pump.closeTimedOut();
}

/** The bits of `Pump.flags`. */
const Flag = {
  /** A flush is queued (see `flushQueued`); set again by the next command after the flush. */
  FlushScheduled: 1 << 0,
  /** The handler waits for 'drain': every batch written gets a completion callback until it is cleared. */
  WantDrain: 1 << 1,
  /** The application asked to stop reading (stream skin's queue is full). */
  AppPaused: 1 << 2,
  /** Inside `pull`: the handler's sends are flushed when it returns (see `pull`). */
  Pulling: 1 << 3,
  /** Our outgoing backlog is above the high-water mark: stop reading (and so answering) until it drains. */
  WritePaused: 1 << 4,
  Closed: 1 << 5,
} as const;

export class Pump {
  private readonly conn: Connection;
  private readonly socket: Socket;
  private readonly handler: PumpHandler;
  private readonly closeTimeout: number;
  private readonly highWaterMark: number;
  /** The yes/no state of the pump, one bit per `Flag`. */
  private flags = 0;
  /** The list holding this pump's close deadline while it waits for the peer to close (see `closeDeadlines`). */
  private closeDeadline: Deadlines<Pump> | null = null;
  private error: Error | null = null;
  private onWritten: (() => void) | null = null;
  /** The upgrade's head, until it is fed on the turn after the pump was made (see `receive`). */
  private pendingHead: Uint8Array | null = null;
  /** Callbacks of `afterWrite`, for the next batch; made for the first one. */
  private writeCallbacks: WriteCallback[] | null = null;

  constructor(conn: Connection, socket: Socket, handler: PumpHandler, options: PumpOptions) {
    this.conn = conn;
    this.socket = socket;
    this.handler = handler;
    this.closeTimeout = options.closeTimeout;
    this.highWaterMark = options.highWaterMark;
    // An HTTP/2 stream has no Nagle of its own to turn off (its session's socket has it off).
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.setTimeout(0);
    (socket as PumpedSocket)[kPump] = this;
    if (lendReads(socket, onSocketRead)) {
      conn.lendInput();
      // The handle reads (into the shared buffer) while the stream flows, as it would for a 'data' listener.
      if (socket.readableFlowing !== false) socket.resume();
    } else socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** A flush is queued (see `flushQueued`). */
  get flushScheduled(): boolean {
    return this.is(Flag.FlushScheduled);
  }
  /** The handler waits for 'drain' (see `Flag.WantDrain`). */
  get wantDrain(): boolean {
    return this.is(Flag.WantDrain);
  }
  set wantDrain(on: boolean) {
    this.set(Flag.WantDrain, on);
  }
  /** Is any of the bits in `flag` set? */
  private is(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
  private set(flag: number, on: boolean): void {
    this.flags = on ? this.flags | flag : this.flags & ~flag;
  }

  /** Bytes not yet handed to the kernel: the socket's buffer plus frames queued in the connection. */
  get bufferedAmount(): number {
    return this.socket.writableLength + this.conn.bufferedAmount;
  }

  get isClosed(): boolean {
    return this.is(Flag.Closed);
  }

  /**
   * Feeds bytes received before the pump existed (the `head` of an upgrade), then pulls. A head with bytes is
   * fed on the next turn, with the socket paused until then: the application gets its WebSocket (and attaches
   * its listeners) first, so what it answers to a message that came with the handshake leaves before anything
   * the core sends about bytes after that message (a close for a protocol error, say), as it does for every
   * later message.
   */
  receive(head: Uint8Array): void {
    if (head.length === 0) {
      this.pull();
      return;
    }
    this.pendingHead = head;
    this.socket.pause();
    setImmediate(() => {
      // resumeSocket pulls the head's events; paused, they wait for the resume like any others. (A read into the
      // shared buffer may have fed the head already, see `receiveLent`; a closed socket fed it too.)
      this.feedPendingHead();
      if (!this.is(Flag.AppPaused | Flag.WritePaused)) this.resumeSocket();
    });
  }

  /** Hands the head to the connection if it is still waiting; false when there was none. */
  private feedPendingHead(): boolean {
    const head = this.pendingHead;
    if (head === null) return false;
    this.pendingHead = null;
    this.conn.receiveData(head);
    return true;
  }

  /**
   * Pulls events until the connection needs data or reading is paused, then flushes once. What the handler sends
   * meanwhile waits for that flush rather than for a microtask of its own; if the handler throws, the flush is
   * queued as usual before the error goes on.
   */
  pull(): void {
    const conn = this.conn;
    const outer = this.is(Flag.Pulling);
    this.flags |= Flag.Pulling;
    let threw = true;
    try {
      while (!this.is(Flag.AppPaused | Flag.WritePaused)) {
        const event = conn.nextEvent();
        if (event === null) break;
        this.handler.handleEvent(event);
      }
      threw = false;
    } finally {
      this.set(Flag.Pulling, outer);
      if (threw && this.is(Flag.FlushScheduled) && !outer) this.queueFlush();
    }
    this.flush();
  }

  /** Schedules one flush for everything the application queues in this tick. */
  scheduleFlush(): void {
    if (this.is(Flag.FlushScheduled)) return;
    this.flags |= Flag.FlushScheduled;
    // Inside `pull`, its own flush at the end takes what is sent.
    if (!this.is(Flag.Pulling)) this.queueFlush();
  }

  private queueFlush(): void {
    if (flushQueue.push(this) - flushHead === 1) queueMicrotask(flushQueued);
  }

  /**
   * Calls `callback` once everything queued so far was handed to the socket (its write callback), or with an
   * error if the socket is gone first. Schedules a flush.
   */
  afterWrite(callback: WriteCallback): void {
    if (this.is(Flag.Closed)) {
      process.nextTick(callback, new WebSocketError('SOCKET_CLOSED', 'the socket is closed'));
      return;
    }
    if (this.writeCallbacks === null) this.writeCallbacks = [];
    this.writeCallbacks.push(callback);
    this.scheduleFlush();
  }

  /** Writes everything the connection has queued: one write, or several corked into one writev. */
  flush(): void {
    this.flags &= ~Flag.FlushScheduled;
    const socket = this.socket;
    const { chunks, end } = this.conn.dataToSend();
    const callbacks = this.writeCallbacks;
    this.writeCallbacks = null;
    if (socket.destroyed) {
      if (callbacks !== null) failCallbacks(callbacks);
      return;
    }
    const last = chunks.length - 1;
    let done: ((error?: Error | null) => void) | undefined = this.is(Flag.WantDrain)
      ? this.writtenCallback()
      : undefined;
    if (callbacks !== null) done = batchCallback(callbacks, done);
    if (last === 0) socket.write(chunks[0], done);
    else if (last < 0 && done !== undefined) socket.write(EMPTY, done);
    else if (last > 0) {
      socket.cork();
      for (let i = 0; i < last; i++) socket.write(chunks[i]);
      socket.write(chunks[last], done);
      socket.uncork();
    }
    if (end) {
      socket.end();
      // Over HTTP/2 the stream is done once our END_STREAM is out: a client that never ends its side (undici)
      // would otherwise hold it until the close timeout. RST_STREAM(NO_ERROR) follows our data (RFC 9113 §8.1).
      if (isH2Stream(socket)) socket.close();
    }
    if (this.closeDeadline === null && this.conn.closeExpected()) this.armCloseTimer();
    if (!this.is(Flag.WritePaused) && socket.writableLength > this.highWaterMark) this.pauseForWrites();
  }

  /** Stops reading from the peer (the application's queue is full). */
  pauseReading(): void {
    if (this.is(Flag.AppPaused)) return;
    this.flags |= Flag.AppPaused;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.is(Flag.AppPaused)) return;
    this.flags &= ~Flag.AppPaused;
    if (!this.is(Flag.WritePaused)) this.resumeSocket();
  }

  /** Tears the connection down now (no close handshake); `reason` is reported to the handler. */
  destroy(reason: Error | null = null): void {
    if (this.is(Flag.Closed)) return;
    if (reason !== null && this.error === null) this.error = reason;
    // The core learns that the connection is gone: further commands throw InvalidStateError.
    this.conn.fail(CloseCode.AbnormalClosure);
    this.socket.destroy();
  }

  private armCloseTimer(): void {
    const deadlines = closeDeadlinesFor(this.closeTimeout);
    deadlines.add(this);
    this.closeDeadline = deadlines;
  }

  /** @internal The peer did not close the connection within the close timeout (see `closeDeadlines`). */
  closeTimedOut(): void {
    this.dropCloseDeadline();
    this.destroy(new WebSocketError('CLOSE_TIMEOUT', 'the peer did not close the connection in time'));
  }

  private dropCloseDeadline(): void {
    const deadlines = this.closeDeadline;
    if (deadlines === null) return;
    this.closeDeadline = null;
    deadlines.delete(this);
    if (deadlines.size === 0 && closeDeadlines.get(this.closeTimeout) === deadlines) {
      closeDeadlines.delete(this.closeTimeout);
    }
  }

  private pauseForWrites(): void {
    this.flags |= Flag.WritePaused;
    this.socket.pause();
  }

  private resumeSocket(): void {
    if (this.is(Flag.Closed) || this.pendingHead !== null) return;
    this.socket.resume();
    this.pull();
  }

  /** @internal socket 'data' */
  receiveData(chunk: Buffer): void {
    this.conn.receiveData(chunk);
    this.pull();
  }

  /**
   * @internal A read into the shared buffer (see `lendReads`), which the next read reuses: what the connection
   * keeps of it is copied before this returns. Returns whether to go on reading: a paused socket may still get
   * a read (node's stream restarts reading once when it resumes, even if paused again since), and the bytes of
   * one that comes before the head was fed go in after the head, to wait with it for the turn `receive` gave the
   * application.
   */
  receiveLent(bytes: Uint8Array): boolean {
    const conn = this.conn;
    const early = this.feedPendingHead();
    conn.receiveData(bytes);
    if (early) {
      conn.releaseInput();
      return false;
    }
    try {
      if (!this.is(Flag.AppPaused | Flag.WritePaused)) this.pull();
    } finally {
      conn.releaseInput();
    }
    return !this.is(Flag.AppPaused | Flag.WritePaused);
  }

  /** @internal socket 'end' */
  receiveEnd(): void {
    this.conn.receiveEnd();
    this.pull();
  }

  /** @internal socket 'drain' */
  drained(): void {
    if (this.is(Flag.WritePaused) && this.bufferedAmount <= this.highWaterMark) {
      this.flags &= ~Flag.WritePaused;
      if (!this.is(Flag.AppPaused)) this.resumeSocket();
    }
    this.handler.handleDrain();
  }

  /**
   * The completion callback for batches written while the handler waits for 'drain' (the socket may not emit
   * 'drain'): made once, on the first such batch.
   */
  private writtenCallback(): () => void {
    this.onWritten ??= () => {
      if (this.is(Flag.WantDrain)) this.handler.handleDrain();
    };
    return this.onWritten;
  }

  /** @internal socket 'error' */
  errored(error: Error): void {
    if (this.error === null) this.error = error;
  }

  /** @internal socket 'close' */
  socketClosed(): void {
    this.feedPendingHead();
    this.flags |= Flag.Closed;
    this.dropCloseDeadline();
    // Events the connection still holds are delivered first, paused or not: the socket is gone, and what is
    // left is at most one received chunk.
    for (let e = this.conn.nextEvent(); e !== null; e = this.conn.nextEvent()) this.handler.handleEvent(e);
    this.conn.fail(CloseCode.AbnormalClosure);
    const callbacks = this.writeCallbacks;
    this.writeCallbacks = null;
    if (callbacks !== null) failCallbacks(callbacks);
    this.handler.handleClose(this.error);
  }
}

/** One socket write callback for the `afterWrite` callbacks of a batch (and the drain check, if any). */
function batchCallback(
  callbacks: WriteCallback[],
  drain: (() => void) | undefined,
): (error?: Error | null) => void {
  return (error) => {
    for (const callback of callbacks) callback(error ?? null);
    drain?.();
  };
}

function failCallbacks(callbacks: WriteCallback[]): void {
  const error = new WebSocketError('SOCKET_CLOSED', 'the socket closed before the data was written');
  for (const callback of callbacks) process.nextTick(callback, error);
}
