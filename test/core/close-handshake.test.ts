import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeClosePayload, parseClosePayload } from '../../src/core/close.ts';
import { Connection } from '../../src/core/connection.ts';
import { InvalidStateError, ProtocolError, UsageError } from '../../src/core/errors.ts';
import { pieces, schedulesFor } from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { fixedMask, run } from '../helpers/run.ts';

const K = '00000000';
const zeroMask = fixedMask(new Uint8Array(4));

describe('close handshake', () => {
  test('server echoes the peer close code, then closes TCP first', () => {
    const bytes = hex`88 85 ${K} 03e9 627965`; // 1001 "bye"
    for (const schedule of schedulesFor(bytes.length)) {
      const conn = new Connection({ role: 'server' });
      const outcome = run(conn, pieces(bytes, schedule));
      assert.deepEqual(outcome.events, [{ type: 'close', code: 1001, reason: 'bye' }], schedule.name);
      assert.equal(outcome.sent, '880203e9', schedule.name);
      assert.equal(outcome.ended, true);
      assert.equal(conn.state, 'closed');
      assert.deepEqual(conn.closeReceived, { code: 1001, reason: 'bye' });
      assert.equal(conn.closeExpected(), true, 'the server still waits for the client FIN');
    }
  });

  test('an empty close is answered with an empty close and reported as 1005', () => {
    const conn = new Connection({ role: 'server' });
    const outcome = run(conn, [hex`88 80 ${K}`]);
    assert.deepEqual(outcome.events, [{ type: 'close', code: 1005, reason: '' }]);
    assert.equal(outcome.sent, '8800');
  });

  test('client answers a server close and waits for the server to close TCP', () => {
    const conn = new Connection({ role: 'client', randomMask: zeroMask });
    const outcome = run(conn, [hex`88 02 03e8`]);
    assert.equal(outcome.sent, `8882${K}03e8`);
    assert.equal(outcome.ended, false);
    assert.equal(conn.closeExpected(), true);
    const after = run(conn, [], true);
    assert.deepEqual(after.events, [{ type: 'end' }]);
    assert.equal(after.ended, true);
    assert.equal(conn.closeExpected(), false);
  });

  test('we close first: state closing until the peer answers, then closed', () => {
    const conn = new Connection({ role: 'server' });
    conn.sendClose(1000, 'done');
    assert.equal(conn.state, 'closing');
    assert.equal(toHex(conn.dataToSend().chunks[0]), '880603e8646f6e65');
    assert.throws(() => conn.sendText(hex`41`), InvalidStateError);
    assert.throws(() => conn.sendClose(1000), InvalidStateError);
    const outcome = run(conn, [hex`88 82 ${K} 03e8`]);
    assert.deepEqual(outcome.events, [{ type: 'close', code: 1000, reason: '' }]);
    assert.equal(outcome.sent, '', 'no second close frame');
    assert.equal(outcome.ended, true);
    assert.equal(conn.state, 'closed');
  });

  test('data frames after the peer close are discarded', () => {
    const conn = new Connection({ role: 'server' });
    const outcome = run(conn, [hex`88 80 ${K}  81 81 ${K} 41`]);
    assert.deepEqual(
      outcome.events.map((e) => e.type),
      ['close'],
    );
  });

  test('no pong is sent after our close frame', () => {
    const conn = new Connection({ role: 'server' });
    conn.sendClose(1000);
    conn.dataToSend();
    const outcome = run(conn, [hex`89 81 ${K} 41`]);
    assert.deepEqual(outcome.events, [{ type: 'ping', data: '41' }]);
    assert.equal(outcome.sent, '');
  });

  test('EOF without a close frame ends the input (abnormal closure)', () => {
    const conn = new Connection({ role: 'server' });
    const outcome = run(conn, [hex`81 85 ${K} 4865`], true);
    assert.deepEqual(outcome.events, [{ type: 'end' }]);
    assert.equal(conn.closeReceived, null);
    assert.equal(conn.state, 'closed');
  });

  test('control frames between fragments are delivered in order', () => {
    const bytes = hex`01 82 ${K} 4865  89 81 ${K} 70  00 81 ${K} 6c  8a 80 ${K}  80 82 ${K} 6c6f`;
    for (const schedule of schedulesFor(bytes.length)) {
      const outcome = run(new Connection({ role: 'server' }), pieces(bytes, schedule));
      assert.deepEqual(
        outcome.events,
        [
          { type: 'ping', data: '70' },
          { type: 'pong', data: '' },
          { type: 'message', opcode: 1, data: '48656c6c6f' },
        ],
        schedule.name,
      );
      assert.equal(outcome.sent, '8a0170', 'pong answers the ping');
    }
  });

  test('local fail() sends the code and closes TCP on a server', () => {
    const conn = new Connection({ role: 'server' });
    conn.fail(1008, 'policy');
    const out = conn.dataToSend();
    assert.equal(toHex(out.chunks[0]), '880803f0706f6c696379');
    assert.equal(out.end, true);
    assert.throws(() => conn.fail(1005), UsageError);
  });
});

describe('close payloads', () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999];
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535];

  test('codes that may be sent round-trip; others are refused both ways', () => {
    for (const code of valid) {
      assert.deepEqual(parseClosePayload(encodeClosePayload(code, 'é')), { code, reason: 'é' });
    }
    for (const code of invalid) {
      assert.throws(() => encodeClosePayload(code), UsageError, String(code));
      const parsed = parseClosePayload(new Uint8Array([code >> 8, code & 0xff]));
      assert.ok(parsed instanceof ProtocolError && parsed.closeCode === 1002, String(code));
    }
  });

  test('a reason of 123 bytes is accepted, 124 refused', () => {
    assert.equal(encodeClosePayload(1000, 'x'.repeat(123)).length, 125);
    assert.throws(() => encodeClosePayload(1000, 'x'.repeat(124)), UsageError);
    assert.throws(() => encodeClosePayload(undefined, 'no code'), UsageError);
  });
});
