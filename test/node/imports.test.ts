/**
 * What importing the library costs a process: node's builtins that only some features use (node:zlib for
 * permessage-deflate, node:http2 for RFC 8441, undici which an ES import of node:http pulls in for its fetch-era
 * exports) stay unloaded until a feature asks for them. Each of them is heap that every major GC marks again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Modules that no entry point may load on import. */
const LAZY = /^(NativeModule (zlib|http2)|NativeModule internal\/deps\/undici\/undici)$/;

/** The node modules `specifier`'s import loads in a fresh process (tsx's own loading excluded). */
async function loadedBy(specifier: string): Promise<string[]> {
  const script =
    'const before = new Set(process.moduleLoadList);' +
    `await import(${JSON.stringify(specifier)});` +
    'console.log(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m))));';
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
  });
  return JSON.parse(stdout) as string[];
}

test('the probe sees a builtin that an import loads (node:zlib)', async () => {
  const loaded = await loadedBy('node:zlib');
  assert.ok(loaded.includes('NativeModule zlib'), loaded.join(', '));
});

for (const entry of [
  'index',
  'core/index',
  'event/index',
  'node/index',
  'service/index',
  'redis/index',
  'ws/index',
]) {
  test(`importing src/${entry}.ts loads neither zlib, http2 nor undici`, async () => {
    const loaded = await loadedBy(new URL(`../../src/${entry}.ts`, import.meta.url).href);
    assert.ok(loaded.length > 0, 'the import loaded nothing: the probe is broken');
    assert.deepEqual(
      loaded.filter((m) => LAZY.test(m)),
      [],
    );
  });
}
