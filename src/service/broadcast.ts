/**
 * Fan-out: one message to many sockets, encoded once (libwebsockets' broadcast, uWebSockets' pub/sub).
 *
 * A `BroadcastMessage` builds each frame it is asked for once (text and/or binary) and every target gets the
 * same bytes. Before each write the target's `bufferedAmount` is compared with the limit; a socket over it is
 * slow (its peer does not read as fast as we publish), and the policy decides:
 * - `'skip'` (default): this message is not written to it; it stays connected and gets later messages once it
 *   has caught up. Nothing is queued for it, so its memory is bounded by the limit plus one message.
 * - `'drop'`: the socket is terminated (TCP destroyed, no close frame; its 'close' reports 1006). A close frame
 *   would wait behind the very backlog that made the socket slow, holding that memory until the close timeout.
 * Either way one slow reader never makes memory grow for everyone.
 */
import { Opcode } from '../core/constants.ts';
import { UsageError } from '../core/errors.ts';
import { type PreparedFrame, prepareFrame } from '../core/frame.ts';

/** What to do with a socket whose `bufferedAmount` is over the limit when a broadcast reaches it. */
export type SlowSocketPolicy = 'skip' | 'drop';

export interface BroadcastOptions {
  /** Default `'skip'`. */
  slowSocket?: SlowSocketPolicy;
  /**
   * Bytes waiting to be written above which a socket counts as slow. Default 1 MiB, the Node layer's default
   * `highWaterMark`: the point where a plain `send()` starts asking its caller to wait.
   */
  maxBufferedAmount?: number;
}

export const DEFAULT_BROADCAST_LIMIT = 1024 * 1024;

/** The bytes of a broadcast payload and the frames made from it, each built at most once. */
export class BroadcastMessage {
  /** The payload as bytes (strings are UTF-8 encoded once). */
  readonly bytes: Uint8Array;
  /** Whether the data was given as bytes (binary) rather than as a string (text). */
  readonly isBinary: boolean;
  private textFrame: PreparedFrame | null = null;
  private binaryFrame: PreparedFrame | null = null;
  private given: string | Uint8Array | null;

  constructor(data: string | Uint8Array, options: { binary?: boolean } = {}) {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new UsageError('INVALID_DATA', 'broadcast data must be a string or a Uint8Array');
    }
    this.given = data;
    this.bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.isBinary = options.binary ?? typeof data !== 'string';
  }

  /** A message that arrived as bytes (from another process): text (valid UTF-8) or binary. */
  static fromBytes(bytes: Uint8Array, isBinary: boolean): BroadcastMessage {
    const message = new BroadcastMessage(bytes, { binary: isBinary });
    if (!isBinary) message.given = null;
    return message;
  }

  /** The payload as given; for a text message that arrived as bytes, the decoded string (made on first use). */
  get data(): string | Uint8Array {
    this.given ??= Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length).toString('utf8');
    return this.given;
  }

  /** The frame of the given kind (`'text'` payloads must be UTF-8), built on first use. */
  frame(kind: 'text' | 'binary'): PreparedFrame {
    if (kind === 'text') return (this.textFrame ??= prepareFrame(Opcode.Text, this.bytes));
    return (this.binaryFrame ??= prepareFrame(Opcode.Binary, this.bytes));
  }

  /** The frame matching the payload's own kind. */
  get defaultFrame(): PreparedFrame {
    return this.frame(this.isBinary ? 'binary' : 'text');
  }
}

/** What a broadcast can do with a socket. `ServiceSocket` implements it. */
export interface BroadcastTarget {
  readonly bufferedAmount: number;
  /** False once closing or closed: such targets are passed over (and not counted). */
  readonly isOpen: boolean;
  /**
   * Writes the broadcast (normally one prepared frame). `direct`: as the message's own kind; otherwise the
   * target may apply its own handling (a service socket's `onBroadcast`).
   */
  deliver(message: BroadcastMessage, direct: boolean): void;
  /** Destroys the connection now (the `'drop'` policy). */
  terminate(): void;
}

export interface BroadcastResult {
  /** Targets the message was written to. */
  delivered: number;
  /** Slow targets passed over (`'skip'`). */
  skipped: number;
  /** Slow targets terminated (`'drop'`). */
  dropped: number;
}

/** The slow-socket rule, resolved from options once. */
export class SlowSocketRule {
  readonly policy: SlowSocketPolicy;
  readonly maxBufferedAmount: number;

  constructor(options: BroadcastOptions = {}) {
    this.policy = options.slowSocket ?? 'skip';
    this.maxBufferedAmount = options.maxBufferedAmount ?? DEFAULT_BROADCAST_LIMIT;
    if (this.policy !== 'skip' && this.policy !== 'drop') {
      throw new TypeError(`slowSocket must be 'skip' or 'drop', not ${JSON.stringify(this.policy)}`);
    }
    if (!(this.maxBufferedAmount >= 0)) throw new TypeError('maxBufferedAmount must be a number >= 0');
  }

  /** Writes `message` to every open target, applying the policy to slow ones. */
  fanOut(targets: Iterable<BroadcastTarget>, message: BroadcastMessage, direct = true): BroadcastResult {
    const result: BroadcastResult = { delivered: 0, skipped: 0, dropped: 0 };
    for (const target of targets) {
      if (!target.isOpen) continue;
      if (target.bufferedAmount > this.maxBufferedAmount) {
        if (this.policy === 'drop') {
          target.terminate();
          result.dropped++;
        } else result.skipped++;
        continue;
      }
      target.deliver(message, direct);
      result.delivered++;
    }
    return result;
  }
}

/** A set of sockets that receive the same messages (a room). */
export class Broadcaster<T extends BroadcastTarget = BroadcastTarget> {
  private readonly members = new Set<T>();
  private readonly rule: SlowSocketRule;

  constructor(options: BroadcastOptions = {}) {
    this.rule = new SlowSocketRule(options);
  }

  get size(): number {
    return this.members.size;
  }

  add(target: T): void {
    this.members.add(target);
  }

  delete(target: T): boolean {
    return this.members.delete(target);
  }

  has(target: T): boolean {
    return this.members.has(target);
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.members.values();
  }

  /** Sends `data` to every member: a string as text, bytes as binary unless `binary` says otherwise. */
  broadcast(data: string | Uint8Array, options: { binary?: boolean } = {}): BroadcastResult {
    return this.rule.fanOut(this.members, new BroadcastMessage(data, options));
  }
}

/** Named groups of sockets (`subscribe(topic)` / `publish(topic, data)`); empty topics are forgotten. */
export class Topics<T extends BroadcastTarget = BroadcastTarget> {
  private readonly byTopic = new Map<string, Set<T>>();
  private readonly byTarget = new Map<T, Set<string>>();
  private readonly rule: SlowSocketRule;

  constructor(options: BroadcastOptions = {}) {
    this.rule = new SlowSocketRule(options);
  }

  subscribe(target: T, topic: string): void {
    let members = this.byTopic.get(topic);
    if (members === undefined) this.byTopic.set(topic, (members = new Set()));
    members.add(target);
    let topics = this.byTarget.get(target);
    if (topics === undefined) this.byTarget.set(target, (topics = new Set()));
    topics.add(topic);
  }

  unsubscribe(target: T, topic: string): boolean {
    const members = this.byTopic.get(topic);
    if (members === undefined || !members.delete(target)) return false;
    if (members.size === 0) this.byTopic.delete(topic);
    const topics = this.byTarget.get(target)!;
    topics.delete(topic);
    if (topics.size === 0) this.byTarget.delete(target);
    return true;
  }

  /** Removes `target` from every topic (when it closes). */
  unsubscribeAll(target: T): void {
    for (const topic of this.byTarget.get(target) ?? []) this.unsubscribe(target, topic);
  }

  /** The topics `target` is subscribed to. */
  topicsOf(target: T): string[] {
    return [...(this.byTarget.get(target) ?? [])];
  }

  subscribers(topic: string): number {
    return this.byTopic.get(topic)?.size ?? 0;
  }

  /** Sends `data` to every subscriber of `topic`, with the same frame for all. */
  publish(topic: string, data: string | Uint8Array, options: { binary?: boolean } = {}): BroadcastResult {
    return this.publishMessage(topic, new BroadcastMessage(data, options));
  }

  /** Sends a prepared message to every subscriber of `topic`. */
  publishMessage(topic: string, message: BroadcastMessage): BroadcastResult {
    const members = this.byTopic.get(topic);
    if (members === undefined) return { delivered: 0, skipped: 0, dropped: 0 };
    return this.rule.fanOut(members, message);
  }
}
