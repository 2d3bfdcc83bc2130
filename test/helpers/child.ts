/** A TypeScript entry point run in a node child process (through tsx), with what it prints collected as it comes. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface Child {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** The exit code (null when a signal ended it). */
  exit: Promise<number | null>;
}

/** Starts `node --import tsx ARGS`; stdin is a pipe the test may write to, unless `stdin` is 'ignore'. */
export function spawnTs(args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: [stdin, 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (text: string) => stdout.push(text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => stderr.push(text));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout, stderr, exit };
}

/** Resolves with the first match of `pattern` in what the child printed; throws if it exits first. */
export async function waitFor(c: Child, pattern: RegExp): Promise<RegExpExecArray> {
  for (;;) {
    const match = pattern.exec(c.stdout.join(''));
    if (match) return match;
    if (c.child.exitCode !== null) throw new Error(`exited early: ${c.stdout.join('')}${c.stderr.join('')}`);
    await once(c.child.stdout!, 'data');
  }
}
