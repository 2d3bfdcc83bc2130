import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, EventContext, isCtrlFrame, type OnMsgRecvArg, Opcode } from '../../src/event/index.ts';
import { SEED, seededRandom } from '../helpers/feed.ts';

/** One direction of an in-memory socket: bounded writes (seeded), reads would-block when empty. */
class Pipe {
  private chunks: Uint8Array[] = [];
  constructor(private readonly random: () => number) {}

  write(_ctx: EventContext, data: Uint8Array): number {
    const n = Math.min(data.length, 1 + Math.floor(this.random() * 40));
    this.chunks.push(data.slice(0, n));
    return n;
  }

  read(ctx: EventContext, buf: Uint8Array): number {
    const chunk = this.chunks.shift();
    if (chunk === undefined) {
      ctx.setError(ErrorCode.WouldBlock);
      return -1;
    }
    const n = Math.min(chunk.length, buf.length);
    buf.set(chunk.subarray(0, n));
    if (n < chunk.length) this.chunks.unshift(chunk.subarray(n));
    return n;
  }
}

interface Peer {
  ctx: EventContext;
  received: string[];
}

/** A client and a server context joined by two pipes; the server echoes data messages (the tutorial). */
function connect(seed: number): { client: Peer; server: Peer } {
  const random = seededRandom(seed);
  const up = new Pipe(random);
  const down = new Pipe(random);
  const text = new TextDecoder();
  const record = (received: string[]) => (_ctx: EventContext, arg: OnMsgRecvArg) =>
    received.push(`${arg.opcode}:${arg.opcode === Opcode.Close ? arg.statusCode : text.decode(arg.msg)}`);
  const clientReceived: string[] = [];
  const serverReceived: string[] = [];
  const server = EventContext.server({
    recv: (ctx, buf) => up.read(ctx, buf),
    send: (ctx, data) => down.write(ctx, data),
    onMsgRecv: (ctx, arg) => {
      record(serverReceived)(ctx, arg);
      // The tutorial's on_msg_recv_callback: echo back non-control messages.
      if (!isCtrlFrame(arg.opcode)) ctx.queueMsg({ opcode: arg.opcode, msg: arg.msg });
    },
  });
  const client = EventContext.client({
    recv: (ctx, buf) => down.read(ctx, buf),
    send: (ctx, data) => up.write(ctx, data),
    onMsgRecv: record(clientReceived),
  });
  return {
    client: { ctx: client, received: clientReceived },
    server: { ctx: server, received: serverReceived },
  };
}

/** The tutorial's event loop, for both peers in turn, until neither wants to read or write. */
function runLoops(client: EventContext, server: EventContext): void {
  let rounds = 0;
  const peers = [client, server];
  while (peers.some((ctx) => ctx.wantRead() || ctx.wantWrite())) {
    assert.ok(++rounds < 10_000, 'the loops terminate');
    for (const ctx of peers) {
      if (!(ctx.wantRead() || ctx.wantWrite())) continue;
      if (ctx.wantRead()) assert.equal(ctx.recv(), 0);
      if (ctx.wantWrite()) assert.equal(ctx.send(), 0);
    }
  }
}

describe('the tutorial loop over an in-memory pipe', () => {
  for (let i = 0; i < 5; i++) {
    const seed = SEED + i;
    test(`client closes: echoes arrive, both loops end (seed ${seed})`, () => {
      const { client, server } = connect(seed);
      client.ctx.queueMsg({ opcode: Opcode.Text, msg: 'hello' });
      client.ctx.queueMsg({ opcode: Opcode.Binary, msg: new Uint8Array(300).fill(0x41) });
      client.ctx.queueMsg({ opcode: Opcode.Ping, msg: 'p' });
      runUntilEchoed(client, server, 2);
      assert.equal(client.ctx.queueClose(1000, 'bye'), 0);
      runLoops(client.ctx, server.ctx);
      assert.deepEqual(client.received.slice(0, 3), ['10:p', '1:hello', `2:${'A'.repeat(300)}`]);
      assert.equal(client.received.at(-1), '8:1000');
      assert.equal(server.ctx.closeReceived, true);
      assert.equal(server.ctx.statusCodeReceived, 1000);
      assert.equal(server.ctx.statusCodeSent, 1000);
      assert.equal(client.ctx.closeSent, true);
      assert.equal(client.ctx.closeReceived, true);
      assert.equal(client.ctx.statusCodeReceived, 1000);
    });

    test(`server closes: the client echoes, both loops end (seed ${seed})`, () => {
      const { client, server } = connect(seed);
      client.ctx.queueMsg({ opcode: Opcode.Text, msg: 'one' });
      runUntilEchoed(client, server, 1);
      assert.equal(server.ctx.queueClose(1001), 0);
      runLoops(client.ctx, server.ctx);
      assert.deepEqual(client.received, ['1:one', '8:1001']);
      assert.equal(client.ctx.statusCodeReceived, 1001);
      assert.equal(client.ctx.statusCodeSent, 1001);
      assert.equal(server.ctx.closeReceived, true);
      assert.equal(server.ctx.statusCodeReceived, 1001);
      assert.equal(server.ctx.wantRead() || server.ctx.wantWrite(), false);
    });
  }
});

/** Runs both peers (recv, then send) until the client got `count` data messages back. */
function runUntilEchoed(client: Peer, server: Peer, count: number): void {
  const echoed = () => client.received.filter((m) => m.startsWith('1:') || m.startsWith('2:')).length;
  for (let rounds = 0; echoed() < count; rounds++) {
    assert.ok(rounds < 10_000, 'progress');
    for (const ctx of [client.ctx, server.ctx]) {
      assert.equal(ctx.recv(), 0);
      assert.equal(ctx.send(), 0);
    }
  }
}
