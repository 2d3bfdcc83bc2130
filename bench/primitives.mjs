// Primitives, in place and one implementation per process.
//
//   node bench/primitives.mjs unmask tslay      applyMask (the core's unmask: whatever it picks at that size)
//   node bench/primitives.mjs unmask tslay-js   applyMaskJs (the pure JS path, used when WebAssembly is missing)
//   node bench/primitives.mjs unmask ws         ws's buffer-util unmask: bufferutil from 32 B, or, with
//                                               WS_NO_BUFFER_UTIL=1, its JS byte loop (reported as ws-js)
//   node bench/primitives.mjs utf8 tslay        Utf8Validator: reset(), push(bytes), end() per message
//   node bench/primitives.mjs utf8 isUtf8       buffer.isUtf8 (simdutf; what ws uses on Node >= 18.14)
//
// Unmask buffers are payloads at offset 6 of a bigger buffer (after a 6-byte masked header: not 4-byte aligned),
// 256 KiB of them per pass (one buffer at 1 MiB).
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import path from 'node:path';
import { bench, emit, loadTslay, MASK, utf8Text } from './lib.mjs';

const require = createRequire(import.meta.url);
const [what, impl] = process.argv.slice(2);

if (what === 'unmask') {
  let unmask;
  let variant = impl;
  if (impl === 'tslay') {
    const { applyMask } = await loadTslay();
    unmask = (b) => applyMask(b, MASK);
  } else if (impl === 'tslay-js') {
    const { applyMaskJs } = await import('../dist/core/bytes.js');
    unmask = (b) => applyMaskJs(b, MASK);
  } else if (impl === 'ws') {
    const wsDir = path.dirname(require.resolve('ws/package.json'));
    const bufferUtil = require(path.join(wsDir, 'lib/buffer-util.js'));
    const native = Object.keys(require.cache).some((k) => k.includes('/bufferutil/'));
    variant = native ? 'ws' : 'ws-js';
    unmask = (b) => bufferUtil.unmask(b, MASK);
  } else throw new Error(`unknown implementation ${impl}`);
  // correctness against the definition (RFC 6455 §5.3), at a few lengths and offsets
  for (const [len, off] of [
    [5, 1],
    [37, 6],
    [1000, 3],
    [70001, 2],
  ]) {
    const raw = Buffer.alloc(len + off);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + 7) & 0xff;
    const a = Buffer.from(raw).subarray(off);
    unmask(a);
    for (let i = 0; i < len; i++) {
      if (a[i] !== (raw[off + i] ^ MASK[i & 3]))
        throw new Error(`${variant}: wrong byte ${i} at length ${len}`);
    }
  }
  for (const size of [32, 1024, 65536, 1 << 20]) {
    const per = Math.max(1, (256 * 1024) / size);
    const big = Buffer.alloc(per * (size + 8), 0x61);
    const bufs = Array.from({ length: per }, (_, k) =>
      big.subarray(k * (size + 8) + 6, k * (size + 8) + 6 + size),
    );
    const run = () => {
      for (let i = 0; i < per; i++) unmask(bufs[i]);
    };
    emit({ bench: 'unmask', size, impl: variant, ...bench(run, { bytes: per * size, frames: per }) });
  }
} else if (what === 'utf8') {
  let check;
  if (impl === 'tslay') {
    const { Utf8Validator } = await loadTslay();
    const v = new Utf8Validator();
    check = (b) => {
      v.reset();
      return v.push(b) && v.end();
    };
  } else if (impl === 'isUtf8') check = (b) => isUtf8(b);
  else throw new Error(`unknown implementation ${impl}`);
  const cases = [
    ['mixed', 1 << 20, [utf8Text(1 << 20)]],
    ['ascii', 1 << 20, [utf8Text(1 << 20, { asciiOnly: true })]],
    ['mixed', 1024, Array.from({ length: 1024 }, () => utf8Text(1024))],
    ['mixed', 32, Array.from({ length: 8192 }, () => utf8Text(32))],
  ];
  for (const [kind, size, texts] of cases) {
    for (const t of texts) if (!check(t)) throw new Error(`${impl} rejects valid ${kind} text`);
    const bad = Buffer.from(texts[0]);
    bad[bad.length >> 1] = 0xff;
    if (check(bad)) throw new Error(`${impl} accepts invalid text`);
    const run = () => {
      for (let i = 0; i < texts.length; i++) if (!check(texts[i])) throw new Error('invalid');
    };
    emit({
      bench: 'utf8',
      kind,
      size,
      impl,
      ...bench(run, { bytes: texts.length * size, frames: texts.length }),
    });
  }
} else throw new Error('usage: primitives.mjs unmask|utf8 <implementation>');
