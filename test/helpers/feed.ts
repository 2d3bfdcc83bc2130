/**
 * Feed schedules: the same bytes delivered whole, one byte at a time, split in two at every position, and in
 * seeded random pieces. Every byte-level test runs under all of them (wslay's `feedseq`).
 */

/** A schedule returns the piece lengths for `n` bytes. */
export interface Schedule {
  name: string;
  split(n: number): number[];
}

/** Mulberry32: small, fast, seedable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The test seed: TSLAY_SEED from the environment, or a fixed default; printed by tests on failure. */
export const SEED = Number(process.env.TSLAY_SEED ?? 0x5eed);

export const whole: Schedule = { name: 'whole', split: (n) => (n === 0 ? [] : [n]) };
export const byteByByte: Schedule = { name: '1-byte', split: (n) => Array.from({ length: n }, () => 1) };

export function splitAt(k: number): Schedule {
  return { name: `split@${k}`, split: (n) => [k, n - k].filter((x) => x > 0) };
}

export function randomSplits(seed: number): Schedule {
  return {
    name: `random(seed=${seed})`,
    split(n) {
      const random = seededRandom(seed);
      const out: number[] = [];
      let left = n;
      while (left > 0) {
        const size = Math.min(left, 1 + Math.floor(random() * Math.min(left, 17)));
        out.push(size);
        left -= size;
      }
      return out;
    },
  };
}

/** Every schedule for `n` bytes: whole, 1-byte, every 2-way split, and 3 seeded random ones. */
export function schedulesFor(n: number, seed = SEED): Schedule[] {
  const all = [whole, byteByByte];
  for (let k = 1; k < n; k++) all.push(splitAt(k));
  for (let i = 0; i < 3; i++) all.push(randomSplits(seed + i));
  return all;
}

/** Cuts `bytes` per `schedule` into fresh copies (the receiver owns and may mutate what it is given). */
export function pieces(bytes: Uint8Array, schedule: Schedule): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const size of schedule.split(bytes.length)) {
    out.push(bytes.slice(at, at + size));
    at += size;
  }
  return out;
}
