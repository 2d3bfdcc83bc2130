#!/usr/bin/env node
// npm run soak  (= npm run build && node bench/soak.mjs): a service context holding 19,000 WebSocket connections
// for 10 minutes. A benchmark, not a test: it takes minutes and most of the machine.
//
// One server process (a tslay context, heartbeat on, slowSocket 'drop') publishes a numbered message to topic
// 'tick' every second; every connection subscribes to it. The clients are ws 8 (an independent implementation),
// in SOAK_CLIENTS processes, each bound to its own loopback address (127.0.0.2, .3, …) so that the connections and
// the TIME_WAIT sockets of reconnecting ones never run short of ports. Every minute 10 % of the clients close
// (1000) and connect again, spread evenly over the minute. One more client is a slow reader: it also subscribes to
// 'firehose' (64 KiB every 20 ms) but reads 64 KiB every 100 ms, so its unsent bytes pass the broadcast limit, the
// server drops it, and it connects again a second later.
//
// Checked and reported:
//   - every client that kept reading got every tick from the first it saw to the last the server sent, in order
//     (a missing or repeated number counts as lost or reordered; the last tick, sent after reconnecting stops,
//     must reach every open connection);
//   - the server's RSS and heap sampled every 5 s: the least-squares slope after SOAK_WARM_S of holding;
//   - the event loop's longest delay (perf_hooks.monitorEventLoopDelay), in the server and in each client process,
//     while connecting and while holding;
//   - every connection accounted for: opened on both sides, closed by cause, open at the end, and zero sockets
//     left on the server after the clients close.
// Exits 1 when a pass condition fails: a tick lost or reordered, a stall over 100 ms while holding, an RSS slope
// that would add more than 5 % of the RSS over the hold, or connections not accounted for.
//
//   SOAK_CONNECTIONS=19000 SOAK_SECONDS=600   connections (besides the slow reader) and seconds held
//   SOAK_CLIENTS=2                            client processes
//   SOAK_RECONNECT=0.1                        share of the clients reconnecting per minute
//   SOAK_HEARTBEAT_MS=30000                   server heartbeat (ping interval; no pong by the next one: closed)
//   SOAK_WARM_S=60                            seconds of holding left out of the RSS slope
//   SOAK_BYTES=64                             tick message size
//   SOAK_CLIENT_NICE=0                        nice value of the client processes (the server runs at 0)
//   SOAK_SERVER_ARGS='--cpu-prof'             node options for the server process only
//   TSLAY_DIST=dir                            the tslay build to measure (default dist/)
//
// Prints a markdown report and writes it to bench/results/soak-<stamp>.md (samples in soak-<stamp>.jsonl).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { setPriority } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const env = (name, fallback) => Number(process.env[name] || fallback);
const CONNECTIONS = env('SOAK_CONNECTIONS', 19000);
const SECONDS = env('SOAK_SECONDS', 600);
const CLIENTS = env('SOAK_CLIENTS', 2);
const RECONNECT = env('SOAK_RECONNECT', 0.1);
const HEARTBEAT = env('SOAK_HEARTBEAT_MS', 30000);
const WARM = env('SOAK_WARM_S', 60);
const BYTES = env('SOAK_BYTES', 64);
const CLIENT_NICE = env('SOAK_CLIENT_NICE', 0);
const SAMPLE_MS = 5000;
const FIREHOSE_BYTES = 64 * 1024;
const FIREHOSE_MS = 20;
const STALL_LIMIT_MS = 100;
const SERVER_ARGS = (process.env.SOAK_SERVER_ARGS ?? '').split(' ').filter((arg) => arg !== '');
const dist = path.resolve(root, process.env.TSLAY_DIST || 'dist');

// ─── helpers ──────────────────────────────────────────────────────────────────────────────────────────────────

/** The event loop's longest delay since the last call, in ms. */
function stallMeter() {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return () => {
    const max = histogram.max / 1e6;
    histogram.reset();
    return max;
  };
}

/** Messages from the parent, one handler per type. */
function onParent(handlers) {
  process.on('message', (message) => handlers[message.type]?.(message));
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes) => bytes / (1024 * 1024);

// ─── the server ───────────────────────────────────────────────────────────────────────────────────────────────

async function server() {
  const { createContext } = await import(pathToFileURL(path.join(dist, 'index.js')).href);
  const closed = {}; // cause → count
  const errors = {}; // error code → count (an error is followed by its close)
  let opened = 0;
  let dropped = 0;
  let seq = 0;
  let holding = false;
  const stall = stallMeter();
  /** The longest synchronous `publish('tick')` since the last sample. */
  let publishMs = 0;
  const count = (cause) => {
    closed[cause] = (closed[cause] ?? 0) + 1;
  };
  const context = await createContext({
    port: 0,
    host: '0.0.0.0',
    slowSocket: 'drop',
    websocket: { heartbeat: HEARTBEAT },
    protocols: {
      soak: (ws) => {
        opened++;
        ws.subscribe('tick');
        ws.onClosed((_ws, code) => count(`soak ${code}`));
        ws.websocket.once('error', (error) => {
          const code = error.code ?? error.message;
          errors[code] = (errors[code] ?? 0) + 1;
        });
      },
      slow: (ws) => {
        opened++;
        ws.subscribe('tick');
        ws.subscribe('firehose');
        ws.onClosed((_ws, code) => count(`slow ${code}`));
      },
    },
  });
  const firehose = new Uint8Array(FIREHOSE_BYTES).fill(0x61);
  const padding = 'x'.repeat(BYTES);
  const tick = () => {
    seq++;
    const text = `${seq} ${padding}`.slice(0, Math.max(BYTES, String(seq).length + 1));
    const start = performance.now();
    dropped += context.publish('tick', text).dropped;
    publishMs = Math.max(publishMs, performance.now() - start);
  };
  const ticker = setInterval(() => {
    if (holding) tick();
  }, 1000);
  const hose = setInterval(() => {
    dropped += context.publish('firehose', firehose).dropped;
  }, FIREHOSE_MS);
  let cpu = process.cpuUsage();
  let cpuAt = performance.now();
  const sampler = setInterval(() => {
    const now = performance.now();
    const used = process.cpuUsage(cpu);
    const memory = process.memoryUsage();
    process.send({
      type: 'sample',
      at: Date.now(),
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      sockets: context.sockets.size,
      stall: stall(),
      publishMs,
      cpu: (used.user + used.system) / 1000 / (now - cpuAt),
      holding,
    });
    cpu = process.cpuUsage();
    cpuAt = now;
    publishMs = 0;
  }, SAMPLE_MS);
  onParent({
    hold: () => {
      stall();
      holding = true;
    },
    last: () => {
      holding = false;
      tick();
      process.send({ type: 'last', seq });
    },
    report: () => {
      process.send({
        type: 'report',
        opened,
        closed,
        errors,
        dropped,
        open: context.sockets.size,
        ticks: seq,
      });
    },
    stop: async () => {
      clearInterval(ticker);
      clearInterval(hose);
      clearInterval(sampler);
      await context.destroy({ timeout: 1000 });
      process.send({ type: 'stopped', open: context.sockets.size });
      process.exit(0);
    },
  });
  process.send({ type: 'listening', port: context.port });
}

// ─── a client process ─────────────────────────────────────────────────────────────────────────────────────────

async function client(index) {
  const { default: WebSocket } = await import('ws');
  const { port, connections, slowReader } = await new Promise((resolve) => process.once('message', resolve));
  const localAddress = `127.0.0.${2 + index}`;
  const url = `ws://127.0.0.1:${port}/`;
  const stall = stallMeter();
  const tally = { opened: 0, closedByUs: 0, closed: {}, errors: {}, ticks: 0, lost: 0, reordered: 0 };
  const slow = { opened: 0, closed: {}, received: 0 };
  const sockets = new Set(); // open tick readers
  const closing = new Set(); // tick readers we are closing to reconnect
  let reconnecting = false;
  let stopping = false;

  const countIn = (table, key) => {
    table[key] = (table[key] ?? 0) + 1;
  };

  /** Opens a tick reader; resolves when it is open (or failed: it is tried again). */
  const open = () =>
    new Promise((resolve) => {
      const ws = new WebSocket(url, 'soak', { localAddress, perMessageDeflate: false });
      ws.expected = null;
      ws.byUs = false;
      ws.on('open', () => {
        tally.opened++;
        sockets.add(ws);
        resolve(true);
      });
      ws.on('message', (data) => {
        const seq = Number.parseInt(data.toString('latin1', 0, 12), 10);
        tally.ticks++;
        if (ws.expected !== null && seq !== ws.expected) {
          if (seq > ws.expected) tally.lost += seq - ws.expected;
          else tally.reordered++;
        }
        ws.expected = seq + 1;
        ws.last = seq;
      });
      ws.on('error', (error) => countIn(tally.errors, error.code ?? error.message));
      ws.on('close', (code) => {
        if (closing.delete(ws)) {
          tally.closedByUs++;
          return;
        }
        if (!sockets.delete(ws)) {
          resolve(false); // never opened
          return;
        }
        if (ws.byUs) tally.closedByUs++;
        else countIn(tally.closed, code);
      });
    });

  const openWithRetry = async () => {
    while (!(await open())) await sleep(100);
  };

  // The slow reader speaks WebSocket by hand over a plain socket so that it can read at a fixed pace: one read
  // (at most 64 KiB) every 100 ms, a fifth of what the firehose sends. It neither parses nor answers pings.
  const openSlowReader = () => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    slowSocket = socket;
    let upgraded = false;
    let reading = null;
    socket.on('connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          'Sec-WebSocket-Protocol: slow\r\n\r\n',
      );
    });
    socket.on('data', (data) => {
      if (!upgraded) {
        upgraded = data.toString('latin1', 0, 12) === 'HTTP/1.1 101';
        if (!upgraded) {
          socket.destroy();
          return;
        }
        slow.opened++;
        reading = setInterval(() => socket.resume(), 100);
      }
      slow.received += data.length;
      socket.pause();
    });
    socket.on('error', (error) => countIn(slow.closed, error.code ?? error.message));
    socket.on('close', () => {
      clearInterval(reading);
      countIn(slow.closed, 'closed');
      if (!stopping) setTimeout(openSlowReader, 1000);
    });
    return socket;
  };

  // Connect, 256 at a time.
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(256, connections) }, async () => {
      while (next < connections) {
        next++;
        await openWithRetry();
      }
    }),
  );
  const connectMs = performance.now() - started;
  const connectStall = stall();
  let slowSocket = null;
  if (slowReader) openSlowReader();

  // 10 % a minute, spread: one every (60 s / (connections × share)).
  const perMinute = Math.round(connections * RECONNECT);
  const reconnector =
    perMinute > 0
      ? setInterval(() => {
          if (!reconnecting) return;
          const ws = sockets.values().next().value; // the oldest: a Set iterates in insertion order
          if (ws === undefined) return;
          sockets.delete(ws);
          closing.add(ws);
          ws.byUs = true;
          ws.once('close', () => {
            if (!stopping) openWithRetry();
          });
          ws.close(1000);
        }, 60000 / perMinute)
      : null;

  const sampler = setInterval(() => {
    process.send({ type: 'client-sample', index, stall: stall(), open: sockets.size });
  }, SAMPLE_MS);

  onParent({
    hold: () => {
      stall();
      reconnecting = true;
    },
    quiet: () => {
      reconnecting = false;
    },
    check: ({ last }) => {
      // Every open tick reader must have seen the last tick.
      let missingLast = 0;
      for (const ws of sockets) if (ws.last !== last) missingLast++;
      process.send({ type: 'check', index, missingLast, open: sockets.size });
    },
    stop: async () => {
      stopping = true;
      clearInterval(reconnector);
      clearInterval(sampler);
      slowSocket?.destroy();
      slowSocket = null;
      const closes = [...sockets].map(
        (ws) =>
          new Promise((resolve) => {
            ws.byUs = true;
            ws.once('close', resolve);
            ws.close(1000);
          }),
      );
      await Promise.all(closes);
      while (closing.size > 0) await sleep(50);
      process.send({
        type: 'client-report',
        index,
        connectMs,
        connectStall,
        tally,
        slow,
        open: sockets.size,
      });
    },
  });
  process.send({ type: 'connected', index, connectMs });
}

// ─── the driver ───────────────────────────────────────────────────────────────────────────────────────────────

async function main() {
  const children = [];
  const spawnRole = (...args) => {
    const child = fork(fileURLToPath(import.meta.url), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=4096', ...(args[0] === 'server' ? SERVER_ARGS : [])],
    });
    children.push(child);
    return child;
  };
  const cleanup = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.on('exit', cleanup);
  process.on('SIGINT', () => process.exit(130));
  const waitFor = (child, type) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code) => reject(new Error(`a ${type} was awaited but the process exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });

  const samples = [];
  const clientSamples = [];
  const log = (line) => console.error(`soak ${new Date().toISOString().slice(11, 19)} ${line}`);
  log(`${CONNECTIONS} connections, ${CLIENTS} client processes, ${SECONDS} s, Node ${process.version}`);

  const serverProcess = spawnRole('server');
  serverProcess.on('message', (message) => {
    if (message.type !== 'sample') return;
    samples.push(message);
    log(
      `server rss ${mb(message.rss).toFixed(1)} MB heap ${mb(message.heapUsed).toFixed(1)} MB sockets ${message.sockets} ` +
        `stall ${message.stall.toFixed(1)} ms publish ${message.publishMs.toFixed(1)} ms cpu ${(message.cpu * 100).toFixed(0)} %`,
    );
  });
  const { port } = await waitFor(serverProcess, 'listening');

  const clients = Array.from({ length: CLIENTS }, (_, index) => {
    const child = spawnRole('client', String(index));
    // The load generator must not starve the server it measures: on a shared machine with fewer cores than
    // processes, the clients yield the CPU to the server when both want it.
    try {
      setPriority(child.pid, CLIENT_NICE);
    } catch {
      // Not permitted here: the clients run at the server's priority.
    }
    child.on('message', (message) => {
      if (message.type === 'client-sample') clientSamples.push({ ...message, holding: holding });
    });
    return child;
  });
  let holding = false;
  const started = performance.now();
  clients.forEach((child, index) => {
    const share = Math.floor(CONNECTIONS / CLIENTS) + (index < CONNECTIONS % CLIENTS ? 1 : 0);
    child.send({ port, connections: share, slowReader: index === 0 });
  });
  const connected = await Promise.all(clients.map((child) => waitFor(child, 'connected')));
  const connectSeconds = (performance.now() - started) / 1000;
  log(`connected in ${connectSeconds.toFixed(1)} s`);

  const holdStart = Date.now();
  holding = true;
  for (const child of [serverProcess, ...clients]) child.send({ type: 'hold' });
  await sleep(SECONDS * 1000);
  holding = false;

  // Stop reconnecting, let reconnections settle, send the last tick and check that every reader got it.
  for (const child of clients) child.send({ type: 'quiet' });
  await sleep(3000);
  serverProcess.send({ type: 'last' });
  const { seq: last } = await waitFor(serverProcess, 'last');
  await sleep(2000);
  const checks = await Promise.all(
    clients.map((child) => {
      const answer = waitFor(child, 'check');
      child.send({ type: 'check', last });
      return answer;
    }),
  );
  serverProcess.send({ type: 'report' });
  const before = await waitFor(serverProcess, 'report');

  const reports = await Promise.all(
    clients.map((child) => {
      const answer = waitFor(child, 'client-report');
      child.send({ type: 'stop' });
      return answer;
    }),
  );
  await sleep(1000);
  serverProcess.send({ type: 'report' });
  const after = await waitFor(serverProcess, 'report');
  serverProcess.send({ type: 'stop' });
  await waitFor(serverProcess, 'stopped');
  for (const child of clients) child.kill();

  // ─── figures ────────────────────────────────────────────────────────────────────────────────────────────
  const held = samples.filter((s) => s.holding);
  const steady = held.filter((s) => s.at - holdStart >= WARM * 1000);
  const rssSlope = slope(steady.map((s) => [(s.at - holdStart) / 60000, mb(s.rss)])); // MB per minute
  const heapSlope = slope(steady.map((s) => [(s.at - holdStart) / 60000, mb(s.heapUsed)]));
  const rssAtWarm = steady.length > 0 ? mb(steady[0].rss) : Number.NaN;
  const holdMinutes = (SECONDS - WARM) / 60;
  const growth = (rssSlope * holdMinutes) / rssAtWarm;
  const maxOf = (list, key) => list.reduce((m, s) => Math.max(m, s[key]), 0);
  const serverStallHold = maxOf(held, 'stall');
  const publishHold = maxOf(held, 'publishMs');
  const serverStallConnect = maxOf(
    samples.filter((s) => !s.holding),
    'stall',
  );
  const clientStallHold = maxOf(
    clientSamples.filter((s) => s.holding),
    'stall',
  );
  const sum = (key) => reports.reduce((s, r) => s + r.tally[key], 0);
  const clientOpened = sum('opened') + reports.reduce((s, r) => s + r.slow.opened, 0);
  const lost = sum('lost');
  const reordered = sum('reordered');
  const missingLast = checks.reduce((s, c) => s + c.missingLast, 0);
  const openAtCheck = checks.reduce((s, c) => s + c.open, 0);
  const unexpectedClientCloses = reports.reduce(
    (s, r) => s + Object.values(r.tally.closed).reduce((a, b) => a + b, 0),
    0,
  );
  const serverClosedTotal = Object.values(after.closed).reduce((a, b) => a + b, 0);
  const accounted =
    openAtCheck === CONNECTIONS &&
    clientOpened === after.opened &&
    serverClosedTotal === after.opened &&
    after.open === 0 &&
    reports.every((r) => r.open === 0) &&
    unexpectedClientCloses === 0;
  const verdicts = [
    ['no tick lost or reordered at the readers', lost === 0 && reordered === 0 && missingLast === 0],
    [`no server stall over ${STALL_LIMIT_MS} ms while holding`, serverStallHold <= STALL_LIMIT_MS],
    ['RSS flat (slope adds < 5 % over the hold)', Math.abs(growth) < 0.05],
    ['every connection accounted for', accounted],
  ];

  const closedRows = (table) =>
    Object.entries(table)
      .sort()
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none';
  const lines = [
    `# Soak: ${CONNECTIONS} connections for ${SECONDS} s`,
    '',
    `Node ${process.version}, ${CLIENTS} ws client processes (nice ${CLIENT_NICE}), heartbeat ${HEARTBEAT} ms, a ${BYTES}-byte tick ` +
      `every second to every connection, ${RECONNECT * 100} % reconnecting per minute, one slow reader ` +
      `(firehose ${FIREHOSE_BYTES / 1024} KiB every ${FIREHOSE_MS} ms, reading at most 64 KiB every 100 ms). ` +
      new Date().toISOString(),
    '',
    '| | |',
    '|---|---|',
    `| connecting ${CONNECTIONS} | ${connectSeconds.toFixed(1)} s (${Math.round(CONNECTIONS / connectSeconds)}/s); ` +
      `client processes ${connected.map((c) => (c.connectMs / 1000).toFixed(1)).join(' / ')} s |`,
    `| ticks sent | ${last} |`,
    `| ticks received | ${sum('ticks')} (lost ${lost}, reordered ${reordered}, last tick missing at ${missingLast} of ${openAtCheck} open) |`,
    `| reconnections (closed by the client, 1000) | ${sum('closedByUs') - openAtCheck} during the hold |`,
    `| slow reader | dropped by the server ${after.dropped} times (opened ${reports[0].slow.opened}, read ${mb(reports[0].slow.received).toFixed(1)} MB; its closes ${closedRows(reports[0].slow.closed)}) |`,
    `| server RSS | ${rssAtWarm.toFixed(1)} MB at ${WARM} s → ${mb(steady.at(-1)?.rss ?? Number.NaN).toFixed(1)} MB at the end; ` +
      `slope ${rssSlope.toFixed(3)} MB/min (${(growth * 100).toFixed(2)} % over the hold) |`,
    `| server heap used | slope ${heapSlope.toFixed(3)} MB/min; ${mb(maxOf(steady, 'heapUsed')).toFixed(1)} MB at most |`,
    `| server RSS per connection | ${((rssAtWarm * 1024) / CONNECTIONS).toFixed(1)} KiB (whole process / connections) |`,
    `| server event-loop delay, max | ${serverStallHold.toFixed(1)} ms holding, ${serverStallConnect.toFixed(1)} ms outside it (connecting, closing) |`,
    `| longest \`publish('tick')\` call | ${publishHold.toFixed(1)} ms (the synchronous part: ${CONNECTIONS} sends, the first writes) |`,
    `| client event-loop delay, max | ${clientStallHold.toFixed(1)} ms holding |`,
    `| server CPU while holding | ${((held.reduce((s, x) => s + x.cpu, 0) / Math.max(1, held.length)) * 100).toFixed(1)} % of a core on average |`,
    `| server: opened / closed / open after | ${after.opened} / ${serverClosedTotal} / ${after.open} (before the clients closed: ${before.open} open) |`,
    `| server closes by cause | ${closedRows(after.closed)}; errors before them: ${closedRows(after.errors)} |`,
    `| clients: opened / unexpected closes / errors | ${clientOpened} / ${unexpectedClientCloses} / ` +
      `${closedRows(Object.assign({}, ...reports.map((r) => r.tally.errors)))} |`,
    '',
    ...verdicts.map(([name, ok]) => `- ${ok ? 'PASS' : 'FAIL'}: ${name}`),
  ];
  const report = lines.join('\n');
  console.log(report);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(here, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `soak-${stamp}.md`), `${report}\n`);
  writeFileSync(
    path.join(dir, `soak-${stamp}.jsonl`),
    `${[...samples, ...clientSamples].map((s) => JSON.stringify(s)).join('\n')}\n`,
  );
  process.exitCode = verdicts.every(([, ok]) => ok) ? 0 : 1;
}

const role = process.argv[2];
if (role === 'server') await server();
else if (role === 'client') await client(Number(process.argv[3]));
else await main();
