/**
 * A broadcast holds its distinct frames, not sockets × frames: 2,000 connections each given the same 50 prepared
 * 1 KiB frames (before anything is taken for the wire) add about the frames' size to the process's
 * ArrayBuffer memory, not 2,000 × 50 KiB. Each connection's bytes are still the frames, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connection } from '../../src/core/connection.ts';
import { prepareFrame } from '../../src/core/frame.ts';

test('a broadcast burst holds the distinct frames, not sockets × frames', () => {
  const sockets = 2_000;
  const frames = Array.from({ length: 50 }, (_, i) => prepareFrame(2, new Uint8Array(1024).fill(i)));
  const connections = Array.from({ length: sockets }, () => new Connection({ role: 'server' }));
  for (const c of connections) c.dataToSend(); // nothing queued yet: warms up what a first take allocates
  const before = process.memoryUsage().arrayBuffers;
  for (const frame of frames) for (const c of connections) c.sendPrepared(frame);
  const grown = process.memoryUsage().arrayBuffers - before;
  // sockets × frames would be 2,000 × 50 × 1,028 bytes ≈ 100 MB; the frames themselves are 51 KB.
  const bound = 4 * 1024 * 1024;
  assert.ok(grown < bound, `ArrayBuffer memory grew by ${grown} bytes during the burst (bound ${bound})`);
  for (const c of [connections[0]!, connections[sockets - 1]!]) {
    const { chunks } = c.dataToSend();
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes.length, 50 * 1028);
    for (let i = 0; i < 50; i++) {
      assert.deepEqual(bytes.subarray(i * 1028, (i + 1) * 1028), Buffer.from(frames[i]!.bytes), `frame ${i}`);
    }
  }
});
