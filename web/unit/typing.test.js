// Typing indicators: ours at most once every 2 s per channel, never queued; others' until they
// expire or their message arrives.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BOB, CAROL, Driver, ME, event, summary } from './harness.js';

function typed(d, channelId) {
  d.act((s, ctx) => s.typed(channelId, ctx));
}

test('typing goes out at most once every 2 s; input during the 2 s goes out when they end', () => {
  const d = new Driver();
  d.start([summary('c1', 1)]);
  typed(d, 'c1');
  assert.deepEqual(d.take('typing'), [{ op: 'typing', channel_id: 'c1' }]);
  d.advance(500);
  typed(d, 'c1');
  d.advance(500);
  typed(d, 'c1');
  assert.deepEqual(d.take('typing'), []);
  d.advance(1149);
  assert.deepEqual(d.take('typing'), [], 'not before 2 s and a margin');
  d.advance(1);
  assert.deepEqual(d.take('typing'), [{ op: 'typing', channel_id: 'c1' }]);
});

test('input that went stale, a sent message or a cleared box ends it', () => {
  const d = new Driver();
  d.start([summary('c1', 1), summary('c2', 1)]);
  typed(d, 'c1');
  typed(d, 'c2');
  d.take('typing');
  typed(d, 'c1');
  typed(d, 'c2');
  d.act((s) => s.stoppedTyping('c1'));
  d.act((s, ctx) => s.send('c2', 'done', 'id-1', ctx));
  d.advance(5000);
  assert.deepEqual(d.take('typing'), []);
  assert.equal(d.state.typing.windowEnds.size, 0);
});

test('input gone stale by the time a late timer ends the window is not announced', () => {
  const d = new Driver();
  d.start([summary('c1', 1)]);
  typed(d, 'c1');
  typed(d, 'c1');
  d.take('typing');
  // A background tab's timers are throttled: the wake comes 6 s after the last input.
  d.now += 6000;
  d.act((s, ctx) => s.tick(ctx));
  assert.deepEqual(d.take('typing'), []);
  assert.equal(d.state.nextWake(), null);
});

test('typing is not queued while offline', () => {
  const d = new Driver();
  d.start([summary('c1', 1)]);
  d.online = false;
  typed(d, 'c1');
  d.online = true;
  d.advance(10_000);
  assert.deepEqual(d.take('typing'), []);
  // It did not count as sent: the next input goes out at once.
  typed(d, 'c1');
  assert.deepEqual(d.take('typing'), [{ op: 'typing', channel_id: 'c1' }]);
});

test("others' indicators last expires_in_ms, end with their message, and mine are not shown", () => {
  const d = new Driver();
  d.start([summary('c1', 1)]);
  const typing = (user) => ({ op: 'typing', channel_id: 'c1', user_id: user.id, expires_in_ms: 6000 });
  d.frame(typing(BOB));
  d.frame(typing(CAROL));
  d.frame(typing(ME));
  d.frame({ ...typing(BOB), channel_id: 'elsewhere' });
  assert.deepEqual(d.state.typingIn('c1', d.now), [BOB.id, CAROL.id]);

  d.frame(event('c1', 2, { author: CAROL }));
  assert.deepEqual(d.state.typingIn('c1', d.now), [BOB.id]);

  d.advance(3000);
  d.frame(typing(BOB));
  d.changes = [];
  d.advance(3050);
  assert.deepEqual(d.state.typingIn('c1', d.now), [BOB.id], 'a new frame restarts the time');
  assert.deepEqual(d.changes, []);
  d.advance(3000);
  assert.deepEqual(d.state.typingIn('c1', d.now), []);
  assert.deepEqual(d.changes, [['typing', 'c1', undefined]], 'the view hears when it ends');
  assert.equal(d.state.nextWake(), null);
});
