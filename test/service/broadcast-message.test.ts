import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.ts';
import { BroadcastMessage } from '../../src/service/broadcast.ts';

test('a broadcast builds its frame once per kind, with the payload as sent', () => {
  const message = new BroadcastMessage('hi');
  assert.equal(Buffer.from(message.defaultFrame.bytes).toString('hex'), '81026869');
  assert.equal(message.frame('text'), message.defaultFrame, 'the same prepared frame is reused');
  assert.equal(Buffer.from(message.frame('binary').bytes).toString('hex'), '82026869');
});

test('broadcasting something that is neither a string nor bytes throws a UsageError', () => {
  for (const bad of [undefined, 42, {}, [1, 2]]) {
    assert.throws(() => new BroadcastMessage(bad as never), UsageError);
  }
});
