/**
 * The client's proxies: a tunnel to the server through an HTTP proxy (CONNECT, RFC 9110 §9.3.6) or a SOCKS5
 * proxy (RFC 1928, with RFC 1929 username/password), and the proxy that the environment names (`'env'`: the
 * variables curl and undici read). `connect()` hands the tunnel to http(s).request, so the opening handshake
 * (and TLS, for wss://) runs inside it unchanged.
 *
 *   net.connect(proxy) ──▶ CONNECT host:port / SOCKS5 greeting, auth, CONNECT ──▶ the tunnel, a plain socket
 *
 * Every answer of the proxy is read with a bound (`MAX_PROXY_ANSWER`), and the caller's signal (the handshake's
 * deadline and abort) ends any step. Failures are `HandshakeError`s with stable codes (see errors.ts).
 */
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type HeadError, parseResponseHead, type ResponseHead } from '../core/http1.ts';
import { HandshakeError } from './errors.ts';

/** The `proxy` option of `connect()`: a proxy URL, or `'env'` for the one the environment names. */
export type ProxyOption = string | URL;

/** The most bytes of a proxy's answer that are read (an HTTP head, or a SOCKS reply). */
export const MAX_PROXY_ANSWER = 16 * 1024;

/** A parsed proxy URL. */
export interface ProxyServer {
  readonly protocol: 'http' | 'socks5';
  /** Host name or address (an IPv6 address without brackets). */
  readonly host: string;
  readonly port: number;
  /** Percent-decoded credentials; `username` undefined when the URL has none. */
  readonly username: string | undefined;
  readonly password: string;
  /** `scheme://host:port`, without credentials, for messages. */
  readonly label: string;
}

/** Where the tunnel leads: the WebSocket server's host (as in a URL, IPv6 in brackets) and port. */
export interface TunnelTarget {
  readonly host: string;
  readonly port: number;
}

// ---------------------------------------------------------------------------------------- proxy URLs

const PROXY_SCHEMES: Readonly<Record<string, { protocol: 'http' | 'socks5'; port: number }>> = {
  'http:': { protocol: 'http', port: 80 },
  'socks5:': { protocol: 'socks5', port: 1080 },
  // socks5h (proxy-side name resolution) is what socks5 does here anyway: names are sent as names.
  'socks5h:': { protocol: 'socks5', port: 1080 },
};

function invalidProxy(message: string, cause?: unknown): HandshakeError {
  return new HandshakeError('INVALID_PROXY', message, cause === undefined ? {} : { cause });
}

function bareHost(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

function decodeCredential(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    throw invalidProxy('invalid percent-encoding in the proxy credentials', error);
  }
}

/** The scheme-less form curl accepts in the environment (`host:port`) is an HTTP proxy. */
function withScheme(value: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
}

/** Parses `http://[user:pass@]host[:port]` or `socks5://[user:pass@]host[:port]`; throws INVALID_PROXY. */
export function parseProxyUrl(value: ProxyOption): ProxyServer {
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw invalidProxy('proxy must be a URL string, a URL or "env"');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw invalidProxy(`invalid proxy URL: ${String(value)}`, error);
  }
  const scheme = PROXY_SCHEMES[url.protocol];
  if (scheme === undefined) {
    throw invalidProxy(`unsupported proxy scheme ${url.protocol} (http: or socks5: expected)`);
  }
  const host = bareHost(url.hostname);
  if (host === '') throw invalidProxy(`no host in the proxy URL ${url.protocol}//`);
  const port = url.port === '' ? scheme.port : Number(url.port);
  const username = url.username === '' ? undefined : decodeCredential(url.username);
  const password = decodeCredential(url.password);
  if (scheme.protocol === 'socks5') checkSocksCredentials(username, password);
  const label = `${url.protocol}//${url.hostname}:${port}`;
  return { protocol: scheme.protocol, host, port, username, password, label };
}

/** RFC 1929: the username and the password are 1 to 255 bytes each (an empty password is let through). */
function checkSocksCredentials(username: string | undefined, password: string): void {
  if (username === undefined) {
    if (password !== '') throw invalidProxy('a SOCKS5 password needs a username');
    return;
  }
  if (Buffer.byteLength(username) > 255 || Buffer.byteLength(password) > 255) {
    throw invalidProxy('SOCKS5 credentials are limited to 255 bytes each');
  }
}

// ---------------------------------------------------------------------------------------- the environment

/** The first variable among `names` that is set and not empty (curl reads an empty one as unset). */
function firstSet(
  env: NodeJS.ProcessEnv,
  names: readonly string[],
): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return { name, value: value.trim() };
  }
  return undefined;
}

const PROXY_VARIABLES = {
  secure: ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'],
  plain: ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'],
} as const;

function isSecure(target: URL): boolean {
  return target.protocol === 'wss:' || target.protocol === 'https:';
}

function targetPort(target: URL): number {
  return target.port === '' ? (isSecure(target) ? 443 : 80) : Number(target.port);
}

/**
 * The proxy the environment names for `target`, as curl and undici read it, or `undefined` for none: wss://
 * (and https://) uses `https_proxy`, ws:// (and http://) `http_proxy`, both falling back to `all_proxy`; the
 * lower-case name wins over the upper-case one, and an empty variable counts as unset. `no_proxy` / `NO_PROXY`
 * lists hosts reached directly: `*` for all, `host` (its subdomains too), `.suffix` or `*.suffix`, `host:port`
 * (`[v6]:port`), separated by commas or spaces. A value without a scheme (`proxy:3128`) is an HTTP proxy.
 */
export function proxyFromEnvironment(
  target: string | URL,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch (error) {
    throw new HandshakeError('INVALID_URL', `invalid URL: ${String(target)}`, { cause: error });
  }
  return environmentProxy(url, env)?.value;
}

function environmentProxy(target: URL, env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY'])?.value ?? '';
  if (bypassesProxy(bareHost(target.hostname).toLowerCase(), targetPort(target), noProxy)) return undefined;
  const found = firstSet(env, PROXY_VARIABLES[isSecure(target) ? 'secure' : 'plain']);
  return found === undefined ? undefined : { name: found.name, value: withScheme(found.value) };
}

interface NoProxyEntry {
  host: string;
  /** 0: any port. */
  port: number;
}

/** One NO_PROXY entry: `host`, `.suffix`, `*.suffix`, `host:port`, `[v6]`, `[v6]:port` or a bare `v6`. */
function noProxyEntry(text: string): NoProxyEntry {
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!.toLowerCase(), port: Number(bracketed[2] ?? 0) };
  const withPort = text.split(':').length === 2 ? /^(.+):(\d+)$/.exec(text) : null;
  const host = (withPort ? withPort[1]! : text).replace(/^\*?\./, '').toLowerCase();
  return { host, port: withPort ? Number(withPort[2]) : 0 };
}

function entryMatches(entry: NoProxyEntry, hostname: string, port: number): boolean {
  if (entry.port !== 0 && entry.port !== port) return false;
  if (hostname === entry.host) return true;
  // An address is matched whole; a name also by its parent domains.
  return isIP(hostname) === 0 && hostname.endsWith(`.${entry.host}`);
}

/** Whether NO_PROXY sends `hostname:port` direct. */
function bypassesProxy(hostname: string, port: number, noProxy: string): boolean {
  const host = hostname.replace(/\.$/, '');
  const items = noProxy.split(/[\s,]+/).filter((item) => item !== '');
  if (items.includes('*')) return true;
  return items.some((item) => entryMatches(noProxyEntry(item), host, port));
}

/**
 * The proxy `connect()` uses for `target`: none without the option, the environment's for `'env'` (none when
 * the environment names none or NO_PROXY excludes the target), else the option itself. Throws INVALID_PROXY.
 */
export function resolveProxy(
  option: ProxyOption | undefined,
  target: URL,
  env: NodeJS.ProcessEnv = process.env,
): ProxyServer | undefined {
  if (option === undefined) return undefined;
  if (option !== 'env') return parseProxyUrl(option);
  const found = environmentProxy(target, env);
  if (found === undefined) return undefined;
  try {
    return parseProxyUrl(found.value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalidProxy(`${found.name}: ${reason}`, error);
  }
}

// ---------------------------------------------------------------------------------------- socket steps

interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * One step of the conversation with the proxy: `start` listens for what ends it and returns how to stop
 * listening. A socket error or close (`lost`) and the signal's abort end the step first.
 */
function step<T>(
  socket: Socket,
  signal: AbortSignal,
  lost: (cause?: Error) => HandshakeError,
  start: (settle: Settle<T>) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let stop = () => {};
    const end = () => {
      stop();
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const settle: Settle<T> = {
      resolve: (value) => {
        end();
        resolve(value);
      },
      reject: (error) => {
        end();
        reject(error);
      },
    };
    const onError = (error: Error) => settle.reject(lost(error));
    const onClose = () => settle.reject(lost());
    const onAbort = () => settle.reject(signal.reason);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    stop = start(settle);
  });
}

function connected(socket: Socket, signal: AbortSignal, proxy: ProxyServer): Promise<void> {
  const lost = (cause?: Error) =>
    new HandshakeError(
      'PROXY_UNREACHABLE',
      `cannot reach the proxy ${proxy.label}${cause ? `: ${cause.message}` : ''}`,
      cause === undefined ? {} : { cause },
    );
  return step<void>(socket, signal, lost, ({ resolve }) => {
    const onConnect = () => resolve();
    socket.once('connect', onConnect);
    return () => socket.off('connect', onConnect);
  });
}

/** What a parser found in the bytes read so far: the answer and how many bytes it took. */
interface Parsed<T> {
  value: T;
  length: number;
}

/**
 * Reads until `parse` finds a complete answer in the first `MAX_PROXY_ANSWER` bytes (it returns undefined for
 * "need more" and throws a `HandshakeError` for a bad answer); `extra` is what followed the answer.
 */
function readAnswer<T>(
  socket: Socket,
  signal: AbortSignal,
  proxy: ProxyServer,
  parse: (data: Buffer) => Parsed<T> | undefined,
): Promise<{ value: T; extra: Buffer }> {
  const lost = (cause?: Error) =>
    new HandshakeError(
      'PROXY_CLOSED',
      `the proxy ${proxy.label} closed the connection before answering${cause ? `: ${cause.message}` : ''}`,
      cause === undefined ? {} : { cause },
    );
  return step(socket, signal, lost, (settle) => {
    let data: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      let parsed: Parsed<T> | undefined;
      try {
        parsed = parse(data.subarray(0, MAX_PROXY_ANSWER));
      } catch (error) {
        return settle.reject(error);
      }
      if (parsed !== undefined)
        return settle.resolve({ value: parsed.value, extra: data.subarray(parsed.length) });
      if (data.length >= MAX_PROXY_ANSWER) {
        settle.reject(badAnswer(proxy, `the answer exceeds ${MAX_PROXY_ANSWER} bytes`));
      }
    };
    socket.on('data', onData);
    return () => socket.off('data', onData);
  });
}

function badAnswer(proxy: ProxyServer, reason: string): HandshakeError {
  return new HandshakeError('PROXY_BAD_RESPONSE', `bad answer from the proxy ${proxy.label}: ${reason}`);
}

/** The tunnel must be silent until the client speaks (the WebSocket request, or the TLS ClientHello). */
function assertSilent(proxy: ProxyServer, extra: Buffer): void {
  if (extra.length > 0) throw badAnswer(proxy, `${extra.length} unexpected bytes after the answer`);
}

// ---------------------------------------------------------------------------------------- HTTP CONNECT

/** The end of an HTTP head in `data` (past CRLF CRLF, or a bare LF LF), or -1. */
function headEnd(data: Buffer): number {
  const crlf = data.indexOf('\n\r\n');
  const bare = data.indexOf('\n\n');
  if (crlf < 0) return bare < 0 ? -1 : bare + 2;
  return bare < 0 || crlf + 3 < bare + 2 ? crlf + 3 : bare + 2;
}

function isHeadError(head: ResponseHead | HeadError): head is HeadError {
  return (head as HeadError).state === 'error';
}

function parseConnectAnswer(proxy: ProxyServer, data: Buffer): Parsed<ResponseHead> | undefined {
  const end = headEnd(data);
  if (end < 0) return undefined;
  const head = parseResponseHead(data.toString('latin1', 0, end));
  if (isHeadError(head)) throw badAnswer(proxy, head.message);
  return { value: head, length: end };
}

function connectRequest(proxy: ProxyServer, authority: string): string {
  const credentials =
    proxy.username === undefined
      ? ''
      : `Proxy-Authorization: Basic ${Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64')}\r\n`;
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${credentials}\r\n`;
}

function refusal(proxy: ProxyServer, head: ResponseHead, authority: string): HandshakeError {
  const answer = `${head.status}${head.reason ? ` ${head.reason}` : ''}`;
  // 407 is the proxy's own "authenticate"; some proxies (tinyproxy) answer refused credentials with 401. No
  // tunnel exists yet, so either status is the proxy's.
  if (head.status === 407 || head.status === 401) {
    const why = proxy.username === undefined ? 'requires credentials' : 'refused the credentials';
    return new HandshakeError('PROXY_AUTH_REQUIRED', `the proxy ${proxy.label} ${why} (${answer})`, {
      status: head.status,
    });
  }
  return new HandshakeError(
    'PROXY_REFUSED',
    `the proxy ${proxy.label} answered ${answer} to CONNECT ${authority}`,
    { status: head.status },
  );
}

async function httpTunnel(socket: Socket, proxy: ProxyServer, target: TunnelTarget, signal: AbortSignal) {
  const authority = `${target.host}:${target.port}`;
  socket.write(connectRequest(proxy, authority));
  const { value: head, extra } = await readAnswer(socket, signal, proxy, (data) =>
    parseConnectAnswer(proxy, data),
  );
  // RFC 9110 §9.3.6: "Any 2xx (Successful) response indicates that the sender (and all inbound proxies) will
  // switch to tunnel mode".
  if (head.status < 200 || head.status > 299) throw refusal(proxy, head, authority);
  assertSilent(proxy, extra);
}

// ---------------------------------------------------------------------------------------- SOCKS5

const SOCKS_VERSION = 5;
const NO_AUTH = 0x00;
const USERNAME_PASSWORD = 0x02;
const NO_ACCEPTABLE = 0xff;

/** RFC 1928 §6: the reply codes, with the code and message of our error. */
const SOCKS_REPLIES: Readonly<Record<number, [code: string, message: string]>> = {
  1: ['SOCKS_GENERAL_FAILURE', 'general SOCKS server failure'],
  2: ['SOCKS_NOT_ALLOWED', 'connection not allowed by ruleset'],
  3: ['SOCKS_NETWORK_UNREACHABLE', 'network unreachable'],
  4: ['SOCKS_HOST_UNREACHABLE', 'host unreachable'],
  5: ['SOCKS_CONNECTION_REFUSED', 'connection refused by the destination host'],
  6: ['SOCKS_TTL_EXPIRED', 'TTL expired'],
  7: ['SOCKS_COMMAND_NOT_SUPPORTED', 'command not supported'],
  8: ['SOCKS_ADDRESS_NOT_SUPPORTED', 'address type not supported'],
};

/** A parser of an answer of exactly `length` bytes. */
function fixed(length: number) {
  return (data: Buffer): Parsed<Buffer> | undefined =>
    data.length < length ? undefined : { value: data.subarray(0, length), length };
}

async function socksMethod(socket: Socket, proxy: ProxyServer, signal: AbortSignal): Promise<number> {
  const methods = proxy.username === undefined ? [NO_AUTH] : [NO_AUTH, USERNAME_PASSWORD];
  socket.write(Buffer.from([SOCKS_VERSION, methods.length, ...methods]));
  const { value, extra } = await readAnswer(socket, signal, proxy, fixed(2));
  assertSilent(proxy, extra);
  if (value[0] !== SOCKS_VERSION) throw badAnswer(proxy, `not a SOCKS5 proxy (version ${value[0]})`);
  const method = value[1]!;
  if (method === NO_ACCEPTABLE) {
    if (proxy.username === undefined) {
      throw new HandshakeError('SOCKS_AUTH_REQUIRED', `the SOCKS5 proxy ${proxy.label} requires credentials`);
    }
    throw new HandshakeError(
      'SOCKS_NO_ACCEPTABLE_METHOD',
      `the SOCKS5 proxy ${proxy.label} accepts neither no authentication nor a username and password`,
    );
  }
  if (!methods.includes(method)) throw badAnswer(proxy, `chose method ${method}, which was not offered`);
  return method;
}

/** RFC 1929: version 1, the username and the password, each after its length. */
async function socksLogin(socket: Socket, proxy: ProxyServer, signal: AbortSignal): Promise<void> {
  const username = Buffer.from(proxy.username ?? '');
  const password = Buffer.from(proxy.password);
  socket.write(
    Buffer.concat([Buffer.from([1, username.length]), username, Buffer.from([password.length]), password]),
  );
  const { value, extra } = await readAnswer(socket, signal, proxy, fixed(2));
  assertSilent(proxy, extra);
  if (value[1] !== 0) {
    throw new HandshakeError('SOCKS_AUTH_FAILED', `the SOCKS5 proxy ${proxy.label} refused the credentials`, {
      status: value[1]!,
    });
  }
}

/** DST.ADDR of a CONNECT request: an address as such (atyp 1 or 4), a name as a name (atyp 3). */
function socksAddress(host: string): Buffer {
  const bare = bareHost(host);
  const family = isIP(bare);
  if (family === 4) return Buffer.from([1, ...bare.split('.').map(Number)]);
  if (family === 6) return Buffer.concat([Buffer.from([4]), ipv6Bytes(bare)]);
  const name = Buffer.from(bare);
  if (name.length > 255)
    throw new HandshakeError('INVALID_URL', 'a host name longer than 255 bytes cannot go through SOCKS5');
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

/** The 16 bytes of an IPv6 address (as `URL` writes it: `::` at most once, no embedded IPv4). */
function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  for (const [i, group] of groups.entries()) bytes.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  return bytes;
}

/** The length of a CONNECT reply (RFC 1928 §6) once its address type is known, or undefined. */
function socksReplyLength(data: Buffer): number | undefined {
  if (data.length < 5) return undefined;
  const atyp = data[3];
  if (atyp === 1) return 4 + 4 + 2;
  if (atyp === 4) return 4 + 16 + 2;
  if (atyp === 3) return 4 + 1 + data[4]! + 2;
  return -1;
}

function parseSocksReply(proxy: ProxyServer, data: Buffer): Parsed<Buffer> | undefined {
  if (data.length < 2) return undefined;
  if (data[0] !== SOCKS_VERSION) throw badAnswer(proxy, `not a SOCKS5 reply (version ${data[0]})`);
  const reply = data[1]!;
  if (reply !== 0) {
    const [code, message] = SOCKS_REPLIES[reply] ?? ['SOCKS_FAILURE', `unknown reply ${reply}`];
    throw new HandshakeError(code, `the SOCKS5 proxy ${proxy.label} failed: ${message} (reply ${reply})`, {
      status: reply,
    });
  }
  const length = socksReplyLength(data);
  if (length === -1) throw badAnswer(proxy, `unknown address type ${data[3]}`);
  return length === undefined || data.length < length
    ? undefined
    : { value: data.subarray(0, length), length };
}

async function socksTunnel(socket: Socket, proxy: ProxyServer, target: TunnelTarget, signal: AbortSignal) {
  const address = socksAddress(target.host);
  const method = await socksMethod(socket, proxy, signal);
  if (method === USERNAME_PASSWORD) await socksLogin(socket, proxy, signal);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(target.port);
  socket.write(Buffer.concat([Buffer.from([SOCKS_VERSION, 1, 0]), address, port]));
  const { extra } = await readAnswer(socket, signal, proxy, (data) => parseSocksReply(proxy, data));
  assertSilent(proxy, extra);
}

// ---------------------------------------------------------------------------------------- the tunnel

/**
 * A socket to `target` through `proxy`, connected and ready for the client's first byte. `signal` (the
 * handshake's deadline and abort) ends it at any step, rejecting with the signal's reason.
 */
export async function openTunnel(
  proxy: ProxyServer,
  target: TunnelTarget,
  signal: AbortSignal,
): Promise<Socket> {
  if (signal.aborted) throw signal.reason;
  const socket = tcpConnect({ host: proxy.host, port: proxy.port });
  try {
    await connected(socket, signal, proxy);
    if (proxy.protocol === 'http') await httpTunnel(socket, proxy, target, signal);
    else await socksTunnel(socket, proxy, target, signal);
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  }
}
