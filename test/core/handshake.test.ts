import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidStateError, UsageError } from '../../src/core/errors.ts';
import {
  type AcceptOptions,
  acceptHeaders,
  acceptKey,
  buildAccept,
  buildReject,
  buildRequest,
  checkRequest,
  checkResponse,
  generateKey,
  type HeaderRecord,
  hasListToken,
  type RequestInfo,
  requestHeaders,
  selectProtocol,
} from '../../src/core/handshake.ts';
import { ClientHandshake, HandshakeState, ServerHandshake } from '../../src/core/handshake-machine.ts';
import { pieces, SEED, schedulesFor } from '../helpers/feed.ts';
import { ascii, hex, toHex } from '../helpers/hex.ts';

// RFC 6455 §1.3's example nonce and the accept value it gives.
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
// (The brief for this file quoted 's3pPLMBiTxaQ9kYGJzPo+xbOo2s='; the RFC and SHA-1 both say otherwise.)
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const FRAME = hex`81 05 48656c6c6f`; // FIN|TEXT, len 5, "Hello"

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
/** A deterministic random source: 0, 1, 2, … */
const counting = (target: Uint8Array) => {
  for (let i = 0; i < target.length; i++) target[i] = i;
};

describe('accept key', () => {
  it('matches the example of RFC 6455 §1.3', () => {
    assert.equal(acceptKey(KEY), ACCEPT);
  });

  it('generates 16 random bytes as base64, from the injected source', () => {
    const key = generateKey(counting);
    assert.equal(key, Buffer.from([...Array(16).keys()]).toString('base64'));
    assert.match(generateKey(), /^[+/0-9A-Za-z]{22}==$/);
    assert.notEqual(generateKey(), generateKey());
  });
});

// ----------------------------------------------------------------------------------------------- server side

const VALID_REQUEST: RequestInfo = {
  method: 'GET',
  httpVersion: '1.1',
  headers: {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    origin: 'http://example.com',
    'sec-websocket-protocol': 'chat, superchat',
    'sec-websocket-version': '13',
  },
};

function request(changes: Partial<Omit<RequestInfo, 'headers'>>, headers: HeaderRecord = {}): RequestInfo {
  return { ...VALID_REQUEST, ...changes, headers: { ...VALID_REQUEST.headers, ...headers } };
}

describe('checkRequest', () => {
  it('accepts the request of RFC 6455 §1.2 and reports what it offers', () => {
    assert.deepEqual(checkRequest(VALID_REQUEST), {
      ok: true,
      key: KEY,
      protocols: ['chat', 'superchat'],
      extensions: '',
      origin: 'http://example.com',
      host: 'server.example.com',
    });
  });

  const accepted: Array<[string, RequestInfo]> = [
    ['Connection: keep-alive, Upgrade', request({}, { connection: 'keep-alive, Upgrade' })],
    ['case-insensitive Upgrade and Connection', request({}, { upgrade: 'WebSocket', connection: 'UPGRADE' })],
    ['repeated Sec-WebSocket-Protocol fields', request({}, { 'sec-websocket-protocol': ['a', 'b, c'] })],
    ['HTTP/1.2', request({ httpVersion: '1.2' })],
  ];
  for (const [name, req] of accepted) {
    it(`accepts ${name}`, () => assert.equal(checkRequest(req).ok, true));
  }

  it('joins repeated Sec-WebSocket-Extensions fields and omits a missing Origin', () => {
    const check = checkRequest(
      request({}, { 'sec-websocket-extensions': ['permessage-deflate', 'x-foo'], origin: undefined }),
    );
    assert.equal(check.ok && check.extensions, 'permessage-deflate, x-foo');
    assert.equal(check.ok && 'origin' in check, false);
  });

  const seventeenBytes = Buffer.from('the sample nonce!').toString('base64');
  const rejected: Array<[string, RequestInfo, number, Record<string, string>?]> = [
    ['POST', request({ method: 'POST' }), 405, { Allow: 'GET' }],
    ['HTTP/1.0', request({ httpVersion: '1.0' }), 400],
    ['HTTP/2.0', request({ httpVersion: '2.0' }), 505],
    ['a missing Host', request({}, { host: undefined }), 400],
    ['an empty Host', request({}, { host: ' ' }), 400],
    ['two Host fields', request({}, { host: ['a', 'b'] }), 400],
    ['Upgrade: h2c', request({}, { upgrade: 'h2c' }), 400],
    ['a missing Upgrade', request({}, { upgrade: undefined }), 400],
    ['Connection: keep-alive without upgrade', request({}, { connection: 'keep-alive' }), 400],
    [
      'Sec-WebSocket-Version: 8',
      request({}, { 'sec-websocket-version': '8' }),
      426,
      { 'Sec-WebSocket-Version': '13' },
    ],
    [
      'a missing version',
      request({}, { 'sec-websocket-version': undefined }),
      426,
      { 'Sec-WebSocket-Version': '13' },
    ],
    ['a missing key', request({}, { 'sec-websocket-key': undefined }), 400],
    ['a 23-char key', request({}, { 'sec-websocket-key': KEY.slice(0, 23) }), 400],
    ['a key of 17 bytes', request({}, { 'sec-websocket-key': seventeenBytes }), 400],
    ['a key that is not base64', request({}, { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ!=' }), 400],
    ['two key fields', request({}, { 'sec-websocket-key': [KEY, KEY] }), 400],
    ['two keys joined by node', request({}, { 'sec-websocket-key': `${KEY}, ${KEY}` }), 400],
    ['an invalid subprotocol token', request({}, { 'sec-websocket-protocol': 'chat, a b' }), 400],
    ['a duplicate subprotocol', request({}, { 'sec-websocket-protocol': ['chat', 'chat'] }), 400],
  ];
  for (const [name, req, status, headers] of rejected) {
    it(`rejects ${name} with ${status}`, () => {
      const check = checkRequest(req);
      assert.equal(check.ok, false);
      assert.equal(!check.ok && check.status, status);
      assert.deepEqual(!check.ok && check.headers, headers);
    });
  }

  it('checks the method before anything else', () => {
    const check = checkRequest({ method: 'POST', httpVersion: '1.0', headers: {} });
    assert.equal(!check.ok && check.status, 405);
  });

  it('uses a 17-byte key fixture as long as a valid key, so only its decoded size is wrong', () => {
    assert.equal(seventeenBytes.length, 24);
  });
});

describe('selectProtocol', () => {
  const table: Array<[string[], Parameters<typeof selectProtocol>[1], string | undefined]> = [
    [['chat', 'superchat'], ['superchat', 'chat'], 'superchat'], // the server's preference wins
    [['chat', 'superchat'], ['chat'], 'chat'],
    [['chat'], ['other'], undefined],
    [[], ['chat'], undefined],
    [['chat'], [], undefined],
    [['Chat'], ['chat'], undefined], // subprotocols compare case-sensitively
    [['a', 'b'], (offered) => offered[1], 'b'],
    [['a', 'b'], () => undefined, undefined],
    [['a', 'b'], () => false, undefined],
  ];
  for (const [offered, supported, expected] of table) {
    it(`offered ${JSON.stringify(offered)}, supported ${String(supported)} → ${expected}`, () => {
      assert.equal(selectProtocol(offered, supported), expected);
    });
  }

  it('throws when a selector picks a protocol the client did not offer', () => {
    assert.throws(() => selectProtocol(['a'], () => 'b'), UsageError);
  });
});

describe('buildAccept / acceptHeaders', () => {
  it('builds the exact bytes of the 101 answer of RFC 6455 §1.3', () => {
    assert.equal(
      text(buildAccept({ key: KEY })),
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        '\r\n',
    );
  });

  it('adds the subprotocol, the extensions and extra headers, in that order', () => {
    const bytes = buildAccept({
      key: KEY,
      protocol: 'chat',
      extensions: 'permessage-deflate',
      headers: { 'Set-Cookie': ['a=1', 'b=2'] },
    });
    assert.equal(
      text(bytes),
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n',
    );
  });

  it('gives the same answer as a header object', () => {
    assert.deepEqual(
      acceptHeaders({ key: KEY, protocol: 'chat', headers: { 'Set-Cookie': ['a=1', 'b=2'] } }),
      {
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Accept': ACCEPT,
        'Sec-WebSocket-Protocol': 'chat',
        'Set-Cookie': ['a=1', 'b=2'],
      },
    );
  });

  it('writes the fields acceptHeaders gives, in the same order', () => {
    const cases: AcceptOptions[] = [
      { key: KEY },
      { key: KEY, protocol: 'chat' },
      { key: KEY, extensions: 'permessage-deflate; server_no_context_takeover' },
      {
        key: KEY,
        protocol: 'v2',
        extensions: 'x',
        headers: [
          ['X-A', '1'],
          ['Set-Cookie', 'b=2'],
        ],
      },
    ];
    for (const options of cases) {
      const lines = Object.entries(acceptHeaders(options)).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((item) => `${name}: ${item}\r\n`),
      );
      assert.equal(text(buildAccept(options)), `HTTP/1.1 101 Switching Protocols\r\n${lines.join('')}\r\n`);
    }
  });

  it('answers without extra headers with the bytes it gives with an empty list of them', () => {
    for (const protocol of [undefined, 'chat', 'v2.json']) {
      for (const extensions of [
        undefined,
        '',
        'permessage-deflate; client_max_window_bits=10',
        'x; y="\xe9"',
      ]) {
        assert.equal(
          text(buildAccept({ key: KEY, protocol, extensions })),
          text(buildAccept({ key: KEY, protocol, extensions, headers: [] })),
          `protocol ${protocol}, extensions ${extensions}`,
        );
      }
    }
  });

  const misuse: Array<[string, () => unknown]> = [
    ['an invalid protocol token', () => buildAccept({ key: KEY, protocol: 'a b' })],
    [
      'an invalid protocol token, with extra headers',
      () => buildAccept({ key: KEY, protocol: 'a b', headers: [] }),
    ],
    ['CRLF in extensions', () => buildAccept({ key: KEY, extensions: 'x\r\nEvil: 1' })],
    ['a char above U+00FF in extensions', () => buildAccept({ key: KEY, extensions: 'x; y=\u0100' })],
    ['an extra header that the handshake sets', () => acceptHeaders({ key: KEY, headers: { upgrade: 'x' } })],
    [
      'an extra header that the handshake sets, in the bytes',
      () => buildAccept({ key: KEY, headers: { 'Sec-WebSocket-Accept': 'x' } }),
    ],
  ];
  for (const [name, call] of misuse)
    it(`throws UsageError for ${name}`, () => assert.throws(call, UsageError));
});

describe('buildReject', () => {
  it('builds an error answer with Connection: close and a sized text body', () => {
    assert.equal(
      text(buildReject(426, { headers: { 'Sec-WebSocket-Version': '13' } })),
      'HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 20\r\nSec-WebSocket-Version: 13\r\n\r\n426 Upgrade Required',
    );
  });

  it('counts the body in UTF-8 bytes and lets Content-Type be replaced', () => {
    const bytes = buildReject(403, { reason: 'Nope', body: 'é', headers: { 'Content-Type': 'text/html' } });
    assert.equal(
      Buffer.from(bytes).toString('utf8'),
      'HTTP/1.1 403 Nope\r\nConnection: close\r\nContent-Length: 2\r\nContent-Type: text/html\r\n\r\né',
    );
  });

  it('throws UsageError for a 2xx status or a Content-Length of our own', () => {
    assert.throws(() => buildReject(200), UsageError);
    assert.throws(() => buildReject(400, { headers: { 'content-length': '1' } }), UsageError);
  });
});

// ----------------------------------------------------------------------------------------------- client side

describe('buildRequest / requestHeaders', () => {
  it('builds the exact bytes of a client request', () => {
    const { bytes, key } = buildRequest({
      host: 'server.example.com',
      path: '/chat',
      key: KEY,
      origin: 'http://example.com',
      protocols: ['chat', 'superchat'],
      extensions: 'permessage-deflate',
      headers: [['Authorization', 'Bearer x']],
    });
    assert.equal(key, KEY);
    assert.equal(
      text(bytes),
      'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\nOrigin: http://example.com\r\nSec-WebSocket-Version: 13\r\n` +
        'Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n' +
        'Authorization: Bearer x\r\n\r\n',
    );
  });

  it('draws the key from the injected random source', () => {
    const { bytes, key } = buildRequest({ host: 'h', path: '/', random: counting });
    assert.equal(key, generateKey(counting));
    assert.match(text(bytes), new RegExp(`\r\nSec-WebSocket-Key: ${key.replace(/[+/]/g, '\\$&')}\r\n`));
  });

  it('gives the headers for http.request', () => {
    assert.deepEqual(requestHeaders({ key: KEY, protocols: ['chat'] }), {
      key: KEY,
      headers: {
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': KEY,
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Protocol': 'chat',
      },
    });
  });

  const misuse: Array<[string, () => unknown]> = [
    ['an invalid protocol token', () => buildRequest({ host: 'h', path: '/', protocols: ['a b'] })],
    ['a comma inside a protocol', () => buildRequest({ host: 'h', path: '/', protocols: ['a,b'] })],
    ['a duplicate protocol', () => requestHeaders({ protocols: ['a', 'a'] })],
    ['an empty protocol', () => requestHeaders({ protocols: [''] })],
    ['CRLF in a header value', () => buildRequest({ host: 'h', path: '/', headers: { X: 'a\r\nb: c' } })],
    ['CRLF in the origin', () => buildRequest({ host: 'h', path: '/', origin: 'a\r\nb: c' })],
    ['a header the handshake sets', () => buildRequest({ host: 'h', path: '/', headers: { Host: 'x' } })],
    ['a malformed key', () => buildRequest({ host: 'h', path: '/', key: 'abc' })],
    ['a path without /', () => buildRequest({ host: 'h', path: 'chat' })],
    ['a space in the host', () => buildRequest({ host: 'a b', path: '/' })],
  ];
  for (const [name, call] of misuse)
    it(`throws UsageError for ${name}`, () => assert.throws(call, UsageError));
});

describe('checkResponse', () => {
  const good: HeaderRecord = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': ACCEPT };
  const check = (status: number, headers: HeaderRecord, protocols?: string[], extensionsOffered?: string) =>
    checkResponse({ status, headers: { ...good, ...headers } }, { key: KEY, protocols, extensionsOffered });

  it('accepts the answer of RFC 6455 §1.3', () => {
    assert.deepEqual(check(101, {}), { ok: true, protocol: '', extensions: '' });
  });

  it('returns the chosen protocol and the raw extensions', () => {
    const result = check(
      101,
      { 'sec-websocket-protocol': 'chat', 'sec-websocket-extensions': 'permessage-deflate' },
      ['superchat', 'chat'],
      'permessage-deflate; client_max_window_bits',
    );
    assert.deepEqual(result, { ok: true, protocol: 'chat', extensions: 'permessage-deflate' });
  });

  const failures: Array<[string, ReturnType<typeof check>, string]> = [
    ['a 200 status', check(200, {}), 'BAD_STATUS'],
    ['Upgrade: h2c', check(101, { upgrade: 'h2c' }), 'BAD_UPGRADE'],
    ['a missing Connection', check(101, { connection: undefined }), 'BAD_CONNECTION'],
    ['a bad accept value', check(101, { 'sec-websocket-accept': acceptKey('x') }), 'BAD_ACCEPT'],
    ['a missing accept value', check(101, { 'sec-websocket-accept': undefined }), 'BAD_ACCEPT'],
    [
      'an unrequested protocol',
      check(101, { 'sec-websocket-protocol': 'x' }, ['chat']),
      'UNREQUESTED_PROTOCOL',
    ],
    [
      'a protocol when none offered',
      check(101, { 'sec-websocket-protocol': 'chat' }),
      'UNREQUESTED_PROTOCOL',
    ],
    ['two protocols', check(101, { 'sec-websocket-protocol': 'a, b' }, ['a', 'b']), 'UNREQUESTED_PROTOCOL'],
    ['no protocol when some offered', check(101, {}, ['chat']), 'MISSING_PROTOCOL'],
    [
      'extensions when none offered',
      check(101, { 'sec-websocket-extensions': 'x' }),
      'UNREQUESTED_EXTENSION',
    ],
  ];
  for (const [name, result, code] of failures) {
    it(`fails on ${name} with ${code}`, () => {
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.code, code);
    });
  }
});

// -------------------------------------------------------------------------------------------- state machines

const REQUEST_LINES = [
  'GET /chat HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${KEY}`,
  'Origin: http://example.com',
  'Sec-WebSocket-Protocol: chat, superchat',
  'Sec-WebSocket-Version: 13',
];

/**
 * The valid request with header `name` replaced by `lines` (none: removed), or the start line if name is ''.
 */
function requestBytes(name: string, ...lines: string[]): Uint8Array {
  const kept = REQUEST_LINES.filter((line, i) => (name === '' ? i !== 0 : !line.startsWith(`${name}:`)));
  const all = name === '' ? [...lines, ...kept] : [...kept, ...lines];
  return ascii(`${all.join('\r\n')}\r\n\r\n`);
}

/** Feeds the bytes to a fresh handshake per schedule, stopping once it is no longer waiting for data. */
function runUnderEverySchedule<T extends ServerHandshake | ClientHandshake>(
  make: () => T,
  bytes: Uint8Array,
  check: (handshake: T, trailing: Uint8Array, schedule: string) => void,
): void {
  for (const schedule of schedulesFor(bytes.length)) {
    const handshake = make();
    const chunks = pieces(bytes, schedule);
    let i = 0;
    while (handshake.state === HandshakeState.NeedData && i < chunks.length)
      handshake.receiveData(chunks[i++]!);
    check(handshake, new Uint8Array(Buffer.concat([handshake.trailing, ...chunks.slice(i)])), schedule.name);
  }
}

function sent(handshake: ServerHandshake | ClientHandshake): { text: string; end: boolean } {
  const { chunks, end } = handshake.dataToSend();
  return { text: text(Buffer.concat(chunks)), end };
}

describe('ServerHandshake', () => {
  it('answers a valid request with 101 and keeps the frame after it, under every schedule', () => {
    const bytes = Buffer.concat([
      requestBytes('Sec-WebSocket-Extensions', 'Sec-WebSocket-Extensions: x-a'),
      FRAME,
    ]);
    const make = () =>
      new ServerHandshake({ protocols: ['superchat'], extensions: (offer) => `${offer}; y=1` });
    runUnderEverySchedule(make, bytes, (server, trailing, schedule) => {
      assert.equal(server.state, HandshakeState.Done, schedule);
      assert.equal(toHex(trailing), toHex(FRAME), schedule);
      assert.equal(server.request?.target, '/chat');
      assert.equal(server.accepted?.origin, 'http://example.com');
      assert.deepEqual([server.protocol, server.extensions], ['superchat', 'x-a; y=1']);
      assert.deepEqual(sent(server), {
        text: text(buildAccept({ key: KEY, protocol: 'superchat', extensions: 'x-a; y=1' })),
        end: false,
      });
      assert.deepEqual(server.dataToSend(), { chunks: [], end: false });
    });
  });

  const long = `X-Long: ${'a'.repeat(16 * 1024)}`;
  const rejections: Array<[string, Uint8Array, number, string?]> = [
    ['a garbage request line', requestBytes('', 'HELLO WORLD'), 400],
    ['a missing key', requestBytes('Sec-WebSocket-Key'), 400],
    ['a 23-char key', requestBytes('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${KEY.slice(1)}`), 400],
    [
      'a duplicate key',
      requestBytes('Sec-WebSocket-Key', `Sec-WebSocket-Key: ${KEY}`, `Sec-WebSocket-Key: ${KEY}`),
      400,
    ],
    [
      'version 8',
      requestBytes('Sec-WebSocket-Version', 'Sec-WebSocket-Version: 8'),
      426,
      'Sec-WebSocket-Version: 13',
    ],
    ['POST', requestBytes('', 'POST /chat HTTP/1.1'), 405, 'Allow: GET'],
    ['a missing Host', requestBytes('Host'), 400],
    ['Upgrade: h2c', requestBytes('Upgrade', 'Upgrade: h2c'), 400],
    ['Connection: keep-alive', requestBytes('Connection', 'Connection: keep-alive'), 400],
    ['obs-fold', requestBytes('Origin', 'Origin: http://a', ' .example'), 400],
    ['a header block over the limit', requestBytes('X-Long', long), 431],
  ];
  for (const [name, bytes, status, header] of rejections) {
    it(`refuses ${name} with ${status}, under every schedule`, () => {
      runUnderEverySchedule(
        () => new ServerHandshake(),
        bytes,
        (server, _, schedule) => {
          assert.equal(server.state, HandshakeState.Failed, schedule);
          assert.equal(server.failure?.status, status, schedule);
          const answer = sent(server);
          assert.equal(answer.end, true);
          assert.match(answer.text, new RegExp(`^HTTP/1\\.1 ${status} [^\r]*\r\nConnection: close\r\n`));
          if (header) assert.ok(answer.text.includes(`\r\n${header}\r\n`), answer.text);
        },
      );
    });
  }

  it('accepts Connection: keep-alive, Upgrade', () => {
    const server = new ServerHandshake();
    server.receiveData(requestBytes('Connection', 'Connection: keep-alive, Upgrade'));
    assert.equal(server.state, HandshakeState.Done);
  });

  it('answers 431 beyond a custom maxHeaderSize', () => {
    const server = new ServerHandshake({ maxHeaderSize: 64 });
    server.receiveData(requestBytes('X-None'));
    assert.equal(server.failure?.status, 431);
  });

  it('closes without an answer when the peer ends mid-head, and refuses more input', () => {
    const server = new ServerHandshake();
    server.receiveData(ascii('GET / HTTP/1.1\r\n'));
    server.receiveEnd();
    assert.equal(server.state, HandshakeState.Failed);
    assert.deepEqual(server.dataToSend(), { chunks: [], end: true });
    assert.throws(() => server.receiveData(ascii('x')), InvalidStateError);
  });
});

describe('ClientHandshake', () => {
  const options = { host: 'server.example.com', path: '/chat', key: KEY, protocols: ['chat'] };

  it('sends its request at once', () => {
    const client = new ClientHandshake(options);
    assert.equal(client.key, KEY);
    assert.deepEqual(sent(client), { text: text(buildRequest(options).bytes), end: false });
  });

  it('completes against a ServerHandshake and keeps the frame after the 101, under every schedule', () => {
    const server = new ServerHandshake({ protocols: ['chat'] });
    server.receiveData(Buffer.concat(new ClientHandshake(options).dataToSend().chunks));
    const answer = Buffer.concat([...server.dataToSend().chunks, FRAME]);
    runUnderEverySchedule(
      () => new ClientHandshake(options),
      answer,
      (client, trailing, schedule) => {
        assert.equal(client.state, HandshakeState.Done, schedule);
        assert.equal(client.protocol, 'chat');
        assert.equal(client.response?.status, 101);
        assert.equal(toHex(trailing), toHex(FRAME), schedule);
      },
    );
  });

  const failures: Array<[string, string, string]> = [
    ['a 403 answer', 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n', 'BAD_STATUS'],
    [
      'a bad accept',
      'HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n',
      'BAD_ACCEPT',
    ],
    ['a garbage status line', 'HTTP/1.1 abc\r\n\r\n', 'BAD_RESPONSE'],
  ];
  for (const [name, response, code] of failures) {
    it(`fails on ${name} with ${code}, sending nothing and closing`, () => {
      const client = new ClientHandshake(options);
      client.dataToSend();
      client.receiveData(ascii(response));
      assert.equal(client.state, HandshakeState.Failed);
      assert.equal(client.error?.code, code);
      assert.deepEqual(client.dataToSend(), { chunks: [], end: true });
    });
  }

  it('fails with UNEXPECTED_EOF when the server closes mid-head', () => {
    const client = new ClientHandshake(options);
    client.receiveData(ascii('HTTP/1.1 101 Switching'));
    client.receiveEnd();
    assert.equal(client.error?.code, 'UNEXPECTED_EOF');
  });
});

describe('hasListToken', () => {
  it('finds a token in a list as splitting on commas and trimming SP/HTAB would (property)', () => {
    const piece = fc.constantFrom(
      'upgrade',
      'UpGrade',
      'keep-alive',
      'up',
      'upgrades',
      ' ',
      '\t',
      ',',
      '',
      'x',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }), (pieces) => {
        const value = pieces.join('');
        const expected = value
          .split(',')
          .map((item) => item.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase())
          .includes('upgrade');
        assert.equal(hasListToken(value, 'upgrade'), expected, JSON.stringify(value));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('ignores OWS but not other characters around a token', () => {
    assert.equal(hasListToken('keep-alive, \tUpgrade\t ', 'upgrade'), true);
    assert.equal(hasListToken('keep-alive,upgrade', 'upgrade'), true);
    assert.equal(hasListToken('upgrade;q=1', 'upgrade'), false);
    assert.equal(hasListToken('', 'upgrade'), false);
  });
});
