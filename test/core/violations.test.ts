import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection, type ConnectionOptions } from '../../src/core/connection.ts';
import { pieces, schedulesFor } from '../helpers/feed.ts';
import { hex } from '../helpers/hex.ts';
import { run } from '../helpers/run.ts';

// Every class of peer violation ends in a `fail` event with the right close code and the close frame on the
// wire, under every feed schedule. Client frames here use the all-zero mask so payloads read as-is.
const M = '80'; // MASK bit on a zero-length byte; OR-ed into the length byte by writing e.g. `85` for 5.
const K = '00000000'; // masking key 00 00 00 00

interface Case {
  name: string;
  bytes: Uint8Array;
  code: string;
  closeCode: number;
  options?: Partial<ConnectionOptions>;
  role?: 'client' | 'server';
  /** Events expected before the failure. */
  before?: object[];
}

/** The close frame a server sends when failing with `closeCode` (reason = the error message). */
function closeFrameCode(sent: string): number {
  // server frames are unmasked: 88 LL CODE(2) ...
  assert.equal(sent.slice(0, 2), '88');
  return Number.parseInt(sent.slice(4, 8), 16);
}

const cases: Case[] = [
  {
    name: 'reserved bit RSV1 without an extension',
    bytes: hex`c1 ${M} ${K}`,
    code: 'RESERVED_BITS',
    closeCode: 1002,
  },
  { name: 'reserved bit RSV3', bytes: hex`91 ${M} ${K}`, code: 'RESERVED_BITS', closeCode: 1002 },
  { name: 'reserved opcode 3', bytes: hex`83 ${M} ${K}`, code: 'RESERVED_OPCODE', closeCode: 1002 },
  { name: 'reserved control opcode 0xb', bytes: hex`8b ${M} ${K}`, code: 'RESERVED_OPCODE', closeCode: 1002 },
  { name: 'unmasked frame from a client', bytes: hex`81 00`, code: 'UNMASKED_FRAME', closeCode: 1002 },
  {
    name: 'masked frame from a server',
    bytes: hex`81 80 ${K}`,
    role: 'client',
    code: 'MASKED_FRAME',
    closeCode: 1002,
  },
  { name: 'fragmented ping', bytes: hex`09 ${M} ${K}`, code: 'FRAGMENTED_CONTROL', closeCode: 1002 },
  { name: 'ping of 126 bytes', bytes: hex`89 fe 007e ${K}`, code: 'CONTROL_TOO_LONG', closeCode: 1002 },
  {
    name: 'continuation without a message',
    bytes: hex`80 ${M} ${K}`,
    code: 'UNEXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: 'new text frame inside a fragmented message',
    bytes: hex`01 81 ${K} 41  81 81 ${K} 42`,
    code: 'EXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: 'RSV1 on a control frame even with an allowed RSV1',
    bytes: hex`c9 ${M} ${K}`,
    options: { allowedRsv: 4 },
    code: 'RESERVED_BITS',
    closeCode: 1002,
  },
  {
    name: '64-bit length with the most significant bit set',
    bytes: hex`82 ff 8000000000000000 ${K}`,
    code: 'PAYLOAD_TOO_LONG',
    closeCode: 1002,
  },
  {
    name: '64-bit length beyond 2^53-1',
    bytes: hex`82 ff 0020000000000000 ${K}`,
    code: 'PAYLOAD_TOO_LONG',
    closeCode: 1009,
  },
  {
    name: '2 GiB length header against the default limit',
    bytes: hex`82 ff 0000000080000000 ${K}`,
    code: 'MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    name: 'message over maxMessageSize across fragments',
    bytes: hex`02 83 ${K} 010203  80 82 ${K} 0405`,
    options: { maxMessageSize: 4 },
    code: 'MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  { name: 'invalid UTF-8 in text', bytes: hex`81 82 ${K} c328`, code: 'INVALID_UTF8', closeCode: 1007 },
  {
    name: 'UTF-8 sequence cut at the end of a message',
    bytes: hex`81 82 ${K} e282`,
    code: 'INVALID_UTF8',
    closeCode: 1007,
  },
  {
    name: 'surrogate split across fragments (fails at the first fragment)',
    bytes: hex`01 81 ${K} ed  80 82 ${K} a080`,
    code: 'INVALID_UTF8',
    closeCode: 1007,
  },
  {
    name: 'close with a 1-byte payload',
    bytes: hex`88 81 ${K} 03`,
    code: 'INVALID_CLOSE_PAYLOAD',
    closeCode: 1002,
  },
  {
    name: 'close code 1005 on the wire',
    bytes: hex`88 82 ${K} 03ed`,
    code: 'INVALID_CLOSE_CODE',
    closeCode: 1002,
  },
  { name: 'close code 999', bytes: hex`88 82 ${K} 03e7`, code: 'INVALID_CLOSE_CODE', closeCode: 1002 },
  { name: 'close code 5000', bytes: hex`88 82 ${K} 1388`, code: 'INVALID_CLOSE_CODE', closeCode: 1002 },
  {
    name: 'close reason that is not UTF-8',
    bytes: hex`88 84 ${K} 03e8 c328`,
    code: 'INVALID_UTF8',
    closeCode: 1007,
  },
];

describe('peer violations fail the connection with the right close code', () => {
  for (const c of cases) {
    test(c.name, () => {
      for (const schedule of schedulesFor(c.bytes.length)) {
        const conn = new Connection({ role: c.role ?? 'server', ...c.options });
        const outcome = run(conn, pieces(c.bytes, schedule));
        const fail = outcome.events.find((e) => e.type === 'fail');
        assert.deepEqual(fail, { type: 'fail', code: c.code, closeCode: c.closeCode }, schedule.name);
        assert.equal(conn.state, 'closed', schedule.name);
        if ((c.role ?? 'server') === 'server') {
          assert.equal(closeFrameCode(outcome.sent), c.closeCode, schedule.name);
          assert.equal(outcome.ended, true, 'the server closes TCP after failing');
        } else {
          assert.equal(outcome.ended, false, 'a client waits for the server to close TCP');
        }
      }
    });
  }

  test('input after a failure is discarded', () => {
    const conn = new Connection({ role: 'server' });
    const outcome = run(conn, [hex`81 00`, hex`81 81 ${K} 41`], true);
    assert.deepEqual(
      outcome.events.map((e) => e.type),
      ['fail', 'end'],
    );
  });

  test('RSV1 passes on a data frame when allowed (wslay setAllowedRsvBits)', () => {
    const conn = new Connection({ role: 'server', allowedRsv: 4 });
    const outcome = run(conn, [hex`c1 82 ${K} c328`]); // not UTF-8: opaque to the core
    assert.deepEqual(outcome.events, [{ type: 'message', opcode: 1, data: 'c328' }]);
  });

  test('a message exactly at maxMessageSize is accepted', () => {
    const conn = new Connection({ role: 'server', maxMessageSize: 4 });
    const outcome = run(conn, [hex`02 82 ${K} 0102  80 82 ${K} 0304`]);
    assert.deepEqual(outcome.events, [{ type: 'message', opcode: 2, data: '01020304' }]);
  });
});
