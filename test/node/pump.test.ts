/**
 * The pump writes what a message listener sends once the listener returns, in the one write of the chunk's
 * events. A listener that throws still gets what it sent before the throw written, without waiting for more
 * input, and the connection goes on. The peer is a ws client; the server runs in a child process, which keeps
 * the exception (an uncaught one, as in an application) away from this test runner.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket as WsClient } from 'ws';
import { spawnTs, waitFor } from '../helpers/child.ts';

const FIXTURE = new URL('./fixtures/throwing-listener.ts', import.meta.url).pathname;

function nextMessage(ws: WsClient): Promise<string> {
  return once(ws, 'message').then(([data]) => String(data));
}

test('a listener that sends, then throws: the reply is written with no further input; the connection goes on', async () => {
  const server = spawnTs([FIXTURE]);
  try {
    const port = Number((await waitFor(server, /listening on (\d+)\n/))[1]);
    const ws = new WsClient(`ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    // Nothing follows 'throw' until its reply is in: only the server's own flush can bring that reply.
    let reply = nextMessage(ws);
    ws.send('throw');
    assert.equal(await reply, 'sent before the throw');
    await waitFor(server, /uncaught listener failed\n/);
    reply = nextMessage(ws);
    ws.send('after');
    assert.equal(await reply, 'after');
    const closed = once(ws, 'close');
    ws.close(1000);
    const [code] = await closed;
    assert.equal(code, 1000);
  } finally {
    server.child.kill('SIGTERM');
    await server.exit;
  }
});
