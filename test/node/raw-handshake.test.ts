/**
 * serve() on its own port reads the request head from the raw socket (head-reader.ts): its answers byte for byte,
 * the bytes that follow the head, heads split anywhere, and the request object the callbacks get.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Opcode } from '../../src/core/constants.ts';
import { acceptKey } from '../../src/core/handshake.ts';
import { HeadReader } from '../../src/node/head-reader.ts';
import { serve, type UpgradeRequest, type WebSocket, type WebSocketServer } from '../../src/node/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import {
  clientFrame,
  collect,
  exchange,
  KEY,
  openSocket,
  serverFrame,
  until,
  upgradeRequest,
} from '../helpers/net.ts';

/** The whole answer to a refused request: status line, our fixed headers, extra headers, then the body. */
function refusal(status: string, body: string, extra = ''): string {
  return (
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${body.length}\r\n${extra}\r\n${body}`
  );
}

const ACCEPTED =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Accept: ${acceptKey(KEY)}\r\n\r\n`;

function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

describe('raw handshake: refusals on the wire', () => {
  let server: WebSocketServer;
  let port: number;
  before(async () => {
    server = await serve({ port: 0, host: '127.0.0.1', maxHeaderSize: 2048, path: '/ws' });
    port = server.port;
  });
  after(() => server.close());

  const req = (extra = '', path = '/ws') => upgradeRequest(port, extra, path);

  test('a malformed head → 400', async () => {
    assert.equal(await exchange(port, 'HELLO THERE\r\n\r\n'), refusal('400 Bad Request', '400 Bad Request'));
    const folded = req('X-A: 1\r\n  folded\r\n');
    assert.equal(await exchange(port, folded), refusal('400 Bad Request', '400 Bad Request'));
  });

  test('HTTP/1.0 → 400; a bad key → 400', async () => {
    const body = '400 HTTP/1.1 or higher required';
    const old = req().replace('HTTP/1.1', 'HTTP/1.0');
    assert.equal(await exchange(port, old), refusal('400 HTTP/1.1 or higher required', body));
    const key = '400 Missing or invalid Sec-WebSocket-Key header';
    const bad = req().replace(KEY, 'c2hvcnQ=');
    assert.equal(await exchange(port, bad), refusal('400 Missing or invalid Sec-WebSocket-Key header', key));
  });

  test('a POST upgrade and a plain PUT → 405 with Allow: GET', async () => {
    const expected = refusal('405 Method Not Allowed', '405 Method Not Allowed', 'Allow: GET\r\n');
    assert.equal(await exchange(port, req().replace(/^GET/, 'POST')), expected);
    assert.equal(await exchange(port, 'PUT /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'), expected);
  });

  test('version 8 → 426 with Sec-WebSocket-Version: 13; a plain GET → 426 with Upgrade: websocket', async () => {
    const version = await exchange(port, req().replace('Version: 13', 'Version: 8'));
    const body = '426 Unsupported WebSocket version';
    assert.equal(version, refusal(body, body, 'Sec-WebSocket-Version: 13\r\n'));
    const plain = await exchange(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    assert.equal(plain, refusal('426 Upgrade Required', '426 Upgrade Required', 'Upgrade: websocket\r\n'));
  });

  test('a head over maxHeaderSize → 431, in one chunk or in many', async () => {
    const expected = refusal('431 Request Header Fields Too Large', '431 Request Header Fields Too Large');
    assert.equal(await exchange(port, req(`X-Big: ${'a'.repeat(4096)}\r\n`)), expected);
    const socket = await openSocket(port);
    const received = collect(socket);
    socket.write(req().slice(0, 40));
    for (let i = 0; i < 40 && !socket.destroyed; i++) {
      socket.write(`X-Pad-${i}: ${'b'.repeat(100)}\r\n`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal((await received).toString('latin1'), expected);
  });

  test('another path → 404', async () => {
    assert.equal(await exchange(port, req('', '/other')), refusal('404 Not Found', '404 Not Found'));
  });

  test('a closed connection before the head ends gets no answer', async () => {
    const socket = await openSocket(port);
    const received = collect(socket);
    socket.end(req().slice(0, 30));
    assert.equal((await received).length, 0);
  });
});

describe('raw handshake: accepted requests', () => {
  let server: WebSocketServer;
  let port: number;
  before(async () => {
    server = await serve({ port: 0, host: '127.0.0.1' });
    server.on('connection', echo);
    port = server.port;
  });
  after(() => server.close());

  test('frames sent with the head (in the same chunk) are delivered', async () => {
    const socket = await openSocket(port);
    const received = collect(socket);
    const frames = Buffer.concat([clientFrame(Opcode.Text, 'one'), clientFrame(Opcode.Binary, hex`0102`)]);
    socket.write(Buffer.concat([Buffer.from(upgradeRequest(port), 'latin1'), frames]));
    await until(() => socket.bytesRead >= ACCEPTED.length + 9);
    socket.end(clientFrame(Opcode.Close, hex`03e8`));
    const bytes = await received;
    assert.equal(bytes.subarray(0, ACCEPTED.length).toString('latin1'), ACCEPTED);
    const after = toHex(bytes.subarray(ACCEPTED.length));
    const echoed = toHex(
      Buffer.concat([serverFrame(Opcode.Text, 'one'), serverFrame(Opcode.Binary, hex`0102`)]),
    );
    assert.equal(after, `${echoed}880203e8`);
  });

  test('a request split at every byte position opens and echoes', async () => {
    const request = Buffer.from(upgradeRequest(port), 'latin1');
    const frame = clientFrame(Opcode.Text, 'hi');
    for (let at = 1; at < request.length; at++) {
      const socket = await openSocket(port);
      socket.setNoDelay(true);
      const received = collect(socket);
      socket.write(request.subarray(0, at));
      await new Promise((resolve) => setImmediate(resolve));
      socket.write(Buffer.concat([request.subarray(at), frame]));
      await until(() => socket.bytesRead >= ACCEPTED.length + 4);
      socket.end(clientFrame(Opcode.Close, hex`03e8`));
      const bytes = await received;
      assert.equal(bytes.subarray(0, ACCEPTED.length).toString('latin1'), ACCEPTED, `split at ${at}`);
      assert.equal(toHex(bytes.subarray(ACCEPTED.length)), '8102686988020' + '3e8', `split at ${at}`);
    }
  });
});

describe('raw handshake: the request the callbacks see', () => {
  test('verifyClient and connection get method, url, httpVersion, lowercase headers and the socket', async () => {
    const seen: UpgradeRequest[] = [];
    const server = await serve({
      port: 0,
      host: '127.0.0.1',
      verifyClient: (req) => {
        seen.push(req);
        return true;
      },
      headers: (req) => ({ 'X-Path': req.url ?? '' }),
    });
    const connection = once(server, 'connection') as Promise<[WebSocket, UpgradeRequest]>;
    const socket = await openSocket(server.port);
    const received = collect(socket);
    socket.write(upgradeRequest(server.port, 'X-Custom: a\r\nx-custom: b\r\nCookie: c=1\r\n', '/p?q=1'));
    const [ws, req] = await connection;
    assert.equal(seen[0], req);
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/p?q=1');
    assert.equal(req.httpVersion, '1.1');
    assert.equal(req.headers.upgrade, 'websocket');
    assert.equal(req.headers.cookie, 'c=1');
    assert.deepEqual(req.headers['x-custom'], ['a', 'b']);
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
    ws.close(1000);
    socket.end(clientFrame(Opcode.Close, hex`03e8`));
    assert.match((await received).toString('latin1'), /\r\nX-Path: \/p\?q=1\r\n/);
    await server.close();
  });

  test('bytes that arrive while an async verifyClient runs are delivered after the upgrade', async () => {
    let release = () => {};
    const verified = new Promise<boolean>((resolve) => {
      release = () => resolve(true);
    });
    const server = await serve({ port: 0, host: '127.0.0.1', verifyClient: () => verified });
    server.on('connection', echo);
    const socket = await openSocket(server.port);
    const received = collect(socket);
    socket.write(upgradeRequest(server.port));
    await new Promise((resolve) => setTimeout(resolve, 10));
    socket.write(clientFrame(Opcode.Text, 'early'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    await until(() => socket.bytesRead >= ACCEPTED.length + 7);
    socket.end(clientFrame(Opcode.Close, hex`03e8`));
    const bytes = await received;
    assert.equal(
      toHex(bytes.subarray(ACCEPTED.length)),
      `${toHex(serverFrame(Opcode.Text, 'early'))}880203e8`,
    );
    await server.close();
  });
});

describe('raw handshake: shutdown', () => {
  test('close(): a request in verifyClient gets 503, a half-sent head is dropped', async () => {
    let release = () => {};
    const verified = new Promise<boolean>((resolve) => {
      release = () => resolve(true);
    });
    const server = await serve({ port: 0, host: '127.0.0.1', verifyClient: () => verified });
    const verifying = await openSocket(server.port);
    const answer = collect(verifying);
    verifying.write(upgradeRequest(server.port));
    const half = await openSocket(server.port);
    const nothing = collect(half);
    half.write(upgradeRequest(server.port).slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const closed = server.close();
    assert.equal((await nothing).length, 0);
    release();
    const body = '503 Service Unavailable';
    assert.equal((await answer).toString('latin1'), refusal(body, body));
    await closed;
  });

  test('handshakeTimeout: one timer destroys every stalled connection', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1', handshakeTimeout: 30 });
    server.on('connection', echo);
    const stalled = await Promise.all([openSocket(server.port), openSocket(server.port)]);
    const closes = stalled.map((socket) => collect(socket));
    stalled[1]?.write('GET / HTTP/1.1\r\n');
    const started = Date.now();
    for (const bytes of await Promise.all(closes)) assert.equal(bytes.length, 0);
    assert.ok(Date.now() - started >= 20);
    await server.close();
  });
});

/** Just enough of a socket for HeadReader: events, listener removal, and the writes of a refusal. */
class FakeSocket extends EventEmitter {
  written = '';
  destroyed = false;
  writable = true;
  write(bytes: Uint8Array): boolean {
    this.written += Buffer.from(bytes).toString('latin1');
    return true;
  }
  end(bytes?: Uint8Array): this {
    if (bytes) this.write(bytes);
    this.emit('finish');
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

describe('HeadReader: heads split anywhere', () => {
  const request = Buffer.from(upgradeRequest(80), 'latin1');
  const tail = Buffer.from([0x81, 0x00]);
  const whole = Buffer.concat([request, tail]);

  function read(pieces: Buffer[]): { req: UpgradeRequest; trailing: string }[] {
    const upgrades: { req: UpgradeRequest; trailing: string }[] = [];
    const reader = new HeadReader({
      maxHeaderSize: 1024,
      onUpgrade: (req, _socket, head) => upgrades.push({ req, trailing: toHex(head) }),
    });
    const socket = new FakeSocket();
    reader.read(socket as unknown as Socket);
    for (const piece of pieces) {
      if (socket.listenerCount('data') > 0) socket.emit('data', piece);
    }
    assert.equal(socket.listenerCount('data'), 0, 'the reader stops listening once the head is complete');
    return upgrades;
  }

  test('in two pieces at every position, and one byte at a time', () => {
    const expected = read([whole]);
    assert.equal(expected.length, 1);
    assert.equal(expected[0]?.trailing, '8100');
    const { socket: _, ...fields } = expected[0]!.req;
    for (let at = 1; at < whole.length; at++) {
      const [upgrade] = read([whole.subarray(0, at), whole.subarray(at)]);
      const { socket: __, ...got } = upgrade!.req;
      assert.deepEqual(got, fields, `split at ${at}`);
      // The bytes after the head are those of the chunk that completed it; later chunks are the WebSocket's.
      const trailing = at < request.length ? '8100' : toHex(whole.subarray(request.length, at));
      assert.equal(upgrade!.trailing, trailing, `split at ${at}`);
    }
    const bytes = [...whole].map((byte) => Buffer.from([byte]));
    const [oneByOne] = read(bytes);
    assert.equal(oneByOne?.req.url, '/');
    assert.equal(oneByOne?.trailing, '');
  });

  test('bare LF line ends are accepted as by the incremental parser', () => {
    const bare = Buffer.from(upgradeRequest(80).replaceAll('\r\n', '\n'), 'latin1');
    const [whole] = read([bare]);
    const [split] = read([bare.subarray(0, 10), bare.subarray(10)]);
    assert.equal(whole?.req.headers['sec-websocket-key'], KEY);
    assert.equal(split?.req.headers['sec-websocket-key'], KEY);
  });
});
