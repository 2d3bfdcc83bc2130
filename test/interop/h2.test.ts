/**
 * WebSockets over HTTP/2 (RFC 8441) against independent peers: Python's `h2` as a scripted peer (frames and
 * WebSocket bytes built by hand: several WebSockets on one connection, flow control, resets, refusals), undici's
 * WebSocket with `allowH2`, and headless Chromium on a page served by the same h2 origin.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { WebSocket as WsClient } from 'ws';
import { serve, type WebSocket, type WebSocketServer } from '../../src/node/index.ts';
import { createContext } from '../../src/service/index.ts';
import { makeCertificate } from '../helpers/certificate.ts';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../helpers/chromium.ts';
import { listeningUrl, run } from '../helpers/cli.ts';
import { PEER_TIMEOUT, PYTHON } from './peers.ts';

const H2_PEER = fileURLToPath(new URL('./peers/h2_peer.py', import.meta.url));

function pythonH2Available(): boolean {
  return spawnSync(PYTHON, ['-c', 'import h2.connection'], { stdio: 'ignore' }).status === 0;
}

/** Runs one scenario of h2_peer.py and returns its JSON line. */
function h2Peer(port: number, scenario: string, path = '/ws'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [H2_PEER, String(port), scenario, path],
      { timeout: PEER_TIMEOUT },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`h2_peer.py ${scenario} failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout));
      },
    );
  });
}

interface Seen {
  ws: WebSocket;
  httpVersion: string;
  closed: Promise<number>;
}

/** An echo server with HTTP/2 on; every connection is recorded with its HTTP version and close code. */
async function h2EchoServer(
  options: Parameters<typeof serve>[0] = {},
): Promise<{ server: WebSocketServer; seen: Seen[] }> {
  const server = await serve({ port: 0, host: '127.0.0.1', http2: true, ...options });
  const seen: Seen[] = [];
  server.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    seen.push({ ws, httpVersion: req.httpVersion, closed });
  });
  return { server, seen };
}

const havePythonH2 = pythonH2Available();

describe('RFC 8441 with Python h2 as the peer', { skip: havePythonH2 ? false : 'python3-h2 missing' }, () => {
  let server: WebSocketServer;
  let seen: Seen[];
  before(async () => {
    ({ server, seen } = await h2EchoServer({ path: '/ws', protocols: ['superchat'] }));
  });
  after(() => server.close({ timeout: 1000 }));

  test('the server announces SETTINGS_ENABLE_CONNECT_PROTOCOL', { timeout: PEER_TIMEOUT }, async () => {
    const result = await h2Peer(server.port, 'settings');
    assert.equal(result.enableConnectProtocol, 1);
  });

  test('three WebSockets on one connection: 200, echoes, closes that end their streams', {
    timeout: PEER_TIMEOUT,
  }, async () => {
    const before = seen.length;
    const result = (await h2Peer(server.port, 'echo')) as {
      statuses: number[];
      headers: Record<string, string>[];
      echoes: string[][];
      closes: number[];
      ended: boolean[];
      resets: number[];
    };
    assert.deepEqual(result.statuses, [200, 200, 200]);
    assert.equal(result.headers[1]!['sec-websocket-protocol'], 'superchat');
    assert.equal(result.headers[0]!['sec-websocket-protocol'], undefined);
    // No key was sent, so no accept value comes back (RFC 8441 §5).
    assert.equal(result.headers[0]!['sec-websocket-accept'], undefined);
    assert.deepEqual(result.echoes, [
      ['message on stream 0'],
      ['message on stream 1'],
      ['message on stream 2'],
    ]);
    assert.deepEqual(result.closes, [1000, 1000, 1000]);
    assert.deepEqual(result.ended, [true, true, true]);
    assert.deepEqual(result.resets, [0, 0, 0], 'RST_STREAM(NO_ERROR) after END_STREAM');
    const mine = seen.slice(before);
    assert.equal(mine.length, 3);
    assert.deepEqual(
      mine.map((s) => s.httpVersion),
      ['2.0', '2.0', '2.0'],
    );
    const sessions = new Set(mine.map((s) => (s.ws.socket as unknown as { session: unknown }).session));
    assert.equal(sessions.size, 1, 'the three WebSockets share one HTTP/2 connection');
    assert.deepEqual(await Promise.all(mine.map((s) => s.closed)), [1000, 1000, 1000]);
  });

  test('a 16 MiB message on one stream does not stall the others (flow control per stream)', {
    timeout: PEER_TIMEOUT,
  }, async () => {
    const result = (await h2Peer(server.port, 'flow')) as {
      bEchoes: string[];
      aUnsentDuringUpload: number;
      aReceivedWhileHeld: number;
      aEchoLength: number;
      aEchoSame: boolean;
    };
    assert.deepEqual(
      result.bEchoes,
      Array.from({ length: 40 }, (_, i) => `b ${i}`),
    );
    // B's first round trips happened while most of A's upload was still to come...
    assert.ok(result.aUnsentDuringUpload > 8 << 20, `${result.aUnsentDuringUpload} bytes of A were unsent`);
    // ...and the next ones while the server kept A's echo within A's window (65,535 bytes).
    assert.ok(
      result.aReceivedWhileHeld <= 65_535,
      `A received ${result.aReceivedWhileHeld} bytes while held`,
    );
    assert.equal(result.aEchoLength, 16 << 20);
    assert.equal(result.aEchoSame, true);
  });

  test('a reset stream ends its WebSocket only (1006); the other goes on', {
    timeout: PEER_TIMEOUT,
  }, async () => {
    const before = seen.length;
    const result = await h2Peer(server.port, 'reset');
    assert.deepEqual(result, { a: ['before the reset'], b: ['after the reset'] });
    const [a, b] = seen.slice(before);
    assert.equal(await a!.closed, 1006);
    // B closed only when the peer's connection went away afterwards.
    assert.equal(await b!.closed, 1006);
  });

  test('requests that are no WebSocket handshake are refused with the right status', {
    timeout: PEER_TIMEOUT,
  }, async () => {
    const result = await h2Peer(server.port, 'bad');
    assert.deepEqual(result, {
      get: { status: 405 },
      unknownProtocol: { status: 501 },
      tunnel: { status: 501 },
      noVersion: { status: 400, version: '13' },
      version8: { status: 400, version: '13' },
      badProtocols: { status: 400 },
      otherPath: { status: 404 },
    });
  });

  test('HTTP/1.1 upgrades still work on the same port (ws client)', { timeout: PEER_TIMEOUT }, async () => {
    const before = seen.length;
    const client = new WsClient(`ws://127.0.0.1:${server.port}/ws`);
    await once(client, 'open');
    client.send('over http/1.1');
    const [echo] = await once(client, 'message');
    assert.equal(String(echo), 'over http/1.1');
    client.close(1000);
    assert.equal(seen[before]!.httpVersion, '1.1');
    assert.equal(await seen[before]!.closed, 1000);
  });
});

describe('RFC 8441 over TLS: ALPN, undici and Chromium', () => {
  let certificate: ReturnType<typeof makeCertificate>;
  before(() => {
    certificate = makeCertificate();
  });
  after(() => certificate.dispose());

  test('undici with allowH2 opens its WebSocket over h2 (and checks the accept value); without, over http/1.1', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const { cert, key } = certificate;
    // undici never ends its side of the stream: the server must finish the stream itself once the close
    // handshake is done, not wait for the close timeout (set past this test's own timeout).
    const { server, seen } = await h2EchoServer({ tls: { cert, key }, closeTimeout: 2 * PEER_TIMEOUT });
    t.after(() => server.close({ timeout: 1000 }));
    const versions: string[] = [];
    for (const allowH2 of [true, false]) {
      const dispatcher = new Agent({ allowH2, connect: { ca: cert } });
      t.after(() => dispatcher.close());
      const ws = new UndiciWebSocket(`wss://127.0.0.1:${server.port}/`, { dispatcher });
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = (event) =>
          reject(new Error(`undici WebSocket failed: ${String((event as { message?: string }).message)}`));
      });
      const echo = new Promise<string>((resolve) => {
        ws.onmessage = (event) => resolve(String(event.data));
      });
      ws.send(`undici, allowH2 ${allowH2}`);
      assert.equal(await echo, `undici, allowH2 ${allowH2}`);
      const closed = new Promise<number>((resolve) => {
        ws.onclose = (event) => resolve(event.code);
      });
      ws.close(1000);
      assert.equal(await closed, 1000);
      assert.equal(await seen.at(-1)!.closed, 1000);
      versions.push(seen.at(-1)!.httpVersion);
    }
    assert.deepEqual(versions, ['2.0', '1.1']);
  });

  test('Chromium on a page of the same h2 origin: the page and its WebSocket go over h2', {
    timeout: PEER_TIMEOUT,
    skip: chromiumAvailable() ? false : 'chromium missing',
  }, async (t) => {
    const { cert, key } = certificate;
    const dir = mkdtempSync(join(tmpdir(), 'tslay-h2-page-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>h2</title>');
    const versions: string[] = [];
    const context = await createContext({
      host: '127.0.0.1',
      tls: { cert, key },
      http2: true,
      mounts: dir,
      protocols: {
        echo: (ws, req) => {
          versions.push(req.httpVersion);
          ws.onReceive((_ws, data, isBinary) => ws.write(data, isBinary ? 'binary' : 'text'));
        },
      },
    });
    t.after(() => context.destroy({ timeout: 1000 }));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'],
    });
    t.after(() => browser.close());
    const page = await browser.newPage();
    const origin = `https://127.0.0.1:${context.port}`;
    await page.goto(`${origin}/index.html`);
    const url = `wss://127.0.0.1:${context.port}/`;
    const result = await page.evaluate(`(async () => {
      const navigation = performance.getEntriesByType('navigation')[0];
      const ws = new WebSocket(${JSON.stringify(url)}, 'echo');
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error('WebSocket error'));
      });
      const echo = new Promise((resolve) => { ws.onmessage = (event) => resolve(event.data); });
      ws.send('from Chromium over h2');
      const data = await echo;
      ws.close(1000);
      return { page: navigation.nextHopProtocol, protocol: ws.protocol, data };
    })()`);
    assert.deepEqual(result, { page: 'h2', protocol: 'echo', data: 'from Chromium over h2' });
    assert.deepEqual(versions, ['2.0'], 'the WebSocket arrived as an extended CONNECT');
  });
});

describe('tslay echo --http2 and tslay serve --http2', {
  skip: havePythonH2 ? false : 'python3-h2 missing',
}, () => {
  test('tslay echo --http2: three WebSockets on one connection, Python h2 as the peer', {
    timeout: PEER_TIMEOUT,
  }, async () => {
    const r = run(['echo', '--port', '0', '--http2']);
    try {
      const port = Number(new URL(await listeningUrl(r)).port);
      const result = (await h2Peer(port, 'echo', '/')) as {
        statuses: number[];
        echoes: string[][];
        closes: number[];
      };
      assert.deepEqual(result.statuses, [200, 200, 200]);
      assert.deepEqual(result.echoes, [
        ['message on stream 0'],
        ['message on stream 1'],
        ['message on stream 2'],
      ]);
      assert.deepEqual(result.closes, [1000, 1000, 1000]);
    } finally {
      r.child.kill('SIGTERM');
      await r.exit;
    }
  });

  test('tslay serve --http2: SETTINGS_ENABLE_CONNECT_PROTOCOL, the echo protocol over h2, a reset', {
    timeout: PEER_TIMEOUT,
  }, async () => {
    const r = run(['serve', '--port', '0', '--http2']);
    try {
      const port = Number(new URL(await listeningUrl(r)).port);
      assert.deepEqual(await h2Peer(port, 'settings', '/'), { enableConnectProtocol: 1 });
      assert.deepEqual(await h2Peer(port, 'reset', '/'), { a: ['before the reset'], b: ['after the reset'] });
    } finally {
      r.child.kill('SIGTERM');
      await r.exit;
    }
  });
});
