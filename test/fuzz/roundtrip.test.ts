import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Connection } from '../../src/core/connection.ts';
import { Utf8Validator } from '../../src/core/utf8.ts';
import { SEED } from '../helpers/feed.ts';
import { toHex } from '../helpers/hex.ts';
import { run } from '../helpers/run.ts';

const fcOptions = { seed: SEED, numRuns: 300 };

/** A message: its fragments (the first carries the opcode), plus control frames to slip in before a fragment. */
const messageArb = fc.record({
  binary: fc.boolean(),
  fragments: fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }),
  text: fc.string({ unit: 'grapheme', maxLength: 200 }),
  pingBefore: fc.option(fc.uint8Array({ maxLength: 125 }), { nil: undefined }),
});

/** Splits `bytes` at the given cut points (fractions of its length). */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) out.push(bytes.slice(at, p));
    at = Math.max(at, p);
  }
  return out;
}

describe('round trips (fast-check)', () => {
  for (const [sender, receiver] of [
    ['client', 'server'],
    ['server', 'client'],
  ] as const) {
    test(`${sender} → ${receiver}: random messages under random chunking arrive exactly`, () => {
      fc.assert(
        fc.property(
          fc.array(messageArb, { maxLength: 8 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
          (messages, cuts) => {
            const out = new Connection({ role: sender });
            const expected: object[] = [];
            for (const m of messages) {
              const fragments = m.binary ? m.fragments : splitText(m.text, m.fragments.length);
              if (m.pingBefore) {
                out.sendPing(m.pingBefore);
                expected.push({ type: 'ping', data: toHex(m.pingBefore) });
              }
              fragments.forEach((f, i) => {
                const fin = i === fragments.length - 1;
                if (i === 0) m.binary ? out.sendBinary(f, fin) : out.sendText(f, fin);
                else out.sendContinuation(f, fin);
              });
              expected.push({
                type: 'message',
                opcode: m.binary ? 2 : 1,
                data: fragments.map(toHex).join(''),
              });
            }
            out.sendClose(1000, 'bye');
            expected.push({ type: 'close', code: 1000, reason: 'bye' });
            const bytes = Buffer.concat(out.dataToSend().chunks);
            const outcome = run(new Connection({ role: receiver }), cut(bytes, cuts));
            assert.deepEqual(outcome.events, expected);
          },
        ),
        fcOptions,
      );
    });
  }
});

/** Cuts a string's UTF-8 bytes into `n` fragments at arbitrary byte positions (fragments may split characters). */
function splitText(text: string, n: number): Uint8Array[] {
  const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    out.push(bytes.slice(Math.floor((i * bytes.length) / n), Math.floor(((i + 1) * bytes.length) / n)));
  }
  return out;
}

describe('UTF-8 validator (fast-check)', () => {
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
    // valid text with one byte flipped
    fc
      .tuple(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
      )
      .map(([s, at, b]) => {
        const bytes = new Uint8Array(Buffer.from(s, 'utf8'));
        bytes[at % bytes.length] = b;
        return bytes;
      }),
  );

  test('agrees with buffer.isUtf8 under random fragmentation and fails at the first invalid byte', () => {
    fc.assert(
      fc.property(
        bytesArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        (bytes, cuts) => {
          const validator = new Utf8Validator();
          let failedAt = -1;
          let offset = 0;
          for (const piece of cut(bytes, cuts)) {
            if (!validator.push(piece)) {
              failedAt = offset + piece.length;
              // The failing piece must contain the first byte at which no valid continuation exists.
              const firstBad = firstInvalidIndex(bytes);
              assert.ok(firstBad >= offset && firstBad < offset + piece.length, `first bad ${firstBad}`);
              break;
            }
            offset += piece.length;
          }
          const valid = failedAt === -1 && validator.end();
          assert.equal(valid, isUtf8(bytes));
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
  });
});

/** Smallest i such that bytes[0..i] is not a prefix of any valid UTF-8 string, or -1 (reference, by brute force). */
function firstInvalidIndex(bytes: Uint8Array): number {
  for (let i = 1; i <= bytes.length; i++) {
    const prefix = bytes.subarray(0, i);
    let completable = false;
    for (const tail of [
      [],
      [0x80],
      [0x80, 0x80],
      [0x80, 0x80, 0x80],
      [0xa0, 0x80],
      [0x90, 0x80, 0x80],
      [0x8f, 0x80, 0x80],
      [0x9f, 0x80],
      [0xbf],
      [0xbf, 0xbf],
      [0xbf, 0xbf, 0xbf],
    ]) {
      if (isUtf8(Buffer.concat([prefix, new Uint8Array(tail)]))) {
        completable = true;
        break;
      }
    }
    if (!completable) return i - 1;
  }
  return -1;
}
