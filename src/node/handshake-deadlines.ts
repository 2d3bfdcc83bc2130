/**
 * Handshake deadlines with one timer for all pending handshakes: a connection that has not completed its
 * handshake `timeout` ms after it started is destroyed, so stalled requests and slow `verifyClient`s cannot pile
 * up sockets.
 *
 * One timer instead of one per connection: a timer per handshake costs an allocation, a heap insertion and a
 * removal on every connection, most of which complete in well under a millisecond. Every deadline is `timeout`
 * after its start, so the Map's insertion order is deadline order: a sweep destroys from the front and stops at
 * the first deadline still ahead, then waits for that one.
 */
import type { Duplex } from 'node:stream';

export class HandshakeDeadlines {
  private readonly timeout: number;
  private readonly deadlines = new Map<Duplex, number>();
  private timer: NodeJS.Timeout | null = null;
  /** Shared 'close' listener (`this` is the socket): a closed socket needs no deadline. */
  private readonly forget: (this: Duplex) => void;

  constructor(timeout: number) {
    this.timeout = timeout;
    const deadlines = this.deadlines;
    this.forget = function (this: Duplex) {
      deadlines.delete(this);
    };
  }

  /** Starts the clock for `socket` (once: a second call keeps the first deadline). */
  add(socket: Duplex): void {
    if (this.deadlines.has(socket)) return;
    this.deadlines.set(socket, performance.now() + this.timeout);
    socket.on('close', this.forget);
    if (this.timer === null) this.arm(this.timeout);
  }

  /** The handshake of `socket` completed (or was answered): no deadline any more. */
  delete(socket: Duplex): void {
    if (this.deadlines.delete(socket)) socket.removeListener('close', this.forget);
  }

  /** Sockets whose handshake is still pending, oldest first. */
  sockets(): IterableIterator<Duplex> {
    return this.deadlines.keys();
  }

  private arm(delay: number): void {
    // Unreferenced: a pending socket keeps the process alive by itself, and an idle server should not.
    this.timer = setTimeout(this.sweep, Math.max(1, Math.ceil(delay))).unref();
  }

  private readonly sweep = (): void => {
    this.timer = null;
    const now = performance.now();
    for (const [socket, deadline] of this.deadlines) {
      if (deadline > now) {
        this.arm(deadline - now);
        return;
      }
      this.deadlines.delete(socket);
      socket.destroy();
    }
  };
}
