/** ws (the control) and tslay/ws, for the suites of test/ws: each runs its tests once per entry. */
import * as ws from 'ws';
import * as tslay from '../../src/ws/index.ts';

export const BOTH = [
  { name: 'ws', WebSocket: ws.WebSocket, WebSocketServer: ws.WebSocketServer },
  {
    name: 'tslay/ws',
    WebSocket: tslay.WebSocket as unknown as typeof ws.WebSocket,
    WebSocketServer: tslay.WebSocketServer as unknown as typeof ws.WebSocketServer,
  },
] as const;
