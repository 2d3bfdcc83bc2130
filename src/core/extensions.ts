/**
 * `Sec-WebSocket-Extensions` (RFC 6455 §9.1): parse, format, and a negotiation that is generic over extensions.
 *
 *   Sec-WebSocket-Extensions = extension-list
 *   extension-list = 1#extension
 *   extension = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *     ; When using the quoted-string syntax variant, the value after quoted-string unescaping MUST conform
 *     ; to the 'token' ABNF.
 *
 * Header values come from the peer, so parsing and negotiation return `{ error }` instead of throwing.
 * Formatting our own values throws `UsageError` on a name or value that can never be valid.
 */
import { UsageError } from './errors.ts';
import type { Extension } from './extension.ts';
import { isToken } from './http1.ts';

/** One `name` or `name=value` parameter; a parameter without a value is `[name, true]`. */
export type ExtensionParam = readonly [name: string, value: string | true];

/** One element of the extension list: an offer (client) or an accepted extension (server response). */
export interface ExtensionItem {
  readonly name: string;
  readonly params: readonly ExtensionParam[];
}

export interface HeaderError {
  readonly error: string;
}

/** RFC 7230 §3.2.6 tchar. */
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/y;

/**
 * Parses one or more header values (several `Sec-WebSocket-Extensions` lines are one list, RFC 7230 §3.2.2).
 * Empty list elements are skipped (RFC 7230 §7); an absent or blank header is the empty list.
 */
export function parseExtensions(
  header: string | readonly string[] | undefined,
): ExtensionItem[] | HeaderError {
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  const items: ExtensionItem[] = [];
  for (const value of values) {
    const scanner = new Scanner(value);
    const error = scanner.parseList(items);
    if (error !== null) return { error: `Sec-WebSocket-Extensions: ${error} at offset ${scanner.pos}` };
  }
  return items;
}

/** Formats extension items as one header value, e.g. `permessage-deflate; client_max_window_bits`. */
export function formatExtensions(items: readonly ExtensionItem[]): string {
  return items.map(formatItem).join(', ');
}

function formatItem(item: ExtensionItem): string {
  if (!isToken(item.name)) throw new UsageError('INVALID_EXTENSION', `invalid extension name ${item.name}`);
  const parts = [item.name];
  for (const [name, value] of item.params) {
    if (!isToken(name)) throw new UsageError('INVALID_EXTENSION', `invalid extension parameter ${name}`);
    if (value !== true && !isToken(value)) {
      throw new UsageError('INVALID_EXTENSION', `extension parameter values must be tokens: ${value}`);
    }
    parts.push(value === true ? name : `${name}=${value}`);
  }
  return parts.join('; ');
}

/** A cursor over one header value. Each method returns an error message or null. */
class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  parseList(items: ExtensionItem[]): string | null {
    for (;;) {
      this.skipOws();
      if (this.pos >= this.text.length) return null;
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      const name = this.token();
      if (name === null) return 'expected an extension token';
      const params: ExtensionParam[] = [];
      const error = this.parseParams(params);
      if (error !== null) return error;
      items.push({ name, params });
      this.skipOws();
      if (this.pos < this.text.length && this.text[this.pos] !== ',') return 'expected "," or ";"';
    }
  }

  parseParams(params: ExtensionParam[]): string | null {
    for (this.skipOws(); this.text[this.pos] === ';'; this.skipOws()) {
      this.pos++;
      this.skipOws();
      const name = this.token();
      if (name === null) return 'expected a parameter token';
      this.skipOws();
      if (this.text[this.pos] !== '=') {
        params.push([name, true]);
        continue;
      }
      this.pos++;
      this.skipOws();
      const value = this.text[this.pos] === '"' ? this.quotedString() : this.token();
      if (value === null) return 'expected a parameter value';
      if (!isToken(value)) return 'quoted parameter value is not a token';
      params.push([name, value]);
    }
    return null;
  }

  skipOws(): void {
    while (this.text[this.pos] === ' ' || this.text[this.pos] === '\t') this.pos++;
  }

  token(): string | null {
    const start = this.pos;
    TCHAR.lastIndex = this.pos;
    while (TCHAR.test(this.text)) this.pos = TCHAR.lastIndex;
    return this.pos > start ? this.text.slice(start, this.pos) : null;
  }

  /** quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaped. */
  quotedString(): string | null {
    let value = '';
    for (this.pos++; this.pos < this.text.length; this.pos++) {
      let c = this.text[this.pos]!;
      if (c === '"') {
        this.pos++;
        return value;
      }
      if (c === '\\') {
        this.pos++;
        if (this.pos >= this.text.length) return null;
        c = this.text[this.pos]!;
      }
      value += c;
    }
    return null;
  }
}

/**
 * One extension's negotiation, on either side. A factory is configuration only (stateless): every call makes a
 * fresh `Extension` for one connection.
 */
export interface ExtensionFactory {
  /** Registered token, e.g. `permessage-deflate`. */
  readonly name: string;
  /**
   * Server: the client's offers for `name`, in the client's order of preference. Returns the response
   * parameters and the extension for the first acceptable offer, or undefined to decline them all.
   */
  accept(
    offers: readonly (readonly ExtensionParam[])[],
  ): { params: ExtensionParam[]; extension: Extension } | undefined;
  /** Client: the parameters of our offer. */
  offer(): ExtensionParam[];
  /** Client: checks the server's response parameters against our offer (the Error is returned, not thrown). */
  acceptResponse(params: readonly ExtensionParam[]): Extension | Error;
}

export interface ServerNegotiation {
  /** The `Sec-WebSocket-Extensions` response value, '' when nothing was accepted (omit the header then). */
  header: string;
  /** In the order of `header`. */
  extensions: Extension[];
}

/**
 * Server side (RFC 6455 §9.1): accepts at most one offer per factory, in the order of `factories`, skipping an
 * extension whose RSV bits are already taken by one accepted before it.
 */
export function negotiateServer(
  header: string | readonly string[] | undefined,
  factories: readonly ExtensionFactory[],
): ServerNegotiation | HeaderError {
  // Nothing to accept: the offer is not read at all, so a malformed one is ignored like an absent one (§9.1 asks
  // a server to choose among what it supports; ws does the same with permessage-deflate off).
  if (factories.length === 0) return { header: '', extensions: [] };
  const offers = parseExtensions(header);
  if ('error' in offers) return offers;
  const accepted: ExtensionItem[] = [];
  const extensions: Extension[] = [];
  let rsvUsed = 0;
  for (const factory of factories) {
    const mine = offers.filter((offer) => offer.name === factory.name).map((offer) => offer.params);
    if (mine.length === 0) continue;
    const result = factory.accept(mine);
    if (result === undefined) continue;
    if ((result.extension.rsv & rsvUsed) !== 0) {
      result.extension.dispose?.();
      continue;
    }
    rsvUsed |= result.extension.rsv;
    accepted.push({ name: factory.name, params: result.params });
    extensions.push(result.extension);
  }
  return { header: formatExtensions(accepted), extensions };
}

/** Client side: the `Sec-WebSocket-Extensions` request value offering every factory ('' for none). */
export function offerExtensions(factories: readonly ExtensionFactory[]): string {
  return formatExtensions(factories.map((factory) => ({ name: factory.name, params: factory.offer() })));
}

/**
 * Client side: checks the server's response. RFC 6455 §4.1: "If the response includes a
 * |Sec-WebSocket-Extensions| header field and this header field indicates the use of an extension that was not
 * present in the client's handshake (the server has indicated an extension not requested by the client), the
 * client MUST _Fail the WebSocket Connection_." An extension accepted twice fails too.
 */
export function negotiateClient(
  header: string | readonly string[] | undefined,
  factories: readonly ExtensionFactory[],
): { extensions: Extension[] } | HeaderError {
  const items = parseExtensions(header);
  if ('error' in items) return items;
  const extensions: Extension[] = [];
  const fail = (error: string): HeaderError => {
    for (const extension of extensions) extension.dispose?.();
    return { error };
  };
  const seen = new Set<string>();
  let rsvUsed = 0;
  for (const item of items) {
    const factory = factories.find((candidate) => candidate.name === item.name);
    if (factory === undefined) return fail(`server accepted extension ${item.name}, which was not offered`);
    if (seen.has(item.name)) return fail(`server accepted extension ${item.name} twice`);
    seen.add(item.name);
    const extension = factory.acceptResponse(item.params);
    if (extension instanceof Error) return fail(`${item.name}: ${extension.message}`);
    extensions.push(extension);
    if ((extension.rsv & rsvUsed) !== 0) return fail(`${item.name} uses RSV bits already taken`);
    rsvUsed |= extension.rsv;
  }
  return { extensions };
}
