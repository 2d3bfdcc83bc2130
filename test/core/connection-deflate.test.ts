import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Connection } from '../../src/core/connection.ts';
import { negotiateClient, negotiateServer, offerExtensions } from '../../src/core/extensions.ts';
import { DeflateExtension, PerMessageDeflate } from '../../src/core/permessage-deflate.ts';
import { pieces, schedulesFor } from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { run } from '../helpers/run.ts';

// permessage-deflate driven by the Connection: RSV1 handling, limits on the inflated size, failures.
const params = {
  sendWindowBits: 15,
  sendNoContextTakeover: false,
  receiveWindowBits: 15,
  receiveNoContextTakeover: false,
  level: 1,
  memLevel: 8,
  threshold: 0,
};
const deflateClient = (over = {}) =>
  new Connection({ role: 'client', extensions: [new DeflateExtension({ ...params, ...over })] });

describe('Connection with permessage-deflate', () => {
  test('RFC 7692 §7.2.3.1 "Hello" in one frame, under every feed schedule', () => {
    const bytes = hex`c1 07 f248cdc9c90700`;
    for (const schedule of schedulesFor(bytes.length)) {
      const outcome = run(deflateClient(), pieces(bytes, schedule));
      assert.deepEqual(outcome.events, [{ type: 'message', opcode: 1, data: '48656c6c6f' }], schedule.name);
    }
  });

  test('RFC 7692 §7.2.3.1 fragmented, and §7.2.3.2 shared window across messages', () => {
    const bytes = hex`41 03 f248cd  80 04 c9c90700  c1 05 f200110000`;
    for (const schedule of schedulesFor(bytes.length)) {
      const outcome = run(deflateClient(), pieces(bytes, schedule));
      const hello = { type: 'message', opcode: 1, data: '48656c6c6f' };
      assert.deepEqual(outcome.events, [hello, hello], schedule.name);
    }
  });

  test('sends RSV1 on the first frame only, and the RFC bytes for "Hello"', () => {
    const server = new Connection({ role: 'server', extensions: [new DeflateExtension(params)] });
    server.sendText(hex`48656c6c6f`);
    server.sendText(hex`48656c6c6f`);
    server.sendText(hex`4865`, false);
    server.sendContinuation(hex`6c6c6f`, true);
    server.sendPing(hex`70`);
    const sent = server.dataToSend().chunks.map(toHex).join('');
    assert.ok(sent.startsWith('c107f248cdc9c90700c105f200110000'), sent);
    const rest = hex`${sent.slice(32)}`;
    assert.equal(rest[0], 0x41, 'first fragment: RSV1 and text, no FIN');
    const second = 2 + rest[1];
    assert.equal(rest[second], 0x80, 'continuation: no RSV1');
    assert.equal(toHex(rest.subarray(rest.length - 3)), '890170', 'ping uncompressed');
  });

  test('RSV1 on a continuation or control frame is a protocol error', () => {
    for (const bytes of [hex`41 03 f248cd  c0 04 c9c90700`, hex`c9 00`]) {
      const outcome = run(deflateClient(), [bytes]);
      assert.deepEqual(outcome.events.at(-1), { type: 'fail', code: 'RESERVED_BITS', closeCode: 1002 });
    }
  });

  test('a corrupt deflate stream fails with 1007', () => {
    const outcome = run(deflateClient(), [hex`c1 04 ffffffff`]);
    assert.equal(outcome.events.at(-1)?.type, 'fail');
    assert.equal((outcome.events.at(-1) as { closeCode: number }).closeCode, 1007);
  });

  test('maxMessageSize applies to the inflated size (a small frame that inflates past it: 1009)', () => {
    const server = new Connection({ role: 'server', extensions: [new DeflateExtension(params)] });
    server.sendBinary(new Uint8Array(100_000)); // compresses to a few hundred bytes
    const frame = Buffer.concat(server.dataToSend().chunks);
    assert.ok(frame.length < 1000);
    const client = new Connection({
      role: 'client',
      maxMessageSize: 65536,
      extensions: [new DeflateExtension(params)],
    });
    const outcome = run(client, [frame]);
    assert.deepEqual(outcome.events, [{ type: 'fail', code: 'MESSAGE_TOO_BIG', closeCode: 1009 }]);
    const exact = new Connection({
      role: 'client',
      maxMessageSize: 100_000,
      extensions: [new DeflateExtension(params)],
    });
    assert.equal(run(exact, [frame]).events[0].type, 'message', 'exactly at the limit is accepted');
  });

  test('negotiated end to end: a client offer, the server answer, messages both ways', () => {
    const offer = offerExtensions([new PerMessageDeflate()]);
    const answer = negotiateServer(offer, [new PerMessageDeflate({ threshold: 0 })]);
    assert.ok(!('error' in answer));
    const accepted = negotiateClient(answer.header, [new PerMessageDeflate({ threshold: 0 })]);
    assert.ok(!('error' in accepted));
    const client = new Connection({ role: 'client', extensions: accepted.extensions });
    const server = new Connection({ role: 'server', extensions: answer.extensions });
    const text = Buffer.from('{"hello":"world"} '.repeat(50));
    for (let i = 0; i < 3; i++) client.sendText(text);
    const wire = Buffer.concat(client.dataToSend().chunks);
    assert.ok(wire.length < text.length, 'compressed on the wire');
    const outcome = run(server, [wire]);
    assert.equal(outcome.events.length, 3);
    for (const e of outcome.events)
      assert.deepEqual(e, { type: 'message', opcode: 1, data: text.toString('hex') });
  });
});
