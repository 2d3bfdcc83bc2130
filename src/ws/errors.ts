/**
 * The errors of tslay/ws, in ws's shapes: a peer's violation becomes the `RangeError` or `Error` that ws emits,
 * with ws's `code` (`WS_ERR_*`) and message, and the close code we sent as `closeCode`.
 */
import { Rsv } from '../core/constants.ts';
import type { ProtocolError } from '../core/errors.ts';

/** An error of the `'error'` event: ws's class, code and message. */
export type WsError = (RangeError | Error) & { code: string; closeCode: number; cause?: unknown };

function make(Ctor: typeof Error, message: string, code: string, closeCode: number, cause: unknown): WsError {
  const error = new Ctor(message, { cause }) as WsError;
  error.code = code;
  error.closeCode = closeCode;
  return error;
}

/** The number in a core message (`reserved opcode 3`, `control frame of 126 bytes`), as ws's messages name it. */
function numberIn(message: string): number {
  const match = /\d+/.exec(message);
  return match === null ? Number.NaN : Number(match[0]);
}

const FRAME = 'Invalid WebSocket frame: ';

/**
 * ws's error for a core `ProtocolError`, or null for an end of input without a close frame (ws reports that with
 * close code 1006 alone, no 'error').
 */
export function wsProtocolError(error: ProtocolError): WsError | null {
  const close = error.closeCode;
  switch (error.code) {
    case 'RESERVED_OPCODE':
      return make(
        RangeError,
        `${FRAME}invalid opcode ${numberIn(error.message)}`,
        'WS_ERR_INVALID_OPCODE',
        close,
        error,
      );
    case 'UNEXPECTED_CONTINUATION':
      return make(RangeError, `${FRAME}invalid opcode 0`, 'WS_ERR_INVALID_OPCODE', close, error);
    case 'EXPECTED_CONTINUATION':
      return make(
        RangeError,
        `${FRAME}invalid opcode ${numberIn(error.message)}`,
        'WS_ERR_INVALID_OPCODE',
        close,
        error,
      );
    case 'RESERVED_BITS': {
      const rsv = numberIn(error.message);
      return (rsv & (Rsv.Rsv2 | Rsv.Rsv3)) !== 0
        ? make(RangeError, `${FRAME}RSV2 and RSV3 must be clear`, 'WS_ERR_UNEXPECTED_RSV_2_3', close, error)
        : make(RangeError, `${FRAME}RSV1 must be clear`, 'WS_ERR_UNEXPECTED_RSV_1', close, error);
    }
    case 'FRAGMENTED_CONTROL':
      return make(RangeError, `${FRAME}FIN must be set`, 'WS_ERR_EXPECTED_FIN', close, error);
    case 'CONTROL_TOO_LONG':
      return make(
        RangeError,
        `${FRAME}invalid payload length ${numberIn(error.message)}`,
        'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        close,
        error,
      );
    case 'INVALID_CLOSE_PAYLOAD':
      return make(
        RangeError,
        `${FRAME}invalid payload length 1`,
        'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        close,
        error,
      );
    case 'UNMASKED_FRAME':
      return make(RangeError, `${FRAME}MASK must be set`, 'WS_ERR_EXPECTED_MASK', close, error);
    case 'MASKED_FRAME':
      return make(RangeError, `${FRAME}MASK must be clear`, 'WS_ERR_UNEXPECTED_MASK', close, error);
    case 'PAYLOAD_TOO_LONG':
      return make(
        RangeError,
        'Unsupported WebSocket frame: payload length > 2^53 - 1',
        'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
        close,
        error,
      );
    case 'INVALID_CLOSE_CODE':
      return make(
        RangeError,
        `${FRAME}invalid status code ${numberIn(error.message)}`,
        'WS_ERR_INVALID_CLOSE_CODE',
        close,
        error,
      );
    case 'INVALID_UTF8':
      return make(Error, `${FRAME}invalid UTF-8 sequence`, 'WS_ERR_INVALID_UTF8', close, error);
    case 'MESSAGE_TOO_BIG':
      return make(RangeError, 'Max payload size exceeded', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', close, error);
    case 'UNEXPECTED_EOF':
      return null;
    default:
      // A permessage-deflate failure: ws passes zlib's error on, with 1007 (or 1009 past maxPayload).
      if (close === 1009) {
        return make(
          RangeError,
          'Max payload size exceeded',
          'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
          close,
          error,
        );
      }
      // NON_MINIMAL_LENGTH, DATA_AFTER_CLOSE and extension errors have no ws code of their own.
      return make(RangeError, `${FRAME}${error.message}`, `WS_ERR_${error.code}`, close, error);
  }
}
