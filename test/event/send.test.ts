import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ErrorCode,
  EventContext,
  type FragmentedMsgReader,
  IoFlags,
  Opcode,
  Rsv,
} from '../../src/event/index.ts';
import { SEED, seededRandom } from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { Accumulator, fixedGenmask } from './harness.ts';

/** wslay's scripted read callback: the source is read in pieces of the given sizes. */
function scriptedReader(data: Uint8Array, sizes: number[]): FragmentedMsgReader {
  let at = 0;
  let i = 0;
  return (_ctx, buf) => {
    const n = Math.min(sizes[i++] ?? data.length - at, buf.length, data.length - at);
    buf.set(data.subarray(at, at + n));
    at += n;
    return { length: n, eof: at === data.length };
  };
}

const hello = new TextEncoder().encode('Hello');

/** Calls send() until nothing is left (a fragmented message's reader may pause once). */
function drain(ctx: EventContext): void {
  for (let i = 0; ctx.wantWrite(); i++) {
    assert.ok(i < 100, 'send() makes progress');
    assert.equal(ctx.send(), 0);
  }
}

/** Queues a varied set of frames: text, ping, a fragmented binary, a 300-byte binary, a close. */
function queueMix(ctx: EventContext): void {
  assert.equal(ctx.queueMsg({ opcode: Opcode.Text, msg: 'Hello' }), 0);
  assert.equal(ctx.queueMsg({ opcode: Opcode.Ping, msg: hex`01 02` }), 0);
  const data = new Uint8Array(10).map((_, i) => i);
  const frag = { opcode: Opcode.Binary, source: null, readCallback: scriptedReader(data, [4, 0, 6]) };
  assert.equal(ctx.queueFragmentedMsg(frag), 0);
  assert.equal(ctx.queueMsg({ opcode: Opcode.Binary, msg: new Uint8Array(300).fill(7) }), 0);
}

describe('EventContext.send', () => {
  test('control frames go first (wslay send_ctrl_msg_first)', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    assert.equal(ctx.queueMsg({ opcode: Opcode.Ping, msg: new Uint8Array(0) }), 0);
    assert.equal(ctx.queueMsg({ opcode: Opcode.Text, msg: hello }), 0);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '8900 8105 48656c6c6f'.replace(/ /g, ''));
  });

  test('a string is sent as its UTF-8 bytes; the queued bytes are a copy', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    const bytes = hex`68 69`;
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'é' });
    ctx.queueMsg({ opcode: Opcode.Binary, msg: bytes });
    bytes.fill(0);
    ctx.send();
    assert.equal(acc.hex, '8102c3a9' + '82026869');
  });

  test('fragmented message: one frame per read (wslay send_fragmented_msg)', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    const readCallback = scriptedReader(hello, [3, 2]);
    assert.equal(ctx.queueFragmentedMsg({ opcode: Opcode.Text, source: null, readCallback }), 0);
    assert.equal(ctx.queuedMsgCount, 1);
    assert.equal(ctx.queuedMsgLength, 0);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '010348656c' + '80026c6f');
    assert.equal(ctx.queuedMsgCount, 0);
  });

  test('the reader gets a 4096-byte buffer; "nothing yet" pauses the message', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    const sizes: number[] = [];
    let ready = false;
    const readCallback: FragmentedMsgReader = (_ctx, buf, source) => {
      sizes.push(buf.length);
      assert.equal(source, 'the source');
      if (!ready) return { length: 0, eof: false };
      buf[0] = 0x41;
      return { length: 1, eof: true };
    };
    ctx.queueFragmentedMsg({ opcode: Opcode.Binary, source: 'the source', readCallback });
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '');
    assert.equal(ctx.wantWrite(), true);
    ready = true;
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '820141');
    assert.deepEqual(sizes, [4096, 4096]);
  });

  test('a ping queued at any byte of a fragmented message goes between two frames (wslay send_fragmented_msg_with_ctrl)', () => {
    const whole = '010348656c' + '80026c6f';
    for (let k = 0; k <= whole.length / 2; k++) {
      const acc = new Accumulator(1);
      acc.budget = k;
      const ctx = EventContext.server({ send: acc.send });
      const readCallback = scriptedReader(hello, [3, 2]);
      ctx.queueFragmentedMsg({ opcode: Opcode.Text, source: null, readCallback });
      assert.equal(ctx.send(), 0);
      assert.equal(ctx.queueMsg({ opcode: Opcode.Ping, msg: new Uint8Array(0) }), 0);
      assert.equal(ctx.queuedMsgCount, k === 9 ? 1 : 2);
      acc.budget = Number.POSITIVE_INFINITY;
      assert.equal(ctx.send(), 0);
      assert.equal(ctx.queuedMsgCount, 0);
      // Before any byte: the ping simply goes first. Never inside a frame.
      const expected =
        k === 0 ? `8900${whole}` : k <= 5 ? '010348656c' + '8900' + '80026c6f' : `${whole}8900`;
      assert.equal(acc.hex, expected, `ping queued after ${k} bytes`);
    }
  });

  test('a 1-byte send callback sends the same bytes', () => {
    const reference = new Accumulator();
    const one = new Accumulator(1);
    for (const acc of [reference, one]) {
      const ctx = EventContext.server({ send: acc.send });
      queueMix(ctx);
      drain(ctx);
    }
    assert.equal(one.hex, reference.hex);
    assert.equal(one.length, reference.length);
  });

  test('would-block at every byte position resumes exactly', () => {
    const reference = new Accumulator();
    const ctx0 = EventContext.server({ send: reference.send });
    queueMix(ctx0);
    drain(ctx0);
    for (let k = 0; k <= reference.length; k++) {
      const acc = new Accumulator();
      acc.budget = k;
      const ctx = EventContext.server({ send: acc.send });
      queueMix(ctx);
      for (let i = 0; i < 3; i++) assert.equal(ctx.send(), 0);
      assert.equal(acc.length, k);
      assert.equal(ctx.wantWrite(), k < reference.length);
      acc.budget = Number.POSITIVE_INFINITY;
      drain(ctx);
      assert.equal(acc.hex, reference.hex, `blocked after ${k} bytes`);
    }
  });

  test('seeded random partial sends give the same bytes', () => {
    const reference = new Accumulator();
    const ctx0 = EventContext.server({ send: reference.send });
    queueMix(ctx0);
    drain(ctx0);
    const random = seededRandom(SEED);
    for (let round = 0; round < 20; round++) {
      const acc = new Accumulator();
      const ctx = EventContext.server({ send: acc.send });
      queueMix(ctx);
      while (ctx.wantWrite()) {
        acc.budget = Math.floor(random() * 40);
        assert.equal(ctx.send(), 0);
      }
      assert.equal(acc.hex, reference.hex, `seed ${SEED} round ${round}`);
    }
  });

  test('MsgMore is set while more bytes are queued', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'a' });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'b' });
    ctx.send();
    assert.deepEqual(acc.flags, [IoFlags.MsgMore, 0]);
  });

  test('a client masks every frame with the genmask key', () => {
    const acc = new Accumulator();
    const key = hex`37 fa 21 3d`;
    const ctx = EventContext.client({ send: acc.send, genmask: fixedGenmask(key) });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'Hello' });
    ctx.send();
    assert.equal(acc.hex, '818537fa213d7f9f4d5158'); // RFC 6455 §5.7
  });

  test('a failing genmask makes send fail and disables writing', () => {
    const acc = new Accumulator();
    const ctx = EventContext.client({ send: acc.send, genmask: () => -1 });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'Hello' });
    assert.equal(ctx.send(), ErrorCode.CallbackFailure);
    assert.equal(ctx.writeEnabled, false);
    assert.equal(acc.hex, '');
  });

  test('a failing reader makes send fail', () => {
    const ctx = EventContext.server({ send: new Accumulator().send });
    ctx.queueFragmentedMsg({ opcode: Opcode.Text, source: null, readCallback: () => -1 });
    assert.equal(ctx.send(), ErrorCode.CallbackFailure);
    assert.equal(ctx.writeEnabled, false);
  });

  test('a send callback taking more than offered is a callback failure', () => {
    const ctx = EventContext.server({ send: (_c, data) => data.length + 1 });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'x' });
    assert.equal(ctx.send(), ErrorCode.CallbackFailure);
  });

  test('RSV1, once allowed, is sent on the first frame only', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    assert.equal(ctx.queueMsgEx({ opcode: Opcode.Text, msg: 'a' }, Rsv.Rsv1), ErrorCode.InvalidArgument);
    ctx.setAllowedRsvBits(Rsv.Rsv1 | Rsv.Rsv2);
    assert.equal(ctx.queueMsgEx({ opcode: Opcode.Text, msg: 'a' }, Rsv.Rsv2), ErrorCode.InvalidArgument);
    assert.equal(ctx.queueMsgEx({ opcode: Opcode.Text, msg: 'a' }, Rsv.Rsv1), 0);
    const readCallback = scriptedReader(hex`0102`, [1, 1]);
    assert.equal(ctx.queueFragmentedMsgEx({ opcode: Opcode.Binary, source: 0, readCallback }, Rsv.Rsv1), 0);
    ctx.send();
    assert.equal(acc.hex, 'c10161' + '420101' + '800102');
  });
});

describe('queueing rules', () => {
  test('queueClose sends code and reason; closeSent, no more writing (wslay queue_close)', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    assert.equal(ctx.queueClose(1009, 'H'), 0);
    assert.equal(ctx.closeSent, false);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '880303f148');
    assert.equal(ctx.closeSent, true);
    assert.equal(ctx.statusCodeSent, 1009);
    assert.equal(ctx.writeEnabled, false);
    assert.equal(ctx.wantWrite(), false);
  });

  test('a close without code drops the queued ping and is reported as 1005 (wslay queue_close_without_code)', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    assert.equal(ctx.queueMsg({ opcode: Opcode.Ping, msg: new Uint8Array(0) }), 0);
    assert.equal(ctx.queueClose(0), 0);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '8800');
    assert.equal(ctx.statusCodeSent, 1005);
    assert.equal(ctx.queuedMsgCount, 0);
  });

  test('after a close is queued everything returns NoMoreMsg (wslay no_more_msg)', () => {
    const ctx = EventContext.server({});
    assert.equal(ctx.queueClose(0), 0);
    assert.equal(ctx.queueClose(0), ErrorCode.NoMoreMsg);
    assert.equal(ctx.queueMsg({ opcode: Opcode.Text, msg: 'x' }), ErrorCode.NoMoreMsg);
    assert.equal(ctx.queueMsg({ opcode: Opcode.Ping, msg: '' }), ErrorCode.NoMoreMsg);
    const readCallback = scriptedReader(hello, [5]);
    assert.equal(
      ctx.queueFragmentedMsg({ opcode: Opcode.Text, source: 0, readCallback }),
      ErrorCode.NoMoreMsg,
    );
  });

  test('a queued close overtakes queued data; the data is never sent', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'x' });
    ctx.queueClose(1000);
    ctx.send();
    assert.equal(acc.hex, '880203e8');
    assert.equal(ctx.wantWrite(), false);
  });

  test('a close queued with queueMsg behaves like queueClose', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    assert.equal(ctx.queueMsg({ opcode: Opcode.Close, msg: hex`03e8 6279` }), 0);
    assert.equal(ctx.queueMsg({ opcode: Opcode.Text, msg: 'x' }), ErrorCode.NoMoreMsg);
    ctx.send();
    assert.equal(acc.hex, '880403e86279');
    assert.equal(ctx.statusCodeSent, 1000);
  });

  test('shutdownWrite: nothing is sent and nothing can be queued', () => {
    const acc = new Accumulator();
    const ctx = EventContext.server({ send: acc.send });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'x' });
    ctx.shutdownWrite();
    assert.equal(ctx.wantWrite(), false);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '');
    assert.equal(ctx.queueMsg({ opcode: Opcode.Text, msg: 'x' }), ErrorCode.NoMoreMsg);
    ctx.shutdownRead();
    assert.equal(ctx.wantRead(), false);
  });

  const invalid: Array<[string, (ctx: EventContext) => number]> = [
    ['a ping of 126 bytes', (c) => c.queueMsg({ opcode: Opcode.Ping, msg: new Uint8Array(126) })],
    ['a close of 126 bytes', (c) => c.queueMsg({ opcode: Opcode.Close, msg: new Uint8Array(126) })],
    ['a close payload of 1 byte', (c) => c.queueMsg({ opcode: Opcode.Close, msg: hex`03` })],
    [
      'RSV1 on a ping, even when allowed',
      (c) => {
        c.setAllowedRsvBits(Rsv.Rsv1);
        return c.queueMsgEx({ opcode: Opcode.Ping, msg: '' }, Rsv.Rsv1);
      },
    ],
    ['RSV bits that are not allowed', (c) => c.queueMsgEx({ opcode: Opcode.Binary, msg: '' }, Rsv.Rsv3)],
    ['a continuation opcode', (c) => c.queueMsg({ opcode: Opcode.Continuation, msg: '' })],
    ['a reserved opcode', (c) => c.queueMsg({ opcode: 0xb, msg: '' })],
    [
      'a fragmented ping',
      (c) => c.queueFragmentedMsg({ opcode: Opcode.Ping, source: 0, readCallback: () => -1 }),
    ],
    ['a close reason over 123 bytes', (c) => c.queueClose(1000, 'x'.repeat(124))],
    ['a close code that may not be sent', (c) => c.queueClose(1005)],
    ['a close reason that is not UTF-8', (c) => c.queueClose(1000, hex`ff`)],
    ['write() into 13 bytes', (c) => c.write(new Uint8Array(13))],
  ];
  for (const [name, call] of invalid) {
    test(`InvalidArgument: ${name}`, () => {
      const acc = new Accumulator();
      const ctx = EventContext.server({ send: acc.send });
      assert.equal(call(ctx), ErrorCode.InvalidArgument);
      assert.equal(ctx.queuedMsgCount, 0);
      assert.equal(ctx.send(), 0);
      assert.equal(acc.hex, '', 'nothing queued');
    });
  }

  test('queued count and length follow queueing and sending', () => {
    const acc = new Accumulator();
    acc.budget = 3;
    const ctx = EventContext.server({ send: acc.send });
    ctx.queueMsg({ opcode: Opcode.Text, msg: 'abc' });
    ctx.queueMsg({ opcode: Opcode.Pong, msg: 'de' });
    assert.deepEqual([ctx.queuedMsgCount, ctx.queuedMsgLength], [2, 5]);
    ctx.send(); // the pong (4 bytes) is in progress
    assert.deepEqual([ctx.queuedMsgCount, ctx.queuedMsgLength], [2, 5]);
    acc.budget = 1;
    ctx.send();
    assert.deepEqual([ctx.queuedMsgCount, ctx.queuedMsgLength], [1, 3]);
    acc.budget = Number.POSITIVE_INFINITY;
    ctx.send();
    assert.deepEqual([ctx.queuedMsgCount, ctx.queuedMsgLength], [0, 0]);
    assert.equal(acc.hex, '8a026465' + '8103616263');
  });
});

describe('EventContext.write', () => {
  test('14-byte buffers produce exactly the bytes send() produces, resuming where they stopped', () => {
    const reference = new Accumulator();
    const ctx0 = EventContext.client({ send: reference.send, genmask: fixedGenmask(hex`01020304`) });
    queueMix(ctx0);
    ctx0.queueClose(1000, 'bye');
    drain(ctx0);
    for (const size of [14, 15, 17, 64, 4096]) {
      const ctx = EventContext.client({ genmask: fixedGenmask(hex`01020304`) });
      queueMix(ctx);
      ctx.queueClose(1000, 'bye');
      let out = '';
      const buf = new Uint8Array(size);
      while (ctx.wantWrite()) {
        const n = ctx.write(buf);
        assert.ok(n >= 0 && n <= size);
        out += toHex(buf.subarray(0, n));
      }
      assert.equal(out, reference.hex, `buffers of ${size} bytes`);
      assert.equal(ctx.closeSent, true);
      assert.equal(ctx.write(buf), 0, 'nothing after the close');
    }
  });
});
