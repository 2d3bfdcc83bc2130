import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RedisServer, startRedis, subscribers } from '../helpers/redis.ts';
import { type Fixture, fixture, reports } from './processes.ts';

const portOf = async (server: Fixture) =>
  Number((await server.line((l) => l.startsWith('listening '))).split(' ')[1]);

async function channels(redis: RedisServer): Promise<string[]> {
  const reply = (await redis.command(['PUBSUB', 'CHANNELS', 'tslay:[tp]:*'])) as string[];
  return reply.map(String).sort();
}

for (const flavour of ['node-redis', 'ioredis']) {
  describe(`Redis backplane over ${flavour}`, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis.stop());
    const server = (name: string, extra: Record<string, string> = {}) =>
      fixture('server', [], { REDIS_URL: redis.url, FLAVOUR: flavour, NAME: name, ...extra });

    it('3 processes × 100 sockets, 10,000 messages from 3 publishers on 3 topics: each once, in publisher order', async () => {
      const servers = ['p1', 'p2', 'p3'].map((name) => server(name));
      const clients = [];
      try {
        for (const s of servers) clients.push(fixture('clients', [String(await portOf(s)), '100'], {}));
        await Promise.all(clients.map((c) => c.line((l) => l === 'ready')));
        await subscribers(redis, { 'tslay:t:a': 3, 'tslay:t:b': 3, 'tslay:t:c': 3 });
        const counts = { p1: 3334, p2: 3333, p3: 3333 };
        for (const [i, s] of servers.entries()) {
          s.send({ cmd: 'publish', count: Object.values(counts)[i], perTurn: 200 });
        }
        for (const c of clients) c.send({ expect: counts });
        const results = await Promise.all(clients.map((c) => c.line((l) => l.startsWith('result '))));
        for (const result of results) {
          const { sockets, received, errors, extra } = JSON.parse(result.slice(7));
          assert.deepEqual(errors, []);
          assert.equal(extra, 0, 'no socket received more or fewer messages than its topic had');
          assert.equal(sockets, 100);
          // Each socket gets its topic's share of all 10,000: 100 sockets, a third each.
          assert.equal(received, 34 * 3334 + 33 * 3333 + 33 * 3333);
        }
        for (const s of servers)
          assert.deepEqual(
            reports(s).filter((r) => r.type === 'gap'),
            [],
          );
      } finally {
        await Promise.all([...clients, ...servers].map((f) => f.stop()));
      }
    });

    it('holds a Redis subscription for a topic only while the process has a subscriber of it', async () => {
      const s = server('solo');
      try {
        const port = await portOf(s);
        await subscribers(redis, { 'tslay:t:a': 0 });
        assert.deepEqual(await channels(redis), []);
        const clients = fixture('clients', [String(port), '1'], {});
        await clients.line((l) => l === 'ready');
        await subscribers(redis, { 'tslay:t:a': 1 });
        assert.deepEqual(await channels(redis), ['tslay:p:sub', 'tslay:t:a']);
        await clients.stop();
        await subscribers(redis, { 'tslay:t:a': 0, 'tslay:p:sub': 0 });
        assert.deepEqual(await channels(redis), []);
      } finally {
        await s.stop();
      }
    });

    it('Redis killed mid-stream and restarted: no process dies, the gap is counted, every topic is resubscribed, delivery resumes', async () => {
      const [publisher, receiver] = [server('pub'), server('recv')];
      const clients = fixture('clients', [String(await portOf(receiver)), '3'], {});
      try {
        await portOf(publisher);
        await clients.line((l) => l === 'ready');
        await subscribers(redis, { 'tslay:t:a': 1, 'tslay:t:b': 1, 'tslay:t:c': 1 });
        // 20 per 5 ms, about 4,000 a second, for about 5 s: the outage falls in the middle.
        publisher.send({ cmd: 'publish', count: 20_000, perTurn: 20, gap: 5 });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await redis.kill();
        await publisher.line((l) => l.includes('"type":"down"'));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        publisher.send({ cmd: 'status' });
        const status = JSON.parse((await publisher.line((l) => l.startsWith('status '))).slice(7));
        assert.ok(status.pending <= 1_000, `held publishes bounded by maxPending (${status.pending})`);
        await redis.start();
        await Promise.all([publisher, receiver].map((f) => f.line((l) => l.includes('"type":"up"'))));
        await subscribers(redis, { 'tslay:t:a': 1, 'tslay:t:b': 1, 'tslay:t:c': 1 });
        await publisher.line((l) => l === 'published 20000');
        // The receiver learns of the loss with a count (sequence jump); the publisher counts what it dropped.
        const counted = (f: Fixture, reason: string) =>
          f.line(
            (l) => l.startsWith('report ') && l.includes(`"reason":"${reason}"`) && /"count":\d+/.test(l),
          );
        await counted(receiver, 'sequence');
        await counted(publisher, 'dropped');
        assert.ok(reports(receiver).some((r) => r.reason === 'reconnect'));
        // Delivery resumed: the last message of every topic arrived.
        clients.send({ expect: { pub: 20_000 }, lossy: true });
        const result = JSON.parse((await clients.line((l) => l.startsWith('result '))).slice(7));
        assert.deepEqual(result.errors, [], 'nothing out of order or twice');
        assert.ok(
          result.gaps > 0,
          `the outage lost messages: ${JSON.stringify(result)} ${JSON.stringify(reports(receiver))}`,
        );
        for (const f of [publisher, receiver]) assert.equal(f.child.exitCode, null, 'still running');
      } finally {
        await redis.start();
        await Promise.all([clients, publisher, receiver].map((f) => f.stop()));
      }
    });

    it('sharded pub/sub (SPUBLISH/SSUBSCRIBE) carries messages between processes too', async () => {
      const servers = ['s1', 's2'].map((name) => server(name, { SHARDED: '1' }));
      const clients = [];
      try {
        for (const s of servers) clients.push(fixture('clients', [String(await portOf(s)), '3'], {}));
        await Promise.all(clients.map((c) => c.line((l) => l === 'ready')));
        await subscribers(redis, { 'tslay:t:a': 2, 'tslay:t:b': 2, 'tslay:t:c': 2 }, true);
        servers[0]!.send({ cmd: 'publish', count: 300 });
        servers[1]!.send({ cmd: 'publish', count: 300 });
        for (const c of clients) c.send({ expect: { s1: 300, s2: 300 } });
        for (const c of clients) {
          const { errors, extra } = JSON.parse((await c.line((l) => l.startsWith('result '))).slice(7));
          assert.deepEqual(errors, []);
          assert.equal(extra, 0);
        }
      } finally {
        await Promise.all([...clients, ...servers].map((f) => f.stop()));
      }
    });
  });
}
