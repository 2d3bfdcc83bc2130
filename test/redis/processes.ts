/** Child processes of the Redis tests: fixtures run through tsx, their stdout read line by line. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export interface Fixture {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (seen or to come) that `match` accepts. */
  line(match: (line: string) => boolean): Promise<string>;
  send(command: object): void;
  /** Ends it (SIGKILL if it has not exited after `exit`/stdin end within a while) and waits. */
  stop(): Promise<void>;
}

export function fixture(name: string, args: string[], env: Record<string, string>): Fixture {
  const file = fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // A fixture that has finished may exit before its stdin is ended: EPIPE then is expected, not a failure.
  child.stdin!.on('error', () => {});
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  return {
    child,
    lines,
    line(match) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        child.once('exit', (code) =>
          reject(new Error(`${name} exited (${code}); output:\n${lines.join('\n')}`)),
        );
      });
    },
    send(command) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end(`${JSON.stringify({ cmd: 'exit' })}\n`);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export const reports = (f: Fixture) =>
  f.lines
    .filter((l) => l.startsWith('report '))
    .map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>);
