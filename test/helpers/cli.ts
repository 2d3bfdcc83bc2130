/** Runs the `tslay` command line in a child process and watches what it prints. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<number | null>;
}

/** Starts `tslay ARGS`; stdin is a pipe the test may write to, unless `stdin` is 'ignore'. */
export function run(args: string[], stdin: 'pipe' | 'ignore' = 'pipe'): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (text: string) => stdout.push(text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => stderr.push(text));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout, stderr, exit };
}

/** Resolves with the first match of `pattern` in what the command printed; throws if it exits first. */
export async function printed(r: Run, pattern: RegExp): Promise<RegExpExecArray> {
  for (;;) {
    const match = pattern.exec(r.stdout.join(''));
    if (match) return match;
    if (r.child.exitCode !== null) throw new Error(`exited early: ${r.stderr.join('')}`);
    await once(r.child.stdout!, 'data');
  }
}

/** Resolves with the URL from the 'listening on URL' line. */
export async function listeningUrl(r: Run): Promise<string> {
  return (await printed(r, /listening on (\S+)\n/))[1];
}
