/**
 * Fuzz targets: everything that reads a peer's bytes. Each target runs an input under several feed schedules
 * (whole, one byte at a time, seeded random pieces chosen from the input) and throws when the code under test
 * throws, does not terminate, ends in a close code other than 1002/1007/1009 for a peer's bytes, or gives
 * different events, bytes or verdicts for the same input under different schedules.
 */
import assert from 'node:assert/strict';
import { constants, deflateRawSync } from 'node:zlib';
import { Connection, type ConnectionOptions } from '../../src/core/connection.ts';
import {
  formatExtensions,
  negotiateClient,
  negotiateServer,
  parseExtensions,
} from '../../src/core/extensions.ts';
import { acceptKey } from '../../src/core/handshake.ts';
import { ClientHandshake, ServerHandshake } from '../../src/core/handshake-machine.ts';
import { DeflateExtension, deflateParams, PerMessageDeflate } from '../../src/core/permessage-deflate.ts';
import { EventContext } from '../../src/event/index.ts';
import { Accumulator, recorder, ScriptedRecv } from '../event/harness.ts';
import { byteByByte, pieces, randomSplits, type Schedule, whole } from '../helpers/feed.ts';
import { run } from '../helpers/run.ts';
import type { FuzzTarget } from './engine.ts';

const text = (s: string) => new TextEncoder().encode(s);
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');

/** whole, byte by byte, and random pieces seeded by the input's first bytes. */
function schedules(data: Uint8Array): Schedule[] {
  const seed = (data[0] ?? 0) | ((data[1] ?? 0) << 8) | ((data.length & 0xff) << 16);
  return [whole, byteByByte, randomSplits(seed)];
}

/** Runs `outcome` under every schedule and asserts that all agree. */
function sameUnderEverySchedule<T>(data: Uint8Array, outcome: (chunks: Uint8Array[]) => T): T {
  const [first, ...rest] = schedules(data);
  const expected = outcome(pieces(data, first!));
  for (const schedule of rest)
    assert.deepEqual(outcome(pieces(data, schedule)), expected, `outcome differs under ${schedule.name}`);
  return expected;
}

/** A frame (masked with the zero key when `masked`). */
function frame(b0: number, payload: Uint8Array, masked: boolean): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? [b0, n] : [b0, 126, n >> 8, n & 0xff];
  if (masked) head[1]! |= 0x80;
  return Uint8Array.from([...head, ...(masked ? [0, 0, 0, 0] : []), ...payload]);
}

const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

function frameSeeds(masked: boolean, compressed: boolean): Uint8Array[] {
  const deflate = (s: string) => {
    const out = deflateRawSync(text(s), { finishFlush: constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  };
  const data = (opcode: number, s: string, fin = true) =>
    compressed && opcode !== 0
      ? frame((fin ? 0x80 : 0) | 0x40 | opcode, deflate(s), masked)
      : frame((fin ? 0x80 : 0) | opcode, text(s), masked);
  // The first byte picks the options (see `connectionOptions`); the frames follow.
  return [
    join(Uint8Array.of(0), data(1, 'Hello')),
    join(Uint8Array.of(1), data(1, 'Hel', false), frame(0x80, text('lo'), masked), data(2, 'bin')),
    join(Uint8Array.of(2), frame(0x89, text('ping'), masked), data(1, 'x'.repeat(130))),
    join(Uint8Array.of(3), frame(0x88, Uint8Array.of(0x03, 0xe8, 0x62, 0x79, 0x65), masked)),
    join(Uint8Array.of(4), data(1, 'caf\u00e9 \u2603 \u{1f600}'), frame(0x8a, new Uint8Array(0), masked)),
  ];
}

const FRAME_WORDS = [
  [0x81, 0x80, 0, 0, 0, 0],
  [0x01, 0x85],
  [0x80, 0x81],
  [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8],
  [0x89, 0x80],
  [0xc1, 0x85],
  [0x7e, 0xff, 0xff],
  [0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc3, 0xa9],
  [0x00, 0x00, 0xff, 0xff],
].map((w) => Uint8Array.from(w));

/** Options chosen by the input's first byte, so the fuzzer explores limits and windows too. */
function connectionOptions(role: 'server' | 'client', selector: number, deflate: boolean): ConnectionOptions {
  const limits = [undefined, 16, 100, 1000];
  const maxMessageSize = limits[selector & 3];
  const receiveWindowBits = 8 + ((selector >> 2) & 7);
  return {
    role,
    randomMask: () => new Uint8Array(4),
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    ...(deflate
      ? { extensions: [new DeflateExtension(deflateParams({ receiveWindowBits, threshold: 0 }))] }
      : {}),
  };
}

function connectionTarget(role: 'server' | 'client', deflate: boolean): FuzzTarget {
  return {
    name: `connection-${role}${deflate ? '-deflate' : ''}`,
    description: `core Connection as ${role}${deflate ? ' with permessage-deflate (window and limit from the first byte)' : ' (limit from the first byte)'}: events, close code and bytes sent under 3 feed schedules`,
    seeds: () => frameSeeds(role === 'server', deflate),
    dictionary: FRAME_WORDS,
    maxLength: 600,
    run(data) {
      const selector = data[0] ?? 0;
      const frames = data.subarray(1);
      sameUnderEverySchedule(frames, (chunks) => {
        const conn = new Connection(connectionOptions(role, selector, deflate));
        const outcome = run(conn, chunks, true);
        for (const event of outcome.events)
          if (event.type === 'fail')
            assert.ok([1002, 1007, 1009].includes(event.closeCode), `close code ${event.closeCode}`);
        return outcome;
      });
    },
  };
}

const REQUEST = [
  'GET /chat?x=1 HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Origin: http://example.com',
  'Sec-WebSocket-Protocol: chat, superchat',
  'Sec-WebSocket-Version: 13',
];
const request = (lines: string[], tail = '') => text(`${lines.join('\r\n')}\r\n\r\n${tail}`);

const HEAD_WORDS = [
  '\r\n',
  '\r\n\r\n',
  ': ',
  ', ',
  '; ',
  '=',
  '"',
  ' HTTP/1.1',
  'HTTP/1.0',
  'GET ',
  'Upgrade',
  'websocket',
  'Connection',
  'keep-alive, Upgrade',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  '13',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
  'Sec-WebSocket-Accept',
  'permessage-deflate',
  'client_max_window_bits',
  'server_max_window_bits',
  'server_no_context_takeover',
  'client_no_context_takeover',
  'Content-Length: 5',
  'Transfer-Encoding: chunked',
  '\x00',
  '\t',
].map(text);

const serverDeflate = () => [new PerMessageDeflate({ clientMaxWindowBits: true })];

export const serverHandshake: FuzzTarget = {
  name: 'server-handshake',
  description:
    'ServerHandshake (HTTP/1.1 request head parser, request checks, subprotocol selection, extension negotiation): state, status, answer bytes and trailing bytes under 3 feed schedules',
  seeds: () => [
    request(REQUEST),
    request([...REQUEST, 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'], '\x81\x80'),
    request([
      ...REQUEST.slice(0, 6),
      'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10, permessage-deflate',
      'Sec-WebSocket-Version: 13',
    ]),
    request(['POST / HTTP/1.1', 'Host: a']),
    request(['GET / HTTP/1.1', 'Host: a', 'Upgrade: h2c', 'Sec-WebSocket-Version: 8']),
  ],
  dictionary: HEAD_WORDS,
  maxLength: 1200,
  run(data) {
    sameUnderEverySchedule(data, (chunks) => {
      const handshake = new ServerHandshake({
        protocols: ['superchat', 'chat'],
        maxHeaderSize: 1024,
        extensions: (offer) => {
          const negotiated = negotiateServer(offer, serverDeflate());
          if ('error' in negotiated) return undefined;
          for (const extension of negotiated.extensions) extension.dispose?.();
          return negotiated.header || undefined;
        },
      });
      const sent: string[] = [];
      let fed = 0;
      for (const chunk of chunks) {
        if (handshake.state !== 'need-data') break;
        handshake.receiveData(chunk);
        fed++;
        for (const c of handshake.dataToSend().chunks) sent.push(latin1(c));
      }
      if (handshake.state === 'need-data') handshake.receiveEnd();
      const out = handshake.dataToSend();
      for (const c of out.chunks) sent.push(latin1(c));
      if (handshake.failure)
        assert.ok(
          [400, 403, 404, 405, 426, 431, 505].includes(handshake.failure.status),
          `status ${handshake.failure.status}`,
        );
      // After an accepted head: the WebSocket bytes, those of the chunk that ended the head and the chunks after.
      const after =
        handshake.state === 'done' ? [handshake.trailing, ...chunks.slice(fed)].map(latin1).join('') : '';
      return {
        state: handshake.state,
        failure: handshake.failure,
        protocol: handshake.protocol,
        extensions: handshake.extensions,
        sent: sent.join(''),
        after,
      };
    });
  },
};

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RESPONSE = [
  'HTTP/1.1 101 Switching Protocols',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Accept: ${acceptKey(KEY)}`,
];

export const clientHandshake: FuzzTarget = {
  name: 'client-handshake',
  description:
    'ClientHandshake (HTTP/1.1 response head parser, response checks, subprotocol and extension checks): state, error code, protocol, extensions under 3 feed schedules',
  seeds: () => [
    request(RESPONSE),
    request([...RESPONSE, 'Sec-WebSocket-Protocol: chat'], '\x81\x02hi'),
    request([...RESPONSE, 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover']),
    request(['HTTP/1.1 403 Forbidden', 'Content-Length: 0']),
    request(['HTTP/1.1 302 Found', 'Location: ws://elsewhere/']),
  ],
  dictionary: HEAD_WORDS,
  maxLength: 1200,
  run(data) {
    sameUnderEverySchedule(data, (chunks) => {
      const handshake = new ClientHandshake({
        host: 'server.example.com',
        path: '/chat',
        key: KEY,
        protocols: ['chat', 'superchat'],
        extensions: 'permessage-deflate; client_max_window_bits',
        maxHeaderSize: 1024,
      });
      handshake.dataToSend();
      for (const chunk of chunks) {
        if (handshake.state !== 'need-data') break;
        handshake.receiveData(chunk);
      }
      if (handshake.state === 'need-data') handshake.receiveEnd();
      let negotiated = '';
      if (handshake.state === 'done') {
        const result = negotiateClient(handshake.extensions, [new PerMessageDeflate()]);
        if ('error' in result) negotiated = `error: ${result.error}`;
        else {
          negotiated = result.extensions.map((e) => e.name).join(',');
          for (const extension of result.extensions) extension.dispose?.();
        }
      }
      return {
        state: handshake.state,
        error: handshake.error?.code ?? null,
        protocol: handshake.protocol,
        extensions: handshake.extensions,
        negotiated,
      };
    });
  },
};

export const extensionHeaders: FuzzTarget = {
  name: 'extensions',
  description:
    'Sec-WebSocket-Extensions parsing, formatting (parse ∘ format is the identity on parsed items) and negotiation as server (the answer parses and our client accepts it) and as client',
  seeds: () =>
    [
      'permessage-deflate',
      'permessage-deflate; client_max_window_bits, permessage-deflate',
      'permessage-deflate; server_max_window_bits=10; client_max_window_bits="12"',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      'foo; bar="a b", permessage-deflate;client_max_window_bits=8',
    ].map(text),
  dictionary: HEAD_WORDS,
  maxLength: 300,
  run(data) {
    const header = latin1(data);
    const items = parseExtensions(header);
    if (!('error' in items)) {
      const again = parseExtensions(formatExtensions(items));
      assert.deepEqual(again, items, 'format then parse changes the items');
    }
    for (const options of [{}, { clientMaxWindowBits: true, serverMaxWindowBits: 10 }]) {
      const server = negotiateServer(header, [new PerMessageDeflate(options)]);
      if ('error' in server) continue;
      for (const extension of server.extensions) extension.dispose?.();
      const answer = parseExtensions(server.header);
      assert.ok(!('error' in answer), `server answer does not parse: ${server.header}`);
      if (server.header !== '') {
        // Our client offering everything accepts whatever our server answers.
        const client = negotiateClient(server.header, [new PerMessageDeflate({ clientMaxWindowBits: true })]);
        if ('error' in client && !header.includes('client_max_window_bits'))
          assert.fail(`client refuses the server's answer ${server.header}: ${client.error}`);
        if (!('error' in client)) for (const extension of client.extensions) extension.dispose?.();
      }
    }
    const client = negotiateClient(header, [new PerMessageDeflate()]);
    if (!('error' in client)) for (const extension of client.extensions) extension.dispose?.();
  },
};

export const eventRecv: FuzzTarget = {
  name: 'event-recv',
  description:
    "event layer (wslay's recv path) as server: frame and message callbacks, recv() results and bytes sent under 3 feed schedules",
  seeds: () => frameSeeds(true, false).map((s) => s.subarray(1)),
  dictionary: FRAME_WORDS,
  maxLength: 600,
  run(data) {
    sameUnderEverySchedule(data, (chunks) => {
      const script = new ScriptedRecv(chunks);
      const acc = new Accumulator();
      const rec = recorder();
      const ctx = EventContext.server({ recv: script.recv, send: acc.send, ...rec.callbacks });
      const results: number[] = [];
      let steps = 0;
      while (script.remaining > 0 && ctx.readEnabled) {
        assert.ok(++steps <= 4 * data.length + 8, 'recv() does not make progress');
        results.push(ctx.recv());
      }
      ctx.send();
      // Frame callbacks stream the payload as it arrives, so a frame that fails (invalid UTF-8 in its last bytes)
      // shows more of its payload when fed in pieces than when fed whole: the frames' headers and the messages
      // are compared, the chunks only as the messages they make.
      return {
        frames: rec.seen.filter((s) => s.cb === 'start'),
        messages: rec.messages(),
        sent: acc.hex,
        readEnabled: ctx.readEnabled,
        failed: results.some((r) => r !== 0),
      };
    });
  },
};

export const TARGETS: readonly FuzzTarget[] = [
  connectionTarget('server', false),
  connectionTarget('client', false),
  connectionTarget('server', true),
  connectionTarget('client', true),
  serverHandshake,
  clientHandshake,
  extensionHeaders,
  eventRecv,
];
