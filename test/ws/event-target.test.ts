/**
 * The EventTarget layer: every assertion runs twice, against a real ws `WebSocket` (events caused by a ws
 * server over loopback) and against an EventEmitter host that installs src/ws/event-target.ts and emits the
 * same ws-style events by hand. Passing both is the evidence that the module behaves as ws does.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import {
  addEventListener,
  CloseEvent,
  defineEventAttributes,
  ErrorEvent,
  Event,
  type EventTargetHost,
  kWasClean,
  MessageEvent,
  removeEventListener,
} from '../../src/ws/event-target.ts';

/** What both subjects offer: the EventTarget API and the EventEmitter methods the tests look at. */
interface Subject {
  addEventListener(type: string, handler: unknown, options?: { once?: boolean }): void;
  removeEventListener(type: string, handler: unknown): void;
  onopen: unknown;
  onmessage: unknown;
  onclose: unknown;
  onerror: unknown;
  on(type: string, listener: (...args: never[]) => void): unknown;
  listenerCount(type: string): number;
}

/** Makes the subject dispatch each kind of event; every method resolves after the subject's listeners ran. */
interface Driver {
  target: Subject;
  open(): Promise<void>;
  /** A text message for a string, a binary one for a Buffer. */
  message(data: string | Buffer): Promise<void>;
  /** 'close' after a completed closing handshake. */
  closeCleanly(code: number, reason: string): Promise<void>;
  /** 'close' after the connection was lost (1006, no handshake). */
  drop(): Promise<void>;
  /** 'error'; resolves with the error emitted. */
  fail(): Promise<Error>;
  dispose(): Promise<void>;
}

async function wsDriver(): Promise<Driver> {
  const server = new WsServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const peer = once(server, 'connection').then(([ws]) => ws as WsClient);
  const client = new WsClient(`ws://127.0.0.1:${port}`);
  // Not events.once(): its promise would reject on the 'error' that `fail()` causes.
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  return {
    target: client as unknown as Subject,
    open: async () => {
      await once(client, 'open');
    },
    message: async (data) => {
      (await peer).send(data);
      await once(client, 'message');
    },
    closeCleanly: async (code, reason) => {
      (await peer).close(code, reason);
      await closed;
    },
    drop: async () => {
      (await peer).terminate();
      await closed;
    },
    fail: async () => {
      // ws does not validate outgoing text; the client rejects the invalid UTF-8 with an 'error'.
      (await peer).send(Buffer.from([0xff]), { binary: false });
      return new Promise<Error>((resolve) => client.once('error', resolve));
    },
    dispose: async () => {
      if (client.readyState === WsClient.CONNECTING) await once(client, 'open');
      if (client.readyState !== WsClient.CLOSED) client.terminate();
      await closed;
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

/** A minimal host: an EventEmitter with the EventTarget API installed, as the WebSocket class installs it. */
class Host extends EventEmitter implements EventTargetHost {
  clean = false;
  declare addEventListener: typeof addEventListener;
  declare removeEventListener: typeof removeEventListener;
  get [kWasClean](): boolean {
    return this.clean;
  }
}
Host.prototype.addEventListener = addEventListener;
Host.prototype.removeEventListener = removeEventListener;
defineEventAttributes(Host.prototype);

async function hostDriver(): Promise<Driver> {
  const host = new Host();
  return {
    target: host as unknown as Subject,
    open: async () => {
      host.emit('open');
    },
    message: async (data) => {
      if (typeof data === 'string') host.emit('message', Buffer.from(data), false);
      else host.emit('message', data, true);
    },
    closeCleanly: async (code, reason) => {
      host.clean = true;
      host.emit('close', code, Buffer.from(reason));
    },
    drop: async () => {
      host.clean = false;
      host.emit('close', 1006, Buffer.alloc(0));
    },
    fail: async () => {
      const error = new Error('boom');
      host.emit('error', error);
      return error;
    },
    dispose: async () => {},
  };
}

/** The names `for…in` visits: ws's event properties are enumerable getters on the prototypes. */
function enumerated(event: object): string[] {
  const names: string[] = [];
  for (const name in event) names.push(name);
  return names;
}

/** Records each call of a function handler: its `this` and its event. */
interface Call {
  self: unknown;
  event: Record<string, unknown>;
}

function recorder(): { calls: Call[]; handler: (this: unknown, event: Record<string, unknown>) => void } {
  const calls: Call[] = [];
  return {
    calls,
    handler(event) {
      calls.push({ self: this, event });
    },
  };
}

const drivers: [string, () => Promise<Driver>][] = [
  ['ws WebSocket', wsDriver],
  ['event-target host', hostDriver],
];

for (const [name, makeDriver] of drivers) {
  describe(`EventTarget: ${name}`, () => {
    async function withDriver(body: (d: Driver, ws: Subject) => Promise<void>): Promise<void> {
      const d = await makeDriver();
      try {
        await body(d, d.target);
      } finally {
        await d.dispose();
      }
    }

    test("'open' is an Event with read-only type and target; `this` is the WebSocket", () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        ws.addEventListener('open', r.handler);
        await d.open();
        assert.equal(r.calls.length, 1);
        const { self, event } = r.calls[0]!;
        assert.equal(self, ws);
        assert.equal(event.type, 'open');
        assert.equal(event.target, ws);
        assert.equal(event.constructor.name, 'Event');
        assert.deepEqual(Object.keys(event), []);
        assert.deepEqual(enumerated(event), ['target', 'type']);
        assert.throws(() => {
          event.type = 'other';
        }, TypeError);
        assert.equal(event.type, 'open');
      }));

    test("'message' data is a string for text and the Buffer for binary", () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        ws.addEventListener('message', r.handler);
        await d.open();
        await d.message('héllo');
        await d.message(Buffer.from([0, 1, 255]));
        assert.equal(r.calls.length, 2);
        const [text, binary] = r.calls.map((c) => c.event);
        assert.equal(text!.data, 'héllo');
        assert.ok(Buffer.isBuffer(binary!.data));
        assert.deepEqual([...(binary!.data as Buffer)], [0, 1, 255]);
        for (const call of r.calls) {
          assert.equal(call.self, ws);
          assert.equal(call.event.type, 'message');
          assert.equal(call.event.target, ws);
          assert.equal(call.event.constructor.name, 'MessageEvent');
          assert.deepEqual(enumerated(call.event), ['data', 'target', 'type']);
          assert.throws(() => {
            call.event.data = 'x';
          }, TypeError);
        }
      }));

    test("'close' after a closing handshake: code, reason as a string, wasClean true", () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        ws.addEventListener('close', r.handler);
        await d.open();
        await d.closeCleanly(4000, 'bye ✓');
        assert.equal(r.calls.length, 1);
        const { self, event } = r.calls[0]!;
        assert.equal(self, ws);
        assert.equal(event.constructor.name, 'CloseEvent');
        assert.deepEqual(
          { type: event.type, code: event.code, reason: event.reason, wasClean: event.wasClean },
          { type: 'close', code: 4000, reason: 'bye ✓', wasClean: true },
        );
        assert.equal(event.target, ws);
        assert.deepEqual(enumerated(event), ['code', 'reason', 'wasClean', 'target', 'type']);
      }));

    test("'close' after the connection is lost: 1006, empty reason, wasClean false", () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        ws.addEventListener('close', r.handler);
        await d.open();
        await d.drop();
        assert.equal(r.calls.length, 1);
        const { event } = r.calls[0]!;
        assert.deepEqual(
          { code: event.code, reason: event.reason, wasClean: event.wasClean },
          { code: 1006, reason: '', wasClean: false },
        );
      }));

    test("'error' is an ErrorEvent with the error and its message", () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        ws.addEventListener('error', r.handler);
        await d.open();
        const error = await d.fail();
        assert.equal(r.calls.length, 1);
        const { self, event } = r.calls[0]!;
        assert.equal(self, ws);
        assert.equal(event.constructor.name, 'ErrorEvent');
        assert.equal(event.type, 'error');
        assert.equal(event.target, ws);
        assert.equal(event.error, error);
        assert.equal(event.message, error.message);
        assert.deepEqual(enumerated(event), ['error', 'message', 'target', 'type']);
      }));

    test('an object handler has its handleEvent called with `this` the object', () =>
      withDriver(async (d, ws) => {
        const seen: { self: unknown; type: unknown; target: unknown }[] = [];
        const handler = {
          handleEvent(this: unknown, event: { type: string; target: unknown }) {
            seen.push({ self: this, type: event.type, target: event.target });
          },
        };
        ws.addEventListener('open', handler);
        ws.addEventListener('message', handler);
        await d.open();
        await d.message('x');
        assert.deepEqual(seen, [
          { self: handler, type: 'open', target: ws },
          { self: handler, type: 'message', target: ws },
        ]);
        ws.removeEventListener('message', handler);
        await d.message('y');
        assert.equal(seen.length, 2);
      }));

    test('{ once: true } runs the handler for the first event only and unregisters it', () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        const before = ws.listenerCount('message');
        ws.addEventListener('message', r.handler, { once: true });
        assert.equal(ws.listenerCount('message'), before + 1);
        await d.open();
        await d.message('first');
        await d.message('second');
        assert.deepEqual(
          r.calls.map((c) => c.event.data),
          ['first'],
        );
        assert.equal(ws.listenerCount('message'), before);
        const removed = recorder();
        ws.addEventListener('message', removed.handler, { once: true });
        ws.removeEventListener('message', removed.handler);
        assert.equal(ws.listenerCount('message'), before);
        await d.message('third');
        assert.equal(removed.calls.length, 0);
      }));

    test('adding the same handler twice for a type registers it once (once or not)', () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        const before = ws.listenerCount('message');
        ws.addEventListener('message', r.handler);
        ws.addEventListener('message', r.handler);
        ws.addEventListener('message', r.handler, { once: true });
        assert.equal(ws.listenerCount('message'), before + 1);
        ws.addEventListener('open', r.handler);
        await d.open();
        await d.message('a');
        await d.message('b');
        assert.deepEqual(
          r.calls.map((c) => c.event.type),
          ['open', 'message', 'message'],
        );
      }));

    test('removeEventListener removes only what addEventListener added', () =>
      withDriver(async (d, ws) => {
        const added = recorder();
        const plain = recorder();
        const attribute = recorder();
        ws.addEventListener('message', added.handler);
        ws.on('message', plain.handler);
        ws.onmessage = attribute.handler;
        ws.addEventListener('message', attribute.handler);
        const count = ws.listenerCount('message');
        ws.removeEventListener('message', plain.handler);
        ws.removeEventListener('message', recorder().handler);
        ws.removeEventListener('open', added.handler);
        assert.equal(ws.listenerCount('message'), count);
        ws.removeEventListener('message', added.handler);
        ws.removeEventListener('message', attribute.handler);
        assert.equal(ws.listenerCount('message'), count - 2);
        await d.open();
        await d.message('m');
        assert.equal(added.calls.length, 0);
        assert.equal(plain.calls.length, 1);
        assert.equal(attribute.calls.length, 1);
        assert.equal(ws.onmessage, attribute.handler);
      }));

    test('on-attributes: null by default, a setter replaces the handler, non-functions clear it', () =>
      withDriver(async (d, ws) => {
        for (const attribute of ['onopen', 'onmessage', 'onclose', 'onerror'] as const) {
          assert.equal(ws[attribute], null, attribute);
        }
        const first = recorder();
        const second = recorder();
        const before = ws.listenerCount('message');
        ws.onmessage = first.handler;
        assert.equal(ws.onmessage, first.handler);
        ws.onmessage = second.handler;
        assert.equal(ws.onmessage, second.handler);
        assert.equal(ws.listenerCount('message'), before + 1);
        const open = recorder();
        ws.onopen = open.handler;
        await d.open();
        await d.message('one');
        assert.equal(first.calls.length, 0);
        assert.equal(second.calls.length, 1);
        assert.equal(second.calls[0]!.self, ws);
        assert.equal(second.calls[0]!.event.data, 'one');
        assert.equal(open.calls[0]!.event.type, 'open');
        ws.onmessage = { handleEvent: second.handler };
        assert.equal(ws.onmessage, null);
        assert.equal(ws.listenerCount('message'), before);
        ws.onmessage = second.handler;
        ws.onmessage = 'not a function';
        assert.equal(ws.onmessage, null);
        await d.message('two');
        assert.equal(second.calls.length, 1);
      }));

    test('the attribute handler and an addEventListener registration of it both run', () =>
      withDriver(async (d, ws) => {
        const r = recorder();
        ws.onmessage = r.handler;
        ws.addEventListener('message', r.handler);
        ws.addEventListener('message', r.handler);
        ws.onmessage = r.handler;
        await d.open();
        await d.message('m');
        assert.equal(r.calls.length, 2);
      }));

    test('listeners run in the order added; setting an attribute again moves it last', () =>
      withDriver(async (d, ws) => {
        const order: string[] = [];
        const attribute = () => order.push('attribute');
        ws.onmessage = attribute;
        ws.on('message', () => order.push('on'));
        ws.addEventListener('message', () => order.push('addEventListener'));
        await d.open();
        await d.message('1');
        assert.deepEqual(order, ['attribute', 'on', 'addEventListener']);
        order.length = 0;
        ws.onmessage = attribute;
        await d.message('2');
        assert.deepEqual(order, ['on', 'addEventListener', 'attribute']);
      }));

    test('types other than open, message, close and error are ignored', () =>
      withDriver(async (_d, ws) => {
        ws.addEventListener('ping', () => {});
        ws.addEventListener('upgrade', { handleEvent() {} });
        assert.equal(ws.listenerCount('ping'), 0);
        assert.equal(ws.listenerCount('upgrade'), 0);
      }));

    test('event classes: defaults, kept values, enumerable prototype getters', () =>
      withDriver(async (d, ws) => {
        const events: Record<string, object> = {};
        for (const type of ['open', 'message', 'close']) {
          ws.addEventListener(type, (event: { type: string }) => {
            events[event.type] = event;
          });
        }
        await d.open();
        await d.message('m');
        await d.closeCleanly(1000, '');
        type Ctor = new (type: string, init?: object) => Record<string, unknown>;
        const classOf = (type: string) => events[type]!.constructor as Ctor;
        const [Base, Message, Close] = [classOf('open'), classOf('message'), classOf('close')];
        const base = new Base('custom');
        assert.deepEqual([base.type, base.target], ['custom', null]);
        const close = new Close('close');
        assert.deepEqual([close.code, close.reason, close.wasClean], [0, '', false]);
        const given = new Close('close', { code: 1001, reason: 'away', wasClean: true });
        assert.deepEqual([given.code, given.reason, given.wasClean], [1001, 'away', true]);
        assert.equal(new Message('message').data, null);
        assert.equal(new Message('message', { data: null }).data, null);
        assert.equal(new Message('message', { data: 0 }).data, 0);
        assert.ok(close instanceof Base);
        assert.ok(new Message('m') instanceof Base);
        for (const [Class, names] of [
          [Base, ['target', 'type']],
          [Close, ['code', 'reason', 'wasClean']],
          [Message, ['data']],
        ] as const) {
          for (const name of names) {
            const descriptor = Object.getOwnPropertyDescriptor(Class.prototype, name)!;
            assert.equal(typeof descriptor.get, 'function', name);
            assert.equal(descriptor.set, undefined, name);
            assert.equal(descriptor.enumerable, true, name);
          }
        }
      }));
  });
}

describe('EventTarget: exported classes', () => {
  test('constructors default as ws: Event target null, CloseEvent 0/""/false, ErrorEvent null/"", data null', () => {
    const event = new Event('x');
    assert.deepEqual([event.type, event.target], ['x', null]);
    const close = new CloseEvent('close');
    assert.deepEqual([close.code, close.reason, close.wasClean], [0, '', false]);
    const error = new ErrorEvent('error');
    assert.deepEqual([error.error, error.message], [null, '']);
    const cause = new Error('e');
    const given = new ErrorEvent('error', { error: cause, message: 'm' });
    assert.deepEqual([given.error, given.message], [cause, 'm']);
    assert.equal(new MessageEvent('message').data, null);
    assert.equal(new MessageEvent('message', { data: 'text' }).data, 'text');
    for (const instance of [close, error, new MessageEvent('message')]) assert.ok(instance instanceof Event);
  });

  test('the wasClean of a close is read from the host when the close is emitted', () => {
    const host = new Host();
    const seen: boolean[] = [];
    host.addEventListener('close', (event) => {
      seen.push(event.wasClean);
      assert.equal(event.target, host);
    });
    host.clean = true;
    host.emit('close', 1000, Buffer.alloc(0));
    host.clean = false;
    host.emit('close', 1006, Buffer.alloc(0));
    assert.deepEqual(seen, [true, false]);
  });
});
