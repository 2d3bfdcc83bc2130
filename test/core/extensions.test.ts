import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rsv } from '../../src/core/constants.ts';
import { UsageError } from '../../src/core/errors.ts';
import type { Extension } from '../../src/core/extension.ts';
import {
  type ExtensionFactory,
  type ExtensionParam,
  formatExtensions,
  negotiateClient,
  negotiateServer,
  offerExtensions,
  parseExtensions,
} from '../../src/core/extensions.ts';
import {
  type DeflateExtension,
  type DeflateParams,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from '../../src/core/permessage-deflate.ts';

describe('parseExtensions', () => {
  const valid: [string | string[] | undefined, unknown][] = [
    [undefined, []],
    ['', []],
    ['  ', []],
    ['foo', [{ name: 'foo', params: [] }]],
    [
      'foo, bar',
      [
        { name: 'foo', params: [] },
        { name: 'bar', params: [] },
      ],
    ],
    [
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10',
      [
        {
          name: 'permessage-deflate',
          params: [
            ['client_max_window_bits', true],
            ['server_max_window_bits', '10'],
          ],
        },
      ],
    ],
    [
      'foo ;a = 1 ;\tb',
      [
        {
          name: 'foo',
          params: [
            ['a', '1'],
            ['b', true],
          ],
        },
      ],
    ],
    ['foo; a="10"', [{ name: 'foo', params: [['a', '10']] }]],
    ['foo; a="1\\0"', [{ name: 'foo', params: [['a', '10']] }]],
    [
      ' , foo ,, bar , ',
      [
        { name: 'foo', params: [] },
        { name: 'bar', params: [] },
      ],
    ],
    [
      ['foo; a', 'bar'],
      [
        { name: 'foo', params: [['a', true]] },
        { name: 'bar', params: [] },
      ],
    ],
    [
      'foo, foo; x',
      [
        { name: 'foo', params: [] },
        { name: 'foo', params: [['x', true]] },
      ],
    ],
  ];
  for (const [header, expected] of valid) {
    test(`parses ${JSON.stringify(header)}`, () => {
      assert.deepEqual(parseExtensions(header), expected);
    });
  }

  const malformed = [
    ';',
    'foo;',
    'foo; ;a',
    '=1',
    'foo=1',
    'foo; a=',
    'foo; a=1=2',
    'foo; a="1 0"',
    'foo; a=""',
    'foo; a="10',
    'foo; a="10\\',
    'foo bar',
    'foo; a b',
    'f@o',
    'foo; a=1 2',
    'fóo',
  ];
  for (const header of malformed) {
    test(`rejects ${JSON.stringify(header)} without throwing`, () => {
      const result = parseExtensions(header);
      assert.ok('error' in result, JSON.stringify(result));
    });
  }

  test('rejects a malformed second header line', () => {
    assert.ok('error' in parseExtensions(['foo', 'bar;']));
  });
});

describe('formatExtensions', () => {
  test('formats names, flags and values', () => {
    const header = formatExtensions([
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
        ],
      },
      { name: 'foo', params: [] },
    ]);
    assert.equal(header, 'permessage-deflate; client_max_window_bits; server_max_window_bits=10, foo');
    assert.deepEqual(parseExtensions(header), [
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
        ],
      },
      { name: 'foo', params: [] },
    ]);
  });

  test('formats the empty list as the empty string', () => {
    assert.equal(formatExtensions([]), '');
  });

  for (const item of [
    { name: 'a b', params: [] },
    { name: 'a', params: [['b c', true]] as ExtensionParam[] },
    { name: 'a', params: [['b', 'c d']] as ExtensionParam[] },
  ]) {
    test(`throws UsageError for our own invalid ${JSON.stringify(item)}`, () => {
      assert.throws(() => formatExtensions([item]), UsageError);
    });
  }
});

/** A do-nothing extension factory that records what it was given. */
function stub(
  name: string,
  rsv: number,
  acceptIf: (params: readonly ExtensionParam[]) => boolean = () => true,
) {
  const disposed: string[] = [];
  const make = (): Extension => ({
    name,
    rsv,
    decode: (data) => [data],
    encode: (data) => ({ payload: data, rsv: 0 }),
    dispose: () => disposed.push(name),
  });
  const seen: (readonly (readonly ExtensionParam[])[])[] = [];
  const factory: ExtensionFactory = {
    name,
    accept(offers) {
      seen.push(offers);
      const offer = offers.find(acceptIf);
      return offer === undefined ? undefined : { params: [...offer], extension: make() };
    },
    offer: () => [['x', '1']],
    acceptResponse: (params) => (acceptIf(params) ? make() : new Error('bad response')),
  };
  return { factory, seen, disposed };
}

describe('negotiateServer (generic)', () => {
  test('hands each factory only its own offers, in order, and answers in factory order', () => {
    const a = stub('a', Rsv.Rsv1);
    const b = stub('b', Rsv.Rsv2);
    const result = negotiateServer('b; p=1, a; q, c, a; r', [a.factory, b.factory]);
    assert.ok(!('error' in result));
    assert.deepEqual(a.seen, [[[['q', true]], [['r', true]]]]);
    assert.deepEqual(b.seen, [[[['p', '1']]]]);
    assert.equal(result.header, 'a; q, b; p=1');
    assert.deepEqual(
      result.extensions.map((e) => e.name),
      ['a', 'b'],
    );
  });

  test('answers the empty header when nothing is accepted', () => {
    const a = stub('a', Rsv.Rsv1, () => false);
    assert.deepEqual(negotiateServer('a, b', [a.factory]), { header: '', extensions: [] });
    assert.deepEqual(negotiateServer(undefined, [a.factory]), { header: '', extensions: [] });
  });

  test('skips (and disposes) an extension whose RSV bit is already taken', () => {
    const a = stub('a', Rsv.Rsv1);
    const b = stub('b', Rsv.Rsv1);
    const result = negotiateServer('a, b', [a.factory, b.factory]);
    assert.ok(!('error' in result));
    assert.equal(result.header, 'a');
    assert.deepEqual(b.disposed, ['b']);
  });

  test('reports a malformed header as an error', () => {
    assert.ok('error' in negotiateServer('a;', [stub('a', Rsv.Rsv1).factory]));
  });

  test('with no factories the offer is not read: a malformed one is ignored like an absent one', () => {
    assert.deepEqual(negotiateServer('a;', []), { header: '', extensions: [] });
    assert.deepEqual(negotiateServer('permessage-deflate; x=', []), { header: '', extensions: [] });
  });
});

describe('negotiateClient (generic)', () => {
  test('offers every factory', () => {
    assert.equal(offerExtensions([stub('a', 4).factory, stub('b', 2).factory]), 'a; x=1, b; x=1');
  });

  test('accepts a response naming offered extensions once each', () => {
    const result = negotiateClient('b; x=1, a; x=1', [stub('a', 4).factory, stub('b', 2).factory]);
    assert.ok(!('error' in result));
    assert.deepEqual(
      result.extensions.map((e) => e.name),
      ['b', 'a'],
    );
  });

  test('accepts no header as no extensions', () => {
    assert.deepEqual(negotiateClient(undefined, [stub('a', 4).factory]), { extensions: [] });
  });

  const failures: [string, string][] = [
    ['c', 'an extension we did not offer'],
    ['a, a', 'an extension twice'],
    ['a; y', 'a response the factory rejects'],
    ['a, b', 'two extensions on the same RSV bit'],
    ['a;', 'a malformed header'],
  ];
  for (const [header, what] of failures) {
    test(`fails on ${what} (${header}) and disposes what it built`, () => {
      const a = stub('a', 4, (params) => params.length === 0 || params[0]?.[0] === 'x');
      const b = stub('b', 4);
      const result = negotiateClient(header, [a.factory, b.factory]);
      assert.ok('error' in result);
      if (header === 'a, b') assert.deepEqual([...a.disposed, ...b.disposed], ['a', 'b']);
      if (header === 'a, a') assert.deepEqual(a.disposed, ['a']);
    });
  }
});

function deflateParams(extension: Extension): DeflateParams {
  return { ...(extension as DeflateExtension).params };
}

/** The negotiated configuration, shortened: [sendBits, sendNoCtx, receiveBits, receiveNoCtx]. */
type Config = [number, boolean, number, boolean];
const configOf = (p: DeflateParams): Config => [
  p.sendWindowBits,
  p.sendNoContextTakeover,
  p.receiveWindowBits,
  p.receiveNoContextTakeover,
];

describe('permessage-deflate negotiation, server side (RFC 7692 §7.1)', () => {
  const P = 'permessage-deflate';
  // [options, offer header, response header ('' = declined), server config [send, sendNoCtx, recv, recvNoCtx]]
  const table: [PerMessageDeflateOptions, string, string, Config?][] = [
    [{}, P, P, [15, false, 15, false]],
    [{}, `${P}; client_max_window_bits`, P, [15, false, 15, false]],
    [{}, `${P}; client_max_window_bits=10`, P, [15, false, 15, false]],
    [{}, `${P}; server_max_window_bits=10`, `${P}; server_max_window_bits=10`, [10, false, 15, false]],
    [{}, `${P}; server_max_window_bits=8`, `${P}; server_max_window_bits=8`, [8, false, 15, false]],
    [{}, `${P}; server_max_window_bits="9"`, `${P}; server_max_window_bits=9`, [9, false, 15, false]],
    [{}, `${P}; server_no_context_takeover`, `${P}; server_no_context_takeover`, [15, true, 15, false]],
    [{}, `${P}; client_no_context_takeover`, `${P}; client_no_context_takeover`, [15, false, 15, true]],
    [
      {},
      `${P}; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11`,
      `${P}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12`,
      [12, true, 15, true],
    ],
    // invalid values → decline
    [{}, `${P}; server_max_window_bits`, ''],
    [{}, `${P}; server_max_window_bits=7`, ''],
    [{}, `${P}; server_max_window_bits=16`, ''],
    [{}, `${P}; server_max_window_bits=010`, ''],
    [{}, `${P}; server_max_window_bits=1a`, ''],
    [{}, `${P}; client_max_window_bits=7`, ''],
    [{}, `${P}; client_max_window_bits=16`, ''],
    [{}, `${P}; server_no_context_takeover=1`, ''],
    [{}, `${P}; client_no_context_takeover="x"`, ''],
    [{}, `${P}; foo`, ''],
    // duplicates → decline
    [{}, `${P}; server_no_context_takeover; server_no_context_takeover`, ''],
    [{}, `${P}; client_no_context_takeover; client_no_context_takeover`, ''],
    [{}, `${P}; server_max_window_bits=10; server_max_window_bits=10`, ''],
    [{}, `${P}; client_max_window_bits; client_max_window_bits=10`, ''],
    // several offers: the first acceptable one wins
    [{}, `${P}; server_max_window_bits=7, ${P}`, P, [15, false, 15, false]],
    [
      {},
      `${P}; foo, ${P}; client_no_context_takeover, ${P}; server_no_context_takeover`,
      `${P}; client_no_context_takeover`,
      [15, false, 15, true],
    ],
    [{}, `x-webkit-deflate-frame, ${P}`, P, [15, false, 15, false]],
    [{}, 'x-unknown', ''],
    // our options
    [{ serverNoContextTakeover: true }, P, `${P}; server_no_context_takeover`, [15, true, 15, false]],
    [{ clientNoContextTakeover: true }, P, `${P}; client_no_context_takeover`, [15, false, 15, true]],
    [{ serverMaxWindowBits: 10 }, P, `${P}; server_max_window_bits=10`, [10, false, 15, false]],
    [
      { serverMaxWindowBits: 10 },
      `${P}; server_max_window_bits=12`,
      `${P}; server_max_window_bits=10`,
      [10, false, 15, false],
    ],
    [
      { serverMaxWindowBits: 10 },
      `${P}; server_max_window_bits=9`,
      `${P}; server_max_window_bits=9`,
      [9, false, 15, false],
    ],
    [{ clientMaxWindowBits: 10 }, P, P, [15, false, 15, false]],
    [
      { clientMaxWindowBits: 10 },
      `${P}; client_max_window_bits`,
      `${P}; client_max_window_bits=10`,
      [15, false, 10, false],
    ],
    [
      { clientMaxWindowBits: 10 },
      `${P}; client_max_window_bits=9`,
      `${P}; client_max_window_bits=9`,
      [15, false, 9, false],
    ],
    [
      { clientMaxWindowBits: 10 },
      `${P}; client_max_window_bits=12`,
      `${P}; client_max_window_bits=10`,
      [15, false, 10, false],
    ],
    [
      { maxWindowBits: 11 },
      `${P}; client_max_window_bits`,
      `${P}; server_max_window_bits=11; client_max_window_bits=11`,
      [11, false, 11, false],
    ],
  ];
  for (const [options, offer, response, config] of table) {
    test(`${JSON.stringify(options)} + "${offer}" → "${response}"`, () => {
      const result = negotiateServer(offer, [new PerMessageDeflate(options)]);
      assert.ok(!('error' in result), 'error' in result ? result.error : '');
      assert.equal(result.header, response);
      assert.equal(result.extensions.length, response === '' ? 0 : 1);
      if (config !== undefined) assert.deepEqual(configOf(deflateParams(result.extensions[0]!)), config);
    });
  }

  test('the extension uses RSV1', () => {
    const result = negotiateServer('permessage-deflate', [new PerMessageDeflate()]);
    assert.ok(!('error' in result));
    assert.equal(result.extensions[0]?.rsv, Rsv.Rsv1);
    assert.equal(result.extensions[0]?.name, 'permessage-deflate');
  });
});

describe('permessage-deflate negotiation, client side (RFC 7692 §7.1)', () => {
  const P = 'permessage-deflate';
  const offers: [PerMessageDeflateOptions, string][] = [
    [{}, `${P}; client_max_window_bits`],
    [{ clientMaxWindowBits: false }, P],
    [{ maxWindowBits: 12 }, `${P}; server_max_window_bits=12; client_max_window_bits=12`],
    [
      {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 9,
      },
      `${P}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9`,
    ],
  ];
  for (const [options, offer] of offers) {
    test(`${JSON.stringify(options)} offers "${offer}"`, () => {
      assert.equal(offerExtensions([new PerMessageDeflate(options)]), offer);
    });
  }

  // [options, response, client config [send, sendNoCtx, recv, recvNoCtx] or null for failure]
  const table: [PerMessageDeflateOptions, string, Config | null][] = [
    [{}, P, [15, false, 15, false]],
    [{}, `${P}; server_no_context_takeover`, [15, false, 15, true]],
    [{}, `${P}; client_no_context_takeover`, [15, true, 15, false]],
    [{}, `${P}; server_max_window_bits=10`, [15, false, 10, false]],
    [{}, `${P}; client_max_window_bits=9`, [9, false, 15, false]],
    [{}, `${P}; client_max_window_bits=8`, [8, false, 15, false]],
    [{}, `${P}; client_max_window_bits`, null],
    [{}, `${P}; server_max_window_bits`, null],
    [{}, `${P}; server_max_window_bits=16`, null],
    [{}, `${P}; server_max_window_bits=7`, null],
    [{}, `${P}; client_max_window_bits=09`, null],
    [{}, `${P}; server_no_context_takeover=1`, null],
    [{}, `${P}; foo`, null],
    [{}, `${P}; server_no_context_takeover; server_no_context_takeover`, null],
    [{}, `${P}; client_max_window_bits=9; client_max_window_bits=9`, null],
    [{}, `${P}, ${P}`, null],
    [{}, 'x-other', null],
    [{}, `${P};`, null],
    [{ clientMaxWindowBits: false }, `${P}; client_max_window_bits=10`, null],
    [{ clientMaxWindowBits: false }, P, [15, false, 15, false]],
    [{ clientMaxWindowBits: 10 }, P, [10, false, 15, false]],
    [{ clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=10`, [10, false, 15, false]],
    [{ clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=11`, null],
    [{ serverMaxWindowBits: 10 }, P, null],
    [{ serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=11`, null],
    [{ serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=10`, [15, false, 10, false]],
    [{ serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=8`, [15, false, 8, false]],
    [{ serverNoContextTakeover: true }, P, null],
    [{ serverNoContextTakeover: true }, `${P}; server_no_context_takeover`, [15, false, 15, true]],
    [{ clientNoContextTakeover: true }, P, [15, true, 15, false]],
  ];
  for (const [options, response, config] of table) {
    test(`${JSON.stringify(options)} ← "${response}" ${config === null ? 'fails' : 'accepted'}`, () => {
      const result = negotiateClient(response, [new PerMessageDeflate(options)]);
      if (config === null) {
        assert.ok('error' in result);
        return;
      }
      assert.ok(!('error' in result), 'error' in result ? result.error : '');
      assert.equal(result.extensions.length, 1);
      assert.deepEqual(configOf(deflateParams(result.extensions[0]!)), config);
    });
  }

  test('no response header means no extension', () => {
    assert.deepEqual(negotiateClient('', [new PerMessageDeflate()]), { extensions: [] });
  });
});
