/**
 * wslay's event-based API over a core `Connection`.
 *
 *   recv callback ──bytes──▶ Connection ──events──▶ onFrameRecv* / onMsgRecv
 *                               │ auto pong, close echo, failure close (taken as control frames)
 *                               ▼
 *   queueMsg/queueClose ──▶ control queue ─┐
 *   queueMsg/queueFragmentedMsg ──▶ data queue ─┴─ one frame at a time ──▶ send callback / write(buf)
 *
 * The context checks what the application asks for and keeps the configuration; `Receiver` (receiver.ts) does
 * the upper row, `Sender` (sender.ts) owns wslay's two queues and the lower row.
 *
 * Protocol decisions (which frames are legal, which close code) are the Connection's; the event layer maps its
 * events and bytes onto wslay's callbacks, queues and integer error codes.
 */
import { utf8Encode } from '../core/bytes.ts';
import { Connection } from '../core/connection.ts';
import { isControl, MAX_CONTROL_PAYLOAD, Opcode, Rsv } from '../core/constants.ts';
import type { Host } from './host.ts';
import { Receiver } from './receiver.ts';
import { maskGenerator, Sender } from './sender.ts';
import { ErrorCode, type EventCallbacks, type EventMsg, type FragmentedMsg } from './types.ts';

/** wslay's default limit: 2^31-1 bytes. */
const DEFAULT_MAX_RECV_MSG_LENGTH = 2 ** 31 - 1;
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

export class EventContext {
  private readonly host: Host;
  private readonly conn: Connection;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private allowedRsv = 0;

  private constructor(role: 'client' | 'server', callbacks: EventCallbacks) {
    this.host = { ctx: this, callbacks: {}, error: 0 };
    this.setCallbacks(callbacks);
    this.conn = new Connection({
      role,
      maxMessageSize: DEFAULT_MAX_RECV_MSG_LENGTH,
      randomMask: maskGenerator(this.host),
    });
    this.sender = new Sender(this.host, this.conn);
    this.receiver = new Receiver(this.host, this.conn, this.sender);
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
    this.receiver.noBuffering = on;
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
    this.host.callbacks = { ...callbacks };
  }

  /** Called by callbacks to report why they returned -1 (`WouldBlock`, `CallbackFailure`). */
  setError(error: number): void {
    this.host.error = error;
  }

  // ── state ─────────────────────────────────────────────────────────────────────────────────────────────

  get readEnabled(): boolean {
    return this.receiver.readEnabled;
  }
  get writeEnabled(): boolean {
    return this.sender.writeEnabled;
  }
  /** A close frame was received. */
  get closeReceived(): boolean {
    return this.receiver.closeReceived;
  }
  /** A close frame was sent completely. */
  get closeSent(): boolean {
    return this.sender.closeSent;
  }
  /** The received close frame's code: 1005 when it had none, 1006 when no close frame was received. */
  get statusCodeReceived(): number {
    return this.receiver.statusCodeReceived;
  }
  /** The sent close frame's code: 1005 when it had none, 1006 when no close frame was sent. */
  get statusCodeSent(): number {
    return this.sender.statusCodeSent;
  }
  /** Messages queued and not completely sent, control frames included. */
  get queuedMsgCount(): number {
    return this.sender.queuedMsgCount;
  }
  /** Payload bytes of the queued messages (fragmented messages count 0). */
  get queuedMsgLength(): number {
    return this.sender.queuedMsgLength;
  }

  wantRead(): boolean {
    return this.receiver.readEnabled;
  }

  wantWrite(): boolean {
    return this.sender.wantWrite();
  }

  shutdownRead(): void {
    this.receiver.shutdown();
  }

  shutdownWrite(): void {
    this.sender.shutdown();
  }

  // ── queueing ──────────────────────────────────────────────────────────────────────────────────────────

  queueMsg(arg: EventMsg): number {
    return this.queueMsgEx(arg, Rsv.None);
  }

  /** Queues a message; its bytes are copied. A close message's payload is its 2-byte code and reason. */
  queueMsgEx(arg: EventMsg, rsv: number): number {
    if (!this.sender.queueable()) return ErrorCode.NoMoreMsg;
    const { opcode } = arg;
    const payload = typeof arg.msg === 'string' ? utf8Encode(arg.msg) : arg.msg.slice();
    if (!this.validRsv(rsv)) return ErrorCode.InvalidArgument;
    if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      this.sender.queueData(opcode, rsv, payload);
      return 0;
    }
    if (!isControl(opcode) || payload.length > MAX_CONTROL_PAYLOAD || rsv !== 0) {
      return ErrorCode.InvalidArgument;
    }
    if (opcode === Opcode.Close) return this.queueCloseMsg(payload);
    if (opcode !== Opcode.Ping && opcode !== Opcode.Pong) return ErrorCode.InvalidArgument;
    return this.sender.queueControl(opcode, payload.length, 0, () =>
      opcode === Opcode.Ping ? this.conn.sendPing(payload) : this.conn.sendPong(payload),
    );
  }

  queueFragmentedMsg(arg: FragmentedMsg): number {
    return this.queueFragmentedMsgEx(arg, Rsv.None);
  }

  /** Queues a message read from `arg.source` by `arg.readCallback`: each read becomes one frame. */
  queueFragmentedMsgEx(arg: FragmentedMsg, rsv: number): number {
    if (typeof arg.readCallback !== 'function') throw new TypeError('readCallback must be a function');
    if (!this.sender.queueable()) return ErrorCode.NoMoreMsg;
    if ((arg.opcode !== Opcode.Text && arg.opcode !== Opcode.Binary) || !this.validRsv(rsv)) {
      return ErrorCode.InvalidArgument;
    }
    this.sender.queueFragmented(arg, rsv);
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
    if (!this.sender.queueable()) return ErrorCode.NoMoreMsg;
    const bytes = typeof reason === 'string' ? utf8Encode(reason) : reason;
    if (bytes.length > MAX_CLOSE_REASON) return ErrorCode.InvalidArgument;
    if (statusCode === 0) return this.sender.queueCloseFrame(undefined, '');
    let text: string;
    try {
      text = typeof reason === 'string' ? reason : strictUtf8.decode(bytes);
    } catch {
      return ErrorCode.InvalidArgument;
    }
    return this.sender.queueCloseFrame(statusCode, text);
  }

  // ── I/O ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Reads until the recv callback would block, delivering every complete frame and message to the callbacks.
   * A protocol error queues a close and returns 0; only a failing callback makes it return < 0.
   */
  recv(): number {
    return this.receiver.recv();
  }

  /** Sends queued frames through the send callback until it would block or nothing is left. */
  send(): number {
    return this.sender.send();
  }

  /**
   * Writes queued frames into `buf` (at least 14 bytes: the largest frame header) and returns how many bytes
   * were written; the next call resumes exactly where this one stopped.
   */
  write(buf: Uint8Array): number {
    return this.sender.write(buf);
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────────────

  private validRsv(rsv: number): boolean {
    return Number.isInteger(rsv) && (rsv & ~this.allowedRsv) === 0;
  }

  /** A close message given to `queueMsg`: its payload is a 2-byte code and a UTF-8 reason, or nothing. */
  private queueCloseMsg(payload: Uint8Array): number {
    if (payload.length === 0) return this.sender.queueCloseFrame(undefined, '');
    if (payload.length === 1) return ErrorCode.InvalidArgument;
    const code = (payload[0] << 8) | payload[1];
    if (code === 0) return ErrorCode.InvalidArgument;
    return this.queueClose(code, payload.subarray(2));
  }
}
