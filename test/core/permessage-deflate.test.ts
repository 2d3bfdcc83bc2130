import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CloseCode, Rsv } from '../../src/core/constants.ts';
import { ProtocolError, UsageError } from '../../src/core/errors.ts';
import { negotiateClient, negotiateServer, offerExtensions } from '../../src/core/extensions.ts';
import {
  DeflateExtension,
  type DeflateParams,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from '../../src/core/permessage-deflate.ts';
import { createRawDeflater } from '../../src/core/zlib-platform.ts';

/** hex`c1 07 f2 48` → bytes; whitespace is ignored. */
function hex(strings: TemplateStringsArray): Uint8Array {
  return new Uint8Array(Buffer.from(strings.join('').replace(/\s+/g, ''), 'hex'));
}
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (chunks: readonly Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(chunks));

function params(overrides: Partial<DeflateParams> = {}): DeflateParams {
  return {
    sendWindowBits: 15,
    sendNoContextTakeover: false,
    receiveWindowBits: 15,
    receiveNoContextTakeover: false,
    level: 1,
    memLevel: 8,
    threshold: 0,
    ...overrides,
  };
}

/** Decodes one whole message given as its frames' payloads; throws on a ProtocolError. */
function decodeMessage(codec: DeflateExtension, frames: readonly Uint8Array[], limit = 1 << 30): Uint8Array {
  const out: Uint8Array[] = [];
  frames.forEach((payload, i) => {
    const result = codec.decode(payload, i === frames.length - 1, limit);
    if (result instanceof ProtocolError) throw result;
    out.push(...result);
  });
  return concat(out);
}

/** The first byte of an unmasked frame: FIN | RSV bits | opcode, the way the core will write it. */
function frame(fin: boolean, rsv: number, opcode: number, payload: Uint8Array): Uint8Array {
  assert.ok(payload.length < 126);
  return new Uint8Array([(fin ? 0x80 : 0) | (rsv << 4) | opcode, payload.length, ...payload]);
}

describe('RFC 7692 §7.2.3 examples', () => {
  test('"Hello" compresses to f2 48 cd c9 c9 07 00 in a single RSV1 frame', () => {
    const { payload, rsv } = new DeflateExtension(params()).encode(text('Hello'), true, true);
    assert.equal(rsv, Rsv.Rsv1);
    assert.deepEqual(payload, hex`f2 48 cd c9 c9 07 00`);
    assert.deepEqual(frame(true, rsv, 0x1, payload), hex`c1 07 f2 48 cd c9 c9 07 00`);
  });

  test('the second "Hello" with context takeover refers back: f2 00 11 00 00', () => {
    const codec = new DeflateExtension(params());
    codec.encode(text('Hello'), true, true);
    assert.deepEqual(codec.encode(text('Hello'), true, true).payload, hex`f2 00 11 00 00`);
  });

  test('without context takeover the second "Hello" repeats the first bytes', () => {
    const codec = new DeflateExtension(params({ sendNoContextTakeover: true }));
    assert.deepEqual(codec.encode(text('Hello'), true, true).payload, hex`f2 48 cd c9 c9 07 00`);
    assert.deepEqual(codec.encode(text('Hello'), true, true).payload, hex`f2 48 cd c9 c9 07 00`);
  });

  test('decodes both "Hello" messages of the context takeover example', () => {
    const codec = new DeflateExtension(params());
    assert.deepEqual(decodeMessage(codec, [hex`f2 48 cd c9 c9 07 00`]), text('Hello'));
    assert.deepEqual(decodeMessage(codec, [hex`f2 00 11 00 00`]), text('Hello'));
  });

  test('decodes "Hello" in a stored block: c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00', () => {
    const wire = hex`c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00`; // FIN|RSV1|TEXT, len 11, stored block
    assert.equal(wire[0]! & 0x40, 0x40);
    assert.deepEqual(decodeMessage(new DeflateExtension(params()), [wire.subarray(2)]), text('Hello'));
  });

  test('level 0 produces the stored-block form of the RFC', () => {
    const { payload } = new DeflateExtension(params({ level: 0 })).encode(text('Hello'), true, true);
    assert.deepEqual(payload, hex`00 05 00 fa ff 48 65 6c 6c 6f 00`);
  });

  test('decodes a message ending with a BFINAL block (f3 48 cd c9 c9 07 00 00), then keeps working', () => {
    const codec = new DeflateExtension(params());
    assert.deepEqual(decodeMessage(codec, [hex`f3 48 cd c9 c9 07 00 00`]), text('Hello'));
    // The stream ended: the next message starts a new one.
    assert.deepEqual(decodeMessage(codec, [hex`f2 48 cd c9 c9 07 00`]), text('Hello'));
  });

  test('decodes two DEFLATE blocks in one message (f2 48 05 00 00 00 ff ff ca c9 c9 07 00)', () => {
    const codec = new DeflateExtension(params());
    assert.deepEqual(decodeMessage(codec, [hex`f2 48 05 00 00 00 ff ff ca c9 c9 07 00`]), text('Hello'));
  });

  test('decodes the fragmented example 41 03 f2 48 cd + 80 04 c9 c9 07 00', () => {
    const first = hex`41 03 f2 48 cd`; // RSV1|TEXT, not FIN, len 3
    const last = hex`80 04 c9 c9 07 00`; // FIN|CONTINUATION, len 4
    assert.deepEqual(
      decodeMessage(new DeflateExtension(params()), [first.subarray(2), last.subarray(2)]),
      text('Hello'),
    );
  });

  test('the empty message compresses to 00 (§7.2.3.6), with and without previous context', () => {
    const codec = new DeflateExtension(params());
    assert.deepEqual(codec.encode(new Uint8Array(0), true, true).payload, hex`00`);
    codec.encode(text('Hello'), true, true);
    assert.deepEqual(codec.encode(new Uint8Array(0), true, true).payload, hex`00`);
    const decoder = new DeflateExtension(params());
    assert.deepEqual(decodeMessage(decoder, [hex`00`]), new Uint8Array(0));
    assert.deepEqual(decodeMessage(decoder, [hex`f2 48 cd c9 c9 07 00`]), text('Hello'));
  });
});

describe('encoding', () => {
  test('a single-frame message below the threshold is sent as is, with rsv 0', () => {
    const codec = new DeflateExtension(params({ threshold: 6 }));
    const data = text('Hello');
    const { payload, rsv } = codec.encode(data, true, true);
    assert.equal(rsv, Rsv.None);
    assert.equal(payload, data);
    assert.equal(codec.encode(text('Hello!'), true, true).rsv, Rsv.Rsv1);
  });

  test('a fragmented message is compressed even if its first fragment is below the threshold', () => {
    const codec = new DeflateExtension(params({ threshold: 1024 }));
    const a = codec.encode(text('Hel'), true, false);
    const b = codec.encode(text('lo'), false, true);
    assert.equal(a.rsv, Rsv.Rsv1);
    assert.equal(b.rsv, Rsv.None); // RFC 7692 §6.1: RSV1 only on the first frame
    assert.deepEqual(decodeMessage(new DeflateExtension(params()), [a.payload, b.payload]), text('Hello'));
  });

  test('non-final fragments keep the sync-flush tail; an empty final fragment is 00', () => {
    const codec = new DeflateExtension(params());
    const a = codec.encode(text('Hello'), true, false);
    assert.deepEqual(a.payload.subarray(-4), hex`00 00 ff ff`);
    const b = codec.encode(new Uint8Array(0), false, true);
    assert.deepEqual(b.payload, hex`00`);
    assert.deepEqual(decodeMessage(new DeflateExtension(params()), [a.payload, b.payload]), text('Hello'));
  });

  test('windowBits 8 deflates with 9 and stays within a 256-byte window', () => {
    const codec = new DeflateExtension(params({ sendWindowBits: 8 }));
    const data = text('abcdefghijklmnopqrstuvwxyz0123456789'.repeat(40));
    const { payload } = codec.encode(data, true, true);
    assert.ok(payload.length < data.length / 4);
    assert.deepEqual(decodeMessage(new DeflateExtension(params({ receiveWindowBits: 8 })), [payload]), data);
  });

  test('does not modify its input', () => {
    const data = text('Hello Hello Hello');
    const copy = data.slice();
    new DeflateExtension(params()).encode(data, true, true);
    assert.deepEqual(data, copy);
  });
});

describe('decoding failures', () => {
  test('corrupt data fails with EXTENSION_ERROR, 1007', () => {
    const result = new DeflateExtension(params()).decode(hex`ff ff ff ff`, true, 1000);
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.code, 'EXTENSION_ERROR');
    assert.equal(result.closeCode, CloseCode.InvalidFramePayloadData);
  });

  test('a back reference beyond the negotiated window is accepted (we inflate with a 15-bit window)', () => {
    // zlib checks distances against the window it kept from earlier calls, so refer across messages.
    const data = new Uint8Array(1000).map((_, i) => (i * 7919) % 251);
    const sender = new DeflateExtension(params({ sendWindowBits: 15 }));
    const m1 = sender.encode(data, true, true).payload;
    const m2 = sender.encode(data, true, true).payload; // one match, distance 1000
    assert.ok(m2.length < 20);
    const wide = new DeflateExtension(params({ receiveWindowBits: 10 }));
    decodeMessage(wide, [m1]);
    assert.deepEqual(decodeMessage(wide, [m2]), data);
    // Under a 9-bit window zlib would refuse distance 1000 or not depending on how the bytes were chunked;
    // one rule for every chunking: accept, as ws does.
    const narrow = new DeflateExtension(params({ receiveWindowBits: 9 }));
    decodeMessage(narrow, [m1]);
    assert.deepEqual(decodeMessage(narrow, [m2]), data);
  });

  test('without context takeover from the peer, a back reference to the previous message fails', () => {
    const sender = new DeflateExtension(params());
    const m1 = sender.encode(text('Hello'), true, true).payload;
    const m2 = sender.encode(text('Hello'), true, true).payload; // f2 00 11 00 00: refers to m1
    const keeps = new DeflateExtension(params());
    decodeMessage(keeps, [m1]);
    assert.deepEqual(decodeMessage(keeps, [m2]), text('Hello'));
    const resets = new DeflateExtension(params({ receiveNoContextTakeover: true }));
    decodeMessage(resets, [m1]);
    const result = resets.decode(m2, true, 1000);
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.closeCode, 1007);
  });

  test('the limit is exact: a message of limit bytes passes, limit - 1 fails with 1009', () => {
    const data = text('x'.repeat(5000));
    const { payload } = new DeflateExtension(params()).encode(data, true, true);
    assert.equal(decodeMessage(new DeflateExtension(params()), [payload], 5000).length, 5000);
    const result = new DeflateExtension(params()).decode(payload, true, 4999);
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.code, 'MESSAGE_TOO_BIG');
    assert.equal(result.closeCode, CloseCode.MessageTooBig);
  });

  test('a few KiB of deflate data that inflate to 4 MiB stop at a 1 MiB limit', () => {
    const deflater = createRawDeflater({ windowBits: 15, level: 9, memLevel: 9 });
    const out = deflater.push(new Uint8Array(4 << 20), 'sync');
    deflater.close();
    assert.ok(!('error' in out));
    const bomb = concat(out.chunks);
    assert.ok(bomb.length < 8 * 1024, `${bomb.length} bytes`);
    const result = new DeflateExtension(params()).decode(bomb, true, 1 << 20);
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.closeCode, 1009);
  });

  test('a 1 GiB bomb stops with 1009 at the limit, memory bounded (+64 MiB)', () => {
    // DEFLATE's best ratio is ~1032:1, so 1 GiB needs ~1 MiB of input: each further MiB of zeros (a window full
    // of zeros already) deflates to the same 1036 bytes, so the bomb is one head block and 1100 copies.
    const deflater = createRawDeflater({ windowBits: 15, level: 9, memLevel: 9 });
    const zeros = new Uint8Array(1 << 20);
    const blocks = [0, 1, 2].map(() => {
      const out = deflater.push(zeros, 'sync');
      assert.ok(!('error' in out));
      return concat(out.chunks);
    });
    deflater.close();
    assert.deepEqual(blocks[1], blocks[2]);
    // The construction is right: head + 2 copies inflate to exactly 3 MiB.
    assert.equal(
      decodeMessage(new DeflateExtension(params()), [blocks[0]!, blocks[1]!, blocks[2]!]).length,
      3 << 20,
    );
    // One frame payload of ~1.1 MiB, decoded in one call (a frame-data event may carry all of it).
    const bomb = concat([blocks[0]!, ...Array.from({ length: 1100 }, () => blocks[1]!)]); // 1101 MiB inflated
    assert.ok(bomb.length < 1.2 * (1 << 20));
    const limit = 16 << 20;
    const before = process.memoryUsage();
    const codec = new DeflateExtension(params());
    const result = codec.decode(bomb, true, limit);
    const after = process.memoryUsage();
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.closeCode, 1009);
    const bound = 64 << 20;
    assert.ok(after.rss - before.rss < bound, `rss grew ${(after.rss - before.rss) >> 20} MiB`);
    assert.ok(after.arrayBuffers - before.arrayBuffers < bound, 'arrayBuffers');
    codec.dispose();
  });
});

describe('round trips', () => {
  const message = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc
      .array(fc.constantFrom('the ', 'quick ', 'brown ', 'fox ', '{"a":1}', '\u00e9'), { maxLength: 400 })
      .map((words) => text(words.join(''))),
  );
  /** A message split into 1..4 fragments, each fragment's payload later split into 1..3 decode calls. */
  const fragmented = message.chain((data) =>
    fc
      .uniqueArray(fc.integer({ min: 0, max: data.length }), { maxLength: 3 })
      .map((cuts) => [0, ...cuts.sort((a, b) => a - b), data.length])
      .map((points) => ({ data, parts: points.slice(1).map((end, i) => data.subarray(points[i], end)) })),
  );

  function sendAndReceive(
    sender: DeflateExtension,
    receiver: DeflateExtension,
    parts: Uint8Array[],
    seed: number,
  ) {
    const decoded: Uint8Array[] = [];
    let compressed = false;
    parts.forEach((part, i) => {
      const { payload, rsv } = sender.encode(part, i === 0, i === parts.length - 1);
      if (i === 0) compressed = rsv === Rsv.Rsv1;
      else assert.equal(rsv, Rsv.None);
      if (!compressed) {
        decoded.push(payload);
        return;
      }
      const cut = payload.length === 0 ? 0 : seed % (payload.length + 1);
      for (const [chunk, last] of [
        [payload.subarray(0, cut), false],
        [payload.subarray(cut), true],
      ] as const) {
        const result = receiver.decode(chunk, last && i === parts.length - 1, 1 << 30);
        if (result instanceof ProtocolError) throw result;
        decoded.push(...result);
      }
    });
    return concat(decoded);
  }

  test('random messages, fragmentation, window bits, levels and context modes', () => {
    fc.assert(
      fc.property(
        fc.record({
          windowBits: fc.integer({ min: 8, max: 15 }),
          noContextTakeover: fc.boolean(),
          level: fc.integer({ min: 0, max: 9 }),
          memLevel: fc.integer({ min: 1, max: 9 }),
          threshold: fc.constantFrom(0, 100, 1024),
        }),
        fc.array(fc.tuple(fragmented, fc.nat()), { minLength: 1, maxLength: 5 }),
        (o, messages) => {
          const sender = new DeflateExtension(
            params({ ...o, sendWindowBits: o.windowBits, sendNoContextTakeover: o.noContextTakeover }),
          );
          const receiver = new DeflateExtension(
            params({ receiveWindowBits: o.windowBits, receiveNoContextTakeover: o.noContextTakeover }),
          );
          for (const [{ data, parts }, seed] of messages) {
            assert.deepEqual(sendAndReceive(sender, receiver, parts, seed), data);
          }
          sender.dispose();
          receiver.dispose();
        },
      ),
      { numRuns: 150 },
    );
  });

  const windowBits = fc.option(fc.integer({ min: 8, max: 15 }), { nil: undefined });
  const options: fc.Arbitrary<PerMessageDeflateOptions> = fc.record({
    serverNoContextTakeover: fc.boolean(),
    clientNoContextTakeover: fc.boolean(),
    serverMaxWindowBits: windowBits,
    clientMaxWindowBits: fc.oneof(windowBits, fc.boolean()),
    threshold: fc.constant(0),
  });

  test('negotiated pairs interoperate in both directions for any options', () => {
    fc.assert(
      fc.property(
        options,
        options,
        fc.array(fragmented, { minLength: 1, maxLength: 4 }),
        (co, so, messages) => {
          const clientFactory = new PerMessageDeflate(co);
          const server = negotiateServer(offerExtensions([clientFactory]), [new PerMessageDeflate(so)]);
          assert.ok(!('error' in server));
          if (server.extensions.length === 0) return; // declined: a valid outcome
          const client = negotiateClient(server.header, [clientFactory]);
          assert.ok(!('error' in client), 'error' in client ? client.error : '');
          const [c, s] = [client.extensions[0] as DeflateExtension, server.extensions[0] as DeflateExtension];
          assert.equal(c.params.sendWindowBits <= s.params.receiveWindowBits, true);
          assert.equal(s.params.sendWindowBits <= c.params.receiveWindowBits, true);
          for (const { data, parts } of messages) {
            assert.deepEqual(sendAndReceive(c, s, parts, data.length), data);
            assert.deepEqual(sendAndReceive(s, c, parts, 7), data);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('options', () => {
  for (const bad of [
    { level: 10 },
    { level: -1 },
    { memLevel: 0 },
    { memLevel: 10 },
    { serverMaxWindowBits: 7 },
    { clientMaxWindowBits: 16 },
    { maxWindowBits: 9.5 },
    { threshold: -1 },
  ]) {
    test(`rejects ${JSON.stringify(bad)} with a UsageError`, () => {
      assert.throws(() => new PerMessageDeflate(bad), UsageError);
    });
  }

  test('defaults: level 1, memLevel 8, threshold 1024, window 15, context takeover', () => {
    const result = new PerMessageDeflate().accept([[]]);
    assert.ok(result !== undefined);
    assert.deepEqual((result.extension as DeflateExtension).params, params({ threshold: 1024 }));
  });
});
