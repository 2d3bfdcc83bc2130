/**
 * Loopback helpers for node/ tests: raw TCP peers that speak exact bytes (a hand-written client handshake, a
 * hand-written server), frame builders with a fixed mask, and collectors. Everything listens on port 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { encodeFrame } from '../../src/core/frame.ts';
import { acceptKey } from '../../src/core/handshake.ts';
import { HandshakeError } from '../../src/node/errors.ts';

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

/** A client frame (masked with MASK). */
export function clientFrame(opcode: number, payload: Uint8Array | string, fin = true): Uint8Array {
  const bytes = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload)) : payload;
  return encodeFrame({ fin, rsv: 0, opcode, mask: MASK }, bytes);
}

/** A server frame (unmasked). */
export function serverFrame(opcode: number, payload: Uint8Array | string, fin = true): Uint8Array {
  const bytes = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload)) : payload;
  return encodeFrame({ fin, rsv: 0, opcode, mask: null }, bytes);
}

export function upgradeRequest(port: number, extra = '', path = '/'): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  );
}

export async function openSocket(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect(port, host);
  await once(socket, 'connect');
  return socket;
}

/** Sends `request` and resolves with every byte received until the server closes the connection. */
export async function exchange(port: number, request: string | Uint8Array): Promise<string> {
  const socket = await openSocket(port);
  const received = collect(socket);
  socket.write(request);
  return (await received).toString('latin1');
}

/** Every byte `socket` receives until it closes (errors such as ECONNRESET end the collection too). */
export function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

/** A raw client after a successful handshake: the head it read, and a collector of every later byte. */
export async function rawClient(
  port: number,
  extra = '',
): Promise<{ socket: net.Socket; head: string; rest: Promise<Buffer> }> {
  const socket = await openSocket(port);
  socket.write(upgradeRequest(port, extra));
  let buffer = Buffer.alloc(0);
  while (!buffer.includes('\r\n\r\n')) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    buffer = Buffer.concat([buffer, chunk]);
  }
  const end = buffer.indexOf('\r\n\r\n') + 4;
  const head = buffer.subarray(0, end).toString('latin1');
  const leftover = buffer.subarray(end);
  const rest = collect(socket).then((tail) => Buffer.concat([leftover, tail]));
  return { socket, head, rest };
}

export type RawHandler = (socket: net.Socket, request: string) => void;

/** A hand-written server: reads one request head and hands it to `handler` (which answers in bytes). */
export async function rawServer(handler: RawHandler): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (!buffer.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      handler(socket, buffer);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The 101 answer to a raw request, with `extra` header lines. */
export function switchingProtocols(request: string, extra = '', accept?: string): string {
  const key = /sec-websocket-key:\s*(\S+)/i.exec(request)?.[1] ?? '';
  return (
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept ?? acceptKey(key)}\r\n${extra}\r\n`
  );
}

/** Resolves once `predicate` holds, checking after each turn of the event loop (no clock involved). */
export async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setImmediate(resolve));
}

/** A port that was free a moment ago (for servers that cannot listen on port 0 themselves). */
export async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

/** The HandshakeError `promise` rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<HandshakeError> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof HandshakeError, String(error));
  return error;
}
