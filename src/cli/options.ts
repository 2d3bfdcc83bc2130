/** What the commands share: the options of a listening server, `--help`, and the lines printed around a run. */
import { readFileSync } from 'node:fs';

/** `parseArgs` options of a command that listens: `--port` (default `defaultPort`), `--host`, TLS files. */
export function listenOptions(defaultPort: string) {
  return {
    port: { type: 'string', default: defaultPort },
    host: { type: 'string', default: '127.0.0.1' },
    deflate: { type: 'boolean', default: false },
    http2: { type: 'boolean', default: false },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } as const;
}

export interface ListenValues {
  port: string;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/** Checks `--port`, and reads `--tls-cert` and `--tls-key`, which go together; throws what is wrong. */
export function listenSettings(values: ListenValues): { port: number; tls: TlsFiles | undefined } {
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port}`);
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  const tls =
    certFile === undefined ? undefined : { cert: readFileSync(certFile), key: readFileSync(keyFile!) };
  return { port, tls };
}

/** Prints `help` when `--help` was given; true when it did (the command is then done, with exit code 0). */
export function printedHelp(values: { help?: boolean | undefined }, help: string): boolean {
  if (!values.help) return false;
  process.stdout.write(`${help}\n`);
  return true;
}

/** Prints 'listening on SCHEME://HOST:PORT/' (an IPv6 host in brackets). */
export function printListening(scheme: string, host: string, port: number): void {
  process.stdout.write(`listening on ${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/\n`);
}

/** Resolves on SIGINT or SIGTERM, once it is reported on stderr: the caller then closes what it serves. */
export async function untilSignal(): Promise<void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write(`${signal}: closing\n`);
}
