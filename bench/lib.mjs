// Shared helpers for the micro-benchmarks: the timing loop, input builders and the implementations under test.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);

export const MS = Number(process.env.BENCH_MS || 1000);
export const WARM_MS = Number(process.env.BENCH_WARM_MS || 300);
export const ROUND = Number(process.env.ROUND || 1);

/** 64 KiB: the size of one socket read on Node, so inputs are fed in slices of this size. */
export const SLICE = 64 * 1024;

/**
 * Runs `run()` repeatedly for `ms` (after `warmMs` of warm-up) and returns rates. `prepare()`, when given, runs
 * before every `run()` and is not timed (e.g. restoring an input that was unmasked in place). One `run()` must
 * do a meaningful amount of work (tens of µs or more) so that reading the clock does not count.
 */
export function bench(run, { prepare, bytes = 0, frames = 0, ms = MS, warmMs = WARM_MS } = {}) {
  let t0 = performance.now();
  while (performance.now() - t0 < warmMs) {
    prepare?.();
    run();
  }
  let ops = 0;
  let busy = 0;
  t0 = performance.now();
  let t = t0;
  do {
    prepare?.();
    const a = performance.now();
    run();
    t = performance.now();
    busy += t - a;
    ops++;
  } while (t - t0 < ms);
  const s = busy / 1000;
  return { mb_per_s: (ops * bytes) / s / 1e6, frames_per_s: (ops * frames) / s, ops };
}

export function emit(obj) {
  process.stdout.write(`${JSON.stringify({ round: ROUND, ...obj })}\n`);
}

/** RFC 6455 frame (for inputs). mask: 4-byte Buffer or null. */
export function frame(payload, { opcode = 2, mask = null, fin = true } = {}) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  let body = payload;
  if (mask) {
    mask.copy(head, 2 + ext);
    body = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  }
  return Buffer.concat([head, body]);
}

export const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);

/** Frames per pass: about 1 MiB of frames up to 1 KiB, 16 × 64 KiB, 4 × 1 MiB (ws concatenates each of those). */
export function framesPerPass(size) {
  return size <= 1024 ? Math.floor((1 << 20) / (size + 8)) : size <= 65536 ? 16 : 4;
}

/**
 * A stream of `count` frames, as one pristine copy plus a working copy cut into 64 KiB slices (views), and
 * `refresh()` that restores the working copy: both parsers unmask in place, so masked input is restored before
 * every pass (outside the timed region) for every implementation alike.
 */
export function frameStream(payload, count, { opcode = 2, masked }) {
  const one = frame(payload, { opcode, mask: masked ? MASK : null });
  const pristine = Buffer.concat(Array.from({ length: count }, () => one));
  const work = Buffer.from(pristine);
  const slices = [];
  for (let o = 0; o < work.length; o += SLICE)
    slices.push(work.subarray(o, Math.min(o + SLICE, work.length)));
  return { slices, refresh: () => work.set(pristine), bytes: work.length };
}

/** Valid UTF-8 text: mostly ASCII with 2-, 3- and 4-byte sequences mixed in (as the shared harness builds it). */
export function utf8Text(bytes, { asciiOnly = false } = {}) {
  const parts = asciiOnly
    ? ['{"id":12345,"type":"update","user":"alice","msg":"hello world"},']
    : [
        '{"id":12345,"user":"zoë","msg":"héllo wörld"},',
        '{"city":"東京","note":"日本語のテキスト"},',
        '{"emoji":"😀🎉","ok":true},',
        '{"ascii":"plain ascii text for the common case ....."},',
      ];
  const out = Buffer.allocUnsafe(bytes + 64);
  let o = 0;
  let i = 0;
  while (o < bytes) o += out.write(parts[i++ % parts.length], o);
  let end = Math.min(o, bytes);
  while (end > 0 && (out[end] & 0xc0) === 0x80) end--;
  // pad with ASCII to the exact size so that frames have the nominal length
  const text = Buffer.alloc(bytes, 0x20);
  out.copy(text, 0, 0, end);
  return text;
}

/** ws loaded once; `WS_NO_BUFFER_UTIL=1` (set before this process starts) selects its pure JS masking. */
export function loadWs() {
  const ws = require('ws');
  const native = Object.keys(require.cache).some((k) => k.includes('/bufferutil/'));
  return { ws, variant: native ? 'ws' : 'ws-js' };
}

export async function loadTslay() {
  return import('../dist/core/index.js');
}

export function sizeLabel(n) {
  return n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}
