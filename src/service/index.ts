// tslay/service: the libwebsockets-style context over the Node layer. Public exports only.
export {
  Broadcaster,
  BroadcastMessage,
  type BroadcastOptions,
  type BroadcastResult,
  type BroadcastTarget,
  DEFAULT_BROADCAST_LIMIT,
  type SlowSocketPolicy,
  Topics,
} from './broadcast.ts';
export {
  Context,
  type ContextOptions,
  createContext,
  type DestroyOptions,
  type HttpHandler,
} from './context.ts';
export {
  type BroadcastHandler,
  type ClosedHandler,
  type ConnectHandler,
  chooseProtocol,
  type ProtocolChoice,
  type ProtocolSelectionOptions,
  type ProtocolSpec,
  type ProtocolTable,
  type ReceiveHandler,
  ServiceSocket,
  type SocketData,
  type WriteType,
} from './protocol.ts';
export { contentTypeFor, type Mounts, type StaticHandler, serveHttpFile, serveStatic } from './static.ts';
