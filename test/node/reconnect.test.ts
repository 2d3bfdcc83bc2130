import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { HandshakeError } from '../../src/node/errors.ts';
import {
  type ReconnectingEvents,
  ReconnectingWebSocket,
  type ReconnectOptions,
} from '../../src/node/reconnect.ts';
import { handleUpgrade, rejectUpgrade } from '../../src/node/upgrade.ts';
import type { WebSocket } from '../../src/node/websocket.ts';
import { PythonPeer, pythonWebsocketsAvailable } from '../interop/peers.ts';

/** Fast, deterministic backoff for tests: random() is 0.5, so every delay is known in advance. */
const FAST: ReconnectOptions = {
  initialDelay: 40,
  minDelay: 20,
  maxDelay: 100,
  factor: 2,
  jitter: 0.5,
  random: () => 0.5,
};

type Mode = { refuse: number } | { accept: true; onOpen?: (ws: WebSocket) => void };

/** A server whose answer to the upgrade the test changes; it counts live connections and the most at once. */
async function controlledServer(initial: Mode) {
  let mode = initial;
  let live = 0;
  let mostAtOnce = 0;
  let upgrades = 0;
  const sockets = new Set<WebSocket>();
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => {
    upgrades++;
    if ('refuse' in mode) return rejectUpgrade(socket, mode.refuse);
    const ws = handleUpgrade(req, socket, head);
    if (ws === null) return;
    sockets.add(ws);
    mostAtOnce = Math.max(mostAtOnce, ++live);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', () => {
      live--;
      sockets.delete(ws);
    });
    mode.onOpen?.(ws);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    set(next: Mode) {
      mode = next;
    },
    get upgrades() {
      return upgrades;
    },
    get mostAtOnce() {
      return mostAtOnce;
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function record(client: ReconnectingWebSocket) {
  const events: string[] = [];
  const delays: number[] = [];
  client.on('open', (_ws, attempt) => events.push(`open ${attempt}`));
  client.on('close', (code) => events.push(`close ${code}`));
  client.on('failed', (error) =>
    events.push(`failed ${(error as HandshakeError).status ?? (error as HandshakeError).code}`),
  );
  client.on('retry', ({ delay }) => delays.push(delay));
  client.on('end', ({ reason, code }) => events.push(`end ${reason}${code === undefined ? '' : ` ${code}`}`));
  return { events, delays };
}

const next = <E extends keyof ReconnectingEvents>(client: ReconnectingWebSocket, event: E) =>
  once(client, event) as Promise<ReconnectingEvents[E]>;

describe('ReconnectingWebSocket', () => {
  it('retries a server that answers 503 with growing delays, then opens once it accepts', async () => {
    const server = await controlledServer({ refuse: 503 });
    const client = new ReconnectingWebSocket(server.url, { reconnect: FAST });
    const { events, delays } = record(client);
    while (delays.length < 4) await next(client, 'retry');
    // 1st: random × initialDelay; then minDelay × factor^(n-2), capped at maxDelay, less jitter × random.
    assert.deepEqual(delays.slice(0, 4), [20, 15, 30, 60]);
    server.set({ accept: true });
    const [, attempt] = await next(client, 'open');
    assert.ok(attempt >= 5);
    assert.deepEqual(events.slice(0, 4), ['failed 503', 'failed 503', 'failed 503', 'failed 503']);
    client.close();
    assert.equal(server.mostAtOnce, 1);
    await server.close();
  });

  it('ends without retrying when the handshake is refused with 403, or the server closes with a final code', async () => {
    const server = await controlledServer({ refuse: 403 });
    const refused = new ReconnectingWebSocket(server.url, { reconnect: FAST });
    const [{ reason, error }] = await next(refused, 'end');
    assert.equal(reason, 'final-status');
    assert.ok(error instanceof HandshakeError && error.status === 403);
    assert.equal(server.upgrades, 1);

    server.set({ accept: true, onOpen: (ws) => ws.close(1008, 'policy') });
    const closing = new ReconnectingWebSocket(server.url, { reconnect: FAST });
    const { events } = record(closing);
    await next(closing, 'end');
    assert.deepEqual(events, ['open 1', 'close 1008', 'end final-code 1008']);
    assert.throws(() => closing.send('late'), { name: 'InvalidStateError' });
    await server.close();
  });

  it('close() by the application is final: no reconnection follows', async () => {
    const server = await controlledServer({ accept: true });
    const client = new ReconnectingWebSocket(server.url, { reconnect: FAST });
    const { events } = record(client);
    await next(client, 'open');
    client.close(1000);
    await new Promise((resolve) => setTimeout(resolve, 150)); // longer than any retry delay of FAST
    assert.deepEqual(events, ['open 1', 'end closed', 'close 1000']);
    assert.equal(server.upgrades, 1);
    await server.close();
  });

  it('resets the backoff only after a connection stayed open for stableAfter', async () => {
    let drop = 0;
    const server = await controlledServer({
      accept: true,
      onOpen: (ws) => setTimeout(() => ws.close(1001), drop),
    });
    const client = new ReconnectingWebSocket(server.url, { reconnect: { ...FAST, stableAfter: 60 } });
    const { delays } = record(client);
    while (delays.length < 3) await next(client, 'retry');
    assert.deepEqual(delays.slice(0, 3), [20, 15, 30], 'dropped at once: the backoff keeps growing');
    drop = 150; // now each connection outlives stableAfter
    const before = delays.length;
    while (delays.length < before + 3) await next(client, 'retry');
    assert.deepEqual(
      delays.slice(before + 1, before + 3),
      [20, 20],
      'after a stable connection: the first delay again',
    );
    client.close();
    assert.equal(server.mostAtOnce, 1, 'never two live sockets');
    await server.close();
  });

  it('queues messages while disconnected, up to its bounds, and sends them in order on the next connection', async () => {
    const server = await controlledServer({ refuse: 503 });
    const client = new ReconnectingWebSocket(server.url, { reconnect: { ...FAST, maxQueued: 2 } });
    client.send('first');
    client.send(new Uint8Array([2]));
    assert.throws(() => client.send('third'), { code: 'QUEUE_FULL' });
    assert.equal(client.queued, 2);
    server.set({ accept: true });
    const got: string[] = [];
    client.on('message', (data, isBinary) =>
      got.push(isBinary ? `bin:${data.toString('hex')}` : data.toString()),
    );
    await next(client, 'open');
    while (got.length < 2) await next(client, 'message');
    assert.deepEqual(got, ['first', 'bin:02']);
    client.close();
    await server.close();
  });

  it('rejects bad options with a TypeError that names them', () => {
    assert.throws(
      () => new ReconnectingWebSocket('ws://127.0.0.1:9/', { reconnect: { factor: 0.5 } }),
      /reconnect.factor/,
    );
    assert.throws(
      () => new ReconnectingWebSocket('ws://127.0.0.1:9/', { reconnect: { jitter: 2 } }),
      /reconnect.jitter/,
    );
  });

  it('stays connected to a Python websockets server that is killed and restarted', {
    skip: !pythonWebsocketsAvailable() && 'python3-websockets is not installed',
  }, async () => {
    let peer = new PythonPeer(['server']);
    const { port } = (await peer.nextJson()) as { port: number };
    const client = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, { reconnect: FAST });
    const { events } = record(client);
    const got: string[] = [];
    client.on('message', (data) => got.push(data.toString()));
    await next(client, 'open');
    client.send('before');
    while (got.length < 1) await next(client, 'message');
    peer.kill();
    await next(client, 'close');
    client.send('while down'); // queued
    await next(client, 'failed'); // nothing listens on the port now
    peer = new PythonPeer(['server', '--port', String(port)]);
    await peer.nextJson();
    await next(client, 'open');
    while (got.length < 2) await next(client, 'message');
    assert.deepEqual(got, ['before', 'while down']);
    assert.equal(events[0], 'open 1');
    assert.equal(events[1], 'close 1006');
    assert.match(events.at(-1)!, /^open \d+$/);
    client.close();
    await next(client, 'close');
    peer.kill();
    await peer.exit();
  });
});
