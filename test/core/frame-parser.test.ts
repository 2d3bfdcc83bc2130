import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MessageAssembler } from '../../src/core/assembler.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { FrameParser, Step } from '../../src/core/frame-parser.ts';

const key = Uint8Array.from([0x9c, 0x01, 0x5e, 0xf3]);

function payloadOf(length: number, salt = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 37 + salt) & 0xff;
  return bytes;
}

interface Parsed {
  fin: boolean;
  rsv: number;
  pieces: Uint8Array[];
}

/** Feeds `chunks` one by one and collects every frame's header facts and `Data` pieces. */
function parse(chunks: Uint8Array[]): Parsed[] {
  const parser = new FrameParser();
  const frames: Parsed[] = [];
  let current: Parsed | null = null;
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let step = parser.next(); step !== Step.NeedData; step = parser.next()) {
      if (step === Step.Header) frames.push((current = { fin: parser.fin, rsv: parser.rsv, pieces: [] }));
      else if (step === Step.Data) current!.pieces.push(parser.data);
      else assert.notEqual(step, Step.BadLength);
    }
  }
  return frames;
}

/** Copies of `bytes` cut at `cuts` (each chunk its own ArrayBuffer, as socket reads are). */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    chunks.push(Uint8Array.from(bytes.subarray(at, c)));
    at = c;
  }
  return chunks;
}

function joined(pieces: Uint8Array[]): Buffer {
  return Buffer.concat(pieces.map((p) => Buffer.from(p)));
}

const adjacent = (pieces: Uint8Array[]): boolean =>
  pieces.every(
    (p, i) =>
      i === 0 ||
      (p.buffer === pieces[0]!.buffer && p.byteOffset === pieces[i - 1]!.byteOffset + pieces[i - 1]!.length),
  );

describe('FrameParser', () => {
  it('unmasks a large last frame that goes on past the received bytes into one buffer of its length', () => {
    const payload = payloadOf(1000);
    const frame = encodeFrame({ fin: true, rsv: 0, opcode: 2, mask: key }, payload);
    const header = frame.length - payload.length;
    const chunks = cut(frame, [header + 600, header + 800]); // 600 of 1000 bytes first: at least half
    const [parsed] = parse(chunks);
    assert.deepEqual(joined(parsed!.pieces), Buffer.from(payload));
    assert.equal(parsed!.pieces.length, 3);
    assert.ok(adjacent(parsed!.pieces), 'the pieces lie next to each other in one buffer');
    assert.equal(parsed!.pieces[0]!.buffer.byteLength >= 1000, true);
    assert.ok(
      parsed!.pieces.every((p) => !chunks.some((c) => c.buffer === p.buffer)),
      'no piece is a view into a chunk',
    );
    // The chunks were read, not unmasked in place: their payload bytes are still the masked ones.
    assert.deepEqual(
      Buffer.from(chunks[0]!.subarray(header)),
      Buffer.from(frame.subarray(header, header + 600)),
    );
  });

  it('keeps pieces as views into their chunks when less than half the frame has arrived, or it is not a last frame', () => {
    const payload = payloadOf(1000, 5);
    for (const header of [
      { fin: true, rsv: 0 }, // 400 of 1000 bytes first: a buffer would be more than twice what is held
      { fin: false, rsv: 0 },
      { fin: true, rsv: 4 },
    ]) {
      const frame = encodeFrame({ ...header, opcode: 2, mask: key }, payload);
      const at = frame.length - payload.length;
      const chunks = cut(frame, [at + (header.fin && header.rsv === 0 ? 400 : 600)]);
      const [parsed] = parse(chunks);
      assert.deepEqual(joined(parsed!.pieces), Buffer.from(payload), JSON.stringify(header));
      assert.equal(parsed!.pieces[0]!.buffer, chunks[0]!.buffer, JSON.stringify(header));
      assert.equal(parsed!.pieces[1]!.buffer, chunks[1]!.buffer, JSON.stringify(header));
    }
  });

  it('makes the frame buffer only while it is at most twice the bytes held: 500 of 1000 yes, 499 no', () => {
    const payload = payloadOf(1000, 3);
    const frame = encodeFrame({ fin: true, rsv: 0, opcode: 1, mask: key }, payload);
    const header = frame.length - payload.length;
    for (const [first, buffered] of [
      [500, true],
      [499, false],
    ] as const) {
      const chunks = cut(frame, [header + first]);
      const [parsed] = parse(chunks);
      assert.deepEqual(joined(parsed!.pieces), Buffer.from(payload));
      assert.equal(parsed!.pieces[0]!.buffer !== chunks[0]!.buffer, buffered, `first piece ${first}`);
    }
  });

  it('gives every frame its unmasked payload for any cut of any frame sequence (fast-check)', () => {
    const frameArb = fc.record({
      fin: fc.boolean(),
      rsv: fc.constantFrom(0, 0, 4),
      length: fc.oneof(fc.nat({ max: 130 }), fc.nat({ max: 3000 }), fc.constant(65536)),
      masked: fc.boolean(),
      salt: fc.nat({ max: 255 }),
    });
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (frames, cutSeeds) => {
          const payloads = frames.map((f) => payloadOf(f.length, f.salt));
          const wire = Buffer.concat(
            frames.map((f, i) =>
              encodeFrame({ fin: f.fin, rsv: f.rsv, opcode: 2, mask: f.masked ? key : null }, payloads[i]!),
            ),
          );
          const cuts = [...new Set(cutSeeds.map((s) => s % (wire.length + 1)))].sort((a, b) => a - b);
          const parsed = parse(cut(wire, cuts));
          assert.equal(parsed.length, frames.length);
          parsed.forEach((p, i) => {
            assert.equal(p.fin, frames[i]!.fin);
            assert.deepEqual(joined(p.pieces), Buffer.from(payloads[i]!), `frame ${i}`);
          });
        },
      ),
      { seed: 6455, numRuns: 300 },
    );
  });
});

describe('MessageAssembler with the frame buffer', () => {
  it('returns a large message that arrived in pieces as the frame buffer itself, without a copy', () => {
    const payload = payloadOf(65536, 9);
    const frame = encodeFrame({ fin: true, rsv: 0, opcode: 2, mask: key }, payload);
    const header = frame.length - payload.length;
    const chunks = cut(frame, [header + 40000, header + 60000]);
    const [parsed] = parse(chunks);
    const assembler = new MessageAssembler();
    const { length } = payload;
    assembler.push({ type: 'frame-start', opcode: 2, first: true, fin: true, rsv: 0, length });
    for (const data of parsed!.pieces) assembler.push({ type: 'frame-data', data });
    const message = assembler.push({ type: 'frame-end', fin: true });
    assert.ok(message !== null);
    assert.deepEqual(Buffer.from(message.data), Buffer.from(payload));
    assert.equal(message.data.buffer, parsed!.pieces[0]!.buffer, 'the message is a view of the frame buffer');
    assert.equal(message.data.byteOffset, parsed!.pieces[0]!.byteOffset);
  });
});
