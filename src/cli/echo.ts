/**
 * `tslay echo`: an echo server. Every text or binary message goes back with the same type; text is echoed as the
 * bytes received (never decoded). SIGINT/SIGTERM close every client with 1001 and exit 0.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { serve, WebSocket } from '../node/index.ts';

const HELP = `Usage: tslay echo [options]

Options:
  --port N           port to listen on (default 9001; 0 picks a free port)
  --host HOST        address to listen on (default 127.0.0.1)
  --protocol NAME    accept this subprotocol (repeatable; first offered by the client wins)
  --deflate          accept permessage-deflate (compressed messages)
  --tls-cert FILE    serve wss:// with this certificate (PEM) ...
  --tls-key FILE     ... and this private key (PEM)
  -h, --help         show this help

Prints 'listening on ws://HOST:PORT/' once ready.`;

export function formatUrl(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

export async function echo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '9001' },
      host: { type: 'string', default: '127.0.0.1' },
      protocol: { type: 'string', multiple: true, default: [] },
      deflate: { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port}`);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  const tls =
    values['tls-cert'] === undefined
      ? undefined
      : { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']!) };
  const server = await serve({
    port,
    host: values.host,
    protocols: values.protocol,
    perMessageDeflate: values.deflate,
    ...(tls === undefined ? {} : { tls }),
  });
  server.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      // Messages may still arrive while we close (after a signal); they are not answered then.
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
    });
  });
  process.stdout.write(`listening on ${formatUrl(tls ? 'wss' : 'ws', values.host, server.port)}\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write(`${signal}: closing\n`);
  await server.close({ code: 1001 });
  return 0;
}
