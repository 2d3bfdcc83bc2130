/**
 * socket.io on each ws implementation: the socket.io server's engine.io layer is given the implementation's
 * WebSocketServer as `wsEngine` and allows only the websocket transport, so every byte between server and
 * clients goes through that implementation. The clients are socket.io-client's own (it brings the `ws` package).
 *
 * What engine.io asks of `wsEngine` (engine.io/build/server.js and transports/websocket.js): a constructor taking
 * `{ noServer, clientTracking: false, perMessageDeflate, maxPayload, maxBufferedChunks }`, `handleUpgrade(req,
 * socket, head, cb)`, a `headers` event with a mutable array of header lines, `close()`; on each socket `on
 * ('message', (data, isBinary))`, `once('close')`, `on('error')`, `send(data, cb)` whose callback fires for every
 * send, and `close()`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Server, type ServerOptions, type Socket as ServerSocket } from 'socket.io';
import {
  type Socket as ClientSocket,
  io as connectClient,
  type ManagerOptions,
  type SocketOptions,
} from 'socket.io-client';
import { WebSocket as WsClient } from 'ws';
import { SEED, seededRandom } from '../helpers/feed.ts';
import { IMPLEMENTATIONS, type WsImplementation } from '../helpers/ws-implementations.ts';

const TIMEOUT = 30_000;
/** Teardown gets a bound too, so that a server that never finishes closing fails the test instead of hanging. */
const HOOK = { timeout: TIMEOUT };

/** `n` bytes from the seeded generator: the same bytes on every run with the same seed. */
function randomBytes(seed: number, n: number): Buffer {
  const random = seededRandom(seed);
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

interface Fixture {
  io: Server;
  port: number;
  /** A socket.io-client on its own connection (websocket transport, no reconnection), once connected. */
  connect(options?: Partial<ManagerOptions & SocketOptions>): Promise<ClientSocket>;
  /** The server's side of `client` (socket.io gives both sides the same id). */
  serverSide(client: ClientSocket): ServerSocket;
}

/** A socket.io server on `impl`, torn down (clients first) after the test. */
async function startServer(
  t: TestContext,
  impl: WsImplementation,
  options: Partial<ServerOptions> = {},
): Promise<Fixture> {
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    wsEngine: impl.WebSocketServer,
    transports: ['websocket'],
    ...options,
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as AddressInfo;
  const clients: ClientSocket[] = [];
  t.after(async () => {
    for (const client of clients) client.disconnect();
    // Closes every engine.io connection and then the HTTP server, resolving once it has closed.
    await io.close();
  }, HOOK);
  return {
    io,
    port,
    async connect(clientOptions = {}) {
      const client = connectClient(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        ...clientOptions,
      });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      return client;
    },
    serverSide(client) {
      const socket = io.of('/').sockets.get(client.id!);
      assert.ok(socket, `no server socket for client ${client.id}`);
      return socket;
    },
  };
}

/** The socket of `impl` that engine.io's websocket transport reads and writes. */
function transportSocket(
  impl: WsImplementation,
  socket: ServerSocket,
): InstanceType<WsImplementation['WebSocket']> {
  const transport = socket.conn.transport as unknown as { socket: unknown };
  assert.ok(transport.socket instanceof impl.WebSocket, 'the transport socket comes from the wsEngine');
  return transport.socket as InstanceType<WsImplementation['WebSocket']>;
}

function disconnected(emitter: ClientSocket | ServerSocket): Promise<string> {
  return new Promise((resolve) => emitter.once('disconnect', (reason: string) => resolve(reason)));
}

for (const impl of IMPLEMENTATIONS) {
  describe(`socket.io over ${impl.name}`, () => {
    it('connects over the websocket transport of the wsEngine; emits are acknowledged both ways', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      const engineTransports: string[] = [];
      fx.io.engine.on('connection', (conn: { transport: { name: string } }) => {
        engineTransports.push(conn.transport.name);
      });
      fx.io.on('connection', (socket) => {
        socket.on('sum', (numbers: number[], ack: (sum: number) => void) => {
          ack(numbers.reduce((a, b) => a + b, 0));
        });
      });
      const client = await fx.connect();
      client.on('double', (text: string, ack: (doubled: string) => void) => ack(text + text));
      const server = fx.serverSide(client);

      // engine.io made the connection with the implementation's server and speaks websocket over its socket.
      const engine = fx.io.engine as unknown as { ws: unknown; clientsCount: number };
      assert.ok(engine.ws instanceof impl.WebSocketServer, 'io.engine.ws is the wsEngine');
      assert.equal(engine.clientsCount, 1);
      assert.deepEqual(engineTransports, ['websocket']);
      assert.equal(server.conn.transport.name, 'websocket');
      assert.equal(client.io.engine.transport.name, 'websocket');
      assert.equal(transportSocket(impl, server).readyState, impl.WebSocket.OPEN);
      assert.equal(server.handshake.address, '127.0.0.1');

      const numbers = Array.from({ length: 50 }, (_, i) => i * 7 - 100);
      assert.equal(await client.emitWithAck('sum', numbers), 50 * 49 * 3.5 - 5000);
      assert.equal(
        await server.emitWithAck('double', 'caf\u00e9 \u{1f600} '),
        'caf\u00e9 \u{1f600} caf\u00e9 \u{1f600} ',
      );
    });

    it("engine.io's initial_headers and headers reach the 101 response (the wsEngine's headers event)", {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      fx.io.engine.on('initial_headers', (headers: Record<string, string>) => {
        headers['x-initial'] = 'first';
      });
      fx.io.engine.on('headers', (headers: Record<string, string>) => {
        headers['x-every'] = 'always';
      });
      // A bare ws client, to read the handshake response and engine.io's open packet as they are.
      const raw = new WsClient(`ws://127.0.0.1:${fx.port}/socket.io/?EIO=4&transport=websocket`);
      t.after(() => raw.terminate());
      // The open packet may arrive in the same read as the response: listen for both from the start.
      const upgraded = once(raw, 'upgrade') as Promise<[http.IncomingMessage]>;
      const firstMessage = once(raw, 'message') as Promise<[Buffer, boolean]>;
      const [response] = await upgraded;
      assert.equal(response.headers['x-initial'], 'first');
      assert.equal(response.headers['x-every'], 'always');
      const [data, isBinary] = await firstMessage;
      assert.equal(isBinary, false);
      const text = data.toString('utf8');
      assert.equal(text[0], '0', `an engine.io open packet: ${text}`);
      const open = JSON.parse(text.slice(1)) as { sid: string; upgrades: string[]; maxPayload: number };
      assert.equal(typeof open.sid, 'string');
      assert.deepEqual(open.upgrades, []);
      assert.equal(open.maxPayload, 1e6);
    });

    it('a room broadcast reaches all 100 members, 3 messages in order, and none of the 5 outsiders', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      fx.io.on('connection', (socket) => {
        socket.on('join', async (room: string, ack: () => void) => {
          await socket.join(room);
          ack();
        });
      });
      const received = new Map<ClientSocket, string[]>();
      const sentinels: Promise<void>[] = [];
      const listen = (client: ClientSocket) => {
        const log: string[] = [];
        received.set(client, log);
        client.on('news', (n: number, text: string) => log.push(`${n}:${text}`));
        sentinels.push(new Promise((resolve) => client.once('sentinel', () => resolve())));
        return client;
      };
      const members = await Promise.all(Array.from({ length: 100 }, async () => listen(await fx.connect())));
      const outsiders = await Promise.all(Array.from({ length: 5 }, async () => listen(await fx.connect())));
      await Promise.all(members.map((client) => client.emitWithAck('join', 'room-a')));
      assert.equal(fx.io.of('/').adapter.rooms.get('room-a')?.size, 100);
      assert.equal(fx.io.engine.clientsCount, 105);

      const news = [1, 2, 3].map((n) => `news ${n} \u00e9\u{1f4f0}`);
      for (const [i, text] of news.entries()) fx.io.to('room-a').emit('news', i + 1, text);
      // Everyone gets the sentinel after whatever the room was sent: once it has arrived everywhere, nothing of
      // the broadcast is still on its way.
      fx.io.emit('sentinel');
      await Promise.all(sentinels);

      const want = news.map((text, i) => `${i + 1}:${text}`);
      for (const [i, client] of members.entries())
        assert.deepEqual(received.get(client), want, `member ${i}`);
      for (const [i, client] of outsiders.entries())
        assert.deepEqual(received.get(client), [], `outsider ${i}`);
    });

    it('binary payloads both ways: 64 KiB of seeded random bytes, and an object with nested binary', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      const atServer: unknown[] = [];
      fx.io.on('connection', (socket) => {
        socket.on('echo', (payload: unknown, ack: (payload: unknown) => void) => {
          atServer.push(payload);
          ack(payload);
        });
      });
      const client = await fx.connect();
      const server = fx.serverSide(client);

      const up = randomBytes(SEED, 64 * 1024);
      const echoed: unknown = await client.emitWithAck('echo', up);
      const [got] = atServer;
      assert.ok(Buffer.isBuffer(got), `the server receives a Buffer (seed ${SEED})`);
      assert.ok(got.equals(up), `client to server: the same 64 KiB (seed ${SEED})`);
      assert.ok(Buffer.isBuffer(echoed), `the client receives a Buffer (seed ${SEED})`);
      assert.ok(echoed.equals(up), `server to client, in the ack: the same 64 KiB (seed ${SEED})`);

      const down = randomBytes(SEED + 1, 64 * 1024);
      const blob = new Promise<unknown>((resolve) => client.once('blob', resolve));
      server.emit('blob', down);
      const gotDown = await blob;
      assert.ok(
        Buffer.isBuffer(gotDown) && gotDown.equals(down),
        `server to client: 64 KiB (seed ${SEED + 1})`,
      );

      const mixed = {
        name: 'mixed \u00e9',
        count: 3,
        empty: Buffer.alloc(0),
        list: [1, randomBytes(SEED + 2, 1000), { deep: randomBytes(SEED + 3, 17), flag: true }],
        nothing: null,
      };
      const mixedBack = await client.emitWithAck('echo', mixed);
      assert.deepEqual(atServer[1], mixed, `nested binary, client to server (seed ${SEED})`);
      assert.deepEqual(mixedBack, mixed, `nested binary, server to client (seed ${SEED})`);
    });

    it('server-side disconnect: the client sees "io server disconnect", the server "server namespace disconnect"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      const client = await fx.connect();
      const server = fx.serverSide(client);
      const atClient = disconnected(client);
      const atServer = disconnected(server);
      server.disconnect(true);
      assert.equal(await atClient, 'io server disconnect');
      assert.equal(await atServer, 'server namespace disconnect');
    });

    it('client-side disconnect: the server sees "client namespace disconnect", the client "io client disconnect"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      const client = await fx.connect();
      const server = fx.serverSide(client);
      const atClient = disconnected(client);
      const atServer = disconnected(server);
      client.disconnect();
      assert.equal(await atClient, 'io client disconnect');
      assert.equal(await atServer, 'client namespace disconnect');
    });

    it('the server terminates the WebSocket: both sides see "transport close"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      const client = await fx.connect();
      const server = fx.serverSide(client);
      const atClient = disconnected(client);
      const atServer = disconnected(server);
      transportSocket(impl, server).terminate();
      assert.equal(await atServer, 'transport close');
      assert.equal(await atClient, 'transport close');
    });

    it('the client closes its engine.io connection: the server sees "transport close"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl);
      const client = await fx.connect();
      const server = fx.serverSide(client);
      const atClient = disconnected(client);
      const atServer = disconnected(server);
      client.io.engine.close();
      assert.equal(await atServer, 'transport close');
      // The client closed the engine itself, which it reports as a forced close.
      assert.equal(await atClient, 'forced close');
    });

    it('a message over maxHttpBufferSize (the wsEngine maxPayload): the server sees "transport error"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const fx = await startServer(t, impl, { maxHttpBufferSize: 1000 });
      const client = await fx.connect();
      const server = fx.serverSide(client);
      const atClient = disconnected(client);
      const atServer = disconnected(server);
      client.emit('big', 'x'.repeat(2000));
      assert.equal(await atServer, 'transport error');
      assert.equal(await atClient, 'transport close');
    });
  });
}
