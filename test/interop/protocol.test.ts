/**
 * Subprotocol negotiation with independent peers. Our server's rule: the first of its own protocols (in its order
 * of preference) that the client offered.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { WebSocket as WsClient } from 'ws';
import { connect } from '../../src/node/index.ts';
import { SEED } from '../helpers/feed.ts';
import {
  assertSameMessages,
  assertServerSaw,
  cleanPythonReport,
  digest,
  type ExchangeClient,
  expectedMessages,
  ourClient,
  ourEchoServer,
  runPythonClient,
  toMsg,
  wsClient,
} from './exchange.ts';
import { CLOSE_REASON, PEER_TIMEOUT, PythonPeer, pythonWebsocketsAvailable } from './peers.ts';

const havePython = pythonWebsocketsAvailable();
const hello = [toMsg('hello')];

/** "hello" and its echo, then a close 1000 with CLOSE_REASON: what the peer saw. */
async function helloAndClose(client: ExchangeClient) {
  client.send(hello[0]!);
  assertSameMessages([await client.next()], hello, 'echo');
  return client.close(1000, CLOSE_REASON);
}

describe('subprotocols with independent peers', () => {
  test("our server ['chat', 'superchat'], ws client offering ['superchat', 'chat']: our preference wins", {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const server = await ourEchoServer({ protocols: ['chat', 'superchat'] });
    t.after(() => server.close());
    const ws = new WsClient(`ws://127.0.0.1:${server.port}/`, ['superchat', 'chat']);
    t.after(() => ws.terminate());
    await once(ws, 'open');
    const side = await server.connections.next();
    assert.equal(ws.protocol, 'chat');
    assert.equal(side.protocol, 'chat');
    assert.deepEqual(await helloAndClose(wsClient(ws)), { code: 1000, reason: '' });
    await assertServerSaw(side, hello, { pinged: false });
  });

  test('our server answers no subprotocol when none is shared, and ws then refuses the connection', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const server = await ourEchoServer({ protocols: ['chat', 'superchat'] });
    t.after(() => server.close());
    const ws = new WsClient(`ws://127.0.0.1:${server.port}/`, ['mqtt']);
    t.after(() => ws.terminate());
    const [error] = (await once(ws, 'error')) as [Error];
    assert.equal(error.message, 'Server sent no subprotocol');
  });

  test("our server ['chat', 'superchat'], python client offering 'superchat': the standard exchange", {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    if (!havePython) {
      t.skip('python3 websockets not installed');
      return;
    }
    const want = expectedMessages();
    const server = await ourEchoServer({ protocols: ['chat', 'superchat'] });
    t.after(() => server.close());
    const url = `ws://127.0.0.1:${server.port}/`;
    const { report, side } = await runPythonClient(t, server, url, ['--protocol', 'superchat']);
    assert.equal(side.protocol, 'superchat');
    assert.deepEqual(report, cleanPythonReport(want, 'superchat', ''), `seed ${SEED}`);
    await assertServerSaw(side, want);
  });

  test("our client offering ['superchat', 'chat'], python server speaking 'chat'", {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    if (!havePython) {
      t.skip('python3 websockets not installed');
      return;
    }
    const peer = new PythonPeer(['server', '--protocol', 'chat']);
    t.after(() => peer.kill());
    const { port } = (await peer.nextJson()) as { port: number };
    const ws = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['superchat', 'chat'] });
    t.after(() => ws.terminate());
    assert.equal(ws.protocol, 'chat');
    assert.deepEqual(await helloAndClose(ourClient(ws)), {
      code: 1000,
      reason: CLOSE_REASON,
      wasClean: true,
    });
    assert.deepEqual(await peer.nextJson(), {
      closed: true,
      code: 1000,
      reason: CLOSE_REASON,
      protocol: 'chat',
      extensions: '',
      received: hello.map(digest),
    });
  });
});
