/**
 * The WebSocket engine (RFC 6455): bytes in, events out, bytes out. No sockets, timers or promises.
 *
 *   peer bytes ──receiveData()──▶ FrameParser ──▶ rules (this file) ──nextEvent()──▶ application
 *                                                     │  auto-pong, close echo, failures
 *                                                     ▼
 *   application ──sendText()/sendPing()/sendClose()──▶ Outbox ──dataToSend()──▶ socket bytes
 *
 * Peer input never throws: a violation queues a close frame with the right code and surfaces as a `fail` event.
 * Our own misuse throws (`InvalidStateError`, `UsageError`). The adapter's loop: push bytes, pull events until
 * `null`, then send `dataToSend()`; arm a timer when `closeExpected()`.
 */
import { EMPTY } from './bytes.ts';
import { encodeClosePayload, parseClosePayload } from './close.ts';
import {
  CloseCode,
  type DataOpcode,
  isControl,
  isKnownOpcode,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  type Role,
  State,
} from './constants.ts';
import { InvalidStateError, ProtocolError, type ProtocolErrorCode, UsageError } from './errors.ts';
import type { CloseInfo, Event } from './events.ts';
import type { Extension } from './extension.ts';
import { type FrameHeader, Outbox, type PreparedFrame } from './frame.ts';
import { FrameParser, Step } from './frame-parser.ts';
import { randomFill } from './platform.ts';
import { Utf8Validator } from './utf8.ts';

export interface ConnectionOptions {
  role: Role;
  /** Largest message accepted, after extensions decode it; beyond it the connection fails with 1009. Default 64 MiB. */
  maxMessageSize?: number;
  /** Negotiated extensions (see `extensions.ts`), in the order of the handshake's answer. */
  extensions?: Extension[];
  /**
   * RSV bits (wslay numbering) that data frames may carry without a negotiated extension: the application gives
   * them a meaning (wslay's `setAllowedRsvBits`). Such messages are passed through undecoded and unvalidated.
   */
  allowedRsv?: number;
  /**
   * Apply `maxMessageSize` to each frame instead of each message (wslay's no-buffering mode: the application
   * receives frames and decides itself how much of a message to keep).
   */
  limitPerFrame?: boolean;
  /** Client only: a fresh 4-byte masking key per frame. Default: crypto-strong random bytes. */
  randomMask?: () => Uint8Array;
  /**
   * Answer each ping with a pong (RFC 6455 §5.5.2). Default true; an adapter that lets the application decide
   * (ws's `autoPong`) turns it off and sends the pong itself.
   */
  autoPong?: boolean;
  /** Echo the peer's close reason along with its code in the close frame we answer with. Default false. */
  echoCloseReason?: boolean;
  /**
   * Report a message that arrives whole, in one unfragmented frame with no RSV bits whose payload is already in
   * one received chunk, as one `message` event instead of `frame-start`, `frame-data`, `frame-end`. Default
   * false (every data frame streams). For handlers that want whole messages anyway: such a handler keeps every
   * piece of a message until it ends, so the pieces of a long frame may share buffers (see `FrameParser.gathers`).
   */
  wholeMessages?: boolean;
}

const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
const END: Event = Object.freeze({ type: 'end' });
// frame-end carries nothing but `fin`: two shared, frozen objects instead of one allocation per frame.
const FRAME_END: Event = Object.freeze({ type: 'frame-end', fin: true });
const FRAGMENT_END: Event = Object.freeze({ type: 'frame-end', fin: false });
const NO_EXTENSIONS: readonly Extension[] = Object.freeze([]);
// Every connection writes its frames through these, one frame at a time (writeFrame is synchronous), so an idle
// connection holds neither a header object nor a masking-key buffer of its own.
const header: FrameHeader = { fin: true, rsv: 0, opcode: 0, mask: null };
const maskKey = new Uint8Array(4);

/** The bits of `Connection.flags`. */
const Flag = {
  // Options (see ConnectionOptions); LimitPerFrame can change (`configure`).
  LimitPerFrame: 1 << 0,
  AutoPong: 1 << 1,
  EchoCloseReason: 1 << 2,
  WholeMessages: 1 << 3,
  /** Chunks are lent (see `lendInput`). */
  Lent: 1 << 4,
  // Incoming message.
  Receiving: 1 << 5,
  /** The message is text and sets no RSV bit the application takes (`allowedRsv`): it is validated as UTF-8. */
  MessageValidates: 1 << 6,
  /**
   * Decoded bytes of the current frame were not UTF-8. The verdict waits for the end of the frame's payload: a
   * corrupt compressed stream later in the same frame is then the verdict, as it is when the frame arrives in one
   * piece (zlib reports a data error without the bytes it inflated before it), so any chunking gives one outcome.
   */
  DecodedInvalid: 1 << 7,
  /**
   * The current frame inflated past the limit. Its remaining compressed bytes are still read (with no output
   * room, so nothing more is inflated) before the verdict: a corrupt stream zlib finds in them is the verdict,
   * as it is when the whole frame reaches zlib in one call.
   */
  InflatedTooBig: 1 << 8,
  // Outgoing message: a fragmented one is in progress.
  Sending: 1 << 9,
  /** Reading stopped (a close was received or the connection failed): later input is dropped unread. */
  Discarding: 1 << 10,
  InputEnded: 1 << 11,
  EndEmitted: 1 << 12,
  /** Our side of TCP closes after the bytes queued now; `dataToSend` reports it once (EndSent). */
  EndPending: 1 << 13,
  EndSent: 1 << 14,
} as const;

function protocolError(
  code: ProtocolErrorCode,
  message: string,
  closeCode: number = CloseCode.ProtocolError,
) {
  return new ProtocolError(code, closeCode, message);
}

export class Connection {
  readonly role: Role;
  maxMessageSize: number;
  private _state: State = State.Open;
  /** Made by the first bytes received, and the outbox by the first frame sent: an idle connection holds neither. */
  private parser: FrameParser | null = null;
  private outbox: Outbox | null = null;
  private readonly extensions: readonly Extension[];
  private readonly extensionRsv: number;
  private allowedRsv: number;
  private readonly randomMask: (() => Uint8Array) | undefined;
  /** The yes/no state of the connection, one bit per `Flag`: one field instead of fifteen. */
  private flags = 0;
  /** The current frame is a whole message (see `wholeMessages`): its payload so far, else null. */
  private whole: Uint8Array | null = null;
  /** Made for the first text message. */
  private utf8: Utf8Validator | null = null;
  /** The payload of the control frame being read, sized by its header (at most 125 bytes). */
  private control: Uint8Array = EMPTY;
  private controlLength = 0;
  // Incoming message.
  private messageOpcode: DataOpcode = Opcode.Text;
  private messageDecoder: Extension | null = null;
  private messageLength = 0;
  // Outgoing message.
  private sendEncoder: Extension | null = null;
  // Events decoded ahead (an extension may turn one payload piece into several); made when first needed.
  private pending: Event[] | null = null;
  private _closeSent: CloseInfo | null = null;
  private _closeReceived: CloseInfo | null = null;
  private _error: ProtocolError | null = null;

  constructor(options: ConnectionOptions) {
    if (options.role !== 'client' && options.role !== 'server') {
      throw new UsageError('INVALID_ROLE', `role must be 'client' or 'server', not ${String(options.role)}`);
    }
    this.role = options.role;
    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!(max >= 0))
      throw new UsageError('INVALID_MAX_MESSAGE_SIZE', `maxMessageSize must be >= 0, not ${max}`);
    this.maxMessageSize = max;
    // An adapter passes the negotiated list, most often empty: keep none of it then.
    const extensions = options.extensions;
    this.extensions = extensions !== undefined && extensions.length > 0 ? extensions : NO_EXTENSIONS;
    this.extensionRsv = this.extensions.reduce((bits, e) => bits | e.rsv, 0);
    this.allowedRsv = options.allowedRsv ?? 0;
    this.set(Flag.LimitPerFrame, options.limitPerFrame ?? false);
    this.randomMask = options.randomMask;
    this.set(Flag.AutoPong, options.autoPong ?? true);
    this.set(Flag.EchoCloseReason, options.echoCloseReason ?? false);
    this.set(Flag.WholeMessages, options.wholeMessages ?? false);
  }

  /** Is any of the bits in `flag` set? */
  private is(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
  private set(flag: number, on: boolean): void {
    this.flags = on ? this.flags | flag : this.flags & ~flag;
  }

  get state(): State {
    return this._state;
  }
  get closeSent(): CloseInfo | null {
    return this._closeSent;
  }
  get closeReceived(): CloseInfo | null {
    return this._closeReceived;
  }
  /** The peer's violation that failed the connection, if any. */
  get error(): ProtocolError | null {
    return this._error;
  }
  /** Bytes queued for `dataToSend()`. */
  get bufferedAmount(): number {
    return this.outbox === null ? 0 : this.outbox.size;
  }

  /**
   * Changes the receive limits of a live connection (wslay lets an application reconfigure its context at any
   * time); a change applies from the next frame header on.
   */
  configure(options: Pick<ConnectionOptions, 'maxMessageSize' | 'allowedRsv' | 'limitPerFrame'>): void {
    const max = options.maxMessageSize;
    if (max !== undefined) {
      if (!(max >= 0))
        throw new UsageError('INVALID_MAX_MESSAGE_SIZE', `maxMessageSize must be >= 0, not ${max}`);
      this.maxMessageSize = max;
    }
    if (options.allowedRsv !== undefined) this.allowedRsv = options.allowedRsv;
    if (options.limitPerFrame !== undefined) this.set(Flag.LimitPerFrame, options.limitPerFrame);
  }

  // ── input ──────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Takes ownership of `chunk` (payload is unmasked in place; events may be views into it), unless chunks are
   * lent (`lendInput`). Never throws.
   */
  receiveData(chunk: Uint8Array): void {
    if (this.is(Flag.Discarding | Flag.InputEnded)) return;
    (this.parser ??= this.newParser()).push(chunk);
  }

  /**
   * From now on the chunks given to `receiveData` are lent: their memory is reused (the next socket read lands in
   * it) once `releaseInput` was called. Events then hold copies, never views of a chunk: the copy of a masked
   * payload is made by the pass that unmasks it.
   */
  lendInput(): void {
    this.flags |= Flag.Lent;
    if (this.parser !== null) this.parser.copies = true;
  }

  /** With lent chunks: the caller takes their memory back, so the bytes not parsed yet are copied out of it. */
  releaseInput(): void {
    this.parser?.keepInput();
  }

  private newParser(): FrameParser {
    const parser = new FrameParser();
    parser.copies = this.is(Flag.Lent);
    return parser;
  }

  /** The peer closed its side of the TCP connection. */
  receiveEnd(): void {
    if (this.is(Flag.InputEnded)) return;
    this.flags |= Flag.InputEnded;
    // We have nothing left to say to a peer that stopped listening: close our side too.
    this.flags |= Flag.EndPending;
    this.setState(State.Closed);
  }

  /** The next event, or `null` when more input is needed. Parses just enough for one event. */
  nextEvent(): Event | null {
    const pending = this.pending;
    if (pending !== null && pending.length > 0) return pending.shift()!;
    const parser = this.parser;
    if (this.is(Flag.Discarding) || parser === null) return this.endOfInput();
    for (;;) {
      const event = this.step(parser, parser.next());
      if (event !== undefined) return event;
    }
  }

  /** One parser step; `undefined` means "keep going". */
  private step(parser: FrameParser, step: Step): Event | null | undefined {
    switch (step) {
      case Step.NeedData:
        return this.endOfInput();
      case Step.Head: {
        const error = this.checkHead(parser);
        return error === null ? undefined : this.failWith(error);
      }
      case Step.BadLength:
        return this.failWith(
          parser.tooLong
            ? protocolError('PAYLOAD_TOO_LONG', 'payload length beyond 2^53-1', CloseCode.MessageTooBig)
            : protocolError('PAYLOAD_TOO_LONG', 'payload length has its most significant bit set'),
        );
      case Step.Header:
        if (!isControl(parser.opcode)) return this.startDataFrame(parser);
        this.control = parser.length === 0 ? EMPTY : new Uint8Array(parser.length);
        return undefined;
      case Step.Data:
        if (isControl(parser.opcode)) {
          this.control.set(parser.data, this.controlLength);
          this.controlLength += parser.data.length;
          return undefined;
        }
        if (this.whole !== null) return this.wholeData(parser.data);
        return this.dataFrameData(parser.data);
      case Step.End:
        if (isControl(parser.opcode)) return this.controlFrame(parser);
        return this.whole !== null ? this.wholeEnd() : this.endDataFrame(parser);
    }
  }

  private endOfInput(): Event | null {
    if (!this.is(Flag.InputEnded) || this.is(Flag.EndEmitted)) return null;
    this.flags |= Flag.EndEmitted;
    return END;
  }

  /** Frame rules that the first two bytes decide (RFC 6455 §5.2, §5.4, §5.5). */
  private checkHead(parser: FrameParser): ProtocolError | null {
    const { opcode, rsv, fin, masked, length } = parser;
    if (!isKnownOpcode(opcode)) return protocolError('RESERVED_OPCODE', `reserved opcode ${opcode}`);
    // §5.1: "The server MUST close the connection upon receiving a frame that is not masked" and "A client
    // MUST close a connection if it detects a masked frame."
    if (masked !== (this.role === 'server')) {
      return this.role === 'server'
        ? protocolError('UNMASKED_FRAME', 'client frame is not masked')
        : protocolError('MASKED_FRAME', 'server frame is masked');
    }
    if (isControl(opcode)) {
      if (rsv !== 0) return protocolError('RESERVED_BITS', `RSV bits ${rsv} set on a control frame`);
      // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
      if (!fin) return protocolError('FRAGMENTED_CONTROL', 'fragmented control frame');
      if (length > MAX_CONTROL_PAYLOAD)
        return protocolError('CONTROL_TOO_LONG', `control frame of ${length} bytes (over 125)`);
      this.controlLength = 0;
      return null;
    }
    if (opcode === Opcode.Continuation) {
      if (!this.is(Flag.Receiving))
        return protocolError('UNEXPECTED_CONTINUATION', 'continuation frame without a message');
      // RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
      if (rsv & ~this.allowedRsv)
        return protocolError('RESERVED_BITS', `RSV bits ${rsv} set on a continuation frame`);
      return null;
    }
    if (this.is(Flag.Receiving))
      return protocolError(
        'EXPECTED_CONTINUATION',
        `new data frame (opcode ${opcode}) inside a fragmented message`,
      );
    if (rsv & ~(this.allowedRsv | this.extensionRsv)) {
      return protocolError('RESERVED_BITS', `RSV bits ${rsv} set without an extension that defines them`);
    }
    return null;
  }

  private startDataFrame(parser: FrameParser): Event | undefined {
    const { opcode, rsv, fin, length } = parser;
    this.flags &= ~(Flag.DecodedInvalid | Flag.InflatedTooBig);
    const first = opcode !== Opcode.Continuation;
    if (first) {
      this.flags |= Flag.Receiving;
      this.messageOpcode = opcode as DataOpcode;
      this.messageDecoder = rsv & this.extensionRsv ? this.decoderFor(rsv) : null;
      this.set(Flag.MessageValidates, opcode === Opcode.Text && (rsv & this.allowedRsv) === 0);
      this.messageLength = 0;
      if (this.is(Flag.MessageValidates)) (this.utf8 ??= new Utf8Validator()).reset();
    }
    // A handler that wants whole messages keeps every piece of one until it ends, unless an extension decodes them
    // (the decoder's output is kept, its input is not: continuation frames of a compressed message have no RSV).
    parser.gathers = this.messageDecoder === null && this.is(Flag.WholeMessages);
    const received = this.is(Flag.LimitPerFrame) ? 0 : this.messageLength;
    if (this.messageDecoder === null && length > this.maxMessageSize - received) {
      return this.failWith(this.tooBig());
    }
    if (this.is(Flag.WholeMessages) && first && fin && rsv === 0 && parser.payloadInHead()) {
      this.whole = EMPTY;
      return undefined;
    }
    return { type: 'frame-start', opcode: this.messageOpcode, first, fin, rsv, length };
  }

  /** The payload of a whole message (it is in one chunk, so it comes as one piece): checked, kept for its end. */
  private wholeData(data: Uint8Array): Event | undefined {
    this.messageLength = data.length;
    if (this.is(Flag.MessageValidates) && !(this.utf8!.push(data) && this.utf8!.end())) {
      this.whole = null;
      return this.failWith(this.invalidUtf8());
    }
    this.whole = data;
    return undefined;
  }

  private wholeEnd(): Event {
    const data = this.whole!;
    this.whole = null;
    this.flags &= ~Flag.Receiving;
    return { type: 'message', opcode: this.messageOpcode, data };
  }

  private decoderFor(rsv: number): Extension {
    for (const extension of this.extensions) if (rsv & extension.rsv) return extension;
    throw new Error('unreachable: RSV bits were checked against the extensions');
  }

  private dataFrameData(data: Uint8Array): Event | undefined {
    const decoder = this.messageDecoder;
    if (decoder === null) return this.deliver(data);
    if (this.is(Flag.InflatedTooBig)) {
      const drained = decoder.decode(data, false, -1);
      return drained instanceof ProtocolError && drained.code !== 'MESSAGE_TOO_BIG'
        ? this.failWith(drained)
        : undefined;
    }
    const failed = this.queueDecoded(decoder.decode(data, false, this.maxMessageSize - this.messageLength));
    return failed ?? this.pending?.shift();
  }

  private endDataFrame(parser: FrameParser): Event {
    if (this.is(Flag.InflatedTooBig))
      return this.failWith(this.is(Flag.DecodedInvalid) ? this.invalidUtf8() : this.tooBig());
    if (this.is(Flag.DecodedInvalid)) return this.failWith(this.invalidUtf8());
    const fin = parser.fin;
    if (fin) {
      this.flags &= ~Flag.Receiving;
      const decoder = this.messageDecoder;
      if (decoder !== null) {
        const failed = this.queueDecoded(
          decoder.decode(EMPTY, true, this.maxMessageSize - this.messageLength),
        );
        if (failed !== undefined) return failed;
        if (this.is(Flag.InflatedTooBig))
          return this.failWith(this.is(Flag.DecodedInvalid) ? this.invalidUtf8() : this.tooBig());
        if (this.is(Flag.DecodedInvalid)) return this.failWith(this.invalidUtf8());
      }
      // §8.1: a text message whose bytes end inside a UTF-8 sequence is invalid.
      if (this.is(Flag.MessageValidates) && !this.utf8!.end()) return this.failWith(this.invalidUtf8());
    }
    const end = fin ? FRAME_END : FRAGMENT_END;
    const pending = this.pending;
    if (pending === null || pending.length === 0) return end;
    pending.push(end);
    return pending.shift()!;
  }

  /** Delivers a payload piece: size was checked at the header, UTF-8 is checked here (fail fast). */
  private deliver(data: Uint8Array): Event {
    this.messageLength += data.length;
    if (this.is(Flag.MessageValidates) && !this.utf8!.push(data)) return this.failWith(this.invalidUtf8());
    return { type: 'frame-data', data };
  }

  /** Queues an extension's decoded pieces as events; returns the `fail` event if decoding or validation failed. */
  private queueDecoded(decoded: readonly Uint8Array[] | ProtocolError): Event | undefined {
    if (decoded instanceof ProtocolError) {
      if (decoded.code !== 'MESSAGE_TOO_BIG') return this.failWith(decoded);
      // Bytes decoded up to a limit are validated first: invalid UTF-8 among them is the first offence (1007).
      if (decoded.decoded !== undefined) this.queueDecoded(decoded.decoded);
      // The verdict waits for the frame's end (see inflatedTooBig); the message's limit is what the peer is told.
      this.flags |= Flag.InflatedTooBig;
      return undefined;
    }
    for (const piece of decoded) {
      if (piece.length === 0) continue;
      this.messageLength += piece.length;
      if (this.is(Flag.DecodedInvalid)) continue;
      if (this.is(Flag.MessageValidates) && !this.utf8!.push(piece)) {
        this.flags |= Flag.DecodedInvalid;
        continue;
      }
      (this.pending ??= []).push({ type: 'frame-data', data: piece });
    }
    return undefined;
  }

  private controlFrame(parser: FrameParser): Event | null {
    const data = this.control;
    this.control = EMPTY;
    switch (parser.opcode) {
      case Opcode.Ping:
        // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response", unless it
        // already sent a Close frame.
        if (this._closeSent === null && this.is(Flag.AutoPong)) this.writeFrame(Opcode.Pong, data, true, 0);
        return { type: 'ping', data };
      case Opcode.Pong:
        return { type: 'pong', data };
      default:
        return this.closeFrame(data);
    }
  }

  private closeFrame(payload: Uint8Array): Event | null {
    const info = parseClosePayload(payload);
    if (info instanceof ProtocolError) return this.failWith(info);
    this._closeReceived = info;
    // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close frame, the endpoint
    // MUST send a Close frame in response. (When sending a Close frame in response, the endpoint typically
    // echos the status code it received.)"
    if (this._closeSent === null) {
      const echo = info.code === CloseCode.NoStatusRcvd ? undefined : info.code;
      this.writeClose(echo, echo !== undefined && this.is(Flag.EchoCloseReason) ? info.reason : '');
    }
    // §7.1.1: the server closes the TCP connection first, once the close handshake is complete.
    if (this.role === 'server') this.flags |= Flag.EndPending;
    this.stopReading();
    this.setState(State.Closed);
    return { type: 'close', code: info.code, reason: info.reason };
  }

  private tooBig(): ProtocolError {
    return protocolError(
      'MESSAGE_TOO_BIG',
      `message over ${this.maxMessageSize} bytes`,
      CloseCode.MessageTooBig,
    );
  }

  private invalidUtf8(): ProtocolError {
    return protocolError('INVALID_UTF8', 'text message is not UTF-8', CloseCode.InvalidFramePayloadData);
  }

  /** §7.1.7 "Fail the WebSocket Connection" because of the peer: one exit for every violation. */
  private failWith(error: ProtocolError): Event {
    this._error = error;
    if (this.pending !== null) this.pending.length = 0;
    this.closeAfterFailure(error.closeCode, error.message);
    return { type: 'fail', error };
  }

  private closeAfterFailure(code: number, reason: string): void {
    if (this._closeSent === null && code !== CloseCode.AbnormalClosure)
      this.writeClose(code, reason.slice(0, 123));
    // A server closes the TCP connection without waiting for the client's close frame; a client waits for the
    // server to close it. §7.1.7: "An endpoint MUST NOT continue to attempt to process data ... after being
    // instructed to _Fail the WebSocket Connection_."
    if (this.role === 'server') this.flags |= Flag.EndPending;
    this.stopReading();
    this.setState(State.Closed);
  }

  private stopReading(): void {
    this.flags |= Flag.Discarding;
    this.parser?.discard();
  }

  // ── commands ───────────────────────────────────────────────────────────────────────────────────────────

  /** `rsv`: RSV bits the application gives a meaning to; only bits of `allowedRsv` (wslay numbering). */
  sendText(payload: Uint8Array, fin = true, rsv = 0): void {
    this.startMessage(Opcode.Text, payload, fin, rsv);
  }

  sendBinary(payload: Uint8Array, fin = true, rsv = 0): void {
    this.startMessage(Opcode.Binary, payload, fin, rsv);
  }

  sendContinuation(payload: Uint8Array, fin: boolean, rsv = 0): void {
    this.assertOpen();
    if (!this.is(Flag.Sending)) throw new InvalidStateError('no fragmented message is in progress');
    this.sendData(Opcode.Continuation, payload, false, fin, this.checkRsv(rsv));
  }

  sendPing(payload: Uint8Array = EMPTY): void {
    this.sendControl(Opcode.Ping, payload);
  }

  sendPong(payload: Uint8Array = EMPTY): void {
    this.sendControl(Opcode.Pong, payload);
  }

  /** Starts the closing handshake. No code sends an empty close payload (received as 1005). */
  sendClose(code?: number, reason = ''): void {
    if (this._closeSent !== null) throw new InvalidStateError('a close frame was already sent');
    if (this._state === State.Closed) throw new InvalidStateError('the connection is closed');
    this.writeClose(code, reason);
  }

  /** Writes a frame prepared once for many connections (broadcast). Server role only; never compressed. */
  sendPrepared(frame: PreparedFrame): void {
    if (this.role !== 'server')
      throw new UsageError('PREPARED_FRAME_ROLE', 'prepared frames are unmasked: server only');
    this.assertOpen();
    if (this.is(Flag.Sending) && !isControl(frame.opcode)) {
      throw new InvalidStateError('a fragmented message is in progress');
    }
    (this.outbox ??= new Outbox()).writeRaw(frame.bytes);
  }

  /** Fails the connection from our side (RFC 6455 §7.1.7), e.g. for a policy violation the application detected. */
  fail(code: number, reason = ''): void {
    if (code !== CloseCode.AbnormalClosure) encodeClosePayload(code, reason); // validates: throws UsageError
    if (this._state === State.Closed) return;
    this.closeAfterFailure(code, reason);
  }

  // ── output ─────────────────────────────────────────────────────────────────────────────────────────────

  /** Bytes to write, in order; `end`: half-close the socket after writing them (comes once). */
  dataToSend(): { chunks: Uint8Array[]; end: boolean } {
    const chunks = this.outbox === null ? [] : this.outbox.take();
    const end = this.is(Flag.EndPending) && !this.is(Flag.EndSent);
    if (end) this.flags |= Flag.EndSent;
    return { chunks, end };
  }

  /**
   * Should the adapter expect the peer to close TCP soon (and arm a close timer)? True once we sent a close
   * frame and until the input ends: a server waits for the client's FIN after its own, a client for the
   * server's FIN after the close handshake.
   */
  closeExpected(): boolean {
    return this._closeSent !== null && !this.is(Flag.InputEnded);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────────────

  private assertOpen(): void {
    if (this._state !== State.Open) {
      throw new InvalidStateError(`cannot send: the connection is ${this._state}`);
    }
  }

  private startMessage(opcode: DataOpcode, payload: Uint8Array, fin: boolean, rsv: number): void {
    this.assertOpen();
    if (this.is(Flag.Sending))
      throw new InvalidStateError('a fragmented message is in progress; use sendContinuation()');
    this.sendData(opcode, payload, true, fin, this.checkRsv(rsv));
  }

  private checkRsv(rsv: number): number {
    if (rsv & ~this.allowedRsv) {
      throw new UsageError(
        'INVALID_RSV',
        `RSV bits ${rsv} are not among the allowed bits ${this.allowedRsv}`,
      );
    }
    return rsv;
  }

  private sendData(opcode: number, payload: Uint8Array, first: boolean, fin: boolean, rsv: number): void {
    if (first) this.sendEncoder = this.extensions.length > 0 ? this.extensions[0] : null;
    const encoder = this.sendEncoder;
    if (encoder !== null) {
      const encoded = encoder.encode(payload, first, fin);
      payload = encoded.payload;
      if (first) rsv |= encoded.rsv;
    }
    this.set(Flag.Sending, !fin);
    this.writeFrame(opcode, payload, fin, rsv);
  }

  private sendControl(opcode: number, payload: Uint8Array): void {
    this.assertOpen();
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new UsageError(
        'CONTROL_TOO_LONG',
        `control payload is ${payload.length} bytes, at most 125 are allowed`,
      );
    }
    this.writeFrame(opcode, payload, true, 0);
  }

  private writeClose(code: number | undefined, reason: string): void {
    this.writeFrame(Opcode.Close, encodeClosePayload(code, reason), true, 0);
    this._closeSent = { code: code ?? CloseCode.NoStatusRcvd, reason };
    if (this._state === State.Open) this.setState(State.Closing);
  }

  private writeFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv: number): void {
    const mask = this.role === 'client' ? this.nextMask() : null;
    header.fin = fin;
    header.rsv = rsv;
    header.opcode = opcode;
    header.mask = mask;
    (this.outbox ??= new Outbox()).writeFrame(header, payload);
  }

  private nextMask(): Uint8Array {
    return this.randomMask ? this.randomMask() : randomFill(maskKey);
  }

  /** Every state change goes through here. */
  private setState(state: State): void {
    if (this._state === State.Closed) return;
    this._state = state;
    if (state === State.Closed) for (const extension of this.extensions) extension.dispose?.();
  }
}
