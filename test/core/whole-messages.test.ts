import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MessageAssembler } from '../../src/core/assembler.ts';
import { Connection, type ConnectionOptions } from '../../src/core/connection.ts';
import type { Event } from '../../src/core/events.ts';
import { encodeFrame } from '../../src/core/frame.ts';

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const text = (s: string) => new TextEncoder().encode(s);

/** A client frame as a peer sends it (masked). */
function frame(opcode: number, payload: Uint8Array, fin = true, rsv = 0, mask = MASK): Uint8Array {
  return encodeFrame({ fin, rsv, opcode, mask }, payload);
}

/** Every event the server connection reports for `chunks` fed one after another, payloads copied. */
function events(chunks: Uint8Array[], options: Partial<ConnectionOptions> = {}): Event[] {
  const conn = new Connection({ role: 'server', wholeMessages: true, ...options });
  const out: Event[] = [];
  for (const chunk of chunks) {
    conn.receiveData(chunk);
    for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
      out.push('data' in e ? { ...e, data: Uint8Array.from(e.data) } : e);
    }
  }
  return out;
}

/** What an application sees: messages (whole or assembled), control frames, the outcome, and our bytes sent. */
function observe(
  chunks: Uint8Array[],
  wholeMessages: boolean,
): { seen: unknown[]; sent: string; whole: number } {
  const conn = new Connection({ role: 'server', wholeMessages, maxMessageSize: 8000 });
  const assembler = new MessageAssembler();
  const seen: unknown[] = [];
  let whole = 0;
  let sent = '';
  const take = () => {
    for (const c of conn.dataToSend().chunks) sent += Buffer.from(c).toString('hex');
  };
  for (const chunk of chunks) {
    conn.receiveData(chunk);
    for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
      if (e.type === 'message') {
        whole++;
        seen.push(['message', e.opcode, Buffer.from(e.data).toString('hex')]);
      } else if (e.type === 'frame-start' || e.type === 'frame-data' || e.type === 'frame-end') {
        const message = assembler.push(e);
        if (message !== null)
          seen.push(['message', message.opcode, Buffer.from(message.data).toString('hex')]);
      } else if (e.type === 'fail') seen.push(['fail', e.error.code, e.error.closeCode]);
      else if (e.type === 'ping' || e.type === 'pong')
        seen.push([e.type, Buffer.from(e.data).toString('hex')]);
      else if (e.type === 'close') seen.push(['close', e.code, e.reason]);
      else seen.push([e.type]);
    }
    take();
  }
  return { seen, sent, whole };
}

describe('Connection: whole messages (wholeMessages)', () => {
  it('reports a frame that is in one chunk as one message event, text and binary, empty and 64 KiB', () => {
    const big = new Uint8Array(70000).map((_, i) => i * 7);
    const got = events([
      Buffer.concat([
        frame(1, text('héllo')),
        frame(2, new Uint8Array(0)),
        frame(2, big),
        frame(1, new Uint8Array(0)),
      ]),
    ]);
    assert.deepEqual(got, [
      { type: 'message', opcode: 1, data: text('héllo') },
      { type: 'message', opcode: 2, data: new Uint8Array(0) },
      { type: 'message', opcode: 2, data: big },
      { type: 'message', opcode: 1, data: new Uint8Array(0) },
    ]);
  });

  it('streams a frame whose payload is cut between chunks, and a fragmented message', () => {
    const bytes = frame(1, text('abcdef'));
    const cut = bytes.length - 2;
    assert.deepEqual(events([bytes.subarray(0, cut), bytes.subarray(cut)]), [
      { type: 'frame-start', opcode: 1, first: true, fin: true, rsv: 0, length: 6 },
      { type: 'frame-data', data: text('abcd') },
      { type: 'frame-data', data: text('ef') },
      { type: 'frame-end', fin: true },
    ]);
    assert.deepEqual(events([Buffer.concat([frame(2, text('ab'), false), frame(0, text('c'))])]), [
      { type: 'frame-start', opcode: 2, first: true, fin: false, rsv: 0, length: 2 },
      { type: 'frame-data', data: text('ab') },
      { type: 'frame-end', fin: false },
      { type: 'frame-start', opcode: 2, first: false, fin: true, rsv: 0, length: 1 },
      { type: 'frame-data', data: text('c') },
      { type: 'frame-end', fin: true },
    ]);
  });

  it('streams a frame with RSV bits the application allowed (it reads them from frame-start)', () => {
    assert.deepEqual(events([frame(2, text('x'), true, 4)], { allowedRsv: 4 }), [
      { type: 'frame-start', opcode: 2, first: true, fin: true, rsv: 4, length: 1 },
      { type: 'frame-data', data: text('x') },
      { type: 'frame-end', fin: true },
    ]);
  });

  it('fails a whole text message that is not UTF-8 with 1007, one cut inside a sequence too', () => {
    for (const payload of [new Uint8Array([0x61, 0xff]), new Uint8Array([0x61, 0xc3])]) {
      const [fail, ...rest] = events([frame(1, payload)]);
      assert.equal(fail?.type, 'fail');
      assert.equal(fail.type === 'fail' && fail.error.code, 'INVALID_UTF8');
      assert.equal(fail.type === 'fail' && fail.error.closeCode, 1007);
      assert.deepEqual(rest, []);
    }
  });

  it('fails a whole message over maxMessageSize with 1009 before reading its payload', () => {
    const [fail] = events([frame(2, new Uint8Array(11))], { maxMessageSize: 10 });
    assert.equal(fail?.type === 'fail' && fail.error.closeCode, 1009);
    assert.deepEqual(events([frame(2, new Uint8Array(10))], { maxMessageSize: 10 }), [
      { type: 'message', opcode: 2, data: new Uint8Array(10) },
    ]);
  });

  it('changes nothing an application sees, for any frames cut into any chunks', () => {
    const payload = fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
      { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 100 }).map(text) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 5000 }) },
    );
    type Frame = { opcode: number; fin: boolean; payload: Uint8Array };
    // Mostly well-formed messages (one to three fragments) and control frames, sometimes a stray continuation.
    const message = fc
      .record({ opcode: fc.constantFrom(1, 2), fragments: fc.array(payload, { minLength: 1, maxLength: 3 }) })
      .map(({ opcode, fragments }): Frame[] =>
        fragments.map((p, i) => ({
          opcode: i === 0 ? opcode : 0,
          fin: i === fragments.length - 1,
          payload: p,
        })),
      );
    const unit = fc.oneof(
      { weight: 8, arbitrary: message },
      {
        weight: 1,
        arbitrary: fc
          .uint8Array({ maxLength: 125 })
          .map((p): Frame[] => [{ opcode: 9, fin: true, payload: p }]),
      },
      { weight: 1, arbitrary: payload.map((p): Frame[] => [{ opcode: 0, fin: true, payload: p }]) },
      {
        weight: 1,
        arbitrary: fc.constant<Frame[]>([{ opcode: 8, fin: true, payload: new Uint8Array([3, 0xe8]) }]),
      },
    );
    let wholeSeen = 0;
    fc.assert(
      fc.property(
        fc.array(unit, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 30 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (units, cuts, mask) => {
          const frames = units.flat();
          const bytes = Buffer.concat(frames.map((f) => frame(f.opcode, f.payload, f.fin, 0, mask)));
          const chunks: Uint8Array[] = [];
          let at = 0;
          for (const cut of cuts) {
            if (at + cut >= bytes.length) break;
            chunks.push(Uint8Array.from(bytes.subarray(at, at + cut)));
            at += cut;
          }
          chunks.push(Uint8Array.from(bytes.subarray(at)));
          const streamed = observe(
            chunks.map((c) => Uint8Array.from(c)),
            false,
          );
          const whole = observe(chunks, true);
          assert.deepEqual(whole.seen, streamed.seen);
          assert.equal(whole.sent, streamed.sent);
          assert.equal(streamed.whole, 0);
          wholeSeen += whole.whole;
        },
      ),
    );
    // The runs did take the whole-message path (a frame in one chunk) as well as the streaming one.
    assert.ok(wholeSeen > 0);
  });
});
