/**
 * The only place in core/ that touches node:crypto. Randomness and SHA-1 reach the rest of the core through
 * these functions, and every consumer lets callers inject their own (deterministic tests).
 */
// The module's binding, not the global: globalThis.Buffer is an accessor, one getter call per use.
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';

/**
 * Node's builtins loaded with `require`, for the modules whose ES import costs heap that no WebSocket uses: an
 * `import` of a builtin (named or namespace) makes node evaluate every lazy export of it, so `node:http` loads
 * undici, worker_threads and http2 (for its fetch-era exports) and `node:crypto` loads webcrypto. On Node 26 that
 * is about 4 MB of heap more, which every major GC marks again: a server echoing 64 KiB messages, where major GCs
 * follow the buffers' external memory, ran about 14 % slower with it.
 */
export const requireBuiltin: NodeJS.Require = createRequire(import.meta.url);

const crypto: typeof import('node:crypto') = requireBuiltin('node:crypto');
const { createHash, randomFillSync } = crypto;

const POOL_SIZE = 8192;
let pool = new Uint8Array(0);
let poolOffset = POOL_SIZE;

/** Fills `target` with cryptographically strong random bytes, drawn from a refilled pool (one syscall per 8 KiB). */
export function randomFill(target: Uint8Array): Uint8Array {
  if (target.length > POOL_SIZE) return randomFillSync(target);
  if (poolOffset + target.length > POOL_SIZE) {
    if (pool.length === 0) pool = new Uint8Array(POOL_SIZE);
    randomFillSync(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < target.length; i++) target[i] = pool[poolOffset + i];
  poolOffset += target.length;
  return target;
}

/** A fresh 4-byte masking key (RFC 6455 §5.3: "derived from a strong source of entropy"). */
export function defaultRandomMask(): Uint8Array {
  return randomFill(new Uint8Array(4));
}

/** One-shot hashing (Node >= 20.12) skips the Hash object a handshake would otherwise build. */
const oneShotHash = (
  crypto as unknown as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }
).hash;

const ASCII = /^[\x00-\x7f]*$/;

export function sha1Base64(text: string): string {
  // crypto.hash reads strings as UTF-8: the same bytes as latin1 for ASCII, which a valid key and the GUID are.
  if (oneShotHash !== undefined && ASCII.test(text)) return oneShotHash('sha1', text, 'base64');
  return createHash('sha1').update(text, 'latin1').digest('base64');
}

/** One byte per char of `text`, whose chars are all below U+0100 (Node's latin1 encoder, in C++). */
export function latin1Bytes(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

/**
 * An uninitialized byte array (Node's `Buffer.allocUnsafe`): for buffers that are written in full right away
 * (the output slab, assembled messages, masked copies). Zero-filling a 1 MiB array costs more than masking it.
 */
export function allocUnsafe(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

/** Makes a view of `length` bytes of `buffer` from `byteOffset`, without copying. */
export type ByteViewConstructor = new (
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
) => Uint8Array;

/**
 * The views the core cuts out of received chunks (payloads, messages of adjacent frames) are Buffers: node's
 * FastBuffer, the constructor behind `Buffer[Symbol.species]`, is a Uint8Array with Buffer's prototype. The Node
 * skins hand payloads to applications as Buffers, and wrapping a plain Uint8Array view with `Buffer.from(buffer,
 * offset, length)` made two objects per message where this makes one (about 30 against 100 ns a message).
 */
export const ByteView: ByteViewConstructor =
  (Buffer as unknown as { [Symbol.species]?: ByteViewConstructor })[Symbol.species] ?? Uint8Array;

/**
 * Node's own WebSocket masking in C++ (`websocketMask` / `websocketUnmask` of node:http, Node >= 26), or null.
 * It XORs in place, where the WebAssembly kernel must copy a block into its memory and back: 64 KiB take about a
 * third of the time.
 */
export interface NativeMasking {
  /** `output[offset + i] = source[i] ^ mask[i & 3]` for i < length. */
  mask(source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number): void;
  /** `buffer[i] ^= mask[i & 3]`. */
  unmask(buffer: Uint8Array, mask: Uint8Array): void;
}

function loadNativeMasking(): NativeMasking | null {
  const http = requireBuiltin('node:http') as {
    websocketMask?: NativeMasking['mask'];
    websocketUnmask?: NativeMasking['unmask'];
  };
  const { websocketMask, websocketUnmask } = http;
  if (typeof websocketMask !== 'function' || typeof websocketUnmask !== 'function') return null;
  return { mask: websocketMask, unmask: websocketUnmask };
}

export const nativeMasking: NativeMasking | null = loadNativeMasking();

/** simdutf-backed UTF-8 validation (Node >= 18.14); the UTF-8 validator uses it for bulk runs. */
export { isUtf8 } from 'node:buffer';
