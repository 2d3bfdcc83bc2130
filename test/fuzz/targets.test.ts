/**
 * The fuzz targets in the test suite: every saved input (the corpus the fuzzer grew, and every finding) is
 * replayed, then each target is fuzzed for a fixed number of executions from a fixed seed (TSLAY_SEED), so a run
 * is the same run every time. A test also shows that the coverage guidance works: eight nested byte checks, which
 * blind random inputs pass once in 16^8 tries, are passed within the budget.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SEED } from '../helpers/feed.ts';
import { fuzz, runOne } from './engine.ts';
import { loadInputs } from './inputs.ts';
import { nested } from './nested-target.ts';
import { TARGETS } from './targets.ts';

const EXECUTIONS = Number(process.env.FUZZ_EXECUTIONS ?? 1500);
const here = import.meta.dirname;

describe('fuzz targets', () => {
  for (const target of TARGETS) {
    const saved = [
      ...loadInputs(join(here, 'corpus', `${target.name}.hex`)),
      ...loadInputs(join(here, 'findings', `${target.name}.hex`)),
    ];
    test(`${target.name}: seeds and ${saved.length} saved inputs replay without a finding`, () => {
      for (const input of [...target.seeds(), ...saved]) {
        const finding = runOne(target, input);
        assert.equal(finding, null, `input ${Buffer.from(input).toString('hex')}: ${finding?.message}`);
      }
    });
    test(`${target.name}: ${EXECUTIONS} coverage-guided executions (seed ${SEED}) find nothing`, () => {
      const result = fuzz(target, { seed: SEED, executions: EXECUTIONS, corpus: saved });
      const finding = result.findings[0];
      assert.equal(
        finding,
        undefined,
        finding &&
          `seed ${SEED}: input ${Buffer.from(finding.input).toString('hex')} (add it to test/fuzz/findings/${target.name}.hex): ${finding.message}`,
      );
      assert.equal(result.executions, EXECUTIONS);
    });
  }
});

test('coverage guidance: eight nested byte checks are passed (blind search: 1 in 16^8)', () => {
  const result = fuzz(nested, {
    seed: SEED,
    executions: 20_000,
    covers: (url) => url.endsWith('/test/fuzz/nested-target.ts'),
  });
  const finding = result.findings[0];
  assert.ok(finding, `seed ${SEED}: not found in ${result.executions} executions`);
  assert.ok(finding.input.subarray(0, 8).every((byte) => byte < 0x10));
  assert.ok(result.features > result.initialFeatures);
});
