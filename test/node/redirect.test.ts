/**
 * connect({ followRedirects }) against plain node http(s) servers that answer upgrade requests with 3xx (and
 * accept them, with tslay's handleUpgrade, where the redirects lead): what is followed, what each server
 * received, and the typed errors.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { UsageError } from '../../src/core/errors.ts';
import { connect, handleUpgrade, type WebSocket } from '../../src/node/index.ts';
import { makeCertificate } from '../helpers/certificate.ts';
import { rawServer, rejection } from '../helpers/net.ts';

type Answer = { status: number; location?: string } | 'upgrade';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * An http(s) server on port 0 whose upgrade requests get `route(path)`: a redirect (or another status), or
 * the WebSocket. `seen` lists every upgrade request.
 */
async function server(route: (path: string) => Answer, tls?: { cert: string; key: string }) {
  const httpServer = tls ? https.createServer(tls) : http.createServer();
  const sockets = new Set<Socket>();
  const seen: Seen[] = [];
  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    seen.push({ url: req.url ?? '', headers: req.headers });
    const answer = route(req.url ?? '');
    if (answer === 'upgrade') {
      handleUpgrade(req, socket, head);
      return;
    }
    const location = answer.location === undefined ? '' : `Location: ${answer.location}\r\n`;
    socket.end(
      `HTTP/1.1 ${answer.status} Redirect\r\n${location}Content-Length: 0\r\nConnection: close\r\n\r\n`,
    );
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as AddressInfo;
  return {
    port,
    seen,
    paths: () => seen.map((request) => request.url),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      httpServer.close();
      await once(httpServer, 'close');
    },
  };
}

async function closeClient(ws: WebSocket): Promise<void> {
  const closed = once(ws, 'close');
  ws.close(1000);
  await closed;
}

/** Redirects /old with `status` to /new (relative), and accepts /new. */
function oldToNew(status: number) {
  return (path: string): Answer => (path.startsWith('/old') ? { status, location: '/new' } : 'upgrade');
}

describe('followRedirects', () => {
  for (const status of [301, 302, 303, 307, 308]) {
    test(`${status} is followed (a relative Location against the current URL)`, async () => {
      const s = await server(oldToNew(status));
      try {
        const ws = await connect(`ws://127.0.0.1:${s.port}/old?x=1`, { followRedirects: true });
        assert.deepEqual(s.paths(), ['/old?x=1', '/new']);
        assert.equal(ws.socket.remotePort, s.port);
        await closeClient(ws);
      } finally {
        await s.close();
      }
    });
  }

  test('an http:// Location stands for ws://', async () => {
    const target = await server(() => 'upgrade');
    const s = await server(() => ({ status: 302, location: `http://127.0.0.1:${target.port}/there` }));
    try {
      const ws = await connect(`ws://127.0.0.1:${s.port}/`, { followRedirects: true });
      assert.deepEqual(target.paths(), ['/there']);
      await closeClient(ws);
    } finally {
      await s.close();
      await target.close();
    }
  });

  test('an https:// Location stands for wss:// (ws → wss is allowed)', async () => {
    const certificate = makeCertificate();
    const target = await server(() => 'upgrade', certificate);
    const s = await server(() => ({ status: 308, location: `https://localhost:${target.port}/secure` }));
    try {
      const ws = await connect(`ws://127.0.0.1:${s.port}/`, {
        followRedirects: true,
        tls: { ca: certificate.cert },
      });
      assert.deepEqual(target.paths(), ['/secure']);
      await closeClient(ws);
    } finally {
      await s.close();
      await target.close();
      certificate.dispose();
    }
  });

  test('the same origin keeps Authorization and Cookie', async () => {
    const s = await server(oldToNew(307));
    try {
      const ws = await connect(`ws://127.0.0.1:${s.port}/old`, {
        followRedirects: true,
        headers: { Authorization: 'Bearer token', Cookie: 'session=1' },
      });
      const [, second] = s.seen;
      assert.equal(second?.headers.authorization, 'Bearer token');
      assert.equal(second?.headers.cookie, 'session=1');
      await closeClient(ws);
    } finally {
      await s.close();
    }
  });

  test('another origin gets neither Authorization nor Cookie; other headers go on', async () => {
    const target = await server(() => 'upgrade');
    const s = await server(() => ({ status: 302, location: `ws://127.0.0.1:${target.port}/` }));
    try {
      const ws = await connect(`ws://127.0.0.1:${s.port}/`, {
        followRedirects: true,
        headers: [
          ['authorization', 'Bearer token'],
          ['Cookie', 'session=1'],
          ['X-Trace', 'abc'],
        ],
      });
      assert.equal(s.seen[0]?.headers.authorization, 'Bearer token');
      assert.equal(s.seen[0]?.headers.cookie, 'session=1');
      const received = target.seen[0]!.headers;
      assert.equal(received.authorization, undefined);
      assert.equal(received.cookie, undefined);
      assert.equal(received['x-trace'], 'abc');
      await closeClient(ws);
    } finally {
      await s.close();
      await target.close();
    }
  });

  test("the URL's user:pass is sent as Basic, kept on the same origin, not carried to another", async () => {
    const basic = `Basic ${Buffer.from('user:p w').toString('base64')}`;
    const target = await server(() => 'upgrade');
    const s = await server((path) =>
      path === '/a'
        ? { status: 301, location: '/b' }
        : { status: 302, location: `ws://127.0.0.1:${target.port}/c` },
    );
    try {
      const ws = await connect(`ws://user:p%20w@127.0.0.1:${s.port}/a`, { followRedirects: true });
      assert.deepEqual(
        s.seen.map((request) => request.headers.authorization),
        [basic, basic],
      );
      assert.equal(target.seen[0]?.headers.authorization, undefined);
      await closeClient(ws);
    } finally {
      await s.close();
      await target.close();
    }
  });

  test('credentials dropped on another origin stay dropped on the way back', async () => {
    let home = 0;
    const away = await server(() => ({ status: 302, location: `ws://127.0.0.1:${home}/back` }));
    const s = await server((path) =>
      path === '/back' ? 'upgrade' : { status: 302, location: `ws://127.0.0.1:${away.port}/` },
    );
    home = s.port;
    try {
      const ws = await connect(`ws://127.0.0.1:${s.port}/`, {
        followRedirects: true,
        headers: { Authorization: 'Bearer token' },
      });
      assert.deepEqual(
        s.seen.map((request) => request.headers.authorization),
        ['Bearer token', undefined],
      );
      await closeClient(ws);
    } finally {
      await s.close();
      await away.close();
    }
  });

  test('wss:// → ws:// (or http://) is refused: INSECURE_REDIRECT', async () => {
    const certificate = makeCertificate();
    const plain = await server(() => 'upgrade');
    for (const scheme of ['ws', 'http']) {
      const s = await server(
        () => ({ status: 302, location: `${scheme}://127.0.0.1:${plain.port}/` }),
        certificate,
      );
      try {
        const error = await rejection(
          connect(`wss://localhost:${s.port}/`, { followRedirects: true, tls: { ca: certificate.cert } }),
        );
        assert.deepEqual([error.code, error.status], ['INSECURE_REDIRECT', 302]);
      } finally {
        await s.close();
      }
    }
    assert.equal(plain.seen.length, 0);
    await plain.close();
    certificate.dispose();
  });

  test('a loop ends with TOO_MANY_REDIRECTS after maxRedirects (default 10)', async () => {
    const s = await server(() => ({ status: 302, location: '/again' }));
    try {
      const error = await rejection(connect(`ws://127.0.0.1:${s.port}/`, { followRedirects: true }));
      assert.deepEqual([error.code, error.status], ['TOO_MANY_REDIRECTS', 302]);
      assert.equal(s.seen.length, 11);
    } finally {
      await s.close();
    }
  });

  test('maxRedirects is honoured', async () => {
    const chain: Record<string, Answer> = {
      '/1': { status: 307, location: '/2' },
      '/2': { status: 307, location: '/3' },
      '/3': { status: 307, location: '/final' },
    };
    const s = await server((path) => chain[path] ?? 'upgrade');
    try {
      const error = await rejection(
        connect(`ws://127.0.0.1:${s.port}/1`, { followRedirects: true, maxRedirects: 2 }),
      );
      assert.equal(error.code, 'TOO_MANY_REDIRECTS');
      assert.deepEqual(s.paths(), ['/1', '/2', '/3']);
      const ws = await connect(`ws://127.0.0.1:${s.port}/1`, { followRedirects: true, maxRedirects: 3 });
      assert.deepEqual(s.paths().slice(3), ['/1', '/2', '/3', '/final']);
      await closeClient(ws);
      const none = await rejection(
        connect(`ws://127.0.0.1:${s.port}/1`, { followRedirects: true, maxRedirects: 0 }),
      );
      assert.equal(none.code, 'TOO_MANY_REDIRECTS');
      assert.equal(s.seen.length, 8);
    } finally {
      await s.close();
    }
  });

  test('without followRedirects a 3xx stays UNEXPECTED_STATUS', async () => {
    const s = await server(oldToNew(302));
    try {
      const error = await rejection(connect(`ws://127.0.0.1:${s.port}/old`));
      assert.deepEqual([error.code, error.status], ['UNEXPECTED_STATUS', 302]);
      assert.deepEqual(s.paths(), ['/old']);
    } finally {
      await s.close();
    }
  });

  test('a 3xx without Location is UNEXPECTED_STATUS', async () => {
    const s = await server(() => ({ status: 302 }));
    try {
      const error = await rejection(connect(`ws://127.0.0.1:${s.port}/`, { followRedirects: true }));
      assert.deepEqual([error.code, error.status], ['UNEXPECTED_STATUS', 302]);
    } finally {
      await s.close();
    }
  });

  test('a Location of another scheme → INVALID_REDIRECT', async () => {
    const s = await server(() => ({ status: 301, location: 'ftp://127.0.0.1/file' }));
    try {
      const error = await rejection(connect(`ws://127.0.0.1:${s.port}/`, { followRedirects: true }));
      assert.deepEqual([error.code, error.status], ['INVALID_REDIRECT', 301]);
    } finally {
      await s.close();
    }
  });

  test('the handshake timeout covers every hop', async () => {
    const silent = await rawServer(() => {});
    const s = await server(() => ({ status: 302, location: `ws://127.0.0.1:${silent.port}/` }));
    try {
      const error = await rejection(
        connect(`ws://127.0.0.1:${s.port}/`, { followRedirects: true, handshakeTimeout: 100 }),
      );
      assert.equal(error.code, 'HANDSHAKE_TIMEOUT');
    } finally {
      await s.close();
      await silent.close();
    }
  });

  test('a bad maxRedirects is a UsageError', async () => {
    for (const maxRedirects of [-1, 1.5, Number.NaN]) {
      await assert.rejects(connect('ws://127.0.0.1:1/', { followRedirects: true, maxRedirects }), (error) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.code, 'INVALID_OPTION');
        return true;
      });
    }
  });
});
