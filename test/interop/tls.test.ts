/** wss:// with a certificate made for the test: our server and our client against ws and Python `websockets`. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { WebSocket as WsClient } from 'ws';
import { connect, HandshakeError } from '../../src/node/index.ts';
import { makeCertificate } from '../helpers/certificate.ts';
import { SEED } from '../helpers/feed.ts';
import {
  assertSameMessages,
  assertServerSaw,
  cleanPythonReport,
  expectedMessages,
  ourClient,
  ourEchoServer,
  runExchange,
  runPythonClient,
  wsClient,
  wsEchoServer,
} from './exchange.ts';
import { CLOSE_REASON, PEER_TIMEOUT, PING_PAYLOAD, pythonWebsocketsAvailable } from './peers.ts';

const want = expectedMessages();
const havePython = pythonWebsocketsAvailable();

describe('wss://', () => {
  let certificate: ReturnType<typeof makeCertificate>;
  before(() => {
    certificate = makeCertificate();
  });
  after(() => certificate.dispose());

  test('our server, ws client trusting the certificate: the standard exchange', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const { cert, key } = certificate;
    const server = await ourEchoServer({ tls: { cert, key } });
    t.after(() => server.close());
    const ws = new WsClient(`wss://127.0.0.1:${server.port}/`, { ca: cert });
    t.after(() => ws.terminate());
    await once(ws, 'open');
    const side = await server.connections.next();
    const result = await runExchange(wsClient(ws), want);
    assertSameMessages(result.echoes, want, 'echoed to ws over TLS');
    assert.equal(result.pong?.toString('utf8'), PING_PAYLOAD);
    assert.deepEqual(result.close, { code: 1000, reason: '' });
    await assertServerSaw(side, want);
  });

  test('our server, python websockets client with --cafile: the standard exchange', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    if (!havePython) {
      t.skip('python3 websockets not installed');
      return;
    }
    const { cert, key, certPath } = certificate;
    const server = await ourEchoServer({ tls: { cert, key } });
    t.after(() => server.close());
    const url = `wss://127.0.0.1:${server.port}/`;
    const { report, side } = await runPythonClient(t, server, url, ['--cafile', certPath]);
    assert.deepEqual(report, cleanPythonReport(want, null, ''), `seed ${SEED}`);
    await assertServerSaw(side, want);
  });

  test('our client against a ws server on https: the standard exchange with `ca`; refused without it', {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const { cert, key } = certificate;
    const httpsServer = https.createServer({ cert, key });
    httpsServer.listen(0, '127.0.0.1');
    await once(httpsServer, 'listening');
    const server = await wsEchoServer({ server: httpsServer });
    t.after(async () => {
      await server.close();
      httpsServer.closeAllConnections();
      await new Promise((resolve) => httpsServer.close(resolve));
    });
    const url = `wss://127.0.0.1:${server.port}/`;

    await assert.rejects(connect(url), (error: unknown) => {
      assert.ok(error instanceof HandshakeError);
      assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
      return true;
    });

    const ws = await connect(url, { tls: { ca: cert } });
    t.after(() => ws.terminate());
    const side = await server.connections.next();
    const result = await runExchange(ourClient(ws), want);
    assertSameMessages(result.echoes, want, 'echoed to our client over TLS');
    assert.equal(result.pong?.toString('utf8'), PING_PAYLOAD);
    assert.deepEqual(result.close, { code: 1000, reason: CLOSE_REASON, wasClean: true });
    await assertServerSaw(side, want, { close: { code: 1000, reason: CLOSE_REASON } });
  });
});
