/**
 * `tslay echo`: an echo server. Every text or binary message goes back with the same type; text is echoed as the
 * bytes received (never decoded). SIGINT/SIGTERM close every client with 1001 and exit 0.
 */
import type * as util from 'node:util';
import { requireBuiltin } from '../core/platform.ts';
import { serve, WebSocket } from '../node/index.ts';
import { listenOptions, listenSettings, printedHelp, printListening, untilSignal } from './options.ts';

/** node:util by `require` (see requireBuiltin). */
const { parseArgs }: typeof util = requireBuiltin('node:util');

const HELP = `Usage: tslay echo [options]

Options:
  --port N           port to listen on (default 9001; 0 picks a free port)
  --host HOST        address to listen on (default 127.0.0.1)
  --protocol NAME    accept this subprotocol (repeatable; first offered by the client wins)
  --deflate          accept permessage-deflate (compressed messages)
  --http2            also accept WebSockets over HTTP/2 (RFC 8441) on the same port
  --tls-cert FILE    serve wss:// with this certificate (PEM) ...
  --tls-key FILE     ... and this private key (PEM)
  -h, --help         show this help

Prints 'listening on ws://HOST:PORT/' once ready.`;

const AS_BINARY = { binary: true };
const AS_TEXT = { binary: false };

/**
 * The one 'message' listener of every connection (called with the WebSocket as `this`): nothing is made per
 * connection or per message for it.
 */
function echoBack(this: WebSocket, data: Buffer, isBinary: boolean): void {
  // Messages may still arrive while we close (after a signal); they are not answered then.
  if (this.readyState === WebSocket.OPEN) this.send(data, isBinary ? AS_BINARY : AS_TEXT);
}

export async function echo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...listenOptions('9001'), protocol: { type: 'string', multiple: true, default: [] } },
  });
  if (printedHelp(values, HELP)) return 0;
  const { port, tls } = listenSettings(values);
  const server = await serve({
    port,
    host: values.host,
    protocols: values.protocol,
    perMessageDeflate: values.deflate,
    http2: values.http2,
    ...(tls === undefined ? {} : { tls }),
  });
  // A WebSocket emits 'error' only to listeners (it never throws for want of one), so the echo adds none.
  server.on('connection', (ws) => ws.on('message', echoBack));
  printListening(tls ? 'wss' : 'ws', values.host, server.port);
  await untilSignal();
  await server.close({ code: 1001 });
  return 0;
}
