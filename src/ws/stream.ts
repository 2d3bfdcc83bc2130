/**
 * `createWebSocketStream(ws, options)`: a `Duplex` over a WebSocket, behaving as ws's function of that name.
 *
 * - Reading: each message is pushed as it arrives, a Buffer (a string for a text message when the options ask
 *   for `readableObjectMode`). When `push()` reports a full buffer the WebSocket is paused; `_read()` resumes
 *   it. The WebSocket's 'close' ends the readable side.
 * - Writing: each chunk is sent as one message (a Buffer chunk as a binary message), after 'open' if the
 *   WebSocket is still connecting. `end()` closes the WebSocket once every chunk is sent; 'finish' follows
 *   the WebSocket's 'close'.
 * - Lifetime: `autoDestroy` and `emitClose` are off; the duplex destroys itself when both sides are done, or
 *   on an error, and emits 'close' only after the WebSocket has closed. `destroy()` terminates the WebSocket.
 *   The first 'error' of the WebSocket destroys the duplex with that error.
 *
 * `objectMode` and `writableObjectMode` in the options are overridden to false, as ws does;
 * `readableObjectMode` is kept, so message boundaries can be preserved on the readable side only.
 */
import { Duplex, type DuplexOptions } from 'node:stream';

/** WHATWG `readyState` values (the same numbers in ws and every WebSocket). */
const CONNECTING = 0;
const CLOSED = 3;

/** What a 'message' event carries for a binary message, by `binaryType`; text messages are Buffers. */
export type StreamMessageData = Buffer | ArrayBuffer | Buffer[];

/**
 * What `createWebSocketStream` needs of a WebSocket: a subset of ws's public `WebSocket` API, so a ws
 * `WebSocket` fits as it is.
 */
export interface StreamableWebSocket {
  /** WHATWG readyState: 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  readonly readyState: number;
  /** True between `pause()` and `resume()`. */
  readonly isPaused: boolean;
  /**
   * Sends one message: binary for a Buffer, text for a string (a string chunk reaches here only with
   * `decodeStrings: false`). `callback` runs once the message is written, or with the error if it cannot be.
   */
  send(data: Buffer | string, callback: (error?: Error | null) => void): void;
  /** Starts the closing handshake (without a code: the peer sees 1005). 'close' follows. */
  close(): void;
  /** Destroys the connection without a closing handshake. 'close' follows. */
  terminate(): void;
  /** Stops reading from the peer: no 'message' until `resume()`. */
  pause(): void;
  /** Undoes `pause()`. */
  resume(): void;
  /** Each message, with whether it was binary. */
  on(event: 'message', listener: (data: StreamMessageData, isBinary: boolean) => void): unknown;
  /** 'open' once the handshake completes; 'close' once the connection has closed (after any 'error'). */
  once(event: 'open' | 'close', listener: () => void): unknown;
  /** A failure; the WebSocket closes itself after it (sending a close frame if it can). */
  once(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * The listener of the duplex's 'error': destroys the duplex (so the WebSocket is terminated; the stream's
 * own errors are not auto-destroyed, `autoDestroy` being off), and when nobody else listens re-emits the
 * error so that it throws as an unhandled 'error' would.
 */
function duplexOnError(this: Duplex, error: Error): void {
  this.removeListener('error', duplexOnError);
  this.destroy();
  if (this.listenerCount('error') === 0) this.emit('error', error);
}

/** Wraps `ws` in a `Duplex`; `options` go to the `Duplex` constructor, less the overrides above. */
export function createWebSocketStream(ws: StreamableWebSocket, options?: DuplexOptions): Duplex {
  // An 'error' from the WebSocket means it is already closing itself: a protocol error sends a close frame
  // that terminating would cut off, and a failed handshake has no connection to terminate.
  let terminateOnDestroy = true;

  const destroyWhenDone = () => {
    if (!duplex.destroyed && duplex.readableEnded && duplex.writableFinished) duplex.destroy();
  };

  const emitCloseAfterTick = () => process.nextTick(() => duplex.emit('close'));

  const final = (callback: (error?: Error | null) => void): void => {
    if (ws.readyState === CONNECTING) {
      ws.once('open', () => final(callback));
      return;
    }
    if (ws.readyState === CLOSED) {
      callback();
      return;
    }
    // ws's public events have no "our side of the TCP connection is finished", so 'finish' waits for
    // 'close'. A failed handshake never gets there: its 'error' destroys the duplex first.
    ws.once('close', () => callback());
    ws.close();
  };

  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer | string, _encoding, callback) {
      if (ws.readyState === CONNECTING) ws.once('open', () => ws.send(chunk, callback));
      else ws.send(chunk, callback);
    },
    final,
    destroy(error, callback) {
      if (ws.readyState === CLOSED) {
        callback(error);
        emitCloseAfterTick();
        return;
      }
      // The WebSocket's own error, if one comes while it closes, is the one reported.
      let called = false;
      ws.once('error', (wsError) => {
        called = true;
        callback(wsError);
      });
      ws.once('close', () => {
        if (!called) callback(error);
        emitCloseAfterTick();
      });
      if (terminateOnDestroy) ws.terminate();
    },
  });

  ws.on('message', (data, isBinary) => {
    const chunk = !isBinary && duplex.readableObjectMode ? data.toString() : data;
    if (!duplex.push(chunk)) ws.pause();
  });
  ws.once('error', (error) => {
    if (duplex.destroyed) return;
    terminateOnDestroy = false;
    duplex.destroy(error);
  });
  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  duplex.on('end', destroyWhenDone);
  duplex.on('finish', destroyWhenDone);
  duplex.on('error', duplexOnError);
  return duplex;
}
