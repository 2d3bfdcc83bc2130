import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connection } from '../../src/core/connection.ts';
import { SEED, seededRandom } from '../helpers/feed.ts';

/**
 * 10,000 seeded random inputs to a server connection: each ends in valid events or in a failure with 1002, 1007
 * or 1009, never throws and never loops. Inputs are random frames (mostly well-formed headers, random bits
 * flipped) so that deep parser states are reached, not only the first-byte checks.
 */
function randomInput(random: () => number): Uint8Array {
  const out: number[] = [];
  const frames = 1 + Math.floor(random() * 4);
  for (let f = 0; f < frames; f++) {
    const opcode = [0, 1, 2, 8, 9, 10, 3, 11][Math.floor(random() * 8)];
    const length = random() < 0.8 ? Math.floor(random() * 40) : Math.floor(random() * 300);
    let b0 = (random() < 0.7 ? 0x80 : 0) | opcode;
    if (random() < 0.05) b0 |= 0x10 << Math.floor(random() * 3);
    out.push(b0);
    const masked = random() < 0.95;
    if (length < 126) out.push((masked ? 0x80 : 0) | length);
    else out.push((masked ? 0x80 : 0) | 126, length >> 8, length & 0xff);
    if (masked) for (let i = 0; i < 4; i++) out.push(random() < 0.5 ? 0 : Math.floor(random() * 256));
    for (let i = 0; i < length; i++)
      out.push(random() < 0.7 ? 0x20 + Math.floor(random() * 90) : Math.floor(random() * 256));
  }
  if (random() < 0.3) out.length = Math.floor(random() * out.length);
  if (random() < 0.3) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
  return new Uint8Array(out);
}

test('10,000 random inputs end in valid events or a 1002/1007/1009 failure', () => {
  const random = seededRandom(SEED);
  const counts = { clean: 0, failed: 0 } as Record<string, number>;
  for (let i = 0; i < 10_000; i++) {
    const bytes = randomInput(random);
    const conn = new Connection({ role: 'server', maxMessageSize: 200 });
    let at = 0;
    let steps = 0;
    try {
      while (at < bytes.length) {
        const size = 1 + Math.floor(random() * 64);
        conn.receiveData(bytes.slice(at, at + size));
        at += size;
        for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
          assert.ok(++steps < 10_000, 'event loop does not terminate');
          if (e.type === 'fail') assert.ok([1002, 1007, 1009].includes(e.error.closeCode), e.error.message);
        }
      }
      conn.receiveEnd();
      while (conn.nextEvent() !== null) assert.ok(++steps < 10_000);
    } catch (error) {
      throw new Error(`input #${i} (seed ${SEED}) threw: ${Buffer.from(bytes).toString('hex')}`, {
        cause: error,
      });
    }
    counts[conn.error ? 'failed' : 'clean']++;
  }
  // Both outcomes must be well represented, or the generator is not exercising the parser.
  assert.ok(counts.clean > 500 && counts.failed > 500, JSON.stringify(counts));
});
