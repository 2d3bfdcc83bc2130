import { once } from 'node:events';
import WebSocket from 'ws';

/** A `ws` client with every message it receives kept in order (text as string, binary as 'bin:<hex>'). */
export interface TestClient {
  ws: WebSocket;
  messages: string[];
  /** Resolves once `count` messages have arrived. */
  received(count: number): Promise<void>;
  /** Resolves with the close code. */
  closed: Promise<number>;
}

export async function openClient(port: number, protocols?: string | string[]): Promise<TestClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols);
  const messages: string[] = [];
  let waiting: { count: number; resolve: () => void } | null = null;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push(isBinary ? `bin:${data.toString('hex')}` : data.toString());
    if (waiting !== null && messages.length >= waiting.count) {
      const { resolve } = waiting;
      waiting = null;
      resolve();
    }
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  await once(ws, 'open');
  return {
    ws,
    messages,
    closed,
    received: (count) =>
      messages.length >= count ? Promise.resolve() : new Promise((resolve) => (waiting = { count, resolve })),
  };
}

/** Closes the client (if still open) and waits for the connection to end. */
export async function closeClient(client: TestClient): Promise<void> {
  if (client.ws.readyState === WebSocket.OPEN) client.ws.close(1000);
  else if (client.ws.readyState === WebSocket.CONNECTING) client.ws.terminate();
  await client.closed;
}
