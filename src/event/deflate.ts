/**
 * permessage-deflate for wslay-style programs. As in wslay, the event context does not compress: the application
 * negotiates the extension in its own handshake, calls `ctx.setAllowedRsvBits(Rsv.Rsv1)`, and compresses and
 * decompresses whole messages itself. This helper does that with the core's codec (`DeflateExtension`), so the
 * bytes on the wire are the ones `serve({ perMessageDeflate })` produces:
 *
 *   const codec = createDeflateCodec({ role: 'server' });
 *   ctx.setAllowedRsvBits(Rsv.Rsv1);
 *   const { msg, rsv } = codec.compress(text);           // onMsgRecv: ctx.queueMsgEx({ opcode, msg }, rsv)
 *   const data = codec.decompress(arg);                  // arg of onMsgRecv; a ProtocolError → ctx.queueClose(...)
 *
 * The negotiated parameters come either from `PerMessageDeflate` (core), whose `accept`/`acceptResponse` return a
 * `DeflateExtension` that can be passed here as is, or as `DeflateParams` (defaults: window 15 both ways, context
 * takeover both ways, zlib level 1, memLevel 8, threshold 1024). Messages are compressed whole (one frame), which
 * is what `queueMsgEx` sends.
 */
import { concat } from '../core/bytes.ts';
import { CloseCode, Opcode, Rsv } from '../core/constants.ts';
import { ProtocolError } from '../core/errors.ts';
import { DeflateExtension, type DeflateParams, deflateParams } from '../core/permessage-deflate.ts';
import { isValidUtf8, Utf8Validator } from '../core/utf8.ts';

function invalidText(): ProtocolError {
  return new ProtocolError(
    'INVALID_UTF8',
    CloseCode.InvalidFramePayloadData,
    'permessage-deflate: text is not valid UTF-8',
  );
}

/** wslay's default message limit (2^31 - 1 bytes); a message that inflates past it fails with 1009. */
const DEFAULT_MAX_MESSAGE_SIZE = 2 ** 31 - 1;
const encoder = new TextEncoder();

export interface DeflateCodecOptions extends Partial<DeflateParams> {
  /** Largest decompressed message; beyond it `decompress` returns a ProtocolError with 1009. Default 2^31 - 1. */
  maxMessageSize?: number;
}

export interface DeflateCodec {
  /** Compresses one whole message (below `threshold` bytes it is left alone): pass both to `queueMsgEx`. */
  compress(msg: Uint8Array | string): { msg: Uint8Array; rsv: number };
  /**
   * Decompresses a message from `onMsgRecv` if its RSV1 bit is set, otherwise returns `msg` as is. A text message
   * must then be valid UTF-8. Failures are returned, not thrown: corrupt data or invalid UTF-8 (1007), too large
   * (1009); close the connection with `error.closeCode`.
   */
  decompress(arg: { opcode?: number; rsv: number; msg: Uint8Array }): Uint8Array | ProtocolError;
  /** Frees the zlib contexts (they are created again if the codec is used afterwards). */
  free(): void;
}

export function createDeflateCodec(source: DeflateExtension | DeflateCodecOptions = {}): DeflateCodec {
  const { maxMessageSize: limit = DEFAULT_MAX_MESSAGE_SIZE, ...params } =
    source instanceof DeflateExtension ? {} : source;
  const extension = source instanceof DeflateExtension ? source : new DeflateExtension(deflateParams(params));
  return {
    compress(msg) {
      const bytes = typeof msg === 'string' ? encoder.encode(msg) : msg;
      const { payload, rsv } = extension.encode(bytes, true, true);
      return { msg: payload, rsv };
    },
    decompress({ opcode, rsv, msg }) {
      if ((rsv & Rsv.Rsv1) === 0) return msg;
      const chunks = extension.decode(msg, true, limit);
      if (chunks instanceof ProtocolError) {
        // Past the limit, invalid UTF-8 within it is the first offence (as in the core, however bytes arrive).
        if (opcode === Opcode.Text && chunks.decoded !== undefined) {
          const utf8 = new Utf8Validator();
          if (!chunks.decoded.every((piece) => utf8.push(piece))) return invalidText();
        }
        return chunks;
      }
      const data = concat(chunks);
      if (opcode === Opcode.Text && !isValidUtf8(data)) return invalidText();
      return data;
    },
    free() {
      extension.dispose();
    },
  };
}
