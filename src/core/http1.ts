/**
 * A minimal HTTP/1.1 message-head parser and serializer, for WebSocket handshakes over raw sockets.
 *
 * Only the head (start line + header fields) is handled: a WebSocket handshake has no body, and whatever
 * follows the blank line belongs to the WebSocket stream (`trailing`). The parser is incremental (`push`
 * chunks split anywhere), bounded (`maxHeadSize`, answered with 431 by a server) and strict where RFC 9112
 * lets a recipient reject (obs-fold, whitespace before the colon, control characters). Peer input never
 * throws: it yields an `error` result. Our own misuse (invalid names or values given to the serializers)
 * throws `UsageError`.
 */
import { InvalidStateError, UsageError } from './errors.ts';
import { latin1Bytes } from './platform.ts';

/** RFC 9110 §5.6.2: `token = 1*tchar`. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5: field values are VCHAR / obs-text, SP and HTAB inside; we refuse all other controls. */
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
/** RFC 9112 §3.2: `request-target`; we only accept visible ASCII (no SP, no controls). */
const TARGET = /^[\x21-\x7e]+$/;
/** RFC 9112 §4: `reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )`. */
const REASON = /^[\t \x21-\x7e\x80-\xff]*$/;
/** RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`. */
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/;
/** RFC 9112 §4: `status-line = HTTP-version SP status-code SP [ reason-phrase ]`; we tolerate no last SP. */
const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3})(?: ([\t \x20-\x7e\x80-\xff]*))?$/;
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;
const LATIN1 = /^[\x00-\xff]*$/;

const LF = 0x0a;
const CR = 0x0d;

/** Default bound on a message head, start line and terminating blank line included. */
export const DEFAULT_MAX_HEAD_SIZE = 16 * 1024;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** `record[name] = value` as an own data property, also for `__proto__` (a valid token), which assignment would
 * take for the prototype. */
function setOwn(record: Record<string, string | string[]>, name: string, value: string | string[]): void {
  if (name === '__proto__') {
    Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    record[name] = value;
  }
}

/**
 * Header fields in arrival order with lowercase names. Repeated names are kept as separate entries; `get`
 * joins them with ', ' (RFC 9110 §5.3 list semantics, wrong only for Set-Cookie, which a handshake never
 * needs).
 *
 * The fields are one flat array, name and value alternating (node's `rawHeaders` layout): a parsed head makes
 * no pair, map or array per field, and a lookup is a scan of a dozen or so names.
 */
export class HeaderFields {
  /** `[name0, value0, name1, value1, …]`, names lowercase. */
  #flat: string[];
  #list: Array<readonly [name: string, value: string]> | null = null;

  constructor(fields: Iterable<readonly [name: string, value: string]>) {
    const flat: string[] = [];
    for (const field of fields) flat.push(field[0].toLowerCase(), field[1]);
    this.#flat = flat;
  }

  /** @internal Takes `flat` (lowercase names and values, alternating) as it is. */
  static fromFlat(flat: string[]): HeaderFields {
    const fields = new HeaderFields([]);
    fields.#flat = flat;
    return fields;
  }

  /** Every field as `[lowercase name, value]`, in arrival order. */
  get list(): ReadonlyArray<readonly [name: string, value: string]> {
    if (this.#list === null) {
      const flat = this.#flat;
      const list: Array<readonly [string, string]> = [];
      for (let i = 0; i < flat.length; i += 2) list.push([flat[i]!, flat[i + 1]!]);
      this.#list = list;
    }
    return this.#list;
  }

  has(name: string): boolean {
    const lower = name.toLowerCase();
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === lower) return true;
    return false;
  }

  /** All values of `name` joined with ', ', or undefined when absent. */
  get(name: string): string | undefined {
    const values = this.getAll(name);
    return values.length === 0 ? undefined : values.join(', ');
  }

  getAll(name: string): readonly string[] {
    const lower = name.toLowerCase();
    const flat = this.#flat;
    const values: string[] = [];
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === lower) values.push(flat[i + 1]!);
    return values;
  }

  /**
   * Node's `IncomingMessage.headers` shape, except that a repeated name gives an array (so duplicates stay
   * visible).
   */
  toRecord(): Record<string, string | string[]> {
    const record: Record<string, string | string[]> = {};
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      // Own properties only: a field named `constructor` or `toString` is not the prototype's.
      const seen = Object.hasOwn(record, name) ? record[name] : undefined;
      if (seen === undefined) setOwn(record, name, value);
      else if (typeof seen === 'string') setOwn(record, name, [seen, value]);
      else seen.push(value);
    }
    return record;
  }
}

export interface RequestHead {
  readonly kind: 'request';
  readonly method: string;
  readonly target: string;
  /** `'1.1'`, like node's `IncomingMessage.httpVersion`. */
  readonly httpVersion: string;
  readonly headers: HeaderFields;
}

export interface ResponseHead {
  readonly kind: 'response';
  readonly httpVersion: string;
  readonly status: number;
  readonly reason: string;
  readonly headers: HeaderFields;
}

export type HeadErrorCode =
  | 'too-large'
  | 'bad-start-line'
  | 'obs-fold'
  | 'missing-colon'
  | 'bad-header-name'
  | 'bad-header-value';

export interface HeadError {
  readonly state: 'error';
  readonly code: HeadErrorCode;
  /** What a server answers: 431 for `too-large`, 400 otherwise. */
  readonly status: 400 | 431;
  readonly message: string;
}

export type HeadResult<H> =
  | { readonly state: 'need-more' }
  | { readonly state: 'done'; readonly head: H; readonly trailing: Uint8Array }
  | HeadError;

export interface HeadParserOptions {
  /** Largest head accepted, in bytes, blank line included (default 16 KiB). */
  maxHeadSize?: number;
}

const NEED_MORE = { state: 'need-more' } as const;

function headError(code: HeadErrorCode, message: string): HeadError {
  return { state: 'error', code, status: code === 'too-large' ? 431 : 400, message };
}

/**
 * Incremental head parser: `push` chunks until the result is `done` or `error`. The head is copied (it is at
 * most `maxHeadSize` bytes); `trailing` is a view into the chunk that completed the head.
 */
export class HeadParser<H> {
  readonly #parseText: (text: string) => H | HeadError;
  readonly #maxHeadSize: number;
  #buffer = new Uint8Array(0);
  #length = 0;
  /** Bytes seen since the last LF, and the byte before, to spot the blank line across chunk boundaries. */
  #lineBytes = 0;
  #lastByte = 0;
  #final: HeadResult<H> | null = null;

  constructor(parseText: (text: string) => H | HeadError, options: HeadParserOptions = {}) {
    const max = options.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE;
    if (!Number.isSafeInteger(max) || max < 1)
      throw new UsageError('INVALID_OPTION', `bad maxHeadSize: ${max}`);
    this.#parseText = parseText;
    this.#maxHeadSize = max;
  }

  push(chunk: Uint8Array): HeadResult<H> {
    if (this.#final) throw new InvalidStateError(`head parser already finished (${this.#final.state})`);
    const room = this.#maxHeadSize - this.#length;
    const end = this.#scan(chunk, Math.min(chunk.length, room));
    if (end < 0) {
      if (chunk.length > room)
        return this.#finish(headError('too-large', `head exceeds ${this.#maxHeadSize} bytes`));
      this.#append(chunk);
      return NEED_MORE;
    }
    this.#append(chunk.subarray(0, end));
    const head = this.#parseText(latin1Decode(this.#buffer.subarray(0, this.#length)));
    if (isHeadError(head)) return this.#finish(head);
    return this.#finish({ state: 'done', head, trailing: chunk.subarray(end) });
  }

  /** Index just past the blank line that ends the head (CRLF CRLF, or bare LF tolerated), or -1. */
  #scan(chunk: Uint8Array, limit: number): number {
    for (let i = 0; i < limit; i++) {
      const byte = chunk[i]!;
      if (byte === LF) {
        if (this.#lineBytes === 0 || (this.#lineBytes === 1 && this.#lastByte === CR)) return i + 1;
        this.#lineBytes = 0;
      } else {
        this.#lineBytes++;
      }
      this.#lastByte = byte;
    }
    return -1;
  }

  #append(bytes: Uint8Array): void {
    const needed = this.#length + bytes.length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(needed, this.#buffer.length * 2, 256), this.#maxHeadSize),
      );
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length = needed;
  }

  #finish(result: HeadResult<H>): HeadResult<H> {
    this.#final = result;
    this.#buffer = new Uint8Array(0);
    return result;
  }
}

function isHeadError(value: unknown): value is HeadError {
  return (value as HeadError).state === 'error';
}

export function requestParser(options?: HeadParserOptions): HeadParser<RequestHead> {
  return new HeadParser(parseRequestHead, options);
}

export function responseParser(options?: HeadParserOptions): HeadParser<ResponseHead> {
  return new HeadParser(parseResponseHead, options);
}

/** Parses a complete request head (terminating blank line included or not). */
export function parseRequestHead(text: string): RequestHead | HeadError {
  const end = lineEnd(text, 0);
  const startLine = text.slice(0, contentEnd(text, 0, end));
  const match = REQUEST_LINE.exec(startLine);
  if (!match) return headError('bad-start-line', `invalid request line: ${JSON.stringify(startLine)}`);
  const headers = parseFields(text, end + 1);
  if (isHeadError(headers)) return headers;
  const [, method, target, major, minor] = match as unknown as [string, string, string, string, string];
  return { kind: 'request', method, target, httpVersion: `${major}.${minor}`, headers };
}

/** Parses a complete response head (terminating blank line included or not). */
export function parseResponseHead(text: string): ResponseHead | HeadError {
  const end = lineEnd(text, 0);
  const startLine = text.slice(0, contentEnd(text, 0, end));
  const match = STATUS_LINE.exec(startLine);
  if (!match) return headError('bad-start-line', `invalid status line: ${JSON.stringify(startLine)}`);
  const headers = parseFields(text, end + 1);
  if (isHeadError(headers)) return headers;
  const [, major, minor, status, reason = ''] = match as unknown as [string, string, string, string, string?];
  return { kind: 'response', httpVersion: `${major}.${minor}`, status: Number(status), reason, headers };
}

/** Index of the LF that ends the line starting at `start`, or the text's length for a last line without one. */
function lineEnd(text: string, start: number): number {
  const lf = text.indexOf('\n', start);
  return lf < 0 ? text.length : lf;
}

/** The end of a line's content: its CR, if it ends with CRLF, is no part of it. */
function contentEnd(text: string, start: number, end: number): number {
  return end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end;
}

/**
 * The field lines from `start` up to the blank line that ends the head (or the end of the text), read in place:
 * this runs for every handshake, so no line is cut out of the text, only names and values.
 */
function parseFields(text: string, start: number): HeaderFields | HeadError {
  const flat: string[] = [];
  while (start < text.length) {
    const end = lineEnd(text, start);
    const stop = contentEnd(text, start, end);
    if (stop === start) break;
    const error = parseField(text, start, stop, flat);
    if (error !== null) return error;
    start = end + 1;
  }
  return HeaderFields.fromFlat(flat);
}

/** RFC 9110 §5.6.3: OWS is SP and HTAB. */
export function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Appends the lowercase name and the value of the field line `text[start, end)` (CRLF excluded) to `flat`. */
function parseField(text: string, start: number, end: number, flat: string[]): HeadError | null {
  // RFC 9112 §5.2: a server "MUST either reject the message by sending a 400 (Bad Request) [...] or replace
  // each received obs-fold with one or more SP octets". We reject, in responses too (no WebSocket peer
  // folds).
  if (isOws(text.charCodeAt(start))) return headError('obs-fold', 'obsolete line folding');
  const colon = text.indexOf(':', start);
  if (colon < 0 || colon >= end) {
    const line = text.slice(start, end);
    return headError('missing-colon', `header line without a colon: ${JSON.stringify(line)}`);
  }
  const name = text.slice(start, colon);
  // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon. [...] A server MUST reject".
  if (!TOKEN.test(name)) return headError('bad-header-name', `invalid header name: ${JSON.stringify(name)}`);
  // RFC 9112 §5.1: the field value excludes leading and trailing OWS.
  let from = colon + 1;
  let to = end;
  while (from < to && isOws(text.charCodeAt(from))) from++;
  while (to > from && isOws(text.charCodeAt(to - 1))) to--;
  const value = text.slice(from, to);
  // RFC 9110 §5.5: CR, LF and NUL "are invalid and dangerous"; we refuse the other controls too (HTAB
  // excepted).
  if (BAD_VALUE_CHAR.test(value)) return headError('bad-header-value', `invalid value for header ${name}`);
  flat.push(name.toLowerCase(), value);
  return null;
}

/**
 * Header fields to serialize: a record (array values give repeated lines) or `[name, value]` pairs in order.
 */
export type HeaderInput =
  | Readonly<Record<string, string | number | readonly string[]>>
  | ReadonlyArray<readonly [name: string, value: string]>;

export function headerEntries(headers: HeaderInput): Array<[string, string]> {
  if (Array.isArray(headers)) return headers.map(([name, value]) => [name, value]);
  const entries: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(
    headers as Record<string, string | number | readonly string[]>,
  )) {
    if (Array.isArray(value)) for (const item of value) entries.push([name, item]);
    else entries.push([name, String(value)]);
  }
  return entries;
}

/**
 * Throws `UsageError` unless `name: value` can be sent as is (token name, no controls, no edge whitespace).
 */
export function assertHeader(name: string, value: string): void {
  if (!TOKEN.test(name))
    throw new UsageError('INVALID_HEADER', `invalid header name: ${JSON.stringify(name)}`);
  if (BAD_VALUE_CHAR.test(value) || value !== value.replace(OWS_EDGES, '')) {
    throw new UsageError('INVALID_HEADER', `invalid value for header ${name}: ${JSON.stringify(value)}`);
  }
}

export function serializeRequest(method: string, target: string, headers: HeaderInput): Uint8Array {
  if (!TOKEN.test(method))
    throw new UsageError('INVALID_METHOD', `invalid method: ${JSON.stringify(method)}`);
  if (!TARGET.test(target))
    throw new UsageError('INVALID_TARGET', `invalid request target: ${JSON.stringify(target)}`);
  return serializeHead(`${method} ${target} HTTP/1.1`, headers);
}

export function serializeResponse(status: number, reason: string, headers: HeaderInput): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new UsageError('INVALID_STATUS', `invalid status code: ${status}`);
  }
  if (!REASON.test(reason))
    throw new UsageError('INVALID_REASON', `invalid reason phrase: ${JSON.stringify(reason)}`);
  return serializeHead(`HTTP/1.1 ${status} ${reason}`, headers);
}

function serializeHead(startLine: string, headers: HeaderInput): Uint8Array {
  const entries = headerEntries(headers);
  for (const [name, value] of entries) assertHeader(name, value);
  return formatHead(startLine, entries);
}

/** The bytes of a head whose start line and fields are already checked (`assertHeader`). */
export function formatHead(startLine: string, entries: ReadonlyArray<readonly [string, string]>): Uint8Array {
  let text = `${startLine}\r\n`;
  for (const [name, value] of entries) text += `${name}: ${value}\r\n`;
  return latin1Encode(`${text}\r\n`);
}

/**
 * Bytes → string, one char per byte (ISO-8859-1). TextDecoder('latin1') would be windows-1252, hence by hand.
 */
export function latin1Decode(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return text;
}

/** String → bytes, one byte per char; characters above U+00FF are our misuse. */
export function latin1Encode(text: string): Uint8Array {
  if (LATIN1.test(text)) return latin1Bytes(text);
  const code = text
    .split('')
    .find((char) => char.charCodeAt(0) > 0xff)!
    .charCodeAt(0);
  throw new UsageError('INVALID_HEADER', `character U+${code.toString(16)} is not latin1`);
}
