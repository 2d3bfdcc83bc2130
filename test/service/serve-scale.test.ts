import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { printed, type Run, run } from '../helpers/cli.ts';
import { type RedisServer, startRedis, subscribers } from '../helpers/redis.ts';
import { closeClient, openClient, type TestClient } from './client.ts';

async function listeningPort(r: Run): Promise<number> {
  const [, port] = await printed(r, /listening on http:\/\/127\.0\.0\.1:(\d+)\/\n/);
  return Number(port);
}

async function stop(r: Run): Promise<number | null> {
  if (r.child.exitCode === null) r.child.kill('SIGTERM');
  return r.exit;
}

async function stderrLine(r: Run, pattern: RegExp): Promise<string> {
  for (;;) {
    const match = r.stderr
      .join('')
      .split('\n')
      .find((line) => pattern.test(line));
    if (match !== undefined) return match;
    if (r.child.exitCode !== null) throw new Error(`exited: ${r.stderr.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const chat = (port: number) => openClient(port, 'chat');

const parsed = (c: TestClient) => c.messages.map((m) => JSON.parse(m) as { type: string; text?: string });

/** Resolves once `client` has received chat messages with each of `texts` (one waiter per client at a time). */
async function hears(client: TestClient, ...texts: string[]): Promise<void> {
  const heard = () =>
    texts.every((text) => parsed(client).some((m) => m.type === 'message' && m.text === text));
  while (!heard()) await client.received(client.messages.length + 1);
}

/**
 * `sender` says `text` until every client has heard it: a process's subscription reaches the others a moment
 * after its first socket was greeted, and a message published before it arrives is not for that process.
 */
async function sayUntilHeard(sender: TestClient, text: string, clients: TestClient[]): Promise<void> {
  let done = false;
  const heard = Promise.all(clients.map((c) => hears(c, text))).then(() => {
    done = true;
  });
  for (let tries = 0; !done; tries++) {
    assert.ok(tries < 200, `every client heard ${JSON.stringify(text)}`);
    sender.ws.send(text);
    await Promise.race([heard, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
}

describe('tslay serve across processes', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  it('--redis: chat messages and notices reach chat sockets on every process; outages are logged', async () => {
    const servers = [0, 1].map(() => run(['serve', '--port', '0', '--redis', redis.url], 'ignore'));
    const clients: TestClient[] = [];
    try {
      const ports = await Promise.all(servers.map(listeningPort));
      const none = (await redis.command(['PUBSUB', 'NUMSUB', 'tslay:p:chat'])) as unknown[];
      assert.equal(Number(none[1]), 0, 'no chat socket yet, so no subscription');
      clients.push(await chat(ports[0]!));
      await subscribers(redis, { 'tslay:p:chat': 1 });
      clients.push(await chat(ports[1]!));
      await subscribers(redis, { 'tslay:p:chat': 2 });
      // The first client, on the first process, hears the second join on the second process.
      while (parsed(clients[0]!).filter((m) => m.type === 'join').length < 2) {
        await clients[0]!.received(clients[0]!.messages.length + 1);
      }
      clients[1]!.ws.send('from the second');
      clients[0]!.ws.send('from the first');
      await Promise.all(clients.map((c) => hears(c, 'from the second', 'from the first')));

      await redis.kill();
      await Promise.all(servers.map((s) => stderrLine(s, /^tslay: backplane down \(/)));
      await redis.start();
      await Promise.all(servers.map((s) => stderrLine(s, /^tslay: backplane up$/)));
      await Promise.all(
        servers.map((s) => stderrLine(s, /^tslay: backplane gap: .* lost on protocols chat \(reconnect\)$/)),
      );
      await sayUntilHeard(clients[1]!, 'after the outage', clients);
    } finally {
      await Promise.all(clients.map(closeClient));
      for (const s of servers) assert.equal(await stop(s), 0);
    }
  });

  it('--workers 2: chat reaches sockets on both workers; SIGTERM closes every socket with 1001 and exits 0', async () => {
    const server = run(['serve', '--port', '0', '--workers', '2'], 'ignore');
    const clients: TestClient[] = [];
    try {
      const port = await listeningPort(server);
      const { stdout } = await promisify(execFile)('pgrep', ['-P', String(server.child.pid)]);
      assert.equal(stdout.trim().split('\n').length, 2, 'two worker processes');
      // Connections alternate between the workers, so four clients cover both.
      for (let i = 0; i < 4; i++) clients.push(await chat(port));
      await sayUntilHeard(clients[0]!, 'to everyone', clients);
      await sayUntilHeard(clients[3]!, 'and back', clients);
      const closed = clients.map((c) => c.closed);
      assert.equal(await stop(server), 0);
      assert.deepEqual(new Set(await Promise.all(closed)), new Set([1001]));
    } finally {
      await stop(server);
    }
  });

  it('--redis without the redis package: a one-line error that says what to install', async () => {
    const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
    const hide = new URL('../helpers/without-redis.mjs', import.meta.url).href;
    const result = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--import', hide, main, 'serve', '--port', '0', '--redis', 'redis://127.0.0.1:9'],
      { timeout: 60_000 },
    ).then(
      () => null,
      (error: { code: number | null; signal: string | null; stderr: string }) => error,
    );
    assert.ok(result !== null, 'it fails');
    assert.equal(result.signal, null, 'it exits by itself');
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "tslay: --redis needs the 'redis' package (node-redis): npm install redis\n");
  });
});
