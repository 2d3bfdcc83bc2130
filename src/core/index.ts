// tslay/core: the sans-I/O engine. Public exports only.
export { MessageAssembler } from './assembler.ts';
export { applyMask, ByteQueue, concat } from './bytes.ts';
export { encodeClosePayload, MAX_CLOSE_REASON_BYTES, parseClosePayload } from './close.ts';
export { Connection, type ConnectionOptions } from './connection.ts';
export {
  CloseCode,
  type DataOpcode,
  isControl,
  isKnownOpcode,
  isValidCloseCode,
  MAX_CONTROL_PAYLOAD,
  MAX_PAYLOAD_LENGTH,
  Opcode,
  Role,
  Rsv,
  State,
} from './constants.ts';
export { InvalidStateError, ProtocolError, type ProtocolErrorCode, UsageError } from './errors.ts';
export type { CloseInfo, Event, EventType, Message } from './events.ts';
export type { Extension } from './extension.ts';
export {
  type ExtensionFactory,
  type ExtensionItem,
  type ExtensionParam,
  formatExtensions,
  negotiateClient,
  negotiateServer,
  offerExtensions,
  parseExtensions,
  type ServerNegotiation,
} from './extensions.ts';
export { encodeFrame, type FrameHeader, type PreparedFrame, prepareFrame } from './frame.ts';
export { FrameParser, ParserState, Step } from './frame-parser.ts';
export {
  type AcceptedRequest,
  type AcceptOptions,
  acceptHeaders,
  acceptKey,
  buildAccept,
  buildReject,
  buildRequest,
  checkRequest,
  checkResponse,
  generateKey,
  type HeaderRecord,
  type ProtocolSelector,
  type RejectedRequest,
  type RejectOptions,
  type RequestCheck,
  type RequestInfo,
  type RequestOptions,
  type ResponseCheck,
  type ResponseCheckOptions,
  type ResponseErrorCode,
  type ResponseInfo,
  requestHeaders,
  selectProtocol,
} from './handshake.ts';
export {
  ClientHandshake,
  type ClientHandshakeErrorCode,
  type ClientHandshakeOptions,
  HandshakeState,
  ServerHandshake,
  type ServerHandshakeOptions,
} from './handshake-machine.ts';
export {
  DEFAULT_MAX_HEAD_SIZE,
  HeaderFields,
  HeadParser,
  type HeadResult,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  requestParser,
  responseParser,
  serializeRequest,
  serializeResponse,
} from './http1.ts';
export {
  DeflateExtension,
  type DeflateParams,
  PERMESSAGE_DEFLATE,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from './permessage-deflate.ts';
export { isValidUtf8, Utf8Validator } from './utf8.ts';
