/**
 * Handshake deadlines with one timer for all pending handshakes (see `Deadlines`): a connection that has not
 * completed its handshake `timeout` ms after it started is destroyed, so stalled requests and slow
 * `verifyClient`s cannot pile up sockets.
 */
import type { Duplex } from 'node:stream';
import { Deadlines } from './deadlines.ts';

function destroy(socket: Duplex): void {
  socket.destroy();
}

export class HandshakeDeadlines {
  private readonly deadlines: Deadlines<Duplex>;
  /** Shared 'close' listener (`this` is the socket): a closed socket needs no deadline. */
  private readonly forget: (this: Duplex) => void;

  constructor(timeout: number) {
    const deadlines = new Deadlines<Duplex>(timeout, destroy);
    this.deadlines = deadlines;
    this.forget = function (this: Duplex) {
      deadlines.delete(this);
    };
  }

  /** Starts the clock for `socket` (once: a second call keeps the first deadline). */
  add(socket: Duplex): void {
    if (this.deadlines.add(socket)) socket.on('close', this.forget);
  }

  /** The handshake of `socket` completed (or was answered): no deadline any more. */
  delete(socket: Duplex): void {
    if (this.deadlines.delete(socket)) socket.removeListener('close', this.forget);
  }

  /** Sockets whose handshake is still pending, oldest first. */
  sockets(): IterableIterator<Duplex> {
    return this.deadlines.keys();
  }
}
