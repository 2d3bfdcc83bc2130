/**
 * The backplane of one host: node:cluster workers exchange messages through the primary over IPC.
 *
 * A worker's `clusterBackplane()` sends what it publishes (one IPC message per event-loop turn) and the channels it
 * subscribes to; the primary's `relayBus()` forwards each message to the other workers subscribed to its channel.
 * Payloads travel as bytes when the cluster uses `serialization: 'advanced'` (as `runWorkers` sets up) and as base64
 * under the default JSON serialization. Every IPC direction is bounded: past `maxBacklog` bytes not yet written, a
 * worker holds (then drops and counts) its publishes, and the primary drops a message for a worker that does not
 * read, which that worker reports as a sequence gap.
 */
import type { Cluster, Worker } from 'node:cluster';
import {
  type BusLink,
  EnvelopeBackplane,
  type EnvelopeBackplaneOptions,
  type LinkEvents,
  type Outgoing,
} from './backplane.ts';

/** What travels over IPC. `data` is bytes, or base64 under JSON serialization. */
type BusMessage =
  | { tslay: 'bus'; op: 'subscribe' | 'unsubscribe'; channels: string[] }
  | { tslay: 'bus'; op: 'publish'; messages: [channel: string, data: Uint8Array | string][] };

const DEFAULT_MAX_BACKLOG = 16 * 1024 * 1024;

function isBusMessage(message: unknown): message is BusMessage {
  return typeof message === 'object' && message !== null && (message as { tslay?: unknown }).tslay === 'bus';
}

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'base64') : data;
}

function wire(bytes: Uint8Array, advanced: boolean): Uint8Array | string {
  return advanced ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

/** A backplane for a cluster worker. Throws when the process is not a worker with an IPC channel. */
export function clusterBackplane(options: EnvelopeBackplaneOptions = {}): EnvelopeBackplane {
  if (typeof process.send !== 'function') {
    throw new TypeError('clusterBackplane() runs in a cluster worker (a process with an IPC channel)');
  }
  return new EnvelopeBackplane((events) => new WorkerLink(events), options);
}

class WorkerLink implements BusLink {
  backlog = 0;
  private readonly advanced = process.env.NODE_CHANNEL_SERIALIZATION_MODE === 'advanced';
  private closed = false;

  constructor(private readonly events: LinkEvents) {
    process.on('message', this.received);
    process.on('disconnect', this.disconnected);
  }

  get up(): boolean {
    return !this.closed && process.connected;
  }

  send(messages: readonly Outgoing[]): void {
    let bytes = 0;
    const batch: [string, Uint8Array | string][] = [];
    for (const { channel, bytes: b } of messages) {
      bytes += b.length;
      batch.push([channel, wire(b, this.advanced)]);
    }
    this.post({ tslay: 'bus', op: 'publish', messages: batch }, bytes);
  }

  subscribe(channels: readonly string[]): void {
    this.post({ tslay: 'bus', op: 'subscribe', channels: [...channels] }, 0);
  }

  unsubscribe(channels: readonly string[]): void {
    this.post({ tslay: 'bus', op: 'unsubscribe', channels: [...channels] }, 0);
  }

  resubscribe(channels: readonly string[]): void {
    this.subscribe(channels);
  }

  async close(): Promise<void> {
    this.closed = true;
    process.off('message', this.received);
    process.off('disconnect', this.disconnected);
  }

  private post(message: BusMessage, bytes: number): void {
    if (!process.connected) return;
    this.backlog += bytes;
    process.send!(message, undefined, undefined, () => {
      this.backlog -= bytes;
      if (bytes > 0) this.events.drain();
    });
  }

  private readonly received = (message: unknown): void => {
    if (this.closed || !isBusMessage(message) || message.op !== 'publish') return;
    for (const [channel, data] of message.messages) this.events.message(channel, bytesOf(data));
  };

  private readonly disconnected = (): void => {
    this.events.state(false, 'IPC channel to the primary closed');
  };
}

export interface RelayOptions {
  /** Bytes waiting to be written to one worker above which messages for it are dropped. Default 16 MiB. */
  maxBacklog?: number;
}

/**
 * In the primary: forwards bus messages between workers, each to the workers subscribed to its channel (never
 * back to its sender). Returns a function that stops relaying.
 */
export function relayBus(cluster: Cluster, options: RelayOptions = {}): () => void {
  const maxBacklog = options.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  const subscriptions = new Map<Worker, Set<string>>();
  const backlogs = new Map<Worker, number>();

  const forward = (from: Worker, messages: [string, Uint8Array | string][]) => {
    const perWorker = new Map<Worker, [string, Uint8Array | string][]>();
    for (const entry of messages) {
      for (const [worker, channels] of subscriptions) {
        if (worker === from || !channels.has(entry[0])) continue;
        let batch = perWorker.get(worker);
        if (batch === undefined) perWorker.set(worker, (batch = []));
        batch.push(entry);
      }
    }
    for (const [worker, batch] of perWorker) send(worker, batch);
  };

  const send = (worker: Worker, batch: [string, Uint8Array | string][]) => {
    let bytes = 0;
    const out: [string, Uint8Array | string][] = [];
    const backlog = backlogs.get(worker) ?? 0;
    for (const [channel, data] of batch) {
      const size = data.length;
      if (backlog + bytes + size > maxBacklog) continue; // dropped: the worker sees the sequence jump
      bytes += size;
      out.push([channel, data]);
    }
    if (out.length === 0 || !worker.isConnected()) return;
    backlogs.set(worker, backlog + bytes);
    worker.send({ tslay: 'bus', op: 'publish', messages: out } satisfies BusMessage, undefined, () => {
      backlogs.set(worker, (backlogs.get(worker) ?? bytes) - bytes);
    });
  };

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isBusMessage(message)) return;
    if (message.op === 'publish') return forward(worker, message.messages);
    let channels = subscriptions.get(worker);
    if (channels === undefined) subscriptions.set(worker, (channels = new Set()));
    for (const channel of message.channels) {
      if (message.op === 'subscribe') channels.add(channel);
      else channels.delete(channel);
    }
  };
  const onExit = (worker: Worker) => {
    subscriptions.delete(worker);
    backlogs.delete(worker);
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return () => {
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
  };
}
