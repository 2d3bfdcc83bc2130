import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Opcode } from '../../src/core/constants.ts';
import { acceptKey } from '../../src/core/handshake.ts';
import {
  connect,
  HandshakeError,
  serve,
  type WebSocket,
  type WebSocketServer,
} from '../../src/node/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import {
  clientFrame,
  collect,
  exchange,
  KEY,
  openSocket,
  rawClient,
  until,
  upgradeRequest,
} from '../helpers/net.ts';

type CloseArgs = [code: number, reason: string, wasClean: boolean];

/** The code of the single close frame in `sent` (hex), which must be all that was sent. */
function closeFrameCode(sent: string): number {
  assert.equal(sent.slice(0, 2), '88', `a close frame, not ${sent}`);
  assert.equal(sent.length, 4 + 2 * Number.parseInt(sent.slice(2, 4), 16), 'nothing after the close frame');
  return Number.parseInt(sent.slice(4, 8), 16);
}

function statusLine(response: string): string {
  return response.slice(0, response.indexOf('\r\n'));
}

describe('server: requests that are not a valid handshake', () => {
  let server: WebSocketServer;
  let port: number;
  before(async () => {
    server = await serve({ port: 0, host: '127.0.0.1', maxHeaderSize: 2048, path: '/ws' });
    port = server.port;
  });
  after(() => server.close());

  const req = (extra: string, path = '/ws') => upgradeRequest(port, extra, path);

  test('garbage request line → 400', async () => {
    assert.match(statusLine(await exchange(port, 'HELLO THERE\r\n\r\n')), /^HTTP\/1\.1 400 /);
  });

  test('missing or malformed Sec-WebSocket-Key → 400', async () => {
    const missing = req('').replace(`Sec-WebSocket-Key: ${KEY}\r\n`, '');
    assert.match(statusLine(await exchange(port, missing)), /^HTTP\/1\.1 400 /);
    const malformed = req('').replace(KEY, 'c2hvcnQ=');
    assert.match(statusLine(await exchange(port, malformed)), /^HTTP\/1\.1 400 /);
  });

  test('version 8 → 426 with Sec-WebSocket-Version: 13', async () => {
    const response = await exchange(port, req('').replace('Version: 13', 'Version: 8'));
    assert.match(statusLine(response), /^HTTP\/1\.1 426 /);
    assert.match(response, /\r\nSec-WebSocket-Version: 13\r\n/i);
  });

  test('POST upgrade → 405 with Allow: GET', async () => {
    const response = await exchange(port, req('').replace(/^GET/, 'POST'));
    assert.match(statusLine(response), /^HTTP\/1\.1 405 /);
    assert.match(response, /\r\nAllow: GET\r\n/i);
  });

  test('a request head over maxHeaderSize → 431', async () => {
    const response = await exchange(port, req(`X-Big: ${'a'.repeat(4096)}\r\n`));
    assert.match(statusLine(response), /^HTTP\/1\.1 431 /);
  });

  test('another path → 404; a plain GET → 426', async () => {
    assert.match(statusLine(await exchange(port, req('', '/other'))), /^HTTP\/1\.1 404 /);
    const plain = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    assert.match(statusLine(await exchange(port, plain)), /^HTTP\/1\.1 426 /);
  });

  test('a valid request on the path (query ignored) → 101 with the accept key', async () => {
    const { socket, head } = await rawClient(port);
    assert.equal(statusLine(head), 'HTTP/1.1 404 Not Found'); // rawClient asks for '/'
    socket.destroy();
    const ok = await openSocket(port);
    const received = collect(ok);
    ok.write(req('', '/ws?token=1'));
    await until(() => ok.bytesRead > 0);
    ok.end(clientFrame(Opcode.Close, hex`03e8`));
    const text = (await received).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.ok(text.includes(`Sec-WebSocket-Accept: ${acceptKey(KEY)}\r\n`));
  });
});

describe('server: handshake timeout', () => {
  test('a request that stalls halfway is closed after handshakeTimeout', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1', handshakeTimeout: 50 });
    const socket = await openSocket(server.port);
    const received = collect(socket);
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: web');
    const bytes = await received; // resolves only when the server closed the connection
    assert.equal(bytes.length, 0);
    await server.close();
  });
});

describe('server: frames that break the protocol', () => {
  let server: WebSocketServer;
  before(async () => {
    server = await serve({ port: 0, host: '127.0.0.1', maxPayload: 1024 });
  });
  after(() => server.close());

  async function outcome(frame: Uint8Array): Promise<{ sent: string; close: CloseArgs; error: string }> {
    const connection = once(server, 'connection');
    const { socket, rest } = await rawClient(server.port);
    const [ws] = (await connection) as [WebSocket];
    let error = '';
    ws.on('error', (e) => {
      error = (e as Error & { code: string }).code;
    });
    const close = new Promise<CloseArgs>((resolve) => ws.on('close', (...args) => resolve(args)));
    socket.write(frame);
    const sent = toHex(await rest);
    return { sent, close: await close, error };
  }

  test('an unmasked client frame fails the connection with 1002', async () => {
    const result = await outcome(hex`81 02 6869`); // FIN|TEXT, unmasked, "hi"
    assert.equal(closeFrameCode(result.sent), 1002);
    assert.equal(result.error, 'UNMASKED_FRAME');
    assert.deepEqual(result.close.slice(0, 1), [1006]); // no close frame came from the peer
  });

  test('a 2 GiB length header fails with 1009 before any payload', async () => {
    const result = await outcome(hex`82 ff 0000000080000000 37fa213d`); // BINARY, masked, 64-bit length 2^31
    assert.equal(closeFrameCode(result.sent), 1009);
    assert.equal(result.error, 'MESSAGE_TOO_BIG');
  });

  test('a message over maxPayload fails with 1009', async () => {
    const result = await outcome(clientFrame(Opcode.Binary, new Uint8Array(1025)));
    assert.equal(closeFrameCode(result.sent), 1009);
  });
});

describe('server: negotiation and verifyClient', () => {
  test('subprotocol: the server preference among the offered ones', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1', protocols: ['chat.v2', 'chat.v1'] });
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { protocols: ['chat.v1', 'chat.v2'] });
    assert.equal(ws.protocol, 'chat.v2');
    ws.close(1000);
    await once(ws, 'close');
    const none = await connect(`ws://127.0.0.1:${server.port}/`);
    assert.equal(none.protocol, '');
    none.close(1000);
    await once(none, 'close');
    await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { protocols: ['other'] }), {
      name: 'HandshakeError',
      code: 'MISSING_PROTOCOL',
    });
    await server.close();
  });

  test('handleProtocols-style selector', async () => {
    const server = await serve({
      port: 0,
      host: '127.0.0.1',
      protocols: (offered) => offered.find((p) => p.startsWith('x-')),
    });
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { protocols: ['a', 'x-b'] });
    assert.equal(ws.protocol, 'x-b');
    ws.close(1000);
    await once(ws, 'close');
    await server.close();
  });

  test('verifyClient: false → 403, an object → its status and body, async true → open', async () => {
    const server = await serve({
      port: 0,
      host: '127.0.0.1',
      verifyClient: async (req) => {
        if (req.url === '/deny') return false;
        if (req.url === '/login')
          return { status: 401, headers: { 'WWW-Authenticate': 'Basic' }, body: 'who?' };
        return true;
      },
    });
    const base = `ws://127.0.0.1:${server.port}`;
    await assert.rejects(connect(`${base}/deny`), { code: 'UNEXPECTED_STATUS', status: 403 });
    const error = await connect(`${base}/login`).catch((e: HandshakeError) => e);
    assert.ok(error instanceof HandshakeError);
    assert.deepEqual([error.code, error.status, error.body], ['UNEXPECTED_STATUS', 401, 'who?']);
    const ws = await connect(`${base}/ok`);
    ws.close(1000);
    await once(ws, 'close');
    await server.close();
  });
});

describe('server: lifecycle', () => {
  test('close() sends 1001 to every client, waits for them, and empties clients', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    const url = `ws://127.0.0.1:${server.port}/`;
    const clients = await Promise.all([connect(url), connect(url)]);
    await until(() => server.clients.size === 2);
    const closes = clients.map((ws) => once(ws, 'close') as Promise<CloseArgs>);
    await server.close();
    assert.equal(server.clients.size, 0);
    for (const [code, , wasClean] of await Promise.all(closes)) {
      assert.equal(code, 1001);
      assert.equal(wasClean, true);
    }
    await assert.rejects(connect(url), { code: 'ECONNREFUSED' });
  });

  test("remoteAddress, first read after a clean close begun by either side, is the peer's address", async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    const url = `ws://127.0.0.1:${server.port}/`;
    for (const closer of ['server', 'client'] as const) {
      const accepted = once(server, 'connection') as Promise<[WebSocket]>;
      const client = await connect(url);
      const [ws] = await accepted;
      const closed = once(ws, 'close') as Promise<CloseArgs>;
      if (closer === 'server') ws.close(1000);
      else client.close(1000);
      assert.equal((await closed)[2], true, `a clean close begun by the ${closer}`);
      assert.equal(ws.socket.destroyed, true);
      assert.equal(ws.remoteAddress, '127.0.0.1', `closed by the ${closer}`);
    }
    await server.close();
  });

  test('close() destroys clients that do not answer within the timeout', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1' });
    const { socket, rest } = await rawClient(server.port);
    socket.pause(); // never answers the close frame
    await until(() => server.clients.size === 1);
    await server.close({ timeout: 20 });
    assert.equal(server.clients.size, 0);
    socket.resume();
    assert.equal(toHex(await rest), '880203e9'); // the close frame it did get: 1001
  });

  test('heartbeat terminates a peer that never answers pings', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1', heartbeat: 20 });
    const connection = once(server, 'connection');
    const { rest } = await rawClient(server.port);
    const [ws] = (await connection) as [WebSocket];
    const errors: string[] = [];
    ws.on('error', (e) => errors.push((e as Error & { code: string }).code));
    const [code] = await new Promise<CloseArgs>((resolve) => ws.on('close', (...args) => resolve(args)));
    assert.equal(code, 1006);
    assert.deepEqual(errors, ['HEARTBEAT_TIMEOUT']);
    assert.equal(toHex(await rest), '8900'); // one empty ping, then the connection was dropped
    await server.close();
  });

  test('heartbeat keeps a peer that answers pings', async () => {
    const server = await serve({ port: 0, host: '127.0.0.1', heartbeat: 10 });
    const connection = once(server, 'connection');
    const client = await connect(`ws://127.0.0.1:${server.port}/`);
    const [ws] = (await connection) as [WebSocket];
    let pings = 0;
    client.on('ping', () => pings++);
    await until(() => pings >= 3);
    assert.equal(ws.readyState, 1);
    client.close(1000);
    await once(client, 'close');
    await server.close();
  });

  test('attaches to an existing http server; close() leaves that server running', async () => {
    const http = await import('node:http');
    const httpServer = http.createServer((_req, res) => res.end('plain http'));
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    const port = (httpServer.address() as import('node:net').AddressInfo).port;
    const server = await serve({ server: httpServer, path: '/ws' });
    server.on('connection', (ws) =>
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
    );
    const ws = await connect(`ws://127.0.0.1:${port}/ws`);
    ws.send('over a shared port');
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(data.toString(), 'over a shared port');
    const closed = once(ws, 'close');
    await server.close();
    await closed;
    assert.equal(httpServer.listening, true);
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.equal(body, 'plain http');
    httpServer.closeAllConnections();
    httpServer.close();
    await once(httpServer, 'close');
  });
});

describe('handleUpgrade on an application-owned server', () => {
  test('accepts a valid upgrade, answers a bad one and returns null', async () => {
    const http = await import('node:http');
    const { handleUpgrade } = await import('../../src/node/index.ts');
    const results: (WebSocket | null)[] = [];
    const httpServer = http.createServer();
    httpServer.on('upgrade', (req, socket, head) => {
      const ws = handleUpgrade(req, socket, head, { protocols: ['p1'] });
      results.push(ws);
      ws?.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    const port = (httpServer.address() as import('node:net').AddressInfo).port;
    const ws = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['p1'] });
    assert.equal(ws.protocol, 'p1');
    ws.send('via handleUpgrade');
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(data.toString(), 'via handleUpgrade');
    const closed = once(ws, 'close');
    ws.close(1000);
    await closed;
    const response = await exchange(port, upgradeRequest(port).replace('Version: 13', 'Version: 7'));
    assert.match(statusLine(response), /^HTTP\/1\.1 426 /);
    assert.equal(results.length, 2);
    assert.equal(results[1], null);
    httpServer.close();
    await once(httpServer, 'close');
  });
});
