// One server process of bench/scale.mjs, forked with an IPC channel.
//
//   node bench/scale/server.mjs tslay   a tslay context; with REDIS_URL on redisBackplane (FLAVOUR node-redis |
//                                       ioredis), without it on its own (no backplane)
//   node bench/scale/server.mjs sio     socket.io 4 with @socket.io/redis-adapter on REDIS_URL (node-redis)
//
// Sockets name their topics in the query string (`/?topics=fan`); tslay: ws.subscribe(topic) in protocol 'sub',
// socket.io: socket.join(topic). Every process can publish (tslay: context.publish(topic, text); socket.io:
// io.to(topic).emit('m', text)); a message is 64 bytes of text. Commands (IPC, from the driver):
//   {cmd:'credit', topic, window, batch}  publish as fast as the credit allows: at most `window` messages ahead
//                                         of the acknowledged count, `batch` per event-loop turn
//   {cmd:'ack', n}                        the driver's count of messages every counted socket has received
//   {cmd:'stop'}                          stops publishing; replies {type:'stopped', sent, skipped} (counted over
//                                         every 'credit' round so far, like the acknowledgements)
//   {cmd:'rate', topic, rate, ms, from, to}  publishes `rate` msgs/s for `ms`, each carrying
//                                         process.hrtime.bigint() (CLOCK_MONOTONIC, one clock for every process of
//                                         the machine); replies {type:'rated', sent, late, inWindow, gaps}
//                                         (inWindow: messages stamped in [from, to), hrtime ns as decimal strings;
//                                         gaps: timer ticks in the window > 2 ms and > 5 ms apart, and the longest)
//   {cmd:'count'}                         replies {type:'count', sockets}
//   {cmd:'writes'}                        replies {type:'writes', writes, turns}: TCP socket writes so far, and
//                                         event-loop turns in which the credit loop published
//   {cmd:'profile', file}                 starts the V8 CPU profiler; {cmd:'profile', file: null} stops it and
//                                         writes the .cpuprofile to the file given first; replies {type:'profiled'}
//   {cmd:'exit'}
// Replies {type:'ready', port} once listening; {type:'report', report} for every backplane report.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = process.env.TSLAY_DIST || path.join(root, 'dist');
const impl = process.argv[2];
const url = process.env.REDIS_URL || '';
const flavour = process.env.FLAVOUR || 'node-redis';

export const SIZE = 64;
const FILL = 'tslay scale-out benchmark payload, sixty-four bytes of text......'.slice(0, SIZE);
const send = (message) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

// Writes to TCP sockets (each a write or writev syscall, unless the kernel buffer is full): in a publisher without
// WebSocket connections, these are the writes to Redis.
let socketWrites = 0;
const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (...args) {
  socketWrites++;
  return writeGeneric.apply(this, args);
};
let turns = 0; // event-loop turns in which the credit loop published

async function redisClient() {
  if (flavour === 'ioredis') {
    const { Redis } = await import('ioredis');
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    await new Promise((resolve) => client.once('ready', resolve));
    return client;
  }
  const { createClient } = await import('redis');
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

const topicsOf = (reqUrl) =>
  (new URL(reqUrl ?? '/', 'http://x').searchParams.get('topics') ?? '').split(',').filter(Boolean);

let port;
let sockets; // () => number
let publish; // (topic, text) => skipped sockets (or 0)
let close; // async () => void
const clients = [];

if (impl === 'tslay') {
  const { createContext } = await import(path.join(dist, 'service/index.js'));
  let backplane;
  if (url !== '') {
    const { redisBackplane } = await import(path.join(dist, 'redis/index.js'));
    const client = await redisClient();
    clients.push(client);
    backplane = redisBackplane({ client });
  }
  const context = await createContext({
    host: '127.0.0.1',
    port: 0,
    backplane,
    onBackplaneReport: (report) => send({ type: 'report', report }),
    protocols: {
      sub: (ws, req) => {
        for (const topic of topicsOf(req.url)) ws.subscribe(topic);
      },
    },
  });
  port = context.port;
  sockets = () => context.sockets.size;
  publish = (topic, text) => context.publish(topic, text).skipped ?? 0;
  close = () => context.destroy({ timeout: 500 });
} else if (impl === 'sio') {
  const { Server } = await import('socket.io');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = await redisClient();
  const sub = pub.duplicate();
  sub.on('error', () => {});
  if (flavour === 'ioredis') await new Promise((resolve) => sub.once('ready', resolve));
  else await sub.connect();
  clients.push(pub, sub);
  const server = http.createServer();
  const io = new Server(server, {
    adapter: createAdapter(pub, sub),
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
  });
  io.on('connection', (socket) => {
    for (const topic of topicsOf(socket.request.url)) socket.join(topic);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
  sockets = () => io.of('/').sockets.size;
  publish = (topic, text) => {
    io.to(topic).emit('m', text);
    return 0;
  };
  close = async () => {
    io.disconnectSockets(true);
    await new Promise((resolve) => io.close(resolve));
  };
} else {
  throw new Error('usage: node bench/scale/server.mjs tslay|sio');
}

// ─── publishing ──────────────────────────────────────────────────────────────────────────────────────────

const stamped = (window) => {
  const now = process.hrtime.bigint();
  if (now >= window.from && now < window.to) window.in++;
  const t = now.toString().padStart(20, '0');
  return t + FILL.slice(t.length);
};

let credit = null; // { topic, window, batch, sent, acked, skipped, running, waiting, scheduled }

function creditTurn() {
  const c = credit;
  if (c === null || !c.running || c.scheduled) return;
  const room = Math.min(c.batch, c.window - (c.sent - c.acked));
  if (room <= 0) {
    c.waiting = true; // resumed by the next 'ack'
    return;
  }
  for (let i = 0; i < room; i++) c.skipped += publish(c.topic, FILL);
  c.sent += room;
  turns++;
  c.scheduled = true;
  setImmediate(() => {
    if (credit) credit.scheduled = false;
    creditTurn();
  });
}

function rate(topic, perSecond, ms, from, to) {
  const window = { from: BigInt(from ?? 0), to: BigInt(to ?? 0), in: 0 };
  const t0 = performance.now();
  let sent = 0;
  let late = 0;
  // Gaps between two timer ticks (asked for 1 ms apart) inside [from, to): how often this process's event loop
  // (or its share of the CPU) held publishing up.
  const gaps = { over2: 0, over5: 0, max: 0 };
  let last = null;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const clock = process.hrtime.bigint();
      if (last !== null && clock >= window.from && clock < window.to) {
        const gap = now - last;
        if (gap > 2) gaps.over2++;
        if (gap > 5) gaps.over5++;
        gaps.max = Math.max(gaps.max, gap);
      }
      last = now;
      const elapsed = now - t0;
      const due = Math.min(Math.floor((elapsed * perSecond) / 1000), Math.floor((ms * perSecond) / 1000));
      if (due - sent > perSecond / 100) late++; // more than 10 ms behind schedule
      for (; sent < due; sent++) publish(topic, stamped(window));
      if (elapsed >= ms) resolve({ sent, late, inWindow: window.in, gaps });
      else setTimeout(tick, 1);
    };
    tick();
  });
}

let profiler = null; // { session, file }
async function profile(file) {
  const { Session } = await import('node:inspector');
  const post = (session, method, params) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  if (file) {
    const session = new Session();
    session.connect();
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval', { interval: 200 });
    await post(session, 'Profiler.start');
    profiler = { session, file };
  } else if (profiler) {
    const { profile: result } = await post(profiler.session, 'Profiler.stop');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(profiler.file, JSON.stringify(result));
    profiler.session.disconnect();
    profiler = null;
  }
}

process.on('message', async (m) => {
  if (m.cmd === 'credit') {
    // Counts are cumulative over every round, as the clients' counts are.
    credit = { sent: 0, acked: 0, skipped: 0, ...credit, ...m, running: true, waiting: false };
    creditTurn();
  } else if (m.cmd === 'ack') {
    if (credit === null) return;
    credit.acked = Math.max(credit.acked, m.n);
    if (credit.waiting && credit.running) {
      credit.waiting = false;
      creditTurn();
    }
  } else if (m.cmd === 'stop') {
    if (credit) credit.running = false;
    send({ type: 'stopped', sent: credit?.sent ?? 0, skipped: credit?.skipped ?? 0 });
  } else if (m.cmd === 'rate') {
    const r = await rate(m.topic, m.rate, m.ms, m.from, m.to);
    send({ type: 'rated', ...r });
  } else if (m.cmd === 'profile') {
    await profile(m.file);
    send({ type: 'profiled' });
  } else if (m.cmd === 'writes') {
    send({ type: 'writes', writes: socketWrites, turns });
  } else if (m.cmd === 'count') {
    send({ type: 'count', sockets: sockets() });
  } else if (m.cmd === 'exit') {
    const timer = setTimeout(() => process.exit(0), 2000);
    timer.unref();
    await close().catch(() => {});
    for (const client of clients) {
      await (typeof client.quit === 'function' ? client.quit() : client.close()).catch(() => {});
    }
    process.exit(0);
  }
});

send({ type: 'ready', port });
