import assert from 'node:assert/strict';
import type { Cluster, Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { relayBus } from '../../src/service/cluster-backplane.ts';

/**
 * The primary's relay, driven with stand-ins for workers whose IPC writes complete only when the test says so:
 * the bound on bytes waiting for one worker is the behaviour under test (real workers: workers.test.ts).
 */
class StandInWorker extends EventEmitter {
  sent: unknown[] = [];
  callbacks: (() => void)[] = [];
  isConnected(): boolean {
    return true;
  }
  send(message: unknown, _handle: unknown, callback: () => void): boolean {
    this.sent.push(message);
    this.callbacks.push(callback);
    return true;
  }
}

function relay(maxBacklog: number) {
  const cluster = Object.assign(new EventEmitter(), { settings: { serialization: 'advanced' } });
  const stop = relayBus(cluster as unknown as Cluster, { maxBacklog });
  const [a, b, c] = [new StandInWorker(), new StandInWorker(), new StandInWorker()];
  const from = (worker: StandInWorker, message: object) =>
    cluster.emit('message', worker as unknown as Worker, message);
  return { cluster, stop, a, b, c, from };
}

const publish = (...messages: [string, Uint8Array][]) => ({ tslay: 'bus', op: 'publish', messages });
const payloads = (worker: StandInWorker) =>
  worker.sent.flatMap((m) =>
    (m as { messages: [string, Uint8Array][] }).messages.map(([ch, d]) => `${ch}:${d.length}`),
  );

describe('relayBus', () => {
  it('forwards a message to the other workers subscribed to its channel, never back to its sender', () => {
    const { a, b, c, from, stop } = relay(1024);
    for (const worker of [a, b]) from(worker, { tslay: 'bus', op: 'subscribe', channels: ['t:x'] });
    from(a, publish(['t:x', new Uint8Array(3)], ['t:y', new Uint8Array(1)]));
    assert.deepEqual(payloads(a), []);
    assert.deepEqual(payloads(b), ['t:x:3']);
    assert.deepEqual(payloads(c), []);
    from(b, { tslay: 'bus', op: 'unsubscribe', channels: ['t:x'] });
    from(a, publish(['t:x', new Uint8Array(3)]));
    assert.deepEqual(payloads(b), ['t:x:3']);
    stop();
  });

  it('drops messages for a worker with maxBacklog bytes unwritten, and sends again once they are written', () => {
    const { a, b, from, stop } = relay(10);
    from(b, { tslay: 'bus', op: 'subscribe', channels: ['t:x'] });
    from(a, publish(['t:x', new Uint8Array(6)]));
    from(a, publish(['t:x', new Uint8Array(4)])); // 10 bytes waiting: at the limit, still sent
    from(a, publish(['t:x', new Uint8Array(1)])); // over it: dropped (b reports the sequence gap)
    assert.deepEqual(payloads(b), ['t:x:6', 't:x:4']);
    for (const done of b.callbacks) done();
    from(a, publish(['t:x', new Uint8Array(1)]));
    assert.deepEqual(payloads(b), ['t:x:6', 't:x:4', 't:x:1']);
    stop();
  });
});
