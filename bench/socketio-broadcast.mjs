#!/usr/bin/env node
// socket.io broadcast throughput with `wsEngine: WebSocketServer` from `ws` versus from `tslay/ws`.
//
//   node bench/socketio-broadcast.mjs                      the driver: every engine, REPS times, then the report
//   node bench/socketio-broadcast.mjs server <ws|tslay>    a server process (started by the driver)
//   node bench/socketio-broadcast.mjs clients <port> <n> <round>   a client process (started by the driver)
//
// Per run, the driver starts a fresh server process (pinned to CPU 0 with taskset, when it exists): socket.io 4 on
// an http server on 127.0.0.1, port 0, `transports: ['websocket']`, `wsEngine` the WebSocketServer of the engine
// under test; and a fresh client process (pinned to CPU 1) holding CLIENTS socket.io-client connections
// (websocket transport, opened 50 at a time). Only the server side changes between engines: the clients are the
// same socket.io-client (over the `ws` package) for both.
//
// Closed loop, in rounds: the server broadcasts a round of ROUND `io.emit('tick', payload)` calls (a fixed JSON
// object of about 100 bytes), BATCH of them per event-loop turn; the client process counts the messages of all its
// connections and reports (through the driver, which relays and times) when the round has reached every one of
// them; only then is the server asked for the next round. At most WINDOW rounds are in flight (default 1: strict
// lock-step), so nothing piles up in any buffer, a round costs the server the same at the end of a run as at the
// start, and every message counted has been delivered. In lock-step the server sits idle while the clients take in
// the end of a round; WINDOW=2 lets it start the next round meanwhile. Rounds run for WARM seconds (not measured),
// then for DUR seconds (measured, from one delivery report to the first one after DUR has passed).
//
// Figures per run:
//   delivered msgs/s          rounds delivered × ROUND × CLIENTS ÷ the measured time (driver's clock)
//   server CPU µs per msg     the server process's process.cpuUsage() (user + system) over the measured rounds ÷
//                             the messages delivered in them: the cost of a delivery, whatever limits the rate
//   server / client CPU load  CPU time ÷ measured time, for each process: a server near 100 % is the bottleneck;
//                             when the client process is nearer 100 %, msgs/s is partly the clients' rate, and
//                             CPU per message is then the better figure to compare the engines by
// Engines run one after the other, alternating which goes first (ws, tslay; tslay, ws; …), REPS times; the report
// gives medians [min–max] and tslay/ws ratios of the medians.
//
//   CLIENTS=1000   socket.io-client connections          REPS=3     runs per engine
//   DUR=5          measured seconds per run              WARM=2     warm-up seconds per run
//   ROUND=20       emits per round                       BATCH=5    emits per event-loop turn of the server
//   WINDOW=1       rounds in flight
//   BENCH_CPU=0    server CPU (empty: no pinning)        BENCH_CLIENT_CPU=1   client process CPU
//
// Prints a markdown report and writes it to bench/results/socketio-broadcast-<UTC stamp>.md. Needs `npm run build`
// (dist/ws/index.js, imported as `tslay/ws`).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const script = fileURLToPath(import.meta.url);

/** The broadcast payload: about 100 bytes of JSON, the same object for every emit. */
const PAYLOAD = {
  type: 'quote',
  symbol: 'TSLAY',
  bid: 101.25,
  ask: 101.5,
  size: 1200,
  venue: 'bench',
  note: 'fixed payload.',
};
const ENGINES = { ws: 'ws', tslay: 'tslay/ws' };

/** Reads newline-delimited JSON from a stream, calling `onMessage` with each object. */
function readLines(stream, onMessage) {
  let pending = '';
  stream.on('data', (chunk) => {
    pending += chunk.toString();
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) onMessage(JSON.parse(line));
    }
  });
}

const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

// ── server process ───────────────────────────────────────────────────────────────────────────────────────────

async function server(engine) {
  if (!ENGINES[engine]) throw new Error(`unknown engine ${engine}`);
  const { WebSocketServer } = await import(ENGINES[engine]);
  const http = await import('node:http');
  const { Server } = await import('socket.io');
  const httpServer = http.createServer();
  const io = new Server(httpServer, { wsEngine: WebSocketServer, transports: ['websocket'] });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));

  /** Broadcasts `m` messages, `batch` per event-loop turn (the rest of a turn goes to the sockets' writes). */
  const round = (m, batch) => {
    let left = m;
    const step = () => {
      const k = Math.min(batch, left);
      for (let i = 0; i < k; i++) io.emit('tick', PAYLOAD);
      left -= k;
      if (left > 0) setImmediate(step);
    };
    step();
  };
  readLines(process.stdin, (cmd) => {
    if (cmd.cmd === 'round') round(cmd.m, cmd.batch);
    else if (cmd.cmd === 'count') say({ type: 'count', sockets: io.of('/').sockets.size });
    else if (cmd.cmd === 'cpu') say({ type: 'cpu', cpu: process.cpuUsage() });
    else if (cmd.cmd === 'quit') process.exit(0);
  });
  // The driver gone (stdin closed) means this process is done too.
  process.stdin.on('end', () => process.exit(0));
  say({ type: 'port', port: httpServer.address().port });
}

// ── client process ───────────────────────────────────────────────────────────────────────────────────────────

async function clients(port, n, m) {
  const { io } = await import('socket.io-client');
  const counts = new Uint32Array(n);
  const sockets = [];
  let total = 0;
  let closed = 0;
  let ready = false;
  const perRound = m * n;
  let nextReport = perRound;
  const open = (i) =>
    new Promise((resolve, reject) => {
      const socket = io(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        timeout: 60_000,
      });
      sockets.push(socket);
      socket.on('tick', () => {
        counts[i]++;
        // Every connection gets each message once, so the total reaching a round's multiple means every
        // connection has all of that round.
        if (++total === nextReport) {
          nextReport += perRound;
          say({ type: 'delivered', total, cpu: process.cpuUsage() });
        }
      });
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
      socket.once('disconnect', (reason) => {
        closed++;
        if (ready) say({ type: 'closed', reason, closed });
      });
    });
  const CONCURRENCY = 50;
  let next = 0;
  const worker = async () => {
    while (next < n) await open(next++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
  ready = true;
  readLines(process.stdin, (cmd) => {
    if (cmd.cmd === 'check') {
      let min = Number.POSITIVE_INFINITY;
      let max = 0;
      for (const c of counts) {
        if (c < min) min = c;
        if (c > max) max = c;
      }
      say({ type: 'check', total, min, max, closed });
    } else if (cmd.cmd === 'quit') {
      for (const s of sockets) s.disconnect();
      process.exit(0);
    }
  });
  process.stdin.on('end', () => process.exit(0));
  say({ type: 'ready', connect_ms: performance.now() - t0, cpu: process.cpuUsage() });
}

// ── driver ───────────────────────────────────────────────────────────────────────────────────────────────────

const children = new Set();

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}

/**
 * A child process speaking JSON lines on stdin / stdout: `next(type)` resolves with its next message of that
 * type (rejecting if the process exits first or `ms` pass), `send(cmd)` writes a command.
 */
function child(name, argv, { cpu, fdLimit }) {
  // The soft fd limit is raised for the child when it is below what the connections need.
  const sh = fdLimit ? ['bash', '-c', `ulimit -n ${fdLimit} && exec "$@"`, 'bash', ...argv] : argv;
  const full = cpu === '' ? sh : ['taskset', '-c', cpu, ...sh];
  const proc = spawn(full[0], full.slice(1), { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  const queued = new Map(); // type -> messages not yet taken
  const waiting = new Map(); // type -> [resolve, reject][]
  const listeners = new Map(); // type -> callback, for unsolicited messages
  let exitInfo = null;
  readLines(proc.stdout, (message) => {
    const cb = listeners.get(message.type);
    if (cb) return cb(message);
    const w = waiting.get(message.type);
    if (w?.length) return w.shift()[0](message);
    if (!queued.has(message.type)) queued.set(message.type, []);
    queued.get(message.type).push(message);
  });
  const exited = new Promise((resolve) =>
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      exitInfo = signal ?? code;
      for (const list of waiting.values())
        for (const [, reject] of list.splice(0)) reject(new Error(`${name} exited (${exitInfo})`));
      resolve();
    }),
  );
  proc.stdin.on('error', () => {});
  return {
    pid: proc.pid,
    send(cmd) {
      if (exitInfo === null) proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    },
    on(type, cb) {
      listeners.set(type, cb);
    },
    next(type, ms = 60_000) {
      const q = queued.get(type);
      if (q?.length) return Promise.resolve(q.shift());
      if (exitInfo !== null) return Promise.reject(new Error(`${name} exited (${exitInfo})`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no '${type}' within ${ms} ms`)), ms);
        if (!waiting.has(type)) waiting.set(type, []);
        waiting.get(type).push([
          (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          (e) => {
            clearTimeout(timer);
            reject(e);
          },
        ]);
      });
    },
    async quit() {
      this.send({ cmd: 'quit' });
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const cpuSecs = (a, b) => (b.user - a.user + (b.system - a.system)) / 1e6;

/** One run of one engine: fresh server and client processes, warm-up rounds, measured rounds. */
async function run(engine, opt) {
  const srv = child(`${engine} server`, [process.execPath, script, 'server', engine], {
    cpu: opt.serverCpu,
    fdLimit: opt.fdLimit,
  });
  let cli;
  try {
    const { port } = await srv.next('port', 30_000);
    cli = child(
      'client process',
      [process.execPath, script, 'clients', String(port), String(opt.clients), String(opt.round)],
      {
        cpu: opt.clientCpu,
        fdLimit: opt.fdLimit,
      },
    );
    const ready = await cli.next('ready', 120_000);
    let lost = null;
    cli.on('closed', (m) => {
      lost ??= m;
    });
    srv.send({ cmd: 'count' });
    const { sockets } = await srv.next('count');
    if (sockets !== opt.clients)
      throw new Error(`${engine}: the server has ${sockets} sockets, not ${opt.clients}`);

    const perRound = opt.round * opt.clients;
    let requested = 0; // rounds asked of the server
    let rounds = 0; // rounds reported delivered by the client process
    let clientCpu = ready.cpu; // the client process's CPU time at its latest report
    const request = () => {
      srv.send({ cmd: 'round', m: opt.round, batch: opt.batch });
      requested++;
    };
    /** Waits for the client process's report that the oldest round in flight reached every connection. */
    const delivered = async () => {
      const d = await cli.next('delivered', 30_000).catch((e) => {
        throw new Error(`${engine}: round ${rounds + 1} not delivered: ${e.message}`);
      });
      rounds++;
      if (d.total !== rounds * perRound)
        throw new Error(`${engine}: ${d.total} delivered after ${rounds} rounds`);
      if (lost) throw new Error(`${engine}: a client disconnected (${lost.reason})`);
      clientCpu = d.cpu;
    };
    const serverCpu = async () => {
      srv.send({ cmd: 'cpu' });
      return (await srv.next('cpu')).cpu;
    };

    // WINDOW rounds in flight: a new one is asked for each time one has been delivered.
    for (let i = 0; i < opt.window; i++) request();
    const warmEnd = performance.now() + opt.warm * 1000;
    while (performance.now() < warmEnd) {
      await delivered();
      request();
    }
    // The measured span runs from one delivery report to a later one. The server's CPU time is read at both ends
    // before the next round is asked for (with WINDOW=1 the server is idle then, so the reading is exact).
    await delivered();
    const t0 = performance.now();
    const rounds0 = rounds;
    const cliCpu0 = clientCpu;
    const srvCpu0 = await serverCpu();
    request();
    const stop = t0 + opt.dur * 1000;
    for (;;) {
      await delivered();
      if (performance.now() >= stop) break;
      request();
    }
    const t1 = performance.now();
    const measuredRounds = rounds - rounds0;
    const cliCpu1 = clientCpu;
    const srvCpu1 = await serverCpu();
    while (rounds < requested) await delivered();

    cli.send({ cmd: 'check' });
    const check = await cli.next('check');
    const expectEach = rounds * opt.round;
    if (check.min !== expectEach || check.max !== expectEach || check.closed)
      throw new Error(`${engine}: per-connection counts ${check.min}..${check.max}, expected ${expectEach}`);

    const measured = measuredRounds * perRound;
    const secs = (t1 - t0) / 1000;
    const srvSecs = cpuSecs(srvCpu0, srvCpu1);
    return {
      engine,
      rounds: measuredRounds,
      delivered: measured,
      secs,
      per_s: measured / secs,
      us_per_msg: (srvSecs * 1e6) / measured,
      server_load: srvSecs / secs,
      client_load: cpuSecs(cliCpu0, cliCpu1) / secs,
      connect_ms: ready.connect_ms,
    };
  } finally {
    await cli?.quit();
    await srv.quit();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

async function main() {
  const env = process.env;
  const num = (name, def) => {
    const v = env[name] === undefined || env[name] === '' ? def : Number(env[name]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number`);
    return v;
  };
  const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status === 0;
  const serverCpu = hasTaskset ? (env.BENCH_CPU ?? '0') : '';
  const clientCpu = hasTaskset ? (env.BENCH_CLIENT_CPU ?? (serverCpu === '' ? '' : '1')) : '';
  const opt = {
    clients: Math.max(1, Math.floor(num('CLIENTS', 1000))),
    reps: Math.max(1, Math.floor(num('REPS', 3))),
    dur: num('DUR', 5),
    warm: num('WARM', 2),
    round: Math.max(1, Math.floor(num('ROUND', 20))),
    batch: Math.max(1, Math.floor(num('BATCH', 5))),
    window: Math.max(1, Math.floor(num('WINDOW', 1))),
    serverCpu,
    clientCpu,
    fdLimit: 0,
  };
  if (!existsSync(path.join(root, 'dist/ws/index.js')))
    throw new Error('dist/ws/index.js is missing: npm run build');

  // Each process holds one fd per connection (plus a few dozen of its own); raise the soft limit if it is short.
  const limits = spawnSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n');
  const [soft, hard] = limits.map((l) => (l === 'unlimited' ? Number.POSITIVE_INFINITY : Number(l)));
  const need = opt.clients + 256;
  if (soft < need) {
    if (hard < need) throw new Error(`ulimit -n: ${need} file descriptors needed, hard limit ${hard}`);
    opt.fdLimit = need;
  }

  const started = new Date();
  const load0 = os.loadavg();
  const log = (s) => process.stderr.write(`${s}\n`);
  log(
    `socketio-broadcast: ${opt.clients} clients, ${opt.reps} reps, ${opt.warm} s warm-up + ${opt.dur} s, ` +
      `round ${opt.round}, batch ${opt.batch}, window ${opt.window}, server CPU ${serverCpu || 'unpinned'}, ` +
      `clients CPU ${clientCpu || 'unpinned'}, ulimit -n ${soft}${opt.fdLimit ? ` (raised to ${opt.fdLimit})` : ''}`,
  );

  const results = [];
  for (let rep = 1; rep <= opt.reps; rep++) {
    const order = rep % 2 ? ['ws', 'tslay'] : ['tslay', 'ws'];
    for (const engine of order) {
      const r = await run(engine, opt);
      results.push({ rep, ...r });
      log(
        `rep ${rep} ${engine.padEnd(5)} ${Math.round(r.per_s).toLocaleString('en-US').padStart(9)} msgs/s, ` +
          `${r.us_per_msg.toFixed(2)} µs server CPU/msg, server ${(100 * r.server_load).toFixed(0)} %, ` +
          `clients ${(100 * r.client_load).toFixed(0)} %, ${r.rounds} rounds in ${r.secs.toFixed(2)} s`,
      );
    }
  }
  const load1 = os.loadavg();

  const of = (engine, key) => results.filter((r) => r.engine === engine).map((r) => r[key]);
  const cell = (engine, key, fmt) => {
    const xs = of(engine, key);
    const range = xs.length > 1 ? ` [${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}]` : '';
    return `${fmt(median(xs))}${range}`;
  };
  const int = (x) => Math.round(x).toLocaleString('en-US');
  const us = (x) => x.toFixed(2);
  const pct = (x) => `${(100 * x).toFixed(0)} %`;
  const ratio = (key) => median(of('tslay', key)) / median(of('ws', key));
  const git = (args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src']) ? ' (src/ has uncommitted changes)' : '';
  // What runs is the build in dist/, so its time is given next to the commit.
  const built = statSync(path.join(root, 'dist/ws/index.js')).mtime.toISOString().replace(/\..*/, 'Z');
  const label = { ws: `ws ${versionOf('ws')}`, tslay: 'tslay/ws' };

  const md = [
    `# socket.io broadcast: wsEngine ws vs tslay/ws (${started.toISOString().replace(/\..*/, 'Z')})`,
    '',
    `${process.version}, socket.io ${versionOf('socket.io')} (engine.io ${versionOf('engine.io')}), ` +
      `socket.io-client ${versionOf('socket.io-client')}, ws ${versionOf('ws')}, ` +
      `tslay ${JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version}${commit ? ` at ${commit}` : ''}${dirty}, dist/ws built ${built}; ` +
      `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}; load average ${load0[0].toFixed(2)} before, ` +
      `${load1[0].toFixed(2)} after.`,
    '',
    `${opt.clients} socket.io-client connections (one process, CPU ${clientCpu || 'unpinned'}), server on CPU ` +
      `${serverCpu || 'unpinned'}; closed loop of rounds of ${opt.round} \`io.emit('tick', …)\` ` +
      `(${JSON.stringify(PAYLOAD).length} B of JSON, ${opt.batch} emits per event-loop turn), at most ` +
      `${opt.window} round${opt.window > 1 ? 's' : ''} in flight (a round is asked for only once an earlier one ` +
      `has reached every connection); ${opt.warm} s warm-up, then ${opt.dur} s measured; ` +
      `${opt.reps} runs per engine, alternating which goes first. Cells: median [min–max].`,
    '',
    '| engine | delivered msgs/s | server CPU µs / delivered msg | server CPU load | client process CPU load |',
    '|---|--:|--:|--:|--:|',
    ...['ws', 'tslay'].map(
      (e) =>
        `| ${label[e]} | ${cell(e, 'per_s', int)} | ${cell(e, 'us_per_msg', us)} | ${cell(e, 'server_load', pct)} | ` +
        `${cell(e, 'client_load', pct)} |`,
    ),
    `| **tslay/ws ÷ ws** | **${ratio('per_s').toFixed(2)}×** | **${ratio('us_per_msg').toFixed(2)}×** | | |`,
    '',
    'msgs/s: higher is better; CPU per message: lower is better. A server CPU load near 100 % means the server set',
    'the rate; a client process load near 100 % means the clients did (CPU per message still compares the servers).',
    '',
    '| rep | engine | msgs/s | server µs/msg | server load | client load | rounds | secs | connect ms |',
    '|--:|---|--:|--:|--:|--:|--:|--:|--:|',
    ...results.map(
      (r) =>
        `| ${r.rep} | ${label[r.engine]} | ${int(r.per_s)} | ${us(r.us_per_msg)} | ${pct(r.server_load)} | ` +
        `${pct(r.client_load)} | ${r.rounds} | ${r.secs.toFixed(2)} | ${int(r.connect_ms)} |`,
    ),
    '',
  ].join('\n');
  process.stdout.write(md);
  const dir = path.join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(
    dir,
    `socketio-broadcast-${started.toISOString().replace(/:/g, '-').replace(/\..*/, 'Z')}.md`,
  );
  writeFileSync(file, md);
  log(`wrote ${path.relative(root, file)}`);
}

const [role, ...args] = process.argv.slice(2);
if (role === 'server') await server(args[0]);
else if (role === 'clients') await clients(Number(args[0]), Number(args[1]), Number(args[2]));
else {
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  try {
    await main();
  } catch (e) {
    process.stderr.write(`socketio-broadcast: ${e.stack ?? e}\n`);
    killAll();
    process.exitCode = 1;
  }
}
