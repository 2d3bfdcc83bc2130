/**
 * connect({ proxy }) against real proxies (tinyproxy for HTTP CONNECT, microsocks for SOCKS5), each started
 * on a free port for its test and killed afterwards, with scripted proxies for the bounds, and the
 * environment's proxy (`'env'`, and `tslay connect`'s default).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { type WebSocket as WsPeer, WebSocketServer as WsServer } from 'ws';
import { connect, MAX_PROXY_ANSWER, proxyFromEnvironment, type WebSocket } from '../../src/node/index.ts';
import { makeCertificate } from '../helpers/certificate.ts';
import { run } from '../helpers/cli.ts';
import { collect, freePort, rejection } from '../helpers/net.ts';

// ------------------------------------------------------------------------------------------- helpers

interface ProxyProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** What the proxy printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Kills `child` and waits for its exit. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/**
 * Starts `spawnOn(port)` on a free port, until `ready` says it listens; another port when it exits first (the
 * port was taken in between).
 */
async function startProxy(
  scheme: string,
  spawnOn: (port: number) => ChildProcess,
  ready: (port: number, output: () => string) => Promise<boolean>,
  cleanup: () => void = () => {},
): Promise<ProxyProcess> {
  let lastOutput = '';
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const child = spawnOn(port);
    const chunks: string[] = [];
    child.stdout?.setEncoding('utf8').on('data', (text: string) => chunks.push(text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => chunks.push(text));
    const output = () => chunks.join('');
    const exited = once(child, 'exit').then(() => false);
    if (await Promise.race([ready(port, output), exited])) {
      const stop = async () => {
        await kill(child);
        cleanup();
      };
      return { child, port, url: `${scheme}://127.0.0.1:${port}`, output, stop };
    }
    await kill(child);
    lastOutput = output();
  }
  cleanup();
  throw new Error(`${scheme} proxy did not start: ${lastOutput}`);
}

/** Resolves true once `output()` matches `pattern` (checking on each chunk the child prints). */
async function printedLine(
  child: () => ChildProcess,
  output: () => string,
  pattern: RegExp,
): Promise<boolean> {
  while (!pattern.test(output())) await once(child().stdout!, 'data');
  return true;
}

/** tinyproxy in the foreground with a temporary config: loopback only, these CONNECT ports, maybe BasicAuth. */
async function startTinyproxy(
  options: { connectPorts?: number[]; auth?: [string, string] } = {},
): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tslay-tinyproxy-'));
  const conf = join(dir, 'tinyproxy.conf');
  let child: ChildProcess | undefined;
  return startProxy(
    'http',
    (port) => {
      const lines = [`Port ${port}`, 'Listen 127.0.0.1', 'Allow 127.0.0.1', 'LogLevel Info', 'MaxClients 20'];
      for (const allowed of options.connectPorts ?? []) lines.push(`ConnectPort ${allowed}`);
      if (options.auth) lines.push(`BasicAuth ${options.auth[0]} ${options.auth[1]}`);
      writeFileSync(conf, `${lines.join('\n')}\n`);
      child = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      return child;
    },
    (_port, output) => printedLine(() => child!, output, /Accepting connections/),
    () => rmSync(dir, { recursive: true, force: true }),
  );
}

/** Resolves true once something accepts connections on `port` (microsocks prints nothing when ready). */
async function accepting(port: number): Promise<boolean> {
  for (;;) {
    const socket = net.connect(port, '127.0.0.1');
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    socket.destroy();
    if (ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function startMicrosocks(auth?: [string, string]): Promise<ProxyProcess> {
  return startProxy(
    'socks5',
    (port) => {
      const args = ['-i', '127.0.0.1', '-p', String(port), ...(auth ? ['-u', auth[0], '-P', auth[1]] : [])];
      return spawn('microsocks', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    accepting,
  );
}

/** A `ws` echo server on port 0 (TLS with `tls`), recording the port each connection comes from. */
async function echoServer(tls?: { cert: string; key: string }) {
  const https_ = tls ? https.createServer(tls) : undefined;
  const wss = https_ ? new WsServer({ server: https_ }) : new WsServer({ port: 0, host: '127.0.0.1' });
  if (https_) https_.listen(0, '127.0.0.1');
  await once(https_ ?? wss, 'listening');
  const { port } = (https_ ?? wss).address() as net.AddressInfo;
  const peers: { remotePort: number; servername: string | false | null }[] = [];
  wss.on('connection', (peer: WsPeer, req) => {
    const socket = req.socket as TLSSocket;
    peers.push({ remotePort: socket.remotePort!, servername: socket.servername });
    peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary }));
  });
  const close = async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
    if (https_) await new Promise((resolve) => https_.close(resolve));
  };
  return { port, peers, close };
}

/** Sends a text message and resolves with the echo. */
async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const echoed = once(ws, 'message');
  ws.send(text);
  const [data] = (await echoed) as [Buffer];
  return data.toString();
}

async function closeClient(ws: WebSocket): Promise<void> {
  const closed = once(ws, 'close');
  ws.close(1000);
  await closed;
}

/** The client's socket leads to the proxy, and the server's peer is not the client's own socket. */
function assertThroughProxy(ws: WebSocket, proxy: ProxyProcess, peers: { remotePort: number }[]): void {
  assert.equal(ws.socket.remotePort, proxy.port);
  assert.equal(peers.length, 1);
  assert.notEqual(peers[0]!.remotePort, ws.socket.localPort);
}

type RawHandler = (socket: net.Socket, data: Buffer) => void;

/** A scripted proxy: `handler` sees every chunk a connection sends (and the chunks so far). */
async function scriptedProxy(handler: RawHandler) {
  const sockets = new Set<net.Socket>();
  const closed: Promise<Buffer>[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      handler(socket, data);
    });
    closed.push(collect(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    /** Resolves once every connection the proxy accepted has closed. */
    connectionsClosed: () => Promise.all(closed),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Sets environment variables for the duration of `body`. */
async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

// ------------------------------------------------------------------------------------------- environment

describe('proxyFromEnvironment: the variables curl and undici read', () => {
  const ws = 'ws://example.com/';
  const wss = 'wss://example.com/';

  test('wss uses https_proxy, ws uses http_proxy; both fall back to all_proxy', () => {
    const env = { https_proxy: 'http://s:1', http_proxy: 'http://p:2', all_proxy: 'socks5://a:3' };
    assert.equal(proxyFromEnvironment(wss, env), 'http://s:1');
    assert.equal(proxyFromEnvironment(ws, env), 'http://p:2');
    assert.equal(
      proxyFromEnvironment(wss, { http_proxy: 'http://p:2', all_proxy: 'socks5://a:3' }),
      'socks5://a:3',
    );
    assert.equal(
      proxyFromEnvironment(ws, { https_proxy: 'http://s:1', ALL_PROXY: 'socks5://a:3' }),
      'socks5://a:3',
    );
    assert.equal(proxyFromEnvironment(wss, { http_proxy: 'http://p:2' }), undefined);
    assert.equal(proxyFromEnvironment(ws, {}), undefined);
  });

  test('http(s):// URLs choose like ws(s)://', () => {
    const env = { https_proxy: 'http://s:1', http_proxy: 'http://p:2' };
    assert.equal(proxyFromEnvironment('https://example.com/', env), 'http://s:1');
    assert.equal(proxyFromEnvironment('http://example.com/', env), 'http://p:2');
  });

  test('the lower-case name wins over the upper-case one', () => {
    const env = {
      https_proxy: 'http://lower-s:1',
      HTTPS_PROXY: 'http://upper-s:1',
      http_proxy: 'http://lower-p:2',
      HTTP_PROXY: 'http://upper-p:2',
    };
    assert.equal(proxyFromEnvironment(wss, env), 'http://lower-s:1');
    assert.equal(proxyFromEnvironment(ws, env), 'http://lower-p:2');
    assert.equal(proxyFromEnvironment(ws, { HTTP_PROXY: 'http://upper-p:2' }), 'http://upper-p:2');
    assert.equal(
      proxyFromEnvironment(ws, { all_proxy: 'http://lower-a:3', ALL_PROXY: 'http://upper-a:3' }),
      'http://lower-a:3',
    );
    const noProxy = { http_proxy: 'http://p:2', no_proxy: 'other.org', NO_PROXY: 'example.com' };
    assert.equal(proxyFromEnvironment(ws, noProxy), 'http://p:2');
  });

  test('an empty variable counts as unset; a value without a scheme is an HTTP proxy', () => {
    assert.equal(
      proxyFromEnvironment(ws, { http_proxy: '', HTTP_PROXY: 'http://upper:2' }),
      'http://upper:2',
    );
    assert.equal(proxyFromEnvironment(ws, { http_proxy: 'proxy.corp:3128' }), 'http://proxy.corp:3128');
    assert.equal(proxyFromEnvironment(ws, { http_proxy: 'http://p:2', no_proxy: '' }), 'http://p:2');
  });

  const direct = (url: string, noProxy: string) =>
    proxyFromEnvironment(url, { http_proxy: 'http://p:1', https_proxy: 'http://p:1', no_proxy: noProxy }) ===
    undefined;

  test('NO_PROXY: a host matches itself and its subdomains, not a longer name', () => {
    assert.ok(direct('ws://example.com/', 'example.com'));
    assert.ok(direct('ws://www.example.com/', 'example.com'));
    assert.ok(direct('ws://a.b.example.com/', 'example.com'));
    assert.ok(!direct('ws://notexample.com/', 'example.com'));
    assert.ok(!direct('ws://example.com.org/', 'example.com'));
    assert.ok(direct('ws://EXAMPLE.com/', 'Example.COM'));
  });

  test('NO_PROXY: .suffix and *.suffix match the domain and its subdomains', () => {
    assert.ok(direct('ws://www.example.com/', '.example.com'));
    assert.ok(direct('ws://example.com/', '.example.com'));
    assert.ok(direct('ws://www.example.com/', '*.example.com'));
    assert.ok(!direct('ws://notexample.com/', '.example.com'));
  });

  test('NO_PROXY: host:port matches that port only (default ports included)', () => {
    assert.ok(direct('ws://example.com:8080/', 'example.com:8080'));
    assert.ok(!direct('ws://example.com:8081/', 'example.com:8080'));
    assert.ok(direct('ws://example.com/', 'example.com:80'));
    assert.ok(direct('wss://example.com/', 'example.com:443'));
    assert.ok(!direct('wss://example.com/', 'example.com:80'));
  });

  test('NO_PROXY: lists, *, addresses', () => {
    assert.ok(direct('ws://b.org/', 'a.org, b.org,c.org'));
    assert.ok(direct('ws://b.org/', 'a.org b.org'));
    assert.ok(!direct('ws://d.org/', 'a.org,b.org'));
    assert.ok(direct('ws://anything.at.all/', '*'));
    assert.ok(direct('ws://anything.at.all/', 'a.org,*'));
    assert.ok(direct('ws://127.0.0.1:9000/', '127.0.0.1'));
    assert.ok(!direct('ws://127.0.0.1:9000/', '0.0.1'));
    assert.ok(direct('ws://[::1]:9000/', '::1'));
    assert.ok(direct('ws://[::1]:9000/', '[::1]:9000'));
    assert.ok(!direct('ws://[::1]:9001/', '[::1]:9000'));
  });
});

// ------------------------------------------------------------------------------------------- bad options

describe('connect({ proxy }): bad proxy options are typed errors', () => {
  for (const [what, proxy] of [
    ['not a URL', 'not a proxy'],
    ['https:', 'https://127.0.0.1:3128'],
    ['socks4:', 'socks4://127.0.0.1:1080'],
    ['no host', 'socks5://:1080'],
    ['not a string', 42 as unknown as string],
  ] as const) {
    test(`${what} → INVALID_PROXY`, async () => {
      const error = await rejection(connect('ws://127.0.0.1:1/', { proxy }));
      assert.equal(error.code, 'INVALID_PROXY');
    });
  }

  test('proxy with agent → INVALID_PROXY', async () => {
    const error = await rejection(
      connect('ws://127.0.0.1:1/', { proxy: 'http://127.0.0.1:1', agent: new https.Agent() }),
    );
    assert.equal(error.code, 'INVALID_PROXY');
  });

  test('an environment variable that is no proxy URL → INVALID_PROXY naming it', async () => {
    const error = await withEnv({ http_proxy: 'ftp://proxy:21', no_proxy: '' }, () =>
      rejection(connect('ws://127.0.0.1:1/', { proxy: 'env' })),
    );
    assert.equal(error.code, 'INVALID_PROXY');
    assert.match(error.message, /http_proxy/);
  });

  test('SOCKS5 credentials over 255 bytes → INVALID_PROXY', async () => {
    const error = await rejection(
      connect('ws://127.0.0.1:1/', { proxy: `socks5://${'u'.repeat(256)}:p@127.0.0.1:1` }),
    );
    assert.equal(error.code, 'INVALID_PROXY');
  });
});

// ------------------------------------------------------------------------------------------- tinyproxy

describe('HTTP CONNECT through tinyproxy', () => {
  test('ws:// goes through the tunnel', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ connectPorts: [server.port] });
    try {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, { proxy: proxy.url });
      assert.equal(await roundTrip(ws, 'hello through CONNECT'), 'hello through CONNECT');
      assertThroughProxy(ws, proxy, server.peers);
      await printedLine(
        () => proxy.child,
        proxy.output,
        new RegExp(`CONNECT 127\\.0\\.0\\.1:${server.port} HTTP/1\\.1`),
      );
      await closeClient(ws);
    } finally {
      await proxy.stop();
      await server.close();
    }
  });

  test('wss:// runs TLS inside the tunnel, with the target host as servername', async () => {
    const certificate = makeCertificate();
    const server = await echoServer(certificate);
    const proxy = await startTinyproxy({ connectPorts: [server.port] });
    try {
      const ws = await connect(`wss://localhost:${server.port}/`, {
        proxy: proxy.url,
        tls: { ca: certificate.cert },
      });
      assert.equal(await roundTrip(ws, 'hello over TLS'), 'hello over TLS');
      assertThroughProxy(ws, proxy, server.peers);
      assert.equal(server.peers[0]!.servername, 'localhost');
      await printedLine(
        () => proxy.child,
        proxy.output,
        new RegExp(`CONNECT localhost:${server.port} HTTP/1\\.1`),
      );
      await closeClient(ws);
    } finally {
      await proxy.stop();
      await server.close();
      certificate.dispose();
    }
  });

  test('wss:// still checks the certificate inside the tunnel', async () => {
    const certificate = makeCertificate();
    const server = await echoServer(certificate);
    const proxy = await startTinyproxy({ connectPorts: [server.port] });
    try {
      const error = await rejection(connect(`wss://localhost:${server.port}/`, { proxy: proxy.url }));
      assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    } finally {
      await proxy.stop();
      await server.close();
      certificate.dispose();
    }
  });

  describe('with BasicAuth', () => {
    let server: Awaited<ReturnType<typeof echoServer>>;
    let proxy: ProxyProcess;
    before(async () => {
      server = await echoServer();
      proxy = await startTinyproxy({ connectPorts: [server.port], auth: ['alice', 'se-cret'] });
    });
    after(async () => {
      await proxy.stop();
      await server.close();
    });

    test('the credentials of the proxy URL are accepted (percent-decoded)', async () => {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, {
        proxy: `http://alice:se%2Dcret@127.0.0.1:${proxy.port}`,
      });
      assert.equal(await roundTrip(ws, 'authorized'), 'authorized');
      assert.equal(ws.socket.remotePort, proxy.port);
      await closeClient(ws);
    });

    test('without credentials → PROXY_AUTH_REQUIRED with status 407', async () => {
      const error = await rejection(connect(`ws://127.0.0.1:${server.port}/`, { proxy: proxy.url }));
      assert.deepEqual([error.code, error.status], ['PROXY_AUTH_REQUIRED', 407]);
      assert.match(error.message, /requires credentials/);
    });

    test('with wrong credentials → PROXY_AUTH_REQUIRED (tinyproxy answers 401)', async () => {
      const error = await rejection(
        connect(`ws://127.0.0.1:${server.port}/`, { proxy: `http://alice:wrong@127.0.0.1:${proxy.port}` }),
      );
      assert.deepEqual([error.code, error.status], ['PROXY_AUTH_REQUIRED', 401]);
      assert.match(error.message, /refused the credentials/);
    });
  });

  test('a port that ConnectPort does not allow → PROXY_REFUSED with the status', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ connectPorts: [server.port === 443 ? 444 : 443] });
    try {
      const error = await rejection(connect(`ws://127.0.0.1:${server.port}/`, { proxy: proxy.url }));
      assert.deepEqual([error.code, error.status], ['PROXY_REFUSED', 403]);
      assert.match(error.message, new RegExp(`403 .*CONNECT 127\\.0\\.0\\.1:${server.port}`));
      assert.equal(server.peers.length, 0);
    } finally {
      await proxy.stop();
      await server.close();
    }
  });

  test('a stopped proxy → PROXY_UNREACHABLE (the connection needed it)', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ connectPorts: [server.port] });
    await proxy.stop();
    try {
      const error = await rejection(connect(`ws://127.0.0.1:${server.port}/`, { proxy: proxy.url }));
      assert.equal(error.code, 'PROXY_UNREACHABLE');
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      assert.equal(server.peers.length, 0);
    } finally {
      await server.close();
    }
  });

  test("proxy: 'env' uses http_proxy, and NO_PROXY sends the host direct", async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ connectPorts: [server.port] });
    try {
      const url = `ws://127.0.0.1:${server.port}/`;
      const proxied = await withEnv({ http_proxy: proxy.url, no_proxy: '' }, () =>
        connect(url, { proxy: 'env' }),
      );
      assert.equal(proxied.socket.remotePort, proxy.port);
      await closeClient(proxied);
      const direct = await withEnv({ http_proxy: proxy.url, no_proxy: 'localhost,127.0.0.1' }, () =>
        connect(url, { proxy: 'env' }),
      );
      assert.equal(direct.socket.remotePort, server.port);
      await closeClient(direct);
      const optedOut = await withEnv({ http_proxy: proxy.url, no_proxy: '' }, () => connect(url));
      assert.equal(optedOut.socket.remotePort, server.port, 'no proxy without the option');
      await closeClient(optedOut);
      assert.equal(server.peers.length, 3);
    } finally {
      await proxy.stop();
      await server.close();
    }
  });
});

// ------------------------------------------------------------------------------------------- microsocks

describe('SOCKS5 through microsocks', () => {
  test('ws:// without a password', async () => {
    const server = await echoServer();
    const proxy = await startMicrosocks();
    try {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, { proxy: proxy.url });
      assert.equal(await roundTrip(ws, 'hello through SOCKS'), 'hello through SOCKS');
      assertThroughProxy(ws, proxy, server.peers);
      await closeClient(ws);
    } finally {
      await proxy.stop();
      await server.close();
    }
  });

  test('wss:// through SOCKS5 (socks5h:// as well)', async () => {
    const certificate = makeCertificate();
    const server = await echoServer(certificate);
    const proxy = await startMicrosocks();
    try {
      // An address: microsocks connects to the first address of a name only, and localhost may be ::1 first.
      const ws = await connect(`wss://127.0.0.1:${server.port}/`, {
        proxy: `socks5h://127.0.0.1:${proxy.port}`,
        tls: { ca: certificate.cert },
      });
      assert.equal(await roundTrip(ws, 'TLS in SOCKS'), 'TLS in SOCKS');
      assertThroughProxy(ws, proxy, server.peers);
      await closeClient(ws);
    } finally {
      await proxy.stop();
      await server.close();
      certificate.dispose();
    }
  });

  test('a closed target port → SOCKS_CONNECTION_REFUSED with the reply code', async () => {
    const proxy = await startMicrosocks();
    try {
      const port = await freePort();
      const error = await rejection(connect(`ws://127.0.0.1:${port}/`, { proxy: proxy.url }));
      assert.deepEqual([error.code, error.status], ['SOCKS_CONNECTION_REFUSED', 5]);
    } finally {
      await proxy.stop();
    }
  });

  describe('with a password', () => {
    let server: Awaited<ReturnType<typeof echoServer>>;
    let proxy: ProxyProcess;
    before(async () => {
      server = await echoServer();
      proxy = await startMicrosocks(['bob', 'hunter2']);
    });
    after(async () => {
      await proxy.stop();
      await server.close();
    });

    test('the right password is accepted', async () => {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, {
        proxy: `socks5://bob:hunter2@127.0.0.1:${proxy.port}`,
      });
      assert.equal(await roundTrip(ws, 'logged in'), 'logged in');
      assert.equal(ws.socket.remotePort, proxy.port);
      await closeClient(ws);
    });

    test('a wrong password → SOCKS_AUTH_FAILED', async () => {
      const error = await rejection(
        connect(`ws://127.0.0.1:${server.port}/`, { proxy: `socks5://bob:wrong@127.0.0.1:${proxy.port}` }),
      );
      assert.equal(error.code, 'SOCKS_AUTH_FAILED');
    });

    test('no credentials → SOCKS_AUTH_REQUIRED', async () => {
      const error = await rejection(connect(`ws://127.0.0.1:${server.port}/`, { proxy: proxy.url }));
      assert.equal(error.code, 'SOCKS_AUTH_REQUIRED');
    });
  });
});

// ------------------------------------------------------------------------------------------- scripted proxies

describe('proxy answers are bounded and the handshake deadline covers the proxy', () => {
  test('SOCKS5 sends the target as a name (atyp 3) and maps the reply code', async () => {
    let request: Buffer | undefined;
    const proxy = await scriptedProxy((socket, data) => {
      if (data.length === 3) socket.write(Buffer.from([5, 0]));
      else if (request === undefined && data.length > 3) {
        request = data.subarray(3);
        socket.end(Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]));
      }
    });
    try {
      const error = await rejection(
        connect('ws://ws.example.test:8080/', { proxy: `socks5://127.0.0.1:${proxy.port}` }),
      );
      assert.deepEqual([error.code, error.status], ['SOCKS_HOST_UNREACHABLE', 4]);
      const name = Buffer.from('ws.example.test');
      const expected = Buffer.concat([
        Buffer.from([5, 1, 0, 3, name.length]),
        name,
        Buffer.from([0x1f, 0x90]),
      ]);
      assert.equal(request?.toString('hex'), expected.toString('hex'));
    } finally {
      await proxy.close();
    }
  });

  test('a SOCKS answer of another version → PROXY_BAD_RESPONSE', async () => {
    const proxy = await scriptedProxy((socket) => socket.write(Buffer.from([4, 0])));
    try {
      const error = await rejection(
        connect('ws://127.0.0.1:1/', { proxy: `socks5://127.0.0.1:${proxy.port}` }),
      );
      assert.equal(error.code, 'PROXY_BAD_RESPONSE');
    } finally {
      await proxy.close();
    }
  });

  test(`an answer head over ${MAX_PROXY_ANSWER} bytes → PROXY_BAD_RESPONSE, and the connection is closed`, async () => {
    let sent = 0;
    const proxy = await scriptedProxy((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 100; i++) {
        const line = `X-Filler-${i}: ${'x'.repeat(400)}\r\n`;
        sent += line.length;
        socket.write(line);
      }
    });
    try {
      const error = await rejection(
        connect('ws://127.0.0.1:1/', { proxy: `http://127.0.0.1:${proxy.port}` }),
      );
      assert.equal(error.code, 'PROXY_BAD_RESPONSE');
      assert.match(error.message, /exceeds 16384 bytes/);
      assert.ok(sent > MAX_PROXY_ANSWER);
      await proxy.connectionsClosed();
    } finally {
      await proxy.close();
    }
  });

  test('bytes after the 200 (before the client spoke) → PROXY_BAD_RESPONSE', async () => {
    const proxy = await scriptedProxy((socket) => socket.write('HTTP/1.1 200 OK\r\n\r\nsurprise'));
    try {
      const error = await rejection(
        connect('ws://127.0.0.1:1/', { proxy: `http://127.0.0.1:${proxy.port}` }),
      );
      assert.equal(error.code, 'PROXY_BAD_RESPONSE');
    } finally {
      await proxy.close();
    }
  });

  test('a proxy that closes without answering → PROXY_CLOSED', async () => {
    const proxy = await scriptedProxy((socket) => socket.end());
    try {
      const error = await rejection(
        connect('ws://127.0.0.1:1/', { proxy: `http://127.0.0.1:${proxy.port}` }),
      );
      assert.equal(error.code, 'PROXY_CLOSED');
    } finally {
      await proxy.close();
    }
  });

  test('a proxy that never answers → HANDSHAKE_TIMEOUT, and the connection is closed', async () => {
    const proxy = await scriptedProxy(() => {});
    try {
      const error = await rejection(
        connect('ws://127.0.0.1:1/', { proxy: `http://127.0.0.1:${proxy.port}`, handshakeTimeout: 100 }),
      );
      assert.equal(error.code, 'HANDSHAKE_TIMEOUT');
      await proxy.connectionsClosed();
    } finally {
      await proxy.close();
    }
  });

  test('a server that never answers the TLS ClientHello inside the tunnel → HANDSHAKE_TIMEOUT, closed', async () => {
    let answered = false;
    let hello = false;
    const proxy = await scriptedProxy((socket, data) => {
      if (answered) hello = true;
      else if (data.toString('latin1').endsWith('\r\n\r\n')) {
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\n\r\n');
      }
    });
    try {
      const error = await rejection(
        connect('wss://localhost:1/', { proxy: `http://127.0.0.1:${proxy.port}`, handshakeTimeout: 200 }),
      );
      assert.equal(error.code, 'HANDSHAKE_TIMEOUT');
      await proxy.connectionsClosed();
      assert.ok(hello, 'the TLS ClientHello went through the tunnel');
    } finally {
      await proxy.close();
    }
  });

  test('the abort signal ends the proxy phase → ABORTED', async () => {
    const controller = new AbortController();
    let request = '';
    const proxy = await scriptedProxy((_socket, data) => {
      request = data.toString('latin1');
      if (request.endsWith('\r\n\r\n')) controller.abort();
    });
    try {
      const error = await rejection(
        connect('ws://127.0.0.1:1/', { proxy: `http://127.0.0.1:${proxy.port}`, signal: controller.signal }),
      );
      assert.equal(error.code, 'ABORTED');
      assert.match(request, /^CONNECT 127\.0\.0\.1:1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:1\r\n\r\n$/);
      await proxy.connectionsClosed();
    } finally {
      await proxy.close();
    }
  });

  test('Proxy-Authorization: Basic carries the decoded credentials; IPv6 targets are bracketed', async () => {
    let request = '';
    const proxy = await scriptedProxy((socket, data) => {
      request = data.toString('latin1');
      if (request.endsWith('\r\n\r\n')) socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    });
    try {
      const error = await rejection(
        connect('wss://[::1]:9443/', { proxy: `http://us%3Aer:p%20w@127.0.0.1:${proxy.port}` }),
      );
      assert.deepEqual([error.code, error.status], ['PROXY_REFUSED', 502]);
      const basic = Buffer.from('us:er:p w').toString('base64');
      assert.equal(
        request,
        `CONNECT [::1]:9443 HTTP/1.1\r\nHost: [::1]:9443\r\nProxy-Authorization: Basic ${basic}\r\n\r\n`,
      );
    } finally {
      await proxy.close();
    }
  });
});

// ------------------------------------------------------------------------------------------- tslay connect

describe('tslay connect and proxies', () => {
  let server: WsServer;
  let port: number;
  let proxy: ProxyProcess;
  let dead: string;
  before(async () => {
    // Closes every connection at once: `tslay connect --echo` then exits 0.
    server = new WsServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (peer) => peer.close(1000, 'bye'));
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
    proxy = await startTinyproxy({ connectPorts: [port] });
    dead = `http://127.0.0.1:${await freePort()}`;
  });
  after(async () => {
    await proxy.stop();
    await new Promise((resolve) => server.close(resolve));
  });

  /** `tslay connect URL --echo ARGS` with these environment variables; its exit code and stderr. */
  async function tslayConnect(url: string, args: string[], env: Record<string, string>) {
    const r = await withEnv({ no_proxy: '', NO_PROXY: '', ...env }, async () =>
      run(['connect', url, '--echo', ...args], 'ignore'),
    );
    return { code: await r.exit, stderr: r.stderr.join('') };
  }

  test('the environment proxy is used by default', async () => {
    const url = `ws://127.0.0.1:${port}/`;
    const through = await tslayConnect(url, [], { http_proxy: proxy.url });
    assert.equal(through.code, 0, through.stderr);
    await printedLine(() => proxy.child, proxy.output, new RegExp(`CONNECT 127\\.0\\.0\\.1:${port} `));
    // A port tinyproxy does not allow: its 403 shows that the command went through it.
    const refused = await tslayConnect('ws://127.0.0.1:1/', [], { http_proxy: proxy.url });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 403/);
  });

  test('--no-proxy connects directly', async () => {
    const direct = await tslayConnect(`ws://127.0.0.1:${port}/`, ['--no-proxy'], { http_proxy: dead });
    assert.equal(direct.code, 0, direct.stderr);
  });

  test('--proxy URL wins over the environment', async () => {
    const refused = await tslayConnect('ws://127.0.0.1:1/', ['--proxy', proxy.url], { http_proxy: dead });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 403/);
    const through = await tslayConnect(`ws://127.0.0.1:${port}/`, ['--proxy', proxy.url], {
      http_proxy: dead,
    });
    assert.equal(through.code, 0, through.stderr);
  });

  test('--proxy with --no-proxy is refused', async () => {
    const r = run(['connect', 'ws://127.0.0.1:1/', '--proxy', proxy.url, '--no-proxy'], 'ignore');
    assert.equal(await r.exit, 1);
    assert.match(r.stderr.join(''), /exclude each other/);
  });

  test('--help documents --proxy and --no-proxy', async () => {
    const r = run(['connect', '--help'], 'ignore');
    assert.equal(await r.exit, 0);
    assert.match(r.stdout.join(''), /--proxy URL/);
    assert.match(r.stdout.join(''), /--no-proxy/);
  });
});
