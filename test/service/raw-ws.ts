import { once } from 'node:events';
import * as net from 'node:net';
import { encodeFrame } from '../../src/core/frame.ts';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

const opened = new Set<net.Socket>();

/** Destroys every raw socket still open (cleanup after a test, failed or not). */
export function destroyRawSockets(): void {
  for (const socket of opened) socket.destroy();
  opened.clear();
}

export interface RawSocket {
  socket: net.Socket;
  /** The server's answer head (status line and headers). */
  head: string;
  status: number;
  /** Bytes that came after the head with it. */
  rest: Buffer;
}

/**
 * Opens a TCP connection, sends an upgrade request (`extra` header lines end with \r\n) and reads the answer head.
 * The socket is paused afterwards: nothing more is read until the caller resumes it.
 */
export async function rawUpgrade(port: number, extra = ''): Promise<RawSocket> {
  const socket = net.connect(port, '127.0.0.1');
  opened.add(socket);
  socket.once('close', () => opened.delete(socket));
  await once(socket, 'connect');
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  let buffered = Buffer.alloc(0);
  for (;;) {
    const end = buffered.indexOf('\r\n\r\n');
    if (end !== -1) {
      socket.pause();
      const head = buffered.subarray(0, end).toString('latin1');
      return { socket, head, status: Number(head.split(' ')[1]), rest: buffered.subarray(end + 4) };
    }
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    buffered = Buffer.concat([buffered, chunk]);
  }
}

/** A masked client frame. */
export function clientFrame(opcode: number, payload: string | Uint8Array): Uint8Array {
  const bytes = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload)) : payload;
  return encodeFrame({ fin: true, rsv: 0, opcode, mask: MASK }, bytes);
}

/** The value of header `name` in a raw head, or undefined. */
export function headerOf(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}
