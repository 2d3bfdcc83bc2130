import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { hostname } from 'node:os';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { type Context, type ContextOptions, createContext } from '../../src/service/context.ts';
import { selfSignedCertificate } from '../helpers/certificate.ts';
import { openClient } from './client.ts';
import { httpRequest, rawRequest } from './raw-http.ts';

const noop = () => {};

// Whatever a test leaves open (when an assertion fails halfway) is closed after it.
const contexts: Context[] = [];
const servers: Server[] = [];
async function tracked(options: ContextOptions): Promise<Context> {
  const context = await createContext(options);
  contexts.push(context);
  return context;
}
function trackedServer(listener?: RequestListener): Server {
  const server = createServer(listener);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.destroy({ timeout: 500 })));
  for (const server of servers.splice(0)) {
    server.close();
    server.closeAllConnections();
  }
});

describe('service context lifecycle', () => {
  it('destroy() closes every socket with 1001 and stops listening', async () => {
    const context = await tracked({ host: '127.0.0.1', protocols: { echo: noop, chat: noop } });
    const port = context.port;
    assert.ok(port > 0);
    const clients = await Promise.all([
      openClient(port, 'echo'),
      openClient(port, 'chat'),
      openClient(port, 'chat'),
      openClient(port),
    ]);
    const reasons: string[] = [];
    for (const c of clients)
      c.ws.on('close', (_code: number, reason: Buffer) => reasons.push(reason.toString()));
    assert.equal(context.sockets.size, 4);
    await context.destroy();
    assert.deepEqual(await Promise.all(clients.map((c) => c.closed)), [1001, 1001, 1001, 1001]);
    assert.deepEqual(reasons, ['going away', 'going away', 'going away', 'going away']);
    assert.equal(context.sockets.size, 0);
    assert.equal(context.server.listening, false);
    const refused = net.connect(port, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    await context.destroy(); // twice is fine
  });

  it('destroy() terminates a client that never answers the close after the timeout', async () => {
    const context = await tracked({ host: '127.0.0.1', protocols: { echo: noop } });
    const stubborn = net.connect(context.port, '127.0.0.1');
    await once(stubborn, 'connect');
    stubborn.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const chunks: Buffer[] = [];
    stubborn.on('data', (c: Buffer) => chunks.push(c)); // reads, but never answers the close frame
    stubborn.on('error', noop);
    while (context.sockets.size === 0) await new Promise((resolve) => setImmediate(resolve));
    const ended = once(stubborn, 'close');
    await context.destroy({ timeout: 50 });
    await ended;
    const bytes = Buffer.concat(chunks);
    const close = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
    assert.equal(close.toString('hex'), `880c03e9${Buffer.from('going away').toString('hex')}`); // CLOSE 1001
  });

  it('refuses upgrades while shutting down', async () => {
    const context = await tracked({ host: '127.0.0.1', protocols: { echo: noop } });
    const server = trackedServer();
    server.on('upgrade', (req, socket, head) => context.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await context.destroy();
    const res = await rawRequest(
      (server.address() as AddressInfo).port,
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.equal(res.status, 503);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('attaches to an existing server, which keeps its own requests and keeps running after destroy', async () => {
    const server = trackedServer((_req, res) => res.end('app'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const context = await tracked({
      server,
      protocols: { echo: (ws) => ws.onReceive((s, d) => s.write(d)) },
    });
    const port = (server.address() as AddressInfo).port;
    assert.equal(context.port, port);
    const client = await openClient(port, 'echo');
    client.ws.send('hello');
    await client.received(1);
    assert.deepEqual(client.messages, ['hello']);
    assert.equal((await rawRequest(port, httpRequest('GET', '/'))).body.toString(), 'app');
    await context.destroy();
    assert.equal(await client.closed, 1001);
    assert.equal(server.listening, true);
    assert.equal((await rawRequest(port, httpRequest('GET', '/'))).body.toString(), 'app');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('handleUpgrade adopts upgrades from any other server', async () => {
    const context = await tracked({ host: '127.0.0.1', protocols: { chat: noop } });
    const other = trackedServer();
    other.on('upgrade', (req, socket, head) => context.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const client = await openClient((other.address() as AddressInfo).port, 'chat');
    assert.equal(context.broadcast('chat', 'via context').delivered, 1);
    await client.received(1);
    assert.deepEqual(client.messages, ['via context']);
    await context.destroy();
    assert.equal(await client.closed, 1001);
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });

  it('routes HTTP: mounts first, then onHttp, else 404', async () => {
    const dir = fileURLToPath(new URL('./fixtures/', import.meta.url));
    const context = await tracked({
      host: '127.0.0.1',
      mounts: { '/files': dir },
      onHttp: (req, res) => {
        if (req.url === '/hello') res.end('hello from onHttp');
        else if (req.url === '/fail') throw new Error('handler failed');
        else {
          res.statusCode = 404;
          res.end('custom 404');
        }
      },
      onError: noop,
    });
    const get = (target: string) => rawRequest(context.port, httpRequest('GET', target));
    const file = await get('/files/drop-privileges.ts');
    assert.equal(file.status, 200);
    assert.match(file.body.toString(), /drops to nobody/);
    assert.equal((await get('/hello')).body.toString(), 'hello from onHttp');
    assert.equal((await get('/elsewhere')).body.toString(), 'custom 404');
    assert.equal((await get('/fail')).status, 500);
    await context.destroy();

    const bare = await tracked({ host: '127.0.0.1' });
    assert.equal((await rawRequest(bare.port, httpRequest('GET', '/'))).status, 404);
    await bare.destroy();
  });

  it('canonicalHostname() is the machine name', async () => {
    const context = await tracked({ host: '127.0.0.1' });
    assert.equal(context.canonicalHostname(), hostname());
    await context.destroy();
  });

  it('serves wss:// with tls.cert and tls.key', async () => {
    const { cert, key } = selfSignedCertificate();
    const context = await tracked({
      host: '127.0.0.1',
      tls: { cert, key },
      protocols: { echo: (ws) => ws.onReceive((s, d) => s.write(d)) },
    });
    const ws = new WebSocket(`wss://127.0.0.1:${context.port}/`, 'echo', { ca: cert });
    await once(ws, 'open');
    ws.send('secure');
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(data.toString(), 'secure');
    const closed = once(ws, 'close');
    await context.destroy();
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
  });

  it('rejects when the port is taken', async () => {
    const first = await tracked({ host: '127.0.0.1' });
    await assert.rejects(tracked({ host: '127.0.0.1', port: first.port }), { code: 'EADDRINUSE' });
    await first.destroy();
  });

  it('drops to uid/gid nobody after binding when started as root', {
    skip: process.getuid?.() !== 0 ? 'not running as root: privileges cannot be dropped' : false,
  }, async () => {
    const fixture = fileURLToPath(new URL('./fixtures/drop-privileges.ts', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', fixture], { timeout: 30_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      );
    });
    const result = JSON.parse(stdout) as { uid: number; gid: number; groups: number[]; body: string };
    assert.equal(result.uid, 65534);
    assert.equal(result.gid, 65534);
    assert.deepEqual(result.groups, [65534]);
    assert.equal(result.body, 'served by uid 65534 gid 65534');
  });
});
