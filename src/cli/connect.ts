/**
 * `tslay connect URL`: stdin lines become text messages, received messages are printed (binary as hex). With
 * --echo, every received message is sent back with its type until the server closes. Exit 0 on a clean close.
 */
import { createInterface } from 'node:readline';
import type * as util from 'node:util';
import { requireBuiltin } from '../core/platform.ts';
import { type ConnectOptions, connect, ReconnectingWebSocket, WebSocket } from '../node/index.ts';
import { printedHelp } from './options.ts';

/** node:util by `require` (see requireBuiltin). */
const { parseArgs }: typeof util = requireBuiltin('node:util');

const HELP = `Usage: tslay connect URL [options]

Options:
  --echo             send every received message back (stdin is not read)
  --protocol NAME    offer this subprotocol (repeatable)
  --header 'K: V'    add a request header (repeatable)
  --deflate          offer permessage-deflate (compressed messages)
  --insecure         accept any TLS certificate (wss://)
  --proxy URL        go through this proxy: http://[user:pass@]host:port (CONNECT)
                     or socks5://[user:pass@]host:port
  --no-proxy         connect directly, whatever the environment says
  --reconnect        stay connected: reconnect with backoff and jitter after a
                     lost connection or a failed attempt (stdin lines typed
                     meanwhile are queued, up to 1,000); ends on a final close
                     code (1002, 1003, 1007-1010) or a 4xx answer
  --max-delay MS     with --reconnect: the longest wait between attempts
                     (default 90000; the first wait is random below 5000)
  -h, --help         show this help

Without --proxy or --no-proxy, the proxy is the environment's, as curl reads it:
https_proxy (wss://) or http_proxy (ws://), else all_proxy, unless no_proxy
lists the host (upper-case names too; the lower-case one wins).

Received text is printed as is; binary as '[binary N bytes] HEX' (the first 64 bytes).`;

const HEX_PREVIEW = 64;

function parseHeader(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new Error(`invalid header (expected 'Name: value'): ${line}`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

function describe(data: Buffer, isBinary: boolean): string {
  if (!isBinary) return data.toString('utf8');
  const more = data.length > HEX_PREVIEW ? '…' : '';
  return `[binary ${data.length} bytes] ${data.subarray(0, HEX_PREVIEW).toString('hex')}${more}`;
}

/** `--proxy URL`, none with `--no-proxy`, else the environment's. */
function proxyOption(proxy: string | undefined, noProxy: boolean): string | undefined {
  if (proxy !== undefined && noProxy) throw new Error('--proxy and --no-proxy exclude each other');
  if (noProxy) return undefined;
  return proxy ?? 'env';
}

export async function connectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      echo: { type: 'boolean', default: false },
      protocol: { type: 'string', multiple: true, default: [] },
      header: { type: 'string', multiple: true, default: [] },
      insecure: { type: 'boolean', default: false },
      deflate: { type: 'boolean', default: false },
      proxy: { type: 'string' },
      'no-proxy': { type: 'boolean', default: false },
      reconnect: { type: 'boolean', default: false },
      'max-delay': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (printedHelp(values, HELP)) return 0;
  if (positionals.length !== 1) throw new Error(`expected one URL\n\n${HELP}`);
  const options: ConnectOptions = {
    protocols: values.protocol,
    headers: values.header.map(parseHeader),
    tls: { rejectUnauthorized: !values.insecure },
    perMessageDeflate: values.deflate,
    proxy: proxyOption(values.proxy, values['no-proxy']),
  };
  if (values['max-delay'] !== undefined && !values.reconnect)
    throw new Error('--max-delay goes with --reconnect');
  if (values.reconnect) return reconnecting(positionals[0]!, options, values.echo, values['max-delay']);
  const ws = await connect(positionals[0], options);
  process.stderr.write(`connected${ws.protocol ? ` (protocol ${ws.protocol})` : ''}\n`);
  ws.on('error', (error) => process.stderr.write(`error: ${error.message}\n`));
  ws.on('message', (data, isBinary) => {
    process.stdout.write(`${describe(data, isBinary)}\n`);
    if (values.echo && ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
  });
  const input = values.echo ? null : createInterface({ input: process.stdin, terminal: false });
  input?.on('line', (line) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(line);
  });
  input?.on('close', () => {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  });
  const [code, reason, wasClean] = await new Promise<[number, string, boolean]>((resolve) =>
    ws.once('close', (...args) => resolve(args)),
  );
  input?.close();
  process.stdin.destroy();
  process.stderr.write(`closed: ${code}${reason ? ` ${reason}` : ''}${wasClean ? '' : ' (not clean)'}\n`);
  return wasClean ? 0 : 1;
}

/** `--reconnect`: one line on stderr per event; exit 0 once stdin ended and the last connection closed. */
async function reconnecting(
  url: string,
  options: ConnectOptions,
  echo: boolean,
  maxDelayText: string | undefined,
): Promise<number> {
  const maxDelay = maxDelayText === undefined ? undefined : Number(maxDelayText);
  if (maxDelay !== undefined && !(Number.isSafeInteger(maxDelay) && maxDelay >= 0)) {
    throw new Error(`--max-delay must be a number of milliseconds >= 0, not ${maxDelayText}`);
  }
  const reconnect =
    maxDelay === undefined
      ? {}
      : { maxDelay, initialDelay: Math.min(maxDelay, 5_000), minDelay: Math.min(maxDelay, 3_100) };
  const rws = new ReconnectingWebSocket(url, { ...options, reconnect });
  const say = (line: string) => process.stderr.write(`${line}\n`);
  rws.on('open', (ws, attempt) =>
    say(`connected${ws.protocol ? ` (protocol ${ws.protocol})` : ''} (attempt ${attempt})`),
  );
  rws.on('failed', (error) => say(`failed: ${error.message}`));
  rws.on('close', (code, reason, wasClean) =>
    say(`closed: ${code}${reason ? ` ${reason}` : ''}${wasClean ? '' : ' (not clean)'}`),
  );
  rws.on('retry', ({ attempt, delay }) => say(`reconnecting in ${delay} ms (attempt ${attempt})`));
  rws.on('message', (data, isBinary) => {
    process.stdout.write(`${describe(data, isBinary)}\n`);
    if (echo && rws.websocket !== null) rws.send(data, { binary: isBinary });
  });
  const input = echo ? null : createInterface({ input: process.stdin, terminal: false });
  input?.on('line', (line) => {
    try {
      rws.send(line);
    } catch (error) {
      say(`not sent: ${(error as Error).message}`);
    }
  });
  input?.on('close', () => rws.close(1000));
  const end = await new Promise<{ reason: string; code?: number; error?: Error }>((resolve) =>
    rws.once('end', resolve),
  );
  input?.close();
  process.stdin.destroy();
  if (end.reason === 'closed') return 0;
  say(
    `gave up: ${end.reason}${end.code === undefined ? '' : ` (${end.code})`}${end.error ? `: ${end.error.message}` : ''}`,
  );
  return 1;
}
