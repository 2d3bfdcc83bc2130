import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import fc from 'fast-check';
import { MessageAssembler } from '../../src/core/assembler.ts';
import { Connection } from '../../src/core/connection.ts';
import type { Event } from '../../src/core/events.ts';

/**
 * The frame events of one message cut into `sizes`-byte fragments (first fragment text, then continuations). Each
 * piece is a copy of its own, as pieces from different socket reads are, unless `views` (adjacent views into
 * `payload`, which the assembler joins without copying).
 */
function* fragments(payload: Uint8Array, sizes: number[], views = false): Generator<Event> {
  let at = 0;
  for (let i = 0; i < sizes.length; i++) {
    const piece = views ? payload.subarray(at, (at += sizes[i]!)) : payload.slice(at, (at += sizes[i]!));
    const fin = i === sizes.length - 1;
    yield { type: 'frame-start', opcode: 1, first: i === 0, fin, rsv: 0, length: piece.length } as Event;
    if (piece.length > 0) yield { type: 'frame-data', data: piece } as Event;
    yield { type: 'frame-end', fin } as Event;
  }
}

/** The frame-start event of a binary frame of `length` bytes. */
function binaryStart(length: number, first = true, fin = true): Event {
  return { type: 'frame-start', opcode: 2, first, fin, rsv: 0, length };
}

/** Heap plus ArrayBuffer memory after a full collection. */
function heldBytes(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

describe('MessageAssembler', () => {
  it('gives the same bytes for any fragmentation of a message', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat({ max: 300 }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        (payload, cuts, views) => {
          const sizes: number[] = [];
          let left = payload.length;
          for (const cut of cuts.slice(0, -1)) {
            const size = Math.min(cut, left);
            sizes.push(size);
            left -= size;
          }
          sizes.push(left);
          const assembler = new MessageAssembler();
          let message = null;
          for (const event of fragments(payload, sizes, views)) message = assembler.push(event) ?? message;
          assert.ok(message !== null);
          assert.deepEqual(Buffer.from(message.data), Buffer.from(payload));
          if (views && payload.length > 0)
            assert.equal(message.data.buffer, payload.buffer, 'joined, not copied');
        },
      ),
      { seed: 1201 },
    );
  });

  it('gives the same bytes for any fragmentation of a large message, with pieces kept as views or copied', () => {
    // Pieces of 4 KiB and more, each in a buffer of its own, are held as views until the message ends; smaller
    // ones, and views into a much larger buffer, are copied. Any mix must give the message back.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 48_000 }),
        fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.constantFrom('own', 'shared'), { minLength: 12, maxLength: 12 }),
        (size, cuts, kinds) => {
          const payload = new Uint8Array(size).map((_, i) => (i * 31 + (i >>> 8)) & 0xff);
          // 'shared': a view into one big buffer that holds the piece and far more (not worth keeping).
          const big = new Uint8Array(size * 4 + 64);
          const assembler = new MessageAssembler();
          let message = null;
          let at = 0;
          for (let i = 0; i < cuts.length; i++) {
            const last = i === cuts.length - 1;
            const end = last ? size : Math.min(size, at + cuts[i]!);
            let piece = payload.slice(at, end);
            if (kinds[i] === 'shared') {
              const offset = 2 * at + 32;
              big.set(piece, offset);
              piece = big.subarray(offset, offset + piece.length);
            }
            assembler.push(binaryStart(piece.length, i === 0, last));
            assembler.push({ type: 'frame-data', data: piece });
            message = assembler.push({ type: 'frame-end', fin: last }) ?? message;
            at = end;
          }
          assert.ok(message !== null);
          assert.deepEqual(Buffer.from(message.data), Buffer.from(payload));
        },
      ),
      { seed: 1207 },
    );
  });

  it('keeps the socket reads of a large frame as views and copies them once, into one buffer, at its end', () => {
    // A 1 MiB frame read 64 KiB at a time: no buffer while it arrives, one of exactly 1 MiB at the end.
    const READ = 65_536;
    const payload = new Uint8Array(16 * READ).map((_, i) => i * 13);
    const assembler = new MessageAssembler();
    assembler.push(binaryStart(payload.length));
    for (let at = 0; at < payload.length; at += READ) {
      assembler.push({ type: 'frame-data', data: payload.slice(at, at + READ) });
      assert.equal((assembler as unknown as { buffer: unknown }).buffer, null, `no copy yet at ${at}`);
    }
    const message = assembler.push({ type: 'frame-end', fin: true });
    assert.deepEqual(Buffer.from(message!.data), Buffer.from(payload));
    assert.equal(message!.data.buffer.byteLength, payload.length, 'one buffer the size of the message');
  });

  it('copies a large frame into one buffer of its size when a small piece follows its large ones', () => {
    // Two 64 KiB reads, then the frame's last 14 bytes at the start of a read that holds the next frame too.
    const payload = new Uint8Array(131_086).map((_, i) => i * 5);
    const tail = new Uint8Array(65_536);
    tail.set(payload.subarray(131_072), 0);
    const assembler = new MessageAssembler();
    assembler.push(binaryStart(payload.length));
    assembler.push({ type: 'frame-data', data: payload.slice(0, 65_536) });
    assembler.push({ type: 'frame-data', data: payload.slice(65_536, 131_072) });
    assembler.push({ type: 'frame-data', data: tail.subarray(0, 14) });
    const message = assembler.push({ type: 'frame-end', fin: true });
    assert.deepEqual(Buffer.from(message!.data), Buffer.from(payload));
    assert.equal(message!.data.buffer.byteLength, payload.length, 'one buffer the size of the frame');
  });

  it('does not keep views that would hold much more memory than their bytes', () => {
    // 8 KiB pieces cut from 1 MiB buffers: keeping them would hold 128 times their bytes.
    const assembler = new MessageAssembler();
    assembler.push(binaryStart(8192, true, false));
    assembler.push({ type: 'frame-data', data: new Uint8Array(1 << 20).subarray(0, 8192) });
    assembler.push({ type: 'frame-end', fin: false });
    assembler.push(binaryStart(8192, false, false));
    assembler.push({ type: 'frame-data', data: new Uint8Array(1 << 20).subarray(0, 8192) });
    const buffer = (assembler as unknown as { buffer: Uint8Array | null }).buffer;
    assert.ok(
      buffer !== null && buffer.length <= 4 * 8192,
      'the pieces were copied into a buffer of their size',
    );
  });

  it('keeps a piece that starts a buffer no longer than the message as a view, and joins the next ones to it', () => {
    // The frame parser's segments: 64 KiB in a buffer of its own, then a 66,536-byte segment filled in two pieces.
    const payload = new Uint8Array(65_536 + 66_536).map((_, i) => i * 3);
    const segment = payload.slice(65_536);
    const assembler = new MessageAssembler();
    const copying = () => (assembler as unknown as { buffer: Uint8Array | null }).buffer !== null;
    assembler.push(binaryStart(payload.length));
    assembler.push({ type: 'frame-data', data: payload.slice(0, 65_536) });
    assembler.push({ type: 'frame-data', data: segment.subarray(0, 1000) });
    assert.ok(!copying(), 'the piece at the start of the segment is kept as a view');
    assembler.push({ type: 'frame-data', data: segment.subarray(1000) });
    assert.ok(!copying(), 'the rest of the segment joins it');
    const message = assembler.push({ type: 'frame-end', fin: true });
    assert.deepEqual(Buffer.from(message!.data), Buffer.from(payload));
    assert.equal(message!.data.buffer.byteLength, payload.length, 'one buffer the size of the message');
  });

  it('copies once a piece that started a buffer did not grow into it before another piece came', () => {
    const assembler = new MessageAssembler();
    const copying = () => (assembler as unknown as { buffer: Uint8Array | null }).buffer !== null;
    assembler.push(binaryStart(200_000));
    assembler.push({ type: 'frame-data', data: new Uint8Array(65_536).fill(1) });
    assembler.push({ type: 'frame-data', data: new Uint8Array(66_536).subarray(0, 1000) });
    assert.ok(!copying());
    // Not next to the piece before: that one would hold 66,536 bytes for its 1,000.
    assembler.push({ type: 'frame-data', data: new Uint8Array(5000).fill(3) });
    assert.ok(copying(), 'the pieces were copied into a buffer');
  });

  it('does not keep a piece that starts a buffer longer than the message so far', () => {
    const assembler = new MessageAssembler();
    const copying = () => (assembler as unknown as { buffer: Uint8Array | null }).buffer !== null;
    assembler.push(binaryStart(200_000));
    assembler.push({ type: 'frame-data', data: new Uint8Array(65_536).fill(1) });
    assembler.push({ type: 'frame-data', data: new Uint8Array(1 << 20).subarray(0, 1000) });
    assert.ok(copying(), 'a view would hold 1 MiB for a message of 66,536 bytes');
  });

  it('returns a single-piece message without copying it', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const assembler = new MessageAssembler();
    let message = null;
    for (const event of fragments(payload, [3], true)) message = assembler.push(event) ?? message;
    assert.equal(message!.data.buffer, payload.buffer, 'a view of the received bytes');
    assert.deepEqual([...message!.data], [1, 2, 3]);
  });

  it('sizes the buffer of a frame that arrives in pieces to the frame, not to twice its first piece', () => {
    // A 64 KiB frame whose first socket read held all but 14 bytes of it: one buffer of exactly 65,536 bytes.
    const payload = new Uint8Array(65_536).map((_, i) => i * 7);
    const assembler = new MessageAssembler();
    assembler.push(binaryStart(payload.length));
    assembler.push({ type: 'frame-data', data: payload.slice(0, 65_522) });
    assembler.push({ type: 'frame-data', data: payload.slice(65_522) });
    const message = assembler.push({ type: 'frame-end', fin: true });
    assert.deepEqual(Buffer.from(message!.data), Buffer.from(payload));
    assert.equal(message!.data.buffer.byteLength, 65_536, 'one buffer the size of the frame');
  });

  it('does not trust a frame length far beyond the bytes received: capacity stays within twice the bytes', () => {
    // A frame announced at 10 MB of which 200 bytes arrived: the buffer is sized to what arrived.
    const assembler = new MessageAssembler();
    assembler.push(binaryStart(10_000_000));
    assembler.push({ type: 'frame-data', data: new Uint8Array(100).fill(1) });
    assembler.push({ type: 'frame-data', data: new Uint8Array(100).fill(2) });
    // Held as a buffer or as views: either way, what they keep alive.
    const state = assembler as unknown as { buffer: Uint8Array | null; views: Uint8Array[] | null };
    const held = state.buffer?.length ?? state.views!.reduce((sum, view) => sum + view.buffer.byteLength, 0);
    assert.ok(held <= 400, `capacity ${held} for 200 bytes`);
  });

  it('holds memory in proportion to the bytes, not the frames: 1,000,000 one-byte frames of a 1 MB message', () => {
    const FRAMES = 1_000_000;
    // Server role: client frames are masked. FIN=0 TEXT/CONT, MASK|1, key 00000000, one byte 'a'.
    const frame = (first: boolean, fin: boolean) => [
      (fin ? 0x80 : 0) | (first ? 0x01 : 0x00),
      0x81,
      0,
      0,
      0,
      0,
      0x61,
    ];
    const conn = new Connection({ role: 'server', maxMessageSize: 2 * FRAMES });
    const assembler = new MessageAssembler();
    let message: Uint8Array | null = null;
    const pull = () => {
      for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
        const done = assembler.push(e);
        if (done !== null) message = done.data;
      }
    };
    const before = heldBytes();
    // 64 KiB input chunks, as TCP would bring them; all but the last frame, so the message is still open.
    const PER_CHUNK = Math.floor(65_536 / 7);
    for (let sent = 0; sent < FRAMES - 1; ) {
      const count = Math.min(PER_CHUNK, FRAMES - 1 - sent);
      const chunk = new Uint8Array(count * 7);
      for (let i = 0; i < count; i++) chunk.set(frame(sent + i === 0, false), i * 7);
      conn.receiveData(chunk);
      pull();
      sent += count;
    }
    const held = heldBytes() - before;
    // Bound: 3 × the message's bytes, plus 4 MiB for the last input chunk, the heap's own growth and noise.
    const bound = 3 * FRAMES + 4 * 1024 * 1024;
    assert.ok(
      held < bound,
      `an open 1 MB message held ${(held / 1e6).toFixed(1)} MB (bound ${(bound / 1e6).toFixed(1)} MB)`,
    );
    conn.receiveData(new Uint8Array(frame(false, true)));
    pull();
    assert.ok(message !== null);
    assert.equal((message as Uint8Array).length, FRAMES);
    assert.ok((message as Uint8Array).every((byte) => byte === 0x61));
  });
});
