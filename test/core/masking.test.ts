import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { applyMask, applyMaskJs, copyMasked, maskKernel } from '../../src/core/bytes.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { simdKernel } from '../../src/core/simd-mask.ts';

// RFC 6455 §5.3: octet i of the result is octet i of the input XOR octet (i MOD 4) of the key. Every masking path
// (bytes, 32-bit words, the SIMD kernel and its block loop) must agree with that definition at any length, any
// alignment of the view and any starting mask position.
const key = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);
const lengths = [
  0, 1, 3, 4, 5, 63, 64, 95, 96, 97, 127, 128, 129, 191, 192, 193, 511, 512, 513, 575, 1000, 1024, 1087,
  65535, 65536, 65537, 140001,
];

function input(length: number, misalignment: number): Uint8Array {
  const raw = new Uint8Array(length + misalignment);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 131 + 7) & 0xff;
  return raw.subarray(misalignment);
}

function expected(data: Uint8Array, phase: number): Uint8Array {
  return data.map((b, i) => b ^ key[(phase + i) & 3]);
}

describe('masking', () => {
  test('the SIMD kernel loads on this runtime', () => {
    assert.notEqual(simdKernel, null);
  });

  test("applyMask and copyMasked use node's native kernel where node:http has one (Node >= 26), else SIMD", () => {
    const http = createRequire(import.meta.url)('node:http') as { websocketUnmask?: unknown };
    assert.equal(maskKernel, typeof http.websocketUnmask === 'function' ? 'native' : 'simd');
  });

  for (const [name, mask] of [
    ['applyMask', applyMask],
    ['applyMaskJs', applyMaskJs],
  ] as const) {
    test(`${name} matches the definition at every length, alignment and mask position`, () => {
      for (const length of lengths) {
        for (let misalignment = 0; misalignment < 4; misalignment++) {
          for (let phase = 0; phase < 4; phase++) {
            const data = input(length, misalignment);
            const want = expected(data, phase);
            const next = mask(data, key, phase);
            assert.equal(next, (phase + length) & 3);
            assert.deepEqual(data, want, `length ${length}, misalignment ${misalignment}, phase ${phase}`);
          }
        }
      }
    });
  }

  test('masking twice restores the input, also when split at any point', () => {
    const original = input(70000, 1).slice();
    const data = original.slice();
    let phase = applyMask(data.subarray(0, 777), key, 0);
    phase = applyMask(data.subarray(777, 66000), key, phase);
    applyMask(data.subarray(66000), key, phase);
    assert.deepEqual(data, expected(original, 0));
    applyMask(data, key, 0);
    assert.deepEqual(data, original);
  });

  test('copyMasked writes the masked bytes at the offset and leaves the source intact', () => {
    for (const length of lengths) {
      const source = input(length, 3);
      const before = source.slice();
      const target = new Uint8Array(length + 10).fill(0xee);
      copyMasked(source, key, target, 7);
      assert.deepEqual(source, before);
      assert.deepEqual(target.subarray(7, 7 + length), expected(before, 0), `length ${length}`);
      assert.ok(target.subarray(0, 7).every((b) => b === 0xee));
      assert.ok(target.subarray(7 + length).every((b) => b === 0xee));
    }
  });

  test('a masked frame of 1 MiB carries the key and the masked payload', () => {
    const payload = input(1 << 20, 0);
    const frame = encodeFrame({ fin: true, rsv: 0, opcode: 2, mask: key }, payload);
    assert.deepEqual(new Uint8Array(frame.subarray(10, 14)), key);
    assert.deepEqual(new Uint8Array(frame.subarray(14)), expected(payload, 0));
  });
});
