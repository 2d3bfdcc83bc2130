import assert from 'node:assert/strict';
import { it } from 'node:test';
import { chromium } from 'playwright-core';
import { serveDemo } from '../../src/cli/serve.ts';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../helpers/chromium.ts';

const skip = chromiumAvailable()
  ? false
  : `${CHROMIUM} is not installed: the browser test of the demo page is skipped`;
const PNG_SIGNATURE = '89504e470d0a1a0a';

it('the demo page chats between two browser pages and round-trips on the echo protocol', {
  skip,
}, async () => {
  const context = await serveDemo({ port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  try {
    const url = `http://127.0.0.1:${context.port}/`;
    const alice = await browser.newPage();
    const bob = await browser.newPage();
    await alice.goto(url);
    await bob.goto(url);

    // Echo: connected on load, a round trip measured, typed text echoed back.
    await alice.locator('#echo-state[data-state="open"]').waitFor();
    await alice.locator('#rtt', { hasText: /^\d+(\.\d+)? ms$/ }).waitFor();
    await alice.fill('#echo-input', 'echo me');
    await alice.click('#echo-send');
    await alice.locator('#echo-log li', { hasText: 'echo: echo me' }).waitFor();

    // Chat: both join, alice speaks, bob sees it; bob leaves, alice sees that.
    await alice.fill('#name', 'alice');
    await alice.click('#join');
    await alice.locator('#chat-state[data-state="open"]').waitFor();
    await bob.fill('#name', 'bob');
    await bob.click('#join');
    await bob.locator('#chat-state[data-state="open"]').waitFor();
    await alice.locator('#chat-log li.notice', { hasText: 'bob joined (2 online)' }).waitFor();
    await alice.fill('#chat-input', 'hello from alice');
    await alice.click('#chat-send');
    await bob.locator('#chat-log li.message', { hasText: 'alice: hello from alice' }).waitFor();
    await alice.locator('#chat-log li.message', { hasText: 'alice: hello from alice' }).waitFor();
    assert.equal(await bob.textContent('#users'), '2');
    assert.equal(await alice.textContent('#chat-sent'), '1');

    const png = await alice.screenshot({ fullPage: true });
    assert.equal(png.subarray(0, 8).toString('hex'), PNG_SIGNATURE);
    assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, 'IHDR has a width and a height');
    assert.ok(png.length > 1000, `a screenshot of ${png.length} bytes`);

    await bob.click('#leave');
    await bob.locator('#chat-state[data-state="closed"]').waitFor();
    await alice.locator('#chat-log li.notice', { hasText: 'bob left (1 online)' }).waitFor();
  } finally {
    await browser.close();
    await context.destroy({ timeout: 1000 });
  }
});
