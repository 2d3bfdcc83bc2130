import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { Opcode } from '../../src/core/constants.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { DeflateExtension } from '../../src/core/permessage-deflate.ts';
import { connect, handleUpgrade, serve, type WebSocket } from '../../src/node/index.ts';
import { createContext } from '../../src/service/index.ts';
import { spawnTs, waitFor } from '../helpers/child.ts';
import { seededRandom } from '../helpers/feed.ts';
import { MASK, rawClient } from '../helpers/net.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const FIXTURE = new URL('./fixtures/deflate-echo.ts', import.meta.url).pathname;
const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';

/** A compressible text of about `size` bytes (seeded). */
function jsonText(seed: number, size: number): string {
  const random = seededRandom(seed);
  let text = '[';
  while (text.length < size) text += `{"id":${Math.floor(random() * 1e6)},"name":"item","ok":true},`;
  return `${text}{}]`;
}

/** A client-side codec, as a client that negotiated `permessage-deflate` with context takeover would have. */
function clientCodec(level = 1): DeflateExtension {
  return new DeflateExtension({
    sendWindowBits: 15,
    sendNoContextTakeover: false,
    receiveWindowBits: 15,
    receiveNoContextTakeover: false,
    level,
    memLevel: 8,
    threshold: 0,
  });
}

function inflate(codec: DeflateExtension, payload: Uint8Array): string {
  const out = codec.decode(payload, true, 1 << 24);
  assert.ok(Array.isArray(out));
  return Buffer.concat(out).toString('utf8');
}

/** Parses one unmasked server frame at the start of `bytes` (payloads below 64 KiB). */
function serverFrame(bytes: Buffer): { first: number; payload: Buffer } {
  const short = bytes[1]! & 0x7f;
  assert.equal(bytes[1]! & 0x80, 0, 'server frames are not masked');
  const [start, length] = short === 126 ? [4, bytes.readUInt16BE(2)] : [2, short];
  return { first: bytes[0]!, payload: bytes.subarray(start, start + length) };
}

/** A ws client offering permessage-deflate: its response header and the first byte of the first frame it reads. */
async function wsDeflateClient(url: string, protocols: string[] = []) {
  const ws = new WsClient(url, protocols, { perMessageDeflate: {} });
  let header = '';
  ws.once('upgrade', (res: http.IncomingMessage) => {
    header = String(res.headers['sec-websocket-extensions'] ?? '');
  });
  await once(ws, 'open');
  const firstByte = new Promise<number>((resolve) => {
    (ws as unknown as { _socket: Socket })._socket.prependOnceListener('data', (chunk: Buffer) =>
      resolve(chunk[0]!),
    );
  });
  return { ws, header, firstByte };
}

async function echoOnce(ws: WsClient, text: string): Promise<string> {
  ws.send(text);
  const [reply] = (await once(ws, 'message')) as [Buffer];
  return reply.toString('utf8');
}

async function closeWs(ws: WsClient): Promise<void> {
  if (ws.readyState === WsClient.CLOSED) return;
  const closed = once(ws, 'close');
  ws.close(1000);
  await closed;
}

function echo(ws: WebSocket): void {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

describe('perMessageDeflate on serve()', () => {
  test('true: the answer on the wire, RSV1 on the first echoed frame, a round trip of compressed text', async () => {
    const server = await serve({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
    server.on('connection', echo);
    try {
      const { socket, head, rest } = await rawClient(server.port, OFFER);
      assert.match(head, /^HTTP\/1\.1 101 /);
      // The server's memory policy: no context takeover on its side, answered unasked.
      assert.match(head, /\r\nsec-websocket-extensions: permessage-deflate; server_no_context_takeover\r\n/i);
      const codec = clientCodec();
      const text = jsonText(1, 3000);
      const { payload } = codec.encode(Buffer.from(text), true, true);
      assert.ok(payload.length < text.length / 2);
      socket.write(encodeFrame({ fin: true, rsv: 4, opcode: Opcode.Text, mask: MASK }, payload));
      socket.end(
        encodeFrame({ fin: true, rsv: 0, opcode: Opcode.Close, mask: MASK }, new Uint8Array([3, 232])),
      );
      const frame = serverFrame(await rest);
      assert.equal(frame.first, 0xc1, 'FIN + RSV1 + text');
      assert.ok(frame.payload.length < text.length / 2);
      assert.equal(inflate(codec, frame.payload), text);
    } finally {
      await server.close({ timeout: 1000 });
    }
  });

  test('off by default: the offer is ignored and frames go out uncompressed', async () => {
    const server = await serve({ host: '127.0.0.1', port: 0 });
    server.on('connection', echo);
    try {
      const { ws, header, firstByte } = await wsDeflateClient(`ws://127.0.0.1:${server.port}/`);
      assert.equal(header, '');
      assert.equal(await echoOnce(ws, jsonText(2, 2000)), jsonText(2, 2000));
      assert.equal(await firstByte, 0x81);
      await closeWs(ws);
    } finally {
      await server.close({ timeout: 1000 });
    }
  });

  test('options object and context takeover on request; a bad option or a second factory throws', async () => {
    const server = await serve({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: { serverNoContextTakeover: false, threshold: 0 },
    });
    server.on('connection', echo);
    try {
      const { ws, header, firstByte } = await wsDeflateClient(`ws://127.0.0.1:${server.port}/`);
      assert.equal(header, 'permessage-deflate');
      assert.equal(await echoOnce(ws, 'short'), 'short');
      assert.equal(await firstByte, 0xc1, 'threshold 0: even 5 bytes are compressed');
      await closeWs(ws);
    } finally {
      await server.close({ timeout: 1000 });
    }
    assert.throws(() => serve({ perMessageDeflate: { memLevel: 12 } }), { code: 'INVALID_OPTION' });
    const { PerMessageDeflate } = await import('../../src/core/permessage-deflate.ts');
    assert.throws(() => serve({ perMessageDeflate: true, extensions: [new PerMessageDeflate()] }), {
      code: 'INVALID_OPTION',
    });
  });
});

describe('perMessageDeflate on connect()', () => {
  test('offers permessage-deflate, compresses its first frame (RSV1), inflates the reply', async () => {
    const wss = new WsServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    await once(wss, 'listening');
    const seen: { offer?: string; first?: number } = {};
    wss.on('connection', (peer, req) => {
      seen.offer = req.headers['sec-websocket-extensions'];
      (peer as unknown as { _socket: Socket })._socket.prependOnceListener('data', (chunk: Buffer) => {
        seen.first = chunk[0];
      });
      peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary }));
    });
    try {
      const ws = await connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, {
        perMessageDeflate: true,
      });
      assert.equal(seen.offer, 'permessage-deflate; client_max_window_bits');
      assert.match(ws.extensions, /^permessage-deflate/);
      const text = jsonText(3, 2000);
      ws.send(text);
      const [reply] = (await once(ws, 'message')) as [Buffer];
      assert.equal(reply.toString('utf8'), text);
      assert.equal(seen.first, 0xc1, 'masked text with RSV1');
      ws.close(1000);
      await once(ws, 'close');
    } finally {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

describe('perMessageDeflate on handleUpgrade() and createContext()', () => {
  test('handleUpgrade on an application-owned http server', async () => {
    const httpServer = http.createServer();
    const sockets: WebSocket[] = [];
    httpServer.on('upgrade', (req, socket, head) => {
      const ws = handleUpgrade(req, socket, head, { perMessageDeflate: { threshold: 100 } });
      if (ws !== null) {
        sockets.push(ws);
        echo(ws);
      }
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    try {
      const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/`;
      const { ws, header, firstByte } = await wsDeflateClient(url);
      assert.equal(header, 'permessage-deflate; server_no_context_takeover');
      const text = jsonText(4, 500);
      assert.equal(await echoOnce(ws, text), text);
      assert.equal(await firstByte, 0xc1);
      await closeWs(ws);
    } finally {
      for (const ws of sockets) ws.terminate();
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
    }
  });

  test('createContext({ perMessageDeflate: true }) for every protocol', async () => {
    const context = await createContext({
      host: '127.0.0.1',
      perMessageDeflate: true,
      protocols: {
        echo: (ws) =>
          ws.onReceive((socket, data, isBinary) => socket.write(data, isBinary ? 'binary' : 'text')),
      },
    });
    try {
      const { ws, header, firstByte } = await wsDeflateClient(`ws://127.0.0.1:${context.port}/`, ['echo']);
      assert.equal(header, 'permessage-deflate; server_no_context_takeover');
      const text = jsonText(5, 1500);
      assert.equal(await echoOnce(ws, text), text);
      assert.equal(await firstByte, 0xc1);
      await closeWs(ws);
    } finally {
      await context.destroy({ timeout: 1000 });
    }
  });
});

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

describe('compression bomb through the node server', () => {
  test('a small frame that inflates to 256 MiB: close 1009, server RSS grows < 64 MiB, others still served', {
    skip: process.platform !== 'linux' && 'reads /proc',
  }, async () => {
    // 256 MiB of zeros deflated at level 9 in one message: ~256 KiB on the wire.
    const codec = clientCodec(9);
    const zeros = new Uint8Array(1 << 20);
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < 256; i++) pieces.push(codec.encode(zeros, i === 0, i === 255).payload);
    const bomb = Buffer.concat(pieces);
    assert.ok(bomb.length < 512 * 1024, `bomb of ${bomb.length} bytes`);
    const server = spawnTs([FIXTURE]);
    try {
      const port = Number((await waitFor(server, /listening on (\d+)\n/))[1]);
      const before = rssOf(server.child.pid!);
      const { socket, rest } = await rawClient(port, OFFER);
      socket.write(encodeFrame({ fin: true, rsv: 4, opcode: Opcode.Binary, mask: MASK }, bomb));
      const reply = await rest;
      // The server's close frame (88, a short length, code 1009 and a reason), then it closes TCP.
      assert.equal(reply[0], 0x88);
      assert.ok(reply[1]! < 126);
      assert.equal(reply.readUInt16BE(2), 1009);
      await waitFor(server, /closed \d+\n/);
      const grown = rssOf(server.child.pid!) - before;
      assert.ok(grown < 64 * 1024 * 1024, `server RSS grew by ${grown} bytes`);
      // Another client is served as before.
      const { ws } = await wsDeflateClient(`ws://127.0.0.1:${port}/`);
      const text = jsonText(6, 2000);
      assert.equal(await echoOnce(ws, text), text);
      await closeWs(ws);
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  });
});

describe('tslay echo --deflate', () => {
  test('a ws client with perMessageDeflate gets compressed echoes; without --deflate it gets plain ones', async () => {
    for (const deflate of [true, false]) {
      const cli = spawnTs([MAIN, 'echo', '--port', '0', ...(deflate ? ['--deflate'] : [])]);
      try {
        const url = (await waitFor(cli, /listening on (\S+)\n/))[1]!;
        const { ws, header, firstByte } = await wsDeflateClient(url);
        assert.equal(header, deflate ? 'permessage-deflate; server_no_context_takeover' : '');
        const text = jsonText(7, 4000);
        assert.equal(await echoOnce(ws, text), text);
        assert.equal(await firstByte, deflate ? 0xc1 : 0x81);
        await closeWs(ws);
      } finally {
        cli.child.kill('SIGTERM');
        await cli.exit;
      }
    }
  });
});
