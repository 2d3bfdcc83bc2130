/**
 * tslay/ws: the API of the `ws` package (8.x) over tslay. `import WebSocket, { WebSocketServer,
 * createWebSocketStream } from 'tslay/ws'`, or `require('tslay/ws')` for the `WebSocket` class with everything
 * on it, as ws has it.
 */
import { WebSocketServer } from './server.ts';
import { createWebSocketStream } from './stream.ts';
import { WebSocket } from './websocket.ts';

export type { WsError } from './errors.ts';
export type { WsCommonOptions, WsPerMessageDeflateOptions } from './options.ts';
export type {
  ServerOptions,
  VerifyClientCallback,
  VerifyClientInfo,
  WebSocketServerEventMap,
} from './server.ts';
export type {
  BinaryType,
  ClientOptions,
  Data,
  RawData,
  SendOptions,
  WebSocketEventMap,
} from './websocket.ts';

export interface WebSocketStatics {
  WebSocket: typeof WebSocket;
  WebSocketServer: typeof WebSocketServer;
  Server: typeof WebSocketServer;
  createWebSocketStream: typeof createWebSocketStream;
}

// As ws's module object: the class carries the rest (`require('ws').Server`, `WebSocket.WebSocketServer`).
Object.assign(WebSocket, {
  WebSocket,
  WebSocketServer,
  Server: WebSocketServer,
  createWebSocketStream,
} satisfies WebSocketStatics);

export { createWebSocketStream, WebSocket, WebSocketServer as Server, WebSocketServer };
export default WebSocket as typeof WebSocket & WebSocketStatics;
