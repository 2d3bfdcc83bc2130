/**
 * tslay/ws `WebSocket` against ws's documented behaviour, on ws itself too (the control): constructor and
 * CONNECTING, handshake failures, send callbacks, ping/pong, close, terminate, binaryType, pause/resume, and the
 * errors of a peer's violations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type * as http from 'node:http';
import type * as net from 'node:net';
import { describe, test } from 'node:test';
import { type RawHandler, rawServer, serverFrame, switchingProtocols } from '../helpers/net.ts';
import { BOTH } from './implementations.ts';

type Ws = InstanceType<(typeof BOTH)[number]['WebSocket']>;

/** The arguments of the next 'close' (not `events.once`, which rejects on an 'error' emitted before it). */
function closed(ws: { on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown }) {
  return new Promise<[number, Buffer]>((resolve) =>
    ws.on('close', (code, reason) => resolve([code, reason])),
  );
}

function errorOf(ws: { on(event: 'error', listener: (error: Error) => void): unknown }) {
  return new Promise<Error & { code?: string }>((resolve) => ws.on('error', resolve));
}

/** Unmasks the client frames in `bytes` (no extensions): opcode, payload. */
function clientFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 6 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let length = bytes[at + 1]! & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(offset);
      offset += 2;
    }
    const mask = bytes.subarray(offset, offset + 4);
    offset += 4;
    if (offset + length > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(offset, offset + length));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    frames.push({ opcode, payload });
    at = offset + length;
  }
  return frames;
}

/** A raw server that accepts the handshake, writes `after`, and records what the client sends. */
async function scripted(after: Uint8Array, extra = '') {
  const received: Buffer[] = [];
  const handler: RawHandler = (socket, request) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write(Buffer.concat([Buffer.from(switchingProtocols(request, extra), 'latin1'), after]));
  };
  const server = await rawServer(handler);
  return { ...server, received: () => Buffer.concat(received) };
}

for (const { name, WebSocket, WebSocketServer } of BOTH) {
  describe(`WebSocket (${name})`, () => {
    /** A server of the same implementation; `onConnection` sees each server-side socket. */
    async function server(onConnection: (ws: Ws, req: http.IncomingMessage) => void, options = {}) {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
      wss.on('connection', onConnection);
      await once(wss, 'listening');
      const port = (wss.address() as net.AddressInfo).port;
      return {
        url: `ws://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((resolve) => {
            for (const client of wss.clients) client.terminate();
            wss.close(() => resolve());
          }),
      };
    }

    test('the constructor returns in CONNECTING; send then throws; constants on class and instance', async () => {
      const echo = await server((ws) =>
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
      );
      const ws = new WebSocket(echo.url);
      assert.equal(ws.readyState, WebSocket.CONNECTING);
      assert.equal(ws.CONNECTING, 0);
      assert.equal(ws.OPEN, 1);
      assert.equal(WebSocket.CLOSED, 3);
      assert.equal(ws.url, `${echo.url}/`);
      assert.throws(() => ws.send('x'), { message: 'WebSocket is not open: readyState 0 (CONNECTING)' });
      assert.throws(() => ws.ping(), { message: 'WebSocket is not open: readyState 0 (CONNECTING)' });
      await once(ws, 'open');
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.equal(ws.protocol, '');
      ws.send('text');
      const [data, isBinary] = (await once(ws, 'message')) as [Buffer, boolean];
      assert.ok(Buffer.isBuffer(data));
      assert.deepEqual([data.toString(), isBinary], ['text', false]);
      ws.close();
      await closed(ws);
      await echo.close();
    });

    test('bad URLs and subprotocols throw synchronously', () => {
      assert.throws(() => new WebSocket('not a url'), {
        name: 'SyntaxError',
        message: 'Invalid URL: not a url',
      });
      assert.throws(() => new WebSocket('ftp://127.0.0.1/'), {
        name: 'SyntaxError',
        message: /The URL's protocol must be one of "ws:", "wss:", /,
      });
      assert.throws(() => new WebSocket('ws://127.0.0.1/#x'), {
        name: 'SyntaxError',
        message: 'The URL contains a fragment identifier',
      });
      assert.throws(() => new WebSocket('ws://127.0.0.1/', ['a', 'a']), {
        name: 'SyntaxError',
        message: 'An invalid or duplicated subprotocol was specified',
      });
      assert.throws(() => new WebSocket('ws://127.0.0.1/', { protocolVersion: 7 }), {
        name: 'RangeError',
        message: 'Unsupported protocol version: 7 (supported versions: 8, 13)',
      });
    });

    test("a non-101 answer: 'unexpected-response' if listened, else an error and close 1006", async () => {
      const refusing = await rawServer((socket) => {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nX-Why: no\r\n\r\nnope');
      });
      const url = `ws://127.0.0.1:${refusing.port}/`;
      const listened = new WebSocket(url);
      const [req, res] = (await once(listened, 'unexpected-response')) as [
        http.ClientRequest,
        http.IncomingMessage,
      ];
      assert.equal(res.statusCode, 403);
      assert.equal(res.headers['x-why'], 'no');
      assert.equal(typeof req.setHeader, 'function');
      req.destroy();
      const plain = new WebSocket(url);
      const [error, [code]] = await Promise.all([errorOf(plain), closed(plain)]);
      assert.equal(error.message, 'Unexpected server response: 403');
      assert.equal(code, 1006);
      assert.equal(plain.readyState, WebSocket.CLOSED);
      await refusing.close();
    });

    test("handshake answers that fail the connection give ws's messages", async () => {
      const cases: [string, (request: string) => string, string[]?][] = [
        [
          'Invalid Sec-WebSocket-Accept header',
          (request) => switchingProtocols(request, '', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='),
        ],
        ['Server sent no subprotocol', (request) => switchingProtocols(request), ['chat']],
        [
          'Server sent an invalid subprotocol',
          (request) => switchingProtocols(request, 'Sec-WebSocket-Protocol: other\r\n'),
          ['chat'],
        ],
        [
          'Server sent a subprotocol but none was requested',
          (request) => switchingProtocols(request, 'Sec-WebSocket-Protocol: chat\r\n'),
        ],
        [
          'Server indicated an extension that was not requested',
          (request) => switchingProtocols(request, 'Sec-WebSocket-Extensions: x-unknown\r\n'),
        ],
      ];
      for (const [message, answerFor, protocols] of cases) {
        const peer = await rawServer((socket, request) => socket.write(answerFor(request)));
        const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/`, protocols ?? []);
        const [error, [code]] = await Promise.all([errorOf(ws), closed(ws)]);
        assert.equal(error.message, message);
        assert.equal(code, 1006);
        await peer.close();
      }
    });

    test("handshakeTimeout: a silent server fails the handshake with ws's message", async () => {
      const silent = await rawServer(() => {});
      const ws = new WebSocket(`ws://127.0.0.1:${silent.port}/`, { handshakeTimeout: 50 });
      const [error, [code]] = await Promise.all([errorOf(ws), closed(ws)]);
      assert.equal(error.message, 'Opening handshake has timed out');
      assert.equal(code, 1006);
      await silent.close();
    });

    test("close() while CONNECTING aborts with ws's message", async () => {
      const silent = await rawServer(() => {});
      const ws = new WebSocket(`ws://127.0.0.1:${silent.port}/`);
      const outcome = Promise.all([errorOf(ws), closed(ws)]);
      ws.close();
      const [error, [code]] = await outcome;
      assert.equal(error.message, 'WebSocket was closed before the connection was established');
      assert.equal(code, 1006);
      await silent.close();
    });

    test('send callbacks fire once with null after the bytes are written; after close they get an error', async () => {
      const peer = await scripted(Buffer.alloc(0));
      const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: false });
      await once(ws, 'open');
      const results: (Error | null | undefined)[] = [];
      await new Promise<void>((resolve) => {
        ws.send('one', (error) => results.push(error));
        ws.send(Buffer.from([1, 2, 3]), { binary: true }, (error) => {
          results.push(error);
          resolve();
        });
      });
      assert.deepEqual(
        results.map((e) => e ?? null),
        [null, null],
      );
      ws.close(4000, 'done');
      assert.equal(ws.readyState, WebSocket.CLOSING);
      const late = await new Promise<Error | null | undefined>((resolve) => ws.send('late', resolve));
      assert.equal(late?.message, 'WebSocket is not open: readyState 2 (CLOSING)');
      assert.equal(ws.bufferedAmount >= 4, true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const frames = clientFrames(peer.received());
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.payload.toString('hex')]),
        [
          [1, Buffer.from('one').toString('hex')],
          [2, '010203'],
          [8, Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from('done')]).toString('hex')],
        ],
      );
      ws.terminate();
      await peer.close();
    });

    test('fragments: fin false starts a message that later sends continue', async () => {
      const peer = await scripted(Buffer.alloc(0));
      const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: false });
      await once(ws, 'open');
      ws.send('ab', { fin: false });
      ws.send('cd', { fin: false });
      await new Promise<void>((resolve) => ws.send('ef', { fin: true }, () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const bytes = peer.received();
      assert.deepEqual([bytes[0], bytes[8], bytes[16]], [0x01, 0x00, 0x80], bytes.toString('hex'));
      assert.deepEqual(
        clientFrames(bytes).map((f) => f.payload.toString()),
        ['ab', 'cd', 'ef'],
      );
      ws.terminate();
      await peer.close();
    });

    test("pings are answered through the instance's pong(); autoPong: false leaves it to the application", async () => {
      const ping = serverFrame(0x9, 'are you there');
      for (const autoPong of [true, false]) {
        const peer = await scripted(ping);
        const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/`, { autoPong, perMessageDeflate: false });
        const pongs: unknown[] = [];
        const original = ws.pong.bind(ws);
        ws.pong = ((...args: Parameters<Ws['pong']>) => {
          pongs.push(String(args[0]));
          return original(...args);
        }) as Ws['pong'];
        const [data] = (await once(ws, 'ping')) as [Buffer];
        assert.equal(data.toString(), 'are you there');
        await new Promise<void>((resolve) => ws.ping('mine', true, () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, 20));
        const frames = clientFrames(peer.received()).map((f) => [f.opcode, f.payload.toString()]);
        if (autoPong) {
          assert.deepEqual(pongs, ['are you there']);
          assert.deepEqual(frames, [
            [0xa, 'are you there'],
            [0x9, 'mine'],
          ]);
        } else {
          assert.deepEqual(pongs, []);
          assert.deepEqual(frames, [[0x9, 'mine']]);
        }
        assert.throws(() => ws.ping(Buffer.alloc(126)), {
          name: 'RangeError',
          message: 'The data size must not be greater than 125 bytes',
        });
        ws.terminate();
        await peer.close();
      }
    });

    test("close(): ws's argument checks; 'close' gives the peer's code and reason as a Buffer", async () => {
      const echo = await server(() => {});
      const ws = new WebSocket(echo.url);
      await once(ws, 'open');
      assert.throws(() => ws.close(1005), {
        name: 'TypeError',
        message: 'First argument must be a valid error code number',
      });
      assert.throws(() => ws.close(1000, 'x'.repeat(124)), {
        name: 'RangeError',
        message: 'The message must not be greater than 123 bytes',
      });
      const outcome = closed(ws);
      ws.close(4321, 'bye now');
      const [code, reason] = await outcome;
      assert.equal(code, 4321);
      assert.ok(Buffer.isBuffer(reason));
      assert.equal(reason.toString(), 'bye now');
      assert.equal(ws.readyState, WebSocket.CLOSED);
      await echo.close();
    });

    test('terminate() closes with 1006 on both sides', async () => {
      let serverSide: Promise<[number, Buffer]> | undefined;
      const echo = await server((ws) => {
        serverSide = closed(ws);
      });
      const ws = new WebSocket(echo.url);
      await once(ws, 'open');
      const outcome = closed(ws);
      ws.terminate();
      assert.equal((await outcome)[0], 1006);
      while (serverSide === undefined) await new Promise((resolve) => setImmediate(resolve));
      assert.equal((await serverSide)[0], 1006);
      await echo.close();
    });

    test('binaryType: nodebuffer, arraybuffer, fragments, blob; text stays a Buffer', async () => {
      const echo = await server((ws) =>
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
      );
      const ws = new WebSocket(echo.url);
      await once(ws, 'open');
      assert.equal(ws.binaryType, 'nodebuffer');
      const payload = Buffer.from([0, 1, 2, 250]);
      for (const type of ['nodebuffer', 'arraybuffer', 'fragments', 'blob'] as const) {
        ws.binaryType = type as 'nodebuffer';
        ws.send(payload);
        const [data, isBinary] = (await once(ws, 'message')) as [unknown, boolean];
        assert.equal(isBinary, true);
        let bytes: Buffer;
        if (type === 'nodebuffer') bytes = data as Buffer;
        else if (type === 'arraybuffer') {
          assert.ok(data instanceof ArrayBuffer);
          bytes = Buffer.from(data);
        } else if (type === 'fragments') {
          assert.ok(Array.isArray(data));
          bytes = Buffer.concat(data as Buffer[]);
        } else {
          assert.ok(data instanceof Blob);
          bytes = Buffer.from(await data.arrayBuffer());
        }
        assert.deepEqual([...bytes], [...payload], type);
        ws.send('text');
        const [text, textIsBinary] = (await once(ws, 'message')) as [Buffer, boolean];
        assert.ok(Buffer.isBuffer(text), type);
        assert.equal(textIsBinary, false);
      }
      ws.binaryType = 'nonsense' as 'nodebuffer';
      assert.equal(ws.binaryType as string, 'blob');
      ws.close();
      await closed(ws);
      await echo.close();
    });

    test('pause() holds messages until resume(); isPaused tells', async () => {
      let serverSide: Ws | undefined;
      const echo = await server((ws) => {
        serverSide = ws;
      });
      const ws = new WebSocket(echo.url);
      await once(ws, 'open');
      while (serverSide === undefined) await new Promise((resolve) => setImmediate(resolve));
      const got: string[] = [];
      ws.on('message', (data) => got.push(String(data)));
      ws.pause();
      assert.equal(ws.isPaused, true);
      await new Promise<void>((resolve) => serverSide!.send('held', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.deepEqual(got, []);
      ws.resume();
      assert.equal(ws.isPaused, false);
      await once(ws, 'message');
      assert.deepEqual(got, ['held']);
      ws.close();
      await closed(ws);
      await echo.close();
    });

    const violations: [string, Uint8Array, string, string, typeof Error][] = [
      [
        'a reserved opcode',
        serverFrame(0x3, 'x'),
        'WS_ERR_INVALID_OPCODE',
        'Invalid WebSocket frame: invalid opcode 3',
        RangeError,
      ],
      [
        'RSV1 without an extension',
        Buffer.from([0xc1, 0x01, 0x78]),
        'WS_ERR_UNEXPECTED_RSV_1',
        'Invalid WebSocket frame: RSV1 must be clear',
        RangeError,
      ],
      [
        'RSV2',
        Buffer.from([0xa1, 0x01, 0x78]),
        'WS_ERR_UNEXPECTED_RSV_2_3',
        'Invalid WebSocket frame: RSV2 and RSV3 must be clear',
        RangeError,
      ],
      [
        'a masked server frame',
        Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x79]),
        'WS_ERR_UNEXPECTED_MASK',
        'Invalid WebSocket frame: MASK must be clear',
        RangeError,
      ],
      [
        'a fragmented ping',
        Buffer.from([0x09, 0x00]),
        'WS_ERR_EXPECTED_FIN',
        'Invalid WebSocket frame: FIN must be set',
        RangeError,
      ],
      [
        'a 126-byte ping',
        Buffer.concat([Buffer.from([0x89, 0x7e, 0x00, 0x7e]), Buffer.alloc(126)]),
        'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        'Invalid WebSocket frame: invalid payload length 126',
        RangeError,
      ],
      [
        'a continuation without a message',
        Buffer.from([0x80, 0x01, 0x78]),
        'WS_ERR_INVALID_OPCODE',
        'Invalid WebSocket frame: invalid opcode 0',
        RangeError,
      ],
      [
        'invalid UTF-8',
        Buffer.from([0x81, 0x02, 0xc3, 0x28]),
        'WS_ERR_INVALID_UTF8',
        'Invalid WebSocket frame: invalid UTF-8 sequence',
        Error,
      ],
      [
        'close code 1005 on the wire',
        Buffer.from([0x88, 0x02, 0x03, 0xed]),
        'WS_ERR_INVALID_CLOSE_CODE',
        'Invalid WebSocket frame: invalid status code 1005',
        RangeError,
      ],
      [
        'a 1-byte close payload',
        Buffer.from([0x88, 0x01, 0x03]),
        'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        'Invalid WebSocket frame: invalid payload length 1',
        RangeError,
      ],
    ];
    for (const [title, bytes, code, message, type] of violations) {
      test(`${title}: 'error' with ${code}, a close frame with the right code, 'close' 1006`, async () => {
        const peer = await scripted(bytes);
        const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: false });
        const [error, [closeCode]] = await Promise.all([errorOf(ws), closed(ws)]);
        assert.equal(error.code, code);
        assert.equal(error.message, message);
        assert.ok(error instanceof type);
        assert.equal(closeCode, 1006);
        await new Promise((resolve) => setTimeout(resolve, 10));
        const frames = clientFrames(peer.received());
        const expected = code === 'WS_ERR_INVALID_UTF8' ? 1007 : 1002;
        assert.equal(frames[0]?.opcode, 8, 'a close frame was sent');
        assert.equal(frames[0]?.payload.readUInt16BE(0), expected);
        await peer.close();
      });
    }
  });
}

for (const { name, WebSocket, WebSocketServer } of BOTH) {
  test(`EventTarget attributes and addEventListener carry ws's event objects (${name})`, async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => {
      ws.send('hello');
      ws.on('message', () => ws.close(4001, 'enough'));
    });
    await once(wss, 'listening');
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`);
    const seen: string[] = [];
    ws.onopen = function (event) {
      seen.push(`open ${event.type} ${event.target === ws} ${this === ws}`);
    };
    ws.addEventListener('message', (event) => {
      seen.push(`message ${typeof event.data} ${String(event.data)}`);
      ws.send('ok');
    });
    const done = new Promise<void>((resolve) => {
      ws.onclose = (event) => {
        seen.push(`close ${event.code} ${event.reason} ${event.wasClean}`);
        resolve();
      };
    });
    assert.equal(typeof ws.onclose, 'function');
    assert.equal(ws.onerror, null);
    await done;
    assert.deepEqual(seen, ['open open true true', 'message string hello', 'close 4001 enough true']);
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
}

test('tslay/ws: maxBufferedAmount bounds what waits for a peer that does not read', async () => {
  const tslay = BOTH[1];
  const peer = await rawServer((socket, request) => {
    socket.write(switchingProtocols(request));
    socket.pause();
  });
  const ws = new tslay.WebSocket(`ws://127.0.0.1:${peer.port}/`, {
    perMessageDeflate: false,
    maxBufferedAmount: 1024 * 1024,
  } as object);
  await once(ws, 'open');
  const chunk = Buffer.alloc(256 * 1024);
  const errored = errorOf(ws);
  const outcome = closed(ws);
  // Sends until the socket is destroyed: at most the bound, one chunk and the kernel's buffers can wait.
  let sent = 0;
  while (ws.readyState === tslay.WebSocket.OPEN && sent < 4096) {
    ws.send(chunk);
    sent++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const error = await errored;
  assert.equal(error.code, 'BUFFER_OVERFLOW');
  assert.equal((await outcome)[0], 1006);
  assert.ok(sent < 4096, `the bound was reached after ${sent} sends`);
  await peer.close();
});

test('require("tslay/ws") gives the WebSocket class with ws\'s statics; import gives the same class', async () => {
  const { execFileSync } = await import('node:child_process');
  const script =
    "const WebSocket = require('tslay/ws');" +
    'console.log(JSON.stringify([typeof WebSocket, WebSocket.name, WebSocket.Server === WebSocket.WebSocketServer,' +
    ' WebSocket.WebSocket === WebSocket, WebSocket.OPEN, WebSocket.prototype.CLOSING,' +
    ' typeof WebSocket.createWebSocketStream, typeof WebSocket.Server]));' +
    "import('tslay/ws').then((m) => console.log(m.default === WebSocket && m.WebSocketServer === WebSocket.Server));";
  const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(JSON.parse(output[0]!), [
    'function',
    'WebSocket',
    true,
    true,
    1,
    2,
    'function',
    'function',
  ]);
  assert.equal(output[1], 'true');
});

for (const { name, WebSocket, WebSocketServer } of BOTH) {
  test(`followRedirects: a 302 to another path is followed, with a 'redirect' event (${name})`, async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/there' });
    wss.on('connection', (ws, req) => ws.send(`at ${req.url}`));
    await once(wss, 'listening');
    const port = (wss.address() as net.AddressInfo).port;
    const redirector = await rawServer((socket) => {
      socket.end(
        `HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:${port}/there?x=1\r\nContent-Length: 0\r\n\r\n`,
      );
    });
    const ws = new WebSocket(`ws://127.0.0.1:${redirector.port}/here`, { followRedirects: true });
    const redirects: string[] = [];
    ws.on('redirect', (url: string) => redirects.push(url));
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(data.toString(), 'at /there?x=1');
    assert.deepEqual(redirects, [`ws://127.0.0.1:${port}/there?x=1`]);
    assert.equal(ws.url, `ws://127.0.0.1:${port}/there?x=1`);
    ws.close();
    await closed(ws);
    const plain = new WebSocket(`ws://127.0.0.1:${redirector.port}/here`);
    assert.equal((await errorOf(plain)).message, 'Unexpected server response: 302');
    const looping = new WebSocket(`ws://127.0.0.1:${redirector.port}/here`, {
      followRedirects: true,
      maxRedirects: 0,
    });
    assert.equal((await errorOf(looping)).message, 'Maximum redirects exceeded');
    await redirector.close();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
}

test("tslay/ws: a violation with no 'error' listener does not throw; 'close' still comes", async () => {
  const peer = await scripted(serverFrame(0x3, 'x'));
  const ws = new BOTH[1].WebSocket(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: false });
  const [code] = await closed(ws);
  assert.equal(code, 1006);
  await peer.close();
});

for (const { name, WebSocket, WebSocketServer } of BOTH) {
  test(`options reach http(s).request: headers, origin, agent, TLS (wss with ca) (${name})`, async () => {
    const { makeCertificate } = await import('../helpers/certificate.ts');
    const https = await import('node:https');
    const certificate = makeCertificate();
    try {
      const server = https.createServer({ cert: certificate.cert, key: certificate.key });
      const wss = new WebSocketServer({ server });
      wss.on('connection', (ws, req) => {
        ws.send(JSON.stringify([req.headers['x-token'], req.headers.origin, req.headers['user-agent']]));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      const agent = new https.Agent({ ca: certificate.cert, keepAlive: false });
      let created = 0;
      const createConnection = agent.createConnection.bind(agent);
      agent.createConnection = ((...args: Parameters<typeof createConnection>) => {
        created++;
        return createConnection(...args);
      }) as typeof agent.createConnection;
      const ws = new WebSocket(`wss://localhost:${port}/`, {
        agent,
        headers: { 'X-Token': 'secret', 'User-Agent': 'test-agent' },
        origin: 'https://app.example',
      });
      const [data] = (await once(ws, 'message')) as [Buffer];
      assert.deepEqual(JSON.parse(data.toString()), ['secret', 'https://app.example', 'test-agent']);
      assert.equal(created, 1, 'the connection came from the agent');
      ws.close();
      await closed(ws);
      const refused = new WebSocket(`wss://localhost:${port}/`);
      const error = await errorOf(refused);
      assert.match(String((error as { code?: string }).code), /SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
      const trusted = new WebSocket(`wss://localhost:${port}/`, { ca: certificate.cert });
      await once(trusted, 'message');
      trusted.close();
      await closed(trusted);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.close();
      await once(server, 'close');
    } finally {
      certificate.dispose();
    }
  });
}
