/**
 * The implementations of the `ws` API (ws 8.x: `WebSocket`, `WebSocketServer`) that the interop suites built
 * on ws-based software (socket.io, graphql-ws) run against. Each suite loops over IMPLEMENTATIONS and runs its
 * whole `describe` once per entry, so an entry added here is put through every one of them.
 *
 * `ws` itself is the control: a failure that shows up against it is a fault in the test, not in a replacement.
 * An entry is typed with ws's own declarations (`@types/ws`), since the software it is handed to (graphql-ws's
 * `useServer`, for one) is typed against them too. The suites check behaviour at run time only: an
 * implementation whose declarations differ from @types/ws can still be listed, cast to these types.
 */
import { WebSocket, WebSocketServer } from 'ws';
import * as tslayWs from '../../src/ws/index.ts';

export interface WsImplementation {
  /** Appears in the suite names, e.g. `socket.io over ws`. */
  readonly name: string;
  readonly WebSocket: typeof WebSocket;
  readonly WebSocketServer: typeof WebSocketServer;
}

export const IMPLEMENTATIONS: readonly WsImplementation[] = [
  { name: 'ws', WebSocket, WebSocketServer },
  {
    name: 'tslay/ws',
    WebSocket: tslayWs.WebSocket as unknown as WsImplementation['WebSocket'],
    WebSocketServer: tslayWs.WebSocketServer as unknown as WsImplementation['WebSocketServer'],
  },
];
