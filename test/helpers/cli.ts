/** Runs the `tslay` command line in a child process and watches what it prints. */
import { type Child, spawnTs, waitFor } from './child.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export type Run = Child;

/** Starts `tslay ARGS`; stdin is a pipe the test may write to, unless `stdin` is 'ignore'. */
export function run(args: string[], stdin: 'pipe' | 'ignore' = 'pipe'): Run {
  return spawnTs([MAIN, ...args], stdin);
}

/** Resolves with the first match of `pattern` in what the command printed; throws if it exits first. */
export const printed: (r: Run, pattern: RegExp) => Promise<RegExpExecArray> = waitFor;

/** Resolves with the URL from the 'listening on URL' line. */
export async function listeningUrl(r: Run): Promise<string> {
  return (await printed(r, /listening on (\S+)\n/))[1];
}
