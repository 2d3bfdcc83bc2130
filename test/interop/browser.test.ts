/**
 * Our server against headless Chromium's WebSocket. One browser for the whole file; a small http server gives the
 * page its script and the standard messages. A browser cannot ping, so the exchange has no client ping; our
 * server pings the browser instead.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { PerMessageDeflate } from '../../src/core/index.ts';
import { SEED } from '../helpers/feed.ts';
import {
  assertSameMessages,
  assertServerSaw,
  expectedMessages,
  type Msg,
  ourEchoServer,
} from './exchange.ts';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  CLOSE_REASON,
  chromiumAvailable,
  PEER_TIMEOUT,
  PING_PAYLOAD,
  SINGLE_MESSAGES,
} from './peers.ts';

const want = expectedMessages();
const haveChromium = chromiumAvailable();

/** Messages cross between Node and the page as base64 of their bytes, with their type. */
interface WireMessage {
  binary: boolean;
  data: string;
}

interface CloseSeen {
  code: number;
  reason: string;
  wasClean: boolean;
}

const PAGE_SCRIPT = `
const SINGLE_MESSAGES = ${SINGLE_MESSAGES};
const CLOSE_REASON = ${JSON.stringify(CLOSE_REASON)};

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
function toWire(data) {
  return typeof data === 'string'
    ? { binary: false, data: toBase64(new TextEncoder().encode(data)) }
    : { binary: true, data: toBase64(new Uint8Array(data)) };
}
function open(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('WebSocket error before open'));
  });
}
function watch(ws) {
  const items = [];
  const waiters = [];
  let ended = null;
  ws.addEventListener('message', (event) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(event.data);
    else items.push(event.data);
  });
  const closed = new Promise((resolve) =>
    ws.addEventListener('close', (event) => {
      ended = new Error('closed (' + event.code + ')');
      for (const waiter of waiters.splice(0)) waiter.reject(ended);
      resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    }),
  );
  const next = () => {
    if (items.length > 0) return Promise.resolve(items.shift());
    if (ended) return Promise.reject(ended);
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  };
  return { next, closed, received: items };
}

/** The standard exchange without a ping; returns what the page saw. */
window.standardExchange = async (url) => {
  const list = await (await fetch('/messages.json')).json();
  const messages = list.map((m) => (m.binary ? fromBase64(m.data) : new TextDecoder().decode(fromBase64(m.data))));
  const ws = await open(url, []);
  const inbox = watch(ws);
  const echoes = [];
  for (const m of messages.slice(0, SINGLE_MESSAGES)) {
    ws.send(m);
    echoes.push(await inbox.next());
  }
  for (const m of messages.slice(SINGLE_MESSAGES)) ws.send(m);
  for (let i = SINGLE_MESSAGES; i < messages.length; i++) echoes.push(await inbox.next());
  ws.close(1000, CLOSE_REASON);
  return { extensions: ws.extensions, echoes: echoes.map(toWire), close: await inbox.closed };
};

/** Opens, offers protocols, and waits for the server to close; returns what the page saw. */
window.untilServerCloses = async (url, protocols) => {
  const ws = await open(url, protocols);
  const inbox = watch(ws);
  const close = await inbox.closed;
  return { protocol: ws.protocol, messages: inbox.received.map(toWire), close };
};
`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>tslay interop</title><script>${PAGE_SCRIPT}</script>`;

function fromWire(messages: WireMessage[]): Msg[] {
  return messages.map((m) => ({ binary: m.binary, data: Buffer.from(m.data, 'base64') }));
}

describe('our server against headless Chromium', {
  skip: !haveChromium && `${CHROMIUM} not installed`,
}, () => {
  let browser: Browser;
  let page: Page;
  let pages: http.Server;
  const pageErrors: string[] = [];

  before(async () => {
    const body = JSON.stringify(want.map((m) => ({ binary: m.binary, data: m.data.toString('base64') })));
    pages = http.createServer((req, res) => {
      if (req.url === '/messages.json') res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      else if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      else res.writeHead(404).end();
    });
    pages.listen(0, '127.0.0.1');
    await once(pages, 'listening');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(`http://127.0.0.1:${(pages.address() as AddressInfo).port}/`);
  });

  after(async () => {
    await browser?.close();
    pages?.closeAllConnections();
    if (pages?.listening) await new Promise((resolve) => pages.close(resolve));
  });

  for (const deflate of [false, true]) {
    test(`the standard exchange${deflate ? ' with permessage-deflate' : ''}, checked on both sides`, {
      timeout: PEER_TIMEOUT,
    }, async (t) => {
      const server = await ourEchoServer(deflate ? { extensions: [new PerMessageDeflate()] } : {});
      t.after(() => server.close());
      const url = `ws://127.0.0.1:${server.port}/`;
      const seen = (await page.evaluate(`standardExchange(${JSON.stringify(url)})`)) as {
        extensions: string;
        echoes: WireMessage[];
        close: CloseSeen;
      };
      const side = await server.connections.next();
      assert.deepEqual(pageErrors, []);
      assert.equal(seen.extensions, side.extensions);
      if (deflate) assert.match(seen.extensions, /^permessage-deflate\b/);
      else assert.equal(seen.extensions, '');
      assertSameMessages(fromWire(seen.echoes), want, `echoed to Chromium (seed ${SEED})`);
      assert.deepEqual(seen.close, { code: 1000, reason: '', wasClean: true });
      await assertServerSaw(side, want, { pinged: false });
    });
  }

  test("subprotocol ['chat', 'superchat'] against the browser's ['superchat', 'chat']; our ping and close", {
    timeout: PEER_TIMEOUT,
  }, async (t) => {
    const server = await ourEchoServer({ protocols: ['chat', 'superchat'] });
    t.after(() => server.close());
    const url = `ws://127.0.0.1:${server.port}/`;
    const seen = page.evaluate(
      `untilServerCloses(${JSON.stringify(url)}, ['superchat', 'chat'])`,
    ) as Promise<{
      protocol: string;
      messages: WireMessage[];
      close: CloseSeen;
    }>;
    const side = await server.connections.next();
    assert.equal(side.protocol, 'chat');
    const pong = await side.ping(PING_PAYLOAD);
    assert.equal(pong.toString('utf8'), PING_PAYLOAD);
    side.close(1000, 'server done \u00e9');
    const result = await seen;
    assert.deepEqual(result, {
      protocol: 'chat',
      messages: [],
      close: { code: 1000, reason: 'server done \u00e9', wasClean: true },
    });
    // Chromium answers a close with the same code and reason.
    assert.deepEqual(await side.closed, { code: 1000, reason: 'server done \u00e9', wasClean: true });
    assert.deepEqual(pageErrors, []);
  });
});
