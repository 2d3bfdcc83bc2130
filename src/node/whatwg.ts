/**
 * `BrowserWebSocket`: the WHATWG WebSocket interface (https://websockets.spec.whatwg.org/) over `connect()`, for
 * code written against the browser API. Named apart from the Node `WebSocket` handle so both can be imported.
 * Differences from a browser: `binaryType` also takes 'nodebuffer'; `send()` does not take a Blob; a third
 * constructor argument passes `connect()` options (headers, TLS, limits).
 */
import { isToken } from '../core/http1.ts';
import { type ConnectOptions, connect, parseWebSocketUrl } from './client.ts';
import { ReadyState, type WebSocket } from './websocket.ts';

export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** The 'close' event (not a global in Node 20). */
export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

type HandlerName = 'open' | 'message' | 'close' | 'error';
type Handler = ((this: BrowserWebSocket, event: Event) => unknown) | null;

const MAX_REASON_BYTES = 123;

export class BrowserWebSocket extends EventTarget {
  static readonly CONNECTING = ReadyState.CONNECTING;
  static readonly OPEN = ReadyState.OPEN;
  static readonly CLOSING = ReadyState.CLOSING;
  static readonly CLOSED = ReadyState.CLOSED;
  readonly CONNECTING = ReadyState.CONNECTING;
  readonly OPEN = ReadyState.OPEN;
  readonly CLOSING = ReadyState.CLOSING;
  readonly CLOSED = ReadyState.CLOSED;

  readonly url: string;
  private ws: WebSocket | null = null;
  private state: ReadyState = ReadyState.CONNECTING;
  private _protocol = '';
  private _extensions = '';
  private _binaryType: BinaryType = 'blob';
  /** Bytes given to `send()` after closing started: the spec counts them, nothing sends them. */
  private discarded = 0;
  private readonly abort = new AbortController();
  private readonly origin: string;
  private readonly handlers: Record<HandlerName, Handler> = {
    open: null,
    message: null,
    close: null,
    error: null,
  };

  constructor(url: string | URL, protocols: string | readonly string[] = [], options: ConnectOptions = {}) {
    super();
    let parsed: URL;
    try {
      parsed = parseWebSocketUrl(url);
    } catch (error) {
      throw new DOMException((error as Error).message, 'SyntaxError');
    }
    if (parsed.hash !== '') throw new DOMException('a WebSocket URL has no fragment', 'SyntaxError');
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      parsed.protocol = parsed.protocol === 'http:' ? 'ws:' : 'wss:';
    }
    const list = typeof protocols === 'string' ? [protocols] : [...protocols];
    if (new Set(list).size !== list.length || !list.every(isToken)) {
      throw new DOMException(`invalid subprotocol list: ${JSON.stringify(list)}`, 'SyntaxError');
    }
    this.url = parsed.href;
    this.origin = parsed.origin;
    connect(parsed, { ...options, protocols: list, signal: this.abort.signal }).then(
      this.opened,
      this.failed,
    );
  }

  get readyState(): ReadyState {
    if (this.ws === null || this.state !== ReadyState.OPEN) return this.state;
    return this.ws.readyState;
  }
  get bufferedAmount(): number {
    return (this.ws?.bufferedAmount ?? 0) + this.discarded;
  }
  get protocol(): string {
    return this._protocol;
  }
  get extensions(): string {
    return this._extensions;
  }
  get binaryType(): BinaryType {
    return this._binaryType;
  }
  set binaryType(type: BinaryType) {
    if (type === 'blob' || type === 'arraybuffer' || type === 'nodebuffer') this._binaryType = type;
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.state === ReadyState.CONNECTING) {
      throw new DOMException('the connection is not open yet', 'InvalidStateError');
    }
    const ws = this.ws;
    if (ws === null || ws.readyState !== ReadyState.OPEN) {
      this.discarded += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      return;
    }
    ws.send(data);
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(`close code ${code} is not 1000 or 3000-4999`, 'InvalidAccessError');
    }
    if (reason !== undefined && Buffer.byteLength(reason) > MAX_REASON_BYTES) {
      throw new DOMException('close reason is longer than 123 bytes', 'SyntaxError');
    }
    const state = this.readyState;
    if (state === ReadyState.CLOSING || state === ReadyState.CLOSED) return;
    if (state === ReadyState.CONNECTING) {
      // "Fail the WebSocket connection": the handshake is abandoned; 'error' and 'close' (1006) follow.
      this.state = ReadyState.CLOSING;
      this.abort.abort();
      return;
    }
    this.ws!.close(code, code === undefined ? '' : (reason ?? ''));
  }

  get onopen(): Handler {
    return this.handlers.open;
  }
  set onopen(handler: Handler) {
    this.setHandler('open', handler);
  }
  get onmessage(): Handler {
    return this.handlers.message;
  }
  set onmessage(handler: Handler) {
    this.setHandler('message', handler);
  }
  get onclose(): Handler {
    return this.handlers.close;
  }
  set onclose(handler: Handler) {
    this.setHandler('close', handler);
  }
  get onerror(): Handler {
    return this.handlers.error;
  }
  set onerror(handler: Handler) {
    this.setHandler('error', handler);
  }

  private setHandler(name: HandlerName, handler: Handler): void {
    if (this.handlers[name] === null && typeof handler === 'function') {
      this.addEventListener(name, this.callHandler);
    } else if (typeof handler !== 'function') {
      this.removeEventListener(name, this.callHandler);
    }
    this.handlers[name] = typeof handler === 'function' ? handler : null;
  }

  private readonly callHandler = (event: Event): void => {
    this.handlers[event.type as HandlerName]?.call(this, event);
  };

  private readonly opened = (ws: WebSocket): void => {
    if (this.state !== ReadyState.CONNECTING) {
      ws.terminate();
      return;
    }
    this.ws = ws;
    this.state = ReadyState.OPEN;
    this._protocol = ws.protocol;
    this._extensions = ws.extensions;
    ws.on('message', this.received);
    ws.on('error', this.errored);
    ws.on('close', this.closed);
    this.dispatchEvent(new Event('open'));
  };

  private readonly failed = (): void => {
    this.state = ReadyState.CLOSED;
    this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new CloseEvent('close', { code: 1006, reason: '', wasClean: false }));
  };

  private readonly received = (data: Buffer, isBinary: boolean): void => {
    this.dispatchEvent(
      new MessageEvent('message', { data: this.messageData(data, isBinary), origin: this.origin }),
    );
  };

  private messageData(data: Buffer, isBinary: boolean): string | ArrayBuffer | Blob | Buffer {
    if (!isBinary) return data.toString('utf8');
    switch (this._binaryType) {
      case 'nodebuffer':
        return data;
      case 'arraybuffer':
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      default:
        return new Blob([data]);
    }
  }

  private readonly errored = (): void => {
    this.dispatchEvent(new Event('error'));
  };

  private readonly closed = (code: number, reason: string, wasClean: boolean): void => {
    this.state = ReadyState.CLOSED;
    this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
  };
}
