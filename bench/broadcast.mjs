#!/usr/bin/env node
// Broadcast fan-out: one 64-byte text message to N sockets, messages delivered per second as counted by the clients.
//
//   node bench/broadcast.mjs <impl>          one implementation, every N; prints JSON lines (one per measured round)
//   node bench/broadcast.mjs server <impl>   the server process (started by the line above; `bun … server bun`)
//
// impl: tslay (context.broadcast to one protocol), tslay-topic (context.publish to one topic), ws (the
// `for (const c of wss.clients) c.send(msg)` loop), bun (Bun.serve, ws.subscribe('all') + server.publish).
//
// The server runs in its own process pinned to BENCH_CPU (default 0); this process pins itself to
// BENCH_CLIENT_CPU (default 1) and holds the N client connections: raw node:net sockets, handshake written by hand,
// frames counted by bytes (66 = 2-byte header + 64), with the header bytes `81 40` checked at every frame boundary.
// Control: one line on the server's stdin (`send K B`: broadcast K messages, B per event-loop turn, then wait with
// setImmediate while some socket has more than PACE_LIMIT bytes buffered) and one line back on its stdout.
// deliveries/s = frames counted by all clients ÷ (time from the `send` command to the last frame received).
//
//   BROADCAST_N=1000,10000        socket counts (each in a fresh server process)
//   BENCH_REPS=3                  measured rounds per N, after two warm-up rounds (the second sizes K)
//   BROADCAST_ROUND_MS=1500       target duration of a measured round
//   BROADCAST_BATCH=16            messages broadcast per event-loop turn on the server
//   BROADCAST_NODE_FLAGS=…        extra node flags for the Node servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
//   TSLAY_DIST=dir                the tslay build to measure (default dist/), e.g. to compare two builds
//   BUN=path                      the Bun binary (default: ../shared/bench's @oven/bun-linux-x64)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const SIZE = 64;
const FRAME = SIZE + 2;
const MESSAGE = 'tslay broadcast benchmark: sixty-four bytes of ASCII text, fixed.'
  .padEnd(SIZE, '.')
  .slice(0, SIZE);
/** The server waits (setImmediate) while any socket has more than this many bytes waiting to be written. */
const PACE_LIMIT = 256 * 1024;

// ── server ───────────────────────────────────────────────────────────────────────────────────────────────

async function server(impl) {
  let count; // () => number of open sockets
  let sendOne; // () => void: one broadcast
  let maxBuffered; // () => bytes waiting in the fullest socket
  let port;
  if (impl === 'bun') {
    const sockets = new Set();
    // This branch runs under Bun (`bun bench/broadcast.mjs server bun`).
    const srv = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch(req, s) {
        if (s.upgrade(req)) return undefined;
        return new Response('upgrade required', { status: 426 });
      },
      websocket: {
        perMessageDeflate: false,
        idleTimeout: 960,
        backpressureLimit: 16 * 1024 * 1024,
        open(ws) {
          ws.subscribe('all');
          sockets.add(ws);
        },
        close(ws) {
          sockets.delete(ws);
        },
        message() {},
      },
    });
    port = srv.port;
    count = () => sockets.size;
    sendOne = () => srv.publish('all', MESSAGE);
    maxBuffered = () => {
      let m = 0;
      for (const ws of sockets) m = Math.max(m, ws.getBufferedAmount());
      return m;
    };
  } else if (impl === 'ws') {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', (ws) => ws.on('error', () => {}));
    port = wss.address().port;
    count = () => wss.clients.size;
    sendOne = () => {
      for (const c of wss.clients) c.send(MESSAGE);
    };
    maxBuffered = () => {
      let m = 0;
      for (const c of wss.clients) m = Math.max(m, c.bufferedAmount);
      return m;
    };
  } else if (impl === 'tslay' || impl === 'tslay-topic') {
    const dist = process.env.TSLAY_DIST || path.join(root, 'dist');
    const { createContext } = await import(path.join(dist, 'service/index.js'));
    const topic = impl === 'tslay-topic';
    const context = await createContext({
      host: '127.0.0.1',
      port: 0,
      protocols: {
        feed: (ws) => {
          if (topic) ws.subscribe('all');
        },
      },
    });
    port = context.port;
    count = () => context.sockets.size;
    sendOne = topic ? () => context.publish('all', MESSAGE) : () => context.broadcast('feed', MESSAGE);
    maxBuffered = () => {
      let m = 0;
      for (const ws of context.sockets) m = Math.max(m, ws.bufferedAmount);
      return m;
    };
  } else throw new Error(`unknown implementation ${impl}`);

  const say = (line) => process.stdout.write(`${line}\n`);
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  async function send(k, batch) {
    const t0 = performance.now();
    let waits = 0;
    for (let sent = 0; sent < k; ) {
      const end = Math.min(k, sent + batch);
      for (; sent < end; sent++) sendOne();
      await turn();
      while (maxBuffered() > PACE_LIMIT) {
        waits++;
        await turn();
      }
    }
    return { ms: performance.now() - t0, waits };
  }
  let pending = '';
  process.stdin.on('data', async (chunk) => {
    pending += chunk.toString();
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const [cmd, ...args] = pending.slice(0, nl).trim().split(' ');
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
      if (cmd === 'count') say(`count ${count()}`);
      else if (cmd === 'send') {
        const r = await send(Number(args[0]), Number(args[1]));
        say(`sent ${r.ms.toFixed(1)} ${r.waits}`);
      } else if (cmd === 'quit') process.exit(0);
    }
  });
  process.stdin.on('end', () => process.exit(0));
  say(`ready ${port}`);
}

// ── driver and clients ───────────────────────────────────────────────────────────────────────────────────

async function driver(impl) {
  const IMPLS = ['tslay', 'tslay-topic', 'ws', 'bun'];
  if (!IMPLS.includes(impl)) throw new Error(`usage: node bench/broadcast.mjs <${IMPLS.join('|')}>`);
  const ns = (process.env.BROADCAST_N || '1000,10000').split(',').map(Number);
  const reps = Number(process.env.BENCH_REPS || 3);
  const roundMs = Number(process.env.BROADCAST_ROUND_MS || 1500);
  const batch = Number(process.env.BROADCAST_BATCH || 16);
  const round = Number(process.env.ROUND || 1);
  const serverCpu = process.env.BENCH_CPU ?? '0';
  const clientCpu = process.env.BENCH_CLIENT_CPU ?? (serverCpu === '' ? '' : '1');
  const bun = process.env.BUN || path.join(root, '../shared/bench/node_modules/@oven/bun-linux-x64/bin/bun');
  if (impl === 'bun' && !existsSync(bun)) {
    process.stderr.write(`broadcast: no Bun binary at ${bun} (set BUN): bun skipped\n`);
    return;
  }
  const dist = process.env.TSLAY_DIST || path.join(root, 'dist');
  if (impl.startsWith('tslay') && !existsSync(path.join(dist, 'service/index.js')))
    throw new Error(`${dist} is missing: npm run build`);
  const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
  if (hasTaskset && clientCpu !== '')
    spawnSync('taskset', ['-a', '-p', '-c', clientCpu, String(process.pid)], { stdio: 'ignore' });

  for (const n of ns) {
    const srv = await startServer(impl, bun, hasTaskset ? serverCpu : '');
    const clients = await openClients(srv.port, n);
    const have = Number((await srv.ask('count')).split(' ')[1]);
    if (have !== n) throw new Error(`${impl}: the server counts ${have} sockets, expected ${n}`);
    const rssIdle = rssOf(srv.pid);
    // Warm-up: a short round, then one of about roundMs / 2 that sizes K for a round of about roundMs.
    const warm = await measure(srv, clients, Math.max(1, Math.ceil(100_000 / n)), batch);
    const sized = (m, ms) => Math.max(batch, Math.round((m.per_s * ms) / 1000 / n));
    const cal = await measure(srv, clients, sized(warm, roundMs / 2), batch);
    const k = sized(cal, roundMs);
    for (let rep = 1; rep <= reps; rep++) {
      const m = await measure(srv, clients, k, batch);
      process.stdout.write(
        `${JSON.stringify({ bench: 'broadcast', impl, n, round, rep, k, batch, rss_idle: rssIdle, ...m })}\n`,
      );
    }
    clients.close();
    await srv.quit();
  }
}

function startServer(impl, bun, cpu) {
  const runtime = impl === 'bun' ? bun : process.execPath;
  const flags = impl === 'bun' ? [] : (process.env.BROADCAST_NODE_FLAGS || '').split(' ').filter(Boolean);
  const cmd = [runtime, ...flags, path.join(here, 'broadcast.mjs'), 'server', impl];
  // The soft fd limit is raised to the hard one (10,000 sockets need more than the usual 1024).
  const sh = ['bash', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', ...cmd];
  const argv = cpu === '' ? sh : ['taskset', '-c', cpu, ...sh];
  const child = spawn(argv[0], argv.slice(1), { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiting = [];
  let exitCode = null;
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  exited.then((code) => {
    exitCode = code;
    for (const w of waiting.splice(0)) w(null);
  });
  const next = () =>
    new Promise((resolve, reject) => {
      const reply = (line) =>
        line === null ? reject(new Error(`${impl} server exited (${exitCode})`)) : resolve(line);
      if (lines.length) reply(lines.shift());
      else if (exitCode !== null) reply(null);
      else waiting.push(reply);
    });
  return next().then((ready) => ({
    pid: child.pid,
    port: Number(ready.split(' ')[1]),
    /** Sends a command line; resolves with the reply line. */
    ask(line) {
      child.stdin.write(`${line}\n`);
      return next();
    },
    async quit() {
      child.stdin.write('quit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  }));
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='; // RFC 6455 §1.3's example key and its accept value

/** N connections, handshakes done (at most 256 in flight); frames counted into one shared tally. */
async function openClients(port, n) {
  const tally = { frames: 0, bad: 0, last: 0, target: Infinity, onTarget: null };
  const request = Buffer.from(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const sockets = [];
  const openOne = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      let head = '';
      let pos = 0; // bytes of the current frame already seen
      const count = (chunk, from) => {
        const len = chunk.length;
        let i = from;
        let frames = 0;
        let bad = 0;
        if (pos !== 0) {
          if (pos === 1 && i < len && chunk[i] !== 0x40) bad++;
          const need = FRAME - pos;
          if (len - i < need) {
            pos += len - i;
            tally.bad += bad;
            return;
          }
          i += need;
          frames++;
        }
        for (; i + FRAME <= len; i += FRAME) {
          if (chunk[i] !== 0x81 || chunk[i + 1] !== 0x40) bad++;
          frames++;
        }
        if (i < len) {
          if (chunk[i] !== 0x81 || (i + 1 < len && chunk[i + 1] !== 0x40)) bad++;
          pos = len - i;
        } else pos = 0;
        tally.bad += bad;
        tally.frames += frames;
        tally.last = performance.now();
        if (tally.frames >= tally.target) tally.onTarget?.();
      };
      const onData = (chunk) => {
        if (head !== null) {
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const ok = head.startsWith('HTTP/1.1 101') && head.includes(ACCEPT);
          const rest = Buffer.byteLength(head, 'latin1') - (end + 4);
          head = null;
          if (!ok) return reject(new Error('handshake refused'));
          resolve(socket);
          if (rest > 0) count(chunk, chunk.length - rest);
          return;
        }
        count(chunk, 0);
      };
      socket.on('data', onData);
      socket.on('error', (e) => (head !== null ? reject(e) : tally.bad++));
      socket.write(request);
    });
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      sockets.push(await openOne());
    }
  };
  await Promise.all(Array.from({ length: Math.min(256, n) }, worker));
  return {
    tally,
    n,
    close() {
      for (const s of sockets) s.destroy();
    },
  };
}

function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function cpuTicksOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime + stime, in clock ticks (100 per second)
  } catch {
    return 0;
  }
}

/** One round: K broadcasts; resolves when every frame has arrived (or nothing arrived for a second). */
async function measure(srv, clients, k, batch) {
  const { tally, n } = clients;
  const expected = k * n;
  tally.frames = 0;
  tally.bad = 0;
  let rssMax = rssOf(srv.pid);
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssOf(srv.pid));
  }, 50);
  const cpu0 = cpuTicksOf(srv.pid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  tally.last = t0;
  const all = new Promise((resolve) => {
    tally.target = expected;
    tally.onTarget = resolve;
  });
  const reply = await srv.ask(`send ${k} ${batch}`);
  // Every frame counted, or a second without any after the server has finished sending.
  while (tally.frames < expected) {
    const quiet = new Promise((resolve) => setTimeout(resolve, 1000));
    const before = tally.frames;
    await Promise.race([all, quiet]);
    if (tally.frames === before) break;
  }
  tally.onTarget = null;
  tally.target = Infinity;
  clearInterval(sampler);
  rssMax = Math.max(rssMax, rssOf(srv.pid));
  const secs = (tally.last - t0) / 1000;
  const own = process.cpuUsage(own0);
  const [, sendMs, waits] = reply.split(' ');
  return {
    frames: tally.frames,
    expected,
    bad: tally.bad,
    secs,
    per_s: tally.frames / secs,
    send_ms: Number(sendMs),
    waits: Number(waits),
    server_cpu: (cpuTicksOf(srv.pid) - cpu0) / 100 / secs,
    client_cpu: (own.user + own.system) / 1e6 / secs,
    rss_max: rssMax,
  };
}

const [role, implArg] = process.argv.slice(2);
if (role === 'server') await server(implArg);
else await driver(role);
