// tslay/node: Node sockets over the core. Public exports only.

export type { PerMessageDeflateOptions } from '../core/permessage-deflate.ts';
export { type ConnectOptions, connect, MAX_ERROR_BODY, parseWebSocketUrl } from './client.ts';
export type { PerMessageDeflateOption } from './deflate-option.ts';
export {
  HandshakeError,
  type HandshakeErrorCode,
  WebSocketError,
  type WebSocketErrorCode,
} from './errors.ts';
export { MAX_PROXY_ANSWER, type ProxyOption, proxyFromEnvironment } from './proxy.ts';
export {
  type EndReason,
  type ReconnectingEvents,
  type ReconnectingOptions,
  ReconnectingWebSocket,
  type ReconnectOptions,
} from './reconnect.ts';
export {
  type CloseOptions,
  type ServeOptions,
  type ServerEvents,
  serve,
  type VerifyResult,
  WebSocketServer,
} from './server.ts';
export {
  acceptUpgrade,
  checkUpgrade,
  handleUpgrade,
  rejectUpgrade,
  type UpgradeOptions,
  type UpgradeRequest,
} from './upgrade.ts';
export {
  type ReadState,
  ReadyState,
  type ReceivedMessage,
  type SendData,
  WebSocket,
  type WebSocketEvents,
  type WebSocketInit,
  type WebSocketOptions,
} from './websocket.ts';
export { type BinaryType, BrowserWebSocket, CloseEvent } from './whatwg.ts';
