/**
 * wslay's tutorial echo server (examples/fork-echoserv.c), written with tslay's event API over a plain TCP
 * socket. Each connection does the HTTP handshake, then runs the tutorial's loop: read when the socket is
 * readable, write when there is something to write, until neither is wanted.
 *
 * A paused-mode `net.Socket` plays the part of a non-blocking file descriptor: `'readable'` is POLLIN,
 * `socket.read()` returning null is EWOULDBLOCK, and `socket.write()` returning false means "wait for POLLOUT"
 * (`'drain'`).
 *
 *   node --import tsx examples/echo-server.ts 8080      (0 lets the system choose a port)
 */
import * as net from 'node:net';
import { HandshakeState, ServerHandshake } from '../src/core/handshake-machine.ts';
import { ErrorCode, EventContext, isCtrlFrame } from '../src/event/index.ts';

/** The HTTP handshake over the raw socket; calls `done` with the bytes that followed the request head. */
function httpHandshake(socket: net.Socket, done: (trailing: Uint8Array) => void): void {
  const handshake = new ServerHandshake();
  const onReadable = () => {
    for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) {
      handshake.receiveData(chunk);
      if (handshake.state !== HandshakeState.NeedData) break;
    }
    const { chunks, end } = handshake.dataToSend();
    for (const chunk of chunks) socket.write(chunk);
    if (end) socket.end();
    if (handshake.state !== HandshakeState.Done) return;
    socket.off('readable', onReadable);
    done(handshake.trailing);
  };
  socket.on('readable', onReadable);
}

/** The tutorial's `communicate()`: WebSocket data transfer until the close handshake is done or an error occurs. */
function communicate(socket: net.Socket, trailing: Uint8Array): void {
  let input: Uint8Array = trailing;
  let writable = true;

  const ctx = EventContext.server({
    recv(ctx, buf) {
      if (input.length === 0) {
        const chunk: Buffer | null = socket.read();
        if (chunk === null) {
          // Reading EOF here is unexpected, so it is treated as an error (as in the tutorial).
          ctx.setError(socket.readableEnded ? ErrorCode.CallbackFailure : ErrorCode.WouldBlock);
          return -1;
        }
        input = chunk;
      }
      const piece = input.subarray(0, buf.length);
      input = input.subarray(piece.length);
      return piece;
    },
    send(ctx, data) {
      if (!writable) {
        ctx.setError(ErrorCode.WouldBlock);
        return -1;
      }
      writable = socket.write(data);
      return data.length;
    },
    onMsgRecv(ctx, arg) {
      // Echo back non-control messages.
      if (!isCtrlFrame(arg.opcode)) ctx.queueMsg({ opcode: arg.opcode, msg: arg.msg });
    },
  });

  // One turn of the tutorial's event loop, run whenever the socket becomes readable or writable again.
  const turn = () => {
    if ((ctx.wantRead() && ctx.recv() !== 0) || (writable && ctx.wantWrite() && ctx.send() !== 0)) {
      socket.destroy();
      return;
    }
    if (!ctx.wantRead() && !ctx.wantWrite()) {
      socket.off('readable', turn);
      socket.end();
    }
  };
  socket.on('readable', turn);
  socket.on('end', turn);
  socket.on('drain', () => {
    writable = true;
    turn();
  });
  turn();
}

const port = Number(process.argv[2] ?? 8080);
const server = net.createServer({ pauseOnConnect: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  httpHandshake(socket, (trailing) => communicate(socket, trailing));
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  console.log(`listening on ws://127.0.0.1:${address.port}/`);
});
