// One client process of bench/scale.mjs, forked with an IPC channel: N sockets on one server.
//
//   node bench/scale/clients.mjs ws|sio PORT N LAT_N
//
// ws: the `ws` package (protocol 'sub', `/?topics=fan`); sio: socket.io-client 4, transports ['websocket'],
// one connection per socket (forceNew), query {topics}. N sockets subscribe to 'fan' and are counted; LAT_N more
// subscribe to 'lat' and measure latency: every 'lat' message starts with the publisher's process.hrtime.bigint()
// (20 digits), the same clock here (CLOCK_MONOTONIC).
// Sends {type:'ready'} once every socket is open, then {type:'count', at, total, min, latTotal, closed} every
// REPORT_MS (at: performance.now() of this process; total: 'fan' messages received by all sockets; min: by the
// socket that has received fewest; latTotal: 'lat' messages received; closed: sockets closed so far). Commands: {cmd:'lat', from, to} (hrtime ns, as decimal strings) records the latency of every
// 'lat' message stamped in [from, to) from now on; {cmd:'latResult'} replies {type:'lat', n, p50, p90, p99, p999,
// max} (µs) and forgets them; {cmd:'exit'}.
const [impl, portArg, nArg, latArg] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg);
const latN = Number(latArg || 0);
const REPORT_MS = Number(process.env.SCALE_REPORT_MS || 20);
const CONNECT_BATCH = 100;
const send = (message) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

let total = 0;
let latTotal = 0;
const counts = new Int32Array(n);
let from = 0n;
let to = 0n;
let samples = new Float64Array(1 << 16);
let nSamples = 0;
let closedEarly = 0;

function record(text) {
  const now = process.hrtime.bigint();
  const sentAt = BigInt(text.slice(0, 20));
  if (sentAt < from || sentAt >= to) return;
  const us = Number(now - sentAt) / 1000;
  if (nSamples === samples.length) {
    const bigger = new Float64Array(samples.length * 2);
    bigger.set(samples);
    samples = bigger;
  }
  samples[nSamples++] = us;
}

let open; // (index, topic, onMessage) => Promise<void>
if (impl === 'ws') {
  const { default: WebSocket } = await import('ws');
  open = (topic, onMessage) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?topics=${topic}`, 'sub', {
        perMessageDeflate: false,
      });
      ws.on('message', onMessage);
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('close', () => closedEarly++);
    });
} else if (impl === 'sio') {
  const { io } = await import('socket.io-client');
  open = (topic, onMessage) =>
    new Promise((resolve, reject) => {
      const socket = io(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        query: { topics: topic },
      });
      socket.on('m', onMessage);
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
      socket.once('disconnect', () => closedEarly++);
    });
} else {
  throw new Error('usage: node bench/scale/clients.mjs ws|sio PORT N LAT_N');
}

const jobs = [];
for (let i = 0; i < n; i++) {
  jobs.push(() =>
    open('fan', () => {
      counts[i]++;
      total++;
    }),
  );
}
for (let i = 0; i < latN; i++) {
  jobs.push(() =>
    open('lat', (data) => {
      latTotal++;
      record(String(data));
    }),
  );
}
for (let i = 0; i < jobs.length; i += CONNECT_BATCH) {
  await Promise.all(jobs.slice(i, i + CONNECT_BATCH).map((job) => job()));
}
send({ type: 'ready' });

setInterval(() => {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) if (counts[i] < min) min = counts[i];
  send({
    type: 'count',
    at: performance.now(),
    total,
    min: n === 0 ? 0 : min,
    latTotal,
    closed: closedEarly,
  });
}, REPORT_MS);

function percentiles() {
  const sorted = samples.subarray(0, nSamples).sort();
  const at = (q) => (nSamples === 0 ? null : sorted[Math.min(nSamples - 1, Math.floor(q * nSamples))]);
  return { n: nSamples, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
}

process.on('message', (m) => {
  if (m.cmd === 'lat') {
    nSamples = 0;
    from = BigInt(m.from);
    to = BigInt(m.to);
  } else if (m.cmd === 'latResult') {
    send({ type: 'lat', ...percentiles() });
    nSamples = 0;
  } else if (m.cmd === 'exit') process.exit(0);
});
