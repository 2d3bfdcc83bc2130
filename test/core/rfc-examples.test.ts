import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection } from '../../src/core/connection.ts';
import { pieces, schedulesFor } from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { fixedMask, run } from '../helpers/run.ts';

// RFC 6455 §5.7, examples byte for byte, parsed under every feed schedule and produced exactly.
const hello = '48656c6c6f';
const mask = hex`37fa213d`;
const big256 = new Uint8Array(256).map((_, i) => i);
const big64k = new Uint8Array(65536).map((_, i) => (i * 7) & 0xff);

const received: { name: string; role: 'client' | 'server'; bytes: Uint8Array; expect: object[] }[] = [
  {
    name: 'single-frame unmasked text',
    role: 'client',
    bytes: hex`81 05 ${hello}`,
    expect: [{ type: 'message', opcode: 1, data: hello }],
  },
  {
    name: 'single-frame masked text',
    role: 'server',
    bytes: hex`81 85 37fa213d 7f9f4d5158`,
    expect: [{ type: 'message', opcode: 1, data: hello }],
  },
  {
    name: 'fragmented unmasked text',
    role: 'client',
    bytes: hex`01 03 48656c  80 02 6c6f`,
    expect: [{ type: 'message', opcode: 1, data: hello }],
  },
  {
    name: 'unmasked ping',
    role: 'client',
    bytes: hex`89 05 ${hello}`,
    expect: [{ type: 'ping', data: hello }],
  },
  {
    name: 'masked pong',
    role: 'server',
    bytes: hex`8a 85 37fa213d 7f9f4d5158`,
    expect: [{ type: 'pong', data: hello }],
  },
  {
    name: '256 bytes binary, 16-bit length',
    role: 'client',
    bytes: hex`82 7e 0100 ${big256}`,
    expect: [{ type: 'message', opcode: 2, data: toHex(big256) }],
  },
];

describe('RFC 6455 §5.7 examples', () => {
  for (const c of received) {
    test(`parses ${c.name} under every feed schedule`, () => {
      for (const schedule of schedulesFor(c.bytes.length)) {
        const outcome = run(new Connection({ role: c.role }), pieces(c.bytes, schedule));
        assert.deepEqual(outcome.events, c.expect, schedule.name);
      }
    });
  }

  test('parses 64 KiB binary with a 64-bit length (whole, 1-byte, random splits)', () => {
    const bytes = hex`82 7f 0000000000010000 ${big64k}`;
    for (const schedule of schedulesFor(12)) {
      if (schedule.name.startsWith('split@')) continue; // 2-way splits of the header are covered below
      const outcome = run(new Connection({ role: 'client' }), pieces(bytes, schedule));
      assert.deepEqual(outcome.events, [{ type: 'message', opcode: 2, data: toHex(big64k) }], schedule.name);
    }
    for (let k = 1; k < 12; k++) {
      const outcome = run(new Connection({ role: 'client' }), [bytes.slice(0, k), bytes.slice(k)]);
      assert.equal(outcome.events.length, 1, `split@${k}`);
    }
  });

  test('a ping is answered with a pong carrying the same payload', () => {
    const outcome = run(new Connection({ role: 'client', randomMask: fixedMask(mask) }), [
      hex`89 05 ${hello}`,
    ]);
    assert.equal(outcome.sent, '8a8537fa213d7f9f4d5158');
  });

  test('a close is echoed with its code, and with its reason when echoCloseReason is on', () => {
    // A fresh copy for each run: the connection unmasks its input in place.
    const close = () => hex`88 85 37fa213d 385a434452`;
    assert.equal(run(new Connection({ role: 'server' }), [close()]).sent, '88020fa0');
    assert.equal(
      run(new Connection({ role: 'server', echoCloseReason: true }), [close()]).sent,
      '88050fa0627965',
    );
  });

  test('with autoPong off, a ping is reported and nothing is sent', () => {
    const outcome = run(new Connection({ role: 'client', autoPong: false }), [hex`89 05 ${hello}`]);
    assert.deepEqual(outcome.events, [{ type: 'ping', data: hello }]);
    assert.equal(outcome.sent, '');
  });

  test('produces the example frames exactly', () => {
    const server = new Connection({ role: 'server' });
    server.sendText(hex`${hello}`);
    server.sendText(hex`48656c`, false);
    server.sendContinuation(hex`6c6f`, true);
    server.sendPing(hex`${hello}`);
    server.sendBinary(big256);
    server.sendBinary(big64k);
    const sent = server.dataToSend().chunks.map(toHex).join('');
    const expected = `8105${hello}010348656c80026c6f8905${hello}827e0100${toHex(big256)}`;
    assert.equal(sent, `${expected}827f0000000000010000${toHex(big64k)}`);

    const client = new Connection({ role: 'client', randomMask: fixedMask(mask) });
    client.sendText(hex`${hello}`);
    client.sendPong(hex`${hello}`);
    assert.equal(
      client.dataToSend().chunks.map(toHex).join(''),
      '818537fa213d7f9f4d5158' + '8a8537fa213d7f9f4d5158',
    );
  });

  test('sending never modifies the caller payload', () => {
    const payload = hex`${hello}`;
    const client = new Connection({ role: 'client', randomMask: fixedMask(mask) });
    client.sendBinary(payload);
    client.dataToSend();
    assert.equal(toHex(payload), hello);
  });
});
