import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

// The examples are documentation that runs: each is executed as users would run it, and its output checked.
const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

async function example(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `examples/${name}`], {
    cwd: root,
    timeout: 30_000,
  });
  return stdout;
}

test('examples/node-echo.ts: a server and a client exchange text and binary, then close cleanly', async () => {
  assert.equal(await example('node-echo.ts'), 'text hello\nbinary 010203\nclosed 1000  clean=true\n');
});

test('examples/stream.ts: for-await reads whole messages until the close', async () => {
  const out = await example('stream.ts');
  assert.match(out, /got one\ngot two\ngot three\nafter the close: closed\n$/);
});

test('examples/chat-context.ts: a broadcast on the chat protocol reaches the other socket', async () => {
  assert.equal(await example('chat-context.ts'), 'bob heard: hi from alice\n');
});

test('examples/core-by-hand.ts: the README example drives the engine without I/O', async () => {
  assert.equal(await example('core-by-hand.ts'), 'echoed 2 messages in 1 chunk(s): 810548656c6c6f81026869\n');
});

test('examples/scale-out.ts: a publish on one context reaches the subscribers of both, once each', async () => {
  assert.equal(
    await example('scale-out.ts'),
    'reader 0 heard: published on east\nreader 1 heard: published on east\n',
  );
});
