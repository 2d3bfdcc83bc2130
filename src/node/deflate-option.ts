/**
 * `perMessageDeflate`: the option of `serve`, `handleUpgrade`, `connect` and `createContext`. It is sugar for
 * `extensions: [new PerMessageDeflate(options)]`, added after the factories of `extensions` (which stays the
 * general mechanism). `true` uses the defaults; an object overrides them (see `PerMessageDeflateOptions`).
 *
 * Default: off. Compression costs CPU on every message and zlib memory on every connection that uses it, and
 * it only pays off for large, repetitive messages. Browsers offer permessage-deflate but work without it: a server
 * that does not answer the offer simply gets uncompressed frames.
 *
 * Memory policy of a server (`SERVER_DEFAULTS`): it answers `server_no_context_takeover` even when the client did
 * not ask (RFC 7692 §7.1.1.1 allows it), so it keeps no deflate context between messages and an idle connection
 * holds at most the client's inflate window. Measured with bench/deflate-idle.mjs (2,000 connections that each
 * exchanged one ~1 KiB JSON-like message, then idle; server RSS growth per connection, Node 20): ws with
 * `perMessageDeflate: true` 250 KB; tslay with context takeover both ways 229 KB (memLevel 4: 216 KB, windowBits
 * 12 + memLevel 4: 115 KB: Node's zlib keeps a 64 KiB hash table whatever memLevel says); with
 * `server_no_context_takeover` 32 KB (0.13× ws), of which 14 KB is the connection without deflate. The price:
 * 1 KiB JSON-like messages deflate to 0.368 of their size instead of 0.235 (no shared history between messages),
 * and a message costs ~16 µs instead of ~11 µs to deflate (a deflateReset of the deflater that whole messages
 * share, bench/deflate-ratio.mjs). Memory is the scarcer resource with many mostly idle connections; for few,
 * chatty connections pass `{ serverNoContextTakeover: false }`. Clients are unchanged: they offer the defaults of
 * `PerMessageDeflate` (context takeover both ways, `client_max_window_bits`).
 */
import { UsageError } from '../core/errors.ts';
import type { ExtensionFactory } from '../core/extensions.ts';
import {
  PERMESSAGE_DEFLATE,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from '../core/permessage-deflate.ts';

export type PerMessageDeflateOption = boolean | PerMessageDeflateOptions;

/** What a server's `perMessageDeflate` starts from; the application's options override it (see above). */
export const SERVER_DEFAULTS: Readonly<PerMessageDeflateOptions> = { serverNoContextTakeover: true };

type Role = 'server' | 'client';

/** Factories are stateless (each accepted offer makes its own codec), so one serves every connection. */
const defaultFactories: Partial<Record<Role, PerMessageDeflate>> = {};
const factories = { server: new WeakMap(), client: new WeakMap() } satisfies Record<
  Role,
  WeakMap<PerMessageDeflateOptions, PerMessageDeflate>
>;

function create(role: Role, option: PerMessageDeflateOptions): PerMessageDeflate {
  return new PerMessageDeflate(role === 'server' ? { ...SERVER_DEFAULTS, ...option } : option);
}

function factoryFor(role: Role, option: true | PerMessageDeflateOptions): PerMessageDeflate {
  if (option === true) return (defaultFactories[role] ??= create(role, {}));
  let factory = factories[role].get(option);
  if (factory === undefined) {
    factory = create(role, option);
    factories[role].set(option, factory);
  }
  return factory;
}

/** `extensions` plus the factory that `perMessageDeflate` asks for; throws if both name permessage-deflate. */
export function extensionFactories(
  options: { extensions?: readonly ExtensionFactory[]; perMessageDeflate?: PerMessageDeflateOption },
  role: Role,
): readonly ExtensionFactory[] {
  const extensions = options.extensions ?? [];
  const option = options.perMessageDeflate;
  if (option === undefined || option === false) return extensions;
  if (typeof option !== 'object' && option !== true) {
    throw new UsageError('INVALID_OPTION', 'perMessageDeflate must be a boolean or an options object');
  }
  if (extensions.some((factory) => factory.name === PERMESSAGE_DEFLATE)) {
    throw new UsageError(
      'INVALID_OPTION',
      'permessage-deflate is given twice: in extensions and as perMessageDeflate',
    );
  }
  return [...extensions, factoryFor(role, option)];
}
