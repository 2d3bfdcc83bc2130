import type { EventContext } from './context.ts';
import type { EventCallbacks } from './types.ts';

/** What an `EventContext` shares with its receiving and sending halves. */
export interface Host {
  /** The context handed to every callback. */
  readonly ctx: EventContext;
  callbacks: EventCallbacks;
  /** What a callback last reported with `ctx.setError` (`WouldBlock`, `CallbackFailure`); 0 for nothing. */
  error: number;
}
