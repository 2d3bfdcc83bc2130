import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { BrowserWebSocket, type CloseEvent, serve, type WebSocketServer } from '../../src/node/index.ts';

describe('BrowserWebSocket (WHATWG API)', () => {
  let server: WebSocketServer;
  let url: string;
  before(async () => {
    server = await serve({ port: 0, host: '127.0.0.1', protocols: ['chat'] });
    server.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => {
        if (data.toString() === 'bye') ws.close(4000, 'bye');
        else ws.send(data, { binary: isBinary });
      });
    });
    url = `ws://127.0.0.1:${server.port}/`;
  });
  after(() => server.close());

  test('open, text and binary messages per binaryType, close with code and reason', async () => {
    const ws = new BrowserWebSocket(url, 'chat');
    assert.equal(ws.readyState, BrowserWebSocket.CONNECTING);
    assert.throws(() => ws.send('too early'), { name: 'InvalidStateError' });
    const events: string[] = [];
    ws.onopen = () => events.push('open');
    await once(ws, 'open');
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal(ws.protocol, 'chat');
    const messages: unknown[] = [];
    ws.onmessage = (event) => messages.push((event as MessageEvent).data);
    ws.send('text');
    ws.binaryType = 'arraybuffer';
    ws.send(new Uint8Array([1, 2]));
    await new Promise<void>((resolve) => {
      const check = () => (messages.length === 2 ? resolve() : setImmediate(check));
      check();
    });
    assert.equal(messages[0], 'text');
    assert.ok(messages[1] instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(messages[1] as ArrayBuffer)], [1, 2]);
    ws.binaryType = 'blob';
    ws.send(new Uint8Array([3]));
    const [blobEvent] = (await once(ws, 'message')) as [MessageEvent];
    assert.ok(blobEvent.data instanceof Blob);
    assert.deepEqual([...new Uint8Array(await (blobEvent.data as Blob).arrayBuffer())], [3]);
    const closed = once(ws, 'close') as Promise<[CloseEvent]>;
    ws.send('bye');
    const [close] = await closed;
    assert.deepEqual([close.code, close.reason, close.wasClean], [4000, 'bye', true]);
    assert.equal(ws.readyState, BrowserWebSocket.CLOSED);
    assert.deepEqual(events, ['open']);
  });

  test('close() validates like a browser', async () => {
    const ws = new BrowserWebSocket(url, ['chat']);
    await once(ws, 'open');
    assert.throws(() => ws.close(1001), { name: 'InvalidAccessError' });
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), { name: 'SyntaxError' });
    const closed = once(ws, 'close') as Promise<[CloseEvent]>;
    ws.close(3000, 'fine');
    assert.equal(ws.readyState, BrowserWebSocket.CLOSING);
    ws.send('after close'); // discarded, counted
    assert.ok(ws.bufferedAmount >= 11);
    const [event] = await closed;
    assert.equal(event.wasClean, true);
  });

  test('a bad URL throws SyntaxError; a failed connection fires error then close 1006', async () => {
    assert.throws(() => new BrowserWebSocket('ftp://x/'), { name: 'SyntaxError' });
    assert.throws(() => new BrowserWebSocket(`${url}#frag`), { name: 'SyntaxError' });
    assert.throws(() => new BrowserWebSocket(url, ['a', 'a']), { name: 'SyntaxError' });
    const ws = new BrowserWebSocket(url, ['not-served']);
    const order: string[] = [];
    ws.onerror = () => order.push('error');
    const [event] = (await once(ws, 'close')) as [CloseEvent];
    order.push('close');
    assert.deepEqual(order, ['error', 'close']);
    assert.deepEqual([event.code, event.wasClean], [1006, false]);
  });

  test('close() while connecting abandons the handshake', async () => {
    const ws = new BrowserWebSocket(url, 'chat');
    ws.close();
    assert.equal(ws.readyState, BrowserWebSocket.CLOSING);
    const [event] = (await once(ws, 'close')) as [CloseEvent];
    assert.equal(event.code, 1006);
    assert.equal(ws.readyState, BrowserWebSocket.CLOSED);
  });
});
