/**
 * `ReconnectingWebSocket`: a client that stays connected. It opens a `connect()` WebSocket, and when that one
 * closes or an attempt fails, it opens the next after a backoff delay, until the application closes it or an
 * outcome says that trying again is pointless.
 *
 * - Backoff (python-websockets' numbers): the first retry after a random delay below `initialDelay` (5 s), then
 *   `minDelay` (3.1 s) growing by `factor` (1.618) per failure up to `maxDelay` (90 s), each delay shortened by a
 *   random part of up to `jitter` (0.5) so that many clients dropped together do not return together.
 * - The backoff starts again only after a connection stayed open for `stableAfter` ms (5 s, partysocket's
 *   `minUptime`): a server that accepts and drops at once is not hammered.
 * - Final outcomes end it (`'end'`): the application's own `close()`; a close code in `finalCodes` (by default those
 *   that a new connection would meet again: 1002, 1003, 1007, 1008, 1009, 1010); an answer 4xx to the handshake
 *   other than 408 and 429 (the request itself is refused); a handshake error of the request itself (bad URL,
 *   bad answer headers); `maxAttempts` failures in a row.
 * - At most one WebSocket is live or being opened at a time.
 * - `send()` while disconnected queues, up to `maxQueued` messages and `maxQueuedBytes`; past that it throws
 *   `UsageError` QUEUE_FULL. The queue is sent, in order, when the next connection opens.
 */
import { EventEmitter } from 'node:events';
import { InvalidStateError, UsageError } from '../core/errors.ts';
import { type ConnectOptions, connect } from './client.ts';
import { HandshakeError } from './errors.ts';
import type { SendData, WebSocket } from './websocket.ts';

export interface ReconnectOptions {
  /** Milliseconds: the first retry comes after a random delay below this. Default 5,000. */
  initialDelay?: number;
  /** Milliseconds: the second retry's delay, multiplied by `factor` for each further one. Default 3,100. */
  minDelay?: number;
  /** Milliseconds: the longest delay. Default 90,000. */
  maxDelay?: number;
  /** Default 1.618. */
  factor?: number;
  /** Up to this fraction of each delay (after the first) is taken off at random. Default 0.5. */
  jitter?: number;
  /** Milliseconds a connection must stay open before the backoff starts over. Default 5,000. */
  stableAfter?: number;
  /** Close codes after which no reconnection is tried. Default 1002, 1003, 1007, 1008, 1009, 1010. */
  finalCodes?: readonly number[];
  /** Failures in a row (attempts that did not open, or connections that closed before `stableAfter`) before giving up. Default Infinity. */
  maxAttempts?: number;
  /** Messages queued while disconnected. Default 1,000. */
  maxQueued?: number;
  /** Bytes queued while disconnected. Default 1 MiB. */
  maxQueuedBytes?: number;
  /** Random numbers in [0, 1) (tests). Default `Math.random`. */
  random?: () => number;
}

export interface ReconnectingOptions extends ConnectOptions {
  reconnect?: ReconnectOptions;
}

/** Why a `ReconnectingWebSocket` stopped. */
export type EndReason = 'closed' | 'final-code' | 'final-status' | 'final-error' | 'max-attempts';

export interface ReconnectingEvents {
  /** A connection opened (`attempt` counts the tries since the last stable connection, from 1). */
  open: [ws: WebSocket, attempt: number];
  message: [data: Buffer, isBinary: boolean];
  /** A connection closed (then a 'retry' or an 'end' follows). */
  close: [code: number, reason: string, wasClean: boolean];
  /** An attempt failed before opening. */
  failed: [error: Error, attempt: number];
  /** The next attempt comes in `delay` ms. */
  retry: [info: { attempt: number; delay: number }];
  /** No more attempts. */
  end: [info: { reason: EndReason; code?: number; error?: Error }];
}

const DEFAULTS = {
  initialDelay: 5_000,
  minDelay: 3_100,
  maxDelay: 90_000,
  factor: 1.618,
  jitter: 0.5,
  stableAfter: 5_000,
  finalCodes: [1002, 1003, 1007, 1008, 1009, 1010] as readonly number[],
  maxAttempts: Number.POSITIVE_INFINITY,
  maxQueued: 1_000,
  maxQueuedBytes: 1024 * 1024,
};

/** Handshake failures that another attempt may not meet: the network, time, the server's state. */
const RETRIED_STATUSES = new Set([408, 429]);
const REQUEST_ERRORS = new Set([
  'INVALID_URL',
  'INVALID_SCHEME',
  'BAD_UPGRADE',
  'BAD_CONNECTION',
  'BAD_ACCEPT',
  'UNREQUESTED_PROTOCOL',
  'MISSING_PROTOCOL',
  'UNREQUESTED_EXTENSION',
]);

/** Whether a failed attempt ends the reconnection: the request itself was refused or was wrong. */
function finalReason(error: Error): 'final-status' | 'final-error' | null {
  if (!(error instanceof HandshakeError)) return null;
  const { status } = error;
  if (status !== undefined && status >= 400 && status < 500 && !RETRIED_STATUSES.has(status))
    return 'final-status';
  return REQUEST_ERRORS.has(error.code) ? 'final-error' : null;
}

type State = 'connecting' | 'open' | 'waiting' | 'ended';

export class ReconnectingWebSocket extends EventEmitter<ReconnectingEvents> {
  readonly url: string;
  private readonly options: ConnectOptions;
  private readonly settings: Required<ReconnectOptions>;
  private state: State = 'connecting';
  private ws: WebSocket | null = null;
  private failures = 0;
  private attempts = 0;
  private timer: NodeJS.Timeout | null = null;
  private stableTimer: NodeJS.Timeout | null = null;
  private abort: AbortController | null = null;
  private queue: { data: SendData; binary: boolean | undefined; size: number }[] = [];
  private queuedBytes = 0;

  constructor(url: string | URL, options: ReconnectingOptions = {}) {
    super();
    this.url = String(url);
    const { reconnect, ...connectOptions } = options;
    this.options = connectOptions;
    this.settings = { ...DEFAULTS, random: Math.random, ...reconnect };
    for (const name of [
      'initialDelay',
      'minDelay',
      'maxDelay',
      'stableAfter',
      'maxQueued',
      'maxQueuedBytes',
    ] as const) {
      if (!(this.settings[name] >= 0)) throw new TypeError(`reconnect.${name} must be a number >= 0`);
    }
    if (!(this.settings.factor >= 1)) throw new TypeError('reconnect.factor must be a number >= 1');
    if (!(this.settings.jitter >= 0 && this.settings.jitter <= 1)) {
      throw new TypeError('reconnect.jitter must be between 0 and 1');
    }
    if (!(this.settings.maxAttempts >= 1)) throw new TypeError('reconnect.maxAttempts must be >= 1');
    queueMicrotask(() => this.attempt());
  }

  /** The live WebSocket, or null while disconnected. */
  get websocket(): WebSocket | null {
    return this.state === 'open' ? this.ws : null;
  }

  get readyState(): State {
    return this.state;
  }

  /** Messages waiting for the next connection. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Sends now when connected, otherwise queues for the next connection. Returns the WebSocket's backpressure
   * answer (false: wait for its 'drain'), or true when queued. Throws QUEUE_FULL past the queue's bounds and
   * `InvalidStateError` once ended.
   */
  send(data: SendData, options?: { binary?: boolean }): boolean {
    if (this.state === 'ended') throw new InvalidStateError('the reconnecting WebSocket has ended');
    if (this.state === 'open') return this.ws!.send(data, options);
    const size = typeof data === 'string' ? Buffer.byteLength(data) : (data as ArrayBufferView).byteLength;
    if (
      this.queue.length >= this.settings.maxQueued ||
      this.queuedBytes + size > this.settings.maxQueuedBytes
    ) {
      throw new UsageError(
        'QUEUE_FULL',
        `disconnected, and the queue is full (${this.queue.length} messages, ${this.queuedBytes} bytes)`,
      );
    }
    this.queue.push({ data, binary: options?.binary, size });
    this.queuedBytes += size;
    return true;
  }

  /** Closes for good: no further attempt; the live connection (if any) gets a closing handshake. */
  close(code?: number, reason?: string): void {
    if (this.state === 'ended') return;
    const ws = this.ws;
    this.end({ reason: 'closed' });
    ws?.close(code, reason);
  }

  private attempt(): void {
    if (this.state === 'ended') return;
    this.state = 'connecting';
    this.attempts++;
    const attempt = this.attempts;
    this.abort = new AbortController();
    connect(this.url, { ...this.options, signal: this.abort.signal }).then(
      (ws) => this.opened(ws, attempt),
      (error: Error) => this.attemptFailed(error, attempt),
    );
  }

  private opened(ws: WebSocket, attempt: number): void {
    this.abort = null;
    if (this.state === 'ended') {
      ws.close(1000);
      return;
    }
    this.ws = ws;
    this.state = 'open';
    ws.on('message', (data, isBinary) => this.emit('message', data, isBinary));
    ws.on('error', () => {}); // reported through 'close'
    ws.once('close', (code, reason, wasClean) => this.closed(ws, code, reason, wasClean));
    this.stableTimer = setTimeout(() => {
      this.failures = 0;
      this.attempts = 0;
    }, this.settings.stableAfter);
    this.emit('open', ws, attempt);
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const { data, binary } of queue) ws.send(data, binary === undefined ? undefined : { binary });
  }

  private closed(ws: WebSocket, code: number, reason: string, wasClean: boolean): void {
    if (this.ws === ws) this.ws = null;
    if (this.stableTimer !== null) clearTimeout(this.stableTimer);
    this.stableTimer = null;
    this.emit('close', code, reason, wasClean);
    if (this.state === 'ended') return;
    if (this.settings.finalCodes.includes(code)) this.end({ reason: 'final-code', code });
    else this.retry();
  }

  private attemptFailed(error: Error, attempt: number): void {
    this.abort = null;
    if (this.state === 'ended') return;
    this.emit('failed', error, attempt);
    const final = finalReason(error);
    if (final !== null) this.end({ reason: final, error });
    else this.retry();
  }

  private retry(): void {
    this.failures++;
    if (this.failures >= this.settings.maxAttempts) {
      this.end({ reason: 'max-attempts' });
      return;
    }
    const delay = this.delay(this.failures);
    this.state = 'waiting';
    this.emit('retry', { attempt: this.attempts + 1, delay });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.attempt();
    }, delay);
  }

  /** The delay before retry number `n` (1 = the first after a stable period). */
  private delay(n: number): number {
    const { initialDelay, minDelay, maxDelay, factor, jitter, random } = this.settings;
    if (n === 1) return Math.floor(random() * initialDelay);
    const base = Math.min(maxDelay, minDelay * factor ** (n - 2));
    return Math.floor(base * (1 - jitter * random()));
  }

  private end(info: ReconnectingEvents['end'][0]): void {
    this.state = 'ended';
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.stableTimer !== null) clearTimeout(this.stableTimer);
    this.timer = this.stableTimer = null;
    this.abort?.abort();
    this.abort = null;
    this.ws = null;
    this.queue = [];
    this.queuedBytes = 0;
    this.emit('end', info);
  }
}
