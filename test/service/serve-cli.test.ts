import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { printed, type Run, run } from '../helpers/cli.ts';
import { closeClient, openClient } from './client.ts';
import { httpRequest, rawRequest } from './raw-http.ts';

/** The port from the 'listening on http://HOST:PORT/' line. */
async function listeningPort(r: Run): Promise<number> {
  const [, port] = await printed(r, /listening on http:\/\/127\.0\.0\.1:(\d+)\/\n/);
  return Number(port);
}

describe('tslay serve', () => {
  it('serves the demo, echo and chat on one port; SIGTERM closes sockets with 1001 and exits 0', async () => {
    const r = run(['serve', '--port', '0'], 'ignore');
    try {
      const port = await listeningPort(r);
      const page = await rawRequest(port, httpRequest('GET', '/'));
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.match(page.body.toString(), /<script type="module" src="app.js">/);
      const script = await rawRequest(port, httpRequest('GET', '/app.js'));
      assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');

      const echo = await openClient(port); // no protocol: the first one, echo
      echo.ws.send('ping');
      echo.ws.send(Buffer.from([1, 2]));
      await echo.received(2);
      assert.deepEqual(echo.messages, ['ping', 'bin:0102']);

      const ann = await openClient(port, 'chat');
      await ann.received(1);
      const url = `ws://127.0.0.1:${port}/?name=bo`;
      const bo = new WebSocket(url, 'chat');
      const boMessages: string[] = [];
      bo.on('message', (data: Buffer) => boMessages.push(data.toString()));
      await once(bo, 'open');
      await ann.received(2);
      ann.ws.send('hello all');
      await ann.received(3);
      while (boMessages.length < 2) await once(bo, 'message');
      assert.deepEqual(
        ann.messages.map((m) => JSON.parse(m)),
        [
          { type: 'join', name: 'guest-1', users: 1 },
          { type: 'join', name: 'bo', users: 2 },
          { type: 'message', name: 'guest-1', text: 'hello all' },
        ],
      );
      assert.deepEqual(
        boMessages.map((m) => JSON.parse(m)),
        [
          { type: 'join', name: 'bo', users: 2 },
          { type: 'message', name: 'guest-1', text: 'hello all' },
        ],
      );
      bo.close(1000);
      await ann.received(4);
      assert.deepEqual(JSON.parse(ann.messages[3]!), { type: 'leave', name: 'bo', users: 1 });

      r.child.kill('SIGTERM');
      assert.deepEqual(await Promise.all([echo.closed, ann.closed]), [1001, 1001]);
      assert.equal(await r.exit, 0);
    } finally {
      r.child.kill('SIGKILL');
    }
  });

  it('serves a given directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslay-serve-'));
    writeFileSync(join(dir, 'index.html'), '<p>mine</p>');
    const r = run(['serve', dir, '--port', '0'], 'ignore');
    try {
      const port = await listeningPort(r);
      const page = await rawRequest(port, httpRequest('GET', '/'));
      assert.equal(page.body.toString(), '<p>mine</p>');
      const client = await openClient(port, 'echo');
      await closeClient(client);
      r.child.kill('SIGTERM');
      assert.equal(await r.exit, 0);
    } finally {
      r.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 for a directory that does not exist', async () => {
    const r = run(['serve', '/nonexistent/tslay-demo-dir', '--port', '0'], 'ignore');
    assert.equal(await r.exit, 1);
    assert.match(r.stderr.join(''), /not a directory: \/nonexistent\/tslay-demo-dir/);
  });
});
