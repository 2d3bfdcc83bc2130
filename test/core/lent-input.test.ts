import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MessageAssembler } from '../../src/core/assembler.ts';
import { ByteQueue } from '../../src/core/bytes.ts';
import { Connection } from '../../src/core/connection.ts';
import type { Event } from '../../src/core/events.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { seededRandom } from '../helpers/feed.ts';

type Role = 'server' | 'client';

const KEY = new Uint8Array([0x11, 0x22, 0x33, 0x44]);

/** A frame as the peer of `role` sends it: masked to a server, unmasked to a client. */
function frame(role: Role, opcode: number, payload: Uint8Array, fin: boolean, mask: Uint8Array): Uint8Array {
  return encodeFrame({ fin, rsv: 0, opcode, mask: role === 'server' ? mask : null }, payload);
}

/**
 * What an application sees of `chunks` (messages whole or assembled, control frames, the outcome) and the bytes
 * the connection sends. Payloads and sent chunks are kept as they come and read only at the end, so a view into
 * a chunk shows whatever the chunk's memory holds by then. With `lent`, every chunk is given in one buffer that is
 * overwritten after each `releaseInput`, as socket reads into node's shared buffer are. `pulls[i]` caps the events
 * taken after chunk i (a paused reader), which leaves bytes unparsed across the release.
 */
function observe(
  role: Role,
  chunks: Uint8Array[],
  pulls: number[],
  lent: boolean,
): { seen: unknown[]; sent: string } {
  // A client masks what it sends: with one fixed key, both runs send the same bytes.
  const conn = new Connection({
    role,
    wholeMessages: true,
    maxMessageSize: 8000,
    randomMask: () => KEY.slice(),
  });
  if (lent) conn.lendInput();
  const assembler = new MessageAssembler();
  const seen: unknown[] = [];
  const sent: Uint8Array[] = [];
  const record = (e: Event) => {
    if (e.type === 'message') seen.push(['message', e.opcode, e.data]);
    else if (e.type === 'frame-start' || e.type === 'frame-data' || e.type === 'frame-end') {
      const message = assembler.push(e);
      if (message !== null) seen.push(['message', message.opcode, message.data]);
    } else if (e.type === 'fail') seen.push(['fail', e.error.code, e.error.closeCode]);
    else if (e.type === 'ping' || e.type === 'pong') seen.push([e.type, e.data]);
    else if (e.type === 'close') seen.push(['close', e.code, e.reason]);
    else seen.push([e.type]);
  };
  const shared = new Uint8Array(Math.max(1, ...chunks.map((c) => c.length)));
  chunks.forEach((chunk, i) => {
    let input = Uint8Array.from(chunk);
    if (lent) {
      shared.set(chunk);
      input = shared.subarray(0, chunk.length);
    }
    conn.receiveData(input);
    for (let n = pulls[i] ?? Number.POSITIVE_INFINITY; n > 0; n--) {
      const e = conn.nextEvent();
      if (e === null) break;
      record(e);
    }
    sent.push(...conn.dataToSend().chunks);
    if (lent) {
      conn.releaseInput();
      shared.fill(0xee);
    }
  });
  for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) record(e);
  sent.push(...conn.dataToSend().chunks);
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
  return {
    seen: seen.map((entry) => (entry as unknown[]).map((v) => (v instanceof Uint8Array ? hex(v) : v))),
    sent: sent.map(hex).join(''),
  };
}

describe('Connection: lent input (lendInput, releaseInput)', () => {
  it('keeps nothing of a lent chunk: messages, pongs and unparsed bytes survive its reuse', () => {
    const key = new Uint8Array([1, 2, 3, 4]);
    const bytes = Buffer.concat([
      frame('server', 1, new TextEncoder().encode('hello'), true, key),
      frame('server', 9, new Uint8Array([7, 8, 9]), true, key),
      frame('server', 2, new Uint8Array(5000).fill(0x5a), true, key),
      frame('server', 2, new Uint8Array([1, 2]), false, key),
    ]);
    // The last frame's header is cut: its first byte waits, unparsed, across the release.
    const cut = bytes.length - 3;
    const chunks = [
      bytes.subarray(0, cut),
      bytes.subarray(cut),
      frame('server', 0, new Uint8Array([3]), true, key),
    ];
    const lent = observe('server', chunks, [1], true);
    assert.deepEqual(lent, observe('server', chunks, [1], false));
    assert.deepEqual(lent.seen, [
      ['message', 1, Buffer.from('hello').toString('hex')],
      ['ping', '070809'],
      ['message', 2, '5a'.repeat(5000)],
      ['message', 2, '010203'],
    ]);
    // The pong echoes the ping's payload (unmasked server frame: 8a 03 07 08 09).
    assert.equal(lent.sent, '8a03070809');
  });

  it('a short frame finished in the next chunk, then a longer one: each message whole and its own', () => {
    // The first frame's 60 bytes come 40 + 20: its payload is gathered in a buffer of its own, which must not
    // serve the next frame (200 bytes, whole in the second chunk; a fragment, so it is parsed piece by piece).
    const key = new Uint8Array([9, 8, 7, 6]);
    const first = new Uint8Array(60).map((_, i) => i + 1);
    const second = new Uint8Array(200).map((_, i) => 255 - i);
    const a = frame('server', 2, first, true, key);
    const b = Buffer.concat([frame('server', 2, second, false, key), frame('server', 0, first, true, key)]);
    const chunks = [a.subarray(0, 46), Buffer.concat([a.subarray(46), b])];
    const lent = observe('server', chunks, [], true);
    assert.deepEqual(lent.seen, [
      ['message', 2, Buffer.from(first).toString('hex')],
      ['message', 2, Buffer.concat([second, first]).toString('hex')],
    ]);
    assert.deepEqual(lent, observe('server', chunks, [], false));
  });

  for (const role of ['server', 'client'] as const) {
    it(`gives a ${role} what owned chunks give, for any frames cut into any chunks and any pauses`, () => {
      const payload = fc.oneof(
        { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
        { weight: 1, arbitrary: fc.uint8Array({ minLength: 4000, maxLength: 7000 }) },
      );
      type Frame = { opcode: number; fin: boolean; payload: Uint8Array };
      const message = fc
        .record({
          opcode: fc.constantFrom(1, 2),
          fragments: fc.array(payload, { minLength: 1, maxLength: 3 }),
        })
        .map(({ opcode, fragments }): Frame[] =>
          fragments.map((p, i) => ({
            opcode: i === 0 ? opcode : 0,
            fin: i === fragments.length - 1,
            payload: p,
          })),
        );
      const unit = fc.oneof(
        { weight: 6, arbitrary: message },
        {
          weight: 1,
          arbitrary: fc
            .uint8Array({ maxLength: 125 })
            .map((p): Frame[] => [{ opcode: 9, fin: true, payload: p }]),
        },
        {
          weight: 1,
          arbitrary: fc.constant<Frame[]>([
            { opcode: 8, fin: true, payload: new Uint8Array([3, 0xe8, 0x61]) },
          ]),
        },
      );
      fc.assert(
        fc.property(
          fc.array(unit, { maxLength: 8 }),
          fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 30 }),
          fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }),
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          (units, cuts, pulls, mask) => {
            const frames = units.flat();
            const bytes = Buffer.concat(frames.map((f) => frame(role, f.opcode, f.payload, f.fin, mask)));
            const chunks: Uint8Array[] = [];
            let at = 0;
            for (const cut of cuts) {
              if (at + cut >= bytes.length) break;
              chunks.push(bytes.subarray(at, at + cut));
              at += cut;
            }
            chunks.push(bytes.subarray(at));
            assert.deepEqual(observe(role, chunks, pulls, true), observe(role, chunks, pulls, false));
          },
        ),
      );
    });
  }
});

/**
 * The `frame-data` pieces of one binary frame of `length` bytes (`payload` is its first bytes) fed in lent 64 KiB
 * chunks, the shared chunk overwritten after each release; the message if it completed, and whether the
 * assembler had to copy pieces into a buffer before the message's end.
 */
function lentPieces(role: Role, payload: Uint8Array, length: number) {
  const conn = new Connection({ role, wholeMessages: true, maxMessageSize: 64 * 1024 * 1024 });
  conn.lendInput();
  const assembler = new MessageAssembler();
  const full = frame(role, 2, new Uint8Array(length), true, KEY);
  const header = full.subarray(0, full.length - length);
  const masked = frame(role, 2, payload, true, KEY).subarray(header.length);
  const bytes = Buffer.concat([header, masked]);
  const shared = new Uint8Array(65_536);
  const pieces: Uint8Array[] = [];
  let message: Uint8Array | null = null;
  let copied = false;
  for (let at = 0; at < bytes.length; at += shared.length) {
    const n = Math.min(shared.length, bytes.length - at);
    shared.set(bytes.subarray(at, at + n));
    conn.receiveData(shared.subarray(0, n));
    for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
      message = assembler.push(e)?.data ?? message;
      if (e.type === 'frame-data') {
        pieces.push(e.data);
        copied ||= (assembler as unknown as { buffer: Uint8Array | null }).buffer !== null;
      }
    }
    conn.releaseInput();
    shared.fill(0xee);
  }
  return { pieces, message, copied };
}

describe("Connection: a long frame from lent input (the parser's segments)", () => {
  for (const role of ['server', 'client'] as const) {
    it(`a 1 MiB frame read 64 KiB at a time (to a ${role}) lies in a few segments, joined as views`, () => {
      const random = seededRandom(0x5e9);
      const payload = new Uint8Array(1 << 20).map(() => (random() * 256) | 0);
      const { pieces, message, copied } = lentPieces(role, payload, payload.length);
      assert.ok(message !== null);
      assert.ok(Buffer.from(message).equals(payload), 'the message is intact after every chunk was reused');
      const buffers = new Set(pieces.map((p) => p.buffer));
      // A buffer per 64 KiB read would be 17; segments grow with the bytes received, up to 256 KiB.
      assert.ok(buffers.size <= 8, `${buffers.size} buffers for ${pieces.length} pieces`);
      for (const buffer of buffers)
        assert.ok(buffer.byteLength <= 256 * 1024, `a segment of ${buffer.byteLength}`);
      assert.ok(!copied, 'the assembler kept views until the end (no copy per piece)');
      assert.equal(message.buffer.byteLength, payload.length, 'one copy, into a buffer of the message size');
    });
  }

  it('holds at most twice the bytes received of a frame announced far longer', () => {
    // 16 MiB announced, 1 MiB sent in lent 64 KiB reads: the copies are sized by what came, not by the announced
    // length, and survive the reuse of every read.
    const payload = new Uint8Array(1 << 20).fill(0x42);
    const { pieces, message } = lentPieces('server', payload, 16 << 20);
    assert.equal(message, null);
    const held = [...new Set(pieces.map((p) => p.buffer))].reduce((sum, b) => sum + b.byteLength, 0);
    assert.ok(held <= 2 * payload.length, `${held} bytes of buffers for ${payload.length} received`);
    assert.ok(pieces.every((p) => p.every((byte) => byte === 0x42)));
  });
});

describe('ByteQueue.detach', () => {
  it('copies the unread bytes of every chunk, from the read position, into one chunk of its own', () => {
    const queue = new ByteQueue();
    const a = Uint8Array.from([1, 2, 3]);
    const b = Uint8Array.from([4, 5]);
    const c = Uint8Array.from([6, 7, 8]);
    queue.push(a);
    queue.push(b);
    queue.push(c);
    queue.skip(2);
    queue.detach();
    a.fill(0);
    b.fill(0);
    c.fill(0);
    assert.equal(queue.length, 6);
    assert.deepEqual([...queue.take(6)], [3, 4, 5, 6, 7, 8]);
    queue.detach();
    assert.equal(queue.length, 0);
  });
});
