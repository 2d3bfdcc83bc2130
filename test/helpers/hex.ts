/**
 * Annotated byte literals: hex`81 05 48656c6c6f` → Uint8Array. Whitespace is ignored; `// …` comments run to
 * the end of a line. Interpolated values may be strings of hex or Uint8Arrays.
 */
export function hex(strings: TemplateStringsArray, ...values: (string | Uint8Array)[]): Uint8Array {
  let text = '';
  strings.forEach((part, i) => {
    text += part;
    if (i < values.length) {
      const v = values[i];
      text += typeof v === 'string' ? v : Buffer.from(v).toString('hex');
    }
  });
  return fromHex(text);
}

export function fromHex(text: string): Uint8Array {
  const digits = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex literal: ${digits}`);
  return new Uint8Array(Buffer.from(digits, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}
