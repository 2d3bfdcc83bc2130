/**
 * XOR with a 32-bit word, 16 bytes at a time, in WebAssembly SIMD (v128): the masking kernel for large payloads.
 * WebAssembly can only touch its own memory, so callers copy a block in, run `xor`, and copy it out; two memcpy's
 * plus a SIMD pass still beat a JavaScript loop over 32-bit words from about 128 bytes. The module is embedded
 * (147 bytes); where WebAssembly or SIMD is unavailable (`--jitless`, old engines) `simdKernel` is null and
 * callers use their JavaScript path.
 *
 * The module, as text:
 *
 *   (module
 *     (memory (export "m") 1)                      ;; one 64 KiB page: the block buffer
 *     (func (export "u") (param $p i32) (param $n i32) (param $mask i32)   ;; $n: a multiple of 64
 *       (local $end i32) (local $v v128)
 *       (local.set $v (i32x4.splat (local.get $mask)))
 *       (local.set $end (i32.add (local.get $p) (local.get $n)))
 *       (block (loop
 *         (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
 *         (v128.store offset=0  (local.get $p) (v128.xor (v128.load offset=0  (local.get $p)) (local.get $v)))
 *         (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $v)))
 *         (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $v)))
 *         (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $v)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *         (br 0)))))
 */

// biome-ignore format: bytes of the module above, one section per line
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32, i32, i32) -> ()
  0x03, 0x02, 0x01, 0x00, // function 0 has type 0
  0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page
  0x07, 0x09, 0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x75, 0x00, 0x00, // exports "m" (memory 0), "u" (func 0)
  0x0a, 0x6c, 0x01, 0x6a, // code: 1 body of 106 bytes
  0x02, 0x01, 0x7f, 0x01, 0x7b, // locals: $end i32, $v v128
  0x20, 0x02, 0xfd, 0x11, 0x21, 0x04, // $v = i32x4.splat($mask)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x03, // $end = $p + $n
  0x02, 0x40, 0x03, 0x40, // block, loop
  0x20, 0x00, 0x20, 0x03, 0x4f, 0x0d, 0x01, // br_if 1 ($p >= $end)
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x00, // +0
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x10, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x10, // +16
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x20, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x20, // +32
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x30, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x30, // +48
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // $p += 64
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br 0, end loop, end block, end func
]);

export interface SimdKernel {
  /** The module's memory: blocks are copied in at 0 and out again. */
  readonly memory: Uint8Array;
  /** Bytes per block (the memory's size). */
  readonly block: number;
  /** XORs `memory[0, n)` with `word` (little-endian: byte 0 of the mask in the low byte); n % 64 === 0. */
  readonly xor: (p: number, n: number, word: number) => void;
}

interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

function load(): SimdKernel | null {
  const wasm = (globalThis as { WebAssembly?: WasmGlobal }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    const { exports } = new wasm.Instance(new wasm.Module(MODULE));
    const memory = new Uint8Array((exports.m as { buffer: ArrayBuffer }).buffer);
    const xor = exports.u as SimdKernel['xor'];
    // Self-check: one block of 64 zero bytes must come out as the repeated word.
    memory.fill(0, 0, 64);
    xor(0, 64, 0x04030201);
    for (let i = 0; i < 64; i++) if (memory[i] !== (i & 3) + 1) return null;
    return { memory, block: memory.length, xor };
  } catch {
    return null; // no SIMD support, or code generation disallowed
  }
}

export const simdKernel: SimdKernel | null = load();
