/**
 * A send to more sockets than the pump writes in one turn (FLUSH_BUDGET) is written over several turns of the
 * event loop, FLUSH_BUDGET sockets per turn, and nothing is reordered: a later send to a socket whose turn has not
 * come yet still leaves after the earlier one. The peers are ws clients.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket as WsClient } from 'ws';
import { serve, type WebSocket } from '../../src/node/index.ts';
import { FLUSH_BUDGET } from '../../src/node/pump.ts';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test(`a send to ${2 * FLUSH_BUDGET + 10} sockets is written ${FLUSH_BUDGET} sockets per turn, in order`, {
  timeout: 60_000,
}, async () => {
  const count = 2 * FLUSH_BUDGET + 10;
  const server = await serve({ port: 0, host: '127.0.0.1' });
  const accepted: WebSocket[] = [];
  server.on('connection', (ws) => accepted.push(ws));
  const clients: WsClient[] = [];
  const received: string[][] = [];
  try {
    const opened: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const client = new WsClient(`ws://127.0.0.1:${server.port}/`);
      const messages: string[] = [];
      client.on('message', (data) => messages.push(String(data)));
      clients.push(client);
      received.push(messages);
      opened.push(once(client, 'open'));
    }
    await Promise.all(opened);
    while (accepted.length < count) await nextTurn();

    const before = accepted.map((ws) => ws.socket.bytesWritten);
    const written = () => accepted.filter((ws, i) => ws.socket.bytesWritten > before[i]!).length;
    for (const ws of accepted) ws.send('first');
    assert.equal(written(), 0, 'nothing is written before the sends are over');
    await nextTurn();
    assert.equal(written(), FLUSH_BUDGET, 'the first turn writes FLUSH_BUDGET sockets');
    // The last socket's turn has not come: this goes behind 'first' in its queue.
    const last = accepted[count - 1]!;
    last.send('second');
    await nextTurn();
    assert.equal(written(), 2 * FLUSH_BUDGET, 'the next turn writes the next FLUSH_BUDGET');
    await nextTurn();
    assert.equal(written(), count, 'the third turn writes the rest');

    // The clients' order of 'open' need not be the server's order of 'connection': match by arrival instead.
    while (received.some((messages) => messages.length === 0)) await nextTurn();
    while (!received.some((messages) => messages.length === 2)) await nextTurn();
    for (const messages of received) assert.equal(messages[0], 'first');
    const twice = received.filter((messages) => messages.length === 2);
    assert.equal(twice.length, 1);
    assert.deepEqual(twice[0], ['first', 'second']);
  } finally {
    for (const client of clients) client.terminate();
    await server.close({ timeout: 1000 });
  }
});
