/**
 * Deadlines with one timer for many keys, each due `timeout` ms after it was added: the handshakes a server waits
 * for, the closing handshakes of the WebSockets that share a close timeout.
 *
 * One timer instead of one per key: a timer costs an allocation, a heap insertion and a removal on every
 * connection, and most deadlines are dropped long before they are due. Every deadline is `timeout` after its
 * start, so the Map's insertion order is deadline order: a sweep expires keys from the front and stops at the
 * first deadline still ahead, then waits for that one.
 */

/** The longest delay a node timer takes (2^31 - 1 ms). */
const TIMER_MAX = 0x7fffffff;

export class Deadlines<K> {
  private readonly timeout: number;
  private readonly expire: (key: K) => void;
  private readonly deadlines = new Map<K, number>();
  private timer: NodeJS.Timeout | null = null;

  /** `expire(key)` is called once for each key still here when its deadline passes (the key is gone by then). */
  constructor(timeout: number, expire: (key: K) => void) {
    this.timeout = timeout;
    this.expire = expire;
  }

  get size(): number {
    return this.deadlines.size;
  }

  /** Starts the clock for `key`; false if it is running already (a second call keeps the first deadline). */
  add(key: K): boolean {
    if (this.deadlines.has(key)) return false;
    this.deadlines.set(key, performance.now() + this.timeout);
    if (this.timer === null) this.arm(this.timeout);
    return true;
  }

  /** No deadline for `key` any more; false if it had none. */
  delete(key: K): boolean {
    return this.deadlines.delete(key);
  }

  /** The keys whose deadline is still ahead, oldest first. */
  keys(): IterableIterator<K> {
    return this.deadlines.keys();
  }

  private arm(delay: number): void {
    // Unreferenced: what a deadline is for (a socket) keeps the process alive by itself; an idle one should not.
    // A delay past the timers' range is waited for in steps (node would fire it after 1 ms).
    this.timer = setTimeout(this.sweep, Math.min(TIMER_MAX, Math.max(1, Math.ceil(delay)))).unref();
  }

  private readonly sweep = (): void => {
    this.timer = null;
    const now = performance.now();
    for (const [key, deadline] of this.deadlines) {
      if (deadline > now) {
        this.arm(deadline - now);
        return;
      }
      this.deadlines.delete(key);
      this.expire(key);
    }
  };
}
