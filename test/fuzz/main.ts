/**
 * `npm run fuzz`: every target for a bounded time (FUZZ_SECONDS, default 60 each), or the targets named.
 * Inputs that brought new coverage are added to test/fuzz/corpus/<target>.hex, findings to
 * test/fuzz/findings/<target>.hex (one input per line, in hex); both are replayed by test/fuzz/targets.test.ts.
 *   npm run fuzz
 *   FUZZ_SECONDS=600 TSLAY_SEED=7 npm run fuzz -- connection-server extensions
 */
import { join } from 'node:path';
import { fuzz } from './engine.ts';
import { loadInputs, saveInputs } from './inputs.ts';
import { TARGETS } from './targets.ts';

const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
const seed = Number(process.env.TSLAY_SEED ?? Date.now() % 2 ** 31);
const names = process.argv.slice(2);
const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
if (unknown.length > 0) {
  console.error(
    `unknown target(s): ${unknown.join(', ')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`,
  );
  process.exit(2);
}
const here = import.meta.dirname;
let failed = false;
console.log(`seed ${seed}, ${seconds} s per target`);
console.log('| target | executions | exec/s | features (start → end) | corpus | findings |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const target of TARGETS.filter((t) => names.length === 0 || names.includes(t.name))) {
  const corpusFile = join(here, 'corpus', `${target.name}.hex`);
  const findingsFile = join(here, 'findings', `${target.name}.hex`);
  const result = fuzz(target, {
    seed,
    milliseconds: seconds * 1000,
    corpus: [...loadInputs(corpusFile), ...loadInputs(findingsFile)],
    stopOnFinding: false,
  });
  saveInputs(corpusFile, result.added);
  const rate = Math.round(result.executions / (result.milliseconds / 1000));
  console.log(
    `| ${target.name} | ${result.executions} | ${rate} | ${result.initialFeatures} → ${result.features} | ${result.corpusSize} | ${result.findings.length} |`,
  );
  if (result.findings.length > 0) {
    failed = true;
    const first = result.findings.slice(0, 10);
    saveInputs(
      findingsFile,
      first.map((finding) => finding.input),
    );
    for (const finding of first)
      console.error(
        `finding in ${target.name}: ${Buffer.from(finding.input).toString('hex')}\n${finding.message}`,
      );
  }
}
process.exit(failed ? 1 : 0);
