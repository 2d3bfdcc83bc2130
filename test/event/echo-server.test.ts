import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';

/** Starts the example and waits for its "listening on" line. */
async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/echo-server.ts', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  for await (const chunk of child.stdout!) {
    output += chunk;
    const match = /listening on (ws:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
    if (match) return { child, url: match[1] };
  }
  throw new Error(`the echo server exited without listening: ${output}`);
}

async function connect(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return ws;
}

async function roundTrip(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(ws, 'message');
  ws.send(data);
  const [payload, isBinary] = await reply;
  return { data: payload as Buffer, isBinary: isBinary as boolean };
}

describe('examples/echo-server.ts (the wslay tutorial)', () => {
  let server: { child: ChildProcess; url: string };
  before(async () => {
    server = await startServer();
  });
  after(() => {
    server.child.kill();
  });

  test('echoes text and binary messages, then closes cleanly', async () => {
    const ws = await connect(server.url);
    const text = await roundTrip(ws, 'Hello, wslay');
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString(), 'Hello, wslay');
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 0xff));
    const binary = await roundTrip(ws, bytes);
    assert.equal(binary.isBinary, true);
    assert.deepEqual(binary.data, bytes);
    const closed = once(ws, 'close');
    ws.close(1000, 'done');
    const [code, reason] = await closed;
    assert.equal(code, 1000, 'the server echoed the close code');
    assert.equal(String(reason), '');
  });

  test('serves one connection per client, concurrently', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    const [ra, rb] = await Promise.all([roundTrip(a, 'from a'), roundTrip(b, 'from b')]);
    assert.equal(ra.data.toString(), 'from a');
    assert.equal(rb.data.toString(), 'from b');
    a.close();
    b.close();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
  });
});
