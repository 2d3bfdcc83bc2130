import { EMPTY, utf8Decode, utf8Encode } from './bytes.ts';
import { CloseCode, isValidCloseCode } from './constants.ts';
import { ProtocolError, UsageError } from './errors.ts';
import type { CloseInfo } from './events.ts';
import { isValidUtf8 } from './utf8.ts';

/** RFC 6455 §5.5: control payloads are at most 125 bytes, 2 of which carry the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Reads a received close frame's payload (RFC 6455 §5.5.1). An empty payload means "no status code" (1005);
 * a 1-byte payload or a code that may not be sent is a protocol error (1002); a reason that is not UTF-8 is 1007.
 */
export function parseClosePayload(payload: Uint8Array): CloseInfo | ProtocolError {
  if (payload.length === 0) return { code: CloseCode.NoStatusRcvd, reason: '' };
  if (payload.length === 1) {
    return new ProtocolError('INVALID_CLOSE_PAYLOAD', CloseCode.ProtocolError, 'close payload of 1 byte');
  }
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) {
    return new ProtocolError('INVALID_CLOSE_CODE', CloseCode.ProtocolError, `invalid close code ${code}`);
  }
  const reason = payload.subarray(2);
  if (!isValidUtf8(reason)) {
    return new ProtocolError('INVALID_UTF8', CloseCode.InvalidFramePayloadData, 'close reason is not UTF-8');
  }
  return { code, reason: utf8Decode(reason) };
}

/**
 * Builds a close payload to send. `code` undefined sends an empty payload. Throws `UsageError` for a code that
 * may not appear on the wire (1004-1006, 1015, < 1000, 1016-2999, >= 5000) or a reason over 123 UTF-8 bytes.
 */
export function encodeClosePayload(code?: number, reason = ''): Uint8Array {
  if (code === undefined) {
    if (reason !== '') throw new UsageError('INVALID_CLOSE_REASON', 'a close reason needs a close code');
    return EMPTY;
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new UsageError('INVALID_CLOSE_CODE', `close code ${code} may not be sent (RFC 6455 §7.4)`);
  }
  const text = reason === '' ? EMPTY : utf8Encode(reason);
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    throw new UsageError(
      'INVALID_CLOSE_REASON',
      `close reason is ${text.length} bytes, at most 123 are allowed`,
    );
  }
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}
