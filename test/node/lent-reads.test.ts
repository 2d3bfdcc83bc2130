/**
 * Sockets read into one buffer shared by every connection (pump.ts, `lendReads`): what the application is given
 * must stay intact after later reads reuse that buffer, and a paused WebSocket must stop reading.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { connect, serve } from '../../src/node/index.ts';
import { SEED, seededRandom } from '../helpers/feed.ts';
import { until } from '../helpers/net.ts';

/** Seeded messages of 0 to 70,000 bytes, text or binary: small ones share reads, large ones span several. */
function messages(seed: number, count: number): { data: Buffer; binary: boolean }[] {
  const random = seededRandom(seed);
  const out: { data: Buffer; binary: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const size = random() < 0.8 ? Math.floor(random() * 300) : Math.floor(random() * 70_000);
    const binary = random() < 0.5;
    const data = Buffer.alloc(size);
    // Text stays ASCII (valid UTF-8); binary takes any byte.
    for (let j = 0; j < size; j++)
      data[j] = binary ? Math.floor(random() * 256) : 0x20 + Math.floor(random() * 95);
    out.push({ data, binary });
  }
  return out;
}

describe('reads into the shared buffer', () => {
  test('every message a server got from ws is intact once all have arrived (none is a view of a read)', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    const expected = messages(SEED, 400);
    const kept: { data: Buffer; binary: boolean }[] = [];
    const all = new Promise<void>((resolve) => {
      server.on('connection', (ws) => {
        // A WebSocket's socket is read by the WebSocket alone: it emits no 'data' of its own.
        assert.equal(ws.socket.listenerCount('data'), 0);
        ws.on('message', (data, binary) => {
          kept.push({ data, binary });
          if (kept.length === expected.length) resolve();
        });
      });
    });
    const client = new WsClient(`ws://127.0.0.1:${server.port}/`);
    await once(client, 'open');
    for (const { data, binary } of expected) client.send(data, { binary });
    await all;
    for (let i = 0; i < expected.length; i++) {
      assert.equal(kept[i].binary, expected[i].binary, `message ${i}, seed ${SEED}`);
      assert.ok(
        kept[i].data.equals(expected[i].data),
        `message ${i} (${expected[i].data.length} B), seed ${SEED}`,
      );
    }
    client.close();
    await once(client, 'close');
    await server.close();
  });

  test('a client WebSocket past readHighWaterMark stops reading while ws keeps sending', async () => {
    const peer = new WsServer({ port: 0, host: '127.0.0.1' });
    await once(peer, 'listening');
    const port = (peer.address() as { port: number }).port;
    const sent = new Promise<WsClient>((resolve) => peer.on('connection', resolve));
    const ws = await connect(`ws://127.0.0.1:${port}/`, { readHighWaterMark: 16 * 1024 });
    const server = await sent;
    const chunk = Buffer.alloc(64 * 1024, 1);
    // 32 MiB offered: far beyond what loopback's kernel buffers take, so an unpaused reader would read MiBs.
    for (let i = 0; i < 512; i++) server.send(chunk);
    await until(() => ws.socket.isPaused());
    const atPause = ws.socket.bytesRead;
    // Loopback moves data on every turn of the event loop: a reader that went on would read MiBs in these.
    for (let turn = 0; turn < 200; turn++) await new Promise((resolve) => setImmediate(resolve));
    const readWhilePaused = ws.socket.bytesRead - atPause;
    // At most the read that was under way and the one node's stream restarts when it resumes (64 KiB each).
    assert.ok(readWhilePaused <= 2 * 64 * 1024, `read ${readWhilePaused} bytes while paused`);
    let received = 0;
    for (let m = ws.read(); received < 8; m = ws.read()) {
      if (m === null) await until(() => ws.readState === 'ready');
      else {
        assert.ok(m.data.equals(chunk));
        received++;
      }
    }
    ws.terminate();
    for (const client of peer.clients) client.terminate();
    await new Promise((resolve) => peer.close(resolve));
  });
});
