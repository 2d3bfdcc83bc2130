import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import {
  Broadcaster,
  BroadcastMessage,
  type BroadcastTarget,
  type SlowSocketPolicy,
  Topics,
} from '../../src/service/broadcast.ts';
import { createContext } from '../../src/service/context.ts';
import type { ServiceSocket } from '../../src/service/protocol.ts';
import { closeClient, openClient, type TestClient } from './client.ts';
import { rawUpgrade } from './raw-ws.ts';

/** A target that records the frame bytes it is given. */
class FakeTarget implements BroadcastTarget {
  frames: Uint8Array[] = [];
  terminated = false;
  constructor(
    public bufferedAmount = 0,
    public isOpen = true,
  ) {}
  deliver(message: BroadcastMessage): void {
    this.frames.push(message.defaultFrame.bytes);
  }
  terminate(): void {
    this.terminated = true;
    this.isOpen = false;
  }
}

describe('Broadcaster', () => {
  it('encodes the frame once and hands the same bytes to every member', () => {
    const room = new Broadcaster<FakeTarget>();
    const targets = [new FakeTarget(), new FakeTarget(), new FakeTarget()];
    for (const t of targets) room.add(t);
    assert.deepEqual(room.broadcast('Hello'), { delivered: 3, skipped: 0, dropped: 0 });
    const first = targets[0]!.frames[0]!;
    assert.equal(Buffer.from(first).toString('hex'), '810548656c6c6f'); // FIN|TEXT, len 5, "Hello"
    for (const t of targets) assert.equal(t.frames[0], first, 'the very same bytes object');
    room.broadcast(new Uint8Array([1, 2]));
    assert.equal(Buffer.from(targets[1]!.frames[1]!).toString('hex'), '82020102'); // FIN|BINARY, len 2
  });

  it('BroadcastMessage builds each kind of frame at most once', () => {
    const message = new BroadcastMessage('x');
    assert.equal(message.frame('text'), message.frame('text'));
    assert.equal(message.frame('binary'), message.frame('binary'));
    assert.equal(message.frame('binary').bytes[0], 0x82);
    assert.equal(new BroadcastMessage('x', { binary: true }).defaultFrame.bytes[0], 0x82);
  });

  const policies: [SlowSocketPolicy, { delivered: number; skipped: number; dropped: number }][] = [
    ['skip', { delivered: 2, skipped: 1, dropped: 0 }],
    ['drop', { delivered: 2, skipped: 0, dropped: 1 }],
  ];
  for (const [policy, expected] of policies) {
    it(`slow members over the limit are handled by the '${policy}' policy`, () => {
      const room = new Broadcaster<FakeTarget>({ slowSocket: policy, maxBufferedAmount: 100 });
      const atLimit = new FakeTarget(100);
      const over = new FakeTarget(101);
      const idle = new FakeTarget(0);
      const closed = new FakeTarget(0, false);
      for (const t of [atLimit, over, idle, closed]) room.add(t);
      assert.deepEqual(room.broadcast('m'), expected);
      assert.equal(atLimit.frames.length, 1);
      assert.equal(idle.frames.length, 1);
      assert.equal(over.frames.length, 0);
      assert.equal(closed.frames.length, 0);
      assert.equal(over.terminated, policy === 'drop');
    });
  }

  it('rejects an unknown policy', () => {
    assert.throws(() => new Broadcaster({ slowSocket: 'wait' as SlowSocketPolicy }), TypeError);
  });

  it('Topics: subscribe, publish, unsubscribe, forget empty topics', () => {
    const topics = new Topics<FakeTarget>();
    const a = new FakeTarget();
    const b = new FakeTarget();
    topics.subscribe(a, 't');
    topics.subscribe(b, 't');
    topics.subscribe(b, 'u');
    assert.equal(topics.publish('t', 'x').delivered, 2);
    assert.equal(topics.publish('u', 'x').delivered, 1);
    assert.equal(topics.unsubscribe(a, 't'), true);
    assert.equal(topics.unsubscribe(a, 't'), false);
    topics.unsubscribeAll(b);
    assert.equal(topics.subscribers('t'), 0);
    assert.deepEqual(topics.topicsOf(b), []);
    assert.equal(topics.publish('t', 'x').delivered, 0);
  });
});

/** Connects `count` clients, `batch` at a time (the listen backlog and a 2-core machine stay comfortable). */
async function openMany(port: number, protocol: string, count: number, batch = 50): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    clients.push(...(await Promise.all(Array.from({ length: n }, () => openClient(port, protocol)))));
  }
  return clients;
}

describe('broadcast over loopback', () => {
  it('writes the broadcast frame to the wire byte for byte', async (t) => {
    const context = await createContext({ host: '127.0.0.1', protocols: { chat: () => {} } });
    t.after(() => context.destroy({ timeout: 1000 }));
    const raw = await rawUpgrade(context.port, 'Sec-WebSocket-Protocol: chat\r\n');
    t.after(() => raw.socket.destroy());
    raw.socket.resume();
    context.broadcast('chat', 'Hello');
    const [bytes] = (await once(raw.socket, 'data')) as [Buffer];
    assert.equal(bytes.toString('hex'), '810548656c6c6f'); // FIN|TEXT, len 5, "Hello"
  });

  it('delivers every message to each of 1,000 sockets exactly once and in order', async (t) => {
    const SOCKETS = 1000;
    const MESSAGES = 20;
    const context = await createContext({ host: '127.0.0.1', protocols: { chat: () => {} } });
    t.after(() => context.destroy({ timeout: 1000 }));
    const clients = await openMany(context.port, 'chat', SOCKETS);
    assert.equal(context.sockets.size, SOCKETS);
    const expected = Array.from({ length: MESSAGES }, (_, i) => `message ${i}`);
    for (const message of expected) {
      assert.deepEqual(context.broadcast('chat', message), { delivered: SOCKETS, skipped: 0, dropped: 0 });
    }
    await Promise.all(clients.map((c) => c.received(MESSAGES)));
    // A round trip through every socket: anything extra would have arrived before these answers.
    context.broadcast('chat', 'end');
    await Promise.all(clients.map((c) => c.received(MESSAGES + 1)));
    for (const client of clients) assert.deepEqual(client.messages, [...expected, 'end']);
    await Promise.all(clients.map(closeClient));
  });
});

/** A `gc()` without --expose-gc on the command line, so that memory is measured after collection. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/**
 * Heap plus ArrayBuffer memory after full collections. Backing stores are released by a background sweeper, so
 * under CPU load the counter lags: the smallest of a few samples, each after a turn of the event loop, is taken.
 */
async function heldBytes(): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    const usage = process.memoryUsage();
    least = Math.min(least, usage.arrayBuffers + usage.heapUsed);
  }
  return least;
}

const MIB = 1024 * 1024;

for (const policy of ['skip', 'drop'] as const) {
  it(`a socket that stops reading is ${policy === 'skip' ? 'skipped' : 'dropped'}; the others get everything and memory stays bounded`, async (t) => {
    // 1000 × 64 KiB = 62.5 MiB to every socket: far more than the kernel's socket buffers hold for a peer that
    // does not read, so without the policy most of it would wait in the server's memory.
    const MESSAGES = 1000;
    const SIZE = 64 * 1024;
    const LIMIT = 256 * 1024;
    const BOUND = 24 * MIB;
    const closedCodes: number[] = [];
    let markServerSideClosed = () => {};
    const serverSideClosed = new Promise<void>((resolve) => (markServerSideClosed = resolve));
    const context = await createContext({
      host: '127.0.0.1',
      protocols: {
        feed: (ws: ServiceSocket) =>
          ws.onClosed((_, code) => {
            closedCodes.push(code);
            markServerSideClosed();
          }),
      },
      slowSocket: policy,
      maxBufferedAmount: LIMIT,
    });
    t.after(() => context.destroy({ timeout: 1000 }));
    const slow = await rawUpgrade(context.port, 'Sec-WebSocket-Protocol: feed\r\n');
    t.after(() => slow.socket.destroy());
    assert.equal(slow.status, 101);
    const slowEnded = new Promise<void>((resolve) => slow.socket.once('close', () => resolve()));
    slow.socket.on('error', () => {});
    const fast = await openMany(context.port, 'feed', 3);
    const slowServerSide = [...context.sockets].find((ws) => ws.socket.remotePort === slow.socket.localPort)!;
    // Count only: the fast readers keep no payloads.
    const counts = fast.map(() => 0);
    const waiters: (() => void)[] = [];
    fast.forEach((client, k) => {
      client.ws.removeAllListeners('message');
      client.ws.on('message', () => {
        counts[k]!++;
        if (counts.every((c) => c === counts[k])) waiters.shift()?.();
      });
    });
    const allFastGot = (n: number) =>
      counts.every((c) => c >= n) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));

    const before = await heldBytes();
    let peakBuffered = 0;
    const totals = { delivered: 0, skipped: 0, dropped: 0 };
    const payload = Buffer.alloc(SIZE);
    for (let i = 0; i < MESSAGES; i++) {
      payload.writeUInt32BE(i, 0);
      const result = context.publish('all', payload); // nobody subscribed yet: checks publish is a no-op
      assert.equal(result.delivered, 0);
      const r = context.broadcast('feed', Buffer.from(payload));
      totals.delivered += r.delivered;
      totals.skipped += r.skipped;
      totals.dropped += r.dropped;
      if (slowServerSide.isOpen) peakBuffered = Math.max(peakBuffered, slowServerSide.bufferedAmount);
      // Pace on the fast readers only: they must never look slow.
      await allFastGot(i + 1);
    }
    const held = (await heldBytes()) - before;

    assert.deepEqual(counts, [MESSAGES, MESSAGES, MESSAGES], 'every fast reader got every message');
    assert.ok(peakBuffered <= LIMIT + SIZE + 10, `slow socket buffered ${peakBuffered} bytes`);
    assert.ok(held < BOUND, `memory grew by ${(held / MIB).toFixed(1)} MiB (bound ${BOUND / MIB} MiB)`);
    if (policy === 'skip') {
      assert.ok(totals.skipped > 0, 'the slow socket was skipped');
      assert.equal(totals.dropped, 0);
      assert.equal(totals.delivered + totals.skipped, MESSAGES * 4);
      assert.equal(slowServerSide.isOpen, true, 'a skipped socket stays connected');
    } else {
      assert.equal(totals.dropped, 1);
      assert.equal(totals.skipped, 0);
      await serverSideClosed;
      assert.equal(slowServerSide.isOpen, false);
      assert.deepEqual(closedCodes, [1006], 'the dropped socket was terminated, without a close frame');
      // Once the client reads again, it gets what was already sent and then the end of the connection.
      slow.socket.resume();
      await slowEnded;
    }
    slow.socket.destroy();
    await slowEnded;
    await Promise.all(fast.map(closeClient));
  });
}
