/**
 * tslay/ws `WebSocketServer` against ws's documented behaviour. Every test runs on ws itself too (the control):
 * the same bytes on the wire, the same events, the same answers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type * as net from 'node:net';
import { describe, test } from 'node:test';
import { collect, KEY, MASK, openSocket } from '../helpers/net.ts';
import { BOTH as IMPLEMENTATIONS } from './implementations.ts';

type AnyServer = InstanceType<(typeof IMPLEMENTATIONS)[number]['WebSocketServer']>;

async function listening(server: AnyServer): Promise<number> {
  if (server.address() === null || typeof server.address() === 'string') await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function closeServer(server: AnyServer): Promise<void> {
  for (const client of server.clients ?? []) client.terminate();
  return new Promise((resolve) => server.close(() => resolve()));
}

function request(port: number, lines: string[]): string {
  return `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n`;
}

const GOOD = [
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${KEY}`,
  'Sec-WebSocket-Version: 13',
];

/** Everything the server answers to `bytes` until it closes the connection. */
async function answer(port: number, bytes: string): Promise<string> {
  const socket = await openSocket(port);
  const received = collect(socket);
  socket.write(bytes);
  return (await received).toString('latin1');
}

/** The head of the server's answer (until the blank line), then the socket for what follows. */
async function upgrade(port: number, lines: string[]): Promise<{ head: string; socket: net.Socket }> {
  const socket = await openSocket(port);
  socket.write(request(port, lines));
  let buffer = Buffer.alloc(0);
  while (!buffer.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    buffer = Buffer.concat([buffer, chunk]);
  }
  return { head: buffer.subarray(0, buffer.indexOf('\r\n\r\n') + 4).toString('latin1'), socket };
}

function masked(opcode: number, data: string | Buffer): Buffer {
  const payload = Buffer.from(data);
  const out = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ MASK[i & 3]!;
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), MASK, out]);
}

for (const { name, WebSocket, WebSocketServer } of IMPLEMENTATIONS) {
  describe(`WebSocketServer (${name})`, () => {
    test('requires exactly one of port, server and noServer', () => {
      const message = 'One and only one of the "port", "server", or "noServer" options must be specified';
      assert.throws(() => new WebSocketServer({}), { name: 'TypeError', message });
      assert.throws(() => new WebSocketServer({ port: 0, noServer: true }), { name: 'TypeError', message });
    });

    test('with `port`, plain HTTP gets 426 Upgrade Required', async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      const port = await listening(server);
      const text = await answer(port, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
      assert.match(text, /\r\nContent-Type: text\/plain\r\n/);
      assert.ok(text.endsWith('\r\n\r\nUpgrade Required'), text);
      await closeServer(server);
    });

    const refusals: {
      title: string;
      bytes: (port: number) => string;
      status: string;
      body: string;
      extra?: RegExp;
    }[] = [
      {
        title: 'a POST',
        bytes: (port) => request(port, GOOD).replace('GET', 'POST'),
        status: '405 Method Not Allowed',
        body: 'Invalid HTTP method',
      },
      {
        title: 'an Upgrade to another protocol',
        bytes: (port) => request(port, ['Upgrade: h2c', ...GOOD.slice(1)]),
        status: '400 Bad Request',
        body: 'Invalid Upgrade header',
      },
      {
        title: 'a short key',
        bytes: (port) => request(port, [...GOOD.slice(0, 2), 'Sec-WebSocket-Key: abc', GOOD[3]!]),
        status: '400 Bad Request',
        body: 'Missing or invalid Sec-WebSocket-Key header',
      },
      {
        title: 'version 12',
        bytes: (port) => request(port, [...GOOD.slice(0, 3), 'Sec-WebSocket-Version: 12']),
        status: '400 Bad Request',
        body: 'Missing or invalid Sec-WebSocket-Version header',
        extra: /\r\nSec-WebSocket-Version: 13, 8\r\n/,
      },
      {
        title: 'an empty subprotocol in the list',
        bytes: (port) => request(port, [...GOOD, 'Sec-WebSocket-Protocol: chat,,superchat']),
        status: '400 Bad Request',
        body: 'Invalid Sec-WebSocket-Protocol header',
      },
      {
        title: 'a repeated subprotocol',
        bytes: (port) => request(port, [...GOOD, 'Sec-WebSocket-Protocol: chat, chat']),
        status: '400 Bad Request',
        body: 'Invalid Sec-WebSocket-Protocol header',
      },
      {
        title: 'a malformed extension offer (with perMessageDeflate)',
        bytes: (port) => request(port, [...GOOD, 'Sec-WebSocket-Extensions: permessage-deflate; =']),
        status: '400 Bad Request',
        body: 'Invalid or unacceptable Sec-WebSocket-Extensions header',
      },
    ];
    for (const refusal of refusals) {
      test(`answers ${refusal.title} with ${refusal.status} and ws's message`, async () => {
        const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
        const port = await listening(server);
        const text = await answer(port, refusal.bytes(port));
        assert.ok(text.startsWith(`HTTP/1.1 ${refusal.status}\r\n`), text);
        assert.match(text, /\r\nConnection: close\r\n/);
        assert.match(text, /\r\nContent-Type: text\/html\r\n/);
        assert.match(text, new RegExp(`\\r\\nContent-Length: ${refusal.body.length}\\r\\n`));
        if (refusal.extra) assert.match(text, refusal.extra);
        assert.ok(text.endsWith(`\r\n\r\n${refusal.body}`), text);
        await closeServer(server);
      });
    }

    test("'wsClientError' takes over a malformed request: no answer is written for the application", async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      const port = await listening(server);
      server.on('wsClientError', (error: Error, socket: net.Socket, req: http.IncomingMessage) => {
        socket.end(`HTTP/1.1 418 I'm a Teapot\r\nX-Reason: ${error.message} ${req.method}\r\n\r\n`);
      });
      const text = await answer(port, request(port, ['Upgrade: h2c', ...GOOD.slice(1)]));
      assert.equal(text, "HTTP/1.1 418 I'm a Teapot\r\nX-Reason: Invalid Upgrade header GET\r\n\r\n");
      await closeServer(server);
    });

    test('a path that does not match gets 400; the query is ignored', async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/chat' });
      const port = await listening(server);
      const text = await answer(port, request(port, GOOD).replace('GET /', 'GET /other'));
      assert.ok(text.startsWith('HTTP/1.1 400 Bad Request\r\n'), text);
      assert.ok(text.endsWith('\r\n\r\nBad Request'), text);
      const socket = await openSocket(port);
      socket.write(request(port, GOOD).replace('GET /', 'GET /chat?room=1'));
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      assert.ok(chunk.toString('latin1').startsWith('HTTP/1.1 101 Switching Protocols\r\n'));
      socket.destroy();
      await closeServer(server);
    });

    test('verifyClient: false gets 401; the callback form answers with its code, message and headers', async () => {
      const seen: { origin: string | undefined; secure: boolean; url: string | undefined }[] = [];
      const sync = new WebSocketServer({
        port: 0,
        host: '127.0.0.1',
        verifyClient: (info: { origin: string | undefined; secure: boolean; req: http.IncomingMessage }) => {
          seen.push({ origin: info.origin, secure: info.secure, url: info.req.url });
          return false;
        },
      });
      const syncPort = await listening(sync);
      const text = await answer(syncPort, request(syncPort, [...GOOD, 'Origin: https://example.com']));
      assert.ok(text.startsWith('HTTP/1.1 401 Unauthorized\r\n'), text);
      assert.ok(text.endsWith('\r\n\r\nUnauthorized'), text);
      assert.deepEqual(seen, [{ origin: 'https://example.com', secure: false, url: '/' }]);
      await closeServer(sync);

      const async = new WebSocketServer({
        port: 0,
        host: '127.0.0.1',
        verifyClient: (
          _info: unknown,
          done: (ok: boolean, code?: number, message?: string, headers?: http.OutgoingHttpHeaders) => void,
        ) => {
          setImmediate(() => done(false, 403, 'not you', { 'X-Why': 'policy' }));
        },
      });
      const asyncPort = await listening(async);
      const refused = await answer(asyncPort, request(asyncPort, GOOD));
      assert.ok(refused.startsWith('HTTP/1.1 403 Forbidden\r\n'), refused);
      assert.match(refused, /\r\nX-Why: policy\r\n/);
      assert.ok(refused.endsWith('\r\n\r\nnot you'), refused);
      await closeServer(async);
    });

    test("the 101 carries 'headers' additions, the subprotocol that handleProtocols set after construction picked", async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      const port = await listening(server);
      server.options.handleProtocols = (protocols: Set<string>, req: http.IncomingMessage) => {
        assert.equal(req.url, '/');
        return protocols.has('b') ? 'b' : false;
      };
      server.on('headers', (headers: string[]) => headers.push('Set-Cookie: io=abc; Path=/'));
      const connected = once(server, 'connection');
      const { head, socket } = await upgrade(port, [...GOOD, 'Sec-WebSocket-Protocol: a, b']);
      const [ws, req] = (await connected) as [InstanceType<typeof WebSocket>, http.IncomingMessage];
      assert.equal(
        head,
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: b\r\n' +
          'Set-Cookie: io=abc; Path=/\r\n\r\n',
      );
      assert.equal(ws.protocol, 'b');
      assert.equal(req.headers['sec-websocket-protocol'], 'a, b');
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.equal(server.clients?.size, 1);
      const closed = once(ws, 'close');
      socket.write(Buffer.concat([masked(1, 'hi'), masked(8, Buffer.from('03e8627965', 'hex'))]));
      const [code, reason] = (await closed) as [number, Buffer];
      assert.equal(code, 1000);
      assert.ok(Buffer.isBuffer(reason));
      assert.equal(reason.toString(), 'bye');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(server.clients?.size, 0);
      socket.destroy();
      await closeServer(server);
    });

    test('perMessageDeflate: true answers an offer as ws does', async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
      const port = await listening(server);
      for (const [offer, expected] of [
        ['permessage-deflate; client_max_window_bits', 'permessage-deflate'],
        ['permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover'],
        ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10'],
        ['x-webkit-deflate-frame', undefined],
      ] as const) {
        const { head, socket } = await upgrade(port, [...GOOD, `Sec-WebSocket-Extensions: ${offer}`]);
        const answered = /\r\nSec-WebSocket-Extensions: ([^\r]*)\r\n/.exec(head)?.[1];
        assert.equal(answered, expected, offer);
        socket.destroy();
      }
      await closeServer(server);
    });

    test('noServer: handleUpgrade from the application, shouldHandle, a second call with the socket throws', async () => {
      const wss = new WebSocketServer({ noServer: true, path: '/ws' });
      assert.throws(() => wss.address(), { message: 'The server is operating in "noServer" mode' });
      const http1 = http.createServer();
      const errors: unknown[] = [];
      http1.on('upgrade', (req, socket, head) => {
        if (!wss.shouldHandle(req)) {
          socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          try {
            wss.handleUpgrade(req, socket, head, () => {});
          } catch (error) {
            errors.push(error);
          }
          ws.send('welcome');
        });
      });
      http1.listen(0, '127.0.0.1');
      await once(http1, 'listening');
      const port = (http1.address() as net.AddressInfo).port;
      assert.ok((await answer(port, request(port, GOOD))).startsWith('HTTP/1.1 404'));
      const client = new WebSocket(`ws://127.0.0.1:${port}/ws?x=1`);
      const [data, isBinary] = (await once(client, 'message')) as [Buffer, boolean];
      assert.equal(data.toString(), 'welcome');
      assert.equal(isBinary, false);
      assert.equal(errors.length, 1);
      assert.match(String((errors[0] as Error).message), /handleUpgrade\(\) was called more than once/);
      const closed = once(wss, 'close');
      wss.close();
      // With clients tracked, 'close' waits for the last one.
      client.close(1000);
      await closed;
      http1.close();
      await once(http1, 'close');
    });

    test('clientTracking: false leaves clients undefined', async () => {
      const server = new WebSocketServer({ noServer: true, clientTracking: false });
      assert.equal(server.clients, undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('after close(), an upgrade in noServer mode gets 503; close() again calls back with an error', async () => {
      const wss = new WebSocketServer({ noServer: true });
      const http1 = http.createServer();
      http1.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
      http1.listen(0, '127.0.0.1');
      await once(http1, 'listening');
      const port = (http1.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      const text = await answer(port, request(port, GOOD));
      assert.ok(text.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), text);
      const again = await new Promise<Error | undefined>((resolve) =>
        wss.close((error?: Error) => resolve(error)),
      );
      assert.equal(again?.message, 'The server is not running');
      http1.close();
      await once(http1, 'close');
    });

    test("maxPayload: a longer message fails with 1009 and ws's error", async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 4 });
      const port = await listening(server);
      const connected = once(server, 'connection');
      const { socket } = await upgrade(port, GOOD);
      const [ws] = (await connected) as [InstanceType<typeof WebSocket>];
      const errored = once(ws, 'error');
      const closed = new Promise((resolve) => ws.on('close', (...args) => resolve(args)));
      const rest = collect(socket);
      socket.write(masked(2, 'hello'));
      const [error] = (await errored) as [Error & { code: string }];
      assert.equal(error.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      assert.equal(error.message, 'Max payload size exceeded');
      assert.ok(error instanceof RangeError);
      const [code] = (await closed) as [number];
      assert.equal(code, 1006);
      // The close frame on the wire carries 1009 (tslay adds a reason, ws sends none).
      const bytes = await rest;
      assert.equal(bytes[0], 0x88);
      assert.equal(bytes.readUInt16BE(2), 1009);
      await closeServer(server);
    });
  });
}
