/**
 * graphql-ws on each ws implementation: `useServer` (graphql-ws/use/ws) runs on the implementation's
 * WebSocketServer, and the clients are the implementation's WebSocket, either driven by graphql-ws's
 * `createClient` (`webSocketImpl`) or speaking the GraphQL over WebSocket protocol's JSON by hand.
 *
 * What useServer asks of the server (graphql-ws/dist/use/ws.js): it sets `wss.options.handleProtocols` after
 * construction (read at each upgrade; called with the offered subprotocols, a `false` result means "answer
 * without a subprotocol"), listens for `connection` (socket, request) and `error`, walks `wss.clients`,
 * `removeAllListeners()` and `close(cb)` on dispose. Of each socket: `protocol`, `readyState` against the
 * instance's `OPEN`, `send(data, cb)`, `close(code, reason)`, `ping()`, `once('pong')`, `terminate()`,
 * `on('message')` read with `String(data)`, `once('close', (code, reason))` and `once('error')`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type * as net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createClient, GRAPHQL_TRANSPORT_WS_PROTOCOL } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { openSocket, upgradeRequest } from '../helpers/net.ts';
import { IMPLEMENTATIONS, type WsImplementation } from '../helpers/ws-implementations.ts';

const TIMEOUT = 30_000;
/** Set-up and teardown get a bound too, so that a server that never finishes closing fails instead of hanging. */
const HOOK = { timeout: TIMEOUT };

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      hello: {
        type: new GraphQLNonNull(GraphQLString),
        args: { name: { type: GraphQLString } },
        resolve: (_root, { name }: { name?: string | null }) => `hello ${name ?? 'world'}`,
      },
    },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      count: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { to: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root: unknown, { to }: { to: number }) {
          for (let i = 1; i <= to; i++) yield i;
        },
        resolve: (value: unknown) => value,
      },
    },
  }),
});

/** A WebSocket of the implementation, on either side of a connection. */
type ImplSocket = InstanceType<WsImplementation['WebSocket']>;
/** The useServer options a test may change. */
interface UseServerOptions {
  connectionInitWaitTimeout?: number;
}

interface GraphqlServer {
  url: string;
  port: number;
  /** The server side of every connection, in the order they were made. */
  sockets: ImplSocket[];
  /** The protocol of the socket that graphql-ws handed to `onConnect`, per connection_init acknowledged. */
  onConnectProtocols: string[];
  dispose(): Promise<void>;
  close(): Promise<void>;
}

/** useServer on `impl`, attached to an HTTP server at /graphql. */
async function startServer(impl: WsImplementation, options: UseServerOptions = {}, keepAlive?: number) {
  const httpServer = http.createServer();
  const wss = new impl.WebSocketServer({ server: httpServer, path: '/graphql' });
  const sockets: ImplSocket[] = [];
  wss.on('connection', (socket) => sockets.push(socket));
  const onConnectProtocols: string[] = [];
  const disposable = useServer(
    {
      schema,
      onConnect(ctx) {
        assert.ok(ctx.extra.socket instanceof impl.WebSocket, 'graphql-ws runs on the implementation socket');
        onConnectProtocols.push(ctx.extra.socket.protocol);
      },
      ...options,
    },
    wss,
    keepAlive,
  );
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as net.AddressInfo;
  let disposed: Promise<void> | undefined;
  const dispose = () => (disposed ??= Promise.resolve(disposable.dispose()));
  const server: GraphqlServer = {
    url: `ws://127.0.0.1:${port}/graphql`,
    port,
    sockets,
    onConnectProtocols,
    dispose,
    async close() {
      // Closes every client with 1001 and resolves once the WebSocketServer has closed (all clients gone).
      await dispose();
      await new Promise<void>((resolve, reject) =>
        httpServer.close((err) => (err ? reject(err) : resolve())),
      );
    },
  };
  return server;
}

interface RawClient {
  ws: ImplSocket;
  opened: Promise<void>;
  /** Every text or binary message, as text, in arrival order. */
  messages: string[];
  /** Resolves with the first message whose `type` is `type`. */
  awaitType(type: string): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  errors: Error[];
}

/** An `impl.WebSocket` with every listener in place from the start (so nothing can arrive unobserved). */
function rawClient(
  t: TestContext,
  impl: WsImplementation,
  url: string,
  protocols: string[] = [GRAPHQL_TRANSPORT_WS_PROTOCOL],
  options: ConstructorParameters<WsImplementation['WebSocket']>[2] = {},
): RawClient {
  const ws = new impl.WebSocket(url, protocols, options);
  t.after(() => ws.terminate());
  const messages: string[] = [];
  const waiters: { type: string; resolve: (message: Record<string, unknown>) => void }[] = [];
  const errors: Error[] = [];
  ws.on('error', (err) => errors.push(err));
  ws.on('message', (data) => {
    const text = String(data);
    messages.push(text);
    const message = JSON.parse(text) as Record<string, unknown>;
    for (const waiter of waiters.filter((w) => w.type === message.type)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before opening')));
  });
  // A test that expects the handshake to fail looks at `errors` and `closed` instead.
  opened.catch(() => {});
  return {
    ws,
    opened,
    messages,
    closed,
    errors,
    awaitType(type) {
      const seen = messages.map((m) => JSON.parse(m) as Record<string, unknown>).find((m) => m.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ type, resolve }));
    },
  };
}

/** Bytes from `socket` until `done(bytes)` holds (or the peer closes). */
async function readUntil(socket: net.Socket, done: (bytes: Buffer) => boolean): Promise<Buffer> {
  let bytes = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (done(bytes)) finish();
    };
    const finish = () => {
      socket.off('data', onData);
      socket.off('end', finish);
      resolve(bytes);
    };
    socket.on('data', onData);
    socket.on('end', finish);
    socket.once('error', reject);
  });
}

/** The head of an HTTP response and, after it, a complete unmasked close frame with a short payload. */
function splitResponseAndCloseFrame(bytes: Buffer): { head: string; frame: Buffer } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const frame = bytes.subarray(end + 4);
  if (frame.length < 2 || frame.length < 2 + (frame[1]! & 0x7f)) return undefined;
  return { head: bytes.subarray(0, end).toString('latin1'), frame };
}

for (const impl of IMPLEMENTATIONS) {
  describe(`graphql-ws over ${impl.name}`, () => {
    let server: GraphqlServer;
    before(async () => {
      server = await startServer(impl);
    }, HOOK);
    after(() => server.close(), HOOK);

    function client(t: TestContext, on: Parameters<typeof createClient>[0]['on'] = {}) {
      const c = createClient({
        url: server.url,
        webSocketImpl: impl.WebSocket,
        lazy: true,
        retryAttempts: 0,
        on,
      });
      t.after(() => c.dispose(), HOOK);
      return c;
    }

    it('a query returns its result', { timeout: TIMEOUT }, async (t) => {
      const results: unknown[] = [];
      for await (const result of client(t).iterate({ query: '{ hello(name: "tslay") }' }))
        results.push(result);
      assert.deepEqual(results, [{ data: { hello: 'hello tslay' } }]);
    });

    it('a subscription streams 1,000 events, complete and in order', { timeout: TIMEOUT }, async (t) => {
      const counts: unknown[] = [];
      await new Promise<void>((resolve, reject) => {
        client(t).subscribe<{ count: number }>(
          { query: 'subscription ($to: Int!) { count(to: $to) }', variables: { to: 1000 } },
          {
            next: (result) => {
              if (result.errors) reject(new Error(JSON.stringify(result.errors)));
              else counts.push(result.data?.count);
            },
            error: reject,
            complete: resolve,
          },
        );
      });
      assert.deepEqual(
        counts,
        Array.from({ length: 1000 }, (_, i) => i + 1),
      );
    });

    it('createClient and the server negotiate the graphql-transport-ws subprotocol', {
      timeout: TIMEOUT,
    }, async (t) => {
      const clientProtocols: string[] = [];
      const before = server.sockets.length;
      const c = client(t, {
        connected: (socket) => clientProtocols.push((socket as ImplSocket).protocol),
      });
      for await (const _ of c.iterate({ query: '{ hello }' })) {
        // The result itself is checked by the query test.
      }
      assert.deepEqual(clientProtocols, ['graphql-transport-ws']);
      assert.equal(server.sockets.length, before + 1);
      assert.equal(server.sockets.at(-1)!.protocol, 'graphql-transport-ws');
      assert.equal(server.onConnectProtocols.at(-1), 'graphql-transport-ws');
    });

    it('a client offering no subprotocol is closed with 4406 "Subprotocol not acceptable"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const raw = rawClient(t, impl, server.url, []);
      await raw.opened;
      assert.equal(raw.ws.protocol, '');
      assert.deepEqual(await raw.closed, { code: 4406, reason: 'Subprotocol not acceptable' });
      assert.deepEqual(raw.errors, []);
    });

    it('only an unknown subprotocol offered: the 101 names none, then graphql-ws sends a 4406 close frame', {
      timeout: TIMEOUT,
    }, async (t) => {
      // handleProtocols refuses the offer (returns false), and the server then completes the handshake without
      // a Sec-WebSocket-Protocol header; graphql-ws closes the subprotocol-less socket straight away.
      const socket = await openSocket(server.port);
      t.after(() => socket.destroy());
      socket.write(upgradeRequest(server.port, 'Sec-WebSocket-Protocol: unknown-protocol\r\n', '/graphql'));
      const bytes = await readUntil(socket, (b) => splitResponseAndCloseFrame(b) !== undefined);
      const parts = splitResponseAndCloseFrame(bytes);
      assert.ok(parts, `a response and a close frame: ${JSON.stringify(bytes.toString('latin1'))}`);
      const lines = parts.head.split('\r\n');
      assert.equal(lines[0], 'HTTP/1.1 101 Switching Protocols');
      assert.ok(!lines.some((line) => /^sec-websocket-protocol:/i.test(line)), parts.head);
      const reason = Buffer.from('Subprotocol not acceptable');
      const payload = Buffer.concat([Buffer.from([4406 >> 8, 4406 & 0xff]), reason]);
      assert.deepEqual(parts.frame, Buffer.concat([Buffer.from([0x88, payload.length]), payload]));
    });

    it('only an unknown subprotocol offered, from an impl.WebSocket: the client refuses the handshake', {
      timeout: TIMEOUT,
    }, async (t) => {
      const raw = rawClient(t, impl, server.url, ['unknown-protocol']);
      // The server answered without a subprotocol, which a client that asked for one must reject (RFC 6455
      // 4.1); it fails the connection before any close frame is read.
      assert.deepEqual(await raw.closed, { code: 1006, reason: '' });
      assert.deepEqual(
        raw.errors.map((e) => e.message),
        ['Server sent no subprotocol'],
      );
    });

    it('the protocol by hand: connection_init in a binary frame is acknowledged; a subscription runs', {
      timeout: TIMEOUT,
    }, async (t) => {
      const raw = rawClient(t, impl, server.url);
      await raw.opened;
      assert.equal(raw.ws.protocol, 'graphql-transport-ws');
      // use/ws reads every message with String(data), so a binary frame of JSON text is as good as a text one.
      raw.ws.send(Buffer.from(JSON.stringify({ type: 'connection_init', payload: { token: 't' } })));
      assert.deepEqual(await raw.awaitType('connection_ack'), { type: 'connection_ack' });
      raw.ws.send(
        JSON.stringify({
          id: 'a1',
          type: 'subscribe',
          payload: { query: 'subscription { count(to: 3) }' },
        }),
      );
      await raw.awaitType('complete');
      assert.deepEqual(
        raw.messages.map((m) => JSON.parse(m)),
        [
          { type: 'connection_ack' },
          { id: 'a1', type: 'next', payload: { data: { count: 1 } } },
          { id: 'a1', type: 'next', payload: { data: { count: 2 } } },
          { id: 'a1', type: 'next', payload: { data: { count: 3 } } },
          { id: 'a1', type: 'complete' },
        ],
      );
      // ws answers a close frame with the same code and reason, and the closing side reports that answer.
      raw.ws.close(1000, 'done');
      assert.deepEqual(await raw.closed, { code: 1000, reason: 'done' });
    });

    it('subscribe before connection_init: 4401 "Unauthorized"', { timeout: TIMEOUT }, async (t) => {
      const raw = rawClient(t, impl, server.url);
      await raw.opened;
      raw.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ hello }' } }));
      assert.deepEqual(await raw.closed, { code: 4401, reason: 'Unauthorized' });
      assert.deepEqual(raw.messages, []);
    });

    it('a second connection_init: 4429 "Too many initialisation requests"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const raw = rawClient(t, impl, server.url);
      await raw.opened;
      raw.ws.send(JSON.stringify({ type: 'connection_init' }));
      await raw.awaitType('connection_ack');
      raw.ws.send(JSON.stringify({ type: 'connection_init' }));
      assert.deepEqual(await raw.closed, { code: 4429, reason: 'Too many initialisation requests' });
    });

    it('an invalid message (not JSON, or an unknown type): 4400 "Invalid message received"', {
      timeout: TIMEOUT,
    }, async (t) => {
      for (const message of ['this is not JSON', JSON.stringify({ type: 'no_such_type' })]) {
        const raw = rawClient(t, impl, server.url);
        await raw.opened;
        raw.ws.send(message);
        assert.deepEqual(
          await raw.closed,
          { code: 4400, reason: 'Invalid message received' },
          `after ${JSON.stringify(message)}`,
        );
      }
    });

    it('no connection_init within connectionInitWaitTimeout: 4408 "Connection initialisation timeout"', {
      timeout: TIMEOUT,
    }, async (t) => {
      const timing = await startServer(impl, { connectionInitWaitTimeout: 200 });
      t.after(() => timing.close(), HOOK);
      const raw = rawClient(t, impl, timing.url);
      await raw.opened;
      assert.deepEqual(await raw.closed, { code: 4408, reason: 'Connection initialisation timeout' });
      assert.deepEqual(raw.messages, []);
    });

    it('keep-alive: useServer pings; a client that answers stays open, one with autoPong: false is terminated', {
      timeout: TIMEOUT,
    }, async (t) => {
      const pinging = await startServer(impl, {}, 1000);
      t.after(() => pinging.close(), HOOK);
      const answering = rawClient(t, impl, pinging.url);
      const silent = rawClient(t, impl, pinging.url, [GRAPHQL_TRANSPORT_WS_PROTOCOL], { autoPong: false });
      await Promise.all([answering.opened, silent.opened]);
      for (const raw of [answering, silent]) raw.ws.send(JSON.stringify({ type: 'connection_init' }));
      await Promise.all([answering.awaitType('connection_ack'), silent.awaitType('connection_ack')]);
      const pongs = pinging.sockets.map(() => 0);
      for (const [i, socket] of pinging.sockets.entries()) socket.on('pong', () => pongs[i]!++);
      let pings = 0;
      const pinged = new Promise<void>((resolve) => {
        answering.ws.on('ping', () => {
          if (++pings === 2) resolve();
        });
      });
      // The silent client never pongs, so the server terminates it: no close frame, hence 1006.
      assert.deepEqual(await silent.closed, { code: 1006, reason: '' });
      await pinged;
      assert.equal(answering.ws.readyState, impl.WebSocket.OPEN);
      assert.ok(
        pongs.some((n) => n >= 1),
        `the server saw the pongs: ${pongs}`,
      );
    });

    it('dispose() closes open connections with 1001 "Going away" and closes the WebSocketServer', {
      timeout: TIMEOUT,
    }, async (t) => {
      const disposable = await startServer(impl);
      t.after(() => disposable.close(), HOOK);
      const raws = [rawClient(t, impl, disposable.url), rawClient(t, impl, disposable.url)];
      for (const raw of raws) {
        await raw.opened;
        raw.ws.send(JSON.stringify({ type: 'connection_init' }));
        await raw.awaitType('connection_ack');
      }
      await disposable.dispose();
      for (const raw of raws) assert.deepEqual(await raw.closed, { code: 1001, reason: 'Going away' });
    });
  });
}
