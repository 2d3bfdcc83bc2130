#!/usr/bin/env node
// Compression ratio of permessage-deflate settings on ~1 KiB JSON-like messages (seeded, so every run compresses
// the same bytes), with the CPU time per message. Informs the server's defaults (see src/node/deflate-option.ts).
//
//   node bench/deflate-ratio.mjs           (after npm run build)
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DeflateExtension } from '../dist/core/index.js';

/** xorshift32: the same sequence on every run. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
const SYMBOLS = ['BTC-USD', 'ETH-USD', 'SOL-USD', 'ADA-USD', 'DOT-USD'];

/** A message like a feed or an API answer: repeated keys, a few strings, numbers, ~1 KiB. */
export function jsonMessages(count, seed = 42, size = 1024) {
  const random = rng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const out = [];
  for (let i = 0; i < count; i++) {
    const items = [];
    let text = '';
    for (let n = 0; ; n++) {
      items.push({
        id: 100000 + Math.floor(random() * 900000),
        symbol: pick(SYMBOLS),
        side: random() < 0.5 ? 'buy' : 'sell',
        price: Number((1000 + random() * 50000).toFixed(2)),
        size: Number((random() * 10).toFixed(4)),
        tag: `${pick(WORDS)}-${pick(WORDS)}`,
        ts: 1763800000000 + i * 1000 + n,
      });
      const next = JSON.stringify({ type: 'update', seq: i, items });
      if (next.length > size) break;
      text = next;
    }
    out.push(Buffer.from(text.padEnd(size, ' ')));
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) report();

function report() {
  const VARIANTS = [
    { name: 'context takeover, windowBits 15, memLevel 8', bits: 15, memLevel: 8, noTakeover: false },
    { name: 'context takeover, windowBits 15, memLevel 4', bits: 15, memLevel: 4, noTakeover: false },
    { name: 'context takeover, windowBits 12, memLevel 4', bits: 12, memLevel: 4, noTakeover: false },
    { name: 'context takeover, windowBits 12, memLevel 8', bits: 12, memLevel: 8, noTakeover: false },
    { name: 'context takeover, windowBits 11, memLevel 8', bits: 11, memLevel: 8, noTakeover: false },
    { name: 'context takeover, windowBits 10, memLevel 8', bits: 10, memLevel: 8, noTakeover: false },
    { name: 'context takeover, windowBits 10, memLevel 2', bits: 10, memLevel: 2, noTakeover: false },
    { name: 'no context takeover, memLevel 8', bits: 15, memLevel: 8, noTakeover: true },
    { name: 'no context takeover, memLevel 4', bits: 15, memLevel: 4, noTakeover: true },
  ];

  const messages = jsonMessages(2000);
  const raw = messages.reduce((n, m) => n + m.length, 0);
  process.stdout.write(`${messages.length} JSON-like messages of ${messages[0].length} B, zlib level 1\n\n`);
  process.stdout.write('| setting | compressed ÷ raw | µs per message |\n|---|---:|---:|\n');
  for (const v of VARIANTS) {
    const codec = new DeflateExtension({
      sendWindowBits: v.bits,
      sendNoContextTakeover: v.noTakeover,
      receiveWindowBits: 15,
      receiveNoContextTakeover: false,
      level: 1,
      memLevel: v.memLevel,
      threshold: 0,
    });
    for (const m of messages.slice(0, 200)) codec.encode(m, true, true);
    let out = 0;
    const t0 = performance.now();
    for (const m of messages) out += codec.encode(m, true, true).payload.length;
    const us = ((performance.now() - t0) * 1000) / messages.length;
    codec.dispose();
    process.stdout.write(`| ${v.name} | ${(out / raw).toFixed(3)} | ${us.toFixed(1)} |\n`);
  }
}
