/**
 * The backplane: how `publish` and `broadcast` reach the sockets of other processes and hosts.
 *
 * A context delivers to its own sockets directly and synchronously, then hands the message to its backplane,
 * which carries it to every other process attached to the same bus; each of them fans it out to its own sockets
 * with one prepared frame. The context tells the backplane which channels it has local subscribers for
 * (reference-counted, batched per event-loop turn), so a process without a subscriber of a topic holds no
 * subscription for it. Channel names are the context's: `t:TOPIC` for `publish(topic)`, `p:PROTOCOL` for
 * `broadcast(protocol)`.
 *
 * Delivery is at most once, in publish order per publisher, and never silently lossy: every loss the
 * backplane can see (a sequence jump, a reconnect, a dead subscription, a publish dropped while the bus was down)
 * is reported to the context as a `gap`.
 *
 * `EnvelopeBackplane` implements all of that once over a `BusLink`, which only moves bytes on channels: the
 * in-memory bus here, cluster IPC (`cluster-backplane.ts`), and Redis (`tslay/redis`) are links.
 */
import { isUtf8 } from 'node:buffer';
import { decodeEnvelope, EnvelopeOpcode, encodeEnvelope, newOrigin, originKey } from './envelope.ts';

// ─── the interface a context talks to ─────────────────────────────────────────────────────────────────────

/** Why messages may have been lost. */
export type GapReason =
  /** An origin's sequence numbers jumped: `count` messages never arrived. */
  | 'sequence'
  /** The bus connection was lost and re-established: what was published meanwhile did not reach us. */
  | 'reconnect'
  /** Our probe stopped coming back: the subscription died silently and was renewed. */
  | 'probe'
  /** Our own publishes, held while the bus was down, were over the bound (count or age) and dropped. */
  | 'dropped'
  /** Bytes on a channel that are not a valid envelope (or text that is not UTF-8) were discarded. */
  | 'invalid';

export type BackplaneReport =
  /** The bus is unreachable: publishes are held (bounded) and nothing arrives from other processes. */
  | { type: 'down'; reason: string }
  /** Back after a 'down'. */
  | { type: 'up' }
  | {
      type: 'gap';
      reason: GapReason;
      /** The channels concerned (`t:TOPIC`, `p:PROTOCOL`). */
      channels: string[];
      /** How many messages were lost, when it is known. */
      count: number | null;
    };

/** What a backplane calls back into (the context). */
export interface BackplaneHost {
  /** A message another process published on `channel`. */
  deliver(channel: string, payload: Uint8Array, binary: boolean): void;
  report(report: BackplaneReport): void;
}

/** One small interface between a context and whatever carries its messages to other processes. */
export interface Backplane {
  /** Called once, by the context that uses the backplane. */
  attach(host: BackplaneHost): void;
  /** Starts receiving these channels (the context calls it once a channel has a local subscriber). */
  subscribe(channels: readonly string[]): void;
  /** Stops receiving these channels (their last local subscriber left). */
  unsubscribe(channels: readonly string[]): void;
  /** Carries a message to every other process subscribed to `channel`. Never throws. */
  publish(channel: string, payload: Uint8Array, binary: boolean): void;
  /** Stops; what the backplane opened itself is closed, what the application gave it is left open. */
  close(): Promise<void>;
}

// ─── a bus link: bytes on channels ────────────────────────────────────────────────────────────────────────

/** A message waiting to be written to the bus. */
export interface Outgoing {
  channel: string;
  bytes: Uint8Array;
}

/** What a link reports to the backplane above it. */
export interface LinkEvents {
  message(channel: string, bytes: Uint8Array): void;
  /** The link came up (`true`) or went down (`false`, with a reason). */
  state(up: boolean, reason?: string): void;
  /** `backlog` went down: held messages may be sent. */
  drain(): void;
}

export interface BusLink {
  /** Whether messages can be sent and received now. */
  readonly up: boolean;
  /** Bytes handed to the transport and not yet confirmed written. */
  readonly backlog: number;
  /** Writes these messages, in order, in one write where the transport allows it. */
  send(messages: readonly Outgoing[]): void;
  subscribe(channels: readonly string[]): void;
  unsubscribe(channels: readonly string[]): void;
  /** Renews these subscriptions (after a probe found them dead). */
  resubscribe(channels: readonly string[]): void;
  close(): Promise<void>;
}

export interface EnvelopeBackplaneOptions {
  /** Publishes held while the bus is down (or over `maxBacklog`); beyond it they are dropped and counted. Default 1,000. */
  maxPending?: number;
  /** Milliseconds a held publish may wait; older ones are dropped and counted when the bus is back. Default 5 s. */
  maxPendingAge?: number;
  /** Bytes in flight to the bus above which publishes are held instead of written. Default 16 MiB. */
  maxBacklog?: number;
  /** Largest payload accepted from the bus; larger messages are discarded and reported. Default 64 MiB. */
  maxPayload?: number;
  /** Milliseconds between probes of our own subscription; 0 turns the probe off. Default 0 (links set their own). */
  probeInterval?: number;
  /** A probe not back after this many ms means the subscription died. Default 5 × `probeInterval`. */
  probeTimeout?: number;
  /** Distinct origins remembered per channel for gap detection (oldest forgotten first). Default 1,024. */
  maxOrigins?: number;
  /**
   * Channels this process keeps a publish sequence for (oldest forgotten first; a forgotten channel starts again
   * at 1, which receivers accept as a restart). Default 65,536.
   */
  maxChannels?: number;
  /** Clock (tests). Default `Date.now`. */
  now?: () => number;
}

interface Held extends Outgoing {
  at: number;
}

const DEFAULTS = {
  maxPending: 1_000,
  maxPendingAge: 5_000,
  maxBacklog: 16 * 1024 * 1024,
  maxPayload: 64 * 1024 * 1024,
  maxOrigins: 1_024,
  maxChannels: 65_536,
};

/**
 * Envelopes (`envelope.ts`) over a link: sequence numbers out, gap detection and own-message filtering in, a
 * bounded hold while the link is down, one write per event-loop turn, and the probe.
 */
export class EnvelopeBackplane implements Backplane {
  /** This process's origin id. */
  readonly origin: Uint8Array = newOrigin();
  private readonly self = originKey(this.origin);
  private readonly link: BusLink;
  private readonly settings: Required<Omit<EnvelopeBackplaneOptions, 'probeTimeout'>> & {
    probeTimeout: number;
  };
  private host: BackplaneHost | null = null;
  private readonly subscribed = new Set<string>();
  private readonly sequences = new Map<string, number>();
  private readonly lastSeen = new Map<string, Map<string, number>>();
  private batch: Outgoing[] = [];
  private flushScheduled = false;
  private held: Held[] = [];
  private readonly droppedBy = new Map<string, number>();
  private wasUp = false;
  /** A 'down' was reported and no 'up' since. */
  private isDown = false;
  private closed = false;
  private readonly probeChannel: string;
  private probeTimer: NodeJS.Timeout | null = null;
  private probeAnswered = 0;

  constructor(createLink: (events: LinkEvents) => BusLink, options: EnvelopeBackplaneOptions = {}) {
    const probeInterval = options.probeInterval ?? 0;
    this.settings = {
      maxPending: positiveInteger(options.maxPending, DEFAULTS.maxPending, 'maxPending'),
      maxPendingAge: positiveInteger(options.maxPendingAge, DEFAULTS.maxPendingAge, 'maxPendingAge'),
      maxBacklog: positiveInteger(options.maxBacklog, DEFAULTS.maxBacklog, 'maxBacklog'),
      maxPayload: positiveInteger(options.maxPayload, DEFAULTS.maxPayload, 'maxPayload'),
      maxOrigins: positiveInteger(options.maxOrigins, DEFAULTS.maxOrigins, 'maxOrigins'),
      maxChannels: positiveInteger(options.maxChannels, DEFAULTS.maxChannels, 'maxChannels'),
      probeInterval,
      probeTimeout: options.probeTimeout ?? 5 * probeInterval,
      now: options.now ?? Date.now,
    };
    this.probeChannel = `probe:${Buffer.from(this.origin).toString('hex')}`;
    this.link = createLink({
      message: (channel, bytes) => this.received(channel, bytes),
      state: (up, reason) => this.stateChanged(up, reason),
      drain: () => this.release(),
    });
  }

  /** Publishes held (bus down or backlogged), waiting for the bus. */
  get pending(): number {
    return this.held.length;
  }

  attach(host: BackplaneHost): void {
    if (this.host !== null) throw new TypeError('a backplane serves one context');
    this.host = host;
    if (this.settings.probeInterval > 0) {
      this.link.subscribe([this.probeChannel]);
      this.probeAnswered = this.settings.now();
      this.probeTimer = setInterval(() => this.probe(), this.settings.probeInterval).unref();
    }
    if (this.link.up) this.stateChanged(true);
  }

  subscribe(channels: readonly string[]): void {
    const fresh = channels.filter((channel) => !this.subscribed.has(channel));
    for (const channel of fresh) this.subscribed.add(channel);
    if (fresh.length > 0) this.link.subscribe(fresh);
  }

  unsubscribe(channels: readonly string[]): void {
    const gone = channels.filter((channel) => this.subscribed.delete(channel));
    for (const channel of gone) this.lastSeen.delete(channel);
    if (gone.length > 0) this.link.unsubscribe(gone);
  }

  publish(channel: string, payload: Uint8Array, binary: boolean): void {
    if (this.closed) return;
    const sequence = this.nextSequence(channel);
    const opcode = binary ? EnvelopeOpcode.Binary : EnvelopeOpcode.Text;
    const bytes = encodeEnvelope(opcode, this.origin, sequence, payload);
    if (this.held.length === 0 && this.link.up && this.link.backlog <= this.settings.maxBacklog) {
      this.queue({ channel, bytes });
    } else this.hold({ channel, bytes, at: this.settings.now() });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    this.flush();
    this.reportDropped();
    await this.link.close();
  }

  private nextSequence(channel: string): number {
    const last = this.sequences.get(channel);
    if (last === undefined && this.sequences.size >= this.settings.maxChannels) {
      this.sequences.delete(this.sequences.keys().next().value!);
    }
    const sequence = (last ?? 0) + 1;
    this.sequences.set(channel, sequence);
    return sequence;
  }

  // ─── out ────────────────────────────────────────────────────────────────────────────────────────────────

  private queue(message: Outgoing): void {
    this.batch.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** One write per turn: everything published since the last one. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.link.send(batch);
  }

  private hold(message: Held): void {
    if (this.held.length >= this.settings.maxPending) this.countDropped(message.channel, 1);
    else this.held.push(message);
  }

  /** Sends held messages, in order, while the link is up and not backlogged; drops those too old. */
  private release(): void {
    if (this.closed || !this.link.up) return;
    const oldest = this.settings.now() - this.settings.maxPendingAge;
    let sent = 0;
    for (; sent < this.held.length; sent++) {
      const message = this.held[sent]!;
      if (message.at < oldest) this.countDropped(message.channel, 1);
      else if (this.link.backlog <= this.settings.maxBacklog) this.batch.push(message);
      else break;
    }
    this.held = sent === this.held.length ? [] : this.held.slice(sent);
    this.flush();
    this.reportDropped();
  }

  private countDropped(channel: string, count: number): void {
    this.droppedBy.set(channel, (this.droppedBy.get(channel) ?? 0) + count);
  }

  private reportDropped(): void {
    if (this.droppedBy.size === 0) return;
    let count = 0;
    for (const n of this.droppedBy.values()) count += n;
    const channels = [...this.droppedBy.keys()];
    this.droppedBy.clear();
    this.report({ type: 'gap', reason: 'dropped', channels, count });
  }

  // ─── in ─────────────────────────────────────────────────────────────────────────────────────────────────

  private received(channel: string, bytes: Uint8Array): void {
    if (this.closed) return;
    const envelope = decodeEnvelope(bytes);
    if (typeof envelope === 'string') {
      this.invalid(channel);
      return;
    }
    if (envelope.opcode === EnvelopeOpcode.Probe) {
      if (channel === this.probeChannel && envelope.origin === this.self) {
        this.probeAnswered = this.settings.now();
      }
      return;
    }
    if (envelope.origin === this.self || !this.subscribed.has(channel)) return;
    if (envelope.sequence !== 0 && !this.inSequence(channel, envelope.origin, envelope.sequence)) return;
    const { payload } = envelope;
    const binary = envelope.opcode === EnvelopeOpcode.Binary;
    if (payload.length > this.settings.maxPayload || (!binary && !isUtf8(payload))) this.invalid(channel);
    else this.host?.deliver(channel, payload, binary);
  }

  /**
   * Records `sequence`; false for a duplicate (or older) message, which is not delivered again. 1 is always a
   * (re)start: the publisher forgot the channel (see `maxChannels`).
   */
  private inSequence(channel: string, origin: string, sequence: number): boolean {
    let origins = this.lastSeen.get(channel);
    if (origins === undefined) this.lastSeen.set(channel, (origins = new Map()));
    const last = origins.get(origin);
    if (last !== undefined && sequence <= last && sequence !== 1) return false;
    if (last !== undefined && sequence > last + 1) {
      this.report({ type: 'gap', reason: 'sequence', channels: [channel], count: sequence - last - 1 });
    }
    if (last === undefined && origins.size >= this.settings.maxOrigins) {
      origins.delete(origins.keys().next().value!);
    }
    origins.set(origin, sequence);
    return true;
  }

  private invalid(channel: string): void {
    this.report({ type: 'gap', reason: 'invalid', channels: [channel], count: 1 });
  }

  // ─── state and probe ────────────────────────────────────────────────────────────────────────────────────

  private stateChanged(up: boolean, reason?: string): void {
    if (this.closed || this.host === null) return;
    if (!up) {
      if (!this.isDown) this.report({ type: 'down', reason: reason ?? 'connection lost' });
      this.isDown = true;
      return;
    }
    if (this.isDown) this.report({ type: 'up' });
    this.isDown = false;
    if (this.wasUp && this.subscribed.size > 0) {
      this.report({ type: 'gap', reason: 'reconnect', channels: [...this.subscribed], count: null });
    }
    this.wasUp = true;
    this.probeAnswered = this.settings.now();
    this.release();
  }

  private probe(): void {
    if (this.closed || !this.link.up) return;
    const now = this.settings.now();
    if (now - this.probeAnswered > this.settings.probeTimeout) {
      if (this.subscribed.size > 0) {
        this.report({ type: 'gap', reason: 'probe', channels: [...this.subscribed], count: null });
      }
      this.link.resubscribe([this.probeChannel, ...this.subscribed]);
      this.probeAnswered = now;
    }
    const probe = encodeEnvelope(EnvelopeOpcode.Probe, this.origin, 0, new Uint8Array(0));
    this.link.send([{ channel: this.probeChannel, bytes: probe }]);
  }

  private report(report: BackplaneReport): void {
    this.host?.report(report);
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
}

// ─── in memory: several contexts of one process (tests, examples) ─────────────────────────────────────────

/**
 * A bus inside one process: every backplane made by `backplane()` reaches the others, as separate processes
 * would through Redis. Delivery is asynchronous (next turn), like a real bus. `down()` / `up()` simulate an outage.
 */
export class MemoryBus {
  private readonly links = new Set<MemoryLink>();
  private isUp = true;

  /** A new backplane on this bus. */
  backplane(options: EnvelopeBackplaneOptions = {}): EnvelopeBackplane {
    return new EnvelopeBackplane((events) => {
      const link = new MemoryLink(this, events);
      this.links.add(link);
      return link;
    }, options);
  }

  get up(): boolean {
    return this.isUp;
  }

  /** The channels with at least one subscriber (Redis' `PUBSUB CHANNELS`). */
  channels(): string[] {
    const all = new Set<string>();
    for (const link of this.links) for (const channel of link.channels) all.add(channel);
    return [...all].sort();
  }

  /** Takes the bus down: nothing is carried until `restore()`. */
  down(): void {
    if (!this.isUp) return;
    this.isUp = false;
    for (const link of this.links) link.events.state(false, 'bus down');
  }

  restore(): void {
    if (this.isUp) return;
    this.isUp = true;
    for (const link of this.links) link.events.state(true);
  }

  /** @internal */
  carry(messages: readonly Outgoing[]): void {
    if (!this.isUp) return;
    const targets = [...this.links];
    setImmediate(() => {
      for (const { channel, bytes } of messages) {
        for (const link of targets) if (link.channels.has(channel)) link.events.message(channel, bytes);
      }
    });
  }

  /** @internal */
  remove(link: MemoryLink): void {
    this.links.delete(link);
  }
}

class MemoryLink implements BusLink {
  readonly channels = new Set<string>();
  readonly backlog = 0;

  constructor(
    private readonly bus: MemoryBus,
    readonly events: LinkEvents,
  ) {}

  get up(): boolean {
    return this.bus.up;
  }

  send(messages: readonly Outgoing[]): void {
    this.bus.carry(messages);
  }

  subscribe(channels: readonly string[]): void {
    for (const channel of channels) this.channels.add(channel);
  }

  unsubscribe(channels: readonly string[]): void {
    for (const channel of channels) this.channels.delete(channel);
  }

  resubscribe(channels: readonly string[]): void {
    this.subscribe(channels);
  }

  async close(): Promise<void> {
    this.bus.remove(this);
  }
}
