import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { type Context, type ContextOptions, createContext } from '../../src/service/context.ts';
import { chooseProtocol, type ServiceSocket } from '../../src/service/protocol.ts';
import { closeClient, openClient } from './client.ts';
import { clientFrame, destroyRawSockets, headerOf, rawUpgrade } from './raw-ws.ts';

describe('chooseProtocol', () => {
  const names = ['echo', 'chat', 'lws-mirror-protocol'];
  const table: [string[], { requireProtocol?: boolean }, ReturnType<typeof chooseProtocol>][] = [
    // The client's order decides among the ones we know.
    [['chat', 'echo'], {}, { ok: true, name: 'chat', header: 'chat' }],
    [['echo', 'chat'], {}, { ok: true, name: 'echo', header: 'echo' }],
    [
      ['unknown', 'lws-mirror-protocol', 'echo'],
      {},
      { ok: true, name: 'lws-mirror-protocol', header: 'lws-mirror-protocol' },
    ],
    // None offered, or none known: the table's first protocol, named in no answer header.
    [[], {}, { ok: true, name: 'echo', header: undefined }],
    [['unknown'], {}, { ok: true, name: 'echo', header: undefined }],
    [['ECHO'], {}, { ok: true, name: 'echo', header: undefined }],
    // …unless a protocol is required.
    [['chat'], { requireProtocol: true }, { ok: true, name: 'chat', header: 'chat' }],
  ];
  for (const [offered, options, expected] of table) {
    it(`offered [${offered.join(', ')}]${options.requireProtocol ? ' (required)' : ''} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(chooseProtocol(offered, names, options), expected);
    });
  }

  it('refuses with 400 when a protocol is required and none is offered or known', () => {
    for (const offered of [[], ['unknown'], ['Chat']]) {
      const choice = chooseProtocol(offered, names, { requireProtocol: true });
      assert.equal(choice.ok, false);
      assert.equal(!choice.ok && choice.status, 400);
    }
  });

  it('refuses with 400 when the table is empty', () => {
    const choice = chooseProtocol(['echo'], []);
    assert.equal(choice.ok, false);
  });
});

async function withContext(options: ContextOptions, run: (context: Context) => Promise<void>): Promise<void> {
  const context = await createContext({ host: '127.0.0.1', ...options });
  try {
    await run(context);
  } finally {
    destroyRawSockets();
    await context.destroy({ timeout: 1000 });
  }
}

const echo = (ws: ServiceSocket) => {
  ws.onReceive((socket, data, isBinary) => socket.write(data, isBinary ? 'binary' : 'text'));
};

describe('service context: protocol handlers', () => {
  it('answers with the protocol chosen from the client list, and that handler serves the socket', async () => {
    const seen: string[] = [];
    await withContext(
      {
        protocols: {
          echo: (ws) => seen.push(`echo:${ws.protocol}`),
          chat: (ws) => seen.push(`chat:${ws.protocol}`),
        },
      },
      async (context) => {
        const raw = await rawUpgrade(context.port, 'Sec-WebSocket-Protocol: unknown, chat, echo\r\n');
        assert.equal(raw.status, 101);
        assert.equal(headerOf(raw.head, 'sec-websocket-protocol'), 'chat');
        raw.socket.destroy();
        assert.deepEqual(seen, ['chat:chat']);
      },
    );
  });

  it('serves a client offering no known protocol with the first handler and no protocol header', async () => {
    await withContext({ protocols: { echo, chat: () => {} } }, async (context) => {
      for (const extra of ['', 'Sec-WebSocket-Protocol: unknown\r\n']) {
        const raw = await rawUpgrade(context.port, extra);
        assert.equal(raw.status, 101);
        assert.equal(headerOf(raw.head, 'sec-websocket-protocol'), undefined);
        raw.socket.resume();
        raw.socket.write(clientFrame(0x1, 'hi'));
        const [answer] = (await once(raw.socket, 'data')) as [Buffer];
        assert.equal(answer.toString('hex'), '81026869'); // FIN|TEXT, len 2, "hi": the echo handler answered
        raw.socket.destroy();
      }
    });
  });

  it('requireProtocol refuses a handshake without a known protocol with 400', async () => {
    await withContext({ protocols: { echo }, requireProtocol: true }, async (context) => {
      for (const extra of ['', 'Sec-WebSocket-Protocol: other\r\n']) {
        const raw = await rawUpgrade(context.port, extra);
        assert.equal(raw.status, 400);
        raw.socket.destroy();
      }
      assert.equal(context.sockets.size, 0);
      const ok = await rawUpgrade(context.port, 'Sec-WebSocket-Protocol: echo\r\n');
      assert.equal(ok.status, 101);
      assert.equal(context.sockets.size, 1);
      ok.socket.destroy();
    });
  });

  it('gives each socket its own data', async () => {
    await withContext(
      {
        protocols: {
          counter: {
            createData: (req) => ({
              name: new URL(req.url!, 'http://x').searchParams.get('n') ?? '?',
              count: 0,
            }),
            onConnect(ws: ServiceSocket<{ name: string; count: number }>) {
              ws.onReceive((socket) => {
                socket.data.count++;
                socket.write(`${socket.data.name}:${socket.data.count}`);
              });
            },
          },
        },
      },
      async (context) => {
        const a = await openClient(context.port, 'counter');
        const b = await openClient(context.port, 'counter');
        a.ws.send('x');
        a.ws.send('x');
        b.ws.send('x');
        await a.received(2);
        await b.received(1);
        // No query string: both are '?', but the counts are per socket.
        assert.deepEqual(a.messages, ['?:1', '?:2']);
        assert.deepEqual(b.messages, ['?:1']);
        await closeClient(a);
        await closeClient(b);
      },
    );
  });

  it('ws.broadcast reaches every socket of the same protocol (the sender too) and no other', async () => {
    await withContext(
      {
        protocols: {
          mirror: (ws) => ws.onReceive((socket, data) => socket.broadcast(data)),
          other: () => {},
        },
      },
      async (context) => {
        const [a, b, c] = await Promise.all([1, 2, 3].map(() => openClient(context.port, 'mirror')));
        const other = await openClient(context.port, 'other');
        a!.ws.send('one');
        await Promise.all([a!.received(1), b!.received(1), c!.received(1)]);
        b!.ws.send('two');
        await Promise.all([a!.received(2), b!.received(2), c!.received(2)]);
        for (const client of [a!, b!, c!]) assert.deepEqual(client.messages, ['one', 'two']);
        // The other protocol's socket got nothing, checked after a round trip through the server.
        context.broadcast('other', 'ping');
        await other.received(1);
        assert.deepEqual(other.messages, ['ping']);
        await Promise.all([a!, b!, c!, other].map(closeClient));
      },
    );
  });

  it('onBroadcast: a mode forwards as that type, a function decides, the default keeps the kind', async () => {
    let n = 0;
    await withContext(
      {
        protocols: {
          p: (ws) => {
            const which = n++;
            if (which === 0) ws.onBroadcast('binary');
            if (which === 1) ws.onBroadcast('text');
            if (which === 2) ws.onBroadcast((socket, data) => socket.write(`got ${String(data)}`));
            // which === 3: default
          },
        },
      },
      async (context) => {
        const clients = [];
        for (let i = 0; i < 4; i++) clients.push(await openClient(context.port, 'p'));
        const result = context.broadcast('p', 'hi');
        assert.deepEqual(result, { delivered: 4, skipped: 0, dropped: 0 });
        context.broadcast('p', new Uint8Array([0x68, 0x69]));
        await Promise.all(clients.map((c) => c.received(2)));
        assert.deepEqual(clients[0]!.messages, ['bin:6869', 'bin:6869']);
        assert.deepEqual(clients[1]!.messages, ['hi', 'hi']);
        assert.deepEqual(clients[2]!.messages, ['got hi', 'got 104,105']);
        assert.deepEqual(clients[3]!.messages, ['hi', 'bin:6869']);
        await Promise.all(clients.map(closeClient));
      },
    );
  });

  it('topics: publish reaches subscribers only, as the data kind, until they unsubscribe or close', async () => {
    await withContext(
      {
        protocols: {
          sub: (ws) =>
            ws.onReceive((socket, data) => {
              const [verb, topic] = String(data).split(' ');
              if (verb === 'sub') socket.subscribe(topic!);
              else socket.unsubscribe(topic!);
              socket.write(`ok ${data}`);
            }),
        },
      },
      async (context) => {
        const a = await openClient(context.port, 'sub');
        const b = await openClient(context.port, 'sub');
        a.ws.send('sub news');
        b.ws.send('sub news');
        b.ws.send('sub sport');
        await a.received(1);
        await b.received(2);
        assert.equal(context.publish('news', 'n1').delivered, 2);
        assert.equal(context.publish('sport', new Uint8Array([1])).delivered, 1);
        assert.equal(context.publish('nobody', 'x').delivered, 0);
        await a.received(2);
        await b.received(4);
        b.ws.send('unsub news');
        await b.received(5);
        assert.equal(context.publish('news', 'n2').delivered, 1);
        await a.received(3);
        assert.deepEqual(a.messages, ['ok sub news', 'n1', 'n2']);
        assert.deepEqual(b.messages, ['ok sub news', 'ok sub sport', 'n1', 'bin:01', 'ok unsub news']);
        await closeClient(a);
        assert.equal(context.publish('news', 'n3').delivered, 0);
        await closeClient(b);
      },
    );
  });

  it('a throwing handler closes its socket with 1011 and is reported', async () => {
    const errors: unknown[] = [];
    await withContext(
      {
        protocols: {
          bad: (ws) =>
            ws.onReceive(() => {
              throw new Error('boom');
            }),
        },
        onError: (error) => errors.push(error),
      },
      async (context) => {
        const client = await openClient(context.port, 'bad');
        client.ws.send('x');
        assert.equal(await client.closed, 1011);
        assert.equal((errors[0] as Error).message, 'boom');
      },
    );
  });
});
