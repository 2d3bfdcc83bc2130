#!/usr/bin/env node
// npm run bench  (= npm run build && node bench/run.mjs)
//
//   node bench/run.mjs [parse] [frame] [unmask] [utf8] [primitives]   a subset (default: all four)
//   node bench/run.mjs broadcast      fan-out to 1,000 / 10,000 sockets: tslay, ws, Bun (end to end, 2 CPUs;
//                                     not part of the default set; see broadcast.mjs for its variables)
//   node bench/run.mjs deflate-idle   server memory per idle connection that used permessage-deflate: tslay echo
//                                     --deflate vs ws (IDLE_N=2000 connections; not part of the default set)
//   BENCH_ROUNDS=3   rounds; every round runs every implementation once, each in a fresh process
//   BENCH_MS=1000    measured milliseconds per case (after BENCH_WARM_MS=300 of warm-up)
//   BENCH_CPU=0      CPU to pin the processes to with taskset (empty: no pinning); broadcast puts its servers
//                    there and its clients on BENCH_CLIENT_CPU=1
//
// Prints a markdown report (medians [min–max] over rounds, and ratios to ws measured in the same round) and
// writes it to bench/results/micro-<stamp>.md, with the raw records in micro-<stamp>.jsonl.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const require = createRequire(import.meta.url);
const rounds = Number(process.env.BENCH_ROUNDS || 3);
const cpu = process.env.BENCH_CPU ?? '0';
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).status === 0;
const pin = hasTaskset && cpu !== '';

const ALL = ['parse', 'frame', 'unmask', 'utf8'];
const NAMED = [...ALL, 'broadcast', 'deflate-idle'];
let wanted = process.argv.slice(2).flatMap((a) => (a === 'primitives' ? ['unmask', 'utf8'] : [a]));
for (const w of wanted)
  if (!NAMED.includes(w)) throw new Error(`unknown benchmark ${w} (one of ${NAMED.join(', ')}, primitives)`);
if (wanted.length === 0) wanted = ALL;
if (!existsSync(path.join(root, 'dist/core/index.js'))) throw new Error('dist/ is missing: npm run build');

const NO_BU = { WS_NO_BUFFER_UTIL: '1' };
const JOBS = {
  parse: [
    ['parse.mjs', ['tslay']],
    ['parse.mjs', ['tslay-msg']],
    ['parse.mjs', ['ws']],
    ['parse.mjs', ['ws'], NO_BU],
  ],
  frame: [
    ['frame.mjs', ['tslay']],
    ['frame.mjs', ['ws']],
    ['frame.mjs', ['ws'], NO_BU],
  ],
  unmask: [
    ['primitives.mjs', ['unmask', 'tslay']],
    ['primitives.mjs', ['unmask', 'tslay-js']],
    ['primitives.mjs', ['unmask', 'ws']],
    ['primitives.mjs', ['unmask', 'ws'], NO_BU],
  ],
  utf8: [
    ['primitives.mjs', ['utf8', 'tslay']],
    ['primitives.mjs', ['utf8', 'isUtf8']],
  ],
  // broadcast.mjs pins its own processes (server on BENCH_CPU, clients on BENCH_CLIENT_CPU).
  broadcast: [
    ['broadcast.mjs', ['tslay']],
    ['broadcast.mjs', ['tslay-topic']],
    ['broadcast.mjs', ['ws']],
    ['broadcast.mjs', ['bun']],
  ],
  // A server process and IDLE_N client connections in one round: not pinned (memory, not speed).
  'deflate-idle': [['deflate-idle.mjs', ['tslay', 'ws']]],
};
const SELF_PINNED = new Set(['broadcast.mjs', 'deflate-idle.mjs']);

function run(script, args, extraEnv, round) {
  const argv = [path.join(here, script), ...args];
  const env = { ...process.env, ...extraEnv, ROUND: String(round), BENCH_CPU: pin ? cpu : '' };
  if (!extraEnv?.WS_NO_BUFFER_UTIL) delete env.WS_NO_BUFFER_UTIL;
  const r = SELF_PINNED.has(script)
    ? spawnSync(process.execPath, argv, { cwd: root, env, encoding: 'utf8', timeout: 900000 })
    : pin
      ? spawnSync('taskset', ['-c', cpu, process.execPath, ...argv], { cwd: root, env, encoding: 'utf8' })
      : spawnSync(process.execPath, argv, { cwd: root, env, encoding: 'utf8', timeout: 600000 });
  if (r.status !== 0) {
    process.stderr.write(`${script} ${args.join(' ')} failed (status ${r.status}):\n${r.stderr}\n`);
    process.exitCode = 1;
    return [];
  }
  if (r.stderr) process.stderr.write(r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const recs = [];
const started = new Date();
const startLoad = os
  .loadavg()
  .map((v) => v.toFixed(2))
  .join(', ');
for (let round = 1; round <= rounds; round++) {
  for (const name of wanted) {
    process.stderr.write(`round ${round}/${rounds}: ${name}\n`);
    for (const [script, args, env] of JOBS[name]) recs.push(...run(script, args, env, round));
  }
}

// ── report ──────────────────────────────────────────────────────────────────────────────────────────────
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (v) =>
  v >= 1e6
    ? `${(v / 1e6).toFixed(2)}M`
    : v >= 1e4
      ? `${(v / 1e3).toFixed(0)}k`
      : v >= 1e3
        ? `${(v / 1e3).toFixed(1)}k`
        : v.toFixed(0);
const fmb = (v) => (v >= 1e5 ? 'no copy' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const sz = (n) => (n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`);
const stats = (vs) => (vs.length ? { med: median(vs), min: Math.min(...vs), max: Math.max(...vs) } : null);
const cell = (s, f) => (s ? `${f(s.med)} [${f(s.min)}–${f(s.max)}]` : 'n/a');
const same = (a, b) => Object.keys(b).every((k) => a[k] === b[k]);
const pick = (key, impl, field) =>
  stats(recs.filter((r) => same(r, key) && r.impl === impl).map((r) => r[field]));
/** Per-round ratio a ÷ b of `field` for records matching `key`; median [min–max] over rounds. */
function ratio(key, a, b, field) {
  const vs = [];
  for (let round = 1; round <= rounds; round++) {
    const ra = recs.find((r) => same(r, { ...key, round }) && r.impl === a);
    const rb = recs.find((r) => same(r, { ...key, round }) && r.impl === b);
    if (ra && rb && rb[field] > 0) vs.push(ra[field] / rb[field]);
  }
  return stats(vs);
}
const fx = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
const rcell = (s) => (s ? `**${fx(s.med)}** [${fx(s.min)}–${fx(s.max)}]` : 'n/a');

const L = [];
const p = (s = '') => L.push(s);
const version = (m) => JSON.parse(readFileSync(require.resolve(`${m}/package.json`), 'utf8')).version;
const onlyBroadcast = wanted.every((w) => w === 'broadcast');
p(
  `# tslay ${onlyBroadcast ? 'broadcast benchmark' : 'micro-benchmarks'} — ${started.toISOString().replace('T', ' ').slice(0, 16)} UTC`,
);
p();
if (onlyBroadcast)
  p(
    `${os.cpus()[0]?.model ?? '?'} (${os.cpus().length} CPUs), Node ${process.version}, ws ${version('ws')}. ` +
      `${rounds} rounds; every round runs every server once. Load average at the start: ${startLoad}.`,
  );
else
  p(
    `${os.cpus()[0]?.model ?? '?'} (${os.cpus().length} CPUs), Node ${process.version}, ws ${version('ws')}, ` +
      `bufferutil ${version('bufferutil')}. ${rounds} rounds × ${process.env.BENCH_MS || 1000} ms per case, ` +
      `one fresh process per implementation per round${pin ? `, pinned to CPU ${cpu}` : ''}. ` +
      'Cells: median [min–max] over rounds; ratios: median [min–max] of the per-round ratios. ' +
      '**ws** = ws with bufferutil, **ws-js** = ws with WS_NO_BUFFER_UTIL=1.',
  );
p();

const targets = [];
if (wanted.includes('parse')) {
  p('## Parse + unmask (frames fed in 64 KiB slices)');
  p();
  p(
    '| frames | tslay frames/s | tslay MB/s | tslay+assembler frames/s | ws frames/s | ws MB/s | ws-js frames/s | tslay ÷ ws | tslay ÷ ws-js | tslay+assembler ÷ ws |',
  );
  p('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const kind of ['binary', 'text']) {
    for (const size of [32, 1024, 65536, 1 << 20]) {
      for (const masked of [true, false]) {
        const key = { bench: 'parse', kind, size, masked };
        if (!recs.some((r) => same(r, key))) continue;
        const label = `${kind} ${sz(size)} ${masked ? 'masked' : 'unmasked'}`;
        const r1 = ratio(key, 'tslay', 'ws', 'frames_per_s');
        p(
          `| ${label} | ${cell(pick(key, 'tslay', 'frames_per_s'), fmt)} | ${fmb(pick(key, 'tslay', 'mb_per_s')?.med ?? 0)} | ` +
            `${cell(pick(key, 'tslay-msg', 'frames_per_s'), fmt)} | ${cell(pick(key, 'ws', 'frames_per_s'), fmt)} | ` +
            `${fmb(pick(key, 'ws', 'mb_per_s')?.med ?? 0)} | ${cell(pick(key, 'ws-js', 'frames_per_s'), fmt)} | ` +
            `${rcell(r1)} | ${rcell(ratio(key, 'tslay', 'ws-js', 'frames_per_s'))} | ${rcell(ratio(key, 'tslay-msg', 'ws', 'frames_per_s'))} |`,
        );
        if (kind === 'binary' && size <= 1024 && r1)
          targets.push([
            `parse ${sz(size)} ${masked ? 'masked' : 'unmasked'}: frames/s ≥ 1.5 × ws`,
            r1.med,
            1.5,
          ]);
        if (kind === 'binary' && size === 1 << 20 && masked && r1)
          targets.push([`parse 1 MiB masked: MB/s ≥ ws (bufferutil)`, r1.med, 1]);
      }
    }
  }
  p();
  p(
    'MB/s = payload bytes per second. Unmasked 64 KiB and 1 MiB frames cost tslay no copy (payload pieces are views ' +
      'into the chunks, shown as "no copy"), while ws concatenates the slices of every frame larger than one slice; ' +
      'the tslay+assembler column builds whole messages as ws does.',
  );
  p();
}
if (wanted.includes('frame')) {
  p('## Frame + mask (send one message, then take the bytes to write)');
  p();
  p(
    '| frames | tslay frames/s | tslay MB/s | ws frames/s | ws MB/s | ws-js frames/s | tslay ÷ ws | tslay ÷ ws-js |',
  );
  p('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const size of [32, 1024, 65536, 1 << 20]) {
    for (const masked of [true, false]) {
      const key = { bench: 'frame', size, masked };
      if (!recs.some((r) => same(r, key))) continue;
      const r1 = ratio(key, 'tslay', 'ws', 'frames_per_s');
      const mb = (impl) => (!masked && size > 4096 ? 'no copy' : fmb(pick(key, impl, 'mb_per_s')?.med ?? 0));
      p(
        `| ${sz(size)} ${masked ? 'masked (client)' : 'unmasked (server)'} | ${cell(pick(key, 'tslay', 'frames_per_s'), fmt)} | ` +
          `${mb('tslay')} | ${cell(pick(key, 'ws', 'frames_per_s'), fmt)} | ${mb('ws')} | ` +
          `${cell(pick(key, 'ws-js', 'frames_per_s'), fmt)} | ${rcell(r1)} | ${rcell(ratio(key, 'tslay', 'ws-js', 'frames_per_s'))} |`,
      );
      if (r1) targets.push([`frame ${sz(size)} ${masked ? 'masked' : 'unmasked'}: frames/s ≥ ws`, r1.med, 1]);
    }
  }
  p();
}
if (wanted.includes('unmask')) {
  p('## Unmask in place (MB/s; payloads at a 2-byte misaligned offset)');
  p();
  p(
    '| size | tslay applyMask | tslay JS path | ws (bufferutil) | ws-js (byte loop) | tslay ÷ ws | tslay ÷ ws-js | JS path ÷ ws-js |',
  );
  p('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const size of [32, 1024, 65536, 1 << 20]) {
    const key = { bench: 'unmask', size };
    if (!recs.some((r) => same(r, key))) continue;
    const c = (impl) => cell(pick(key, impl, 'mb_per_s'), fmb);
    p(
      `| ${sz(size)} | ${c('tslay')} | ${c('tslay-js')} | ${c('ws')} | ${c('ws-js')} | ` +
        `${rcell(ratio(key, 'tslay', 'ws', 'mb_per_s'))} | ${rcell(ratio(key, 'tslay', 'ws-js', 'mb_per_s'))} | ` +
        `${rcell(ratio(key, 'tslay-js', 'ws-js', 'mb_per_s'))} |`,
    );
  }
  p();
}
if (wanted.includes('utf8')) {
  p('## UTF-8 validation (MB/s; per message: reset, push, end)');
  p();
  p('| text | tslay Utf8Validator | buffer.isUtf8 | tslay ÷ isUtf8 |');
  p('|---|---:|---:|---:|');
  for (const [kind, size] of [
    ['mixed', 1 << 20],
    ['ascii', 1 << 20],
    ['mixed', 1024],
    ['mixed', 32],
  ]) {
    const key = { bench: 'utf8', kind, size };
    if (!recs.some((r) => same(r, key))) continue;
    p(
      `| ${kind} ${sz(size)} | ${cell(pick(key, 'tslay', 'mb_per_s'), fmb)} | ${cell(pick(key, 'isUtf8', 'mb_per_s'), fmb)} | ` +
        `${rcell(ratio(key, 'tslay', 'isUtf8', 'mb_per_s'))} |`,
    );
  }
  p();
}
if (wanted.includes('broadcast')) {
  const bunBin =
    process.env.BUN || path.join(root, '../shared/bench/node_modules/@oven/bun-linux-x64/bin/bun');
  const bunVersion = existsSync(bunBin)
    ? spawnSync(bunBin, ['--version'], { encoding: 'utf8' }).stdout.trim()
    : 'not found';
  const b = recs.filter((r) => r.bench === 'broadcast');
  const reps = Math.max(0, ...b.map((r) => r.rep));
  p('## Broadcast fan-out: one 64-byte text message to N sockets (deliveries/s counted by the clients)');
  p();
  p(
    (pin
      ? `Servers pinned to CPU ${cpu}, the client process (N raw TCP connections) to CPU ` +
        `${process.env.BENCH_CLIENT_CPU ?? '1'}; `
      : 'Not pinned (BENCH_CPU is empty); ') +
      `Bun ${bunVersion}. Per N and server: a fresh server process, two ` +
      `warm-up rounds, then ${reps} measured rounds of K messages (K sized for ~${process.env.BROADCAST_ROUND_MS || 1500} ms), ` +
      `${process.env.BROADCAST_BATCH || 16} messages per event-loop turn. Cells: median [min–max] over all measured ` +
      'rounds; CPU = share of one core over the round (server: all threads, from /proc; client: this process); ' +
      'RSS: server VmRSS with the sockets open, before the first round → highest sample during the rounds. ' +
      '**tslay** = `context.broadcast` to one protocol, **tslay-topic** = `context.publish` to one topic, ' +
      '**ws** = the `for (const c of wss.clients) c.send(msg)` loop, **bun** = `server.publish` to one topic.',
  );
  p();
  p('| N | server | deliveries/s | server CPU | client CPU | RSS idle → max (MiB) | delivered | flags |');
  p('|---:|---|---:|---:|---:|---:|---:|---|');
  const pct = (v) => `${(v * 100).toFixed(0)}%`;
  const mib = (v) => (v / 1048576).toFixed(0);
  const ns = [...new Set(b.map((r) => r.n))].sort((x, y) => x - y);
  for (const n of ns) {
    for (const impl of ['tslay', 'tslay-topic', 'ws', 'bun']) {
      const rs = b.filter((r) => r.n === n && r.impl === impl);
      if (!rs.length) continue;
      const st = (f) => stats(rs.map(f));
      const frames = rs.reduce((a, r) => a + r.frames, 0);
      const expected = rs.reduce((a, r) => a + r.expected, 0);
      const flags = [];
      if (rs.some((r) => r.client_cpu >= 0.9)) flags.push('LG');
      if (rs.some((r) => r.bad > 0)) flags.push('ERR');
      if (frames < expected) flags.push('lost');
      p(
        `| ${n.toLocaleString('en-US')} | ${impl} | ${cell(
          st((r) => r.per_s),
          fmt,
        )} | ${pct(st((r) => r.server_cpu).med)} | ` +
          `${pct(st((r) => r.client_cpu).med)} | ${mib(st((r) => r.rss_idle).med)} → ${mib(st((r) => r.rss_max).med)} | ` +
          `${((frames / expected) * 100).toFixed(frames === expected ? 0 : 2)}% | ${flags.join(' ')} |`,
      );
    }
  }
  p();
  /** Per round: the median of that round's measured reps, then the ratio a ÷ b; median [min–max] over rounds. */
  const bratio = (n, a, c) => {
    const vs = [];
    for (let round = 1; round <= rounds; round++) {
      const m = (impl) => {
        const x = b.filter((r) => r.n === n && r.round === round && r.impl === impl).map((r) => r.per_s);
        return x.length ? median(x) : 0;
      };
      if (m(a) > 0 && m(c) > 0) vs.push(m(a) / m(c));
    }
    return stats(vs);
  };
  p('| N | tslay ÷ ws | tslay ÷ bun | tslay-topic ÷ ws | tslay-topic ÷ bun | ws ÷ bun |');
  p('|---:|---:|---:|---:|---:|---:|');
  for (const n of ns) {
    const r1 = bratio(n, 'tslay', 'ws');
    p(
      `| ${n.toLocaleString('en-US')} | ${rcell(r1)} | ${rcell(bratio(n, 'tslay', 'bun'))} | ` +
        `${rcell(bratio(n, 'tslay-topic', 'ws'))} | ${rcell(bratio(n, 'tslay-topic', 'bun'))} | ${rcell(bratio(n, 'ws', 'bun'))} |`,
    );
    if (r1) targets.push([`broadcast N=${n}: deliveries/s ≥ 3 × ws`, r1.med, 3]);
  }
  p();
  p(
    "Ratios: per round, the median of that round's measured rounds of each server (all servers of a round ran " +
      'one after the other within a few minutes), then median [min–max] over rounds. Flags: **LG** the client ' +
      "process used ≥ 90% of its core in some round (the figure may be the clients' limit: a floor for the " +
      'server); **ERR** a frame header other than `81 40`; **lost** fewer frames arrived than were broadcast ' +
      '(tslay skips a socket over `maxBufferedAmount`, Bun drops over `backpressureLimit`).',
  );
  p(
    `Load average at the end: ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}.`,
  );
  p();
}
if (wanted.includes('deflate-idle')) {
  p('## Memory per idle connection that used permessage-deflate (server RSS growth ÷ connections)');
  p();
  p('| server | bytes per connection | connections | tslay ÷ ws |');
  p('|---|---:|---:|---:|');
  const key = { bench: 'deflate-idle' };
  const r = ratio(key, 'tslay', 'ws', 'bytes_per_conn');
  for (const impl of ['tslay', 'ws']) {
    const rec = recs.find((x) => same(x, key) && x.impl === impl);
    if (!rec) continue;
    const bytes = cell(pick(key, impl, 'bytes_per_conn'), (v) => v.toFixed(0));
    p(`| ${impl} | ${bytes} | ${rec.n} | ${impl === 'tslay' ? rcell(r) : ''} |`);
  }
  p();
  p(
    '`tslay` = `tslay echo --deflate`, `ws` = ws with `perMessageDeflate: true`; every connection sent one ~1 KiB ' +
      'JSON-like message and read its compressed echo, then stayed idle (see deflate-idle.mjs).',
  );
  p();
  if (r) targets.push(['idle compressed connection: bytes ≤ 0.5 × ws', r.med, 0.5, 'max']);
}
if (targets.length) {
  p('## Targets');
  p();
  p('| target | ratio (median) | |');
  p('|---|---:|---|');
  for (const [name, v, bound, kind] of targets) {
    const met = kind === 'max' ? v <= bound : v >= bound;
    p(`| ${name} | ${fx(v)} | ${met ? 'met' : '**missed**'} |`);
  }
  p();
}

const md = `${L.join('\n')}\n`;
process.stdout.write(md);
const resDir = path.join(here, 'results');
mkdirSync(resDir, { recursive: true });
const stamp = started.toISOString().replace(/:/g, '-').replace(/\..*/, 'Z');
const prefix = onlyBroadcast ? 'broadcast' : 'micro';
writeFileSync(path.join(resDir, `${prefix}-${stamp}.md`), md);
writeFileSync(
  path.join(resDir, `${prefix}-${stamp}.jsonl`),
  `${recs.map((r) => JSON.stringify(r)).join('\n')}\n`,
);
process.stderr.write(`wrote bench/results/${prefix}-${stamp}.md\n`);
