/**
 * `tslay/redis`: the Redis backplane. `publish` and `broadcast` of a context reach the contexts of every process
 * and host attached to the same Redis, over the application's own client: node-redis (`redis`, v4 and later) or
 * ioredis. tslay does not depend on either; it calls the few methods it needs on the client it is given.
 *
 * ```ts
 * import { createClient } from 'redis';
 * import { createContext } from 'tslay/service';
 * import { redisBackplane } from 'tslay/redis';
 *
 * const redis = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const context = await createContext({ port: 8080, protocols, backplane: redisBackplane({ client: redis }) });
 * ```
 *
 * Channels are `PREFIX` + the context's channel: `tslay:t:TOPIC` for `publish(topic)`, `tslay:p:PROTOCOL` for
 * `broadcast(protocol)`; payloads are the binary envelope documented in `tslay/service`'s `envelope.ts`, so other
 * languages can publish too. Classic pub/sub (`PUBLISH`/`SUBSCRIBE`) by default; `sharded: true` uses
 * `SPUBLISH`/`SSUBSCRIBE` (Redis 7), which a Redis Cluster spreads over its shards. Subscriptions go through a
 * second connection (`client.duplicate()` unless `subscriber` is given), which `close()` closes; the
 * application's client is left open.
 */
import {
  type BusLink,
  EnvelopeBackplane,
  type EnvelopeBackplaneOptions,
  type LinkEvents,
  type Outgoing,
} from '../service/backplane.ts';

/** The part of a node-redis client (v4+) the backplane uses. */
export interface NodeRedisLike {
  readonly isReady: boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  duplicate(): NodeRedisLike;
  connect(): Promise<unknown>;
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  multi(): NodeRedisMultiLike;
  subscribe(channels: string[], listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>;
  unsubscribe(channels: string[], listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>;
  sSubscribe(channels: string[], listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>;
  sUnsubscribe(channels: string[], listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>;
}

export interface NodeRedisMultiLike {
  publish(channel: string, message: Buffer): NodeRedisMultiLike;
  sPublish(channel: string, message: Buffer): NodeRedisMultiLike;
  execAsPipeline(): Promise<unknown>;
}

/** The part of an ioredis client the backplane uses. */
export interface IoRedisLike {
  readonly status: string;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  duplicate(): IoRedisLike;
  quit(): Promise<unknown>;
  pipeline(): IoRedisPipelineLike;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ssubscribe(...channels: string[]): Promise<unknown>;
  sunsubscribe(...channels: string[]): Promise<unknown>;
}

export interface IoRedisPipelineLike {
  publish(channel: string, message: Buffer): unknown;
  spublish(channel: string, message: Buffer): unknown;
  exec(): Promise<unknown>;
}

export type RedisClientLike = NodeRedisLike | IoRedisLike;

export interface RedisBackplaneOptions extends EnvelopeBackplaneOptions {
  /** The application's client, connected (or connecting): node-redis or ioredis. Used to publish. */
  client: RedisClientLike;
  /** The connection to subscribe on. Default: `client.duplicate()`, opened and closed by the backplane. */
  subscriber?: RedisClientLike;
  /** Prepended to every channel name. Default `'tslay:'`. */
  prefix?: string;
  /** Sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7, for Redis Cluster). Default false. */
  sharded?: boolean;
}

/** Probe every second; a probe not back within 5 s means the subscription died. */
const REDIS_PROBE_INTERVAL = 1_000;

/** A backplane over Redis pub/sub. Pass it as `createContext({ backplane })`. */
export function redisBackplane(options: RedisBackplaneOptions): EnvelopeBackplane {
  const { client } = options;
  if (!isNodeRedis(client) && !isIoRedis(client)) {
    throw new TypeError('redisBackplane: client must be a node-redis (redis) or an ioredis client');
  }
  if (options.prefix !== undefined && typeof options.prefix !== 'string') {
    throw new TypeError('redisBackplane: prefix must be a string');
  }
  return new EnvelopeBackplane((events) => new RedisLink(options, events), {
    probeInterval: REDIS_PROBE_INTERVAL,
    ...options,
  });
}

function isNodeRedis(client: unknown): client is NodeRedisLike {
  const c = client as NodeRedisLike | null;
  return (
    typeof c?.isReady === 'boolean' && typeof c.sSubscribe === 'function' && typeof c.multi === 'function'
  );
}

function isIoRedis(client: unknown): client is IoRedisLike {
  const c = client as IoRedisLike | null;
  return (
    typeof c?.status === 'string' && typeof c.pipeline === 'function' && typeof c.ssubscribe === 'function'
  );
}

/** The commands of one client flavour. */
interface Flavour {
  ready(client: RedisClientLike): boolean;
  publish(
    client: RedisClientLike,
    messages: readonly Outgoing[],
    prefix: string,
    sharded: boolean,
  ): Promise<unknown>;
  subscribe(subscriber: RedisClientLike, channels: string[], sharded: boolean): Promise<unknown>;
  unsubscribe(subscriber: RedisClientLike, channels: string[], sharded: boolean): Promise<unknown>;
  /** Starts listening for messages on a subscriber connection (each message: full channel name, bytes). */
  listen(
    subscriber: RedisClientLike,
    sharded: boolean,
    deliver: (channel: string, bytes: Buffer) => void,
  ): void;
  open(subscriber: RedisClientLike): Promise<unknown>;
  quit(subscriber: RedisClientLike): Promise<unknown>;
  stateEvents: readonly string[];
}

/** node-redis calls a listener per channel; one listener for all, told the channel by a second argument. */
const nodeRedis = (): Flavour => {
  let deliver: (channel: string, bytes: Buffer) => void = () => {};
  const listener = (message: Buffer, channel?: unknown) => deliver(String(channel), message);
  return {
    ready: (client) => (client as NodeRedisLike).isReady,
    publish(client, messages, prefix, sharded) {
      const multi = (client as NodeRedisLike).multi();
      for (const { channel, bytes } of messages) {
        const name = prefix + channel;
        const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
        if (sharded) multi.sPublish(name, buffer);
        else multi.publish(name, buffer);
      }
      return multi.execAsPipeline();
    },
    subscribe: (subscriber, channels, sharded) =>
      sharded
        ? (subscriber as NodeRedisLike).sSubscribe(channels, listener, true)
        : (subscriber as NodeRedisLike).subscribe(channels, listener, true),
    unsubscribe: (subscriber, channels, sharded) =>
      sharded
        ? (subscriber as NodeRedisLike).sUnsubscribe(channels, listener, true)
        : (subscriber as NodeRedisLike).unsubscribe(channels, listener, true),
    listen(_subscriber, _sharded, to) {
      deliver = to;
    },
    open: (subscriber) => (subscriber as NodeRedisLike).connect(),
    quit: (subscriber) => {
      const s = subscriber as NodeRedisLike;
      return s.close !== undefined ? s.close() : s.quit!();
    },
    stateEvents: ['ready', 'end', 'error', 'reconnecting'],
  };
};

const ioRedis = (): Flavour => ({
  ready: (client) => (client as IoRedisLike).status === 'ready',
  publish(client, messages, prefix, sharded) {
    const pipeline = (client as IoRedisLike).pipeline();
    for (const { channel, bytes } of messages) {
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      if (sharded) pipeline.spublish(prefix + channel, buffer);
      else pipeline.publish(prefix + channel, buffer);
    }
    return pipeline.exec();
  },
  subscribe: (subscriber, channels, sharded) =>
    sharded
      ? (subscriber as IoRedisLike).ssubscribe(...channels)
      : (subscriber as IoRedisLike).subscribe(...channels),
  unsubscribe: (subscriber, channels, sharded) =>
    sharded
      ? (subscriber as IoRedisLike).sunsubscribe(...channels)
      : (subscriber as IoRedisLike).unsubscribe(...channels),
  listen(subscriber, sharded, deliver) {
    subscriber.on(sharded ? 'smessageBuffer' : 'messageBuffer', (channel, message) =>
      deliver(String(channel), message as Buffer),
    );
  },
  open: async () => {},
  quit: (subscriber) => (subscriber as IoRedisLike).quit(),
  stateEvents: ['ready', 'close', 'end', 'error', 'reconnecting'],
});

/** Bytes on channels over a publishing client and a subscribing connection. */
class RedisLink implements BusLink {
  private readonly client: RedisClientLike;
  private readonly subscriber: RedisClientLike;
  private readonly ownsSubscriber: boolean;
  private readonly flavour: Flavour;
  private readonly prefix: string;
  private readonly sharded: boolean;
  private readonly events: LinkEvents;
  private readonly channels = new Set<string>();
  private opened = false;
  /** The state last told to the backplane; null before the first (a Redis down at start is told too). */
  private told: boolean | null = null;
  private closed = false;
  backlog = 0;

  constructor(options: RedisBackplaneOptions, events: LinkEvents) {
    this.client = options.client;
    this.flavour = isNodeRedis(this.client) ? nodeRedis() : ioRedis();
    this.prefix = options.prefix ?? 'tslay:';
    this.sharded = options.sharded === true;
    this.events = events;
    this.ownsSubscriber = options.subscriber === undefined;
    this.subscriber = options.subscriber ?? this.client.duplicate();
    for (const event of this.flavour.stateEvents) {
      this.client.on(event, this.stateChanged);
      this.subscriber.on(event, this.stateChanged);
    }
    this.flavour.listen(this.subscriber, this.sharded, this.received);
    this.open();
  }

  get up(): boolean {
    return (
      this.opened && !this.closed && this.flavour.ready(this.client) && this.flavour.ready(this.subscriber)
    );
  }

  send(messages: readonly Outgoing[]): void {
    let bytes = 0;
    for (const message of messages) bytes += message.bytes.length;
    this.backlog += bytes;
    // A failed write loses those messages; receivers see the jump in sequence numbers and report it.
    const settled = () => {
      this.backlog -= bytes;
      this.events.drain();
    };
    this.flavour.publish(this.client, messages, this.prefix, this.sharded).then(settled, settled);
  }

  subscribe(channels: readonly string[]): void {
    for (const channel of channels) this.channels.add(channel);
    if (this.opened) this.command('subscribe', channels);
  }

  unsubscribe(channels: readonly string[]): void {
    for (const channel of channels) this.channels.delete(channel);
    if (this.opened) this.command('unsubscribe', channels);
  }

  resubscribe(channels: readonly string[]): void {
    this.subscribe(channels);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const channels = [...this.channels];
    if (this.opened && channels.length > 0) await this.command('unsubscribe', channels);
    this.closed = true;
    for (const event of this.flavour.stateEvents) this.client.off(event, this.stateChanged);
    if (this.ownsSubscriber) await this.flavour.quit(this.subscriber).catch(() => {});
    else for (const event of this.flavour.stateEvents) this.subscriber.off(event, this.stateChanged);
  }

  private async open(): Promise<void> {
    try {
      if (this.ownsSubscriber) await this.flavour.open(this.subscriber);
    } catch (error) {
      // node-redis keeps reconnecting in the background; 'ready' follows once Redis is reachable.
      this.events.state(false, describe(error));
    }
    if (this.closed) return;
    this.opened = true;
    if (this.channels.size > 0) this.command('subscribe', [...this.channels]);
    this.stateChanged();
  }

  private command(kind: 'subscribe' | 'unsubscribe', channels: readonly string[]): Promise<void> {
    const names = channels.map((channel) => this.prefix + channel);
    return this.flavour[kind](this.subscriber, names, this.sharded).then(
      () => {},
      // The connection is down: the client renews its subscriptions when it is back (and the probe checks).
      () => {},
    );
  }

  private readonly received = (channel: string, bytes: Buffer): void => {
    if (!channel.startsWith(this.prefix)) return;
    this.events.message(channel.slice(this.prefix.length), bytes);
  };

  private readonly stateChanged = (...args: unknown[]): void => {
    const up = this.up;
    const error = args[0];
    // Before the first 'ready', only an error says something: Redis is not reachable yet.
    if (up === this.told || (this.told === null && !up && !(error instanceof Error))) return;
    this.told = up;
    this.events.state(up, up ? undefined : error instanceof Error ? error.message : 'Redis connection lost');
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
