// The floor of a WebSocket handshake on Node: a bare node:net server that does the load generator's exchange by
// hand (read the request, write a 101 with the accept value, answer the client's close frame with one, end), and
// nothing else: no validation, no frame parser, no WebSocket object. It is the "raw accept-and-exchange" row
// that the handshakes/s column of bench/server.sh is measured against; it is not a WebSocket server.
import { createHash } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const CLOSE = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
const KEY = /sec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r?\n/i;

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let open = false;
  socket.on('error', () => {});
  socket.on('data', (data) => {
    if (open) {
      // The client's close frame (all the load generator sends after the handshake).
      socket.end(CLOSE);
      return;
    }
    const key = KEY.exec(data.toString('latin1'))?.[1] ?? '';
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    open = true;
  });
  socket.on('end', () => {
    if (!socket.writableEnded) socket.end();
  });
});
server.listen({ port: Number(process.env.PORT || 9200), host: '127.0.0.1', backlog: 4096 }, () => {
  console.error(`handshake-floor (node ${process.version}) listening on 127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
