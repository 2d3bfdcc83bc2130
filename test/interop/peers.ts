/** Independent peers for interop tests: Python `websockets` processes and headless Chromium. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { seededRandom } from '../helpers/feed.ts';

/** Debian's python3 (the one with python3-websockets), not whatever `python3` is first on PATH. */
export const PYTHON = '/usr/bin/python3';
const PY_PEER = new URL('./peers/py_peer.py', import.meta.url).pathname;

export function pythonWebsocketsAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import websockets'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Per-test limit: a peer that hangs fails its test instead of the whole run (no test comes near it). */
export const PEER_TIMEOUT = 60_000;

/** The payload of the standard exchange's ping and the reason of its close (code 1000). */
export const PING_PAYLOAD = 'ping-payload';
export const CLOSE_REASON = 'done here';
/** The standard messages before the burst: sent one at a time, each echo awaited (the rest go in one burst). */
export const SINGLE_MESSAGES = 4;

/**
 * The standard exchange: every peer pair sends these and expects each back unchanged, with its type: "hello",
 * an empty binary message, 70,000 random bytes, 1 MiB of 1- to 4-byte UTF-8, then a burst of 100 small texts.
 * py_peer.py builds the same list from the same seed.
 */
export function standardMessages(seed: number): (string | Uint8Array)[] {
  const random = seededRandom(seed);
  const bytes = new Uint8Array(70_000).map(() => Math.floor(random() * 256));
  const alphabet = ['a', 'é', '€', '😀', 'z'];
  let text = '';
  while (Buffer.byteLength(text) < 1 << 20) {
    let chunk = '';
    for (let i = 0; i < 4096; i++) chunk += alphabet[Math.floor(random() * alphabet.length)];
    text += chunk;
  }
  const burst = Array.from({ length: 100 }, (_, i) => `burst ${i}`);
  return ['hello', new Uint8Array(0), bytes, text, ...burst];
}

/** A Python peer process whose stdout is JSON lines. */
export class PythonPeer {
  readonly process: ChildProcess;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  constructor(args: string[]) {
    this.process = spawn(PYTHON, [PY_PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stderr!.on('data', (d) => {
      this.stderr += d;
    });
    this.lines = createInterface({ input: this.process.stdout! })[Symbol.asyncIterator]();
  }

  async nextJson(): Promise<Record<string, unknown>> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`python peer exited without output; stderr:\n${this.stderr}`);
    return JSON.parse(value);
  }

  async exit(): Promise<number | null> {
    if (this.process.exitCode !== null) return this.process.exitCode;
    return new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }

  kill(): void {
    if (this.process.exitCode === null) this.process.kill('SIGKILL');
  }
}

export { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../helpers/chromium.ts';
