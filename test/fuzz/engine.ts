/**
 * A coverage-guided fuzzer over V8's own block coverage (the inspector's precise coverage with call counts).
 *
 * Each execution runs a target on one input; afterwards the block counts of the code under test (by default the
 * files under `/src/`) are taken and reset. A feature is a (script, block, bucketed count) triple, the buckets
 * being those of AFL and libFuzzer (1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128+). An input that brings a feature
 * never seen before joins the corpus; new inputs are mutations of corpus entries (bit flips, byte sets,
 * insertions and deletions, copies within the input, splices of two entries, the target's dictionary words and
 * interesting integers). The random source is seeded: the same seed, corpus and code give the same run.
 *
 * A finding is a throw from the target (targets throw when the code under test throws, hangs past its step
 * bound, or disagrees with itself under another feed schedule).
 */
import { Session } from 'node:inspector';
import { seededRandom } from '../helpers/feed.ts';

export interface FuzzTarget {
  name: string;
  /** What the target feeds and checks. */
  description: string;
  /** Starting inputs (well-formed examples the mutator works from). */
  seeds: () => Uint8Array[];
  /** Words the mutator inserts and overwrites with (header names, tokens, frame headers). */
  dictionary?: readonly Uint8Array[];
  /** Largest input the mutator makes. */
  maxLength: number;
  /** Runs one input; throws on a finding. */
  run: (data: Uint8Array) => void;
}

export interface Finding {
  input: Uint8Array;
  message: string;
}

export interface FuzzOptions {
  seed: number;
  /** Stop after this many executions of mutated inputs (deterministic), */
  executions?: number;
  /** or after this many milliseconds (whichever comes first). */
  milliseconds?: number;
  /** Corpus entries besides the target's seeds (saved inputs from earlier runs). */
  corpus?: Uint8Array[];
  /** Which scripts count as code under test (by URL). */
  covers?: (url: string) => boolean;
  /** Stop at the first finding (default true). */
  stopOnFinding?: boolean;
}

export interface FuzzResult {
  executions: number;
  /** Features after the starting corpus, and at the end. */
  initialFeatures: number;
  features: number;
  /** Inputs added to the corpus by this run (each brought a new feature). */
  added: Uint8Array[];
  corpusSize: number;
  findings: Finding[];
  milliseconds: number;
}

const defaultCovers = (url: string) => url.includes('/src/') && !url.includes('/node_modules/');

/** AFL's count buckets. */
function bucket(count: number): number {
  if (count <= 3) return count;
  if (count < 8) return 4;
  if (count < 16) return 5;
  if (count < 32) return 6;
  if (count < 128) return 7;
  return 8;
}

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface ScriptCoverage {
  url: string;
  functions: { ranges: Range[] }[];
}

let session: Session | null = null;

/** One inspector session per process, never stopped: V8 keeps no block counts for code compiled before a restart. */
function coverageSession(): Session {
  if (session === null) {
    session = new Session();
    session.connect();
    post(session, 'Profiler.enable');
    post(session, 'Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }
  return session;
}

/** In-process sessions answer synchronously. */
function post(target: Session, method: string, params?: object): unknown {
  let answer: unknown;
  let failure: Error | null = null;
  let answered = false;
  target.post(method, params, (error, value) => {
    answered = true;
    failure = error;
    answer = value;
  });
  if (!answered) throw new Error(`inspector did not answer ${method} synchronously`);
  if (failure) throw failure;
  return answer;
}

/** In-process precise coverage: `take()` returns the features of everything run since the last call. */
export class Coverage {
  readonly #session = coverageSession();
  readonly #covers: (url: string) => boolean;
  /** Per function, the blocks ever reported with count 0. */
  readonly #uncovered = new Map<string, Map<string, Range>>();

  constructor(covers: (url: string) => boolean = defaultCovers) {
    this.#covers = covers;
  }

  /**
   * Feature keys since the last call; the counters are reset. V8 leaves out a block whose count equals the
   * count of the block around it, so a block that ran is known by its absence: every block once reported with
   * count 0 in a function that ran, and not reported as 0 now, ran (with its enclosing block's count).
   */
  take(): string[] {
    const { result } = post(this.#session, 'Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const features: string[] = [];
    for (const script of result) {
      if (!this.#covers(script.url)) continue;
      for (const fn of script.functions) {
        const head = fn.ranges[0];
        if (head === undefined || head.count === 0) continue;
        const fnKey = `${script.url}:${head.startOffset}:${head.endOffset}`;
        const zeros = new Map<string, Range>();
        for (const range of fn.ranges) {
          const key = `${range.startOffset}:${range.endOffset}`;
          if (range.count === 0) zeros.set(key, range);
          else features.push(`${fnKey}|${key}:${bucket(range.count)}`);
        }
        const known = this.#uncovered.get(fnKey);
        if (known === undefined) {
          this.#uncovered.set(fnKey, new Map(zeros));
          continue;
        }
        // Absent and not inside a block reported as not run (V8 reports nothing within such a block).
        const zeroList = [...zeros.values()];
        for (const [key, range] of known)
          if (
            !zeros.has(key) &&
            !zeroList.some((z) => z.startOffset <= range.startOffset && range.endOffset <= z.endOffset)
          )
            features.push(`${fnKey}|${key}:ran`);
        for (const [key, range] of zeros) known.set(key, range);
      }
    }
    return features;
  }
}

const INTERESTING = [0, 1, 0x7d, 0x7e, 0x7f, 0x80, 0xff, 0x0d, 0x0a, 0x20, 0x3b, 0x3d, 0x2c, 0x22];

class Mutator {
  constructor(
    private readonly random: () => number,
    private readonly dictionary: readonly Uint8Array[],
    private readonly maxLength: number,
  ) {}

  #int(n: number): number {
    return Math.floor(this.random() * n);
  }

  mutate(input: Uint8Array, other: Uint8Array): Uint8Array {
    let bytes = Array.from(input);
    const rounds = 1 + this.#int(this.random() < 0.5 ? 1 : 4);
    for (let r = 0; r < rounds; r++) bytes = this.#once(bytes, other);
    if (bytes.length > this.maxLength) bytes.length = this.maxLength;
    return Uint8Array.from(bytes);
  }

  #once(bytes: number[], other: Uint8Array): number[] {
    const at = bytes.length === 0 ? 0 : this.#int(bytes.length);
    switch (this.#int(bytes.length === 0 ? 1 : 10)) {
      case 0: // insert random bytes
        bytes.splice(at, 0, ...Array.from({ length: 1 + this.#int(4) }, () => this.#int(256)));
        return bytes;
      case 1: // flip a bit
        bytes[at] = bytes[at]! ^ (1 << this.#int(8));
        return bytes;
      case 2: // set a byte
        bytes[at] = this.#int(256);
        return bytes;
      case 3: // an interesting byte
        bytes[at] = INTERESTING[this.#int(INTERESTING.length)]!;
        return bytes;
      case 4: // delete a range
        bytes.splice(at, 1 + this.#int(Math.min(16, bytes.length - at)));
        return bytes;
      case 5: {
        // copy a range elsewhere in the input
        const from = this.#int(bytes.length);
        const piece = bytes.slice(from, from + 1 + this.#int(16));
        bytes.splice(this.#int(bytes.length + 1), 0, ...piece);
        return bytes;
      }
      case 6: {
        // splice with another corpus entry
        const cut = this.#int(other.length + 1);
        return bytes.slice(0, at).concat(Array.from(other.subarray(cut)));
      }
      case 7:
      case 8: {
        // a dictionary word, inserted or overwriting
        if (this.dictionary.length === 0) return bytes;
        const word = Array.from(this.dictionary[this.#int(this.dictionary.length)]!);
        bytes.splice(at, this.random() < 0.5 ? 0 : word.length, ...word);
        return bytes;
      }
      default: // add or subtract a small number
        bytes[at] = (bytes[at]! + (this.random() < 0.5 ? 1 : -1) * (1 + this.#int(8))) & 0xff;
        return bytes;
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Runs one input; returns the finding it makes, or null. */
export function runOne(target: FuzzTarget, input: Uint8Array): Finding | null {
  try {
    target.run(input);
    return null;
  } catch (error) {
    return { input, message: describeError(error) };
  }
}

export function fuzz(target: FuzzTarget, options: FuzzOptions): FuzzResult {
  const started = performance.now();
  const random = seededRandom(options.seed);
  const mutator = new Mutator(random, target.dictionary ?? [], target.maxLength);
  const coverage = new Coverage(options.covers);
  const seen = new Set<string>();
  const corpus: Uint8Array[] = [];
  const added: Uint8Array[] = [];
  const findings: Finding[] = [];
  const stopOnFinding = options.stopOnFinding ?? true;
  const limit = options.executions ?? Number.POSITIVE_INFINITY;
  const deadline = started + (options.milliseconds ?? Number.POSITIVE_INFINITY);

  const execute = (input: Uint8Array): boolean => {
    coverage.take(); // whatever ran in between is not this input's
    const finding = runOne(target, input);
    let fresh = false;
    for (const feature of coverage.take())
      if (!seen.has(feature)) {
        seen.add(feature);
        fresh = true;
      }
    if (finding) findings.push(finding);
    return fresh;
  };

  try {
    for (const input of [...target.seeds(), ...(options.corpus ?? [])]) {
      execute(input);
      corpus.push(input);
    }
    if (corpus.length === 0) corpus.push(new Uint8Array(0));
    const initialFeatures = seen.size;
    let executions = 0;
    while (executions < limit && performance.now() < deadline) {
      if (stopOnFinding && findings.length > 0) break;
      // Half the time the newest entry: what just reached new code is the likeliest to reach further.
      const parent = corpus[random() < 0.5 ? corpus.length - 1 : Math.floor(random() * corpus.length)]!;
      const other = corpus[Math.floor(random() * corpus.length)]!;
      const input = mutator.mutate(parent, other);
      executions++;
      if (execute(input)) {
        corpus.push(input);
        added.push(input);
      }
    }
    return {
      executions,
      initialFeatures,
      features: seen.size,
      added,
      corpusSize: corpus.length,
      findings,
      milliseconds: performance.now() - started,
    };
  } finally {
    coverage.take(); // counts of whatever runs next start from zero
  }
}
