import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidStateError, UsageError } from '../../src/core/errors.ts';
import {
  HeaderFields,
  type HeadParser,
  type HeadResult,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  requestParser,
  responseParser,
  serializeRequest,
  serializeResponse,
} from '../../src/core/http1.ts';
import { pieces, type Schedule, schedulesFor } from '../helpers/feed.ts';
import { ascii, hex, toHex } from '../helpers/hex.ts';

/**
 * Feeds `bytes` per `schedule` until the parser finishes; trailing = the rest of the bytes after the head.
 */
function feedHead<H>(parser: HeadParser<H>, bytes: Uint8Array, schedule: Schedule) {
  const chunks = pieces(bytes, schedule);
  let result: HeadResult<H> = { state: 'need-more' };
  let i = 0;
  while (result.state === 'need-more' && i < chunks.length) result = parser.push(chunks[i++]!);
  const rest = chunks.slice(i);
  const trailing = result.state === 'done' ? Buffer.concat([result.trailing, ...rest]) : Buffer.alloc(0);
  return { result, trailing: new Uint8Array(trailing) };
}

/** Runs `check` with the parse result of `bytes` under every feed schedule. */
function underEverySchedule<H>(
  makeParser: () => HeadParser<H>,
  bytes: Uint8Array,
  check: (outcome: ReturnType<typeof feedHead<H>>, schedule: Schedule) => void,
): void {
  for (const schedule of schedulesFor(bytes.length)) check(feedHead(makeParser(), bytes, schedule), schedule);
}

function done<H>(result: HeadResult<H>, schedule: Schedule): H {
  assert.equal(result.state, 'done', `schedule ${schedule.name}: ${JSON.stringify(result)}`);
  return (result as { head: H }).head;
}

const REQUEST = ascii(
  'GET /chat?room=1 HTTP/1.1\r\n' +
    'Host: server.example.com\r\n' +
    'Upgrade: websocket\r\n' +
    'X-List: a\r\n' +
    'Connection:Upgrade\r\n' + // no OWS at all
    'x-list:  b ,c \t\r\n' + // OWS trimmed on both ends, inner kept
    '\r\n',
);
const FRAME = hex`81 05 48656c6c6f`; // FIN|TEXT, len 5, "Hello"

describe('http1 head parser: requests', () => {
  it('parses a request head and hands back the trailing bytes, under every schedule', () => {
    underEverySchedule(requestParser, Buffer.concat([REQUEST, FRAME]), ({ result, trailing }, schedule) => {
      const head = done<RequestHead>(result, schedule);
      assert.equal(head.method, 'GET');
      assert.equal(head.target, '/chat?room=1');
      assert.equal(head.httpVersion, '1.1');
      assert.deepEqual(head.headers.list, [
        ['host', 'server.example.com'],
        ['upgrade', 'websocket'],
        ['x-list', 'a'],
        ['connection', 'Upgrade'],
        ['x-list', 'b ,c'],
      ]);
      assert.equal(toHex(trailing), toHex(FRAME), schedule.name);
    });
  });

  it('tolerates bare LF line endings', () => {
    const bytes = ascii('GET / HTTP/1.1\nHost: a\n\nrest');
    underEverySchedule(requestParser, bytes, ({ result, trailing }, schedule) => {
      assert.deepEqual(done<RequestHead>(result, schedule).headers.list, [['host', 'a']]);
      assert.equal(Buffer.from(trailing).toString(), 'rest');
    });
  });

  it('needs more data until the blank line has arrived', () => {
    const parser = requestParser();
    assert.deepEqual(parser.push(ascii('GET / HTTP/1.1\r\nHost: a\r\n\r')), { state: 'need-more' });
    assert.equal(parser.push(ascii('\n')).state, 'done');
  });

  it('throws when pushed to after it has finished (our misuse)', () => {
    const parser = requestParser();
    parser.push(ascii('GET / HTTP/1.1\r\n\r\n'));
    assert.throws(() => parser.push(ascii('x')), InvalidStateError);
  });

  const rejected: Array<[string, string, string]> = [
    ['garbage request line', 'HELLO\r\n\r\n', 'bad-start-line'],
    ['request line without version', 'GET /\r\n\r\n', 'bad-start-line'],
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\n\r\n', 'bad-start-line'],
    ['a status line where a request is expected', 'HTTP/1.1 200 OK\r\n\r\n', 'bad-start-line'],
    ['an empty head', '\r\n', 'bad-start-line'],
    ['obs-fold', 'GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n', 'obs-fold'],
    ['a header line without a colon', 'GET / HTTP/1.1\r\nHost a\r\n\r\n', 'missing-colon'],
    ['a line without a colon before one with', 'GET / HTTP/1.1\r\nHost a\r\nX: b\r\n\r\n', 'missing-colon'],
    ['a bare CR inside a value', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n', 'bad-header-value'],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'bad-header-name'],
    ['a separator in a header name', 'GET / HTTP/1.1\r\nX(a): b\r\n\r\n', 'bad-header-name'],
    ['an empty header name', 'GET / HTTP/1.1\r\n: b\r\n\r\n', 'bad-header-name'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n', 'bad-header-value'],
    ['a bare CR in a value', 'GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n', 'bad-header-value'],
  ];
  for (const [name, text, code] of rejected) {
    it(`rejects ${name} with 400, under every schedule`, () => {
      underEverySchedule(requestParser, ascii(text), ({ result }, schedule) => {
        assert.equal(result.state, 'error', schedule.name);
        assert.equal(result.state === 'error' && result.code, code, schedule.name);
        assert.equal(result.state === 'error' && result.status, 400);
      });
    });
  }

  it('accepts a head of exactly maxHeadSize bytes and refuses one more (431), under every schedule', () => {
    const head = (size: number) => ascii(`GET / HTTP/1.1\r\nX: ${'a'.repeat(size - 23)}\r\n\r\n`);
    assert.equal(head(100).length, 100);
    underEverySchedule(
      () => requestParser({ maxHeadSize: 100 }),
      Buffer.concat([head(100), FRAME]),
      ({ result, trailing }, schedule) => {
        done(result, schedule);
        assert.equal(toHex(trailing), toHex(FRAME));
      },
    );
    underEverySchedule(
      () => requestParser({ maxHeadSize: 100 }),
      head(101),
      ({ result }, schedule) => {
        assert.equal(result.state === 'error' && result.code, 'too-large', schedule.name);
        assert.equal(result.state === 'error' && result.status, 431);
      },
    );
  });

  it('refuses an endless head at 16 KiB by default, without waiting for its end', () => {
    const parser = requestParser();
    const start = ascii(`GET / HTTP/1.1\r\nX: ${'a'.repeat(16 * 1024 - 19)}`);
    assert.equal(start.length, 16 * 1024);
    assert.equal(parser.push(start).state, 'need-more');
    assert.equal(parser.push(ascii('a')).state, 'error');
  });

  it('rejects a non-positive maxHeadSize (our misuse)', () => {
    assert.throws(() => requestParser({ maxHeadSize: 0 }), UsageError);
  });
});

describe('http1 head parser: responses', () => {
  it('parses a 101 status line and keeps the frame that follows it, under every schedule', () => {
    const bytes = Buffer.concat([
      ascii('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'),
      FRAME,
    ]);
    underEverySchedule(responseParser, bytes, ({ result, trailing }, schedule) => {
      const head = done<ResponseHead>(result, schedule);
      assert.deepEqual([head.httpVersion, head.status, head.reason], ['1.1', 101, 'Switching Protocols']);
      assert.equal(head.headers.get('Upgrade'), 'websocket');
      assert.equal(toHex(trailing), toHex(FRAME));
    });
  });

  it('accepts an empty or missing reason phrase', () => {
    assert.equal((parseResponseHead('HTTP/1.1 101 \r\n\r\n') as ResponseHead).reason, '');
    assert.equal((parseResponseHead('HTTP/1.1 101\r\n\r\n') as ResponseHead).status, 101);
  });

  it('rejects a garbage status line', () => {
    assert.equal((parseResponseHead('HTTP/1.1 1O1 OK\r\n\r\n') as { code: string }).code, 'bad-start-line');
    assert.equal((parseResponseHead('GET / HTTP/1.1\r\n\r\n') as { code: string }).code, 'bad-start-line');
  });
});

describe('HeaderFields', () => {
  const fields = new HeaderFields([
    ['Sec-WebSocket-Protocol', 'a'],
    ['Host', 'h'],
    ['sec-websocket-protocol', 'b, c'],
  ]);

  it('lowercases names and keeps every field in order', () => {
    assert.deepEqual(fields.list, [
      ['sec-websocket-protocol', 'a'],
      ['host', 'h'],
      ['sec-websocket-protocol', 'b, c'],
    ]);
  });

  it('joins repeated fields with ", " on lookup, case-insensitively', () => {
    assert.equal(fields.get('SEC-WEBSOCKET-PROTOCOL'), 'a, b, c');
    assert.deepEqual(fields.getAll('sec-websocket-protocol'), ['a', 'b, c']);
    assert.equal(fields.get('origin'), undefined);
    assert.equal(fields.has('Host'), true);
  });

  it('gives a record where only repeated names are arrays', () => {
    assert.deepEqual(fields.toRecord(), { 'sec-websocket-protocol': ['a', 'b, c'], host: 'h' });
  });

  it('gives fields named constructor or __proto__ (Object.prototype members) as plain own values', () => {
    const record = (f: string) =>
      (parseRequestHead(`GET / HTTP/1.1\r\n${f}\r\n`) as RequestHead).headers.toRecord();
    assert.deepEqual(record('Constructor: a\r\n'), { constructor: 'a' });
    assert.deepEqual(record('Constructor: a\r\nconstructor: b\r\n'), { constructor: ['a', 'b'] });
    assert.equal(Object.getPrototypeOf(record('Constructor: a\r\n')), Object.prototype);
    const proto = record('__proto__: x\r\n__proto__: y\r\n');
    assert.deepEqual(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, ['x', 'y']);
    assert.deepEqual(Object.keys(proto), ['__proto__']);
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  });
});

describe('http1 serializers', () => {
  it('serializes a response head exactly', () => {
    const bytes = serializeResponse(404, 'Not Found', { 'Content-Length': 0, Vary: ['a', 'b'] });
    assert.equal(
      Buffer.from(bytes).toString('latin1'),
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nVary: a\r\nVary: b\r\n\r\n',
    );
  });

  it('serializes a request head exactly, keeping pair order and latin1 bytes', () => {
    const bytes = serializeRequest('GET', '/x', [
      ['Host', 'h'],
      ['X-Name', 'caf\u00e9'],
    ]);
    assert.equal(toHex(bytes), toHex(ascii('GET /x HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\n\r\n')));
  });

  const misuse: Array<[string, () => unknown]> = [
    ['CRLF in a value', () => serializeResponse(200, 'OK', { 'X-A': 'a\r\nX-Evil: 1' })],
    ['a space in a name', () => serializeResponse(200, 'OK', { 'X A': 'a' })],
    ['an empty name', () => serializeRequest('GET', '/', [['', 'a']])],
    ['leading whitespace in a value', () => serializeRequest('GET', '/', [['X', ' a']])],
    ['a character above U+00FF', () => serializeRequest('GET', '/', [['X', '\u20ac']])],
    ['a space in the target', () => serializeRequest('GET', '/a b', [])],
    ['a bad method', () => serializeRequest('G T', '/', [])],
    ['a two-digit status', () => serializeResponse(99, 'x', [])],
    ['CR in the reason', () => serializeResponse(200, 'O\rK', [])],
  ];
  for (const [name, call] of misuse) {
    it(`throws UsageError for ${name}`, () => assert.throws(call, UsageError));
  }
});

describe('http1 round trip (property)', () => {
  const tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const name = fc.string({ unit: fc.constantFrom(...tchar), minLength: 1, maxLength: 12 });
  const value = fc.oneof(
    fc.constant(''),
    fc.stringMatching(/^[\x21-\x7e\x80-\xff](?:[\t \x21-\x7e\x80-\xff]{0,20}[\x21-\x7e\x80-\xff])?$/),
  );

  it('parses what it serialized, under random chunking, with the trailing bytes intact', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(name, value), { maxLength: 12 }),
        fc.uint8Array({ maxLength: 16 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (pairs, after, cuts) => {
          const head = serializeRequest('GET', '/p', pairs);
          const bytes = Buffer.concat([head, after]);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const sizes = [...points, bytes.length].map((p, i) => p - (i === 0 ? 0 : points[i - 1]!));
          const schedule: Schedule = { name: `cuts ${points}`, split: () => sizes.filter((s) => s > 0) };
          const { result, trailing } = feedHead(requestParser(), bytes, schedule);
          const parsed = done<RequestHead>(result, schedule);
          assert.deepEqual(
            parsed.headers.list,
            pairs.map(([n, v]) => [n.toLowerCase(), v]),
          );
          assert.equal(toHex(trailing), toHex(after));
        },
      ),
      { seed: 0x5eed, numRuns: 300 },
    );
  });
});
