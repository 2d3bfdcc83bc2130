/**
 * The standard exchange, driven from Node against any client API, and recording echo servers (ours and ws's)
 * that keep every message, ping and close they received for server-side assertions.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type EventEmitter, once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import type { TestContext } from 'node:test';
import type { WebSocket as UndiciWebSocket } from 'undici';
import { type WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { type ServeOptions, serve, type WebSocket, type WebSocketServer } from '../../src/node/index.ts';
import { SEED } from '../helpers/feed.ts';
import { CLOSE_REASON, PING_PAYLOAD, PythonPeer, SINGLE_MESSAGES, standardMessages } from './peers.ts';

/** A message with its type: `binary` false is a text message (its UTF-8 bytes). */
export interface Msg {
  binary: boolean;
  data: Buffer;
}

export interface CloseSeen {
  code: number;
  reason: string;
  wasClean?: boolean;
}

export function toMsg(message: string | Uint8Array): Msg {
  return typeof message === 'string'
    ? { binary: false, data: Buffer.from(message, 'utf8') }
    : { binary: true, data: Buffer.from(message) };
}

/** `standardMessages(SEED)` as typed byte messages. */
export function expectedMessages(seed = SEED): Msg[] {
  return standardMessages(seed).map(toMsg);
}

/** "text:LENGTH:SHA256" or "binary:…", as py_peer.py reports what it received. */
export function digest(message: Msg): string {
  const hash = createHash('sha256').update(message.data).digest('hex');
  return `${message.binary ? 'binary' : 'text'}:${message.data.length}:${hash}`;
}

function describeMessage(message: Msg): string {
  return `${message.binary ? 'binary' : 'text'} message of ${message.data.length} bytes`;
}

/** Checks `got` against `want` byte for byte and type for type; a failure names the first difference. */
export function assertSameMessages(got: Msg[], want: Msg[], what: string): void {
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (g.binary === w.binary && g.data.equals(w.data)) continue;
    let at = 0;
    while (at < Math.min(g.data.length, w.data.length) && g.data[at] === w.data[at]) at++;
    const around = (b: Buffer) => b.subarray(Math.max(0, at - 8), at + 8).toString('hex');
    assert.fail(
      `${what}: message #${i} is a ${describeMessage(g)}, expected a ${describeMessage(w)}; first difference at byte ${at}: ` +
        `got …${around(g.data)}… expected …${around(w.data)}… (from byte ${Math.max(0, at - 8)}; seed ${SEED})`,
    );
  }
  assert.equal(got.length, want.length, `${what}: message count (seed ${SEED})`);
}

/** Messages in arrival order; `next()` rejects once the connection is gone and nothing is left. */
export class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: [(item: T) => void, (error: Error) => void][] = [];
  private ended: Error | null = null;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter[0](item);
    else this.items.push(item);
  }

  end(error: Error): void {
    this.ended ??= error;
    for (const [, reject] of this.waiters.splice(0)) reject(error);
  }

  next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiters.push([resolve, reject]));
  }
}

/** One client API seen through what the exchange needs. `ping` is absent where the API cannot ping. */
export interface ExchangeClient {
  send(message: Msg): void;
  next(): Promise<Msg>;
  ping?(payload: string): Promise<Buffer>;
  close(code: number, reason: string): Promise<CloseSeen>;
}

export interface ExchangeResult {
  echoes: Msg[];
  /** The pong's payload, when the client could ping. */
  pong: Buffer | undefined;
  /** What the client saw in the peer's close frame. */
  close: CloseSeen;
}

/**
 * The standard exchange from the client side: the first messages one at a time, the burst at once, a ping, then
 * a close 1000 with `CLOSE_REASON`. `beforeClose` runs while the connection is still open (server-side pings).
 */
export async function runExchange(
  client: ExchangeClient,
  messages: Msg[],
  beforeClose?: () => Promise<void>,
): Promise<ExchangeResult> {
  const echoes: Msg[] = [];
  for (const message of messages.slice(0, SINGLE_MESSAGES)) {
    client.send(message);
    echoes.push(await client.next());
  }
  for (const message of messages.slice(SINGLE_MESSAGES)) client.send(message);
  for (let i = SINGLE_MESSAGES; i < messages.length; i++) echoes.push(await client.next());
  const pong = client.ping ? await client.ping(PING_PAYLOAD) : undefined;
  await beforeClose?.();
  const close = await client.close(1000, CLOSE_REASON);
  return { echoes, pong, close };
}

/** A socket with Node's EventEmitter API, client or server side: ours (`connect()`, `serve()`) and ws's. */
type EmitterSocket = EventEmitter & {
  readonly protocol: string;
  readonly extensions: string;
  send(data: Buffer, options: { binary: boolean }): void;
  ping(payload: string): void;
  close(code: number, reason: string): void;
};

/** Reads the arguments of a socket's 'close' event. */
type CloseArgs = (args: unknown[]) => CloseSeen;

/** Ours: code, reason (a string), wasClean. */
const ourCloseArgs: CloseArgs = (args) => {
  const [code, reason, wasClean] = args as [number, string, boolean];
  return { code, reason, wasClean };
};

/** ws's: code, reason (a Buffer); it does not say whether the close was clean. */
const wsCloseArgs: CloseArgs = (args) => {
  const [code, reason] = args as [number, Buffer];
  return { code, reason: reason.toString('utf8') };
};

/** Pings and resolves with the pong's payload. */
async function pingPong(ws: EmitterSocket, payload: string): Promise<Buffer> {
  const pong = once(ws, 'pong');
  ws.ping(payload);
  return (await pong)[0] as Buffer;
}

function emitterClient(ws: EmitterSocket, closeArgs: CloseArgs): ExchangeClient {
  const inbox = new Inbox<Msg>();
  ws.on('message', (data: Buffer, isBinary: boolean) =>
    inbox.push({ binary: isBinary, data: Buffer.from(data) }),
  );
  ws.on('error', (error: Error) => inbox.end(error));
  ws.on('close', (code: number) => inbox.end(new Error(`connection closed (${code})`)));
  return {
    send: (m) => ws.send(m.data, { binary: m.binary }),
    next: () => inbox.next(),
    ping: (payload) => pingPong(ws, payload),
    async close(code, reason) {
      const closed = once(ws, 'close');
      ws.close(code, reason);
      return closeArgs(await closed);
    },
  };
}

/** Our client (`connect()`'s WebSocket). */
export function ourClient(ws: WebSocket): ExchangeClient {
  return emitterClient(ws, ourCloseArgs);
}

/** A `ws` (npm) client. */
export function wsClient(ws: WsClient): ExchangeClient {
  return emitterClient(ws, wsCloseArgs);
}

/** undici's WHATWG WebSocket (open): strings are text, Uint8Arrays binary; it has no way to ping. */
export function undiciClient(ws: UndiciWebSocket): ExchangeClient {
  const inbox = new Inbox<Msg>();
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('message', (event) => {
    const data = event.data as string | ArrayBuffer;
    inbox.push(typeof data === 'string' ? toMsg(data) : { binary: true, data: Buffer.from(data) });
  });
  ws.addEventListener('close', (event) => inbox.end(new Error(`connection closed (${event.code})`)));
  return {
    send: (m) => ws.send(m.binary ? new Uint8Array(m.data) : m.data.toString('utf8')),
    next: () => inbox.next(),
    close(code, reason) {
      return new Promise((resolve) => {
        ws.addEventListener('close', (event) =>
          resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean }),
        );
        ws.close(code, reason);
      });
    },
  };
}

/** What one connection of a recording server received. */
export interface ServerSide {
  protocol: string;
  extensions: string;
  messages: Msg[];
  pings: Buffer[];
  errors: Error[];
  /** The close the peer sent (code, reason) and whether the closing handshake completed. */
  closed: Promise<CloseSeen>;
  /** Pings the peer from the server side; resolves with the pong's payload. */
  ping(payload: string): Promise<Buffer>;
  /** Starts the closing handshake from the server side. */
  close(code: number, reason: string): void;
}

export interface RecordingServer {
  port: number;
  connections: Inbox<ServerSide>;
  close(): Promise<void>;
}

/** One connection of a recording server: echoes every message with its type, and keeps what it received. */
function recordConnection(ws: EmitterSocket, closeArgs: CloseArgs): ServerSide {
  const side = {
    protocol: ws.protocol,
    extensions: ws.extensions,
    messages: [] as Msg[],
    pings: [] as Buffer[],
    errors: [] as Error[],
    closed: new Promise<CloseSeen>((resolve) => ws.once('close', (...args) => resolve(closeArgs(args)))),
    ping: (payload: string) => pingPong(ws, payload),
    close: (code: number, reason: string) => ws.close(code, reason),
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    side.messages.push({ binary: isBinary, data: Buffer.from(data) });
    ws.send(data, { binary: isBinary });
  });
  ws.on('ping', (data: Buffer) => side.pings.push(Buffer.from(data)));
  ws.on('error', (error: Error) => side.errors.push(error));
  return side;
}

/** Our server (`serve()`), echoing every message with its type and recording what it received. */
export async function ourEchoServer(options: ServeOptions = {}): Promise<RecordingServer> {
  const server: WebSocketServer = await serve({ port: 0, host: '127.0.0.1', ...options });
  const connections = new Inbox<ServerSide>();
  server.on('connection', (ws) => connections.push(recordConnection(ws, ourCloseArgs)));
  return { port: server.port, connections, close: () => server.close({ timeout: 2000 }) };
}

/** A `ws` (npm) echo server on its own port, or on `server` (an https.Server for wss://), recording likewise. */
export async function wsEchoServer(
  options: { server?: HttpServer; perMessageDeflate?: boolean } = {},
): Promise<RecordingServer> {
  const wss = options.server
    ? new WsServer({ server: options.server, perMessageDeflate: options.perMessageDeflate ?? false })
    : new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: options.perMessageDeflate ?? false });
  if (!options.server) await once(wss, 'listening');
  const connections = new Inbox<ServerSide>();
  wss.on('connection', (ws) => connections.push(recordConnection(ws, wsCloseArgs)));
  const address = (options.server ?? wss).address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** Server-side assertions of the standard exchange: every message, the client's ping, its close 1000. */
export async function assertServerSaw(
  side: ServerSide,
  want: Msg[],
  options: { pinged?: boolean; close?: CloseSeen } = {},
): Promise<void> {
  const close = await side.closed;
  assertSameMessages(side.messages, want, 'received by the server');
  assert.deepEqual(
    side.pings.map((p) => p.toString('utf8')),
    options.pinged === false ? [] : [PING_PAYLOAD],
    'pings received by the server',
  );
  assert.deepEqual(close, options.close ?? { code: 1000, reason: CLOSE_REASON, wasClean: true });
  assert.deepEqual(side.errors, []);
}

/**
 * py_peer.py's client runs the standard exchange against `server` at `url` (`args`: its other options) and exits
 * 0. Resolves with its report and the server's side of the connection.
 */
export async function runPythonClient(
  t: TestContext,
  server: RecordingServer,
  url: string,
  args: string[] = [],
): Promise<{ report: Record<string, unknown>; side: ServerSide }> {
  const peer = new PythonPeer(['client', url, ...args, '--seed', String(SEED)]);
  t.after(() => peer.kill());
  const report = await peer.nextJson();
  const side = await server.connections.next();
  assert.equal(await peer.exit(), 0);
  return { report, side };
}

/** What py_peer.py's client reports after a clean standard exchange: all echoes right, its ping answered. */
export function cleanPythonReport(
  want: Msg[],
  protocol: string | null,
  extensions: string,
): Record<string, unknown> {
  return {
    echoes: want.length,
    mismatches: [],
    protocol,
    extensions,
    pong: true,
    close_code: 1000,
    close_reason: '',
  };
}
