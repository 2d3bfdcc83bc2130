/**
 * createWebSocketStream over real ws WebSockets (client and server on loopback, port 0): data both ways,
 * object mode, backpressure, ending, destroying and errors. The payloads are seeded; a failure names the seed
 * (TSLAY_SEED reproduces it).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex, DuplexOptions } from 'node:stream';
import { before, describe, test } from 'node:test';
import {
  type ServerOptions,
  WebSocket as WsClient,
  WebSocketServer as WsServer,
  createWebSocketStream as wsCreateWebSocketStream,
} from 'ws';
import * as tslayWs from '../../src/ws/index.ts';
import { createWebSocketStream as tslayCreateWebSocketStream } from '../../src/ws/stream.ts';
import { SEED, seededRandom } from '../helpers/feed.ts';

interface Pair {
  server: WsServer;
  client: WsClient;
  /** The server's side of `client`. */
  peer: Promise<WsClient>;
  dispose(): Promise<void>;
}

/** Resolves on the next `event` of `emitter` without rejecting on 'error' (unlike events.once). */
function next<T extends unknown[]>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}

/** Resolves once `ws` is open (at once if it already is). */
async function opened(ws: WsClient): Promise<void> {
  if (ws.readyState === WsClient.CONNECTING) await next(ws, 'open');
  assert.equal(ws.readyState, WsClient.OPEN);
}

/** The close code and reason a WebSocket reports. */
async function closeOf(ws: WsClient): Promise<[number, string]> {
  if (ws.readyState === WsClient.CLOSED) throw new Error('already closed');
  const [code, reason] = await next<[number, Buffer]>(ws, 'close');
  return [code, reason.toString()];
}

/** The WebSocket classes of the suite that runs (ws's, or tslay/ws's; see `implementations`). */
let classes = { WebSocket: WsClient, WebSocketServer: WsServer };

async function listen(options: ServerOptions = {}): Promise<{ server: WsServer; url: string }> {
  const server = new classes.WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: WsServer): Promise<void> {
  for (const ws of server.clients) ws.terminate();
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

async function pair(): Promise<Pair> {
  const { server, url } = await listen();
  const peer = next<[WsClient]>(server, 'connection').then(([ws]) => ws);
  const client = new classes.WebSocket(url);
  return {
    server,
    client,
    peer,
    async dispose() {
      if (client.readyState !== WsClient.CLOSED) {
        const closed = next(client, 'close');
        client.on('error', () => {});
        client.terminate();
        await closed;
      }
      await closeServer(server);
    },
  };
}

async function withPair(body: (p: Pair) => Promise<void>): Promise<void> {
  const p = await pair();
  try {
    await body(p);
  } finally {
    await p.dispose();
  }
}

/** Every chunk `stream` yields until 'end' (events, not `for await`, which would destroy the stream). */
async function chunksOf(stream: Duplex): Promise<unknown[]> {
  const chunks: unknown[] = [];
  stream.on('data', (chunk) => chunks.push(chunk));
  await next(stream, 'end');
  return chunks;
}

async function readAll(stream: Duplex): Promise<Buffer> {
  return Buffer.concat((await chunksOf(stream)) as Buffer[]);
}

function randomBytes(random: () => number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/** `payload` cut into seeded pieces of 1 byte to 64 KiB. */
function pieces(random: () => number, payload: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; ) {
    const size = 1 + Math.floor(random() * 65536);
    out.push(payload.subarray(at, at + size));
    at += size;
  }
  return out;
}

async function writeAll(stream: Duplex, chunks: Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
}

const MiB = 1024 * 1024;

// Every test runs against ws's own createWebSocketStream too: the reference for what is asserted. The stream
// runs over ws's WebSocket, and over tslay/ws's (the whole skin).
const tslayClasses = {
  WebSocket: tslayWs.WebSocket as unknown as typeof WsClient,
  WebSocketServer: tslayWs.WebSocketServer as unknown as typeof WsServer,
};
const wsClasses = { WebSocket: WsClient, WebSocketServer: WsServer };
const implementations: [string, (ws: WsClient, options?: DuplexOptions) => Duplex, typeof classes][] = [
  ['src/ws/stream.ts over ws', tslayCreateWebSocketStream, wsClasses],
  ['ws', wsCreateWebSocketStream, wsClasses],
  ['tslay/ws', tslayWs.createWebSocketStream as unknown as typeof wsCreateWebSocketStream, tslayClasses],
];

for (const [name, createWebSocketStream, suiteClasses] of implementations) {
  describe(`createWebSocketStream: ${name}`, () => {
    before(() => {
      classes = suiteClasses;
    });
    test('1 MiB written in pieces reaches the peer intact and comes back through the readable side', () =>
      withPair(async ({ client, peer }) => {
        const random = seededRandom(SEED);
        const payload = randomBytes(random, MiB);
        const chunks = pieces(random, payload);
        const stream = createWebSocketStream(client);
        const echoed = readAll(stream);
        assert.equal(client.readyState, WsClient.CONNECTING);
        // Written while connecting: the first write waits for 'open'.
        const written = writeAll(stream, chunks);
        const server = await peer;
        const received: Buffer[] = [];
        server.on('message', (data: Buffer, isBinary) => {
          assert.equal(isBinary, true, 'a Buffer chunk is a binary message');
          received.push(data);
          server.send(data);
        });
        const serverClosed = closeOf(server);
        await written;
        stream.end();
        const back = await echoed;
        assert.equal(received.length, chunks.length, `seed ${SEED}: one message per chunk`);
        assert.ok(Buffer.concat(received).equals(payload), `seed ${SEED}: the peer received the payload`);
        assert.ok(back.equals(payload), `seed ${SEED}: the payload came back`);
        assert.deepEqual(await serverClosed, [1005, '']);
      }));

    test('1 MiB sent by the peer in messages is read back in order', () =>
      withPair(async ({ client, peer }) => {
        const random = seededRandom(SEED + 1);
        const payload = randomBytes(random, MiB);
        const stream = createWebSocketStream(client);
        const read = readAll(stream);
        const server = await peer;
        for (const chunk of pieces(random, payload)) server.send(chunk);
        server.close(1000);
        assert.ok((await read).equals(payload), `seed ${SEED + 1}`);
      }));

    test('readableObjectMode: one chunk per message, text as a string, binary as a Buffer', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client, { readableObjectMode: true, writableObjectMode: true });
        assert.equal(stream.readableObjectMode, true);
        assert.equal(stream.writableObjectMode, false, 'writableObjectMode is overridden');
        const server = await peer;
        server.send('héllo');
        server.send(Buffer.from([1, 2, 3]));
        server.send('');
        server.close();
        assert.deepEqual(await chunksOf(stream), ['héllo', Buffer.from([1, 2, 3]), '']);
      }));

    test('objectMode is overridden: text messages are Buffers, joined like any byte stream', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client, { objectMode: true });
        assert.equal(stream.readableObjectMode, false);
        assert.equal(stream.writableObjectMode, false);
        assert.throws(() => stream.write({}), { code: 'ERR_INVALID_ARG_TYPE' });
        const server = await peer;
        server.send('ab');
        server.send('cd');
        server.close();
        const read = await readAll(stream);
        assert.equal(read.toString(), 'abcd');
      }));

    test('encoding and decodeStrings: false: strings read, and a string chunk is sent as a text message', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client, { encoding: 'utf8', decodeStrings: false });
        const server = await peer;
        const message = next<[Buffer, boolean]>(server, 'message');
        stream.write('wörd');
        const [data, isBinary] = await message;
        assert.deepEqual([data.toString(), isBinary], ['wörd', false]);
        server.send(Buffer.from('ünï'));
        const [chunk] = await next<[unknown]>(stream, 'data');
        assert.equal(chunk, 'ünï');
      }));

    test('a slow reader pauses the WebSocket; reading resumes it; nothing is lost', () =>
      withPair(async ({ client, peer }) => {
        const random = seededRandom(SEED + 2);
        const size = 16 * 1024;
        const messages = Array.from({ length: 32 }, () => randomBytes(random, size));
        const stream = createWebSocketStream(client, { readableHighWaterMark: size });
        await opened(client);
        // Listens after the stream, so it runs after the stream's push() of the same message.
        const pausedAfterPush = next(client, 'message').then(() => client.isPaused);
        const server = await peer;
        for (const message of messages) server.send(message);
        server.close(1000);
        assert.equal(await pausedAfterPush, true, 'push() past the high-water mark pauses the WebSocket');
        assert.equal(client.isPaused, true, 'nobody reads: it stays paused');
        // What one read() returns depends on the Node line (the whole buffer, or its first chunk): read until
        // the buffer is below the high-water mark, which is when the stream asks for more.
        // The resumed WebSocket may deliver at once and be paused again (tslay/ws parses what the socket already
        // holds synchronously), so the resume is counted rather than read off isPaused.
        let resumed = 0;
        const resume = client.resume.bind(client);
        client.resume = () => {
          resumed++;
          resume();
        };
        const taken: Buffer[] = [];
        while (stream.readableLength >= size) taken.push(stream.read() as Buffer);
        assert.ok(taken.length > 0);
        assert.ok(resumed > 0, 'read() below the high-water mark resumes it');
        const rest = await readAll(stream);
        assert.ok(Buffer.concat([...taken, rest]).equals(Buffer.concat(messages)), `seed ${SEED + 2}`);
      }));

    test('end() closes the WebSocket cleanly: the peer sees 1005; finish, end and close follow', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        const events: string[] = [];
        for (const event of ['finish', 'end', 'close', 'error']) stream.on(event, () => events.push(event));
        stream.resume();
        const server = await peer;
        const serverClosed = closeOf(server);
        const clientClosed = closeOf(client);
        const closed = next(stream, 'close').then(() => client.readyState);
        stream.end();
        assert.deepEqual(await serverClosed, [1005, '']);
        assert.deepEqual(await clientClosed, [1005, '']);
        assert.equal(await closed, WsClient.CLOSED, "the stream's close follows the WebSocket's");
        assert.equal(stream.destroyed, true);
        assert.deepEqual(events.sort(), ['close', 'end', 'finish']);
        assert.equal(events.length, 3);
      }));

    test('the peer closing ends the readable side; end() afterwards finishes and destroys', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        const server = await peer;
        server.close(4001, 'done');
        assert.deepEqual(await readAll(stream), Buffer.alloc(0));
        assert.equal(client.readyState, WsClient.CLOSED);
        assert.equal(stream.destroyed, false, 'the writable side is still open');
        const closed = next(stream, 'close');
        stream.end();
        await closed;
        assert.equal(stream.writableFinished, true);
        assert.equal(stream.destroyed, true);
      }));

    test("end() in the WebSocket's 'close', before reading: finish, then end, which destroys", () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        const events: string[] = [];
        stream.on('finish', () => {
          events.push('finish');
          assert.equal(stream.destroyed, false);
          assert.equal(stream.readable, true);
          stream.resume();
        });
        stream.on('end', () => {
          events.push('end');
          assert.equal(stream.destroyed, true, 'destroyed before later end listeners run');
        });
        const closed = next(stream, 'close');
        client.on('close', () => stream.end());
        const server = await peer;
        server.send('foo');
        server.close();
        await closed;
        assert.deepEqual(events, ['finish', 'end']);
      }));

    test("end() in the stream's 'end': end, then finish, which destroys", () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        const events: string[] = [];
        stream.on('end', () => {
          events.push('end');
          assert.equal(stream.destroyed, false);
          assert.equal(stream.writable, true);
          stream.end();
        });
        stream.on('finish', () => events.push('finish'));
        const closed = next(stream, 'close');
        stream.resume();
        (await peer).close();
        await closed;
        assert.deepEqual(events, ['end', 'finish']);
        assert.equal(stream.destroyed, true);
      }));

    test('end() while connecting waits for open, then closes', () =>
      withPair(async ({ client, peer }) => {
        assert.equal(client.readyState, WsClient.CONNECTING);
        const stream = createWebSocketStream(client);
        const closed = next(stream, 'close');
        stream.resume();
        stream.end();
        const server = await peer;
        assert.deepEqual(await closeOf(server), [1005, '']);
        await closed;
      }));

    test('an error emitted with no other listener still throws; the stream is destroyed', () =>
      withPair(async ({ client }) => {
        const stream = createWebSocketStream(client);
        await opened(client);
        const closed = next(stream, 'close');
        const clientClosed = closeOf(client);
        const error = new Error('nobody listens');
        assert.throws(() => stream.emit('error', error), error);
        assert.equal(stream.destroyed, true);
        assert.deepEqual(await clientClosed, [1006, '']);
        await closed;
      }));

    test('destroy() terminates the WebSocket: 1006 on both sides, close after the WebSocket closed', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        await opened(client);
        const server = await peer;
        const serverClosed = closeOf(server);
        const clientClosed = closeOf(client);
        const events: string[] = [];
        for (const event of ['error', 'finish', 'end']) stream.on(event, () => events.push(event));
        const closed = next(stream, 'close').then(() => client.readyState);
        stream.destroy();
        assert.equal(stream.destroyed, true);
        assert.deepEqual(await clientClosed, [1006, '']);
        assert.deepEqual(await serverClosed, [1006, '']);
        assert.equal(await closed, WsClient.CLOSED);
        assert.deepEqual(events, []);
      }));

    test('destroy(error) emits that error, then close once the WebSocket has closed', () =>
      withPair(async ({ client }) => {
        const stream = createWebSocketStream(client);
        await opened(client);
        const cause = new Error('application gave up');
        const errored = next<[Error]>(stream, 'error');
        const closed = next(stream, 'close').then(() => client.readyState);
        stream.destroy(cause);
        assert.equal((await errored)[0], cause);
        assert.equal(await closed, WsClient.CLOSED);
      }));

    test("the WebSocket's error destroys the stream with it, without cutting off the close frame", () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        stream.resume();
        const server = await peer;
        await opened(client);
        // A backlog the server does not read yet: the client's close frame will queue behind it, so
        // terminating the connection on the error would lose it.
        server.pause();
        const backlog = Buffer.alloc(32 * MiB, 7);
        stream.write(backlog);
        const received: number[] = [];
        server.on('message', (data: Buffer) => received.push(data.length));
        const serverClosed = closeOf(server);
        const wsError = next<[Error]>(client, 'error');
        const streamError = next<[Error]>(stream, 'error');
        const streamClosed = next(stream, 'close');
        // ws does not validate outgoing text: the client fails the connection with 1007.
        server.send(Buffer.from([0xc3, 0x28]), { binary: false });
        const [error] = await wsError;
        assert.equal((error as NodeJS.ErrnoException).code, 'WS_ERR_INVALID_UTF8');
        // The stream reports the error once the WebSocket has closed, which needs the server's reply.
        server.resume();
        // 1007 (ws sends no reason with it, tslay/ws names the violation).
        assert.equal((await serverClosed)[0], 1007);
        assert.deepEqual(received, [backlog.length]);
        assert.equal((await streamError)[0], error);
        await streamClosed;
        assert.equal(stream.destroyed, true);
      }));

    test('a failed handshake destroys the stream with the WebSocket error; a pending write is never sent', async () => {
      const { server, url } = await listen({ verifyClient: () => false });
      try {
        const client = new WsClient(url);
        const stream = createWebSocketStream(client);
        let written = false;
        stream.write('never', () => {
          written = true;
        });
        const errored = next<[Error]>(stream, 'error');
        const closed = next(stream, 'close');
        const [error] = await errored;
        assert.equal(error.message, 'Unexpected server response: 401');
        await closed;
        assert.equal(client.readyState, WsClient.CLOSED);
        assert.equal(written, false);
      } finally {
        await closeServer(server);
      }
    });

    test('a write after the WebSocket closed errors the stream and destroys it', () =>
      withPair(async ({ client, peer }) => {
        const stream = createWebSocketStream(client);
        stream.resume();
        (await peer).close();
        await next(stream, 'end');
        const errored = next<[Error]>(stream, 'error');
        const closed = next(stream, 'close');
        stream.write(Buffer.from('late'));
        const [error] = await errored;
        assert.match(error.message, /WebSocket is not open/);
        await closed;
        assert.equal(stream.destroyed, true);
      }));
  });
}
