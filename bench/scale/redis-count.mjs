// The remote subscriber of bench/scale.mjs's publish test, forked with an IPC channel: one raw RESP2 connection
// that SUBSCRIBEs to one channel and counts the messages that arrive, by bytes (every message is the same size),
// checking that each one starts where it should.
//
//   node bench/scale/redis-count.mjs PORT CHANNEL MESSAGE_BYTES
//
// Sends {type:'ready'} once subscribed, then {type:'count', at, total, min} every REPORT_MS (min = total: one
// "socket"), like clients.mjs.
import net from 'node:net';

const [portArg, channel, bytesArg] = process.argv.slice(2);
const payload = Number(bytesArg);
const REPORT_MS = Number(process.env.SCALE_REPORT_MS || 20);
const send = (message) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

const name = Buffer.byteLength(channel);
const head = Buffer.from(`*3\r\n$7\r\nmessage\r\n$${name}\r\n${channel}\r\n$${payload}\r\n`);
const each = head.length + payload + 2;
const subscribed = Buffer.from(`*3\r\n$9\r\nsubscribe\r\n$${name}\r\n${channel}\r\n:1\r\n`);

let bytes = -subscribed.length;
let total = 0;
let next = 0; // offset of the next message start, counted from the end of the subscribe reply
let errors = 0;
let ready = false;

const socket = net.connect(Number(portArg), '127.0.0.1', () => {
  socket.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${name}\r\n${channel}\r\n`);
});
socket.setNoDelay(true);
socket.on('data', (chunk) => {
  const start = bytes;
  bytes += chunk.length;
  if (!ready && bytes >= 0) {
    ready = true;
    send({ type: 'ready' });
  }
  // Every message must begin with `*3`: check each boundary that falls in this chunk.
  while (next < bytes) {
    const at = next - start;
    if (at >= 0 && at + 1 < chunk.length && (chunk[at] !== 0x2a || chunk[at + 1] !== 0x33)) errors++;
    next += each;
  }
  total = Math.floor(Math.max(0, bytes) / each);
});
socket.on('error', (error) => {
  process.stderr.write(`redis-count: ${error.message}\n`);
  process.exit(1);
});

setInterval(() => send({ type: 'count', at: performance.now(), total, min: total, errors }), REPORT_MS);
process.on('message', (m) => {
  if (m.cmd === 'exit') process.exit(0);
});
