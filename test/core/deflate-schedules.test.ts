/**
 * permessage-deflate gives the same events and the same close code under every feed schedule: window bits below
 * 15, limits, invalid UTF-8 past and within the limit, and random messages (fast-check).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { constants, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { Connection } from '../../src/core/connection.ts';
import { DeflateExtension, deflateParams } from '../../src/core/permessage-deflate.ts';
import {
  byteByByte,
  pieces,
  randomSplits,
  SEED,
  schedulesFor,
  seededRandom,
  whole,
} from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { run } from '../helpers/run.ts';

function connection(role: 'client' | 'server', receiveWindowBits: number, maxMessageSize?: number) {
  return new Connection({
    role,
    randomMask: () => new Uint8Array(4), // the same close frame bytes under every schedule
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    extensions: [new DeflateExtension(deflateParams({ receiveWindowBits, threshold: 0 }))],
  });
}

/** A compressed frame as a server sends it (unmasked): RSV1, the sync-flush tail stripped. */
function compressedFrame(opcode: number, data: Uint8Array, windowBits: number): Uint8Array {
  const flushed = deflateRawSync(data, { windowBits, finishFlush: constants.Z_SYNC_FLUSH });
  const payload = flushed.subarray(0, flushed.length - 4);
  const length = payload.length;
  const head =
    length < 126
      ? [0xc0 | opcode, length]
      : length < 65536
        ? [0xc0 | opcode, 126, length >> 8, length & 0xff]
        : [
            0xc0 | opcode,
            127,
            0,
            0,
            0,
            0,
            length >>> 24,
            (length >> 16) & 0xff,
            (length >> 8) & 0xff,
            length & 0xff,
          ];
  return new Uint8Array([...head, ...payload]);
}

describe('permessage-deflate under every feed schedule', () => {
  test('over maxPayload and invalid UTF-8 within it: 1007 however the bytes arrive', () => {
    // Server role, masked with a zero key, maxPayload 100, 15-bit windows.
    const bytes = hex`c18b00000000fa9f380a46c12818f60000`;
    for (const schedule of schedulesFor(bytes.length)) {
      const outcome = run(connection('server', 15, 100), pieces(bytes, schedule));
      assert.deepEqual(
        outcome.events.at(-1),
        { type: 'fail', code: 'INVALID_UTF8', closeCode: 1007 },
        schedule.name,
      );
    }
  });

  test('over maxPayload with valid UTF-8 up to the limit: 1009 however the bytes arrive', () => {
    const text = new TextEncoder().encode('é'.repeat(300));
    for (const limit of [100, 101]) {
      // 101 ends the limit inside a two-byte sequence: not yet invalid, so the size decides.
      const bytes = compressedFrame(1, text, 15);
      for (const schedule of [whole, byteByByte, randomSplits(SEED)]) {
        const outcome = run(connection('client', 15, limit), pieces(bytes, schedule));
        assert.deepEqual(
          outcome.events.at(-1),
          { type: 'fail', code: 'MESSAGE_TOO_BIG', closeCode: 1009 },
          `${limit} ${schedule.name}`,
        );
      }
    }
  });

  test('a corrupt stream later in the frame decides over invalid UTF-8 or the limit before it, however the bytes arrive', () => {
    // zlib reports a data error without the bytes it inflated before it, so fed whole these frames fail as corrupt
    // streams (1007 EXTENSION_ERROR); fed in pieces, the earlier pieces inflate to bytes that are not UTF-8 or that
    // pass the limit. The verdict waits for the frame's end, so every schedule gives the corrupt-stream verdict.
    const cases = [
      { role: 'client' as const, windowBits: 10, limit: 16, bytes: hex`41053bc205f265` },
      {
        role: 'client' as const,
        windowBits: 10,
        limit: 16,
        bytes: hex`c1114a4e4c3b88820000000003e83403e8f36788820000000003e83422007300`,
      },
      {
        role: 'server' as const,
        windowBits: 9,
        limit: undefined,
        bytes: hex`c191000000004a4e4c3b8882000000007f0000000000010000`,
      },
    ];
    for (const { role, windowBits, limit, bytes } of cases) {
      for (const schedule of schedulesFor(bytes.length)) {
        const outcome = run(connection(role, windowBits, limit), pieces(bytes, schedule));
        assert.deepEqual(
          outcome.events.at(-1),
          { type: 'fail', code: 'EXTENSION_ERROR', closeCode: 1007 },
          `${toHex(bytes)} ${schedule.name}`,
        );
      }
    }
  });

  test('back-references beyond a negotiated window below 15 bits are accepted under every schedule', () => {
    const random = seededRandom(SEED);
    const block = Uint8Array.from({ length: 1500 }, () => Math.floor(random() * 256));
    const data = new Uint8Array([...block, ...block]); // the second copy refers 1500 bytes back
    const bytes = compressedFrame(2, data, 15);
    for (const windowBits of [9, 10]) {
      for (const schedule of [whole, byteByByte, randomSplits(SEED), randomSplits(SEED + 1)]) {
        const outcome = run(connection('client', windowBits), pieces(bytes, schedule));
        assert.deepEqual(
          outcome.events,
          [{ type: 'message', opcode: 2, data: toHex(data) }],
          `windowBits ${windowBits}, ${schedule.name}`,
        );
      }
    }
  });

  test('random messages, windows, limits and chunkings: the same outcome as the whole feed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2),
        fc.oneof(
          fc.uint8Array({ maxLength: 3000 }),
          fc.string({ maxLength: 800 }).map((s) => new TextEncoder().encode(s)),
          fc.string({ maxLength: 200 }).map((s) => new TextEncoder().encode(s.repeat(10))),
        ),
        fc.integer({ min: 9, max: 15 }),
        fc.integer({ min: 9, max: 15 }),
        fc.option(fc.nat({ max: 4000 }), { nil: undefined }),
        fc.integer(),
        (opcode, data, sendBits, receiveBits, limit, seed) => {
          const bytes = compressedFrame(opcode, data, sendBits);
          const reference = run(connection('client', receiveBits, limit), pieces(bytes, whole));
          for (const schedule of [byteByByte, randomSplits(seed)]) {
            const outcome = run(connection('client', receiveBits, limit), pieces(bytes, schedule));
            assert.deepEqual(outcome, reference, schedule.name);
          }
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});
