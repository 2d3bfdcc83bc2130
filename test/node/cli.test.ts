import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { selfSignedCertificate } from '../helpers/certificate.ts';
import { listeningUrl, run } from '../helpers/cli.ts';

// `tslay connect` uses the environment's proxy by default: these tests talk to 127.0.0.1 directly, whatever the
// environment they run in says (test/node/proxy.test.ts tests the proxies).
for (const name of ['http_proxy', 'https_proxy', 'all_proxy', 'no_proxy']) {
  delete process.env[name];
  delete process.env[name.toUpperCase()];
}

async function echoOnce(client: WsClient, data: string | Buffer): Promise<[Buffer, boolean]> {
  client.send(data);
  const [reply, isBinary] = (await once(client, 'message')) as [Buffer, boolean];
  return [reply, isBinary];
}

describe('tslay echo', () => {
  test('echoes text and binary with their type; SIGTERM closes clients with 1001 and exits 0', async () => {
    const r = run(['echo', '--port', '0', '--protocol', 'echo']);
    const url = await listeningUrl(r);
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    const client = new WsClient(url, ['echo']);
    await once(client, 'open');
    assert.equal(client.protocol, 'echo');
    const [text, textIsBinary] = await echoOnce(client, 'héllo');
    assert.deepEqual([text.toString(), textIsBinary], ['héllo', false]);
    const [bytes, bytesAreBinary] = await echoOnce(client, Buffer.from([0, 255, 7]));
    assert.deepEqual([[...bytes], bytesAreBinary], [[0, 255, 7], true]);
    const closed = once(client, 'close') as Promise<[number, Buffer]>;
    r.child.kill('SIGTERM');
    const [code] = await closed;
    assert.equal(code, 1001);
    assert.equal(await r.exit, 0);
  });

  test('--tls-cert/--tls-key serve wss://', async () => {
    const { cert, key } = selfSignedCertificate();
    const dir = mkdtempSync(join(tmpdir(), 'tslay-cli-'));
    try {
      writeFileSync(join(dir, 'cert.pem'), cert);
      writeFileSync(join(dir, 'key.pem'), key);
      const r = run([
        'echo',
        '--port',
        '0',
        '--tls-cert',
        join(dir, 'cert.pem'),
        '--tls-key',
        join(dir, 'key.pem'),
      ]);
      const url = await listeningUrl(r);
      assert.match(url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
      const client = new WsClient(url, { ca: cert });
      await once(client, 'open');
      const [reply] = await echoOnce(client, 'over tls');
      assert.equal(reply.toString(), 'over tls');
      const closed = once(client, 'close');
      r.child.kill('SIGINT');
      await closed;
      assert.equal(await r.exit, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--help prints usage and exits 0; a bad option exits non-zero', async () => {
    const help = run(['echo', '--help']);
    assert.equal(await help.exit, 0);
    assert.match(help.stdout.join(''), /Usage: tslay echo/);
    const bad = run(['echo', '--port', 'nope']);
    assert.notEqual(await bad.exit, 0);
    assert.match(bad.stderr.join(''), /invalid port/);
  });
});

describe('tslay connect', () => {
  test('--echo sends every message back with its type, exits 0 on a clean close', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    const replies: [string, boolean][] = [];
    let header: string | string[] | undefined;
    wss.on('connection', (peer, req) => {
      header = req.headers['x-test'];
      peer.on('message', (data: Buffer, isBinary) => {
        replies.push([data.toString('hex'), isBinary]);
        if (replies.length === 2) peer.close(1000, 'done');
      });
      peer.send('ping me back');
      peer.send(Buffer.from([1, 2, 3]));
    });
    const r = run(['connect', `ws://127.0.0.1:${port}/`, '--echo', '--header', 'X-Test: yes']);
    assert.equal(await r.exit, 0, r.stderr.join(''));
    assert.equal(header, 'yes');
    assert.deepEqual(replies, [
      [Buffer.from('ping me back').toString('hex'), false],
      ['010203', true],
    ]);
    assert.match(r.stdout.join(''), /ping me back\n\[binary 3 bytes\] 010203\n/);
    await new Promise((resolve) => wss.close(resolve));
  });

  test('stdin lines become text messages; end of input closes with 1000', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    const received: string[] = [];
    const peerClosed = new Promise<number>((resolve) => {
      wss.on('connection', (peer) => {
        peer.on('message', (data: Buffer) => received.push(data.toString()));
        peer.on('close', (code) => resolve(code));
      });
    });
    const r = run(['connect', `ws://127.0.0.1:${port}/`]);
    r.child.stdin!.end('first line\nsecond line\n');
    assert.equal(await peerClosed, 1000);
    assert.equal(await r.exit, 0, r.stderr.join(''));
    assert.deepEqual(received, ['first line', 'second line']);
    await new Promise((resolve) => wss.close(resolve));
  });

  test('--reconnect: a lost connection is opened again, lines typed meanwhile are sent, end of input closes with 1000', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    const received: string[][] = [];
    const lastClosed = new Promise<number>((resolve) => {
      wss.on('connection', (peer) => {
        const messages: string[] = [];
        received.push(messages);
        peer.on('message', (data: Buffer) => {
          messages.push(data.toString());
          if (received.length === 1) peer.terminate(); // the first connection is lost after one line
        });
        peer.on('close', (code) => {
          if (received.length === 2) resolve(code);
        });
      });
    });
    const r = run(['connect', `ws://127.0.0.1:${port}/`, '--reconnect', '--max-delay', '50']);
    const stderrHas = async (pattern: RegExp) => {
      while (!pattern.test(r.stderr.join(''))) await once(r.child.stderr!, 'data');
    };
    await stderrHas(/connected \(attempt 1\)/);
    r.child.stdin!.write('one\n');
    await stderrHas(/closed: 1006 \(not clean\)\nreconnecting in \d+ ms \(attempt 2\)/);
    r.child.stdin!.write('two\n');
    await stderrHas(/connected \(attempt 2\)/);
    r.child.stdin!.end('three\n');
    assert.equal(await lastClosed, 1000);
    assert.equal(await r.exit, 0, r.stderr.join(''));
    assert.deepEqual(received, [['one'], ['two', 'three']]);
    await new Promise((resolve) => wss.close(resolve));
  });

  test('--reconnect gives up on a 401 answer (4xx is final) with a non-zero exit', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1', verifyClient: () => false });
    await once(wss, 'listening');
    const { port } = wss.address() as AddressInfo;
    const r = run(['connect', `ws://127.0.0.1:${port}/`, '--reconnect', '--max-delay', '50']);
    assert.equal(await r.exit, 1);
    assert.match(r.stderr.join(''), /failed: .*401.*\ngave up: final-status/);
    await new Promise((resolve) => wss.close(resolve));
  });

  test('a refused connection is reported on stderr with a non-zero exit', async () => {
    const probe = new WsServer({ port: 0, host: '127.0.0.1' });
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const r = run(['connect', `ws://127.0.0.1:${port}/`]);
    r.child.stdin!.end();
    assert.notEqual(await r.exit, 0);
    assert.match(r.stderr.join(''), /ECONNREFUSED|refused/i);
  });
});
