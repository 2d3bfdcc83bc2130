/**
 * The opening handshake of RFC 6455 (§4) as pure functions: check a client's request and build the server's
 * answer, build a client's request and check the server's answer. No I/O: requests and responses come in as
 * `{ method, httpVersion, headers }` / `{ status, headers }` (node's shapes, lowercase names) and go out as
 * bytes (raw sockets) or header objects (node's http). A bad peer message is a result object, never an
 * exception; invalid arguments of ours throw `UsageError`.
 */
import { UsageError } from './errors.ts';
import {
  assertHeader,
  type HeaderInput,
  headerEntries,
  isOws,
  isToken,
  latin1Encode,
  serializeRequest,
  serializeResponse,
} from './http1.ts';
import { randomFill, sha1Base64 } from './platform.ts';

/** RFC 6455 §1.3: the GUID concatenated with the client's key before hashing. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** RFC 6455 §4.1: "a randomly selected 16-byte value that has been base64-encoded", so 22 chars + '=='. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
const VERSION = '13';

/** Headers as node gives them: lowercase names, repeated fields as arrays (or already joined with ', '). */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;
export type Sha1Base64 = (text: string) => string;
export type RandomFill = (target: Uint8Array) => unknown;

export function acceptKey(key: string, sha1: Sha1Base64 = sha1Base64): string {
  // RFC 6455 §4.2.2 step 5.4: base64(SHA-1(key + GUID)); the key is used as sent, not decoded.
  return sha1(key + WEBSOCKET_GUID);
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1, client requirement 7). */
export function generateKey(random: RandomFill = randomFill): string {
  const nonce = new Uint8Array(16);
  random(nonce);
  return btoa(String.fromCharCode(...nonce));
}

// ------------------------------------------------------------------------------------------- header helpers

/** Every value of a list-valued header joined with ', ' (RFC 9110 §5.3), or '' when absent. */
function listHeader(headers: HeaderRecord, name: string): string {
  const value = headers[name];
  return typeof value === 'string' ? value : (value?.join(', ') ?? '');
}

/** RFC 9110 §5.6.1 `#element` list: split on commas, trim OWS, drop empty elements (to be ignored). */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * Whether the `#element` list `value` holds `token` (given in lowercase), ASCII case-insensitively, OWS (SP, HTAB)
 * around elements ignored. Read in place: every handshake asks this of Upgrade and Connection.
 */
export function hasListToken(value: string, token: string): boolean {
  for (let start = 0; start <= value.length; ) {
    let end = value.indexOf(',', start);
    if (end < 0) end = value.length;
    let from = start;
    let to = end;
    while (from < to && isOws(value.charCodeAt(from))) from++;
    while (to > from && isOws(value.charCodeAt(to - 1))) to--;
    if (to - from === token.length && equalsLowercase(value, from, token)) return true;
    start = end + 1;
  }
  return false;
}

/** `value.slice(from, from + lower.length)` equals `lower` once ASCII letters are lowercased. */
function equalsLowercase(value: string, from: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let code = value.charCodeAt(from + i);
    if (code >= 0x41 && code <= 0x5a) code |= 0x20;
    if (code !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function hasToken(headers: HeaderRecord, name: string, token: string): boolean {
  const value = headers[name];
  if (typeof value === 'string') return hasListToken(value, token);
  return value?.some((line) => hasListToken(line, token)) ?? false;
}

/** The value of a header that may appear once, `undefined` when absent, `null` when repeated. */
function singleHeader(headers: HeaderRecord, name: string): string | undefined | null {
  const value = headers[name];
  if (value === undefined || typeof value === 'string') return value;
  return value.length === 1 ? value[0] : value.length === 0 ? undefined : null;
}

// ----------------------------------------------------------------------------------------------- server side

export interface RequestInfo {
  readonly method: string;
  /** `'1.1'`, like node's `IncomingMessage.httpVersion`. */
  readonly httpVersion: string;
  readonly headers: HeaderRecord;
}

export interface AcceptedRequest {
  readonly ok: true;
  /** The client's Sec-WebSocket-Key ('' over HTTP/2 when the client sent none). */
  readonly key: string;
  /** Subprotocols offered by the client, in its order of preference. */
  readonly protocols: string[];
  /** The raw Sec-WebSocket-Extensions offer ('' when none), for the extension negotiator. */
  readonly extensions: string;
  readonly origin?: string;
  readonly host: string;
}

export interface RejectedRequest {
  readonly ok: false;
  readonly status: number;
  readonly reason: string;
  /** Headers the rejection must carry (Allow for 405, Sec-WebSocket-Version for 426). */
  readonly headers?: Record<string, string>;
}

export type RequestCheck = AcceptedRequest | RejectedRequest;

function rejected(status: number, reason: string, headers?: Record<string, string>): RejectedRequest {
  return headers ? { ok: false, status, reason, headers } : { ok: false, status, reason };
}

function isHttp11OrLater(version: string): boolean {
  if (version === '1.1') return true;
  const [major, minor] = version.split('.').map(Number);
  return major === 1 && minor !== undefined && minor >= 1;
}

/** The checks of RFC 6455 §4.2.1, in order; the first that fails decides the answer. */
const REQUEST_RULES: ReadonlyArray<{ passes: (req: RequestInfo) => boolean; reject: RejectedRequest }> = [
  // §4.2.1 (1): "An HTTP/1.1 or higher GET request". RFC 9110 §15.5.6: a 405 "MUST generate an Allow header".
  { passes: (req) => req.method === 'GET', reject: rejected(405, 'Method Not Allowed', { Allow: 'GET' }) },
  // RFC 9110 §15.6.6 reserves 505 for an unsupported *major* version, so HTTP/1.0 gets a 400 and HTTP/2+ a
  // 505.
  { passes: (req) => req.httpVersion !== '1.0', reject: rejected(400, 'HTTP/1.1 or higher required') },
  { passes: (req) => isHttp11OrLater(req.httpVersion), reject: rejected(505, 'HTTP Version Not Supported') },
  // Fields that must appear once: RFC 9112 §3.2 (Host: "MUST respond with a 400"), RFC 6455 §11.3.1 (Key).
  ...['host', 'sec-websocket-key', 'sec-websocket-version', 'origin'].map((name) => ({
    passes: (req: RequestInfo) => singleHeader(req.headers, name) !== null,
    reject: rejected(400, `Duplicate ${name} header`),
  })),
  // §4.2.1 (2): "A |Host| header field containing the server's authority."
  {
    passes: (req) => !!singleHeader(req.headers, 'host')?.trim(),
    reject: rejected(400, 'Missing Host header'),
  },
  // §4.2.1 (3): "An |Upgrade| header field containing the value "websocket", treated as an ASCII
  // case-insensitive value." We accept it as one token of a list.
  {
    passes: (req) => hasToken(req.headers, 'upgrade', 'websocket'),
    reject: rejected(400, 'Invalid Upgrade header'),
  },
  // §4.2.1 (4): "A |Connection| header field that includes the token "Upgrade", treated as an ASCII
  // case-insensitive value."
  {
    passes: (req) => hasToken(req.headers, 'connection', 'upgrade'),
    reject: rejected(400, 'Invalid Connection header'),
  },
  // §4.2.1 (6) requires version 13; §4.4: answer "an appropriate HTTP error code (such as 426 Upgrade
  // Required) and a |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of
  // understanding".
  {
    passes: (req) => singleHeader(req.headers, 'sec-websocket-version')?.trim() === VERSION,
    reject: rejected(426, 'Unsupported WebSocket version', { 'Sec-WebSocket-Version': VERSION }),
  },
  // §4.2.1 (5): "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16
  // bytes".
  {
    passes: (req) => KEY_PATTERN.test(singleHeader(req.headers, 'sec-websocket-key') ?? ''),
    reject: rejected(400, 'Missing or invalid Sec-WebSocket-Key header'),
  },
];

/** §4.1 (10): the client's subprotocols are tokens that "MUST all be unique strings". `null` when invalid. */
function parseProtocols(header: string): string[] | null {
  // Most clients offer none: no list, no set.
  if (header === '') return [];
  const protocols = splitList(header);
  const unique = new Set(protocols);
  return unique.size === protocols.length && protocols.every(isToken) ? protocols : null;
}

/** Validates a client's opening handshake (RFC 6455 §4.2.1). Never throws on what the client sent. */
export function checkRequest(req: RequestInfo): RequestCheck {
  const failed = REQUEST_RULES.find((rule) => !rule.passes(req));
  if (failed) return failed.reject;
  const protocols = parseProtocols(listHeader(req.headers, 'sec-websocket-protocol'));
  if (!protocols) return rejected(400, 'Invalid Sec-WebSocket-Protocol header');
  const origin = singleHeader(req.headers, 'origin') ?? undefined;
  return {
    ok: true,
    key: singleHeader(req.headers, 'sec-websocket-key')!,
    protocols,
    extensions: listHeader(req.headers, 'sec-websocket-extensions'),
    ...(origin === undefined ? {} : { origin }),
    host: singleHeader(req.headers, 'host')!.trim(),
  };
}

// ---------------------------------------------------------------------- server side over HTTP/2 (RFC 8441)

/** An extended CONNECT's pseudo-header fields, as node's http2 gives them with the other fields. */
function pseudo(headers: HeaderRecord, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The checks of an RFC 8441 extended CONNECT, in order, then those of RFC 6455 §4.2.1 that still apply over
 * HTTP/2. §5 leaves out Upgrade and Connection (HTTP/2 forbids them) and Sec-WebSocket-Key: `:authority` stands
 * for Host, `:protocol websocket` for the upgrade.
 */
const H2_REQUEST_RULES: ReadonlyArray<{ passes: (req: RequestInfo) => boolean; reject: RejectedRequest }> = [
  // §4: "a new pseudo-header field :protocol" on a CONNECT; anything else is no WebSocket request.
  {
    passes: (req) => req.method === 'CONNECT',
    reject: rejected(405, 'Method Not Allowed', { Allow: 'CONNECT' }),
  },
  // A CONNECT without :protocol asks for a TCP tunnel (RFC 9113 §8.5); another :protocol for another protocol.
  {
    passes: (req) => pseudo(req.headers, ':protocol')?.toLowerCase() === 'websocket',
    reject: rejected(501, 'Only the websocket protocol is supported'),
  },
  // §4: "the :scheme and :path pseudo-header fields of the target URI MUST also be included".
  {
    passes: (req) => !!pseudo(req.headers, ':scheme') && !!pseudo(req.headers, ':path'),
    reject: rejected(400, 'Missing :scheme or :path'),
  },
  {
    passes: (req) => !!pseudo(req.headers, ':authority')?.trim(),
    reject: rejected(400, 'Missing :authority'),
  },
  ...['sec-websocket-version', 'origin'].map((name) => ({
    passes: (req: RequestInfo) => singleHeader(req.headers, name) !== null,
    reject: rejected(400, `Duplicate ${name} header`),
  })),
  // RFC 6455 §4.4 asks for an error with Sec-WebSocket-Version; 426 needs an Upgrade field, which HTTP/2 has not.
  {
    passes: (req) => singleHeader(req.headers, 'sec-websocket-version')?.trim() === VERSION,
    reject: rejected(400, 'Unsupported WebSocket version', { 'Sec-WebSocket-Version': VERSION }),
  },
];

/**
 * Validates a WebSocket request over HTTP/2 (RFC 8441 §4-5). `key` is the client's Sec-WebSocket-Key when it
 * sent a valid one (RFC 8441 does not use it, but some clients send it and check the accept value), else ''.
 */
export function checkH2Request(req: RequestInfo): RequestCheck {
  const failed = H2_REQUEST_RULES.find((rule) => !rule.passes(req));
  if (failed) return failed.reject;
  const protocols = parseProtocols(listHeader(req.headers, 'sec-websocket-protocol'));
  if (!protocols) return rejected(400, 'Invalid Sec-WebSocket-Protocol header');
  const key = singleHeader(req.headers, 'sec-websocket-key');
  const origin = singleHeader(req.headers, 'origin') ?? undefined;
  return {
    ok: true,
    key: typeof key === 'string' && KEY_PATTERN.test(key) ? key : '',
    protocols,
    extensions: listHeader(req.headers, 'sec-websocket-extensions'),
    ...(origin === undefined ? {} : { origin }),
    host: pseudo(req.headers, ':authority')!.trim(),
  };
}

/** HTTP/2 header fields a response may not carry (RFC 9113 §8.2.2), besides the handshake's own. */
const H2_FORBIDDEN = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

/** Extra headers for an HTTP/2 answer: validated, lowercase (RFC 9113 §8.2.1), repeated names as arrays. */
function h2Record(
  status: number,
  own: Array<[string, string]>,
  headers: HeaderInput | undefined,
  ownNames: readonly string[],
): Record<string, string | string[] | number> {
  const record: Record<string, string | string[] | number> = { ':status': status };
  for (const [name, value] of [...own, ...extraEntries(headers, [...ownNames, ...H2_FORBIDDEN])]) {
    const lower = name.toLowerCase();
    const previous = record[lower];
    record[lower] = previous === undefined ? value : [previous as string | string[], value].flat();
  }
  return record;
}

/**
 * The answer to an accepted RFC 8441 request: `:status 200` with the subprotocol and extensions, and
 * Sec-WebSocket-Accept when the client sent a key.
 */
export function h2AcceptHeaders(options: AcceptOptions): Record<string, string | string[] | number> {
  assertProtocol(options.protocol);
  const own: Array<[string, string]> = [];
  if (options.key !== '') own.push(['sec-websocket-accept', acceptKey(options.key, options.sha1)]);
  if (options.protocol) own.push(['sec-websocket-protocol', options.protocol]);
  if (options.extensions) own.push(['sec-websocket-extensions', options.extensions]);
  return h2Record(200, own, options.headers, ACCEPT_OWN);
}

/** The header fields and body of an HTTP/2 answer to a refused request (the stream then ends). */
export function h2Reject(
  status: number,
  options: RejectOptions = {},
): { headers: Record<string, string | string[] | number>; body: Uint8Array } {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new UsageError('INVALID_STATUS', `a rejection needs a 3xx-5xx status, got ${status}`);
  }
  const reason = options.reason ?? STATUS_TEXT[status] ?? 'Error';
  const body = options.body ?? `${status} ${reason}`;
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const extra = options.headers === undefined ? [] : headerEntries(options.headers);
  const ownType = extra.some(([name]) => name.toLowerCase() === 'content-type');
  const own: Array<[string, string]> = ownType ? [] : [['content-type', 'text/plain; charset=utf-8']];
  own.push(['content-length', String(bytes.length)]);
  return { headers: h2Record(status, own, options.headers, ['content-length']), body: bytes };
}

/** The server's supported subprotocols in its order of preference, or a function that picks one. */
export type ProtocolSelector =
  | readonly string[]
  | ((offered: readonly string[]) => string | undefined | false);

/**
 * Picks the subprotocol to answer with, or undefined for none (RFC 6455 §4.2.2 step 4, /subprotocol/: "The
 * value chosen MUST be derived from the client's handshake"). With a list, the server's preference wins (as
 * in python-websockets): the first supported protocol that the client offered. A selector returning a
 * protocol the client did not offer is our misuse.
 */
export function selectProtocol(offered: readonly string[], supported: ProtocolSelector): string | undefined {
  if (typeof supported !== 'function') return supported.find((protocol) => offered.includes(protocol));
  const chosen = supported(offered);
  if (chosen === undefined || chosen === false) return undefined;
  if (!offered.includes(chosen)) {
    throw new UsageError(
      'INVALID_PROTOCOL',
      `selected subprotocol ${JSON.stringify(chosen)} was not offered`,
    );
  }
  return chosen;
}

export interface AcceptOptions {
  /** The client's Sec-WebSocket-Key. */
  key: string;
  /** The selected subprotocol, if any. */
  protocol?: string | undefined;
  /** The accepted Sec-WebSocket-Extensions value, already formatted (omitted when empty). */
  extensions?: string | undefined;
  /** Extra headers (e.g. Set-Cookie); may not repeat the handshake's own. */
  headers?: HeaderInput | undefined;
  sha1?: Sha1Base64;
}

const ACCEPT_OWN = [
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
];

/** The subprotocol a 101 answer names, if any, must be a token. */
function assertProtocol(protocol: string | undefined): void {
  if (protocol !== undefined && !isToken(protocol)) {
    throw new UsageError('INVALID_PROTOCOL', `invalid subprotocol: ${JSON.stringify(protocol)}`);
  }
}

/** The headers of a 101 answer, as ordered `[name, value]` pairs (RFC 6455 §4.2.2 step 5). */
function acceptEntries(options: AcceptOptions): Array<[string, string]> {
  assertProtocol(options.protocol);
  const entries: Array<[string, string]> = [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Accept', acceptKey(options.key, options.sha1)],
  ];
  if (options.protocol) entries.push(['Sec-WebSocket-Protocol', options.protocol]);
  if (options.extensions) entries.push(['Sec-WebSocket-Extensions', options.extensions]);
  return [...entries, ...extraEntries(options.headers, ACCEPT_OWN)];
}

/** Extra headers, validated, refusing those the handshake sets itself. */
function extraEntries(headers: HeaderInput | undefined, own: readonly string[]): Array<[string, string]> {
  const entries = headers ? headerEntries(headers) : [];
  for (const [name, value] of entries) {
    assertHeader(name, value);
    if (own.includes(name.toLowerCase())) {
      throw new UsageError('INVALID_HEADER', `header ${name} is set by the handshake itself`);
    }
  }
  return entries;
}

/** The start of every 101 answer, up to the value of Sec-WebSocket-Accept (the fields of `acceptEntries`). */
const ACCEPT_HEAD =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

/**
 * Bytes of the server's `101 Switching Protocols` answer, for a raw socket: the fields of `acceptEntries`, in
 * its order, written onto a fixed start (no entry list per handshake).
 */
export function buildAccept(options: AcceptOptions): Uint8Array {
  const { protocol, extensions, headers } = options;
  assertProtocol(protocol);
  // The extensions value is the negotiator's; a bad one is our misuse.
  if (extensions) assertHeader('Sec-WebSocket-Extensions', extensions);
  let text = `${ACCEPT_HEAD}${acceptKey(options.key, options.sha1)}\r\n`;
  if (protocol) text += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  if (extensions) text += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  if (headers !== undefined) {
    for (const [name, value] of extraEntries(headers, ACCEPT_OWN)) text += `${name}: ${value}\r\n`;
  }
  return latin1Encode(`${text}\r\n`);
}

/** The same answer as a header object (repeated extra headers become arrays), for node's http. */
export function acceptHeaders(options: AcceptOptions): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of acceptEntries(options)) {
    const previous = record[name];
    record[name] = previous === undefined ? value : [previous, value].flat();
  }
  return record;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export interface RejectOptions {
  /** Reason phrase (default: the standard one for the status). */
  reason?: string | undefined;
  /** Extra headers (Allow, Sec-WebSocket-Version, Location…); Content-Type may be replaced. */
  headers?: HeaderInput | undefined;
  /** Body (UTF-8 if a string); default `"<status> <reason>"`. */
  body?: string | Uint8Array | undefined;
}

/** Bytes of an HTTP error answer to a refused handshake; the server then closes the connection. */
export function buildReject(status: number, options: RejectOptions = {}): Uint8Array {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new UsageError('INVALID_STATUS', `a rejection needs a 3xx-5xx status, got ${status}`);
  }
  const reason = options.reason ?? STATUS_TEXT[status] ?? 'Error';
  const body = options.body ?? `${status} ${reason}`;
  const bodyBytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const extra = extraEntries(options.headers, ['connection', 'content-length']);
  const ownType = extra.some(([name]) => name.toLowerCase() === 'content-type');
  const head = serializeResponse(status, reason, [
    ['Connection', 'close'],
    ...(ownType ? [] : [['Content-Type', 'text/plain; charset=utf-8'] as [string, string]]),
    ['Content-Length', String(bodyBytes.length)],
    ...extra,
  ]);
  const bytes = new Uint8Array(head.length + bodyBytes.length);
  bytes.set(head);
  bytes.set(bodyBytes, head.length);
  return bytes;
}

// ----------------------------------------------------------------------------------------------- client side

export interface RequestOptions {
  /** Host header value: the server's authority (`example.com`, `example.com:8080`). */
  host: string;
  /** Request target, starting with '/', query included. */
  path: string;
  /** Sec-WebSocket-Key to send (default: a fresh one from `random`). */
  key?: string | undefined;
  /** Subprotocols to offer, in order of preference. */
  protocols?: readonly string[] | undefined;
  /** Sec-WebSocket-Extensions offer, already formatted. */
  extensions?: string | undefined;
  origin?: string | undefined;
  /** Extra headers (Authorization, Cookie…); may not repeat the handshake's own. */
  headers?: HeaderInput | undefined;
  random?: RandomFill | undefined;
}

const REQUEST_OWN = [
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'origin',
];

function requestEntries(
  options: Omit<RequestOptions, 'host' | 'path'>,
  key: string,
): Array<[string, string]> {
  if (!KEY_PATTERN.test(key))
    throw new UsageError('INVALID_KEY', `invalid Sec-WebSocket-Key: ${JSON.stringify(key)}`);
  const protocols = options.protocols ?? [];
  if (new Set(protocols).size !== protocols.length || !protocols.every(isToken)) {
    throw new UsageError('INVALID_PROTOCOL', `invalid subprotocol list: ${JSON.stringify(protocols)}`);
  }
  // RFC 6455 §4.1, client requirements 5-11, in that order (Host, requirement 4, comes first).
  const entries: Array<[string, string]> = [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', key],
  ];
  if (options.origin !== undefined) entries.push(['Origin', options.origin]);
  entries.push(['Sec-WebSocket-Version', VERSION]);
  if (protocols.length > 0) entries.push(['Sec-WebSocket-Protocol', protocols.join(', ')]);
  if (options.extensions) entries.push(['Sec-WebSocket-Extensions', options.extensions]);
  return [...entries, ...extraEntries(options.headers, REQUEST_OWN)];
}

/** Bytes of the client's opening handshake for a raw socket, and the key to check the answer with. */
export function buildRequest(options: RequestOptions): { bytes: Uint8Array; key: string } {
  if (!/^[\x21-\x7e]+$/.test(options.host)) {
    throw new UsageError('INVALID_HOST', `invalid host: ${JSON.stringify(options.host)}`);
  }
  // RFC 6455 §4.1 client requirement 3: the Request-URI is the /resource name/, a relative URI ("/" at
  // least).
  if (!options.path.startsWith('/')) {
    throw new UsageError('INVALID_TARGET', `path must start with '/': ${JSON.stringify(options.path)}`);
  }
  const key = options.key ?? generateKey(options.random);
  const entries = requestEntries(options, key);
  return { bytes: serializeRequest('GET', options.path, [['Host', options.host], ...entries]), key };
}

/** The handshake headers for node's `http.request` (which sets Host and the request line itself). */
export function requestHeaders(options: Omit<RequestOptions, 'host' | 'path'>): {
  headers: Record<string, string>;
  key: string;
} {
  const key = options.key ?? generateKey(options.random);
  const headers: Record<string, string> = {};
  for (const [name, value] of requestEntries(options, key)) {
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { headers, key };
}

export interface ResponseInfo {
  readonly status: number;
  readonly headers: HeaderRecord;
}

export interface ResponseCheckOptions {
  /** The key our request carried. */
  key: string;
  /** Subprotocols our request offered. */
  protocols?: readonly string[] | undefined;
  /** The Sec-WebSocket-Extensions value our request offered ('' or undefined if none). */
  extensionsOffered?: string | undefined;
  sha1?: Sha1Base64;
}

export type ResponseErrorCode =
  | 'BAD_STATUS'
  | 'BAD_UPGRADE'
  | 'BAD_CONNECTION'
  | 'BAD_ACCEPT'
  | 'UNREQUESTED_PROTOCOL'
  | 'MISSING_PROTOCOL'
  | 'UNREQUESTED_EXTENSION';

export type ResponseCheck =
  | { readonly ok: true; readonly protocol: string; readonly extensions: string }
  | { readonly ok: false; readonly code: ResponseErrorCode; readonly message: string };

function failed(code: ResponseErrorCode, message: string): ResponseCheck {
  return { ok: false, code, message };
}

/**
 * Validates the server's answer (RFC 6455 §4.1, "the client MUST validate the server's response"). The
 * extensions are returned raw: the extension negotiator checks them against what was offered.
 */
export function checkResponse(res: ResponseInfo, options: ResponseCheckOptions): ResponseCheck {
  // §4.1 (1): "If the status code received from the server is not 101, the client handles the response per
  // HTTP [RFC2616] procedures."
  if (res.status !== 101) return failed('BAD_STATUS', `unexpected status ${res.status} (101 required)`);
  // §4.1 (2): the Upgrade field must be an ASCII case-insensitive match for "websocket".
  if (singleHeader(res.headers, 'upgrade')?.toLowerCase() !== 'websocket') {
    return failed('BAD_UPGRADE', 'missing or invalid Upgrade header');
  }
  // §4.1 (3): the Connection field must contain a token that case-insensitively matches "Upgrade".
  if (!hasToken(res.headers, 'connection', 'upgrade')) {
    return failed('BAD_CONNECTION', 'missing or invalid Connection header');
  }
  // §4.1 (4): Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)), "ignoring any leading and trailing
  // whitespace".
  if (singleHeader(res.headers, 'sec-websocket-accept')?.trim() !== acceptKey(options.key, options.sha1)) {
    return failed('BAD_ACCEPT', 'missing or invalid Sec-WebSocket-Accept header');
  }
  return checkNegotiation(res.headers, options);
}

function checkNegotiation(headers: HeaderRecord, options: ResponseCheckOptions): ResponseCheck {
  const protocol = listHeader(headers, 'sec-websocket-protocol').trim();
  const offered = options.protocols ?? [];
  // §4.1 (6): a subprotocol "that was not present in the client's handshake" fails the connection.
  if (protocol !== '' && !offered.includes(protocol)) {
    return failed(
      'UNREQUESTED_PROTOCOL',
      `server chose subprotocol ${JSON.stringify(protocol)}, not offered`,
    );
  }
  // Like browsers (WHATWG WebSocket) and ws: an offer of subprotocols requires the server to pick one.
  if (protocol === '' && offered.length > 0) return failed('MISSING_PROTOCOL', 'server chose no subprotocol');
  const extensions = listHeader(headers, 'sec-websocket-extensions').trim();
  // §4.1 (5): extensions "not present in the client's handshake" fail the connection; the negotiator checks
  // which ones, we only catch an answer to no offer at all.
  if (extensions !== '' && !options.extensionsOffered) {
    return failed('UNREQUESTED_EXTENSION', 'server accepted extensions that were not offered');
  }
  return { ok: true, protocol, extensions };
}
