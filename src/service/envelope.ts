/**
 * The backplane envelope: how one published message travels between processes (over Redis, cluster IPC, or
 * anything else that moves bytes on named channels). Compact and binary, so that payloads travel as they are
 * (no base64, no JSON), and simple enough for any language to publish:
 *
 * ```
 * offset  size  field
 * 0       1     version: 1
 * 1       1     opcode: 1 text (payload is UTF-8), 2 binary, 0 probe (internal, no payload meaning)
 * 2       8     origin: the publishing process's random id (any 8 bytes; all zero is "anonymous")
 * 10      8     sequence: unsigned big-endian, per origin and channel, 1, 2, 3, … (below 2^53);
 *               0 means "not sequenced" (no gap detection for this message)
 * 18      …     payload
 * ```
 *
 * A receiver that sees an origin's sequence on a channel jump from n to n + k reports k - 1 lost messages.
 */
import { randomFill } from '../core/platform.ts';

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_HEADER = 18;
export const ORIGIN_BYTES = 8;

export const EnvelopeOpcode = { Probe: 0, Text: 1, Binary: 2 } as const;
export type EnvelopeOpcode = (typeof EnvelopeOpcode)[keyof typeof EnvelopeOpcode];

export interface Envelope {
  opcode: EnvelopeOpcode;
  /** The origin as an 8-character latin1 string (a cheap map key); see `originKey`. */
  origin: string;
  sequence: number;
  /** A view into the bytes given to `decodeEnvelope`. */
  payload: Uint8Array;
}

const TWO_32 = 2 ** 32;

/** A fresh random origin id. */
export function newOrigin(): Uint8Array {
  return randomFill(new Uint8Array(ORIGIN_BYTES));
}

/** The map key of an origin id (8 bytes as latin1). */
export function originKey(origin: Uint8Array): string {
  return Buffer.from(origin.buffer, origin.byteOffset, ORIGIN_BYTES).toString('latin1');
}

/** One buffer: header then a copy of `payload`. */
export function encodeEnvelope(
  opcode: EnvelopeOpcode,
  origin: Uint8Array,
  sequence: number,
  payload: Uint8Array,
): Buffer {
  if (origin.length !== ORIGIN_BYTES) throw new RangeError(`an origin is ${ORIGIN_BYTES} bytes`);
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new RangeError('a sequence number is an integer from 0 to 2^53 - 1');
  }
  const bytes = Buffer.allocUnsafe(ENVELOPE_HEADER + payload.length);
  bytes[0] = ENVELOPE_VERSION;
  bytes[1] = opcode;
  bytes.set(origin, 2);
  bytes.writeUInt32BE(Math.floor(sequence / TWO_32), 10);
  bytes.writeUInt32BE(sequence % TWO_32, 14);
  bytes.set(payload, ENVELOPE_HEADER);
  return bytes;
}

/** Why `decodeEnvelope` refused some bytes. */
export type EnvelopeProblem = 'short' | 'version' | 'opcode' | 'sequence';

/** The envelope in `bytes`, or what is wrong with them. Never throws. */
export function decodeEnvelope(bytes: Uint8Array): Envelope | EnvelopeProblem {
  if (bytes.length < ENVELOPE_HEADER) return 'short';
  if (bytes[0] !== ENVELOPE_VERSION) return 'version';
  const opcode = bytes[1]!;
  if (opcode > EnvelopeOpcode.Binary) return 'opcode';
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const high = view.readUInt32BE(10);
  if (high >= 2 ** 21) return 'sequence';
  return {
    opcode: opcode as EnvelopeOpcode,
    origin: view.toString('latin1', 2, 2 + ORIGIN_BYTES),
    sequence: high * TWO_32 + view.readUInt32BE(14),
    payload: view.subarray(ENVELOPE_HEADER),
  };
}
