import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { type RedisServer, startRedis, subscribers } from '../helpers/redis.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/workers.ts', import.meta.url));

interface Pool {
  child: ChildProcess;
  port: number;
  pids: number[];
  stderr: string[];
}

async function startPool(env: Record<string, string> = {}): Promise<Pool> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, WORKERS: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening .*\n/.exec(out);
      if (match) resolve(match[0].trim());
    });
    child.once('exit', (code) => reject(new Error(`pool exited (${code}): ${stderr.join('')}`)));
  });
  const [, port, pids] = line.split(' ') as [string, string, string];
  return { child, port: Number(port), pids: pids.split(',').map(Number), stderr };
}

async function stopPool(pool: Pool): Promise<number | null> {
  if (pool.child.exitCode !== null) return pool.child.exitCode;
  const exited = once(pool.child, 'exit');
  pool.child.kill('SIGTERM');
  const [code] = await exited;
  return code as number | null;
}

interface RoomClient {
  ws: WebSocket;
  pid: number;
  messages: string[];
  closed: Promise<number>;
  next(match: (message: string) => boolean): Promise<string>;
}

async function join(port: number): Promise<RoomClient> {
  // A connection node:cluster's primary accepted for a worker that died as it was handed over is never
  // answered nor closed: the handshake deadline turns it into a retry.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'room', { handshakeTimeout: 5_000 });
  const messages: string[] = [];
  const waiters: [(m: string) => boolean, (m: string) => void][] = [];
  ws.on('message', (data) => {
    const message = data.toString();
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter[0](message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter[1](message);
      }
    }
  });
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const next = (match: (m: string) => boolean) =>
    new Promise<string>((resolve) => {
      const seen = messages.find(match);
      if (seen !== undefined) resolve(seen);
      else waiters.push([match, resolve]);
    });
  // A connection the kernel or the primary handed to a worker that just died closes before its greeting.
  const first = await Promise.race([
    next((m) => m.startsWith('pid ')),
    closed.then((code) => {
      throw new Error(`closed (${code}) before the worker greeted`);
    }),
  ]);
  return { ws, pid: Number(first.slice(4)), messages, closed, next };
}

/** join(), again after a short pause when the connection was lost to a worker that is going away. */
async function joinSurely(port: number, attempts = 50): Promise<RoomClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await join(port);
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Clients until two workers are covered (round robin or the kernel spreads them). */
async function clientsOnEveryWorker(port: number, pids: readonly number[]): Promise<RoomClient[]> {
  const clients: RoomClient[] = [];
  while (!pids.every((pid) => clients.some((c) => c.pid === pid)) && clients.length < 40) {
    clients.push(await joinSurely(port));
  }
  assert.ok(
    pids.every((pid) => clients.some((c) => c.pid === pid)),
    'connections reached every worker',
  );
  return clients;
}

/**
 * Each of two speakers (on different workers) is heard by every client. A worker's subscription reaches the
 * others through the primary a moment after its socket was greeted, so a speaker says its line again every
 * 50 ms until all have heard it (a pub/sub message sent before a subscription arrives is not for it).
 */
async function everyoneHears(clients: RoomClient[]): Promise<void> {
  const speaker = clients[0]!;
  const listener = clients.find((c) => c.pid !== speaker.pid)!;
  for (const [who, text] of [
    [speaker, `hello from ${speaker.pid}`],
    [listener, 'and back'],
  ] as const) {
    const line = `${who.pid}: ${text}`;
    const heard = Promise.all(clients.map((c) => c.next((m) => m === line)));
    let done = false;
    heard.then(() => (done = true));
    for (let tries = 0; !done; tries++) {
      assert.ok(tries < 400, `everyone heard ${JSON.stringify(line)}`);
      who.ws.send(text);
      await Promise.race([heard, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
  }
}

describe('runWorkers', () => {
  it('N workers on one port share topics through cluster IPC; SIGTERM closes every socket with 1001 and exits 0', async () => {
    const pool = await startPool();
    assert.equal(pool.pids.length, 2);
    const clients = await clientsOnEveryWorker(pool.port, pool.pids);
    await everyoneHears(clients);
    const codes = clients.map((c) => c.closed);
    assert.equal(await stopPool(pool), 0);
    assert.deepEqual(new Set(await Promise.all(codes)), new Set([1001]));
  });

  it('a worker that dies is replaced, and the replacement shares the topics', async () => {
    const pool = await startPool();
    try {
      const [victim, survivor] = pool.pids as [number, number];
      const before = await clientsOnEveryWorker(pool.port, pool.pids);
      process.kill(victim, 'SIGKILL');
      await Promise.all(before.filter((c) => c.pid === victim).map((c) => c.closed));
      const clients: RoomClient[] = before.filter((c) => c.pid === survivor);
      // Connections now go to the survivor, and to the replacement once it listens.
      for (let tries = 0; !clients.some((c) => c.pid !== survivor); tries++) {
        assert.ok(tries < 500, 'a connection reached the replacement worker');
        clients.push(await joinSurely(pool.port));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.match(
        pool.stderr.join(''),
        new RegExp(`worker \\d \\(pid ${victim}\\) died \\(SIGKILL\\); replacing it`),
      );
      await everyoneHears([
        clients.find((c) => c.pid !== survivor)!,
        ...clients.filter((c) => c.pid === survivor),
      ]);
      for (const c of clients) c.ws.close();
    } finally {
      await stopPool(pool);
    }
  });

  describe('with Redis', () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis.stop());

    it('workers share topics through Redis when it is given', async () => {
      const pool = await startPool({ REDIS_URL: redis.url });
      try {
        const clients = await clientsOnEveryWorker(pool.port, pool.pids);
        await subscribers(redis, { 'tslay:t:room': 2 });
        await everyoneHears(clients);
        for (const c of clients) c.ws.close();
      } finally {
        assert.equal(await stopPool(pool), 0);
      }
    });
  });
});
