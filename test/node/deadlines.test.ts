/**
 * Deadlines with one timer for many keys (deadlines.ts), and the close timeout of a WebSocket built on them: a peer
 * that never answers our close frame is cut off with CLOSE_TIMEOUT, one that answers is not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadlines } from '../../src/node/deadlines.ts';
import { serve, type WebSocket, type WebSocketServer } from '../../src/node/index.ts';
import { clientFrame, rawClient, until } from '../helpers/net.ts';

describe('Deadlines', () => {
  test('expires keys in the order they were added, once each; a deleted key never expires', async () => {
    const expired: string[] = [];
    const deadlines = new Deadlines<string>(20, (key) => expired.push(key));
    assert.equal(deadlines.add('a'), true);
    assert.equal(deadlines.add('b'), true);
    assert.equal(deadlines.add('a'), false, 'a second add keeps the first deadline');
    assert.equal(deadlines.add('c'), true);
    assert.equal(deadlines.delete('b'), true);
    assert.equal(deadlines.delete('b'), false);
    assert.deepEqual([...deadlines.keys()], ['a', 'c']);
    await until(() => expired.length === 2);
    // Added after the first sweep: it gets a timer of its own turn.
    deadlines.add('d');
    await until(() => expired.length === 3);
    await sleep(30);
    assert.deepEqual(expired, ['a', 'c', 'd']);
    assert.equal(deadlines.size, 0);
  });

  test('a timeout past the timers range is waited for, not fired at once', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const expired: string[] = [];
      const deadlines = new Deadlines<string>(Number.POSITIVE_INFINITY, (key) => expired.push(key));
      deadlines.add('never');
      // node fires a timer past 2^31-1 ms after 1 ms, with a TimeoutOverflowWarning.
      await sleep(30);
      assert.deepEqual(expired, []);
      assert.deepEqual(
        warnings.map((w) => w.name),
        [],
      );
      deadlines.delete('never');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('WebSocket close timeout', () => {
  let server: WebSocketServer;
  const open: WebSocket[] = [];
  before(async () => {
    server = await serve({ port: 0, host: '127.0.0.1', closeTimeout: 50 });
    server.on('connection', (ws) => open.push(ws));
  });
  after(() => server.close({ timeout: 100 }));

  test('a peer that never answers our close is cut off with CLOSE_TIMEOUT (1006, not clean)', async () => {
    const clients = await Promise.all([rawClient(server.port), rawClient(server.port)]);
    await until(() => open.length === 2);
    const results = open.splice(0).map(async (ws) => {
      const errors: string[] = [];
      ws.on('error', (error: Error & { code?: string }) => errors.push(error.code ?? error.message));
      // Not events.once: it would reject on the 'error' that comes first.
      const closed = new Promise<unknown[]>((resolve) => ws.once('close', (...args) => resolve(args)));
      ws.close(1000, 'bye');
      const [code, , wasClean] = (await closed) as [number, string, boolean];
      return { code, wasClean, errors };
    });
    for (const result of await Promise.all(results)) {
      assert.deepEqual(result, { code: 1006, wasClean: false, errors: ['CLOSE_TIMEOUT'] });
    }
    // Each raw client got the close frame (88 05 03e8 "bye"), then its connection was closed.
    for (const client of clients) {
      const rest = await client.rest;
      assert.equal(rest.toString('hex'), '880503e8627965');
    }
  });

  test('a peer that answers in time closes cleanly, and its deadline does not fire later', async () => {
    const client = await rawClient(server.port);
    await until(() => open.length === 1);
    const ws = open.pop()!;
    const errors: string[] = [];
    ws.on('error', (error: Error & { code?: string }) => errors.push(error.code ?? error.message));
    const closed = new Promise<unknown[]>((resolve) => ws.once('close', (...args) => resolve(args)));
    client.socket.once('data', () => client.socket.end(clientFrame(0x8, new Uint8Array([0x03, 0xe8]))));
    ws.close(1000);
    const [code, , wasClean] = (await closed) as [number, string, boolean];
    assert.deepEqual({ code, wasClean }, { code: 1000, wasClean: true });
    await sleep(80);
    assert.deepEqual(errors, []);
    await client.rest;
  });
});
