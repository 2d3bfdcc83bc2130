/**
 * The request head of a server that listens on its own port, read from the raw socket with the core's HTTP/1.1
 * head parser (`http1.ts`) instead of node:http: no HTTP parser, request and response objects or stream machinery
 * for a connection that is about to become a WebSocket.
 *
 *   connection ──'data'──▶ request head ──complete──▶ wants an upgrade? ──yes──▶ onUpgrade(req, socket, head)
 *                              │                            └──no──▶ 426 (GET) / 405 (other methods)
 *                              └──too large──▶ 431, malformed──▶ 400
 *
 * `onUpgrade` gets what node's 'upgrade' event gives: the request, the socket (its 'data' listener removed) and
 * the bytes that followed the head. The answers here are those node's http server and a WebSocket server's
 * 'request' handler gave. Listeners are shared by all connections (`this` is the socket); the only state per
 * connection is the parser of a head that arrives in pieces.
 */
import type { Socket } from 'node:net';
import { EMPTY } from '../core/bytes.ts';
import { hasListToken } from '../core/handshake.ts';
import {
  type HeadError,
  type HeadParser,
  parseRequestHead,
  type RequestHead,
  requestParser,
} from '../core/http1.ts';
import { rejectUpgrade, type UpgradeRequest } from './upgrade.ts';

export type UpgradeListener = (req: UpgradeRequest, socket: Socket, head: Uint8Array) => void;

export interface HeadReaderOptions {
  /** Largest request head in bytes; beyond it the answer is 431. */
  maxHeaderSize: number;
  onUpgrade: UpgradeListener;
}

const LF_LF = Buffer.from('\n\n', 'latin1');
const LF_CR_LF = Buffer.from('\n\r\n', 'latin1');
const CR = 0x0d;
const LF = 0x0a;

/**
 * Where the head ends when a connection's first chunk holds all of it within `max` bytes (the usual case), or -1:
 * then the incremental parser takes the chunk. It is the parser's end (just past the first blank line, CRLF or
 * bare LF), found natively instead of byte by byte.
 */
function wholeHeadEnd(chunk: Buffer, max: number): number {
  // A blank line at the very start is the parser's to refuse.
  if (chunk.length === 0 || chunk[0] === CR || chunk[0] === LF) return -1;
  const bare = chunk.indexOf(LF_LF);
  const crlf = chunk.indexOf(LF_CR_LF);
  let end = bare < 0 ? -1 : bare + 2;
  if (crlf >= 0 && (end < 0 || crlf + 3 < end)) end = crlf + 3;
  return end <= max ? end : -1;
}

function isHeadError(head: RequestHead | HeadError): head is HeadError {
  return (head as HeadError).state === 'error';
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function ignoreError(): void {}

/**
 * Like node's http parser: a request asks for an upgrade when it has an Upgrade field and a Connection field
 * with the `upgrade` token (RFC 9110 §7.8: "the Upgrade connection option MUST be sent in a Connection header
 * field").
 */
function wantsUpgrade(headers: UpgradeRequest['headers']): boolean {
  if (headers.upgrade === undefined) return false;
  const connection = headers.connection;
  if (connection === undefined) return false;
  return typeof connection === 'string'
    ? hasListToken(connection, 'upgrade')
    : connection.some(hasUpgradeToken);
}

function hasUpgradeToken(value: string): boolean {
  return hasListToken(value, 'upgrade');
}

export class HeadReader {
  private readonly options: HeadReaderOptions;
  /** Heads that arrive in pieces, until complete (weak: a connection may close halfway). */
  private readonly partial = new WeakMap<Socket, HeadParser<RequestHead>>();
  private readonly onData: (this: Socket, chunk: Buffer) => void;

  constructor(options: HeadReaderOptions) {
    this.options = options;
    const reader = this;
    this.onData = function (this: Socket, chunk: Buffer) {
      reader.receive(this, chunk);
    };
  }

  /** Starts reading the request head of a new connection. */
  readonly read = (socket: Socket): void => {
    socket.on('error', ignoreError);
    // The server is half-open like node's http server (the WebSocket decides when to end); before the head is
    // complete, the peer's EOF just closes the connection.
    socket.on('end', destroySocket);
    socket.on('data', this.onData);
  };

  /**
   * The connection became a WebSocket, whose own 'error' listener replaces the one `read` added (kept until
   * then: an async `verifyClient` may run while the socket waits with no other listener).
   */
  release(socket: Socket): void {
    socket.removeListener('error', ignoreError);
  }

  /** Whether `socket` is still sending its request head. */
  isReading(socket: Socket): boolean {
    return socket.listeners('data').includes(this.onData);
  }

  private receive(socket: Socket, chunk: Buffer): void {
    const parser = this.partial.get(socket);
    const end = parser === undefined ? wholeHeadEnd(chunk, this.options.maxHeaderSize) : -1;
    if (end >= 0) {
      const trailing = end === chunk.length ? EMPTY : chunk.subarray(end);
      this.complete(socket, parseRequestHead(chunk.toString('latin1', 0, end)), trailing);
      return;
    }
    const incremental = parser ?? requestParser({ maxHeadSize: this.options.maxHeaderSize });
    const result = incremental.push(chunk);
    if (result.state === 'need-more') {
      if (parser === undefined) this.partial.set(socket, incremental);
      return;
    }
    if (parser !== undefined) this.partial.delete(socket);
    if (result.state === 'done') this.complete(socket, result.head, result.trailing);
    else this.complete(socket, result, chunk);
  }

  /** The head is complete (or refused): answer it here, or hand the connection over for the upgrade. */
  private complete(socket: Socket, head: RequestHead | HeadError, trailing: Uint8Array): void {
    socket.removeListener('data', this.onData);
    socket.removeListener('end', destroySocket);
    if (isHeadError(head)) {
      rejectUpgrade(socket, head.status);
      return;
    }
    const { method, target, httpVersion } = head;
    const headers = head.headers.toRecord();
    if (!wantsUpgrade(headers)) {
      if (method === 'GET') rejectUpgrade(socket, 426, { headers: { Upgrade: 'websocket' } });
      else rejectUpgrade(socket, 405, { headers: { Allow: 'GET' } });
      return;
    }
    const req: UpgradeRequest = { method, url: target, httpVersion, headers, socket };
    this.options.onUpgrade(req, socket, trailing);
  }
}
