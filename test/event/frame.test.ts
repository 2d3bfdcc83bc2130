import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, FrameContext, type FrameIocb, Opcode } from '../../src/event/index.ts';
import { pieces, schedulesFor } from '../helpers/feed.ts';
import { hex, toHex } from '../helpers/hex.ts';

const noRecv = () => -1;
const key = hex`37 fa 21 3d`;
const genmask = (buf: Uint8Array) => {
  buf.set(key);
  return 0;
};

function iocb(fields: Partial<FrameIocb>): FrameIocb {
  return {
    fin: true,
    rsv: 0,
    opcode: Opcode.Text,
    payloadLength: 0,
    mask: false,
    data: new Uint8Array(0),
    ...fields,
  };
}

/** Sends one frame through a callback taking at most `budget` bytes per call; returns the wire bytes. */
function sendFrame(frame: FrameIocb, limit: number, budget = Number.POSITIVE_INFINITY): string {
  let out = '';
  let left = budget;
  const ctx = new FrameContext({
    send: (data) => {
      const n = Math.min(data.length, limit, left);
      if (n === 0) return ErrorCode.WouldBlock;
      left -= n;
      out += toHex(data.subarray(0, n));
      return n;
    },
    recv: noRecv,
    genmask,
  });
  let data = frame.data;
  for (let calls = 0; ; calls++) {
    assert.ok(calls < 1000);
    const r = ctx.send({ ...frame, data });
    if (r === ErrorCode.WantWrite) {
      left = Number.POSITIVE_INFINITY;
      continue;
    }
    assert.ok(r >= 0, `send returned ${r}`);
    data = data.subarray(r);
    if (data.length === 0 && out.length > 0) break;
  }
  return out;
}

describe('FrameContext', () => {
  const hello = new TextEncoder().encode('Hello');

  test('send: masked frame (RFC 6455 §5.7), whole, one byte at a time, blocked at every byte', () => {
    const frame = iocb({ payloadLength: 5, mask: true, data: hello });
    const expected = '818537fa213d7f9f4d5158';
    assert.equal(sendFrame(frame, Number.POSITIVE_INFINITY), expected);
    assert.equal(sendFrame(frame, 1), expected);
    for (let k = 0; k < 11; k++)
      assert.equal(sendFrame(frame, Number.POSITIVE_INFINITY, k), expected, `k=${k}`);
  });

  test('send: a 300-byte unmasked binary frame uses the 16-bit length', () => {
    const data = new Uint8Array(300).fill(1);
    const out = sendFrame(iocb({ opcode: Opcode.Binary, payloadLength: 300, data }), 7);
    assert.equal(out, `827e012c${'01'.repeat(300)}`);
  });

  test('send: InvalidArgument for frames that cannot be encoded', () => {
    const ctx = new FrameContext({ send: (d) => d.length, recv: noRecv });
    assert.equal(ctx.send(iocb({ opcode: Opcode.Ping, fin: false })), ErrorCode.InvalidArgument);
    assert.equal(ctx.send(iocb({ opcode: Opcode.Ping, payloadLength: 126 })), ErrorCode.InvalidArgument);
    assert.equal(ctx.send(iocb({ payloadLength: 1, data: hex`0102` })), ErrorCode.InvalidArgument);
    assert.equal(ctx.send(iocb({ opcode: 16 })), ErrorCode.InvalidArgument);
  });

  test('write: 14-byte buffers give the bytes send gives; payloadWritten counts payload only', () => {
    const data = new Uint8Array(40).map((_, i) => i);
    const frame = iocb({ opcode: Opcode.Binary, payloadLength: 40, mask: true, data });
    const expected = sendFrame(frame, Number.POSITIVE_INFINITY);
    const ctx = new FrameContext({ send: () => 0, recv: noRecv, genmask });
    const buf = new Uint8Array(14);
    let out = '';
    let rest = data;
    let payload = 0;
    while (payload < 40) {
      const r = ctx.write({ ...frame, data: rest }, buf);
      assert.ok(typeof r === 'object');
      out += toHex(buf.subarray(0, r.written));
      payload += r.payloadWritten;
      rest = rest.subarray(r.payloadWritten);
    }
    assert.equal(out, expected);
    assert.equal(ctx.write(frame, new Uint8Array(13)), ErrorCode.InvalidArgument);
  });

  test('recv: header fields and unmasked payload pieces under every feed schedule', () => {
    const bytes = hex`01 83 37fa213d 7f9f4d  89 80 37fa213d  80 82 37fa213d 5b95`;
    for (const schedule of schedulesFor(bytes.length)) {
      const input = pieces(bytes, schedule);
      let blocked = false;
      const ctx = new FrameContext({
        send: () => 0,
        recv: (buf) => {
          if (blocked || input.length === 0) {
            blocked = false;
            return ErrorCode.WouldBlock;
          }
          blocked = true;
          const piece = input.shift()!;
          buf.set(piece);
          return piece.length;
        },
      });
      const frames: string[] = [];
      for (let calls = 0; calls < 200; calls++) {
        const io = iocb({});
        const r = ctx.recv(io);
        if (r === ErrorCode.WantRead) {
          if (input.length === 0 && !blocked) break;
          continue;
        }
        assert.equal(r, io.data.length);
        frames.push(
          `${io.fin ? 'F' : '-'}${io.opcode}/${io.payloadLength}${io.mask ? 'M' : ''}:${toHex(io.data)}`,
        );
      }
      const merged = frames.reduce<string[]>((acc, f) => {
        const head = f.slice(0, f.indexOf(':'));
        const last = acc.at(-1);
        if (last?.startsWith(`${head}:`) && head !== 'F9/0M')
          acc[acc.length - 1] = last + f.slice(head.length + 1);
        else acc.push(f);
        return acc;
      }, []);
      assert.deepEqual(merged, ['-1/3M:48656c', 'F9/0M:', 'F0/2M:6c6f'], schedule.name);
    }
  });

  test('recv: Proto for a fragmented control frame or a 64-bit length with its top bit set', () => {
    for (const bytes of [hex`09 00`, hex`82 7f 8000000000000000`]) {
      let given = false;
      const ctx = new FrameContext({
        send: () => 0,
        recv: (buf) => {
          if (given) return ErrorCode.WouldBlock;
          given = true;
          buf.set(bytes);
          return bytes.length;
        },
      });
      assert.equal(ctx.recv(iocb({})), ErrorCode.Proto);
    }
  });
});
