import assert from 'node:assert/strict';
import { type EventEmitter, once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Opcode } from '../../src/core/constants.ts';
import { InvalidStateError, UsageError } from '../../src/core/errors.ts';
import { connect, type ServeOptions, serve, WebSocket, type WebSocketServer } from '../../src/node/index.ts';
import { rawServer, serverFrame, switchingProtocols, until } from '../helpers/net.ts';

type CloseArgs = [code: number, reason: string, wasClean: boolean];

async function echoServer(options: ServeOptions = {}): Promise<WebSocketServer> {
  const server = await serve({ port: 0, host: '127.0.0.1', ...options });
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (data.toString() === 'close please') ws.close(4000, 'as asked');
      else ws.send(data, { binary: isBinary });
    });
  });
  return server;
}

describe('WebSocket over loopback', () => {
  let server: WebSocketServer;
  let url: string;
  before(async () => {
    server = await echoServer();
    url = `ws://127.0.0.1:${server.port}/`;
  });
  after(() => server.close());

  test('echoes text as text and bytes as binary', async () => {
    const ws = await connect(url);
    assert.equal(ws.readyState, WebSocket.OPEN);
    const received: [string, boolean][] = [];
    ws.on('message', (data, isBinary) => received.push([data.toString('hex'), isBinary]));
    ws.send('héllo');
    ws.send(new Uint8Array([1, 2, 3]));
    ws.send(new Uint8Array([0x6f, 0x6b]).buffer);
    ws.send(Buffer.from('raw text'), { binary: false });
    await until(() => received.length === 4);
    assert.deepEqual(received, [
      [Buffer.from('héllo').toString('hex'), false],
      ['010203', true],
      ['6f6b', true],
      [Buffer.from('raw text').toString('hex'), false],
    ]);
    ws.close(1000);
    const [code, , wasClean] = (await once(ws, 'close')) as CloseArgs;
    assert.equal(code, 1000);
    assert.equal(wasClean, true);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test('a close started by the server reports its code and reason on both sides', async () => {
    const connection = once(server, 'connection');
    const ws = await connect(url);
    const [serverWs] = (await connection) as [WebSocket];
    const serverClosed = once(serverWs, 'close');
    ws.send('close please');
    const [code, reason, wasClean] = (await once(ws, 'close')) as CloseArgs;
    assert.deepEqual([code, reason, wasClean], [4000, 'as asked', true]);
    const [serverCode, , serverClean] = (await serverClosed) as CloseArgs;
    assert.equal(serverCode, 4000); // the client echoed the code
    assert.equal(serverClean, true);
  });

  test('close() without a code: the peer sees 1005', async () => {
    const connection = once(server, 'connection');
    const ws = await connect(url);
    const [serverWs] = (await connection) as [WebSocket];
    const serverClosed = once(serverWs, 'close');
    const clientClosed = once(ws, 'close');
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const [code] = (await serverClosed) as CloseArgs;
    assert.equal(code, 1005);
    await clientClosed;
  });

  test('close() validates the code and the reason; closing twice is a no-op', async () => {
    const ws = await connect(url);
    assert.throws(() => ws.close(1005), UsageError);
    assert.throws(() => ws.close(1006), UsageError);
    assert.throws(() => ws.close(999), UsageError);
    assert.throws(() => ws.close(5000), UsageError);
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), UsageError);
    assert.throws(() => ws.close(undefined, 'reason without code'), UsageError);
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close(1000, 'é'.repeat(61)); // 122 bytes: allowed
    ws.close(1000);
    assert.throws(() => ws.send('late'), InvalidStateError);
    await once(ws, 'close');
  });

  test('terminate() drops the connection: 1006, not clean', async () => {
    const ws = await connect(url);
    ws.terminate();
    const [code, , wasClean] = (await once(ws, 'close')) as CloseArgs;
    assert.equal(code, 1006);
    assert.equal(wasClean, false);
  });

  test('ping is answered with a pong carrying the same data', async () => {
    const ws = await connect(url);
    ws.ping('are you there');
    const [data] = (await once(ws, 'pong')) as [Buffer];
    assert.equal(data.toString(), 'are you there');
    assert.throws(() => ws.ping(new Uint8Array(126)), UsageError);
    ws.close(1000);
    await once(ws, 'close');
  });

  test('write(opcode, bytes) sends text, binary and control frames', async () => {
    const ws = await connect(url);
    const received: [string, boolean][] = [];
    ws.on('message', (data, isBinary) => received.push([data.toString(), isBinary]));
    ws.write(Opcode.Text, Buffer.from('t'));
    ws.write(Opcode.Binary, Buffer.from('b'));
    ws.write(Opcode.Ping, Buffer.from('p'));
    const [pong] = (await once(ws, 'pong')) as [Buffer];
    assert.equal(pong.toString(), 'p');
    await until(() => received.length === 2);
    assert.deepEqual(received, [
      ['t', false],
      ['b', true],
    ]);
    assert.throws(() => ws.write(Opcode.Close, Buffer.alloc(0)), UsageError);
    ws.close(1000);
    await once(ws, 'close');
  });

  test('listeners: eventNames lists only events with listeners; no inherited name counts as one', async () => {
    const ws = await connect(url);
    // Any name, as an untyped emitter: the names an object inherits must not count as listeners.
    const emitter = ws as unknown as EventEmitter;
    assert.deepEqual(ws.eventNames(), []);
    const onPong = (): void => {};
    ws.on('pong', onPong);
    emitter.on('custom', onPong);
    assert.deepEqual(ws.eventNames(), ['pong', 'custom']);
    for (const name of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      assert.equal(emitter.listenerCount(name), 0, name);
      assert.equal(emitter.emit(name), false, name);
    }
    ws.off('pong', onPong);
    assert.deepEqual(ws.eventNames(), ['custom']);
    ws.removeAllListeners();
    assert.deepEqual(ws.eventNames(), []);
    // Without an 'error' listener an error is not thrown; a 'close' listener added late still hears the close.
    const closed = once(ws, 'close');
    ws.close(1000);
    assert.equal((await closed)[0], 1000);
  });

  test('many sends in one tick leave in one batch and arrive in order', async () => {
    const ws = await connect(url);
    const received: string[] = [];
    ws.on('message', (data) => received.push(data.toString()));
    for (let i = 0; i < 500; i++) ws.send(`m${i}`);
    await until(() => received.length === 500);
    assert.deepEqual(
      received,
      Array.from({ length: 500 }, (_, i) => `m${i}`),
    );
    ws.close(1000);
    await once(ws, 'close');
  });
});

describe('backpressure', () => {
  test('send() returns false past highWaterMark, then drain', async () => {
    const server = await echoServer();
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { highWaterMark: 64 * 1024 });
    const payload = Buffer.alloc(1024 * 1024, 7);
    assert.equal(ws.send(Buffer.alloc(10)), true);
    assert.equal(ws.send(payload), false);
    assert.ok(ws.bufferedAmount >= payload.length);
    await once(ws, 'drain');
    assert.ok(ws.bufferedAmount < 64 * 1024);
    const sizes: number[] = [];
    ws.on('message', (data) => sizes.push(data.length));
    await until(() => sizes.length === 2);
    assert.deepEqual(sizes, [10, payload.length]);
    ws.close(1000);
    await once(ws, 'close');
    await server.close();
  });

  test('a peer that stops reading is dropped once maxBufferedAmount bytes wait', async () => {
    const limit = 1024 * 1024;
    const server = await serve({ port: 0, host: '127.0.0.1', maxBufferedAmount: limit });
    const connection = once(server, 'connection');
    const client = await connect(`ws://127.0.0.1:${server.port}/`);
    client.socket.pause(); // the client's application never reads again
    const [ws] = (await connection) as [WebSocket];
    const chunk = Buffer.alloc(64 * 1024);
    let highest = 0;
    const errors: string[] = [];
    ws.on('error', (error) => errors.push((error as { code?: string }).code ?? error.message));
    // (events.once would reject on the 'error' that precedes 'close')
    const closed = new Promise<CloseArgs>((resolve) => ws.on('close', (...args) => resolve(args)));
    const flood = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(chunk);
      highest = Math.max(highest, ws.bufferedAmount);
      setImmediate(flood);
    };
    flood();
    const [code, , wasClean] = (await closed) as CloseArgs;
    assert.deepEqual([code, wasClean], [1006, false]);
    assert.deepEqual(errors, ['BUFFER_OVERFLOW']);
    assert.ok(highest <= limit + chunk.length, `buffered ${highest} bytes`);
    client.terminate();
    await server.close();
  });
});

describe('stream skin: read(), readState, for await', () => {
  test('read() returns whole messages; readState tells partial from empty', async () => {
    let peer: import('node:net').Socket | undefined;
    const raw = await rawServer((socket, request) => {
      socket.write(switchingProtocols(request));
      peer = socket;
    });
    const ws = await connect(`ws://127.0.0.1:${raw.port}/`);
    assert.equal(ws.read(), null);
    assert.equal(ws.readState, 'empty');
    await until(() => peer !== undefined);
    // The socket's byte count says when the bytes were read (a WebSocket's socket emits no 'data').
    const arrived = (bytes: number) => until(() => ws.socket.bytesRead >= bytes);
    const first3 = serverFrame(Opcode.Text, 'hel', false);
    const base = ws.socket.bytesRead;
    peer!.write(first3);
    await arrived(base + first3.length);
    assert.equal(ws.readState, 'partial');
    assert.equal(ws.read(), null);
    const rest = Buffer.concat([serverFrame(Opcode.Continuation, 'lo'), serverFrame(Opcode.Binary, 'b')]);
    peer!.write(rest);
    await arrived(base + first3.length + rest.length);
    assert.equal(ws.readState, 'ready');
    const first = ws.read();
    assert.equal(first?.data.toString(), 'hello');
    assert.equal(first?.isBinary, false);
    assert.deepEqual(
      { text: ws.read()?.data.toString(), state: ws.readState },
      { text: 'b', state: 'empty' },
    );
    peer!.destroy();
    await once(ws, 'close');
    assert.equal(ws.readState, 'closed');
    assert.equal(ws.read(), null);
    await raw.close();
  });

  test('for await yields every message and ends at close', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    server.on('connection', (ws) => {
      for (const text of ['one', 'two', 'three']) ws.send(text);
      ws.close(1000);
    });
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    const texts: string[] = [];
    for await (const message of ws) texts.push(message.data.toString());
    assert.deepEqual(texts, ['one', 'two', 'three']);
    assert.equal(ws.readyState, WebSocket.CLOSED);
    await server.close();
  });

  test('unread messages pause the socket past readHighWaterMark; reading resumes it', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    server.on('connection', (ws) => {
      for (let i = 0; i < 20; i++) ws.send(Buffer.alloc(100, i));
    });
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { readHighWaterMark: 250 });
    await until(() => ws.readState === 'ready' && ws.socket.isPaused());
    const seen: number[] = [];
    while (seen.length < 20) {
      const message = ws.read();
      if (message === null) await until(() => ws.readState === 'ready');
      else seen.push(message.data[0]);
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => i),
    );
    ws.close(1000);
    await once(ws, 'close');
    await server.close();
  });

  test('messages that arrive before a message listener is added are delivered to it, in order', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    server.on('connection', (ws) => {
      ws.send('early 1');
      ws.send('early 2');
    });
    const ws = await connect(`ws://127.0.0.1:${server.port}/`);
    await until(() => ws.readState === 'ready');
    const received: string[] = [];
    ws.on('message', (data) => received.push(data.toString()));
    await until(() => received.length === 2);
    assert.deepEqual(received, ['early 1', 'early 2']);
    ws.close(1000);
    await once(ws, 'close');
    await server.close();
  });
});
