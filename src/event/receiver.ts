/**
 * The receiving half of an `EventContext`: reads through the recv callback into the Connection and maps its
 * events onto wslay's frame and message callbacks. The replies the Connection writes (pong, close echo,
 * failure close) go to the sender's control queue.
 */
import { MessageAssembler } from '../core/assembler.ts';
import { utf8Encode } from '../core/bytes.ts';
import type { Connection } from '../core/connection.ts';
import { CloseCode, Opcode } from '../core/constants.ts';
import type { Event } from '../core/events.ts';
import type { Host } from './host.ts';
import { ReadBuffers } from './read-buffers.ts';
import type { Sender } from './sender.ts';
import { ErrorCode, type OnFrameRecvStartArg } from './types.ts';

export class Receiver {
  private readonly host: Host;
  private readonly conn: Connection;
  private readonly sender: Sender;
  private readonly readBuffers = new ReadBuffers();
  private readonly assembler = new MessageAssembler();
  private _readEnabled = true;
  private _closeReceived = false;
  private _statusCodeReceived: number = CloseCode.AbnormalClosure;
  /** Data frames reach the application only through the frame callbacks (`setNoBuffering`). */
  noBuffering = false;
  // The message being received: its first frame's opcode and RSV bits.
  private messageOpcode: number = Opcode.Text;
  private messageRsv = 0;

  constructor(host: Host, conn: Connection, sender: Sender) {
    this.host = host;
    this.conn = conn;
    this.sender = sender;
  }

  get readEnabled(): boolean {
    return this._readEnabled;
  }
  get closeReceived(): boolean {
    return this._closeReceived;
  }
  get statusCodeReceived(): number {
    return this._statusCodeReceived;
  }

  shutdown(): void {
    this._readEnabled = false;
  }

  /**
   * Reads until the recv callback would block, delivering every complete frame and message to the callbacks.
   * A protocol error queues a close and returns 0; only a failing callback makes it return < 0.
   */
  recv(): number {
    if (this.host.callbacks.recv === undefined) return ErrorCode.InvalidCallback;
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
    const { host } = this;
    const region = this.readBuffers.next();
    host.error = 0;
    let got: number | Uint8Array;
    try {
      got = host.callbacks.recv!(host.ctx, region, 0);
    } catch {
      return -1;
    }
    if (typeof got === 'number') {
      if (got < 0) return host.error === ErrorCode.WouldBlock || host.error === 0 ? 0 : -1;
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
    const { ctx, callbacks } = this.host;
    switch (event.type) {
      case 'frame-start':
        if (event.first) {
          this.messageOpcode = event.opcode;
          this.messageRsv = event.rsv;
        }
        callbacks.onFrameRecvStart?.(ctx, {
          fin: event.fin,
          rsv: event.rsv,
          opcode: event.first ? event.opcode : Opcode.Continuation,
          payloadLength: event.length,
        });
        if (!this.noBuffering) this.assembler.push(event);
        return;
      case 'frame-data':
        callbacks.onFrameRecvChunk?.(ctx, { data: event.data });
        if (!this.noBuffering) this.assembler.push(event);
        return;
      case 'frame-end':
        this.dataFrameEnd(event);
        return;
      case 'ping':
        this.sender.takeReply(Opcode.Pong, 0);
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
        this.sender.takeReply(Opcode.Close, event.error.closeCode);
        return;
      case 'end':
        return;
    }
  }

  private dataFrameEnd(event: Extract<Event, { type: 'frame-end' }>): void {
    const { host } = this;
    host.callbacks.onFrameRecvEnd?.(host.ctx);
    if (!event.fin) return;
    const message = this.noBuffering ? null : this.assembler.push(event);
    host.callbacks.onMsgRecv?.(host.ctx, {
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
    this.sender.takeReply(Opcode.Close, code);
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
    const { ctx, callbacks } = this.host;
    const start: OnFrameRecvStartArg = { fin: true, rsv: 0, opcode, payloadLength: payload.length };
    callbacks.onFrameRecvStart?.(ctx, start);
    callbacks.onFrameRecvChunk?.(ctx, { data: payload });
    callbacks.onFrameRecvEnd?.(ctx);
    callbacks.onMsgRecv?.(ctx, { rsv: 0, opcode, msg: payload, statusCode });
  }

  /** wslay: a failing recv callback queues an empty close and disables reading. */
  private failRead(): number {
    this._readEnabled = false;
    if (this.sender.queueable()) this.sender.queueCloseFrame(undefined, '');
    return ErrorCode.CallbackFailure;
  }
}
