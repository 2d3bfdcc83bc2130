/** Our client (`connect()`) against independent servers: ws's WebSocketServer and Python `websockets`. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PerMessageDeflate } from '../../src/core/index.ts';
import { connect } from '../../src/node/index.ts';
import { SEED } from '../helpers/feed.ts';
import {
  assertSameMessages,
  assertServerSaw,
  digest,
  expectedMessages,
  ourClient,
  runExchange,
  wsEchoServer,
} from './exchange.ts';
import { CLOSE_REASON, PEER_TIMEOUT, PING_PAYLOAD, PythonPeer, pythonWebsocketsAvailable } from './peers.ts';

const want = expectedMessages();
const havePython = pythonWebsocketsAvailable();

describe('our client against independent servers', () => {
  for (const deflate of [false, true]) {
    test(`ws WebSocketServer${deflate ? ' with permessage-deflate' : ''}: the standard exchange, and its ping`, {
      timeout: PEER_TIMEOUT,
    }, async (t) => {
      const server = await wsEchoServer({ perMessageDeflate: deflate });
      t.after(() => server.close());
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, {
        extensions: deflate ? [new PerMessageDeflate()] : [],
      });
      t.after(() => ws.terminate());
      const side = await server.connections.next();
      if (deflate) assert.match(ws.extensions, /^permessage-deflate\b/);
      else assert.equal(ws.extensions, '');
      assert.equal(side.extensions, ws.extensions);
      let serverPong: Buffer | undefined;
      const result = await runExchange(ourClient(ws), want, async () => {
        serverPong = await side.ping('from ws \u20ac');
      });
      assertSameMessages(result.echoes, want, 'echoed to our client');
      assert.equal(result.pong?.toString('utf8'), PING_PAYLOAD);
      assert.equal(serverPong?.toString('utf8'), 'from ws \u20ac');
      // ws answers a close with the same code and reason.
      assert.deepEqual(result.close, { code: 1000, reason: CLOSE_REASON, wasClean: true });
      await assertServerSaw(side, want, { close: { code: 1000, reason: CLOSE_REASON } });
    });
  }

  for (const deflate of [false, true]) {
    test(`python websockets server${deflate ? ' with permessage-deflate' : ''}: the standard exchange`, {
      timeout: PEER_TIMEOUT,
    }, async (t) => {
      if (!havePython) {
        t.skip('python3 websockets not installed');
        return;
      }
      const peer = new PythonPeer(deflate ? ['server', '--deflate'] : ['server']);
      t.after(() => peer.kill());
      const { port } = (await peer.nextJson()) as { port: number };
      const ws = await connect(`ws://127.0.0.1:${port}/`, {
        extensions: deflate ? [new PerMessageDeflate()] : [],
      });
      t.after(() => ws.terminate());
      if (deflate) assert.match(ws.extensions, /^permessage-deflate\b/);
      else assert.equal(ws.extensions, '');
      const result = await runExchange(ourClient(ws), want);
      assertSameMessages(result.echoes, want, 'echoed to our client');
      assert.equal(result.pong?.toString('utf8'), PING_PAYLOAD);
      // websockets answers a close with the same code and reason.
      assert.deepEqual(result.close, { code: 1000, reason: CLOSE_REASON, wasClean: true });
      assert.deepEqual(
        await peer.nextJson(),
        {
          closed: true,
          code: 1000,
          reason: CLOSE_REASON,
          protocol: null,
          extensions: ws.extensions,
          received: want.map(digest),
        },
        `what the python server received (seed ${SEED})`,
      );
    });
  }
});
