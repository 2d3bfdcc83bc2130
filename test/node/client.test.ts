import assert from 'node:assert/strict';
import { once } from 'node:events';
import type * as net from 'node:net';
import { describe, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { WebSocketServer as WsServer } from 'ws';
import { Opcode } from '../../src/core/constants.ts';
import { connect, HandshakeError, serve } from '../../src/node/index.ts';
import { selfSignedCertificate } from '../helpers/certificate.ts';
import { freePort, rawServer, serverFrame, switchingProtocols } from '../helpers/net.ts';

type CloseArgs = [code: number, reason: string, wasClean: boolean];

describe('connect(): handshake errors are typed', () => {
  test('a URL that does not parse → INVALID_URL', async () => {
    await assert.rejects(connect('not a url'), { name: 'HandshakeError', code: 'INVALID_URL' });
  });

  test('a scheme other than ws/wss → INVALID_SCHEME', async () => {
    await assert.rejects(connect('ftp://127.0.0.1/'), { name: 'HandshakeError', code: 'INVALID_SCHEME' });
  });

  test('nobody listening → ECONNREFUSED', async () => {
    const port = await freePort();
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`), {
      name: 'HandshakeError',
      code: 'ECONNREFUSED',
    });
  });

  test('a non-101 answer → UNEXPECTED_STATUS with status and body', async () => {
    const raw = await rawServer((socket) => {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntry later',
      );
    });
    const error = await connect(`ws://127.0.0.1:${raw.port}/`).catch((e: unknown) => e);
    assert.ok(error instanceof HandshakeError);
    assert.deepEqual([error.code, error.status, error.body], ['UNEXPECTED_STATUS', 503, 'try later']);
    await raw.close();
  });

  test('the error body is bounded', async () => {
    const body = 'x'.repeat(100_000);
    const raw = await rawServer((socket) => {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    const error = (await connect(`ws://127.0.0.1:${raw.port}/`).catch((e: unknown) => e)) as HandshakeError;
    assert.equal(error.status, 400);
    assert.equal(error.body?.length, 4096);
    await raw.close();
  });

  test('a wrong Sec-WebSocket-Accept → BAD_ACCEPT', async () => {
    const raw = await rawServer((socket, request) => {
      socket.write(switchingProtocols(request, '', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='));
    });
    await assert.rejects(connect(`ws://127.0.0.1:${raw.port}/`), { code: 'BAD_ACCEPT' });
    await raw.close();
  });

  test('a subprotocol that was not offered → UNREQUESTED_PROTOCOL', async () => {
    const raw = await rawServer((socket, request) => {
      socket.write(switchingProtocols(request, 'Sec-WebSocket-Protocol: sneaky\r\n'));
    });
    await assert.rejects(connect(`ws://127.0.0.1:${raw.port}/`, { protocols: ['chat'] }), {
      code: 'UNREQUESTED_PROTOCOL',
    });
    await raw.close();
  });

  test('an extension that was not offered → UNREQUESTED_EXTENSION', async () => {
    const raw = await rawServer((socket, request) => {
      socket.write(switchingProtocols(request, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    });
    await assert.rejects(connect(`ws://127.0.0.1:${raw.port}/`), { code: 'UNREQUESTED_EXTENSION' });
    await raw.close();
  });

  test('a server that never answers → HANDSHAKE_TIMEOUT', async () => {
    const raw = await rawServer(() => {});
    await assert.rejects(connect(`ws://127.0.0.1:${raw.port}/`, { handshakeTimeout: 30 }), {
      code: 'HANDSHAKE_TIMEOUT',
    });
    await raw.close();
  });

  test('bytes sent right after the 101 are the first message', async () => {
    const raw = await rawServer((socket, request) => {
      socket.write(
        Buffer.concat([Buffer.from(switchingProtocols(request)), serverFrame(Opcode.Text, 'first')]),
      );
    });
    const ws = await connect(`ws://127.0.0.1:${raw.port}/`);
    const [data, isBinary] = (await once(ws, 'message')) as [Buffer, boolean];
    assert.deepEqual([data.toString(), isBinary], ['first', false]);
    ws.terminate();
    await once(ws, 'close');
    await raw.close();
  });

  test('the request carries the offered protocols, origin and extra headers', async () => {
    let request = '';
    const raw = await rawServer((socket, head) => {
      request = head;
      socket.write(switchingProtocols(head, 'Sec-WebSocket-Protocol: b\r\n'));
    });
    const ws = await connect(`ws://127.0.0.1:${raw.port}/path?q=1`, {
      protocols: ['a', 'b'],
      origin: 'https://example.com',
      headers: { Authorization: 'Bearer t' },
    });
    assert.equal(ws.protocol, 'b');
    assert.match(request, /^GET \/path\?q=1 HTTP\/1\.1\r\n/);
    assert.match(request, /\r\nSec-WebSocket-Protocol: a, b\r\n/i);
    assert.match(request, /\r\nOrigin: https:\/\/example\.com\r\n/i);
    assert.match(request, /\r\nAuthorization: Bearer t\r\n/i);
    ws.terminate();
    await once(ws, 'close');
    await raw.close();
  });
});

describe('connect(): transports', () => {
  test('wss:// with a certificate made at test time', async () => {
    const { cert, key } = selfSignedCertificate();
    const server = await serve({ port: 0, host: '127.0.0.1', tls: { cert, key } });
    server.on('connection', (ws) =>
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
    );
    const url = `wss://127.0.0.1:${server.port}/`;
    await assert.rejects(connect(url), { name: 'HandshakeError', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const ws = await connect(url, { tls: { ca: cert } });
    ws.send('secret');
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(data.toString(), 'secret');
    const closed = once(ws, 'close') as Promise<CloseArgs>;
    ws.close(1000);
    assert.equal((await closed)[2], true);
    await server.close();
  });

  test('IPv6 literal ws://[::1]:port/', async (t) => {
    const server = await serve({ port: 0, host: '::1' }).catch(() => null);
    if (server === null) {
      t.skip('IPv6 loopback is not available');
      return;
    }
    server.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
    const ws = await connect(`ws://[::1]:${server.port}/`);
    assert.equal(ws.remoteAddress, '::1');
    ws.send(new Uint8Array([6]));
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.deepEqual([...data], [6]);
    ws.close(1000);
    await once(ws, 'close');
    await server.close();
  });

  test('interoperates with the ws package as a server', async () => {
    const wss = new WsServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'echo' });
    await once(wss, 'listening');
    wss.on('connection', (peer) => {
      peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary }));
    });
    const { port } = wss.address() as net.AddressInfo;
    const ws = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['echo'] });
    assert.equal(ws.protocol, 'echo');
    const received: [string, boolean][] = [];
    ws.on('message', (data, isBinary) => received.push([data.toString('hex'), isBinary]));
    ws.send('text');
    ws.send(Buffer.alloc(70_000, 1));
    await new Promise<void>((resolve) => {
      const check = () => (received.length === 2 ? resolve() : setImmediate(check));
      check();
    });
    assert.deepEqual(received[0], [Buffer.from('text').toString('hex'), false]);
    assert.equal(received[1][0], Buffer.alloc(70_000, 1).toString('hex'));
    const closed = once(ws, 'close') as Promise<CloseArgs>;
    ws.close(4001, 'done');
    const [code, , wasClean] = await closed;
    assert.deepEqual([code, wasClean], [4001, true]);
    await new Promise((resolve) => wss.close(resolve));
  });
});

/** The frames a client sent (unmasked; compressed payloads inflated), as [opcode, payload]. */
function clientFrames(bytes: Buffer): [number, Buffer][] {
  const frames: [number, Buffer][] = [];
  for (let at = 0; at + 2 <= bytes.length; ) {
    const b0 = bytes[at]!;
    let length = bytes[at + 1]! & 0x7f;
    let p = at + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(p);
      p += 2;
    }
    const mask = bytes.subarray(p, p + 4);
    p += 4;
    let payload = Buffer.from(bytes.subarray(p, p + length).map((x, i) => x ^ mask[i % 4]!));
    if (b0 & 0x40) payload = inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]));
    frames.push([b0 & 0x0f, payload]);
    at = p + length;
  }
  return frames;
}

describe('connect(): frames that arrive with the 101 answer', () => {
  // A text message, then a frame with the reserved opcode 15, then a ping: all in the chunk of the 101 answer.
  // The application's echo of the message leaves before the 1002 close, with and without permessage-deflate.
  for (const deflate of [false, true]) {
    test(`the echo of the message goes out before the close for the violation that follows${deflate ? ' (permessage-deflate)' : ''}`, async () => {
      const received: Buffer[] = [];
      let serverSocketClosed: Promise<unknown> = Promise.resolve();
      const raw = await rawServer((socket, request) => {
        const text = deflate
          ? Buffer.from([0xc1, 7, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]) // "Hello", compressed
          : Buffer.from(serverFrame(Opcode.Text, 'Hello'));
        socket.on('data', (chunk: Buffer) => {
          received.push(chunk);
          // The client's close frame: answer it by closing the TCP connection, as a server does.
          if (clientFrames(Buffer.concat(received)).some(([opcode]) => opcode === Opcode.Close)) socket.end();
        });
        serverSocketClosed = once(socket, 'close');
        socket.write(
          Buffer.concat([
            Buffer.from(
              switchingProtocols(request, deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''),
              'latin1',
            ),
            text,
            Buffer.from(serverFrame(15, 'abcde')),
            Buffer.from(serverFrame(Opcode.Ping, '')),
          ]),
        );
      });
      const ws = await connect(`ws://127.0.0.1:${raw.port}/`, { perMessageDeflate: deflate });
      const errors: string[] = [];
      ws.on('error', (error) => errors.push(error.name));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      await new Promise((resolve) => ws.on('close', resolve));
      assert.deepEqual(errors, ['ProtocolError']);
      await serverSocketClosed;
      const frames = clientFrames(Buffer.concat(received));
      assert.deepEqual(
        frames.map(([opcode, payload]) => [
          opcode,
          opcode === Opcode.Close ? payload.readUInt16BE(0) : payload.toString(),
        ]),
        [
          [Opcode.Text, 'Hello'],
          [Opcode.Close, 1002],
        ],
      );
      await raw.close();
    });
  }
});
