/**
 * ws's option shapes and defaults, and their translation to tslay's.
 */
import { UsageError } from '../core/errors.ts';
import { PerMessageDeflate, type PerMessageDeflateOptions } from '../core/permessage-deflate.ts';

/** ws's `perMessageDeflate` object. `concurrencyLimit` is accepted and has no use: tslay's zlib calls are synchronous. */
export interface WsPerMessageDeflateOptions {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number | boolean;
  clientMaxWindowBits?: number | boolean;
  zlibDeflateOptions?: { level?: number; memLevel?: number; [option: string]: unknown };
  zlibInflateOptions?: Record<string, unknown>;
  /** Payloads shorter than this are not compressed. Default 1024. */
  threshold?: number;
  concurrencyLimit?: number;
}

/** Options that every WebSocket of tslay/ws takes, on either side. */
export interface WsCommonOptions {
  /** Answer pings by calling `pong()`. Default true. */
  autoPong?: boolean;
  /** Terminate a peer that has this many automatic pongs unwritten (a ping flood). 0: no limit. Default 60. */
  maxPendingAutoPongs?: number;
  /** Milliseconds from `close()` to destroying a socket whose peer does not finish the close. Default 30 s. */
  closeTimeout?: number;
  /** Largest message in bytes; beyond it the connection fails with 1009. 0: no limit. Default 100 MiB. */
  maxPayload?: number;
  /**
   * tslay's bound: a send that finds more than this many bytes still unwritten destroys the socket (a peer that
   * does not read) and emits a `WebSocketError` BUFFER_OVERFLOW. ws has none. Default 64 MiB.
   */
  maxBufferedAmount?: number;
  /** Accepted for compatibility. Text is always validated (one pass, while it is received). */
  skipUTF8Validation?: boolean;
  /** Accepted for compatibility. Events are emitted as messages are parsed, as ws does by default. */
  allowSynchronousEvents?: boolean;
  /** Accepted for compatibility: messages are assembled into one buffer as they arrive, whatever their framing. */
  maxFragments?: number;
  /** Accepted for compatibility (see `maxFragments`). */
  maxBufferedChunks?: number;
}

export const WS_DEFAULTS = {
  closeTimeout: 30_000,
  maxPayload: 100 * 1024 * 1024,
  maxPendingAutoPongs: 60,
  maxBufferedAmount: 64 * 1024 * 1024,
} as const;

/** ws's `maxPayload`: 0 means no limit. */
export function maxPayloadOf(option: number | undefined): number {
  const value = option ?? WS_DEFAULTS.maxPayload;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new TypeError(`The "maxPayload" option must be a number >= 0, not ${String(value)}`);
  }
  return value === 0 ? Number.MAX_SAFE_INTEGER : value;
}

function windowBits(value: number | boolean | undefined, name: string): number | boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (!Number.isInteger(value) || value < 8 || value > 15) {
    throw new TypeError(`Invalid value for parameter "${name}": ${value}`);
  }
  return value;
}

/**
 * permessage-deflate with ws's defaults (context takeover both ways, zlib's default level 6, threshold 1024),
 * from `false`, `true` or ws's object. One factory per option value: it is stateless.
 */
export function deflateFactory(
  option: boolean | WsPerMessageDeflateOptions | undefined,
): PerMessageDeflate | null {
  if (option === undefined || option === false) return null;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw new TypeError('The "perMessageDeflate" option must be a boolean or an object');
  }
  const ws: WsPerMessageDeflateOptions = option === true ? {} : option;
  const ours: PerMessageDeflateOptions = {
    serverNoContextTakeover: ws.serverNoContextTakeover === true,
    clientNoContextTakeover: ws.clientNoContextTakeover === true,
    level: ws.zlibDeflateOptions?.level ?? 6,
    threshold: ws.threshold ?? 1024,
  };
  const memLevel = ws.zlibDeflateOptions?.memLevel;
  if (memLevel !== undefined) ours.memLevel = memLevel;
  const serverBits = windowBits(ws.serverMaxWindowBits, 'server_max_window_bits');
  if (typeof serverBits === 'number') ours.serverMaxWindowBits = serverBits;
  const clientBits = windowBits(ws.clientMaxWindowBits, 'client_max_window_bits');
  // A client offers client_max_window_bits unless told not to; a server limits it only when given a number.
  if (clientBits !== undefined) ours.clientMaxWindowBits = clientBits;
  try {
    return new PerMessageDeflate(ours);
  } catch (error) {
    if (error instanceof UsageError) throw new TypeError(error.message);
    throw error;
  }
}
