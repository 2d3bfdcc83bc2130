import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, EventContext, Opcode, Rsv } from '../../src/event/index.ts';
import { pieces, schedulesFor } from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { Accumulator, recorder, ScriptedRecv } from './harness.ts';

const K = '00000000'; // masking key 0: masked payloads read as plain text

/** A server context fed `chunks`, its output collected; recv() is called until the script is used up. */
function server(chunks: Uint8Array[], configure?: (ctx: EventContext) => void) {
  const script = new ScriptedRecv(chunks);
  const acc = new Accumulator();
  const rec = recorder();
  const ctx = EventContext.server({ recv: script.recv, send: acc.send, ...rec.callbacks });
  configure?.(ctx);
  const results: number[] = [];
  while (script.remaining > 0 && ctx.readEnabled) results.push(ctx.recv());
  return { ctx, acc, rec, results };
}

/** Feeds `bytes` under every schedule and checks that the callbacks and the reply are the same each time. */
function underEverySchedule(bytes: Uint8Array, check: (out: ReturnType<typeof server>) => void) {
  for (const schedule of schedulesFor(bytes.length)) {
    const out = server(pieces(bytes, schedule));
    assert.ok(
      out.results.every((r) => r === 0),
      schedule.name,
    );
    out.ctx.send();
    try {
      check(out);
    } catch (error) {
      throw new Error(`schedule ${schedule.name}: ${(error as Error).message}`);
    }
  }
}

describe('EventContext.recv', () => {
  test('reads until the callback would block: one call delivers many messages', () => {
    const script = new ScriptedRecv();
    const rec = recorder();
    const ctx = EventContext.server({ recv: script.recv, ...rec.callbacks });
    // Two messages and a ping in one piece, then would-block.
    script.push(hex`81 82 ${K} 6869  82 81 ${K} ff  89 80 ${K}`);
    assert.equal(ctx.recv(), 0);
    assert.deepEqual(
      rec.messages().map((m) => m.cb === 'msg' && [m.opcode, m.msg]),
      [
        [Opcode.Text, '6869'],
        [Opcode.Binary, 'ff'],
        [Opcode.Ping, ''],
      ],
    );
    assert.equal(ctx.wantRead(), true);
  });

  test('a message cut at every byte position (would-block between pieces) is delivered once, whole', () => {
    const bytes = hex`01 83 ${K} 48656c  89 83 ${K} 466f6f  80 82 ${K} 6c6f`; // "Hel", ping "Foo", "lo"
    underEverySchedule(bytes, ({ rec, acc, ctx }) => {
      assert.deepEqual(rec.messages(), [
        { cb: 'msg', rsv: 0, opcode: Opcode.Ping, msg: '466f6f', statusCode: 0 },
        { cb: 'msg', rsv: 0, opcode: Opcode.Text, msg: '48656c6c6f', statusCode: 0 },
      ]);
      assert.equal(acc.hex, '8a03466f6f', 'the pong');
      assert.equal(ctx.queuedMsgCount, 0);
    });
  });

  test('the recv callback may return a chunk instead of filling the buffer', () => {
    const script = new ScriptedRecv(pieces(hex`81 85 ${K} 48656c6c6f`, schedulesFor(11)[1]));
    const rec = recorder();
    const ctx = EventContext.server({ recv: script.recvChunk, ...rec.callbacks });
    while (script.remaining > 0) assert.equal(ctx.recv(), 0);
    assert.deepEqual(rec.messages(), [
      { cb: 'msg', rsv: 0, opcode: Opcode.Text, msg: '48656c6c6f', statusCode: 0 },
    ]);
  });

  test('frame callbacks: start/chunk/end per frame, continuation opcode, control frame between fragments', () => {
    const bytes = hex`01 83 ${K} 48656c  89 83 ${K} 466f6f  80 82 ${K} 6c6f`;
    underEverySchedule(bytes, ({ rec }) => {
      assert.deepEqual(rec.seen, [
        { cb: 'start', fin: false, rsv: 0, opcode: Opcode.Text, payloadLength: 3 },
        { cb: 'chunk', data: '48656c' },
        { cb: 'end' },
        { cb: 'start', fin: true, rsv: 0, opcode: Opcode.Ping, payloadLength: 3 },
        { cb: 'chunk', data: '466f6f' },
        { cb: 'end' },
        { cb: 'msg', rsv: 0, opcode: Opcode.Ping, msg: '466f6f', statusCode: 0 },
        { cb: 'start', fin: true, rsv: 0, opcode: Opcode.Continuation, payloadLength: 2 },
        { cb: 'chunk', data: '6c6f' },
        { cb: 'end' },
        { cb: 'msg', rsv: 0, opcode: Opcode.Text, msg: '48656c6c6f', statusCode: 0 },
      ]);
    });
  });

  test('a ping queues a pong with the same payload', () => {
    const { ctx, acc } = server([hex`89 82 ${K} 4869`]);
    assert.equal(ctx.wantWrite(), true);
    assert.equal(ctx.queuedMsgCount, 1);
    assert.equal(ctx.queuedMsgLength, 2);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '8a024869');
    assert.equal(ctx.wantWrite(), false);
  });

  test('a close queues a close echoing its code and disables reading (wslay reply_close)', () => {
    underEverySchedule(hex`88 87 ${K} 03f1 48656c6c6f`, ({ ctx, acc, rec }) => {
      assert.deepEqual(rec.messages(), [
        { cb: 'msg', rsv: 0, opcode: Opcode.Close, msg: '03f148656c6c6f', statusCode: 1009 },
      ]);
      assert.equal(acc.hex, '880203f1');
      assert.equal(ctx.closeReceived, true);
      assert.equal(ctx.closeSent, true);
      assert.equal(ctx.statusCodeReceived, 1009);
      assert.equal(ctx.statusCodeSent, 1009);
      assert.equal(ctx.readEnabled, false);
      assert.equal(ctx.wantRead(), false);
      assert.equal(ctx.writeEnabled, false);
      assert.equal(ctx.wantWrite(), false);
    });
  });

  test('before the echo is sent: queued, counted, status code sent still 1006', () => {
    const { ctx } = server([hex`88 87 ${K} 03f1 48656c6c6f`]);
    assert.equal(ctx.queuedMsgCount, 1);
    assert.equal(ctx.queuedMsgLength, 2);
    assert.equal(ctx.closeReceived, true);
    assert.equal(ctx.statusCodeSent, 1006);
    assert.equal(ctx.queueMsg({ opcode: Opcode.Text, msg: 'late' }), ErrorCode.NoMoreMsg);
  });

  test('a close without code: status code received 1005, onMsgRecv statusCode 0, echo is empty', () => {
    const script = new ScriptedRecv([hex`88 00`]);
    const acc = new Accumulator();
    const rec = recorder();
    const ctx = EventContext.client({ recv: script.recv, send: acc.send, ...rec.callbacks });
    assert.equal(ctx.recv(), 0);
    assert.equal(ctx.closeReceived, true);
    assert.equal(ctx.statusCodeReceived, 1005);
    assert.deepEqual(rec.messages(), [{ cb: 'msg', rsv: 0, opcode: Opcode.Close, msg: '', statusCode: 0 }]);
    ctx.send();
    assert.equal(acc.hex.slice(0, 4), '8880', 'masked, empty close');
    assert.equal(ctx.statusCodeSent, 1005);
  });

  const violations: Array<[string, Uint8Array, number, ((ctx: EventContext) => void)?]> = [
    ['unmasked frame to a server', hex`81 02 6869`, 1002],
    ['reserved opcode', hex`83 80 ${K}`, 1002],
    ['RSV1 without an extension', hex`c1 80 ${K}`, 1002],
    ['fragmented ping', hex`09 80 ${K}`, 1002],
    ['ping over 125 bytes', hex`89 fe 007e ${K}`, 1002],
    ['continuation without a message', hex`80 80 ${K}`, 1002],
    ['close with a 1-byte payload', hex`88 81 ${K} 03`, 1002],
    ['close with code 1005', hex`88 82 ${K} 03ed`, 1002],
    ['close with code 999', hex`88 82 ${K} 03e7`, 1002],
    ['close reason not UTF-8', hex`88 83 ${K} 03e8 ff`, 1007],
    ['text not UTF-8', hex`81 82 ${K} c328`, 1007],
    ['message over the limit', hex`81 85 ${K} 48656c6c6f`, 1009, (ctx) => ctx.setMaxRecvMsgLength(4)],
  ];
  for (const [name, bytes, code, configure] of violations) {
    test(`protocol error, ${name}: recv returns 0, close ${code} queued, reading disabled`, () => {
      const { ctx, acc, rec, results } = server([bytes], configure);
      assert.deepEqual(results, [0]);
      assert.equal(ctx.readEnabled, false);
      assert.equal(ctx.closeReceived, false);
      assert.deepEqual(rec.messages(), []);
      assert.equal(ctx.send(), 0);
      assert.equal(acc.hex.slice(0, 2), '88');
      assert.equal(acc.hex.slice(4, 8), code.toString(16).padStart(4, '0'), 'close code on the wire');
      assert.equal(ctx.statusCodeSent, code);
      assert.equal(ctx.closeSent, true);
    });
  }

  test('text ending inside a UTF-8 sequence fails with 1007 at the last fragment', () => {
    const { ctx } = server([hex`01 81 ${K} e2  80 81 ${K} 82`]);
    ctx.send();
    assert.equal(ctx.statusCodeSent, 1007);
  });

  test('a client fails on a masked frame from the server', () => {
    const script = new ScriptedRecv([hex`81 82 ${K} 6869`]);
    const acc = new Accumulator();
    const ctx = EventContext.client({ recv: script.recv, send: acc.send });
    assert.equal(ctx.recv(), 0);
    ctx.send();
    assert.equal(ctx.statusCodeSent, 1002);
  });

  test('the size limit counts the whole message when buffering', () => {
    const bytes = hex`01 83 ${K} 48656c  80 82 ${K} 6c6f`;
    const { ctx, rec } = server([bytes], (c) => c.setMaxRecvMsgLength(4));
    ctx.send();
    assert.deepEqual(rec.messages(), []);
    assert.equal(ctx.statusCodeSent, 1009);
  });

  test('no buffering: data reaches the frame callbacks only, msg empty, limit per frame (wslay no_buffering)', () => {
    const bytes = hex`01 83 ${K} 48656c  89 83 ${K} 466f6f  80 82 ${K} 6c6f`;
    const configure = (c: EventContext) => {
      c.setNoBuffering(true);
      c.setMaxRecvMsgLength(3);
    };
    const { ctx, rec } = server([bytes], configure);
    assert.deepEqual(rec.messages(), [
      { cb: 'msg', rsv: 0, opcode: Opcode.Ping, msg: '466f6f', statusCode: 0 },
      { cb: 'msg', rsv: 0, opcode: Opcode.Text, msg: '', statusCode: 0 },
    ]);
    assert.deepEqual(
      rec.seen.filter((s) => s.cb === 'chunk'),
      [
        { cb: 'chunk', data: '48656c' },
        { cb: 'chunk', data: '466f6f' },
        { cb: 'chunk', data: '6c6f' },
      ],
    );
    assert.equal(ctx.wantWrite(), true, 'pong queued');
    assert.equal(ctx.readEnabled, true);
  });

  test('no buffering: a single frame over the limit still fails with 1009', () => {
    const { ctx } = server([hex`81 84 ${K} 48656c6c`], (c) => {
      c.setNoBuffering(true);
      c.setMaxRecvMsgLength(3);
    });
    ctx.send();
    assert.equal(ctx.statusCodeSent, 1009);
  });

  test('allowed RSV1 reaches onMsgRecv; without it the frame is a protocol error', () => {
    const bytes = hex`c1 82 ${K} 6869`;
    const allowed = server([bytes], (c) => c.setAllowedRsvBits(Rsv.Rsv1));
    assert.deepEqual(allowed.rec.messages(), [
      { cb: 'msg', rsv: Rsv.Rsv1, opcode: Opcode.Text, msg: '6869', statusCode: 0 },
    ]);
    const refused = server([bytes]);
    refused.ctx.send();
    assert.equal(refused.ctx.statusCodeSent, 1002);
  });

  test('a failing recv callback: CallbackFailure, empty close queued (wslay callback_failure)', () => {
    const ctx = EventContext.server({
      recv: (c) => {
        c.setError(ErrorCode.CallbackFailure);
        return -1;
      },
      send: (c) => {
        c.setError(ErrorCode.CallbackFailure);
        return -1;
      },
    });
    assert.equal(ctx.recv(), ErrorCode.CallbackFailure);
    assert.equal(ctx.readEnabled, false);
    assert.equal(ctx.wantWrite(), true, 'close control frame is in queue');
    assert.equal(ctx.send(), ErrorCode.CallbackFailure);
    assert.equal(ctx.writeEnabled, false);
  });

  test('a throwing callback is a callback failure; the close is still sent', () => {
    const script = new ScriptedRecv([hex`81 82 ${K} 6869`]);
    const acc = new Accumulator();
    const ctx = EventContext.server({
      recv: script.recv,
      send: acc.send,
      onMsgRecv: () => {
        throw new Error('application bug');
      },
    });
    assert.equal(ctx.recv(), ErrorCode.CallbackFailure);
    assert.equal(ctx.send(), 0);
    assert.equal(acc.hex, '8800');
  });

  test('recv without a recv callback is InvalidCallback', () => {
    assert.equal(EventContext.server({}).recv(), ErrorCode.InvalidCallback);
    assert.equal(EventContext.server({}).send(), ErrorCode.InvalidCallback);
  });

  test('a non-function callback throws', () => {
    assert.throws(() => EventContext.server({ recv: 1 as never }), TypeError);
  });

  test('the recv buffer is 4096 bytes and is never reused while the core holds it', () => {
    const payload = new Uint8Array(5000).fill(0x61);
    const frame = new Uint8Array([0x82, 0xfe, 0x13, 0x88, 0, 0, 0, 0, ...payload]);
    const script = new ScriptedRecv([frame]);
    const sizes: number[] = [];
    const rec = recorder();
    const ctx = EventContext.server({
      recv: (c, buf) => {
        sizes.push(buf.length);
        return script.recv(c, buf);
      },
      ...rec.callbacks,
    });
    while (script.remaining > 0) ctx.recv();
    assert.ok(sizes.every((s) => s === 4096));
    const [message] = rec.messages();
    assert.equal(message.cb === 'msg' && message.msg, toHex(payload));
  });
});
