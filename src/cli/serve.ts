/**
 * `tslay serve [DIR]`: static files and two WebSocket protocols on one port, like libwebsockets' test server.
 * - `echo`: every message goes back with its type.
 * - `chat`: every text message is sent to every chat socket (the sender too) as JSON, with join/leave notices.
 * Without DIR the built-in demo page is served. SIGINT/SIGTERM close every socket with 1001 and exit 0.
 * `--workers N` serves the port from N processes and `--redis URL` joins every process attached to that Redis:
 * chat messages and notices reach chat sockets on all of them.
 */
import { statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import type * as util from 'node:util';
import { requireBuiltin } from '../core/platform.ts';
import type { Backplane } from '../service/backplane.ts';
import { type Context, type ContextReport, createContext, describeReport } from '../service/context.ts';
import type { ProtocolTable, ServiceSocket } from '../service/protocol.ts';
import { runWorkers } from '../service/workers.ts';
import { listenOptions, listenSettings, printedHelp, printListening, untilSignal } from './options.ts';

/** node:util by `require` (see requireBuiltin). */
const { parseArgs }: typeof util = requireBuiltin('node:util');

const HELP = `Usage: tslay serve [DIR] [options]

Serves DIR (default: the built-in demo) over HTTP and, on the same port, the WebSocket
protocols 'echo' and 'chat'. A client that names no protocol gets 'echo'.

Options:
  --port N           port to listen on (default 8080; 0 picks a free port)
  --host HOST        address to listen on (default 127.0.0.1)
  --deflate          accept permessage-deflate (compressed messages)
  --http2            also serve HTTP/2 (files and WebSockets, RFC 8441) on the same port
  --tls-cert FILE    serve https:// and wss:// with this certificate (PEM) ...
  --tls-key FILE     ... and this private key (PEM)
  --workers N        serve the port from N processes (chat shared between them)
  --redis URL        share chat with every tslay attached to this Redis (redis://HOST:PORT);
                     needs the 'redis' package (npm install redis)
  -h, --help         show this help

Prints 'listening on http://HOST:PORT/' once ready.`;

/** The demo page shipped with the package (`demo/` at its root, two levels above this file). */
export const DEMO_DIR = fileURLToPath(new URL('../../demo/', import.meta.url));

/** Longest chat name kept; longer ones are cut. */
const MAX_NAME = 32;

interface ChatData {
  name: string;
}

function chatName(req: IncomingMessage, fallback: number): string {
  const requested = new URL(req.url ?? '/', 'http://localhost').searchParams.get('name') ?? '';
  const name = requested.replace(/\s+/g, ' ').trim().slice(0, MAX_NAME);
  return name === '' ? `guest-${fallback}` : name;
}

/** The protocols of `tslay serve`: `echo` first (it serves clients that offer no protocol), then `chat`. */
export function demoProtocols(): ProtocolTable {
  let guests = 0;
  const chatters = new Set<ServiceSocket<ChatData>>();
  const notice = (ws: ServiceSocket<ChatData>, type: 'join' | 'leave') =>
    ws.broadcast(JSON.stringify({ type, name: ws.data.name, users: chatters.size }));
  return {
    echo: (ws) => {
      ws.onReceive((socket, data, isBinary) => socket.write(data, isBinary ? 'binary' : 'text'));
    },
    chat: {
      createData: (req) => ({ name: chatName(req, ++guests) }),
      onConnect(ws: ServiceSocket<ChatData>) {
        chatters.add(ws);
        ws.onReceive((socket, data, isBinary) => {
          if (isBinary) return;
          socket.broadcast(JSON.stringify({ type: 'message', name: socket.data.name, text: data }));
        });
        ws.onClosed((socket) => {
          chatters.delete(socket);
          notice(socket, 'leave');
        });
        notice(ws, 'join');
      },
    },
  };
}

export interface ServeDemoOptions {
  dir?: string;
  port?: number;
  host?: string;
  /** Accept permessage-deflate. Default false. */
  deflate?: boolean;
  /** Also serve HTTP/2 (files and RFC 8441 WebSockets). Default false. */
  http2?: boolean;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Carries chat to other processes. */
  backplane?: Backplane;
  /** Bind with SO_REUSEPORT (workers). */
  reusePort?: boolean;
  /** Where backplane reports go. Default: one line each on stderr. */
  onBackplaneReport?: (report: ContextReport) => void;
}

/** Starts what `tslay serve` runs: DIR (or the demo) and the echo/chat protocols. */
export function serveDemo(options: ServeDemoOptions = {}): Promise<Context> {
  return createContext({
    port: options.port ?? 8080,
    host: options.host ?? '127.0.0.1',
    mounts: { '/': options.dir ?? DEMO_DIR },
    protocols: demoProtocols(),
    perMessageDeflate: options.deflate === true,
    http2: options.http2 === true,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.backplane === undefined ? {} : { backplane: options.backplane }),
    ...(options.onBackplaneReport === undefined ? {} : { onBackplaneReport: options.onBackplaneReport }),
    reusePort: options.reusePort === true,
  });
}

/** A Redis backplane over a node-redis client of our own (`close` ends that client). */
async function redisFor(url: string): Promise<{ backplane: Backplane; close(): Promise<void> }> {
  const redis = await loadRedis();
  const client = redis.createClient({ url });
  client.on('error', () => {}); // reported as backplane 'down' lines; node-redis keeps reconnecting
  client.connect().catch(() => {});
  const { redisBackplane } = await import('../redis/index.ts');
  return { backplane: redisBackplane({ client: client as never }), close: async () => client.destroy() };
}

/** node-redis, the application's optional dependency, or an error that says what to install. */
async function loadRedis(): Promise<typeof import('redis')> {
  try {
    return await import('redis');
  } catch {
    throw new Error("--redis needs the 'redis' package (node-redis): npm install redis");
  }
}

const logReport = (prefix: string) => (report: ContextReport) =>
  process.stderr.write(`tslay: ${prefix}backplane ${describeReport(report)}\n`);

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...listenOptions('8080'), workers: { type: 'string' }, redis: { type: 'string' } },
  });
  if (printedHelp(values, HELP)) return 0;
  if (positionals.length > 1) throw new Error(`one directory at most, got ${positionals.length}`);
  const dir = positionals[0];
  if (dir !== undefined && !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`not a directory: ${dir}`);
  }
  const { port, tls } = listenSettings(values);
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) {
    throw new Error(`--workers must be an integer >= 1, not ${values.workers}`);
  }
  const redisUrl = values.redis;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new Error(`--redis takes a redis:// or rediss:// URL, not ${redisUrl}`);
  }
  const settings: ServeDemoOptions = {
    host: values.host,
    deflate: values.deflate,
    http2: values.http2,
    ...(dir === undefined ? {} : { dir }),
    ...(tls === undefined ? {} : { tls }),
  };
  const scheme = tls ? 'https' : 'http';
  if (workers !== undefined) {
    if (redisUrl !== undefined) await loadRedis(); // fail once, in the primary, rather than in every worker
    const pool = await runWorkers({
      workers,
      port,
      start: async (worker) => {
        const redis = redisUrl === undefined ? null : await redisFor(redisUrl);
        const context = await serveDemo({
          ...settings,
          port: worker.port,
          reusePort: worker.reusePort,
          backplane: redis?.backplane ?? worker.backplane(),
          onBackplaneReport: logReport(`worker ${worker.id}: `),
        });
        return { port: context.port, destroy: () => context.destroy().then(() => redis?.close()) };
      },
    });
    if (pool === null) return 0; // a worker: it runs until the primary stops it
    printListening(scheme, values.host, pool.port);
    await untilSignal();
    await pool.close();
    return 0;
  }
  const redis = redisUrl === undefined ? null : await redisFor(redisUrl);
  const context = await serveDemo({
    ...settings,
    port,
    ...(redis === null ? {} : { backplane: redis.backplane, onBackplaneReport: logReport('') }),
  });
  printListening(scheme, values.host, context.port);
  await untilSignal();
  await context.destroy();
  await redis?.close();
  return 0;
}
