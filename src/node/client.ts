/**
 * `connect(url, options)`: the client's opening handshake (RFC 6455 §4.1) over node's `http.request` /
 * `https.request` and its 'upgrade' event, so TLS options and agents work as they do for HTTP.
 */
import type * as http from 'node:http';
import type * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect } from 'node:tls';
import { UsageError } from '../core/errors.ts';
import type { Extension } from '../core/extension.ts';
import { type ExtensionFactory, negotiateClient, offerExtensions } from '../core/extensions.ts';
import { checkResponse, requestHeaders } from '../core/handshake.ts';
import { type HeaderInput, headerEntries } from '../core/http1.ts';
import { requireBuiltin } from '../core/platform.ts';
import { extensionFactories, type PerMessageDeflateOption } from './deflate-option.ts';
import { HandshakeError } from './errors.ts';
import { openTunnel, type ProxyOption, resolveProxy } from './proxy.ts';
import { WebSocket, type WebSocketOptions } from './websocket.ts';

const nodeHttp: typeof http = requireBuiltin('node:http');
const nodeHttps: typeof https = requireBuiltin('node:https');

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
  /** Milliseconds for the whole handshake (proxy, connect, TLS, answer, every redirect). Default 10 s. */
  handshakeTimeout?: number;
  /** Largest incoming message; beyond it the connection fails with 1009. Default 64 MiB. */
  maxPayload?: number;
  /** An http(s).Agent (pools); by default a fresh connection that no agent keeps. Not with `proxy`. */
  agent?: http.Agent;
  /**
   * Reach the server through a proxy: `'http://[user:pass@]host:port'` (an HTTP CONNECT tunnel, with
   * Proxy-Authorization: Basic when the URL has credentials), `'socks5://[user:pass@]host:port'` (SOCKS5, the
   * server's name resolved by the proxy), or `'env'` for the proxy the environment names (`https_proxy` for
   * wss://, `http_proxy` for ws://, `all_proxy`, `no_proxy`: see `proxyFromEnvironment`). For wss://, TLS to
   * the server runs inside the tunnel. Default: no proxy, whatever the environment says.
   */
  proxy?: ProxyOption;
  /**
   * Follow 301/302/303/307/308 answers to the upgrade request (Location resolved against the current URL,
   * http(s) standing for ws(s)). Authorization, Cookie and the URL's credentials are not carried to another
   * origin; wss:// to ws:// is refused (INSECURE_REDIRECT). Default off: a redirect is UNEXPECTED_STATUS.
   */
  followRedirects?: boolean;
  /** With `followRedirects`: the most redirects followed; one more is TOO_MANY_REDIRECTS. Default 10. */
  maxRedirects?: number;
  /** wss:// only: TLS options (`ca`, `rejectUnauthorized`, `cert`, `key`, `servername`…). */
  tls?: TlsConnectionOptions;
  /** Abort the handshake, proxy and redirects included (code ABORTED). */
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
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocket> {
  const first = asWebSocketUrl(parseWebSocketUrl(url));
  const maxRedirects = redirectLimit(options);
  const factories = extensionFactories(options, 'client');
  if (options.proxy !== undefined && options.agent !== undefined) {
    throw new HandshakeError(
      'INVALID_PROXY',
      'proxy and agent do not go together (the proxy opens the connection)',
    );
  }
  const deadline = handshakeDeadline(options);
  try {
    let hop: Hop = { url: first, headers: options.headers ? headerEntries(options.headers) : [] };
    for (let redirects = 0; ; redirects++) {
      const outcome = await attempt(hop, options, factories, deadline.signal);
      if (outcome instanceof WebSocket) return outcome;
      if (redirects >= maxRedirects) {
        throw new HandshakeError('TOO_MANY_REDIRECTS', `more than ${maxRedirects} redirects`, {
          status: outcome.status,
        });
      }
      hop = nextHop(hop, outcome);
    }
  } finally {
    deadline.dispose();
  }
}

/** One request of the handshake: where it goes, and the application's headers still sent there. */
interface Hop {
  url: URL;
  headers: Array<[string, string]>;
}

/** A 3xx answer to follow. */
interface Redirect {
  status: number;
  location: string;
}

const DEFAULT_MAX_REDIRECTS = 10;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** How many redirects to follow: 0 without `followRedirects`; throws `UsageError` for a bad `maxRedirects`. */
function redirectLimit(options: ConnectOptions): number {
  if (!options.followRedirects) return 0;
  const max = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new UsageError('INVALID_OPTION', `maxRedirects must be an integer >= 0, got ${String(max)}`);
  }
  return max;
}

/** One signal for the whole handshake: the timeout and the application's signal abort it with a typed reason. */
function handshakeDeadline(options: ConnectOptions): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new HandshakeError('HANDSHAKE_TIMEOUT', 'the opening handshake timed out')),
    options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
  );
  const outer = options.signal;
  const onAbort = () =>
    controller.abort(
      new HandshakeError('ABORTED', 'the opening handshake was aborted', { cause: outer?.reason }),
    );
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/** What one request sends, computed before any connection is opened (bad headers throw here). */
interface Prepared {
  headers: Record<string, string>;
  key: string;
  extensionsOffered: string;
}

function prepare(hop: Hop, options: ConnectOptions, factories: readonly ExtensionFactory[]): Prepared {
  const extensionsOffered = offerExtensions(factories);
  const { headers, key } = requestHeaders({
    protocols: options.protocols,
    origin: options.origin,
    extensions: extensionsOffered,
    headers: [...hop.headers, ...urlCredentials(hop)],
  });
  return { headers, key, extensionsOffered };
}

/** The URL's `user:pass` as Basic credentials, unless the application sends its own Authorization. */
function urlCredentials(hop: Hop): Array<[string, string]> {
  const { username, password } = hop.url;
  if (username === '' && password === '') return [];
  if (hop.headers.some(([name]) => name.toLowerCase() === 'authorization')) return [];
  let pair: string;
  try {
    pair = `${decodeURIComponent(username)}:${decodeURIComponent(password)}`;
  } catch (error) {
    throw new HandshakeError('INVALID_URL', 'invalid percent-encoding in the URL credentials', {
      cause: error,
    });
  }
  return [['Authorization', `Basic ${Buffer.from(pair).toString('base64')}`]];
}

/** One request: through the proxy's tunnel when there is one; a WebSocket, or the redirect to follow. */
async function attempt(
  hop: Hop,
  options: ConnectOptions,
  factories: readonly ExtensionFactory[],
  signal: AbortSignal,
): Promise<WebSocket | Redirect> {
  const prepared = prepare(hop, options, factories);
  const proxy = resolveProxy(options.proxy, hop.url);
  const target = { host: hop.url.hostname, port: portOf(hop.url) };
  const tunnel = proxy === undefined ? undefined : await openTunnel(proxy, target, signal);
  return handshake(hop, prepared, options, factories, signal, tunnel);
}

function isSecure(url: URL): boolean {
  return SCHEMES[url.protocol]!;
}

function portOf(url: URL): number {
  return url.port === '' ? (isSecure(url) ? 443 : 80) : Number(url.port);
}

/** URL keeps IPv6 literals bracketed; node wants the bare address (and brackets the Host header itself). */
function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** The upgrade request, on a connection of its own or on the tunnel (with TLS inside it for wss://). */
function sendRequest(hop: Hop, headers: Record<string, string>, options: ConnectOptions, tunnel?: Socket) {
  const secure = isSecure(hop.url);
  const request = secure ? nodeHttps.request : nodeHttp.request;
  const common = {
    host: bareHost(hop.url),
    port: portOf(hop.url),
    path: `${hop.url.pathname}${hop.url.search}`,
    headers,
  };
  if (tunnel === undefined) {
    return request({ ...(secure ? options.tls : {}), ...common, agent: options.agent ?? false });
  }
  const createConnection = () => (secure ? tlsInTunnel(tunnel, common.host, options.tls) : tunnel);
  return request({ ...common, defaultPort: secure ? 443 : 80, createConnection });
}

/** TLS to the server inside the tunnel; SNI is the server's name (none for an address, as https does). */
function tlsInTunnel(tunnel: Socket, host: string, tls: TlsConnectionOptions | undefined): Socket {
  const servername = tls?.servername ?? (isIP(host) === 0 ? host : '');
  return tlsConnect({ ...tls, socket: tunnel, host, servername });
}

/** Sends the upgrade request and waits for the 101 (a WebSocket), a redirect to follow, or a failure. */
function handshake(
  hop: Hop,
  prepared: Prepared,
  options: ConnectOptions,
  factories: readonly ExtensionFactory[],
  signal: AbortSignal,
  tunnel?: Socket,
): Promise<WebSocket | Redirect> {
  return new Promise((resolve, reject) => {
    let request: http.ClientRequest;
    try {
      request = sendRequest(hop, prepared.headers, options, tunnel);
    } catch (error) {
      tunnel?.destroy();
      throw error;
    }
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (error: unknown) => {
      if (!settle()) return;
      request.destroy();
      reject(error);
    };
    const onAbort = () => fail(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.name === 'AbortError' ? 'ABORTED' : (error.code ?? 'ECONNRESET');
      fail(new HandshakeError(code, error.message, { cause: error }));
    });
    request.on('response', (res) => {
      const redirect = options.followRedirects ? redirectOf(res) : undefined;
      if (redirect === undefined) return readBody(res, (body) => fail(unexpectedStatus(res, body)));
      if (settle()) resolve(redirect);
      request.destroy();
    });
    request.on('upgrade', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      if (settled) return socket.destroy();
      const negotiated = finishHandshake(res, prepared.key, options, factories, prepared.extensionsOffered);
      if (negotiated instanceof HandshakeError) {
        socket.destroy();
        return fail(negotiated);
      }
      settle();
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

function unexpectedStatus(res: http.IncomingMessage, body: string): HandshakeError {
  const status = res.statusCode ?? 0;
  return new HandshakeError('UNEXPECTED_STATUS', `unexpected status ${status} (101 required)`, {
    status,
    body,
  });
}

/** A 301/302/303/307/308 with a Location; any other answer is not a redirect. */
function redirectOf(res: http.IncomingMessage): Redirect | undefined {
  const status = res.statusCode ?? 0;
  const location = res.headers.location;
  if (!REDIRECT_STATUSES.has(status) || typeof location !== 'string') return undefined;
  return { status, location };
}

/** Location schemes, as the WebSocket scheme they stand for. */
const REDIRECT_SCHEMES: Readonly<Record<string, string>> = {
  'ws:': 'ws:',
  'wss:': 'wss:',
  'http:': 'ws:',
  'https:': 'wss:',
};

/** `url` with http(s) as the ws(s) it stands for (a copy when it changes). */
function asWebSocketUrl(url: URL): URL {
  const scheme = REDIRECT_SCHEMES[url.protocol]!;
  if (scheme === url.protocol) return url;
  const copy = new URL(url);
  copy.protocol = scheme;
  return copy;
}

/** A URL for messages: no credentials, no query. */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** The Location resolved against the current URL, as ws(s); throws INVALID_REDIRECT or INSECURE_REDIRECT. */
function redirectUrl(current: URL, redirect: Redirect): URL {
  let next: URL;
  try {
    next = new URL(redirect.location, current);
  } catch (error) {
    throw new HandshakeError('INVALID_REDIRECT', `redirect ${redirect.status} to an invalid Location`, {
      status: redirect.status,
      cause: error,
    });
  }
  const scheme = REDIRECT_SCHEMES[next.protocol];
  if (scheme === undefined) {
    throw new HandshakeError(
      'INVALID_REDIRECT',
      `redirect ${redirect.status} to ${next.protocol} (not ws: or wss:)`,
      {
        status: redirect.status,
      },
    );
  }
  next = asWebSocketUrl(next);
  next.hash = '';
  if (isSecure(current) && scheme === 'ws:') {
    throw new HandshakeError(
      'INSECURE_REDIRECT',
      `refused redirect from ${shown(current)} to ${shown(next)}`,
      {
        status: redirect.status,
      },
    );
  }
  return next;
}

/** Headers that are not carried to another origin (RFC 9110 §15.4, as fetch and curl do). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie'];

/**
 * The next request: same headers on the same origin; on another one, without Authorization and Cookie (the
 * URL's credentials are the Location's own: a relative Location keeps the current ones, being same-origin).
 */
function nextHop(hop: Hop, redirect: Redirect): Hop {
  const url = redirectUrl(hop.url, redirect);
  if (url.origin === hop.url.origin) return { url, headers: hop.headers };
  const headers = hop.headers.filter(([name]) => !CREDENTIAL_HEADERS.includes(name.toLowerCase()));
  return { url, headers };
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
