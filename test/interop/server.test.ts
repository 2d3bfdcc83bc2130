/** Our server (`serve()`) against independent clients: ws, undici's WebSocket and Python `websockets`. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { WebSocket as UndiciWebSocket } from 'undici';
import { WebSocket as WsClient } from 'ws';
import { PerMessageDeflate } from '../../src/core/index.ts';
import { SEED } from '../helpers/feed.ts';
import {
  assertSameMessages,
  assertServerSaw,
  cleanPythonReport,
  expectedMessages,
  ourEchoServer,
  runExchange,
  runPythonClient,
  undiciClient,
  wsClient,
} from './exchange.ts';
import { PEER_TIMEOUT, PING_PAYLOAD, pythonWebsocketsAvailable } from './peers.ts';

const want = expectedMessages();
const havePython = pythonWebsocketsAvailable();

async function openWs(
  url: string,
  options: ConstructorParameters<typeof WsClient>[2] = {},
): Promise<WsClient> {
  const ws = new WsClient(url, options);
  await once(ws, 'open');
  return ws;
}

describe('our server against independent clients', () => {
  test('ws: the standard exchange, checked on both sides', { timeout: PEER_TIMEOUT }, async (t) => {
    const server = await ourEchoServer();
    t.after(() => server.close());
    const ws = await openWs(`ws://127.0.0.1:${server.port}/`);
    t.after(() => ws.terminate());
    const side = await server.connections.next();
    const result = await runExchange(wsClient(ws), want);
    assertSameMessages(result.echoes, want, 'echoed to ws');
    assert.equal(result.pong?.toString('utf8'), PING_PAYLOAD);
    // Our server answers a close with the same code and no reason.
    assert.deepEqual(result.close, { code: 1000, reason: '' });
    await assertServerSaw(side, want);
  });

  test('ws: our server pings, ws answers with the same payload; our close reaches ws with its reason', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const server = await ourEchoServer();
    t.after(() => server.close());
    const ws = await openWs(`ws://127.0.0.1:${server.port}/`);
    t.after(() => ws.terminate());
    const side = await server.connections.next();
    const pong = await side.ping('from the server \u00e9');
    assert.equal(pong.toString('utf8'), 'from the server \u00e9');
    const closed = once(ws, 'close');
    side.close(1000, 'server done');
    const [code, reason] = (await closed) as [number, Buffer];
    assert.deepEqual([code, reason.toString('utf8')], [1000, 'server done']);
    // ws echoes both the code and the reason.
    assert.deepEqual(await side.closed, { code: 1000, reason: 'server done', wasClean: true });
  });

  test('ws with permessage-deflate: the standard exchange, compressed both ways', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const server = await ourEchoServer({ extensions: [new PerMessageDeflate()] });
    t.after(() => server.close());
    const ws = await openWs(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: true });
    t.after(() => ws.terminate());
    const side = await server.connections.next();
    assert.match(ws.extensions, /^permessage-deflate\b/);
    assert.match(side.extensions, /^permessage-deflate\b/);
    const result = await runExchange(wsClient(ws), want);
    assertSameMessages(result.echoes, want, 'echoed to ws (deflate)');
    assert.equal(result.pong?.toString('utf8'), PING_PAYLOAD);
    assert.deepEqual(result.close, { code: 1000, reason: '' });
    await assertServerSaw(side, want);
  });

  test('undici WebSocket: the standard exchange without a client ping; it answers our ping', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const server = await ourEchoServer();
    t.after(() => server.close());
    const ws = new UndiciWebSocket(`ws://127.0.0.1:${server.port}/`);
    t.after(() => ws.close());
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', reject);
    });
    const side = await server.connections.next();
    let serverPong: Buffer | undefined;
    const result = await runExchange(undiciClient(ws), want, async () => {
      serverPong = await side.ping(PING_PAYLOAD);
    });
    assertSameMessages(result.echoes, want, 'echoed to undici');
    assert.equal(serverPong?.toString('utf8'), PING_PAYLOAD);
    assert.deepEqual(result.close, { code: 1000, reason: '', wasClean: true });
    await assertServerSaw(side, want, { pinged: false });
  });

  for (const deflate of [false, true]) {
    test(`python websockets client${deflate ? ' with permessage-deflate' : ''}: the standard exchange`, {
      timeout: PEER_TIMEOUT,
    }, async (t) => {
      if (!havePython) {
        t.skip('python3 websockets not installed');
        return;
      }
      const server = await ourEchoServer(deflate ? { extensions: [new PerMessageDeflate()] } : {});
      t.after(() => server.close());
      const url = `ws://127.0.0.1:${server.port}/`;
      const { report, side } = await runPythonClient(t, server, url, deflate ? ['--deflate'] : []);
      const extensions = report.extensions as string;
      if (deflate) assert.match(extensions, /^permessage-deflate\b/);
      assert.deepEqual(report, cleanPythonReport(want, null, extensions), `seed ${SEED}`);
      assert.equal(side.extensions, extensions);
      await assertServerSaw(side, want);
    });
  }
});
