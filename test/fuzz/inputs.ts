import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Saved inputs: one per line, in hex (empty lines and lines starting with # are skipped). */
export function loadInputs(file: string): Uint8Array[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'latin1')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => new Uint8Array(Buffer.from(line, 'hex')));
}

export function saveInputs(file: string, inputs: readonly Uint8Array[]): void {
  if (inputs.length === 0) return;
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, inputs.map((input) => `${Buffer.from(input).toString('hex')}\n`).join(''));
}
