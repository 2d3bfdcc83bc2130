/**
 * The opening handshake over raw bytes, for raw sockets and the wslay-style event API: push bytes in with
 * `receiveData`, take bytes out with `dataToSend`, read the outcome from `state`.
 *
 * ```
 *  need-data ──head complete, valid──▶ done     (101 / request sent; `.trailing` → new Connection)
 *      │
 *      └──bad head, refused, EOF──▶ failed      (reject bytes then end, or just end)
 * ```
 * All state changes happen in `Handshake.finish`. Peer input never throws; our misuse (feeding a finished
 * handshake, invalid options) throws.
 */
import { InvalidStateError } from './errors.ts';
import {
  type AcceptedRequest,
  buildAccept,
  buildReject,
  buildRequest,
  checkRequest,
  checkResponse,
  type ProtocolSelector,
  type RejectOptions,
  type RequestOptions,
  type ResponseErrorCode,
  type Sha1Base64,
  selectProtocol,
} from './handshake.ts';
import {
  type HeaderInput,
  type HeadParser,
  type HeadResult,
  type RequestHead,
  type ResponseHead,
  requestParser,
  responseParser,
} from './http1.ts';

export const HandshakeState = { NeedData: 'need-data', Done: 'done', Failed: 'failed' } as const;
export type HandshakeState = (typeof HandshakeState)[keyof typeof HandshakeState];

const EMPTY = new Uint8Array(0);

/** State, output queue and input guard shared by both sides; subclasses decide what a complete head means. */
abstract class Handshake<H> {
  #state: HandshakeState = HandshakeState.NeedData;
  #chunks: Uint8Array[] = [];
  #end = false;
  readonly #parser: HeadParser<H>;
  /** Bytes that followed the head: the start of the WebSocket stream, to feed to the new `Connection`. */
  trailing: Uint8Array = EMPTY;

  constructor(parser: HeadParser<H>) {
    this.#parser = parser;
  }

  get state(): HandshakeState {
    return this.#state;
  }

  /** Takes the next chunk of the peer's bytes (it may keep a view of it in `trailing`). */
  receiveData(chunk: Uint8Array): void {
    this.#assertNeedData('receiveData');
    this.onHead(this.#parser.push(chunk));
  }

  /** The peer closed its side before the head was complete. */
  receiveEnd(): void {
    this.#assertNeedData('receiveEnd');
    this.onEnd();
  }

  /** Bytes to write, in order; `end` means close the socket after them (only after a failure). */
  dataToSend(): { chunks: Uint8Array[]; end: boolean } {
    const output = { chunks: this.#chunks, end: this.#end };
    this.#chunks = [];
    this.#end = false;
    return output;
  }

  protected abstract onHead(result: HeadResult<H>): void;
  protected abstract onEnd(): void;

  protected send(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
  }

  protected finish(
    state: typeof HandshakeState.Done | typeof HandshakeState.Failed,
    trailing: Uint8Array = EMPTY,
  ): void {
    this.#state = state;
    this.trailing = trailing;
    this.#end = state === HandshakeState.Failed;
  }

  #assertNeedData(method: string): void {
    if (this.#state !== HandshakeState.NeedData) {
      throw new InvalidStateError(`${method}() after the handshake is ${this.#state}`);
    }
  }
}

export interface ServerHandshakeOptions {
  /** Supported subprotocols in order of preference, or a selector (see `selectProtocol`). */
  protocols?: ProtocolSelector | undefined;
  /**
   * Given the client's raw Sec-WebSocket-Extensions offer (only when non-empty), returns the accepted value.
   */
  extensions?: ((offer: string) => string | undefined) | undefined;
  /** Largest request head, in bytes (default 16 KiB); beyond it the answer is 431. */
  maxHeaderSize?: number | undefined;
  /** Extra headers for the 101 answer. */
  headers?: HeaderInput | undefined;
  sha1?: Sha1Base64 | undefined;
}

/** Server side: reads the client's request, then queues either the 101 answer or an HTTP error. */
export class ServerHandshake extends Handshake<RequestHead> {
  readonly #options: ServerHandshakeOptions;
  /** The parsed request head, once complete (also when it was refused). */
  request: RequestHead | null = null;
  /** What the valid request offered (key, subprotocols, extensions, Origin, Host), once accepted. */
  accepted: AcceptedRequest | null = null;
  /** Selected subprotocol ('' for none) and accepted extensions header ('' for none), once done. */
  protocol = '';
  extensions = '';
  /** Status and reason of the refusal, once failed. */
  failure: { status: number; reason: string } | null = null;

  constructor(options: ServerHandshakeOptions = {}) {
    super(requestParser({ maxHeadSize: options.maxHeaderSize }));
    this.#options = options;
  }

  protected onHead(result: HeadResult<RequestHead>): void {
    if (result.state === 'need-more') return;
    if (result.state === 'error') {
      this.#refuse(result.status, result.message, {});
      return;
    }
    this.request = result.head;
    const { method, httpVersion, headers } = result.head;
    const check = checkRequest({ method, httpVersion, headers: headers.toRecord() });
    if (check.ok) this.#accept(check, result.trailing);
    else this.#refuse(check.status, check.reason, { headers: check.headers, body: check.reason });
  }

  protected onEnd(): void {
    // Nobody to answer: just close.
    this.failure = { status: 400, reason: 'connection closed before the request head ended' };
    this.finish(HandshakeState.Failed);
  }

  #accept(check: AcceptedRequest, trailing: Uint8Array): void {
    const { protocols, extensions, headers, sha1 } = this.#options;
    const protocol = protocols ? selectProtocol(check.protocols, protocols) : undefined;
    const accepted = check.extensions && extensions ? extensions(check.extensions) : undefined;
    this.send(buildAccept({ key: check.key, protocol, extensions: accepted, headers, sha1 }));
    this.accepted = check;
    this.protocol = protocol ?? '';
    this.extensions = accepted ?? '';
    this.finish(HandshakeState.Done, trailing);
  }

  /**
   * The body may carry our fixed texts from `checkRequest`, never the parser's messages (they quote peer
   * bytes).
   */
  #refuse(status: number, reason: string, reject: RejectOptions): void {
    this.failure = { status, reason };
    this.send(buildReject(status, reject));
    this.finish(HandshakeState.Failed);
  }
}

export interface ClientHandshakeOptions extends RequestOptions {
  /** Largest response head, in bytes (default 16 KiB). */
  maxHeaderSize?: number | undefined;
  sha1?: Sha1Base64 | undefined;
}

export type ClientHandshakeErrorCode = ResponseErrorCode | 'BAD_RESPONSE' | 'UNEXPECTED_EOF';

/** Client side: queues the request at construction, then reads and checks the server's answer. */
export class ClientHandshake extends Handshake<ResponseHead> {
  readonly #options: ClientHandshakeOptions;
  /** The Sec-WebSocket-Key sent. */
  readonly key: string;
  /** The parsed response head, once complete (also when it was refused). */
  response: ResponseHead | null = null;
  /** Subprotocol chosen by the server ('' for none) and its raw Sec-WebSocket-Extensions, once done. */
  protocol = '';
  extensions = '';
  error: { code: ClientHandshakeErrorCode; message: string } | null = null;

  constructor(options: ClientHandshakeOptions) {
    const parser = responseParser({ maxHeadSize: options.maxHeaderSize });
    super(parser);
    const { bytes, key } = buildRequest(options);
    this.#options = options;
    this.key = key;
    this.send(bytes);
  }

  protected onHead(result: HeadResult<ResponseHead>): void {
    if (result.state === 'need-more') return;
    if (result.state === 'error') {
      this.#fail('BAD_RESPONSE', `${result.code}: ${result.message}`);
      return;
    }
    this.response = result.head;
    const { protocols, extensions, sha1 } = this.#options;
    const check = checkResponse(
      { status: result.head.status, headers: result.head.headers.toRecord() },
      { key: this.key, protocols, extensionsOffered: extensions, sha1 },
    );
    if (!check.ok) {
      this.#fail(check.code, check.message);
      return;
    }
    this.protocol = check.protocol;
    this.extensions = check.extensions;
    this.finish(HandshakeState.Done, result.trailing);
  }

  protected onEnd(): void {
    this.#fail('UNEXPECTED_EOF', 'connection closed before the response head ended');
  }

  /**
   * RFC 6455 §4.1: on a bad answer the client "MUST _Fail the WebSocket Connection_": nothing to send, close.
   */
  #fail(code: ClientHandshakeErrorCode, message: string): void {
    this.error = { code, message };
    this.finish(HandshakeState.Failed);
  }
}
