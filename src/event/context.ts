/**
 * wslay's event-based API over a core `Connection`.
 *
 *   recv callback ──bytes──▶ Connection ──events──▶ onFrameRecv* / onMsgRecv
 *                               │ auto pong, close echo, failure close (taken as control frames)
 *                               ▼
 *   queueMsg/queueClose ──▶ control queue ─┐
 *   queueMsg/queueFragmentedMsg ──▶ data queue ─┴─ one frame at a time ──▶ send callback / write(buf)
 *
 * The context owns wslay's two queues. A data frame is handed to the Connection (which frames and masks it)
 * only when it is about to be sent; its bytes are kept until the send callback has taken all of them, so
 * sending resumes at any byte. Control frames are framed when queued: the Connection then knows a close is
 * on its way and stops answering pings and closes itself, exactly as wslay stops queueing them. Control
 * frames go first, also between the frames of a fragmented message, never inside a frame.
 *
 * Protocol decisions (which frames are legal, which close code) are the Connection's; this file maps its
 * events and bytes onto wslay's callbacks, queues and integer error codes.
 */
import { MessageAssembler } from '../core/assembler.ts';
import { utf8Encode } from '../core/bytes.ts';
import { Connection } from '../core/connection.ts';
import { CloseCode, isControl, MAX_CONTROL_PAYLOAD, Opcode, Rsv } from '../core/constants.ts';
import { UsageError } from '../core/errors.ts';
import type { Event } from '../core/events.ts';
import { defaultRandomMask } from '../core/platform.ts';
import { ReadBuffers } from './read-buffers.ts';
import {
  ErrorCode,
  type EventCallbacks,
  type EventMsg,
  type FragmentedMsg,
  IoFlags,
  type OnFrameRecvStartArg,
} from './types.ts';

/** wslay's default limit: 2^31-1 bytes. */
const DEFAULT_MAX_RECV_MSG_LENGTH = 2 ** 31 - 1;
/** wslay reads a fragmented message's source into a buffer of this size: one read, one frame. */
const FRAGMENT_BUFFER_SIZE = 4096;
const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;
const CALLBACK_NAMES = [
  'recv',
  'send',
  'genmask',
  'onFrameRecvStart',
  'onFrameRecvChunk',
  'onFrameRecvEnd',
  'onMsgRecv',
] as const;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Thrown through the Connection when the genmask callback fails; becomes `CallbackFailure`. */
const GENMASK_FAILED = new Error('genmask callback failed');

interface ControlFrame {
  opcode: number;
  payloadLength: number;
  /** The close code it carries (1005 when none); 0 for other frames. */
  statusCode: number;
  bytes: Uint8Array[];
}

type DataMessage =
  | { fragmented: false; opcode: number; rsv: number; payload: Uint8Array }
  | { fragmented: true; opcode: number; rsv: number; source: FragmentedMsg; started: boolean };

/** The frame being sent: its bytes and what to do once they are all gone. */
interface FrameInProgress {
  chunks: Uint8Array[];
  index: number;
  offset: number;
  /** A control frame, or a data message's frame (`last`: the message's final frame). */
  control: boolean;
  last: boolean;
  done: () => void;
}

/** Where `flush` puts bytes: the send callback or a caller's buffer. */
interface Sink {
  /** Takes some of `data`: how many bytes, or a negative ErrorCode (`WouldBlock`: stop for now). */
  put(data: Uint8Array, more: boolean): number;
  full(): boolean;
}

export class EventContext {
  private callbacks: EventCallbacks = {};
  private readonly conn: Connection;
  private readonly readBuffers = new ReadBuffers();
  private readonly assembler = new MessageAssembler();
  private error = 0;
  private _readEnabled = true;
  private _writeEnabled = true;
  private closeQueued = false;
  private _closeReceived = false;
  private _closeSent = false;
  private _statusCodeReceived: number = CloseCode.AbnormalClosure;
  private _statusCodeSent: number = CloseCode.AbnormalClosure;
  private noBuffering = false;
  private allowedRsv = 0;
  // The message being received: its first frame's opcode and RSV bits.
  private messageOpcode: number = Opcode.Text;
  private messageRsv = 0;
  private readonly control: ControlFrame[] = [];
  private readonly data: DataMessage[] = [];
  private message: DataMessage | null = null;
  private frame: FrameInProgress | null = null;
  /** A data frame made before a control frame was queued, none of it sent yet: the control frame goes first. */
  private parked: FrameInProgress | null = null;
  private _queuedMsgCount = 0;
  private _queuedMsgLength = 0;

  private constructor(role: 'client' | 'server', callbacks: EventCallbacks) {
    this.setCallbacks(callbacks);
    this.conn = new Connection({
      role,
      maxMessageSize: DEFAULT_MAX_RECV_MSG_LENGTH,
      randomMask: () => this.nextMask(),
    });
  }

  /** `wslay_event_context_server_init`: peers must mask, we never do. */
  static server(callbacks: EventCallbacks = {}): EventContext {
    return new EventContext('server', callbacks);
  }

  /** `wslay_event_context_client_init`: we mask every frame (see `genmask`), the peer must not. */
  static client(callbacks: EventCallbacks = {}): EventContext {
    return new EventContext('client', callbacks);
  }

  /** Nothing to free; kept so that ported programs read the same. */
  free(): void {}

  // ── configuration ─────────────────────────────────────────────────────────────────────────────────────

  /** RSV bits that messages may carry, to send or to receive. As in wslay, only `Rsv.Rsv1` can be allowed. */
  setAllowedRsvBits(rsv: number): void {
    this.allowedRsv = rsv & Rsv.Rsv1;
    this.conn.configure({ allowedRsv: this.allowedRsv });
  }

  /**
   * With `on`, data frames reach the application only through the frame callbacks; `onMsgRecv` gets an empty
   * `msg` for data messages, and the receive limit applies to each frame.
   */
  setNoBuffering(on: boolean): void {
    this.noBuffering = on;
    this.conn.configure({ limitPerFrame: on });
  }

  /** Largest message (each frame in no-buffering mode) accepted; beyond it the context closes with 1009. */
  setMaxRecvMsgLength(length: number): void {
    if (!Number.isInteger(length) || length < 0) {
      throw new RangeError(`max message length must be an integer >= 0, not ${length}`);
    }
    this.conn.configure({ maxMessageSize: length });
  }

  setCallbacks(callbacks: EventCallbacks): void {
    for (const name of CALLBACK_NAMES) {
      const callback = callbacks[name];
      if (callback !== undefined && typeof callback !== 'function') {
        throw new TypeError(`callback ${name} must be a function`);
      }
    }
    this.callbacks = { ...callbacks };
  }

  /** Called by callbacks to report why they returned -1 (`WouldBlock`, `CallbackFailure`). */
  setError(error: number): void {
    this.error = error;
  }

  // ── state ─────────────────────────────────────────────────────────────────────────────────────────────

  get readEnabled(): boolean {
    return this._readEnabled;
  }
  get writeEnabled(): boolean {
    return this._writeEnabled;
  }
  /** A close frame was received. */
  get closeReceived(): boolean {
    return this._closeReceived;
  }
  /** A close frame was sent completely. */
  get closeSent(): boolean {
    return this._closeSent;
  }
  /** The received close frame's code: 1005 when it had none, 1006 when no close frame was received. */
  get statusCodeReceived(): number {
    return this._statusCodeReceived;
  }
  /** The sent close frame's code: 1005 when it had none, 1006 when no close frame was sent. */
  get statusCodeSent(): number {
    return this._statusCodeSent;
  }
  /** Messages queued and not completely sent, control frames included. */
  get queuedMsgCount(): number {
    return this._queuedMsgCount;
  }
  /** Payload bytes of the queued messages (fragmented messages count 0). */
  get queuedMsgLength(): number {
    return this._queuedMsgLength;
  }

  wantRead(): boolean {
    return this._readEnabled;
  }

  wantWrite(): boolean {
    return (
      this._writeEnabled &&
      (this.frame !== null || this.parked !== null || this.control.length > 0 || this.hasData())
    );
  }

  shutdownRead(): void {
    this._readEnabled = false;
  }

  shutdownWrite(): void {
    this._writeEnabled = false;
  }

  // ── queueing ──────────────────────────────────────────────────────────────────────────────────────────

  queueMsg(arg: EventMsg): number {
    return this.queueMsgEx(arg, Rsv.None);
  }

  /** Queues a message; its bytes are copied. A close message's payload is its 2-byte code and reason. */
  queueMsgEx(arg: EventMsg, rsv: number): number {
    if (!this.queueable()) return ErrorCode.NoMoreMsg;
    const { opcode } = arg;
    const payload = typeof arg.msg === 'string' ? utf8Encode(arg.msg) : arg.msg.slice();
    if (!this.validRsv(rsv)) return ErrorCode.InvalidArgument;
    if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      this.data.push({ fragmented: false, opcode, rsv, payload });
      this.queued(1, payload.length);
      return 0;
    }
    if (!isControl(opcode) || payload.length > MAX_CONTROL_PAYLOAD || rsv !== 0) {
      return ErrorCode.InvalidArgument;
    }
    if (opcode === Opcode.Close) return this.queueCloseMsg(payload);
    if (opcode !== Opcode.Ping && opcode !== Opcode.Pong) return ErrorCode.InvalidArgument;
    return this.queueControl(opcode, payload.length, 0, () =>
      opcode === Opcode.Ping ? this.conn.sendPing(payload) : this.conn.sendPong(payload),
    );
  }

  queueFragmentedMsg(arg: FragmentedMsg): number {
    return this.queueFragmentedMsgEx(arg, Rsv.None);
  }

  /** Queues a message read from `arg.source` by `arg.readCallback`: each read becomes one frame. */
  queueFragmentedMsgEx(arg: FragmentedMsg, rsv: number): number {
    if (typeof arg.readCallback !== 'function') throw new TypeError('readCallback must be a function');
    if (!this.queueable()) return ErrorCode.NoMoreMsg;
    if ((arg.opcode !== Opcode.Text && arg.opcode !== Opcode.Binary) || !this.validRsv(rsv)) {
      return ErrorCode.InvalidArgument;
    }
    this.data.push({ fragmented: true, opcode: arg.opcode, rsv, source: arg, started: false });
    this.queued(1, 0);
    return 0;
  }

  /**
   * Queues a close frame with `statusCode` and `reason` (at most 123 bytes); code 0 sends an empty payload.
   * Afterwards nothing more can be queued, and other control frames still queued are not sent.
   */
  queueClose(statusCode: number, reason: Uint8Array | string = ''): number {
    if (!Number.isInteger(statusCode) || statusCode < 0) {
      throw new RangeError(`status code must be an integer >= 0, not ${statusCode}`);
    }
    if (!this.queueable()) return ErrorCode.NoMoreMsg;
    const bytes = typeof reason === 'string' ? utf8Encode(reason) : reason;
    if (bytes.length > MAX_CLOSE_REASON) return ErrorCode.InvalidArgument;
    if (statusCode === 0) return this.queueCloseFrame(undefined, '');
    let text: string;
    try {
      text = typeof reason === 'string' ? reason : strictUtf8.decode(bytes);
    } catch {
      return ErrorCode.InvalidArgument;
    }
    return this.queueCloseFrame(statusCode, text);
  }

  // ── receiving ─────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Reads until the recv callback would block, delivering every complete frame and message to the callbacks.
   * A protocol error queues a close and returns 0; only a failing callback makes it return < 0.
   */
  recv(): number {
    if (this.callbacks.recv === undefined) return ErrorCode.InvalidCallback;
    while (this._readEnabled) {
      if (!this.deliverEvents()) return this.failRead();
      if (!this._readEnabled) break;
      const read = this.readSome();
      if (read < 0) return this.failRead();
      if (read === 0) break;
    }
    return 0;
  }

  /** Calls the recv callback once: bytes fed to the Connection, 0 when nothing came, -1 on failure. */
  private readSome(): number {
    const region = this.readBuffers.next();
    this.error = 0;
    let got: number | Uint8Array;
    try {
      got = this.callbacks.recv!(this, region, 0);
    } catch {
      return -1;
    }
    if (typeof got === 'number') {
      if (got < 0) return this.error === ErrorCode.WouldBlock || this.error === 0 ? 0 : -1;
      if (!Number.isInteger(got) || got > region.length) return -1;
      got = region.subarray(0, got);
    } else if (!(got instanceof Uint8Array) || got.length > region.length) {
      return -1;
    }
    if (got.length === 0) return 0;
    const end = ReadBuffers.endWithin(region, got);
    if (end >= 0) this.readBuffers.commit(end);
    this.conn.receiveData(got);
    return got.length;
  }

  /** Pulls the Connection's events into the callbacks; false when a callback threw. */
  private deliverEvents(): boolean {
    for (let event = this.conn.nextEvent(); event !== null; event = this.conn.nextEvent()) {
      try {
        this.handle(event);
      } catch {
        return false;
      }
      if (!this._readEnabled) break;
    }
    return true;
  }

  private handle(event: Event): void {
    const callbacks = this.callbacks;
    switch (event.type) {
      case 'frame-start':
        if (event.first) {
          this.messageOpcode = event.opcode;
          this.messageRsv = event.rsv;
        }
        callbacks.onFrameRecvStart?.(this, {
          fin: event.fin,
          rsv: event.rsv,
          opcode: event.first ? event.opcode : Opcode.Continuation,
          payloadLength: event.length,
        });
        if (!this.noBuffering) this.assembler.push(event);
        return;
      case 'frame-data':
        callbacks.onFrameRecvChunk?.(this, { data: event.data });
        if (!this.noBuffering) this.assembler.push(event);
        return;
      case 'frame-end':
        this.dataFrameEnd(event);
        return;
      case 'ping':
        this.takeReply(Opcode.Pong, 0);
        this.controlMessage(Opcode.Ping, event.data, 0);
        return;
      case 'pong':
        this.controlMessage(Opcode.Pong, event.data, 0);
        return;
      case 'close':
        this.closeMessage(event.code, event.reason);
        return;
      case 'fail':
        this._readEnabled = false;
        this.takeReply(Opcode.Close, event.error.closeCode);
        return;
      case 'end':
        return;
    }
  }

  private dataFrameEnd(event: Extract<Event, { type: 'frame-end' }>): void {
    this.callbacks.onFrameRecvEnd?.(this);
    if (!event.fin) return;
    const message = this.noBuffering ? null : this.assembler.push(event);
    this.callbacks.onMsgRecv?.(this, {
      rsv: this.messageRsv,
      opcode: this.messageOpcode,
      msg: message?.data ?? new Uint8Array(0),
      statusCode: 0,
    });
  }

  private closeMessage(code: number, reason: string): void {
    this._closeReceived = true;
    this._statusCodeReceived = code;
    this._readEnabled = false;
    this.takeReply(Opcode.Close, code);
    let payload = new Uint8Array(0);
    if (code !== CloseCode.NoStatusRcvd) {
      const text = utf8Encode(reason);
      payload = new Uint8Array(2 + text.length);
      payload[0] = code >>> 8;
      payload[1] = code & 0xff;
      payload.set(text, 2);
    }
    this.controlMessage(Opcode.Close, payload, code === CloseCode.NoStatusRcvd ? 0 : code);
  }

  /** Control frames arrive whole: the frame callbacks see one start, one chunk, one end, then the message. */
  private controlMessage(opcode: number, payload: Uint8Array, statusCode: number): void {
    const callbacks = this.callbacks;
    const start: OnFrameRecvStartArg = { fin: true, rsv: 0, opcode, payloadLength: payload.length };
    callbacks.onFrameRecvStart?.(this, start);
    callbacks.onFrameRecvChunk?.(this, { data: payload });
    callbacks.onFrameRecvEnd?.(this);
    callbacks.onMsgRecv?.(this, { rsv: 0, opcode, msg: payload, statusCode });
  }

  /**
   * Takes the control frame the Connection wrote in reply to the last event (pong, close echo, failure close),
   * if any, into the control queue. Like wslay's own replies, it is dropped when nothing may be queued.
   */
  private takeReply(opcode: number, statusCode: number): void {
    const { chunks } = this.conn.dataToSend();
    if (chunks.length === 0 || !this.queueable()) return;
    // Control payloads are under 126 bytes: the second header byte holds the length after the mask bit.
    const payloadLength = chunks[0][1] & 0x7f;
    const code = opcode === Opcode.Close && payloadLength === 0 ? CloseCode.NoStatusRcvd : statusCode;
    this.pushControl({ opcode, payloadLength, statusCode: code, bytes: chunks });
  }

  /** wslay: a failing recv callback queues an empty close and disables reading. */
  private failRead(): number {
    this._readEnabled = false;
    if (this.queueable()) this.queueCloseFrame(undefined, '');
    return ErrorCode.CallbackFailure;
  }

  // ── sending ───────────────────────────────────────────────────────────────────────────────────────────

  /** Sends queued frames through the send callback until it would block or nothing is left. */
  send(): number {
    const send = this.callbacks.send;
    if (send === undefined) return ErrorCode.InvalidCallback;
    return this.flush({
      put: (data, more) => {
        this.error = 0;
        let n: number;
        try {
          n = send(this, data, more ? IoFlags.MsgMore : 0);
        } catch {
          return ErrorCode.CallbackFailure;
        }
        if (n >= 0) return n;
        return this.error === ErrorCode.WouldBlock || this.error === 0
          ? ErrorCode.WouldBlock
          : ErrorCode.CallbackFailure;
      },
      full: () => false,
    });
  }

  /**
   * Writes queued frames into `buf` (at least 14 bytes: the largest frame header) and returns how many bytes
   * were written; the next call resumes exactly where this one stopped.
   */
  write(buf: Uint8Array): number {
    if (buf.length < 14) return ErrorCode.InvalidArgument;
    let at = 0;
    const result = this.flush({
      put: (data) => {
        const n = Math.min(buf.length - at, data.length);
        if (n === 0) return ErrorCode.WouldBlock;
        buf.set(n === data.length ? data : data.subarray(0, n), at);
        at += n;
        return n;
      },
      full: () => at === buf.length,
    });
    return result < 0 ? result : at;
  }

  private flush(sink: Sink): number {
    while (this._writeEnabled && !sink.full()) {
      if (this.frame !== null && this.untouchedData(this.frame) && this.control.length > 0) {
        this.parked = this.frame;
        this.frame = null;
      }
      if (this.frame === null) {
        const next = this.nextFrame();
        if (next === false) break;
        if (next !== true) return this.failWrite();
      }
      const put = this.putFrame(this.frame!, sink);
      if (put === ErrorCode.WouldBlock) break;
      if (put < 0) return this.failWrite();
    }
    return 0;
  }

  /** Gives the frame's bytes to the sink; 0 when all are gone, `WouldBlock`, or another ErrorCode. */
  private putFrame(frame: FrameInProgress, sink: Sink): number {
    while (frame.index < frame.chunks.length) {
      const chunk = frame.chunks[frame.index];
      const data = frame.offset === 0 ? chunk : chunk.subarray(frame.offset);
      const more =
        frame.index + 1 < frame.chunks.length ||
        this.control.length > 0 ||
        this.data.length > 0 ||
        (this.message !== null && (frame.control || !frame.last));
      const n = sink.put(data, more);
      if (n < 0) return n;
      if (n === 0) return ErrorCode.WouldBlock;
      if (!Number.isInteger(n) || n > data.length) return ErrorCode.CallbackFailure;
      frame.offset += n;
      if (frame.offset === chunk.length) {
        frame.index++;
        frame.offset = 0;
      }
    }
    this.frame = null;
    frame.done();
    return 0;
  }

  /** Makes the next frame current: true, false when there is nothing to send now, or an ErrorCode. */
  private nextFrame(): boolean | number {
    for (let control = this.control.shift(); control; control = this.control.shift()) {
      // wslay: "If Close control frame is queued, we don't send any control frame other than Close."
      if (this.closeQueued && control.opcode !== Opcode.Close) {
        this.queued(-1, -control.payloadLength);
        continue;
      }
      const done = () => this.controlSent(control);
      this.frame = { chunks: control.bytes, index: 0, offset: 0, control: true, last: true, done };
      return true;
    }
    if (this.parked !== null) {
      this.frame = this.parked;
      this.parked = null;
      return true;
    }
    const message = this.message ?? this.data.shift();
    if (message === undefined) return false;
    this.message = message;
    return message.fragmented ? this.nextFragment(message) : this.wholeMessage(message);
  }

  private wholeMessage(message: Extract<DataMessage, { fragmented: false }>): boolean | number {
    const { opcode, payload, rsv } = message;
    const chunks = this.frameWith(() =>
      opcode === Opcode.Text
        ? this.conn.sendText(payload, true, rsv)
        : this.conn.sendBinary(payload, true, rsv),
    );
    if (typeof chunks === 'number') return chunks;
    this.startFrame(chunks, payload.length, true);
    return true;
  }

  /** One read of the source, one frame: the first carries the opcode, the one with eof has FIN. */
  private nextFragment(message: Extract<DataMessage, { fragmented: true }>): boolean | number {
    const buf = new Uint8Array(FRAGMENT_BUFFER_SIZE);
    let read: ReturnType<FragmentedMsg['readCallback']>;
    try {
      read = message.source.readCallback(this, buf, message.source.source);
    } catch {
      return ErrorCode.CallbackFailure;
    }
    if (read === -1 || typeof read !== 'object') return ErrorCode.CallbackFailure;
    const { length, eof } = read;
    if (!Number.isInteger(length) || length < 0 || length > buf.length) return ErrorCode.CallbackFailure;
    if (length === 0 && !eof) return false;
    const payload = buf.subarray(0, length);
    const first = !message.started;
    // wslay: "RSV1 is not set on continuation frames".
    const rsv = first ? message.rsv : message.rsv & ~Rsv.Rsv1;
    const chunks = this.frameWith(() => {
      if (!first) this.conn.sendContinuation(payload, eof, rsv);
      else if (message.opcode === Opcode.Text) this.conn.sendText(payload, eof, rsv);
      else this.conn.sendBinary(payload, eof, rsv);
    });
    if (typeof chunks === 'number') return chunks;
    message.started = true;
    this.startFrame(chunks, 0, eof);
    return true;
  }

  private startFrame(chunks: Uint8Array[], messageLength: number, last: boolean): void {
    this.frame = {
      chunks,
      index: 0,
      offset: 0,
      control: false,
      last,
      done: () => {
        if (!last) return;
        this.message = null;
        this.queued(-1, -messageLength);
      },
    };
  }

  private controlSent(control: ControlFrame): void {
    this.queued(-1, -control.payloadLength);
    if (control.opcode !== Opcode.Close) return;
    // wslay: after the close frame is sent, nothing more is written.
    this._writeEnabled = false;
    this._closeSent = true;
    this._statusCodeSent = control.statusCode;
  }

  private failWrite(): number {
    this._writeEnabled = false;
    return ErrorCode.CallbackFailure;
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────────────

  private queueable(): boolean {
    return this._writeEnabled && !this.closeQueued;
  }

  private validRsv(rsv: number): boolean {
    return Number.isInteger(rsv) && (rsv & ~this.allowedRsv) === 0;
  }

  private untouchedData(frame: FrameInProgress): boolean {
    return !frame.control && frame.index === 0 && frame.offset === 0;
  }

  private hasData(): boolean {
    return this.message !== null || this.data.length > 0;
  }

  private queued(count: number, length: number): void {
    this._queuedMsgCount += count;
    this._queuedMsgLength += length;
  }

  /** A close message given to `queueMsg`: its payload is a 2-byte code and a UTF-8 reason, or nothing. */
  private queueCloseMsg(payload: Uint8Array): number {
    if (payload.length === 0) return this.queueCloseFrame(undefined, '');
    if (payload.length === 1) return ErrorCode.InvalidArgument;
    const code = (payload[0] << 8) | payload[1];
    if (code === 0) return ErrorCode.InvalidArgument;
    return this.queueClose(code, payload.subarray(2));
  }

  private queueCloseFrame(code: number | undefined, reason: string): number {
    const length = code === undefined ? 0 : 2 + utf8Encode(reason).length;
    return this.queueControl(Opcode.Close, length, code ?? CloseCode.NoStatusRcvd, () =>
      this.conn.sendClose(code, reason),
    );
  }

  private queueControl(opcode: number, payloadLength: number, statusCode: number, write: () => void): number {
    const bytes = this.frameWith(write);
    if (typeof bytes === 'number') return bytes;
    this.pushControl({ opcode, payloadLength, statusCode, bytes });
    return 0;
  }

  private pushControl(control: ControlFrame): void {
    this.control.push(control);
    this.queued(1, control.payloadLength);
    if (control.opcode === Opcode.Close) this.closeQueued = true;
  }

  /** Lets the Connection frame (and mask) one frame, and takes its bytes; or an ErrorCode. */
  private frameWith(write: () => void): Uint8Array[] | number {
    try {
      write();
    } catch (error) {
      if (error === GENMASK_FAILED) return ErrorCode.CallbackFailure;
      if (error instanceof UsageError) return ErrorCode.InvalidArgument;
      throw error;
    }
    return this.conn.dataToSend().chunks;
  }

  private nextMask(): Uint8Array {
    const genmask = this.callbacks.genmask;
    if (genmask === undefined) return defaultRandomMask();
    const key = new Uint8Array(4);
    let result: number;
    try {
      result = genmask(this, key);
    } catch {
      throw GENMASK_FAILED;
    }
    if (result !== 0) throw GENMASK_FAILED;
    return key;
  }
}
