import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/core/errors.ts';
import { negotiateClient, negotiateServer, offerExtensions } from '../../src/core/extensions.ts';
import { type DeflateExtension, PerMessageDeflate } from '../../src/core/permessage-deflate.ts';
import {
  createDeflateCodec,
  type DeflateCodec,
  ErrorCode,
  EventContext,
  type OnMsgRecvArg,
  Opcode,
  Rsv,
} from '../../src/event/index.ts';
import { SEED, seededRandom } from '../helpers/feed.ts';

/** Bytes written by one side, readable by the other; every write is also kept as the wire record. */
class Wire {
  readonly sent: Uint8Array[] = [];
  private pending: Uint8Array[] = [];

  write = (_ctx: EventContext, data: Uint8Array): number => {
    this.sent.push(data.slice());
    this.pending.push(data.slice());
    return data.length;
  };

  read = (ctx: EventContext, buf: Uint8Array): number => {
    const chunk = this.pending.shift();
    if (chunk === undefined) {
      ctx.setError(ErrorCode.WouldBlock);
      return -1;
    }
    const n = Math.min(chunk.length, buf.length);
    buf.set(chunk.subarray(0, n));
    if (n < chunk.length) this.pending.unshift(chunk.subarray(n));
    return n;
  };

  /** First byte of every frame written so far (a frame per write: the context writes frame by frame). */
  bytes(): Buffer {
    return Buffer.concat(this.sent);
  }
}

/** A compressible JSON-like text of about `size` bytes, seeded. */
function jsonText(random: () => number, size: number): string {
  const items: string[] = [];
  let text = '';
  while (text.length < size) {
    items.push(`{"id":${Math.floor(random() * 1e6)},"side":"${random() < 0.5 ? 'buy' : 'sell'}","qty":1}`);
    text = `{"type":"update","items":[${items.join(',')}]}`;
  }
  return text;
}

interface Peers {
  client: EventContext;
  server: EventContext;
  up: Wire;
  down: Wire;
  received: string[];
  errors: ProtocolError[];
}

/**
 * A client and a server event context over two in-memory wires. The server is the wslay echo tutorial with the
 * codec: decompress what arrives, compress what goes back.
 */
function peers(clientCodec: DeflateCodec, serverCodec: DeflateCodec): Peers {
  const up = new Wire();
  const down = new Wire();
  const received: string[] = [];
  const errors: ProtocolError[] = [];
  const random = seededRandom(SEED);
  const server = EventContext.server({
    recv: up.read,
    send: down.write,
    onMsgRecv(ctx, arg: OnMsgRecvArg) {
      if (arg.opcode !== Opcode.Text && arg.opcode !== Opcode.Binary) return;
      const data = serverCodec.decompress(arg);
      if (data instanceof ProtocolError) {
        errors.push(data);
        ctx.queueClose(data.closeCode, '');
        return;
      }
      const { msg, rsv } = serverCodec.compress(data);
      ctx.queueMsgEx({ opcode: arg.opcode, msg }, rsv);
    },
  });
  const client = EventContext.client({
    recv: down.read,
    send: up.write,
    genmask(_ctx, buf) {
      for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(random() * 256);
      return 0;
    },
    onMsgRecv(_ctx, arg) {
      if (arg.opcode !== Opcode.Text) return;
      const data = clientCodec.decompress(arg);
      assert.ok(!(data instanceof ProtocolError));
      received.push(Buffer.from(data).toString('utf8'));
    },
  });
  client.setAllowedRsvBits(Rsv.Rsv1);
  server.setAllowedRsvBits(Rsv.Rsv1);
  return { client, server, up, down, received, errors };
}

function pump(p: Peers): void {
  for (let i = 0; i < 10; i++) {
    assert.equal(p.client.send(), 0);
    assert.equal(p.server.recv(), 0);
    assert.equal(p.server.send(), 0);
    assert.equal(p.client.recv(), 0);
  }
}

/** Negotiates with the core's factory, as a wslay program would in its own handshake. */
function negotiated(): { client: DeflateExtension; server: DeflateExtension; header: string } {
  const offer = offerExtensions([new PerMessageDeflate()]);
  const answer = negotiateServer(offer, [new PerMessageDeflate({ serverNoContextTakeover: true })]);
  assert.ok(!('error' in answer));
  const client = negotiateClient(answer.header, [new PerMessageDeflate()]);
  assert.ok(!('error' in client));
  return {
    client: client.extensions[0] as DeflateExtension,
    server: answer.extensions[0] as DeflateExtension,
    header: answer.header,
  };
}

describe('event layer: createDeflateCodec', () => {
  test('client and server contexts exchange compressed messages; RSV1 is set on the wire both ways', () => {
    const random = seededRandom(SEED);
    const { client, server, header } = negotiated();
    assert.equal(header, 'permessage-deflate; server_no_context_takeover');
    const clientCodec = createDeflateCodec(client);
    const p = peers(clientCodec, createDeflateCodec(server));
    const texts = [jsonText(random, 1500), jsonText(random, 4000), jsonText(random, 1100)];
    for (const text of texts) {
      const { msg, rsv } = clientCodec.compress(text);
      assert.equal(rsv, Rsv.Rsv1);
      assert.ok(msg.length < text.length / 2, `compressed ${text.length} → ${msg.length}`);
      assert.equal(p.client.queueMsgEx({ opcode: Opcode.Text, msg }, rsv), 0);
    }
    pump(p);
    assert.deepEqual(p.received, texts);
    // Client → server: FIN + RSV1 + text (0xc1), masked; server → client: 0xc1 unmasked.
    const upBytes = p.up.bytes();
    const downBytes = p.down.bytes();
    assert.equal(upBytes[0], 0xc1);
    assert.equal(upBytes[1]! & 0x80, 0x80);
    assert.equal(downBytes[0], 0xc1);
    assert.equal(downBytes[1]! & 0x80, 0);
    const wire = upBytes.length + downBytes.length;
    const plain = 2 * texts.reduce((n, t) => n + t.length, 0);
    assert.ok(wire < plain / 2, `${wire} bytes on the wire for ${plain} bytes of text`);
  });

  test('a message below the threshold goes out uncompressed (RSV1 clear) and comes back as is', () => {
    const p = peers(createDeflateCodec(), createDeflateCodec());
    const small = createDeflateCodec().compress('hello');
    assert.deepEqual(small, { msg: new TextEncoder().encode('hello'), rsv: Rsv.None });
    p.client.queueMsgEx({ opcode: Opcode.Text, msg: small.msg }, small.rsv);
    pump(p);
    assert.deepEqual(p.received, ['hello']);
    assert.equal(p.up.bytes()[0], 0x81);
    assert.equal(p.down.bytes()[0], 0x81);
  });

  test('a compressed message that inflates past maxMessageSize gives 1009; the server closes with it', () => {
    const bomb = createDeflateCodec({ threshold: 0, level: 9 }).compress(new Uint8Array(1 << 20));
    assert.ok(bomb.msg.length < 2048);
    const p = peers(createDeflateCodec(), createDeflateCodec({ maxMessageSize: 64 * 1024 }));
    p.client.queueMsgEx({ opcode: Opcode.Binary, msg: bomb.msg }, bomb.rsv);
    pump(p);
    assert.equal(p.errors.length, 1);
    assert.equal(p.errors[0]!.closeCode, 1009);
    assert.equal(p.client.statusCodeReceived, 1009);
  });

  test('corrupt data and compressed invalid UTF-8 text give 1007', () => {
    const codec = createDeflateCodec();
    const corrupt = codec.decompress({
      opcode: Opcode.Binary,
      rsv: Rsv.Rsv1,
      msg: new Uint8Array([0xff, 0xff]),
    });
    assert.ok(corrupt instanceof ProtocolError);
    assert.equal(corrupt.closeCode, 1007);
    const invalid = createDeflateCodec({ threshold: 0 }).compress(new Uint8Array([0x61, 0xc3, 0x28]));
    const result = createDeflateCodec().decompress({ opcode: Opcode.Text, ...invalid });
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.closeCode, 1007);
    const binary = createDeflateCodec().decompress({ opcode: Opcode.Binary, ...invalid });
    assert.deepEqual(binary, new Uint8Array([0x61, 0xc3, 0x28]));
  });
});
