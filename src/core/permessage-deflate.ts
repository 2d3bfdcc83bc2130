/**
 * permessage-deflate (RFC 7692): parameter negotiation (`PerMessageDeflate`, an `ExtensionFactory`) and the codec
 * (`DeflateExtension`, an `Extension`).
 *
 * Design decision: the core is synchronous, so the codec uses synchronous raw DEFLATE contexts that keep their
 * sliding window between messages (zlib-platform.ts drives Node's zlib handle directly, because on Node 20
 * `_processChunk` closes the handle after one call). Compression and decompression happen inside `encode()` and
 * `decode()`; nothing is queued, scheduled or awaited, and the output limit is enforced while inflating.
 *
 * Memory per connection (zlib's formulas from zconf.h):
 *   deflate: (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes, plus ~6 KiB of state
 *            = 128 KiB + 128 KiB = 256 KiB at windowBits 15, memLevel 8 (the defaults)
 *   inflate: (1 << 15) bytes of window, plus ~7 KiB of state = ~39 KiB (we always inflate with 15 bits: see
 *            `decode`)
 * plus a Node stream wrapper (~2 KiB of JS heap) per context. Both contexts are created lazily, on the first
 * compressed message in their direction, so a connection that never sends or receives one costs nothing. A side
 * without context takeover frees its context at the end of every message, so an idle connection with
 * `server_no_context_takeover; client_no_context_takeover` holds no zlib memory at all (at the price of an
 * inflateInit per received message; whole messages are deflated by a deflater shared by all connections, see
 * `deflateWhole`). With context takeover both ways a busy connection holds ~300 KiB. Node 20's zlib (Chromium's)
 * also zeroes the window and uses a 15-bit hash whatever memLevel says, so the whole 256 KiB of a deflater is
 * resident and memLevel saves almost nothing: measured RSS per idle connection that exchanged one 1 KiB message,
 * context takeover both ways: 229 KB at memLevel 8, 216 KB at memLevel 4, 115 KB with windowBits 12 and
 * memLevel 4; without server context takeover: 32 KB (bench/deflate-idle.mjs). The servers of the node layer use
 * `server_no_context_takeover` by default for that reason (src/node/deflate-option.ts).
 *
 * windowBits 8: zlib's deflate does not support an 8-bit window (deflateInit2 rejects it for raw streams, "until
 * 256-byte window bug fixed"), so we deflate with 9 when 8 is negotiated, as ws does. This is still correct:
 * zlib never emits a distance larger than w_size - MIN_LOOKAHEAD = 512 - 262 = 250 bytes with a 9-bit window,
 * which fits a peer's 256-byte window. Inflating always uses a 15-bit window, whatever was negotiated.
 */
import { concat } from './bytes.ts';
import { CloseCode, Rsv } from './constants.ts';
import { ProtocolError, UsageError } from './errors.ts';
import type { Extension } from './extension.ts';
import type { ExtensionFactory, ExtensionParam } from './extensions.ts';
import {
  createRawDeflater,
  createRawInflater,
  type RawDeflaterOptions,
  type RawZlib,
} from './zlib-platform.ts';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';

export interface PerMessageDeflateOptions {
  /** Ask for (client) or impose (server) no context takeover on the server's messages. Default false. */
  serverNoContextTakeover?: boolean;
  /** Ask for (server) or announce (client) no context takeover on the client's messages. Default false. */
  clientNoContextTakeover?: boolean;
  /** 8..15. Client: request `server_max_window_bits=N`. Server: never use a larger window. Default: none (15). */
  serverMaxWindowBits?: number;
  /**
   * Client: a number offers `client_max_window_bits=N`; true (default) offers it without a value (we accept the
   * server's choice); false leaves it out. Server: a number asks the client for at most N bits when the client
   * offered the parameter.
   */
  clientMaxWindowBits?: number | boolean;
  /** 8..15: the default for `serverMaxWindowBits` and a numeric `clientMaxWindowBits`. */
  maxWindowBits?: number;
  /**
   * zlib level 0..9. Default 1 (deflate_fast): on text and JSON it gives most of level 6's size reduction at a
   * fraction of the CPU, and a server compresses for every connection.
   */
  level?: number;
  /** zlib memLevel 1..9. Default 8 (zlib's own default): 1 << (memLevel + 9) bytes of hash and buffer memory. */
  memLevel?: number;
  /**
   * Messages shorter than this many bytes are sent uncompressed (RFC 7692 §6: compression is a per-message
   * choice). Default 1024, as ws: below that, the block header and the CPU cost usually outweigh the saving.
   * A fragmented message is judged by its first fragment when it is also the last; a message sent in several
   * fragments is always compressed (its total size is unknown when the first frame goes out).
   */
  threshold?: number;
}

/** The negotiated configuration seen from one endpoint: "send" is our compressor, "receive" the peer's. */
export interface DeflateParams {
  sendWindowBits: number;
  sendNoContextTakeover: boolean;
  receiveWindowBits: number;
  receiveNoContextTakeover: boolean;
  level: number;
  memLevel: number;
  threshold: number;
}

/**
 * The codec's parameters when nothing was negotiated or configured: RFC 7692's defaults (15-bit windows, context
 * takeover both ways) and ours for zlib level, memLevel and threshold (see `PerMessageDeflateOptions`).
 */
export const DEFLATE_DEFAULTS: Readonly<DeflateParams> = Object.freeze({
  sendWindowBits: 15,
  sendNoContextTakeover: false,
  receiveWindowBits: 15,
  receiveNoContextTakeover: false,
  level: 1,
  memLevel: 8,
  threshold: 1024,
});

/** Complete codec parameters: `params` where given (not undefined), `DEFLATE_DEFAULTS` elsewhere. */
export function deflateParams(params: Partial<DeflateParams> = {}): DeflateParams {
  const out = { ...DEFLATE_DEFAULTS };
  for (const key of Object.keys(out) as (keyof DeflateParams)[]) {
    const value = params[key];
    if (value !== undefined) (out as Record<keyof DeflateParams, number | boolean>)[key] = value;
  }
  return out;
}

type Resolved = Required<Omit<PerMessageDeflateOptions, 'maxWindowBits' | 'serverMaxWindowBits'>> & {
  serverMaxWindowBits: number | undefined;
};

/** RFC 7692 §7.1.2: "a decimal integer value without leading zeroes between 8 to 15, inclusive". */
const WINDOW_BITS = /^(?:8|9|1[0-5])$/;
const PARAMS = [
  'server_no_context_takeover',
  'client_no_context_takeover',
  'server_max_window_bits',
  'client_max_window_bits',
] as const;
type ParamName = (typeof PARAMS)[number];
type ParamMap = Partial<Record<ParamName, string | true>>;

export class PerMessageDeflate implements ExtensionFactory {
  readonly name = PERMESSAGE_DEFLATE;
  readonly #options: Resolved;

  constructor(options: PerMessageDeflateOptions = {}) {
    this.#options = resolveOptions(options);
  }

  /** Server: the first acceptable offer wins (RFC 7692 §5: offers are in the client's order of preference). */
  accept(
    offers: readonly (readonly ExtensionParam[])[],
  ): { params: ExtensionParam[]; extension: Extension } | undefined {
    for (const offer of offers) {
      const result = this.#acceptOffer(offer);
      if (result !== undefined) return result;
    }
    return undefined;
  }

  #acceptOffer(
    offer: readonly ExtensionParam[],
  ): { params: ExtensionParam[]; extension: Extension } | undefined {
    // RFC 7692 §7.1: the server MUST decline an offer with an unknown parameter, an invalid value, or a repeated
    // parameter.
    const p = readParams(offer);
    if (typeof p === 'string') return undefined;
    const o = this.#options;
    const params: ExtensionParam[] = [];
    // §7.1.1.1: accept server_no_context_takeover by including it; we MAY include it unasked.
    const sendNoContextTakeover = o.serverNoContextTakeover || p.server_no_context_takeover !== undefined;
    if (sendNoContextTakeover) params.push(['server_no_context_takeover', true]);
    // §7.1.1.2: the client announces (hint) or we impose no context takeover on its messages. Echoing it lets
    // us free the inflater after every message.
    const receiveNoContextTakeover = o.clientNoContextTakeover || p.client_no_context_takeover !== undefined;
    if (receiveNoContextTakeover) params.push(['client_no_context_takeover', true]);
    // §7.1.2.1: answer server_max_window_bits with "the same or smaller value"; we may also include it unasked.
    const requested = p.server_max_window_bits === undefined ? 15 : Number(p.server_max_window_bits);
    const sendWindowBits = Math.min(requested, o.serverMaxWindowBits ?? 15);
    if (p.server_max_window_bits !== undefined || o.serverMaxWindowBits !== undefined) {
      params.push(['server_max_window_bits', String(sendWindowBits)]);
    }
    // §7.1.2.2: we may limit the client's window only if it offered client_max_window_bits. Without our own
    // value in the response we inflate with 15, which is always large enough.
    let receiveWindowBits = 15;
    if (p.client_max_window_bits !== undefined && typeof o.clientMaxWindowBits === 'number') {
      const offered = p.client_max_window_bits === true ? 15 : Number(p.client_max_window_bits);
      receiveWindowBits = Math.min(offered, o.clientMaxWindowBits);
      params.push(['client_max_window_bits', String(receiveWindowBits)]);
    }
    const extension = new DeflateExtension({
      sendWindowBits,
      sendNoContextTakeover,
      receiveWindowBits,
      receiveNoContextTakeover,
      level: o.level,
      memLevel: o.memLevel,
      threshold: o.threshold,
    });
    return { params, extension };
  }

  /** Client: our offer. */
  offer(): ExtensionParam[] {
    const o = this.#options;
    const params: ExtensionParam[] = [];
    if (o.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
    if (o.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
    if (o.serverMaxWindowBits !== undefined)
      params.push(['server_max_window_bits', String(o.serverMaxWindowBits)]);
    if (o.clientMaxWindowBits !== false) {
      const value = o.clientMaxWindowBits === true ? true : String(o.clientMaxWindowBits);
      params.push(['client_max_window_bits', value]);
    }
    return params;
  }

  /** Client: RFC 7692 §7.1: fail on an unknown, invalid or repeated parameter, or a configuration we did not offer. */
  acceptResponse(response: readonly ExtensionParam[]): Extension | Error {
    const p = readParams(response);
    if (typeof p === 'string') return new Error(p);
    const o = this.#options;
    if (o.serverNoContextTakeover && p.server_no_context_takeover === undefined) {
      return new Error('response lacks the requested server_no_context_takeover');
    }
    const receiveWindowBits = checkServerWindowBits(
      p.server_max_window_bits as string | undefined,
      o.serverMaxWindowBits,
    );
    if (receiveWindowBits instanceof Error) return receiveWindowBits;
    const sendWindowBits = checkClientWindowBits(p.client_max_window_bits, o.clientMaxWindowBits);
    if (sendWindowBits instanceof Error) return sendWindowBits;
    return new DeflateExtension({
      sendWindowBits,
      sendNoContextTakeover: o.clientNoContextTakeover || p.client_no_context_takeover !== undefined,
      receiveWindowBits,
      receiveNoContextTakeover: p.server_no_context_takeover !== undefined,
      level: o.level,
      memLevel: o.memLevel,
      threshold: o.threshold,
    });
  }
}

/** §7.1.2.1 from the client: the server must answer a request with the same or a smaller value. */
function checkServerWindowBits(answer: string | undefined, requested: number | undefined): number | Error {
  if (answer === undefined) {
    return requested === undefined ? 15 : new Error('response lacks the requested server_max_window_bits');
  }
  const bits = Number(answer);
  if (requested !== undefined && bits > requested) {
    return new Error(`server_max_window_bits=${answer} is larger than the requested ${requested}`);
  }
  return bits;
}

/** §7.1.2.2 from the client: only if offered, with a value, not above our offered value. */
function checkClientWindowBits(answer: string | true | undefined, offered: number | boolean): number | Error {
  if (answer === undefined) return typeof offered === 'number' ? offered : 15;
  if (offered === false) return new Error('client_max_window_bits in the response was not offered');
  if (answer === true) return new Error('client_max_window_bits needs a value in a response');
  const bits = Number(answer);
  if (typeof offered === 'number' && bits > offered) {
    return new Error(`client_max_window_bits=${answer} is larger than the offered ${offered}`);
  }
  return bits;
}

/**
 * Collects the parameters of one offer or response, or returns why it is invalid: an unknown or repeated name, a
 * value on a flag, a missing or malformed window size. `client_max_window_bits` may lack a value (valid in an
 * offer; the client rejects it in a response).
 */
function readParams(params: readonly ExtensionParam[]): ParamMap | string {
  const map: ParamMap = {};
  for (const [name, value] of params) {
    if (!(PARAMS as readonly string[]).includes(name)) return `unknown parameter ${name}`;
    const key = name as ParamName;
    if (map[key] !== undefined) return `repeated parameter ${name}`;
    if (key.endsWith('_no_context_takeover') && value !== true) return `${name} takes no value`;
    if (key.endsWith('_max_window_bits') && value !== true && !WINDOW_BITS.test(value))
      return `invalid ${name}`;
    if (key === 'server_max_window_bits' && value === true) return `${name} needs a value`;
    map[key] = value;
  }
  return map;
}

function resolveOptions(options: PerMessageDeflateOptions): Resolved {
  const check = (name: string, value: number | undefined, min: number, max: number): void => {
    if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
      throw new UsageError(
        'INVALID_OPTION',
        `permessage-deflate ${name} must be an integer in ${min}..${max}`,
      );
    }
  };
  const { maxWindowBits, serverMaxWindowBits = maxWindowBits } = options;
  let { clientMaxWindowBits = maxWindowBits ?? true } = options;
  check('maxWindowBits', maxWindowBits, 8, 15);
  check('serverMaxWindowBits', serverMaxWindowBits, 8, 15);
  if (typeof clientMaxWindowBits === 'number') check('clientMaxWindowBits', clientMaxWindowBits, 8, 15);
  else if (typeof clientMaxWindowBits !== 'boolean') clientMaxWindowBits = true;
  const {
    level = DEFLATE_DEFAULTS.level,
    memLevel = DEFLATE_DEFAULTS.memLevel,
    threshold = DEFLATE_DEFAULTS.threshold,
  } = options;
  check('level', level, 0, 9);
  check('memLevel', memLevel, 1, 9);
  if (!(threshold >= 0)) throw new UsageError('INVALID_OPTION', 'permessage-deflate threshold must be >= 0');
  return {
    serverNoContextTakeover: options.serverNoContextTakeover === true,
    clientNoContextTakeover: options.clientNoContextTakeover === true,
    serverMaxWindowBits,
    clientMaxWindowBits,
    level,
    memLevel,
    threshold,
  };
}

/** RFC 7692 §7.2.1/§7.2.2: the tail of a sync flush, stripped by the sender and appended by the receiver. */
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
/** RFC 7692 §7.2.3.6: an empty message (or final fragment) is the byte 0x00 once the tail is stripped. */
const EMPTY_BLOCK = new Uint8Array([0x00]);

/** The permessage-deflate codec for one connection (RFC 7692 §6, §7.2). */
export class DeflateExtension implements Extension {
  readonly name = PERMESSAGE_DEFLATE;
  readonly rsv = Rsv.Rsv1;
  readonly params: Readonly<DeflateParams>;
  #inflater: RawZlib | null = null;
  #deflater: RawZlib | null = null;
  /** The inflater saw the end of a DEFLATE stream (BFINAL = 1) in the current message. */
  #inflateEnded = false;
  /** The outgoing message in progress is compressed (decided on its first fragment). */
  #compressing = false;

  constructor(params: DeflateParams) {
    this.params = params;
  }

  /** RFC 7692 §7.2.2: append 00 00 ff ff to the message's payload and inflate; here one fragment at a time. */
  decode(data: Uint8Array, fin: boolean, limit: number): Uint8Array[] | ProtocolError {
    // Always a 15-bit window, whatever client_max_window_bits/server_max_window_bits limited the peer to: a
    // larger window inflates every stream a smaller one does (RFC 7692 §7.1.2), and a peer whose back-references
    // reach further than it agreed to is accepted under every chunking (zlib checks distances only against what
    // its window holds, so a smaller window made the verdict depend on how the bytes arrived), as ws does.
    const inflater = (this.#inflater ??= createRawInflater(15));
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (const input of fin ? [data, TAIL] : [data]) {
      // §7.2.3.3: a sender may end a message with a BFINAL block; what follows it (the stripped tail of an
      // empty stored block) is not data, so we stop reading and start a new stream after the message.
      if (this.#inflateEnded || input.length === 0) continue;
      const out = inflater.push(input, 'sync', limit - total);
      if ('error' in out) {
        return this.#failDecode(
          'EXTENSION_ERROR',
          CloseCode.InvalidFramePayloadData,
          `corrupt data: ${out.error}`,
        );
      }
      for (const chunk of out.chunks) chunks.push(chunk);
      total += out.length;
      if (out.overflow) {
        // The bytes up to the limit go with the error: invalid UTF-8 among them is the first offence. The
        // inflater stays as zlib stopped it, its output full: a caller may go on with `limit` -1 (no output room),
        // which reads what zlib can read without writing (block headers) and so finds the corrupt data zlib
        // would have found had the rest of the frame come with this piece.
        const last = chunks.length - 1;
        if (last >= 0) chunks[last] = chunks[last]!.subarray(0, chunks[last]!.length - (total - limit));
        return new ProtocolError(
          'MESSAGE_TOO_BIG',
          CloseCode.MessageTooBig,
          `permessage-deflate: message inflates past ${limit} bytes`,
          chunks,
        );
      }
      this.#inflateEnded ||= out.ended;
    }
    if (fin) this.#endInflate();
    return chunks;
  }

  /** RFC 7692 §7.2.1: deflate, sync-flush each fragment, strip the tail from the message's last fragment. */
  encode(data: Uint8Array, first: boolean, fin: boolean): { payload: Uint8Array; rsv: number } {
    if (first) this.#compressing = !fin || data.length >= this.params.threshold;
    if (!this.#compressing) return { payload: data, rsv: Rsv.None };
    const { sendWindowBits, level, memLevel } = this.params;
    // 8 → 9: see the note at the top of this file.
    const options = { windowBits: Math.max(sendWindowBits, 9), level, memLevel };
    if (first && fin && this.params.sendNoContextTakeover && this.#deflater === null) {
      return { payload: deflateWhole(options, data), rsv: Rsv.Rsv1 };
    }
    this.#deflater ??= createRawDeflater(options);
    const out = this.#deflater.push(data, 'sync');
    if ('error' in out) throw new Error(`permessage-deflate: zlib deflate failed: ${out.error}`);
    let payload = concat(out.chunks, out.length);
    if (fin) {
      payload = stripTail(payload);
      // §7.1.1.1/§7.1.1.2: without context takeover our next message starts from an empty window.
      if (this.params.sendNoContextTakeover) this.#deflater = closeZlib(this.#deflater);
    }
    return { payload, rsv: first ? Rsv.Rsv1 : Rsv.None };
  }

  dispose(): void {
    this.#inflater = closeZlib(this.#inflater);
    this.#deflater = closeZlib(this.#deflater);
  }

  #endInflate(): void {
    if (this.params.receiveNoContextTakeover) this.#inflater = closeZlib(this.#inflater);
    else if (this.#inflateEnded) this.#inflater?.reset();
    this.#inflateEnded = false;
  }

  /** The inflater is mid-stream or broken after a failure: free it (the connection is failing anyway). */
  #failDecode(
    code: 'EXTENSION_ERROR' | 'MESSAGE_TOO_BIG',
    closeCode: number,
    message: string,
    decoded?: Uint8Array[],
  ): ProtocolError {
    this.#inflater = closeZlib(this.#inflater);
    this.#inflateEnded = false;
    return new ProtocolError(code, closeCode, `permessage-deflate: ${message}`, decoded);
  }
}

/**
 * Deflaters shared by every connection without context takeover on its sending side, one per zlib setting. A
 * whole message (one frame) is compressed from an empty window in one synchronous call, so no state survives it:
 * a `deflateReset` (which clears the 64 KiB hash table) replaces a `deflateInit2` + `deflateEnd` per message and
 * per connection (an allocation of ~256 KiB that the pages of must be faulted in each time). The output is the
 * same bytes a fresh deflater would give. A message sent in several fragments spans calls, so it gets a deflater
 * of its own, freed at its end.
 */
const sharedDeflaters = new Map<string, RawZlib>();

function deflateWhole(options: RawDeflaterOptions, data: Uint8Array): Uint8Array {
  const key = `${options.windowBits}/${options.level}/${options.memLevel}`;
  let deflater = sharedDeflaters.get(key);
  if (deflater === undefined) {
    deflater = createRawDeflater(options);
    sharedDeflaters.set(key, deflater);
  }
  let out: ReturnType<RawZlib['push']>;
  try {
    out = deflater.push(data, 'sync');
  } finally {
    deflater.reset();
  }
  if ('error' in out) throw new Error(`permessage-deflate: zlib deflate failed: ${out.error}`);
  return stripTail(concat(out.chunks, out.length));
}

function closeZlib(zlib: RawZlib | null): null {
  zlib?.close();
  return null;
}

/**
 * §7.2.1: "If the resulting data does not end with an empty DEFLATE block with no compression ... append an
 * empty DEFLATE block with no compression to the tail end. Remove 4 octets (that are 0x00 0x00 0xff 0xff)".
 * A sync flush always ends with that block, except when zlib had nothing to flush (an empty final fragment after
 * a flushed one): then the empty stored block, tail removed, is the single byte 0x00.
 */
function stripTail(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  if (n === 0) return EMPTY_BLOCK;
  const tail =
    payload[n - 4] === 0 && payload[n - 3] === 0 && payload[n - 2] === 0xff && payload[n - 1] === 0xff;
  if (!tail) throw new Error('permessage-deflate: sync flush did not end with 00 00 ff ff');
  return payload.subarray(0, n - 4);
}
