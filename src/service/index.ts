// tslay/service: the libwebsockets-style context over the Node layer. Public exports only.

export {
  type Backplane,
  type BackplaneHost,
  type BackplaneReport,
  type BusLink,
  EnvelopeBackplane,
  type EnvelopeBackplaneOptions,
  type GapReason,
  type LinkEvents,
  MemoryBus,
  type Outgoing,
} from './backplane.ts';
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
export { clusterBackplane, type RelayOptions, relayBus } from './cluster-backplane.ts';
export {
  Context,
  type ContextOptions,
  type ContextReport,
  createContext,
  type DestroyOptions,
  describeReport,
  type HttpHandler,
} from './context.ts';
export {
  decodeEnvelope,
  ENVELOPE_HEADER,
  ENVELOPE_VERSION,
  type Envelope,
  EnvelopeOpcode,
  type EnvelopeProblem,
  encodeEnvelope,
  newOrigin,
} from './envelope.ts';
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
export {
  reusePortSupported,
  runWorkers,
  type WorkerInfo,
  type WorkerPool,
  type WorkerService,
  type WorkersOptions,
} from './workers.ts';
