// Events into a channel: deduplicated by (channel, seq), gaps filled from history before anything
// later, never skipped; `delivered` for channels that moved.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Driver, event, page, resumed, summary } from './harness.js';

test('a repeated or older event is dropped; the cursor only moves by one', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame(event('c1', 4));
  d.frame(event('c1', 4, { body: 'a repeat' }));
  d.frame(event('c1', 2));
  d.frame(event('c1', 3));
  assert.deepEqual(d.seqs('c1'), [4]);
  assert.equal(d.channel('c1').events.get(4).body, 'message 4');
  assert.equal(d.channel('c1').cursor, 4);
  assert.equal(d.channel('c1').unread, 1, 'a repeat is not counted again');
  assert.deepEqual(d.requests, [], 'nothing to fill');
});

test("events of a channel we do not hold are ignored, and channels do not share seqs", () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 3)]);
  d.frame(event('zz', 1));
  d.frame(event('c2', 4));
  d.frame(event('c1', 4));
  assert.equal(d.state.channels.has('zz'), false);
  assert.deepEqual(d.seqs('c1'), [4]);
  assert.deepEqual(d.seqs('c2'), [4]);
});

test('a gap is filled from history before the event after it, and later frames wait in order', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 1)]);
  d.frame(event('c1', 7));
  assert.equal(d.requests.length, 1);
  const [gap] = d.requests;
  assert.equal(gap.purpose, 'gap');
  assert.equal(gap.channelId, 'c1');
  assert.deepEqual(gap.params, { after: 3, before: 7, limit: 200 });
  assert.deepEqual(d.seqs('c1'), [], 'nothing is shown across the gap');

  // Frames that arrive meanwhile (this channel's and others') are held, not applied.
  d.frame(event('c1', 8));
  d.frame(event('c2', 2));
  d.frame(event('c1', 7));
  assert.deepEqual(d.seqs('c2'), []);

  d.answer('gap', page('c1', [4, 5, 6]));
  assert.deepEqual(d.seqs('c1'), [4, 5, 6, 7, 8]);
  assert.deepEqual(d.seqs('c2'), [2]);
  assert.equal(d.channel('c1').cursor, 8);
  assert.deepEqual(d.requests, []);
  const order = d.changes.filter(([kind]) => kind === 'messages').map(([, id]) => id);
  assert.deepEqual(order, ['c1', 'c1', 'c2'], 'the gap event, then the held ones in arrival order');
});

test('a long gap is fetched page by page from the new cursor', () => {
  const d = new Driver();
  d.start([summary('c1', 0)]);
  d.frame(event('c1', 6));
  d.answer('gap', page('c1', [1, 2, 3], { has_more: true }));
  assert.equal(d.requests.length, 1);
  assert.deepEqual(d.requests[0].params, { after: 3, before: 6, limit: 200 });
  d.answer('gap', page('c1', [4, 5]));
  assert.deepEqual(d.seqs('c1'), [1, 2, 3, 4, 5, 6]);
});

test('a page with events out of order or already held does not break the sequence', () => {
  const d = new Driver();
  d.start([summary('c1', 2)]);
  d.frame(event('c1', 6));
  // Only events that continue the cursor are taken: 2 is held already, 5 comes before 4.
  d.answer('gap', page('c1', [2, 3, 5, 4]));
  assert.deepEqual(d.seqs('c1'), [3, 4]);
  assert.equal(d.channel('c1').cursor, 4);
  assert.equal(d.restarts, 0);
  // History ended short of 6: it is dropped (never shown across the hole); the next event asks again.
  d.frame(event('c1', 7));
  assert.deepEqual(d.requests[0].params, { after: 4, before: 7, limit: 200 });
  d.answer('gap', page('c1', [5, 6]));
  assert.deepEqual(d.seqs('c1'), [3, 4, 5, 6, 7]);
});

test('a truncated gap is never skipped: the session restarts, later frames still apply', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 1)]);
  d.frame(event('c1', 9));
  d.frame(event('c2', 2));
  d.answer('gap', page('c1', [], { truncated: true }));
  assert.equal(d.restarts, 1);
  assert.deepEqual(d.seqs('c1'), [], 'the event past the gap is not shown');
  assert.equal(d.channel('c1').cursor, 3, 'resume asks from the old cursor');
  assert.deepEqual(d.seqs('c2'), [2]);
  assert.equal(d.state.greeting(null, 't').cursors.c1, 3);
});

test('history that cannot be read restarts the session too', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame(event('c1', 5));
  d.fail('gap');
  assert.equal(d.restarts, 1);
  assert.equal(d.channel('c1').cursor, 3);
  // The session goes on: the next event in order is taken.
  d.frame(event('c1', 4));
  assert.deepEqual(d.seqs('c1'), [4]);
});

test('delivered goes out once per 250 ms, for each channel that moved, with its cursor', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 5), summary('c3', 1)]);
  d.frame(event('c1', 4));
  d.frame(event('c1', 5));
  d.frame(event('c2', 6));
  d.advance(249);
  assert.deepEqual(d.take('delivered'), []);
  d.advance(1);
  assert.deepEqual(d.take('delivered'), [
    { op: 'delivered', channel_id: 'c1', seq: 5 },
    { op: 'delivered', channel_id: 'c2', seq: 6 },
  ]);
  d.advance(1000);
  assert.deepEqual(d.take('delivered'), [], 'nothing moved since');
  assert.equal(d.state.nextWake(), null);
});

test('no delivered for a channel left or resynced before the flush', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 3)]);
  d.frame(event('c1', 4));
  d.frame(event('c2', 4));
  d.frame(resumed({ channels_left: ['c1'], resync: [summary('c2', 40)] }));
  d.advance(300);
  assert.deepEqual(d.take('delivered'), []);
});

test('a delivered that could not go out is sent when the channel next moves', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.online = false;
  d.frame(event('c1', 4));
  d.advance(300);
  assert.equal(d.channel('c1').deliveredSent, 3);
  d.online = true;
  d.frame(event('c1', 5));
  d.advance(300);
  assert.deepEqual(d.take('delivered'), [{ op: 'delivered', channel_id: 'c1', seq: 5 }]);
  assert.equal(d.channel('c1').deliveredSent, 5);
});

test('one bad frame is reported and does not stop the ones after it', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame(event('c1', 4, { author: undefined }));
  const errors = d.changes.filter(([kind]) => kind === 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0][2], /^Could not apply an update: /);
  d.frame(event('c1', 5));
  assert.equal(d.channel('c1').cursor, 5);
});

test('membership events keep the member count and my role', () => {
  const d = new Driver();
  d.start([summary('c1', 1, { member_count: 2 })]);
  d.frame(event('c1', 2, { type: 'member_added', user: { id: 'u-dan', username: 'dan' } }));
  d.frame(event('c1', 3, { type: 'role_changed', user: { id: 'u-me', username: 'me' }, role: 'admin' }));
  d.frame(event('c1', 4, { type: 'member_left' }));
  const ch = d.channel('c1');
  assert.equal(ch.memberCount, 2);
  assert.equal(ch.role, 'admin');
  assert.equal(ch.unread, 0, 'only messages count as unread');
  assert.equal(d.changes.filter(([kind]) => kind === 'members').length, 3);
});
