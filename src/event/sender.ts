/**
 * The sending half of an `EventContext`: wslay's control and data queues, and the frame being sent.
 *
 * A data frame is handed to the Connection (which frames and masks it) only when it is about to be sent; its
 * bytes are kept until the send callback has taken all of them, so sending resumes at any byte. Control frames
 * are framed when queued: the Connection then knows a close is on its way and stops answering pings and closes
 * itself, exactly as wslay stops queueing them. Control frames go first, also between the frames of a
 * fragmented message, never inside a frame.
 */
import { utf8Encode } from '../core/bytes.ts';
import type { Connection } from '../core/connection.ts';
import { CloseCode, Opcode, Rsv } from '../core/constants.ts';
import { UsageError } from '../core/errors.ts';
import { defaultRandomMask } from '../core/platform.ts';
import type { Host } from './host.ts';
import { ErrorCode, type FragmentedMsg, IoFlags } from './types.ts';

/** wslay reads a fragmented message's source into a buffer of this size: one read, one frame. */
const FRAGMENT_BUFFER_SIZE = 4096;

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

/** The Connection's mask generator: the genmask callback when there is one, else crypto-strong random bytes. */
export function maskGenerator(host: Host): () => Uint8Array {
  return () => {
    const genmask = host.callbacks.genmask;
    if (genmask === undefined) return defaultRandomMask();
    const key = new Uint8Array(4);
    let result: number;
    try {
      result = genmask(host.ctx, key);
    } catch {
      throw GENMASK_FAILED;
    }
    if (result !== 0) throw GENMASK_FAILED;
    return key;
  };
}

export class Sender {
  private readonly host: Host;
  private readonly conn: Connection;
  private _writeEnabled = true;
  private closeQueued = false;
  private _closeSent = false;
  private _statusCodeSent: number = CloseCode.AbnormalClosure;
  private readonly control: ControlFrame[] = [];
  private readonly data: DataMessage[] = [];
  private message: DataMessage | null = null;
  private frame: FrameInProgress | null = null;
  /** A data frame made before a control frame was queued, none of it sent yet: the control frame goes first. */
  private parked: FrameInProgress | null = null;
  private _queuedMsgCount = 0;
  private _queuedMsgLength = 0;

  constructor(host: Host, conn: Connection) {
    this.host = host;
    this.conn = conn;
  }

  // ── state ─────────────────────────────────────────────────────────────────────────────────────────────

  get writeEnabled(): boolean {
    return this._writeEnabled;
  }
  get closeSent(): boolean {
    return this._closeSent;
  }
  get statusCodeSent(): number {
    return this._statusCodeSent;
  }
  get queuedMsgCount(): number {
    return this._queuedMsgCount;
  }
  get queuedMsgLength(): number {
    return this._queuedMsgLength;
  }

  wantWrite(): boolean {
    return (
      this._writeEnabled &&
      (this.frame !== null || this.parked !== null || this.control.length > 0 || this.hasData())
    );
  }

  shutdown(): void {
    this._writeEnabled = false;
  }

  /** Whether a message may still be queued: writing is enabled and no close is queued. */
  queueable(): boolean {
    return this._writeEnabled && !this.closeQueued;
  }

  // ── queueing ──────────────────────────────────────────────────────────────────────────────────────────

  queueData(opcode: number, rsv: number, payload: Uint8Array): void {
    this.data.push({ fragmented: false, opcode, rsv, payload });
    this.queued(1, payload.length);
  }

  queueFragmented(source: FragmentedMsg, rsv: number): void {
    this.data.push({ fragmented: true, opcode: source.opcode, rsv, source, started: false });
    this.queued(1, 0);
  }

  /** Queues a close frame: `code` undefined sends an empty payload. */
  queueCloseFrame(code: number | undefined, reason: string): number {
    const length = code === undefined ? 0 : 2 + utf8Encode(reason).length;
    return this.queueControl(Opcode.Close, length, code ?? CloseCode.NoStatusRcvd, () =>
      this.conn.sendClose(code, reason),
    );
  }

  /** Queues the control frame that `write` makes the Connection frame; 0 or an ErrorCode. */
  queueControl(opcode: number, payloadLength: number, statusCode: number, write: () => void): number {
    const bytes = this.frameWith(write);
    if (typeof bytes === 'number') return bytes;
    this.pushControl({ opcode, payloadLength, statusCode, bytes });
    return 0;
  }

  /**
   * Takes the control frame the Connection wrote in reply to the last event (pong, close echo, failure close),
   * if any, into the control queue. Like wslay's own replies, it is dropped when nothing may be queued.
   */
  takeReply(opcode: number, statusCode: number): void {
    const { chunks } = this.conn.dataToSend();
    if (chunks.length === 0 || !this.queueable()) return;
    // Control payloads are under 126 bytes: the second header byte holds the length after the mask bit.
    const payloadLength = chunks[0][1] & 0x7f;
    const code = opcode === Opcode.Close && payloadLength === 0 ? CloseCode.NoStatusRcvd : statusCode;
    this.pushControl({ opcode, payloadLength, statusCode: code, bytes: chunks });
  }

  // ── sending ───────────────────────────────────────────────────────────────────────────────────────────

  /** Sends queued frames through the send callback until it would block or nothing is left. */
  send(): number {
    const { host } = this;
    const send = host.callbacks.send;
    if (send === undefined) return ErrorCode.InvalidCallback;
    return this.flush({
      put: (data, more) => {
        host.error = 0;
        let n: number;
        try {
          n = send(host.ctx, data, more ? IoFlags.MsgMore : 0);
        } catch {
          return ErrorCode.CallbackFailure;
        }
        if (n >= 0) return n;
        return host.error === ErrorCode.WouldBlock || host.error === 0
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
      read = message.source.readCallback(this.host.ctx, buf, message.source.source);
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
}
