// Summarizes V8 .cpuprofile files (node --cpu-prof): self time by function and by source file, top N.
//
//   SCALE_ONLY=tslay-redis SCALE_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/scale.mjs
//   node bench/scale/profile.mjs /tmp/prof/*.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before samples[i]; attribute it to that sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let total = 0;
  const fns = new Map();
  const files = new Map();
  for (const [id, us] of self) {
    total += us;
    const { callFrame: f } = byId.get(id);
    const where = f.url ? path.basename(f.url.replace(/^file:\/\//, '')) : '';
    const name = `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    const group = f.url
      ? f.url.includes('/node_modules/')
        ? `node_modules/${f.url
            .split('/node_modules/')[1]
            .split('/')
            .slice(0, f.url.includes('/node_modules/@') ? 2 : 1)
            .join('/')}`
        : f.url.startsWith('node:')
          ? f.url
          : where
      : f.functionName || '(native)';
    files.set(group, (files.get(group) ?? 0) + us);
  }
  const show = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  console.log(`${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled`);
  console.log(`by file:\n${show(files)}`);
  console.log(`by function (self):\n${show(fns)}\n`);
}
