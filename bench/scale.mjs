#!/usr/bin/env node
// npm run bench:scale  (= npm run build && node bench/scale.mjs): scale-out through one Redis, in one run (~2.5 min).
//
// 1. Fan-out: 2 server processes on one Redis, 1,000 sockets on each (in 2 client processes), one publisher (server
//    A) publishing 64-byte text messages to a topic every socket subscribes to; messages delivered per second as
//    counted by the clients. tslay + redisBackplane (node-redis) against socket.io 4 + @socket.io/redis-adapter
//    (rooms, io.to(room).emit; socket.io-client, transports ['websocket']) on the same Redis, and tslay on one
//    process (2,000 sockets, no Redis) as reference. Publishing is paced by credit: server A stays at most
//    SCALE_WINDOW messages ahead of the socket that has received fewest (the clients report every 20 ms through this
//    driver), so nothing is skipped or queued without bound and the figure is the rate the whole chain sustains.
// 2. Latency at a fixed SCALE_RATE (10 k) msgs/s: server A publishes to topic 'lat', each message stamped with
//    process.hrtime.bigint() (CLOCK_MONOTONIC: one clock for every process of the machine); SCALE_LAT_N (10)
//    sockets on server B (and as many on A, for reference) compute receive time − stamp: p50 / p99 / p99.9 / max.
//    Also at SCALE_LOW_RATE (1 k) msgs/s, which socket.io sustains, for a like-for-like comparison.
// 3. Publishing from one process: a tslay context with redisBackplane and no sockets publishes to one topic as fast
//    as credit allows (100 per event-loop turn, and 1); a raw RESP subscriber process counts what arrives. Redis
//    INFO commandstats (PUBLISH calls) and total_reads_processed show how many PUBLISHes arrive per read.
//
// The machine is shared: every setup is started at once and stays connected, and the cases are measured in
// interleaved rounds (the order rotating), so that the cases of a round are seconds apart and a ratio is taken
// within a round. Each row reports the CPU of each process group (/proc; 100% = one core) and of the processes not
// started here ("others"), so that a saturated client or a busy machine shows. redis-server is started here on a
// free port (--save '' --appendonly no) and stopped at the end with every process this script started (also on
// error or Ctrl-C).
//
//   SCALE_ROUNDS=3 SCALE_PUB_ROUNDS=2  measured rounds per case
//   SCALE_MS=3000 SCALE_WARM_MS=500    measured window of a fan-out / publish round and the warm-up before it
//   SCALE_LAT_MS=3000                  measured window of a latency round (after SCALE_WARM_MS)
//   SCALE_N=1000 SCALE_LAT_N=10        fan-out sockets per server; latency sockets per server
//   SCALE_RATE=10000                   latency test publish rate (msgs/s); SCALE_LOW_RATE=1000 a second rate,
//                                      one socket.io can sustain, for tslay and socket.io
//   SCALE_WINDOW=512 SCALE_BATCH=16    fan-out credit window (messages) and messages published per turn
//   SCALE_PUB_WINDOW=20000             publish test credit window
//   SCALE_FLAVOUR=node-redis           the Redis client of the fan-out / latency servers (or ioredis), both sides
//   SCALE_ONLY=tslay-redis,sio-redis,tslay-local,pub   a subset of the cases
//   SCALE_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   extra node flags for the server processes
//   SCALE_PROFILE_DIR=/tmp/prof        CPU profiles of the server processes over the last measured round of
//                                      fan-out, of tslay's latency at SCALE_RATE and of publishing (not warm-up):
//                                      node bench/scale/profile.mjs /tmp/prof/*
//   TSLAY_DIST=dir                     the tslay build to measure (default dist/)
//
// Prints a markdown report and writes it to bench/results/scale-<stamp>.md (raw records in scale-<stamp>.jsonl).
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const env = (name, fallback) => Number(process.env[name] || fallback);
const ROUNDS = env('SCALE_ROUNDS', 3);
const PUB_ROUNDS = env('SCALE_PUB_ROUNDS', 2);
const MS = env('SCALE_MS', 3000);
const WARM = env('SCALE_WARM_MS', 500);
const LAT_MS = env('SCALE_LAT_MS', 3000);
const N = env('SCALE_N', 1000);
const LAT_N = env('SCALE_LAT_N', 10);
const RATE = env('SCALE_RATE', 10000);
const LOW_RATE = env('SCALE_LOW_RATE', 1000);
const WINDOW = env('SCALE_WINDOW', 512);
const BATCH = env('SCALE_BATCH', 16);
const PUB_WINDOW = env('SCALE_PUB_WINDOW', 20000);
const FLAVOUR = process.env.SCALE_FLAVOUR || 'node-redis';
const NODE_FLAGS = (process.env.SCALE_NODE_FLAGS || '').split(' ').filter(Boolean);
const PROFILE_DIR = process.env.SCALE_PROFILE_DIR ? path.resolve(process.env.SCALE_PROFILE_DIR) : '';
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
const ONLY = (process.env.SCALE_ONLY || '').split(',').filter(Boolean);
const SIZE = 64;
const dist = process.env.TSLAY_DIST || path.join(root, 'dist');
const wanted = (name) =>
  ONLY.length === 0 || ONLY.includes(name) || (name.startsWith('pub') && ONLY.includes('pub'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => process.stderr.write(`scale: ${line}\n`);

if (!existsSync(path.join(dist, 'redis/index.js'))) throw new Error(`${dist} is missing: npm run build`);
const redisServer = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
if (redisServer === '') throw new Error('redis-server is not installed (apt-get install redis-server)');

// ─── processes: every one started here is stopped here ────────────────────────────────────────────────────

const children = new Set();

function track(child, name) {
  child.name = name;
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    killAll();
    process.exit(130);
  });
}

/** A forked Node process with an IPC channel: messages queued by type, `next(type)` takes the next one. */
function node(script, args, { name, childEnv = {}, flags = [] }) {
  const child = track(
    fork(path.join(here, 'scale', script), args, {
      env: { ...process.env, ...childEnv },
      execArgv: flags,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
    name,
  );
  const queues = new Map();
  const waiters = new Map();
  const listeners = new Map();
  child.on('message', (m) => {
    listeners.get(m.type)?.(m);
    const waiting = waiters.get(m.type);
    if (waiting?.length) waiting.shift()(m);
    else if (!listeners.has(m.type)) {
      if (!queues.has(m.type)) queues.set(m.type, []);
      queues.get(m.type).push(m);
    }
  });
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = `${name} exited (${signal ?? code})`;
    for (const list of waiters.values()) for (const w of list) w(null);
  });
  return {
    child,
    name,
    pid: child.pid,
    send: (m) => child.connected && child.send(m),
    on: (type, fn) => listeners.set(type, fn),
    next(type, timeout = 60_000) {
      const queued = queues.get(type);
      if (queued?.length) return Promise.resolve(queued.shift());
      if (exited) return Promise.reject(new Error(exited));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: no '${type}' within ${timeout} ms`)),
          timeout,
        );
        if (!waiters.has(type)) waiters.set(type, []);
        waiters.get(type).push((m) => {
          clearTimeout(timer);
          if (m === null) reject(new Error(exited));
          else resolve(m);
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      if (child.connected) child.send({ cmd: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A raw RESP2 command connection to our own redis-server (INFO only). */
function redisAdmin(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  return {
    command(...args) {
      return new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk) => {
          text += chunk.toString('latin1');
          const m = /^\$(\d+)\r\n/.exec(text);
          if (text.startsWith('-')) {
            socket.off('data', onData);
            reject(new Error(text.trim()));
          } else if (text.startsWith('+') && text.endsWith('\r\n')) {
            socket.off('data', onData);
            resolve(text.slice(1, -2));
          } else if (m && text.length >= m[0].length + Number(m[1]) + 2) {
            socket.off('data', onData);
            resolve(text.slice(m[0].length, m[0].length + Number(m[1])));
          }
        };
        socket.on('data', onData);
        socket.write(
          `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
        );
      });
    },
    close: () => socket.end(),
  };
}

async function startRedis() {
  const port = await freePort();
  const child = track(
    spawn(
      redisServer,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    ),
    'redis-server',
  );
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  });
  child.stdout.resume();
  const admin = redisAdmin(port);
  return {
    port,
    pid: child.pid,
    url: `redis://127.0.0.1:${port}`,
    async stats() {
      const info = (await admin.command('INFO', 'commandstats')) + (await admin.command('INFO', 'stats'));
      const calls = (cmd) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
      const stat = (key) => Number(new RegExp(`${key}:(\\d+)`).exec(info)?.[1] ?? 0);
      return {
        publish: calls('publish'),
        commands: stat('total_commands_processed'),
        reads: stat('total_reads_processed'),
        writes: stat('total_writes_processed'),
      };
    },
    async stop() {
      admin.close();
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}

// ─── CPU accounting from /proc ────────────────────────────────────────────────────────────────────────────

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
  } catch {
    return 0;
  }
}

/** Context switches of a process: voluntary (it waited) and involuntary (the kernel preempted it). */
function switches(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const n = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { voluntary: n('voluntary_ctxt_switches'), preempted: n('nonvoluntary_ctxt_switches') };
  } catch {
    return { voluntary: 0, preempted: 0 };
  }
}

function machine() {
  const [, ...t] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = t[3] + t[4];
  const all = t.reduce((a, b) => a + b, 0);
  return { idle, all };
}

/** CPU snapshot of process groups: { group: [pid, …] }. */
function cpuSnapshot(groups) {
  const at = performance.now();
  const out = { at, machine: machine(), groups: {} };
  for (const [group, pids] of Object.entries(groups)) {
    out.groups[group] = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  }
  return out;
}

/** CPU use between two snapshots, in % of one core per group; machine: busy % of all cores; others: the rest. */
function cpuUse(a, b) {
  const seconds = (b.at - a.at) / 1000;
  const use = {};
  let ours = 0;
  for (const group of Object.keys(a.groups)) {
    use[group] = (100 * (b.groups[group] - a.groups[group])) / seconds;
    ours += use[group];
  }
  const all = b.machine.all - a.machine.all;
  const busy = all - (b.machine.idle - a.machine.idle);
  use.machine = (100 * busy) / all; // % of the whole machine
  use.others = Math.max(0, use.machine * os.cpus().length - ours); // % of one core used by other processes
  return use;
}

// ─── the credit loop: clients' counts → the publisher's acknowledgements ──────────────────────────────────

/** Relays the lowest 'min' of `counters` to `publisher` as {cmd:'ack'}; keeps each counter's latest report. */
function creditRelay(publisher, counters) {
  const latest = new Map();
  let acked = -1;
  for (const counter of counters) {
    counter.on('count', (m) => {
      latest.set(counter, m);
      if (latest.size < counters.length) return;
      let min = Number.POSITIVE_INFINITY;
      for (const r of latest.values()) min = Math.min(min, r.min);
      if (min > acked) {
        acked = min;
        publisher.send({ cmd: 'ack', n: min });
      }
    });
  }
  const sum = (key) => [...latest.values()].reduce((s, r) => s + (r[key] ?? 0), 0);
  return {
    snapshot: () => new Map([...latest].map(([c, r]) => [c, { ...r }])),
    totals: () => sum('total'),
    latTotals: () => sum('latTotal'),
    closed: () => sum('closed'),
  };
}

/** Messages per second counted by `counters` between two snapshots, each over its own clock. */
function rateBetween(a, b) {
  let perSecond = 0;
  for (const [counter, r1] of b) {
    const r0 = a.get(counter);
    perSecond += ((r1.total - r0.total) * 1000) / (r1.at - r0.at);
  }
  return perSecond;
}

/** With SCALE_PROFILE_DIR, the servers' CPU profiles cover exactly one measured window (the last round's). */
async function profileServers(servers, on, suffix = '') {
  for (const s of servers) {
    const name = `${s.name}${suffix}`.replace(/[^\w.-]+/g, '_');
    const file = on ? path.join(PROFILE_DIR, `${name}.cpuprofile`) : null;
    s.send({ cmd: 'profile', file });
    await s.next('profiled');
  }
}

async function until(done, ms) {
  const t0 = Date.now();
  while (!done() && Date.now() - t0 < ms) await sleep(20);
  return done();
}

async function writes(server) {
  server.send({ cmd: 'writes' });
  return server.next('writes');
}

/** One measured window of credit-paced publishing by `setup.publisher`. */
async function creditRound(setup, { window, batch, topic, ms = MS, warm = WARM, profile = false }) {
  const { publisher, relay, pids, servers } = setup;
  publisher.send({ cmd: 'credit', topic, window, batch });
  await sleep(warm);
  if (profile) await profileServers(servers, true);
  const s0 = relay.snapshot();
  const c0 = cpuSnapshot(pids);
  const r0 = setup.redis ? await setup.redis.stats() : null;
  const w0 = await Promise.all(servers.map(writes));
  await sleep(ms);
  const s1 = relay.snapshot();
  const c1 = cpuSnapshot(pids);
  const w1 = await Promise.all(servers.map(writes));
  const r1 = setup.redis ? await setup.redis.stats() : null;
  if (profile) await profileServers(servers, false);
  publisher.send({ cmd: 'stop' });
  const { sent } = await publisher.next('stopped');
  const expected = sent * setup.counted;
  await until(() => relay.totals() >= expected, 5000);
  const seconds = (c1.at - c0.at) / 1000;
  return {
    per_s: rateBetween(s0, s1),
    cpu: cpuUse(c0, c1),
    redis: r0 && {
      publish_per_s: (r1.publish - r0.publish) / seconds,
      reads_per_s: (r1.reads - r0.reads) / seconds,
      publish_per_read: (r1.publish - r0.publish) / Math.max(1, r1.reads - r0.reads),
    },
    // TCP socket writes per second of each server (the publisher first), and the publisher's publishing turns
    writes_per_s: w1.map((w, i) => (w.writes - w0[i].writes) / seconds),
    turns_per_s: (w1[0].turns - w0[0].turns) / seconds,
    lost: expected - relay.totals(), // cumulative over the rounds so far
    closed: relay.closed(),
  };
}

// ─── case 1 + 2: fan-out and latency ──────────────────────────────────────────────────────────────────────

/** Servers, client processes, the credit relay: everything stays up for every round of this setup. */
async function setUp(key, label, { impl, redis }) {
  const serverEnv = redis ? { REDIS_URL: redis.url, FLAVOUR } : {};
  const setup = { key, label, impl, redis, servers: [], clients: [], reports: [], latSent: 0 };
  const serverCount = redis ? 2 : 1;
  for (let i = 0; i < serverCount; i++) {
    const s = node('server.mjs', [impl], {
      name: `${label}/server-${'AB'[i]}`,
      childEnv: serverEnv,
      flags: NODE_FLAGS,
    });
    s.on('report', (m) => setup.reports.push(m.report));
    setup.servers.push(s);
  }
  const ports = [];
  for (const s of setup.servers) ports.push((await s.next('ready')).port);
  const clientImpl = impl === 'sio' ? 'sio' : 'ws';
  // Two client processes of N sockets: one per server (both on the one server without Redis). Latency
  // sockets on every server: B's give the cross-process figure, A's the local one.
  for (let i = 0; i < 2; i++) {
    const latN = redis || i === 0 ? LAT_N : 0;
    const args = [clientImpl, String(ports[i % ports.length]), String(N), String(latN)];
    setup.clients.push(node('clients.mjs', args, { name: `${label}/clients-${i}` }));
  }
  for (const c of setup.clients) await c.next('ready', 120_000);
  for (const s of setup.servers) {
    s.send({ cmd: 'count' });
    const { sockets } = await s.next('count');
    const expected = redis ? N + LAT_N : 2 * N + LAT_N;
    if (sockets !== expected) throw new Error(`${s.name}: ${sockets} sockets, expected ${expected}`);
  }
  setup.publisher = setup.servers[0];
  setup.relay = creditRelay(setup.publisher, setup.clients);
  setup.counted = 2 * N;
  setup.latSockets = redis ? 2 * LAT_N : LAT_N;
  setup.pids = {
    'server A': [setup.servers[0].pid],
    'server B': setup.servers[1] ? [setup.servers[1].pid] : [],
    clients: setup.clients.map((c) => c.pid),
  };
  if (redis) setup.pids.redis = [redis.pid];
  return setup;
}

async function tearDown(setup) {
  await Promise.all([...setup.clients, ...setup.servers].map((p) => p.stop()));
}

/**
 * Server A publishes `rate` msgs/s to 'lat' for WARM + LAT_MS; the clients record the latency of the messages
 * stamped in the last LAT_MS (CLOCK_MONOTONIC, which this driver reads too). Then waits until every 'lat' message
 * has arrived (at most `drainMs`), so that a backlog does not spill into the next case's window.
 */
async function latRound(setup, rate, { drainMs = 5000, profile = false } = {}) {
  const { publisher, clients, pids, relay } = setup;
  const from = process.hrtime.bigint() + BigInt(WARM) * 1_000_000n;
  const to = from + BigInt(LAT_MS) * 1_000_000n;
  for (const c of clients) c.send({ cmd: 'lat', from: String(from), to: String(to) });
  publisher.send({ cmd: 'rate', topic: 'lat', rate, ms: WARM + LAT_MS, from: String(from), to: String(to) });
  await sleep(WARM);
  if (profile) await profileServers(setup.servers, true, ` latency ${rate}`);
  const l0 = cpuSnapshot(pids);
  const x0 = switches(publisher.pid);
  await sleep(LAT_MS);
  const x1 = switches(publisher.pid);
  const l1 = cpuSnapshot(pids);
  if (profile) await profileServers(setup.servers, false);
  const rated = await publisher.next('rated', 30_000);
  setup.latSent += rated.sent;
  const drained = await until(() => relay.latTotals() >= setup.latSent * setup.latSockets, drainMs);
  const result = { rate, cpu: cpuUse(l0, l1), late: rated.late, gaps: rated.gaps, drained };
  result.preempted_per_s = ((x1.preempted - x0.preempted) * 1000) / LAT_MS;
  result.waits_per_s = ((x1.voluntary - x0.voluntary) * 1000) / LAT_MS;
  const expected = rated.inWindow * LAT_N;
  for (const [i, c] of clients.entries()) {
    c.send({ cmd: 'latResult' });
    const r = await c.next('lat');
    const where = i === 0 ? 'local' : setup.redis ? 'remote' : null;
    if (where) result[where] = { ...r, received: r.n / expected };
  }
  return result;
}

// ─── case 3: publishing from one process ──────────────────────────────────────────────────────────────────

/** A tslay context on the backplane (no sockets) and a raw subscriber counting what arrives on its channel. */
async function setUpPublisher(label, { redis, flavour, topic }) {
  const setup = { label, flavour, redis, reports: [] };
  const publisher = node('server.mjs', ['tslay'], {
    name: `publish ${flavour}/publisher`,
    childEnv: { REDIS_URL: redis.url, FLAVOUR: flavour },
    flags: NODE_FLAGS,
  });
  publisher.on('report', (m) => setup.reports.push(m.report));
  await publisher.next('ready');
  // Every message: the envelope's 18 bytes around the 64-byte payload, on channel tslay:t:TOPIC.
  const counter = node('redis-count.mjs', [String(redis.port), `tslay:t:${topic}`, String(18 + SIZE)], {
    name: `publish ${flavour}/subscriber`,
  });
  await counter.next('ready');
  Object.assign(setup, {
    topic,
    publisher,
    counter,
    servers: [publisher],
    clients: [counter],
    relay: creditRelay(publisher, [counter]),
    counted: 1,
    pids: { publisher: [publisher.pid], subscriber: [counter.pid], redis: [redis.pid] },
  });
  return setup;
}

// ─── statistics and report ────────────────────────────────────────────────────────────────────────────────

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const k = (x) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : x >= 1e6
      ? `${(x / 1e6).toFixed(2)}M`
      : x >= 1e4
        ? `${(x / 1e3).toFixed(0)}k`
        : x >= 1e3
          ? `${(x / 1e3).toFixed(1)}k`
          : x.toFixed(0);
const pct = (x) => (x === null || x === undefined ? '–' : `${x.toFixed(0)}%`);
const us = (x) =>
  x === null || x === undefined ? '–' : x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`;
const fx = (x, digits = 2) => (x === null || x === undefined ? '–' : x.toFixed(digits));
/** median [min–max] of xs, formatted by f. */
const spread = (xs, f) => {
  const v = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x));
  if (v.length === 0) return '–';
  if (v.length === 1) return f(v[0]);
  return `${f(median(v))} [${f(Math.min(...v))}–${f(Math.max(...v))}]`;
};
const cpuOf = (rounds, group) => median(rounds.map((r) => r.cpu[group]));
/** Server (or client) CPU per delivered message, µs. */
const serverCost = (r) => ((r.cpu['server A'] + (r.cpu['server B'] ?? 0)) * 1e4) / r.per_s;
/** The publisher's timer ticks (1 ms apart when the loop and the CPU allow) that came late, per second. */
const ticks = (rounds) => {
  const g = rounds.map((r) => r.gaps).filter(Boolean);
  if (g.length === 0) return '–';
  const perS = (x) => ((x * 1000) / LAT_MS).toFixed(0);
  return `${perS(median(g.map((x) => x.over2)))}/s / ${perS(median(g.map((x) => x.over5)))}/s, ${Math.max(
    ...g.map((x) => x.max),
  ).toFixed(1)} ms`;
};
const clientCost = (r) => (r.cpu.clients * 1e4) / r.per_s;
/** Frames delivered per TCP write on each server (every server holds the same number of counted sockets). */
const framesPerWrite = (rounds) =>
  rounds[0].writes_per_s
    .map((_, i) => fx(median(rounds.map((r) => r.per_s / r.writes_per_s.length / r.writes_per_s[i])), 1))
    .join(' / ');

function report({ fan, lat, pub }, meta) {
  const lines = [];
  const out = (line = '') => lines.push(line);
  out(`## Scale-out (${meta.date}, ${meta.node}, ${meta.cpus})`);
  out();
  out(
    `Load average at start ${meta.load}. ${ROUNDS} interleaved rounds per case (every case of a round measured ` +
      `within seconds of the others), windows of ${MS} ms after ${WARM} ms; ${N} fan-out sockets per server; the ` +
      `servers' Redis client: ${FLAVOUR}. Cells: median [min–max] over rounds; ratios: median [min–max] of ` +
      'per-round ratios. CPU: % of one core (from /proc), medians; "others": CPU used by processes not started here.',
  );
  out();
  const labels = Object.keys(fan);
  const get = (key) => fan[key] ?? [];
  if (labels.length > 0) {
    out(`### 1. Fan-out: 64 B text to 2 × ${N.toLocaleString('en')} sockets, publisher on server A`);
    out();
    out(
      '| setup | deliveries/s | published msgs/s | server A CPU | server B CPU | clients CPU | redis CPU | server CPU µs per delivery | client CPU µs per delivery | frames per socket write, A / B | PUBLISH per Redis read | others CPU | lost |',
    );
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const key of labels) {
      const rounds = get(key);
      const redis = rounds[0].redis !== null;
      out(
        `| ${LABELS[key]} | **${spread(
          rounds.map((r) => r.per_s),
          k,
        )}** | ${k(median(rounds.map((r) => r.per_s / (2 * N))))} | ${pct(cpuOf(rounds, 'server A'))} | ${
          redis ? pct(cpuOf(rounds, 'server B')) : '–'
        } | ${pct(cpuOf(rounds, 'clients'))} | ${redis ? pct(cpuOf(rounds, 'redis')) : '–'} | ${spread(
          rounds.map(serverCost),
          fx,
        )} | ${fx(median(rounds.map(clientCost)))} | ${framesPerWrite(rounds)} | ${
          redis ? fx(median(rounds.map((r) => r.redis.publish_per_read)), 1) : '–'
        } | ${pct(cpuOf(rounds, 'others'))} | ${rounds.at(-1).lost} |`,
      );
    }
    out();
    out('| ratio | measured | target |');
    out('|---|---:|---|');
    const ratios = (a, b) =>
      get(a)
        .map((r, i) => (get(b)[i] ? r.per_s / get(b)[i].per_s : null))
        .filter((x) => x !== null);
    const tsio = ratios('tslay-redis', 'sio-redis');
    if (tsio.length > 0) {
      const m = median(tsio);
      out(
        `| tslay + redis ÷ socket.io + redis-adapter | **${spread(tsio, fx)}** | ≥ 5: ${m >= 5 ? 'met' : '**missed**'} |`,
      );
    }
    const costs = get('sio-redis')
      .map((r, i) => (get('tslay-redis')[i] ? serverCost(r) / serverCost(get('tslay-redis')[i]) : null))
      .filter((x) => x !== null);
    if (costs.length > 0) {
      out(
        `| server CPU per delivery, socket.io ÷ tslay (both through Redis) | ${spread(costs, fx)} | (not a target) |`,
      );
    }
    const tl = ratios('tslay-redis', 'tslay-local');
    if (tl.length > 0) out(`| tslay + redis ÷ tslay one process | ${spread(tl, fx)} | (reference) |`);
    const sl = ratios('sio-redis', 'tslay-local');
    if (sl.length > 0)
      out(`| socket.io + redis-adapter ÷ tslay one process | ${spread(sl, fx)} | (reference) |`);
    out();
  }
  if (lat.length > 0) {
    out(
      `### 2. Latency: A publishes at a fixed rate to ${LAT_N} sockets per server (the fan-out sockets idle)`,
    );
    out();
    out(
      'Remote: the sockets on server B (through Redis); local: those on server A. "received": messages stamped in a',
    );
    out(
      'window that had arrived when it was read (1 s later at most); below 100% the percentiles cover only those.',
    );
    out();
    out(
      '| setup | msgs/s | remote p50 | remote p99 | remote p99.9 | remote max | received | local p50 | local p99 | A ticks > 2 ms / > 5 ms apart, longest | A preempted / waited per s | server A CPU | server B CPU | clients CPU | others CPU |',
    );
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const groups = new Map();
    for (const l of lat) {
      const id = `${l.key} ${l.rate}`;
      if (!groups.has(id)) groups.set(id, []);
      groups.get(id).push(l);
    }
    for (const rounds of groups.values()) {
      const { key, rate } = rounds[0];
      const remote = rounds.map((r) => r.remote).filter(Boolean);
      const local = rounds.map((r) => r.local).filter(Boolean);
      const received = median(rounds.map((r) => (r.remote ?? r.local).received));
      const q = (list, p) => list.map((x) => x[p]);
      out(
        `| ${LABELS[key]} | ${k(rate)} | ${remote.length ? `**${spread(q(remote, 'p50'), us)}**` : '–'} | ${
          remote.length ? `**${spread(q(remote, 'p99'), us)}**` : '–'
        } | ${remote.length ? us(median(q(remote, 'p999'))) : '–'} | ${
          remote.length ? us(Math.max(...q(remote, 'max').filter((x) => x !== null))) : '–'
        } | ${fx(100 * received, 1)}% | ${spread(q(local, 'p50'), us)} | ${spread(q(local, 'p99'), us)} | ${ticks(
          rounds,
        )} | ${k(median(rounds.map((r) => r.preempted_per_s)))} / ${k(median(rounds.map((r) => r.waits_per_s)))} | ${pct(
          cpuOf(rounds, 'server A'),
        )} | ${key === 'tslay-local' ? '–' : pct(cpuOf(rounds, 'server B'))} | ${pct(cpuOf(rounds, 'clients'))} | ${pct(
          cpuOf(rounds, 'others'),
        )} |`,
      );
    }
    out();
    out('| ratio / target | measured | target |');
    out('|---|---:|---|');
    const at = (key, rate) => groups.get(`${key} ${rate}`) ?? [];
    const t10 = at('tslay-redis', RATE).map((r) => r.remote?.p99 / 1000);
    if (t10.length > 0) {
      const m = median(t10);
      out(
        `| tslay + redis p99 across processes at ${k(RATE)} msgs/s | ${spread(t10, (x) => `${x.toFixed(2)} ms`)} | ≤ 2 ms: ${m <= 2 ? 'met' : '**missed**'} |`,
      );
    }
    for (const rate of [LOW_RATE, RATE]) {
      const a = at('tslay-redis', rate);
      const b = at('sio-redis', rate);
      if (a.length === 0 || b.length === 0) continue;
      const paired = b.length === a.length;
      const div = (x, y) => (x === null || y === null || y === 0 ? null : x / y);
      const r99 = paired
        ? b.map((x, i) => div(x.remote.p99, a[i].remote.p99))
        : [div(median(b.map((x) => x.remote.p99)), median(a.map((x) => x.remote.p99)))];
      const r50 = paired
        ? b.map((x, i) => div(x.remote.p50, a[i].remote.p50))
        : [div(median(b.map((x) => x.remote.p50)), median(a.map((x) => x.remote.p50)))];
      const rec = median(b.map((x) => x.remote.received));
      const note =
        rec < 0.999 ? ` (socket.io had delivered ${(100 * rec).toFixed(1)}%: it does not keep up)` : '';
      out(
        `| socket.io p99 ÷ tslay p99, remote, ${k(rate)} msgs/s | ${spread(r99, fx)}${note} | (above 1: tslay lower) |`,
      );
      out(`| socket.io p50 ÷ tslay p50, remote, ${k(rate)} msgs/s | ${spread(r50, fx)} | |`);
    }
    out();
  }
  const pubKeys = Object.keys(pub);
  if (pubKeys.length > 0) {
    out(
      '### 3. Publishing from one process through the backplane (no local subscribers, one remote subscriber)',
    );
    out();
    out(
      '| client, publishes per turn | msgs/s arrived | PUBLISH/s (Redis) | publisher socket writes/s | msgs per write | Redis reads/s | PUBLISH per read | publisher CPU | redis CPU | subscriber CPU | others CPU | lost | gap reports |',
    );
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const key of pubKeys) {
      const rounds = pub[key];
      out(
        `| ${key} | **${spread(
          rounds.map((r) => r.per_s),
          k,
        )}** | ${k(median(rounds.map((r) => r.redis.publish_per_s)))} | ${k(
          median(rounds.map((r) => r.writes_per_s[0])),
        )} | ${fx(median(rounds.map((r) => r.per_s / r.writes_per_s[0])), 1)} | ${k(
          median(rounds.map((r) => r.redis.reads_per_s)),
        )} | ${fx(median(rounds.map((r) => r.redis.publish_per_read)), 1)} | ${pct(cpuOf(rounds, 'publisher'))} | ${pct(
          cpuOf(rounds, 'redis'),
        )} | ${pct(cpuOf(rounds, 'subscriber'))} | ${pct(cpuOf(rounds, 'others'))} | ${rounds.at(-1).lost} | ${
          rounds.at(-1).reports
        } |`,
      );
    }
    out();
    const main = pub[PUBS[0][0]];
    if (main) {
      const m = median(main.map((r) => r.per_s));
      const per = median(main.map((r) => r.per_s / r.writes_per_s[0]));
      const one = pub[PUBS[1][0]];
      const perOne = one ? median(one.map((r) => r.per_s / r.writes_per_s[0])) : null;
      out('| target | measured | |');
      out('|---|---:|---|');
      out(
        `| ≥ 100 k msgs/s from one process (${PUBS[0][0]}) | ${k(m)} | ${m >= 100_000 ? 'met' : '**missed**'} |`,
      );
      out(
        `| one write per event-loop turn, not one per message | ${fx(per, 1)} messages per socket write at 100 per turn${
          perOne === null ? '' : `, ${fx(perOne, 2)} at 1 per turn`
        } | ${per > 50 ? 'met' : '**missed**'} |`,
      );
      out();
    }
  }
  return lines.join('\n');
}

// ─── main ─────────────────────────────────────────────────────────────────────────────────────────────────

const LABELS = {
  'tslay-redis': 'tslay + redis',
  'sio-redis': 'socket.io + redis-adapter',
  'tslay-local': 'tslay, one process',
};
const PUBS = [
  ['node-redis, 100', { flavour: 'node-redis', batch: 100 }],
  ['node-redis, 1', { flavour: 'node-redis', batch: 1 }],
  ['ioredis, 100', { flavour: 'ioredis', batch: 100 }],
];

const versions = {};
for (const pkg of ['ws', 'socket.io', 'socket.io-client', '@socket.io/redis-adapter', 'redis', 'ioredis']) {
  try {
    versions[pkg] = JSON.parse(
      readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8'),
    ).version;
  } catch {
    versions[pkg] = null;
  }
}
const redisVersion = spawnSync(redisServer, ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1];
const meta = {
  date: new Date()
    .toISOString()
    .replace(/:\d\d\.\d+Z$/, ' UTC')
    .replace('T', ' '),
  node: `Node ${process.version}`,
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  load: os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' '),
  redis: redisVersion,
  versions,
};
log(`${meta.node}, redis-server ${redisVersion}, ${meta.cpus}, load ${meta.load}`);

const started = Date.now();
const redis = await startRedis();
const results = { fan: {}, lat: [], pub: {} };
const records = [];
const setups = [];
let failed = null;
const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length]);
try {
  // 1. fan-out: every setup up at once, rounds interleaved (the order rotates from round to round).
  const fanKeys = ['tslay-redis', 'sio-redis', 'tslay-local'].filter(wanted);
  for (const key of fanKeys) {
    log(`${LABELS[key]}: connecting ${2 * N + LAT_N * (key === 'tslay-local' ? 1 : 2)} sockets…`);
    const setup = await setUp(key, LABELS[key], {
      impl: key === 'sio-redis' ? 'sio' : 'tslay',
      redis: key === 'tslay-local' ? null : redis,
    });
    setups.push(setup);
    // Warm-up (JIT, buffers): one unmeasured round.
    await creditRound(setup, { window: WINDOW, batch: BATCH, topic: 'fan', ms: 200, warm: 1000 });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const setup of rotate(setups, round)) {
      const profile = PROFILE_DIR !== '' && round === ROUNDS - 1;
      const r = await creditRound(setup, { window: WINDOW, batch: BATCH, topic: 'fan', profile });
      r.redis = setup.redis ? r.redis : null;
      (results.fan[setup.key] ??= []).push(r);
      records.push({ bench: 'scale-fan', key: setup.key, round, ...r });
      log(
        `fan-out round ${round + 1}: ${setup.label}: ${k(r.per_s)} deliveries/s, others ${pct(r.cpu.others)}`,
      );
    }
  }
  if (PROFILE_DIR)
    log(`profiles of the last fan-out round in ${PROFILE_DIR}: node bench/scale/profile.mjs …`);

  // 2. latency: tslay and socket.io at LOW_RATE, tslay (both setups) at RATE, interleaved; then socket.io at
  // RATE, last, since it may not keep up and leave a backlog.
  const by = (key) => setups.find((s) => s.key === key);
  const plan = [
    [LOW_RATE, ['tslay-redis', 'sio-redis']],
    [RATE, ['tslay-redis', 'tslay-local']],
  ];
  for (const [rate, keys] of plan) {
    const present = keys.map(by).filter(Boolean);
    for (let round = 0; round < ROUNDS; round++) {
      for (const setup of rotate(present, round)) {
        const profile = PROFILE_DIR !== '' && round === ROUNDS - 1 && rate === RATE;
        const r = await latRound(setup, rate, { profile });
        results.lat.push({ key: setup.key, round, ...r });
        records.push({ bench: 'scale-lat', key: setup.key, round, ...r });
        log(
          `latency ${k(rate)}/s round ${round + 1}: ${setup.label}: p99 remote ${us(r.remote?.p99)}, local ${us(r.local?.p99)}`,
        );
      }
    }
  }
  if (by('sio-redis')) {
    const r = await latRound(by('sio-redis'), RATE, { drainMs: 15_000 });
    results.lat.push({ key: 'sio-redis', round: 0, ...r });
    records.push({ bench: 'scale-lat', key: 'sio-redis', round: 0, ...r });
    log(`latency ${k(RATE)}/s: socket.io: p99 remote ${us(r.remote?.p99)}, drained ${r.drained}`);
  }
  for (const setup of setups) {
    const gaps = setup.reports.filter((r) => r.type === 'gap');
    if (gaps.length > 0)
      log(`${setup.label}: ${gaps.length} gap reports: ${JSON.stringify(gaps.slice(0, 3))}`);
  }
  await Promise.all(setups.splice(0).map(tearDown));

  // 3. publishing from one process: node-redis (100 per turn, 1 per turn) and ioredis (100), interleaved.
  if (wanted('pub')) {
    const pubSetups = {
      'node-redis': await setUpPublisher('node-redis', { redis, flavour: 'node-redis', topic: 'p1' }),
      ioredis: await setUpPublisher('ioredis', { redis, flavour: 'ioredis', topic: 'p2' }),
    };
    setups.push(...Object.values(pubSetups));
    for (const s of Object.values(pubSetups)) {
      await creditRound(s, { window: PUB_WINDOW, batch: 100, topic: s.topic, ms: 200, warm: 1000 });
    }
    for (let round = 0; round < PUB_ROUNDS; round++) {
      for (const [label, { flavour, batch }] of rotate(PUBS, round)) {
        const s = pubSetups[flavour];
        const profile = PROFILE_DIR !== '' && round === PUB_ROUNDS - 1;
        if (profile) s.servers[0].name = `publish ${label}/publisher`;
        const r = await creditRound(s, { window: PUB_WINDOW, batch, topic: s.topic, profile });
        r.reports = s.reports.length;
        (results.pub[label] ??= []).push(r);
        records.push({ bench: 'scale-pub', key: label, round, ...r });
        log(
          `publish round ${round + 1}: ${label}: ${k(r.per_s)} msgs/s, ${fx(r.redis.publish_per_read, 1)} per read`,
        );
      }
    }
  }
} catch (error) {
  failed = error;
} finally {
  await Promise.all(setups.map(tearDown)).catch(() => {});
  await redis.stop();
  killAll();
}
if (failed) {
  process.stderr.write(`scale: failed: ${failed.stack ?? failed}\n`);
  process.exit(1);
}

const text = `${report(results, meta)}\nVersions: ${Object.entries(versions)
  .map(([p, v]) => `${p} ${v}`)
  .join(
    ', ',
  )}, redis-server ${redisVersion}. Total run time ${((Date.now() - started) / 1000).toFixed(0)} s.\n`;
process.stdout.write(`${text}\n`);
const resultsDir = path.join(here, 'results');
mkdirSync(resultsDir, { recursive: true });
const stamp = new Date()
  .toISOString()
  .replace(/[:.]/g, '-')
  .replace(/-\d\d\dZ$/, 'Z');
writeFileSync(path.join(resultsDir, `scale-${stamp}.md`), text);
writeFileSync(
  path.join(resultsDir, `scale-${stamp}.jsonl`),
  `${records.map((r) => JSON.stringify({ ...meta, ...r })).join('\n')}\n`,
);
