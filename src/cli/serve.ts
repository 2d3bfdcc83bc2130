/**
 * `tslay serve [DIR]`: static files and two WebSocket protocols on one port, like libwebsockets' test server.
 * - `echo`: every message goes back with its type.
 * - `chat`: every text message is sent to every chat socket (the sender too) as JSON, with join/leave notices.
 * Without DIR the built-in demo page is served. SIGINT/SIGTERM close every socket with 1001 and exit 0.
 */
import { statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Context, createContext } from '../service/context.ts';
import type { ProtocolTable, ServiceSocket } from '../service/protocol.ts';
import { listenOptions, listenSettings, printedHelp, printListening, untilSignal } from './options.ts';

const HELP = `Usage: tslay serve [DIR] [options]

Serves DIR (default: the built-in demo) over HTTP and, on the same port, the WebSocket
protocols 'echo' and 'chat'. A client that names no protocol gets 'echo'.

Options:
  --port N           port to listen on (default 8080; 0 picks a free port)
  --host HOST        address to listen on (default 127.0.0.1)
  --deflate          accept permessage-deflate (compressed messages)
  --tls-cert FILE    serve https:// and wss:// with this certificate (PEM) ...
  --tls-key FILE     ... and this private key (PEM)
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
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** Starts what `tslay serve` runs: DIR (or the demo) and the echo/chat protocols. */
export function serveDemo(options: ServeDemoOptions = {}): Promise<Context> {
  return createContext({
    port: options.port ?? 8080,
    host: options.host ?? '127.0.0.1',
    mounts: { '/': options.dir ?? DEMO_DIR },
    protocols: demoProtocols(),
    perMessageDeflate: options.deflate === true,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: listenOptions('8080'),
  });
  if (printedHelp(values, HELP)) return 0;
  if (positionals.length > 1) throw new Error(`one directory at most, got ${positionals.length}`);
  const dir = positionals[0];
  if (dir !== undefined && !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`not a directory: ${dir}`);
  }
  const { port, tls } = listenSettings(values);
  const context = await serveDemo({
    port,
    host: values.host,
    deflate: values.deflate,
    ...(dir === undefined ? {} : { dir }),
    ...(tls === undefined ? {} : { tls }),
  });
  printListening(tls ? 'https' : 'http', values.host, context.port);
  await untilSignal();
  await context.destroy();
  return 0;
}
