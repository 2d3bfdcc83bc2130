/**
 * `connect(url, options)`: the client's opening handshake (RFC 6455 §4.1) over node's `http.request` /
 * `https.request` and its 'upgrade' event, so TLS options and agents work as they do for HTTP.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { Extension } from '../core/extension.ts';
import { type ExtensionFactory, negotiateClient, offerExtensions } from '../core/extensions.ts';
import { checkResponse, requestHeaders } from '../core/handshake.ts';
import type { HeaderInput } from '../core/http1.ts';
import { extensionFactories, type PerMessageDeflateOption } from './deflate-option.ts';
import { HandshakeError } from './errors.ts';
import { WebSocket, type WebSocketOptions } from './websocket.ts';

export interface ConnectOptions extends WebSocketOptions {
  /** Subprotocols to offer, in order of preference; the server must then pick one. */
  protocols?: readonly string[];
  /** Extra request headers (Authorization, Cookie…). */
  headers?: HeaderInput;
  origin?: string;
  /** Extension factories to offer (e.g. permessage-deflate); none by default. */
  extensions?: readonly ExtensionFactory[];
  /**
   * Offer permessage-deflate (RFC 7692): `true` for the defaults, or its options; offered after `extensions`.
   * Default off.
   */
  perMessageDeflate?: PerMessageDeflateOption;
  /** Milliseconds for the whole handshake (connect, TLS, answer). Default 10 s. */
  handshakeTimeout?: number;
  /** Largest incoming message; beyond it the connection fails with 1009. Default 64 MiB. */
  maxPayload?: number;
  /** An http(s).Agent (proxies, pools); by default a fresh connection that no agent keeps. */
  agent?: http.Agent;
  /** wss:// only: TLS options (`ca`, `rejectUnauthorized`, `cert`, `key`, `servername`…). */
  tls?: TlsConnectionOptions;
  /** Abort the handshake (code ABORTED). */
  signal?: AbortSignal;
  /** Masking keys (tests inject a deterministic source). Default: crypto-strong random bytes. */
  randomMask?: () => Uint8Array;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** The start of an error answer's body kept in `HandshakeError.body`. */
export const MAX_ERROR_BODY = 4096;

const SCHEMES: Readonly<Record<string, boolean>> = {
  'ws:': false,
  'wss:': true,
  'http:': false,
  'https:': true,
};

/** Parses a ws:// or wss:// URL (http(s):// is accepted as in the WHATWG WebSocket); throws `HandshakeError`. */
export function parseWebSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new HandshakeError('INVALID_URL', `invalid URL: ${String(url)}`, { cause: error });
  }
  if (!(parsed.protocol in SCHEMES)) {
    throw new HandshakeError(
      'INVALID_SCHEME',
      `unsupported scheme ${parsed.protocol} (ws: or wss: expected)`,
    );
  }
  if (parsed.hostname === '') throw new HandshakeError('INVALID_URL', `no host in ${String(url)}`);
  return parsed;
}

/** Opens a WebSocket; resolves once the handshake is complete (the WebSocket is open). */
export function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const target = parseWebSocketUrl(url);
    const secure = SCHEMES[target.protocol]!;
    const factories = extensionFactories(options, 'client');
    const extensionsOffered = offerExtensions(factories);
    const { headers, key } = requestHeaders({
      protocols: options.protocols,
      origin: options.origin,
      extensions: extensionsOffered,
      headers: options.headers,
    });
    // URL keeps IPv6 literals bracketed; node wants the bare address (and brackets the Host header itself).
    const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    const request = (secure ? https.request : http.request)({
      ...(secure ? options.tls : {}),
      host,
      port: target.port || (secure ? 443 : 80),
      path: `${target.pathname}${target.search}`,
      headers,
      agent: options.agent ?? false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    let settled = false;
    const fail = (error: HandshakeError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new HandshakeError('HANDSHAKE_TIMEOUT', 'the opening handshake timed out')),
      options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.name === 'AbortError' ? 'ABORTED' : (error.code ?? 'ECONNRESET');
      fail(new HandshakeError(code, error.message, { cause: error }));
    });
    request.on('response', (res) => {
      readBody(res, (body) => {
        const status = res.statusCode ?? 0;
        fail(
          new HandshakeError('UNEXPECTED_STATUS', `unexpected status ${status} (101 required)`, {
            status,
            body,
          }),
        );
      });
    });
    request.on('upgrade', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      if (settled) return socket.destroy();
      const negotiated = finishHandshake(res, key, options, factories, extensionsOffered);
      if (negotiated instanceof HandshakeError) {
        socket.destroy();
        return fail(negotiated);
      }
      settled = true;
      clearTimeout(timer);
      resolve(
        new WebSocket(socket, {
          ...options,
          role: 'client',
          head,
          protocol: negotiated.protocol,
          extensions: negotiated.extensions,
          extensionsHeader: negotiated.header,
        }),
      );
    });
    request.end();
  });
}

/** Checks the 101 answer and negotiates extensions. */
function finishHandshake(
  res: http.IncomingMessage,
  key: string,
  options: ConnectOptions,
  factories: readonly ExtensionFactory[],
  extensionsOffered: string,
): { protocol: string; header: string; extensions: Extension[] } | HandshakeError {
  const check = checkResponse(
    { status: res.statusCode ?? 0, headers: res.headers },
    { key, protocols: options.protocols, extensionsOffered },
  );
  if (!check.ok) return new HandshakeError(check.code, check.message);
  const negotiated = negotiateClient(check.extensions || undefined, factories);
  if ('error' in negotiated) return new HandshakeError('UNREQUESTED_EXTENSION', negotiated.error);
  return { protocol: check.protocol, header: check.extensions, extensions: negotiated.extensions };
}

/** Collects at most `MAX_ERROR_BODY` bytes of an error answer, then stops reading. */
function readBody(res: http.IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done(Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8'));
  };
  res.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= MAX_ERROR_BODY) finish();
  });
  res.on('end', finish);
  res.on('error', finish);
  res.on('close', finish);
}
