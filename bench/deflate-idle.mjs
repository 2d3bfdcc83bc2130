#!/usr/bin/env node
// Server memory per idle connection that has used permessage-deflate: every connection sends one compressible
// ~1 KiB message, reads the (compressed) echo, then stays open and idle.
//
//   node bench/deflate-idle.mjs [tslay|ws|tslay-plain|ws-plain|tslay-opts]...   rows (default: tslay ws)
//   IDLE_N=2000        connections per row
//   IDLE_SETTLE=2000   milliseconds to wait after the last echo before reading VmRSS again
//   DEFLATE_OPTS='{"memLevel":8}'   tslay-opts: the server's perMessageDeflate options (JSON)
//
// Rows: `tslay` is `tslay echo --deflate` (the CLI, as shipped), `ws` is ws with `perMessageDeflate: true` (its
// defaults), `*-plain` the same servers without deflate (the cost of an idle connection as such). The server is a
// separate process; the clients are ws clients offering `permessage-deflate; client_max_window_bits`, as browsers
// do, all in this process. Each row: start the server, warm it up with 200 connections that exchange a message
// and close (so lazily loaded code and zlib are in the baseline), read VmRSS from /proc/PID/status, open N
// connections (200 handshakes in flight) that each exchange one message, wait, read VmRSS again. Prints one JSON
// line per row: bytes_per_conn = ΔRSS / N. The echo is checked (same bytes) and so is the RSV1 bit of the first
// frame the server sent (compressed rows must compress).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { jsonMessages } from './deflate-ratio.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const N = Number(process.env.IDLE_N || 2000);
const SETTLE = Number(process.env.IDLE_SETTLE || 2000);
const WARM = 200;
const CONCURRENCY = 200;
const ROUND = Number(process.env.ROUND || 1);

// ── server mode: `--serve ws|ws-plain|tslay-opts`, prints "listening on ws://127.0.0.1:PORT/" ────────────────
const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) {
  const kind = process.argv[serveAt + 1];
  if (kind === 'ws' || kind === 'ws-plain') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: kind === 'ws' });
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    await once(wss, 'listening');
    process.stdout.write(`listening on ws://127.0.0.1:${wss.address().port}/\n`);
  } else if (kind === 'tslay-opts') {
    const { serve } = await import('../dist/node/index.js');
    const perMessageDeflate = JSON.parse(process.env.DEFLATE_OPTS || '{}');
    const server = await serve({ host: '127.0.0.1', port: 0, perMessageDeflate });
    server.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    process.stdout.write(`listening on ws://127.0.0.1:${server.port}/\n`);
  } else throw new Error(`unknown server ${kind}`);
} else await main();

function serverCommand(row) {
  const cli = path.join(root, 'dist/cli/main.js');
  const self = fileURLToPath(import.meta.url);
  switch (row) {
    case 'tslay':
      return [cli, 'echo', '--deflate', '--port', '0'];
    case 'tslay-plain':
      return [cli, 'echo', '--port', '0'];
    case 'ws':
    case 'ws-plain':
    case 'tslay-opts':
      return [self, '--serve', row];
    default:
      throw new Error(`unknown row ${row} (tslay, ws, tslay-plain, ws-plain, tslay-opts)`);
  }
}

async function startServer(row) {
  const child = spawn(process.execPath, serverCommand(row), { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  for (;;) {
    const match = /listening on (ws:\/\/\S+)\n/.exec(out);
    if (match) return { child, url: match[1] };
    const [chunk] = await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => [null])]);
    if (chunk === null) throw new Error(`${row}: the server exited before listening`);
    out += chunk;
  }
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

/** Opens a connection, sends `message`, waits for the identical echo; resolves with the socket and RSV1. */
async function exchange(url, message, deflate) {
  const ws = new WebSocket(url, { perMessageDeflate: deflate ? {} : false });
  ws.on('error', () => {});
  await once(ws, 'open');
  let rsv1 = null;
  ws._socket.prependOnceListener('data', (chunk) => {
    rsv1 = (chunk[0] & 0x40) !== 0;
  });
  ws.send(message);
  const [echo] = await once(ws, 'message');
  if (!echo.equals(message)) throw new Error('the echo differs from the message');
  if (deflate && rsv1 !== true) throw new Error('the server did not compress its echo');
  return ws;
}

async function openMany(url, count, messages, deflate) {
  const sockets = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      sockets.push(await exchange(url, messages[i % messages.length], deflate));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  return sockets;
}

async function closeAll(sockets) {
  await Promise.all(
    sockets.map((ws) => {
      if (ws.readyState === WebSocket.CLOSED) return undefined;
      const closed = once(ws, 'close');
      ws.close(1000);
      return closed;
    }),
  );
}

async function measure(row, messages) {
  const deflate = !row.endsWith('-plain');
  const { child, url } = await startServer(row);
  try {
    await closeAll(await openMany(url, WARM, messages, deflate));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = rss(child.pid);
    const sockets = await openMany(url, N, messages, deflate);
    await new Promise((resolve) => setTimeout(resolve, SETTLE));
    const after = rss(child.pid);
    const extensions = sockets[0].extensions;
    await closeAll(sockets);
    return {
      bench: 'deflate-idle',
      impl: row,
      round: ROUND,
      n: N,
      message_bytes: messages[0].length,
      extensions,
      rss_before: before,
      rss_after: after,
      bytes_per_conn: Math.round((after - before) / N),
    };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

async function main() {
  const rows = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const messages = jsonMessages(256, 7);
  for (const row of rows.length ? rows : ['tslay', 'ws']) {
    const record = await measure(row, messages);
    if (row === 'tslay-opts') record.options = process.env.DEFLATE_OPTS || '{}';
    process.stdout.write(`${JSON.stringify(record)}\n`);
  }
}
