import { MessageAssembler } from '../../src/core/assembler.ts';
import type { Connection } from '../../src/core/connection.ts';
import { toHex } from './hex.ts';

/** Events normalized so that every feed schedule gives the same list (payload pieces merged into messages). */
export type Seen =
  | { type: 'message'; opcode: number; data: string }
  | { type: 'ping' | 'pong'; data: string }
  | { type: 'close'; code: number; reason: string }
  | { type: 'fail'; code: string; closeCode: number }
  | { type: 'end' };

export interface Outcome {
  events: Seen[];
  /** Every byte the connection wanted to send, as hex. */
  sent: string;
  /** Whether it asked to half-close the socket. */
  ended: boolean;
}

/** Feeds `chunks` (then EOF if `eof`), pulling events after every chunk like an adapter does. */
export function run(conn: Connection, chunks: Uint8Array[], eof = false): Outcome {
  const assembler = new MessageAssembler();
  const events: Seen[] = [];
  let sent = '';
  let ended = false;
  const pull = () => {
    for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
      const message = assembler.push(e);
      if (message) events.push({ type: 'message', opcode: message.opcode, data: toHex(message.data) });
      else if (e.type === 'ping' || e.type === 'pong') events.push({ type: e.type, data: toHex(e.data) });
      else if (e.type === 'close') events.push({ type: 'close', code: e.code, reason: e.reason });
      else if (e.type === 'fail')
        events.push({ type: 'fail', code: e.error.code, closeCode: e.error.closeCode });
      else if (e.type === 'end') events.push({ type: 'end' });
    }
    const out = conn.dataToSend();
    for (const c of out.chunks) sent += toHex(c);
    ended ||= out.end;
  };
  for (const chunk of chunks) {
    conn.receiveData(chunk);
    pull();
  }
  if (eof) conn.receiveEnd();
  pull();
  return { events, sent, ended };
}

/** A mask generator that returns the given keys in turn (RFC examples use 37 fa 21 3d). */
export function fixedMask(...keys: Uint8Array[]): () => Uint8Array {
  let i = 0;
  return () => keys[i++ % keys.length];
}
