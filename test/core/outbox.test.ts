import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connection } from '../../src/core/connection.ts';
import { prepareFrame } from '../../src/core/frame.ts';
import { toHex } from '../helpers/hex.ts';

const payload = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test('replies queued in one turn leave as one chunk', () => {
  const conn = new Connection({ role: 'server' });
  for (let i = 0; i < 10; i++) conn.sendText(payload(32, 0x61));
  const { chunks } = conn.dataToSend();
  assert.equal(chunks.length, 1);
  assert.equal(toHex(chunks[0]), `8120${'61'.repeat(32)}`.repeat(10));
});

test('connections written in turn (a broadcast) still get one chunk each, with their own bytes', () => {
  const conns = Array.from({ length: 3 }, () => new Connection({ role: 'server' }));
  for (let round = 0; round < 5; round++) {
    conns.forEach((conn, i) => {
      conn.sendPrepared(prepareFrame(1, payload(4, 0x30 + i)));
    });
  }
  conns.forEach((conn, i) => {
    const { chunks } = conn.dataToSend();
    assert.equal(chunks.length, 1, `connection ${i}`);
    assert.equal(toHex(chunks[0]), `8104${(0x30 + i).toString(16).repeat(4)}`.repeat(5));
  });
});

test('a large unmasked payload is passed on without a copy', () => {
  const conn = new Connection({ role: 'server' });
  const big = payload(64 * 1024, 0x62);
  conn.sendBinary(big);
  const { chunks } = conn.dataToSend();
  assert.equal(chunks.length, 2);
  assert.equal(toHex(chunks[0]), '827f0000000000010000'); // FIN|BINARY, 64-bit length 65536
  assert.equal(chunks[1], big);
});
