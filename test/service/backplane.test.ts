import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type BackplaneHost,
  type BackplaneReport,
  type BusLink,
  EnvelopeBackplane,
  type LinkEvents,
  MemoryBus,
  type Outgoing,
} from '../../src/service/backplane.ts';
import { type Context, type ContextReport, createContext } from '../../src/service/context.ts';
import {
  decodeEnvelope,
  ENVELOPE_HEADER,
  EnvelopeOpcode,
  encodeEnvelope,
  newOrigin,
} from '../../src/service/envelope.ts';
import { closeClient, openClient, type TestClient } from './client.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('backplane envelope', () => {
  it('lays out version, opcode, origin, sequence and payload as documented', () => {
    const origin = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const bytes = encodeEnvelope(EnvelopeOpcode.Text, origin, 2 ** 40 + 3, Buffer.from('hi'));
    // 01 version | 01 text | origin | sequence 2^40 + 3, big-endian | "hi"
    assert.equal(bytes.toString('hex'), '01' + '01' + '0102030405060708' + '0000010000000003' + '6869');
  });

  it('decodes what it encodes (any opcode, origin, sequence, payload)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(EnvelopeOpcode.Probe, EnvelopeOpcode.Text, EnvelopeOpcode.Binary),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.maxSafeNat(),
        fc.uint8Array({ maxLength: 300 }),
        (opcode, origin, sequence, payload) => {
          const decoded = decodeEnvelope(encodeEnvelope(opcode, origin, sequence, payload));
          assert.notEqual(typeof decoded, 'string');
          if (typeof decoded === 'string') return;
          assert.equal(decoded.opcode, opcode);
          assert.equal(decoded.origin, Buffer.from(origin).toString('latin1'));
          assert.equal(decoded.sequence, sequence);
          assert.deepEqual([...decoded.payload], [...payload]);
        },
      ),
      { seed: 8001 },
    );
  });

  it('answers arbitrary bytes with an envelope or a problem, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const decoded = decodeEnvelope(bytes);
        if (bytes.length < ENVELOPE_HEADER) assert.equal(decoded, 'short');
        else if (bytes[0] !== 1) assert.equal(decoded, 'version');
        else if (bytes[1]! > 2) assert.equal(decoded, 'opcode');
      }),
      { seed: 8002 },
    );
    const tooBig = encodeEnvelope(EnvelopeOpcode.Binary, newOrigin(), 0, new Uint8Array());
    tooBig[10] = 0xff; // a sequence of 2^56 or more is not a safe integer
    assert.equal(decodeEnvelope(tooBig), 'sequence');
  });

  it('refuses a sequence number it cannot represent', () => {
    assert.throws(() => encodeEnvelope(EnvelopeOpcode.Text, newOrigin(), -1, new Uint8Array()), RangeError);
    assert.throws(
      () => encodeEnvelope(EnvelopeOpcode.Text, new Uint8Array(4), 1, new Uint8Array()),
      RangeError,
    );
  });
});

/** A host that records what a backplane delivers and reports. */
class RecordingHost implements BackplaneHost {
  delivered: string[] = [];
  reports: BackplaneReport[] = [];
  deliver(channel: string, payload: Uint8Array, binary: boolean): void {
    this.delivered.push(`${channel} ${binary ? 'bin' : 'text'} ${Buffer.from(payload).toString()}`);
  }
  report(report: BackplaneReport): void {
    this.reports.push(report);
  }
}

/** A loopback link whose subscriptions can be lost silently, and which accepts injected bytes. */
class TestLink implements BusLink {
  readonly channels = new Set<string>();
  backlog = 0;
  up = true;
  sent: Outgoing[][] = [];
  constructor(readonly events: LinkEvents) {}
  send(messages: readonly Outgoing[]): void {
    this.sent.push([...messages]);
    for (const { channel, bytes } of messages)
      if (this.channels.has(channel)) this.events.message(channel, bytes);
  }
  subscribe(channels: readonly string[]): void {
    for (const c of channels) this.channels.add(c);
  }
  unsubscribe(channels: readonly string[]): void {
    for (const c of channels) this.channels.delete(c);
  }
  resubscribe(channels: readonly string[]): void {
    this.subscribe(channels);
  }
  async close(): Promise<void> {}
}

function testBackplane(options: ConstructorParameters<typeof EnvelopeBackplane>[1] = {}) {
  let link!: TestLink;
  const backplane = new EnvelopeBackplane((events) => (link = new TestLink(events)), options);
  const host = new RecordingHost();
  backplane.attach(host);
  return { backplane, link, host };
}

describe('EnvelopeBackplane', () => {
  const foreign = newOrigin();
  const from = (sequence: number, text: string, opcode: EnvelopeOpcode = EnvelopeOpcode.Text) =>
    encodeEnvelope(opcode, foreign, sequence, Buffer.from(text));

  it('delivers each message of another origin once, and reports a jump in its sequence with the count', () => {
    const { backplane, link, host } = testBackplane();
    backplane.subscribe(['t:a']);
    link.events.message('t:a', from(1, 'one'));
    link.events.message('t:a', from(2, 'two'));
    link.events.message('t:a', from(2, 'two again')); // a duplicate is not delivered twice
    link.events.message('t:a', from(6, 'six'));
    link.events.message('t:a', from(0, 'unsequenced'));
    assert.deepEqual(host.delivered, [
      't:a text one',
      't:a text two',
      't:a text six',
      't:a text unsequenced',
    ]);
    assert.deepEqual(host.reports, [{ type: 'gap', reason: 'sequence', channels: ['t:a'], count: 3 }]);
  });

  it('keeps sequences for at most maxChannels channels; a forgotten channel starts again at 1, accepted as a restart', async () => {
    const { backplane, link, host } = testBackplane({ maxChannels: 2 });
    for (const channel of ['t:a', 't:b', 't:c', 't:a']) backplane.publish(channel, Buffer.from('x'), false);
    await turn();
    const sequences = link.sent.flat().map(({ channel, bytes }) => {
      const e = decodeEnvelope(bytes);
      return typeof e === 'string' ? e : `${channel}#${e.sequence}`;
    });
    assert.deepEqual(sequences, ['t:a#1', 't:b#1', 't:c#1', 't:a#1'], 't:a was forgotten when t:c came');
    backplane.subscribe(['t:x']);
    link.events.message('t:x', from(7, 'seven'));
    link.events.message('t:x', from(1, 'restarted'));
    link.events.message('t:x', from(2, 'two'));
    assert.deepEqual(host.delivered, ['t:x text seven', 't:x text restarted', 't:x text two']);
  });

  it('discards its own messages, channels it did not subscribe to, and bytes that are not an envelope', () => {
    const { backplane, link, host } = testBackplane();
    backplane.subscribe(['t:a']);
    link.events.message('t:a', encodeEnvelope(EnvelopeOpcode.Text, backplane.origin, 1, Buffer.from('mine')));
    link.events.message('t:b', from(1, 'elsewhere'));
    link.events.message('t:a', Buffer.from('plain text'));
    link.events.message('t:a', encodeEnvelope(EnvelopeOpcode.Text, foreign, 1, Buffer.from([0xc3, 0x28])));
    assert.deepEqual(host.delivered, []);
    const invalid = host.reports.filter((r) => r.type === 'gap' && r.reason === 'invalid');
    assert.equal(invalid.length, 2);
  });

  it('writes what one turn published in one send, with sequence numbers per channel', async () => {
    const { backplane, link } = testBackplane();
    backplane.publish('t:a', Buffer.from('1'), false);
    backplane.publish('t:b', Buffer.from('2'), true);
    backplane.publish('t:a', Buffer.from('3'), false);
    assert.equal(link.sent.length, 0);
    await turn();
    assert.equal(link.sent.length, 1);
    const decoded = link.sent[0]!.map(({ channel, bytes }) => {
      const e = decodeEnvelope(bytes);
      assert.notEqual(typeof e, 'string');
      return typeof e === 'string' ? '' : `${channel}#${e.sequence}:${e.opcode}`;
    });
    assert.deepEqual(decoded, ['t:a#1:1', 't:b#1:2', 't:a#2:1']);
  });

  it('holds publishes while the link is down, up to maxPending, then sends them in order and reports the rest', async () => {
    const { backplane, link, host } = testBackplane({ maxPending: 3 });
    link.up = false;
    link.events.state(false, 'test outage');
    for (let i = 1; i <= 5; i++) backplane.publish('t:a', Buffer.from(String(i)), false);
    assert.equal(backplane.pending, 3);
    link.up = true;
    link.events.state(true);
    await turn();
    const sent = link.sent.flat().map(({ bytes }) => Buffer.from(bytes.subarray(ENVELOPE_HEADER)).toString());
    assert.deepEqual(sent, ['1', '2', '3']);
    assert.equal(backplane.pending, 0);
    assert.deepEqual(host.reports, [
      { type: 'down', reason: 'test outage' },
      { type: 'up' },
      { type: 'gap', reason: 'dropped', channels: ['t:a'], count: 2 },
    ]);
  });

  it('drops held publishes older than maxPendingAge when the link comes back', async () => {
    let now = 1_000;
    const { backplane, link, host } = testBackplane({ maxPendingAge: 100, now: () => now });
    link.up = false;
    backplane.publish('t:a', Buffer.from('old'), false);
    now += 150;
    backplane.publish('t:a', Buffer.from('fresh'), false);
    link.up = true;
    link.events.state(true);
    await turn();
    const sent = link.sent.flat().map(({ bytes }) => Buffer.from(bytes.subarray(ENVELOPE_HEADER)).toString());
    assert.deepEqual(sent, ['fresh']);
    assert.deepEqual(host.reports.at(-1), { type: 'gap', reason: 'dropped', channels: ['t:a'], count: 1 });
  });

  it('holds publishes while more than maxBacklog bytes are in flight, and sends them when the link drains', async () => {
    const { backplane, link } = testBackplane({ maxBacklog: 100 });
    link.backlog = 101;
    backplane.publish('t:a', Buffer.from('held'), false);
    await turn();
    assert.equal(link.sent.length, 0);
    assert.equal(backplane.pending, 1);
    link.backlog = 0;
    link.events.drain();
    assert.equal(link.sent.length, 1);
    assert.equal(backplane.pending, 0);
  });

  it('discards (and reports) a payload over maxPayload; a payload at the limit is delivered', () => {
    const { backplane, link, host } = testBackplane({ maxPayload: 4 });
    backplane.subscribe(['t:a']);
    link.events.message('t:a', from(1, 'four'));
    link.events.message('t:a', from(2, 'fives'));
    assert.deepEqual(host.delivered, ['t:a text four']);
    assert.deepEqual(host.reports, [{ type: 'gap', reason: 'invalid', channels: ['t:a'], count: 1 }]);
  });

  it('remembers at most maxOrigins origins per channel, forgetting the oldest', () => {
    const { backplane, link, host } = testBackplane({ maxOrigins: 1 });
    const other = newOrigin();
    backplane.subscribe(['t:a']);
    link.events.message('t:a', from(1, 'a1'));
    link.events.message('t:a', encodeEnvelope(EnvelopeOpcode.Text, other, 1, Buffer.from('b1')));
    link.events.message('t:a', from(5, 'a5')); // the first origin was forgotten: a new start, not a gap
    assert.deepEqual(host.delivered, ['t:a text a1', 't:a text b1', 't:a text a5']);
    assert.deepEqual(host.reports, []);
  });

  it('reports a reconnect as a gap on every subscribed channel', () => {
    const { backplane, link, host } = testBackplane();
    backplane.subscribe(['t:a', 'p:chat']);
    link.events.state(false, 'reset');
    link.events.state(true);
    assert.deepEqual(host.reports.at(-1), {
      type: 'gap',
      reason: 'reconnect',
      channels: ['t:a', 'p:chat'],
      count: null,
    });
  });

  it('finds a subscription that died silently through its probe, reports it and renews it', async () => {
    const { backplane, link, host } = testBackplane({ probeInterval: 10, probeTimeout: 40 });
    backplane.subscribe(['t:a']);
    link.channels.clear(); // the bus forgot us without a word
    while (!host.reports.some((r) => r.type === 'gap' && r.reason === 'probe')) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(link.channels.has('t:a'), 'resubscribed');
    link.events.message('t:a', from(1, 'back'));
    assert.deepEqual(host.delivered, ['t:a text back']);
    await backplane.close();
  });

  it('rejects bad options with a TypeError that names them', () => {
    assert.throws(() => testBackplane({ maxPending: 0 }), /maxPending must be a positive integer/);
    const { backplane } = testBackplane();
    assert.throws(() => backplane.attach(new RecordingHost()), /one context/);
  });
});

/** A context with a `news` topic that clients join by connecting to protocol 'sub', and a `chat` protocol. */
async function busContext(
  bus: MemoryBus,
  reports: ContextReport[] = [],
  maxPending?: number,
): Promise<Context> {
  return createContext({
    host: '127.0.0.1',
    backplane: bus.backplane(maxPending === undefined ? {} : { maxPending }),
    onBackplaneReport: (report) => reports.push(report),
    protocols: {
      sub: (ws) => {
        ws.subscribe('news');
      },
      chat: (ws) => {
        ws.onReceive((socket, data) => socket.broadcast(`said ${data}`));
      },
    },
  });
}

async function settle(...clients: TestClient[]): Promise<void> {
  for (const client of clients) await closeClient(client);
}

describe('contexts on one bus', () => {
  it('a publish reaches the subscribers of every context exactly once, the publisher’s own too', async () => {
    const bus = new MemoryBus();
    const [one, two] = [await busContext(bus), await busContext(bus)];
    const [a, b] = [await openClient(one.port, 'sub'), await openClient(two.port, 'sub')];
    await turn();
    assert.deepEqual(bus.channels(), ['p:sub', 't:news']);
    assert.deepEqual(one.publish('news', 'first'), { delivered: 1, skipped: 0, dropped: 0 });
    two.publish('news', new Uint8Array([7]));
    await Promise.all([a.received(2), b.received(2)]);
    await new Promise((resolve) => setTimeout(resolve, 20)); // nothing more arrives
    assert.deepEqual(
      a.messages,
      ['first', 'bin:07'],
      'its own publish first (local delivery is synchronous)',
    );
    assert.deepEqual(b.messages, ['bin:07', 'first']);
    await settle(a, b);
    await Promise.all([one.destroy(), two.destroy()]);
  });

  it('holds a subscription only while a local subscriber exists, decided once per turn', async () => {
    const bus = new MemoryBus();
    const context = await busContext(bus);
    assert.deepEqual(bus.channels(), []);
    const client = await openClient(context.port, 'sub');
    await turn();
    assert.deepEqual(bus.channels(), ['p:sub', 't:news']);
    await closeClient(client);
    await turn();
    assert.deepEqual(bus.channels(), []);
    await context.destroy();
  });

  it('broadcast(protocol) and ws.broadcast reach that protocol’s sockets on every context', async () => {
    const bus = new MemoryBus();
    const [one, two] = [await busContext(bus), await busContext(bus)];
    const [a, b] = [await openClient(one.port, 'chat'), await openClient(two.port, 'chat')];
    await turn();
    a.ws.send('hi');
    await Promise.all([a.received(1), b.received(1)]);
    two.broadcast('chat', 'notice');
    await Promise.all([a.received(2), b.received(2)]);
    assert.deepEqual(a.messages, ['said hi', 'notice']);
    assert.deepEqual(b.messages, ['said hi', 'notice']);
    await settle(a, b);
    await Promise.all([one.destroy(), two.destroy()]);
  });

  it('while the bus is down, local delivery goes on; back up, held messages flow in order and losses are counted', async () => {
    const bus = new MemoryBus();
    const reportsOne: ContextReport[] = [];
    const reportsTwo: ContextReport[] = [];
    const one = await busContext(bus, reportsOne, 10);
    const two = await busContext(bus, reportsTwo);
    const [a, b] = [await openClient(one.port, 'sub'), await openClient(two.port, 'sub')];
    await turn();
    bus.down();
    for (let i = 1; i <= 15; i++) one.publish('news', `m${i}`);
    await a.received(15);
    bus.restore();
    await b.received(10);
    one.publish('news', 'm16');
    await b.received(11);
    assert.deepEqual(
      b.messages,
      ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'm16'],
      'the first 10 held, then the rest dropped',
    );
    assert.deepEqual(
      reportsOne.filter((r) => r.type === 'gap' && r.reason === 'dropped'),
      [{ type: 'gap', reason: 'dropped', topics: ['news'], protocols: [], count: 5 }],
    );
    assert.deepEqual(
      reportsTwo.filter((r) => r.type === 'gap' && r.reason === 'sequence'),
      [{ type: 'gap', reason: 'sequence', topics: ['news'], protocols: [], count: 5 }],
    );
    assert.ok(reportsTwo.some((r) => r.type === 'gap' && r.reason === 'reconnect' && r.topics[0] === 'news'));
    await settle(a, b);
    await Promise.all([one.destroy(), two.destroy()]);
  });

  it('a report handler that throws goes to onError, not into the bus', async () => {
    const bus = new MemoryBus();
    const errors: unknown[] = [];
    const context = await createContext({
      backplane: bus.backplane(),
      onBackplaneReport: () => {
        throw new Error('handler bug');
      },
      onError: (error) => errors.push(error),
      protocols: { sub: (ws) => void ws.subscribe('news') },
    });
    bus.down();
    assert.equal((errors[0] as Error).message, 'handler bug');
    await context.destroy();
  });
});
