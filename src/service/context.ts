/**
 * `createContext(options)`: the lua-websockets / libwebsockets context. One HTTP(S) server (its own, or the
 * application's) carries static files, an `onHttp` handler and WebSocket protocols chosen by name.
 *
 * Node runs the event loop, so there is no `service(timeout)`: the context is ready when its promise resolves.
 * HTTP requests go to the first mount whose prefix matches, then to `onHttp`, else 404. Privileges are dropped
 * (`gid` then `uid`) right after the port is bound, as libwebsockets does, so a root-started server can bind a
 * low port and then run as `nobody`.
 */
import type * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { EMPTY } from '../core/bytes.ts';
import { requireBuiltin } from '../core/platform.ts';
import { extensionFactories, type PerMessageDeflateOption } from '../node/deflate-option.ts';
import { H2Sessions, shareServer } from '../node/h2.ts';
import { acceptUpgrade, checkUpgrade, rejectUpgrade, type UpgradeOptions } from '../node/upgrade.ts';
import type { Backplane, BackplaneHost, BackplaneReport, GapReason } from './backplane.ts';
import {
  BroadcastMessage,
  type BroadcastOptions,
  type BroadcastResult,
  SlowSocketRule,
  Topics,
} from './broadcast.ts';
import {
  chooseProtocol,
  connectHandlerOf,
  type ProtocolTable,
  ServiceSocket,
  type SocketHost,
} from './protocol.ts';
import { type Mounts, type StaticHandler, serveStatic } from './static.ts';

const nodeHttp: typeof http = requireBuiltin('node:http');

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface ContextOptions extends BroadcastOptions {
  /** Port to listen on; 0 (the default) picks a free one, see `context.port`. Ignored with `server`. */
  port?: number;
  /** Address to listen on (lua-websockets' `interf`). Default: node's, every interface. */
  host?: string;
  /**
   * Bind with `SO_REUSEPORT` (and outside node:cluster's shared handle), so that several processes listen on one
   * port and the kernel spreads connections over them. Only where the running Node supports it (see
   * `reusePortSupported()`); `runWorkers` decides this for its workers.
   */
  reusePort?: boolean;
  /** Protocol name → connect handler. The first entry also serves clients that offer no known protocol. */
  protocols?: ProtocolTable;
  /** Refuse (400) a handshake that offers none of `protocols`, instead of giving it the first one. */
  requireProtocol?: boolean;
  /** Requests that no mount answers. Without it they get 404. */
  onHttp?: HttpHandler;
  /** Static files: a directory for '/', or URL prefix → directory. See `serveStatic`. */
  mounts?: string | Mounts;
  /** Serve https/wss with this certificate and key (PEM contents, as `https.createServer` takes them). */
  tls?: { cert: string | Buffer; key: string | Buffer } & https.ServerOptions;
  /** After binding, switch to this group (id or name); applied before `uid`. */
  gid?: number | string;
  /** After binding, switch to this user (id or name). */
  uid?: number | string;
  /**
   * Also serve HTTP/2 on the port (own server only): WebSockets over RFC 8441 extended CONNECT, static files and
   * `onHttp`. With `tls`, ALPN offers `h2` before `http/1.1`; without, a connection that opens with the HTTP/2
   * preface is HTTP/2. Handlers get node's `Http2ServerRequest` / `Http2ServerResponse` for those requests
   * (`httpVersion` '2.0'). Default false.
   */
  http2?: boolean;
  /** Attach to this server instead of listening: its 'upgrade' (and, with `onHttp`/`mounts`, 'request') events. */
  server?: http.Server | https.Server;
  /** Options of every WebSocket (limits, timeouts, heartbeat, extensions). */
  websocket?: Omit<UpgradeOptions, 'protocols' | 'headers'>;
  /**
   * permessage-deflate for every protocol: `true` or its options (the same as `websocket.perMessageDeflate`,
   * which it overrides). Default off.
   */
  perMessageDeflate?: PerMessageDeflateOption;
  /**
   * A handler threw: a protocol handler (`ws` given; the socket has been closed with 1011) or `onHttp` (the
   * request got a 500). Default: printed to stderr.
   */
  onError?: (error: unknown, ws: ServiceSocket<unknown> | undefined) => void;
  /**
   * Carries `publish` and `broadcast` to the contexts of other processes and hosts (see `Backplane`):
   * `MemoryBus`, `clusterBackplane()`, or `redisBackplane()` from `tslay/redis`. Destroying the context closes it.
   */
  backplane?: Backplane;
  /** The backplane went down, came back, or saw messages lost. Default: one line on stderr. */
  onBackplaneReport?: (report: ContextReport) => void;
}

/** A backplane report with its channels named as the context's topics and protocols. */
export type ContextReport =
  | { type: 'down'; reason: string }
  | { type: 'up' }
  | { type: 'gap'; reason: GapReason; topics: string[]; protocols: string[]; count: number | null };

export interface DestroyOptions {
  /** Milliseconds to wait for the clients' closing handshakes before terminating what is left. Default 5 s. */
  timeout?: number;
}

const DEFAULT_DESTROY_TIMEOUT = 5_000;
/** Largest HTTP/2 header block, as node's HTTP/1.1 default head size. */
const H2_MAX_HEADER_SIZE = 16 * 1024;

export class Context implements SocketHost {
  readonly server: http.Server | https.Server;
  /** Every open socket of the context. */
  readonly sockets: ReadonlySet<ServiceSocket<unknown>> = new Set();
  private readonly options: ContextOptions;
  private readonly websocketOptions: Omit<UpgradeOptions, 'protocols' | 'headers'>;
  private readonly ownsServer: boolean;
  private readonly names: string[];
  private readonly groups = new Map<string, Set<ServiceSocket<unknown>>>();
  private readonly topics: Topics<ServiceSocket<unknown>>;
  private readonly rule: SlowSocketRule;
  private readonly staticFiles: StaticHandler | null;
  private destroying: Promise<void> | null = null;
  private readonly h2: H2Sessions | null = null;
  private readonly backplane: Backplane | null;
  /** Channels whose local interest may have changed this turn, and those the backplane is subscribed to. */
  private readonly interestChanged = new Set<string>();
  private readonly remoteChannels = new Set<string>();
  private interestScheduled = false;

  /** Use `createContext`, which also listens. */
  constructor(options: ContextOptions = {}) {
    this.options = options;
    this.websocketOptions = {
      ...options.websocket,
      perMessageDeflate: options.perMessageDeflate ?? options.websocket?.perMessageDeflate,
    };
    extensionFactories(this.websocketOptions, 'server');
    this.rule = new SlowSocketRule(options);
    this.topics = new Topics(options);
    this.names = Object.keys(options.protocols ?? {});
    for (const name of this.names) this.groups.set(name, new Set());
    this.staticFiles = options.mounts === undefined ? null : serveStatic(options.mounts);
    this.backplane = options.backplane ?? null;
    this.backplane?.attach(this.backplaneHost());
    this.ownsServer = options.server === undefined;
    this.server = options.server ?? this.createServer();
    this.server.on('upgrade', this.onUpgrade);
    if (this.ownsServer || options.onHttp !== undefined || options.mounts !== undefined) {
      this.server.on('request', this.onRequest);
    }
    if (this.ownsServer && options.http2 === true) {
      // Over HTTP/2 the request objects are node's compat ones, with the fields the handlers read.
      this.h2 = new H2Sessions({
        onConnect: (req, stream) => this.handleUpgrade(req as unknown as http.IncomingMessage, stream, EMPTY),
        onRequest: (req, res) =>
          this.onRequest(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse),
        idleTimeout: this.server.headersTimeout,
        maxHeaderSize: H2_MAX_HEADER_SIZE,
      });
      shareServer(this.server, this.h2, this.server.headersTimeout);
    }
  }

  /** The port the server listens on (0 before it listens). */
  get port(): number {
    const address = this.server.address();
    return address !== null && typeof address === 'object' ? (address as AddressInfo).port : 0;
  }

  /** The machine's name (libwebsockets' `canonical_hostname`). */
  canonicalHostname(): string {
    return hostname();
  }

  /**
   * Turns an upgrade request into a socket of the protocol the client asked for (see `chooseProtocol`), or
   * answers it with an HTTP error and returns null. For servers the context is not attached to.
   */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Uint8Array): ServiceSocket<unknown> | null {
    if (this.destroying !== null) {
      rejectUpgrade(socket, 503);
      return null;
    }
    const check = checkUpgrade(req);
    if (!check.ok) {
      rejectUpgrade(socket, check.status, { reason: check.reason, headers: check.headers });
      return null;
    }
    const choice = chooseProtocol(check.protocols, this.names, this.options);
    if (!choice.ok) {
      rejectUpgrade(socket, choice.status, { body: choice.reason });
      return null;
    }
    const ws = acceptUpgrade(req, socket, head, check, {
      ...this.websocketOptions,
      protocols: choice.header === undefined ? [] : [choice.header],
    });
    if (ws === null) return null;
    const spec = connectHandlerOf(this.options.protocols![choice.name]!);
    const data = spec.createData === undefined ? {} : spec.createData(req);
    const service = new ServiceSocket<unknown>(ws, choice.name, data, this);
    this.add(service);
    try {
      spec.onConnect(service, req);
    } catch (error) {
      this.handlerError(service, error);
    }
    return service;
  }

  /** Sends `data` to every open socket of `protocol`, through each socket's `onBroadcast`. */
  broadcast(
    protocol: string,
    data: string | Uint8Array,
    options: { binary?: boolean } = {},
  ): BroadcastResult {
    const message = new BroadcastMessage(data, options);
    this.backplane?.publish(PROTOCOL_CHANNEL + protocol, message.bytes, message.isBinary);
    return this.broadcastLocally(protocol, message);
  }

  /**
   * Sends `data` to every subscriber of `topic` (a string as text, bytes as binary), one frame for all; with a
   * backplane, also to the subscribers of every other process on it. The result counts this process's sockets.
   */
  publish(topic: string, data: string | Uint8Array, options: { binary?: boolean } = {}): BroadcastResult {
    const message = new BroadcastMessage(data, options);
    this.backplane?.publish(TOPIC_CHANNEL + topic, message.bytes, message.isBinary);
    return this.topics.publishMessage(topic, message);
  }

  /** @internal */
  subscribe(ws: ServiceSocket<unknown>, topic: string): void {
    if (!this.sockets.has(ws)) return;
    this.topics.subscribe(ws, topic);
    if (this.topics.subscribers(topic) === 1) this.interestIn(TOPIC_CHANNEL + topic);
  }

  /** @internal */
  unsubscribe(ws: ServiceSocket<unknown>, topic: string): boolean {
    if (!this.topics.unsubscribe(ws, topic)) return false;
    if (this.topics.subscribers(topic) === 0) this.interestIn(TOPIC_CHANNEL + topic);
    return true;
  }

  private broadcastLocally(protocol: string, message: BroadcastMessage): BroadcastResult {
    return this.rule.fanOut(this.groups.get(protocol) ?? [], message, false);
  }

  // ─── the backplane ──────────────────────────────────────────────────────────────────────────────────────

  /** A channel's local interest may have changed: the backplane learns the net change once per turn. */
  private interestIn(channel: string): void {
    if (this.backplane === null) return;
    this.interestChanged.add(channel);
    if (this.interestScheduled) return;
    this.interestScheduled = true;
    setImmediate(() => this.updateInterest());
  }

  private updateInterest(): void {
    this.interestScheduled = false;
    const wanted: string[] = [];
    const unwanted: string[] = [];
    for (const channel of this.interestChanged) {
      const local = this.localInterest(channel);
      if (local && !this.remoteChannels.has(channel)) wanted.push(channel);
      if (!local && this.remoteChannels.delete(channel)) unwanted.push(channel);
    }
    this.interestChanged.clear();
    for (const channel of wanted) this.remoteChannels.add(channel);
    if (this.destroying !== null) return;
    if (wanted.length > 0) this.backplane!.subscribe(wanted);
    if (unwanted.length > 0) this.backplane!.unsubscribe(unwanted);
  }

  private localInterest(channel: string): boolean {
    const name = channel.slice(2);
    if (channel.startsWith(TOPIC_CHANNEL)) return this.topics.subscribers(name) > 0;
    return (this.groups.get(name)?.size ?? 0) > 0;
  }

  private backplaneHost(): BackplaneHost {
    return {
      deliver: (channel, payload, binary) => {
        const name = channel.slice(2);
        const message = BroadcastMessage.fromBytes(payload, binary);
        if (channel.startsWith(TOPIC_CHANNEL)) this.topics.publishMessage(name, message);
        else if (channel.startsWith(PROTOCOL_CHANNEL)) this.broadcastLocally(name, message);
      },
      report: (report) => this.backplaneReport(report),
    };
  }

  private backplaneReport(report: BackplaneReport): void {
    const named: ContextReport =
      report.type !== 'gap'
        ? report
        : {
            type: 'gap',
            reason: report.reason,
            topics: namesOf(report.channels, TOPIC_CHANNEL),
            protocols: namesOf(report.channels, PROTOCOL_CHANNEL),
            count: report.count,
          };
    try {
      if (this.options.onBackplaneReport !== undefined) this.options.onBackplaneReport(named);
      else console.error(`tslay: backplane ${describeReport(named)}`);
    } catch (error) {
      if (this.options.onError !== undefined) this.options.onError(error, undefined);
      else console.error('tslay: onBackplaneReport threw:', error);
    }
  }

  /** @internal */
  handlerError(ws: ServiceSocket<unknown>, error: unknown): void {
    if (ws.isOpen) ws.close(1011, 'internal error');
    if (this.options.onError !== undefined) this.options.onError(error, ws);
    else console.error('tslay: a protocol handler threw:', error);
  }

  /**
   * Closes every socket with 1001 (going away), waits for the closing handshakes (terminating what is left after
   * `timeout`), and stops listening. An attached server keeps running; the context only leaves it.
   */
  destroy(options: DestroyOptions = {}): Promise<void> {
    this.destroying ??= this.shutdown(options.timeout ?? DEFAULT_DESTROY_TIMEOUT);
    return this.destroying;
  }

  private async shutdown(timeout: number): Promise<void> {
    this.server.off('upgrade', this.onUpgrade);
    this.server.off('request', this.onRequest);
    this.h2?.close();
    const closed = [...this.sockets].map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.websocket.once('close', () => resolve());
          if (ws.isOpen) ws.close(1001, 'going away');
        }),
    );
    const timer = setTimeout(() => {
      for (const ws of this.sockets) ws.terminate();
    }, timeout);
    await Promise.all(closed);
    clearTimeout(timer);
    await this.backplane?.close();
    this.h2?.destroy();
    if (!this.ownsServer) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** @internal Binds the port (own server only), then drops privileges. */
  async listen(): Promise<void> {
    if (!this.ownsServer) return;
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const reuse = this.options.reusePort === true ? { reusePort: true, exclusive: true } : {};
      server.listen({ port: this.options.port ?? 0, host: this.options.host, ...reuse }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      dropPrivileges(this.options);
    } catch (error) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw error;
    }
  }

  private createServer(): http.Server | https.Server {
    if (this.options.tls === undefined) return nodeHttp.createServer();
    const alpn = this.options.http2 === true ? { ALPNProtocols: ['h2', 'http/1.1'] } : {};
    return https.createServer({ ...alpn, ...this.options.tls });
  }

  private add(ws: ServiceSocket<unknown>): void {
    const sockets = this.sockets as Set<ServiceSocket<unknown>>;
    sockets.add(ws);
    const group = this.groups.get(ws.protocol)!;
    group.add(ws);
    if (group.size === 1) this.interestIn(PROTOCOL_CHANNEL + ws.protocol);
    ws.websocket.once('close', () => {
      sockets.delete(ws);
      group.delete(ws);
      if (group.size === 0) this.interestIn(PROTOCOL_CHANNEL + ws.protocol);
      for (const topic of this.topics.topicsOf(ws)) this.unsubscribe(ws, topic);
    });
  }

  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.handleUpgrade(req, socket, head);
  };

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.answer(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('500 Internal Server Error\n');
      } else res.destroy();
      if (this.options.onError !== undefined) this.options.onError(error, undefined);
      else console.error('tslay: an HTTP handler threw:', error);
    });
  };

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.staticFiles !== null && (await this.staticFiles(req, res))) return;
    if (this.options.onHttp !== undefined) return this.options.onHttp(req, res);
    const body = '404 Not Found\n';
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    res.end(body);
  }
}

/** Backplane channel names: `t:TOPIC` for `publish`, `p:PROTOCOL` for `broadcast`. */
const TOPIC_CHANNEL = 't:';
const PROTOCOL_CHANNEL = 'p:';

function namesOf(channels: readonly string[], kind: string): string[] {
  return channels.filter((channel) => channel.startsWith(kind)).map((channel) => channel.slice(kind.length));
}

/** One line for a log: `down (reason)`, `up`, `gap: 3 lost on topics a, b (sequence)`. */
export function describeReport(report: ContextReport): string {
  if (report.type === 'down') return `down (${report.reason})`;
  if (report.type === 'up') return 'up';
  const what = [
    report.topics.length > 0 ? `topics ${report.topics.join(', ')}` : '',
    report.protocols.length > 0 ? `protocols ${report.protocols.join(', ')}` : '',
  ].filter((part) => part !== '');
  const count = report.count === null ? 'messages may be' : `${report.count}`;
  return `gap: ${count} lost on ${what.join(' and ') || 'no channel'} (${report.reason})`;
}

/** Group first: once the user is no longer root, the group can no longer be changed. */
function dropPrivileges(options: Pick<ContextOptions, 'uid' | 'gid'>): void {
  if (options.gid !== undefined) {
    if (process.getuid?.() === 0) process.setgroups?.([options.gid]);
    process.setgid!(options.gid);
  }
  if (options.uid !== undefined) process.setuid!(options.uid);
}

/** Creates a context and, unless attached to `server`, waits until it listens. */
export async function createContext(options: ContextOptions = {}): Promise<Context> {
  const context = new Context(options);
  await context.listen();
  return context;
}
