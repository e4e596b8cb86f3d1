// Read pointers and unread counts, and the other members' receipts behind the ticks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusOf } from '../channel.js';
import { BOB, CAROL, Driver, ME, event, page, summary } from './harness.js';

test('messages from others count as unread while the channel is not being read', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame(event('c1', 4));
  d.frame(event('c1', 5, { author: ME, client_id: 'x' }));
  d.frame(event('c1', 6));
  assert.equal(d.channel('c1').unread, 2);
  assert.deepEqual(d.take('read'), []);
});

test('a message that arrives in the channel being read moves the read pointer at once', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.reading = 'c1';
  d.frame(event('c1', 4));
  assert.deepEqual(d.take('read'), [{ op: 'read', channel_id: 'c1', seq: 4 }]);
  assert.equal(d.channel('c1').readSeq, 4);
  assert.equal(d.channel('c1').unread, 0);
});

test('markRead sends the cursor once, and only counts once the frame went', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame(event('c1', 4));
  d.frame(event('c1', 5));

  d.online = false;
  d.act((s) => s.markRead('c1'));
  assert.equal(d.channel('c1').unread, 2, 'not read while offline (nothing is queued)');
  assert.equal(d.channel('c1').readSeq, 3);

  d.online = true;
  d.act((s) => s.markRead('c1'));
  assert.deepEqual(d.take('read'), [{ op: 'read', channel_id: 'c1', seq: 5 }]);
  assert.equal(d.channel('c1').unread, 0);
  assert.equal(d.channel('c1').readSeq, 5);
  d.act((s) => s.markRead('c1'));
  assert.deepEqual(d.take('read'), [], 'nothing new to read');
});

test('read_state from another device moves the pointer forward and sets the count', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame(event('c1', 4));
  d.frame(event('c1', 5));
  d.frame({ op: 'read_state', channel_id: 'c1', read_seq: 4, unread: 1 });
  assert.equal(d.channel('c1').readSeq, 4);
  assert.equal(d.channel('c1').unread, 1);
  d.frame({ op: 'read_state', channel_id: 'c1', read_seq: 2, unread: 1 });
  assert.equal(d.channel('c1').readSeq, 4);
});

test('receipts only move forward, mine are ignored, and a member who leaves takes theirs along', () => {
  const d = new Driver();
  d.start([summary('c1', 9)]);
  const receipt = (user, delivered, read) => ({
    op: 'receipt',
    channel_id: 'c1',
    user_id: user.id,
    delivered_seq: delivered,
    read_seq: read,
    ts: 60_000,
  });
  d.frame(receipt(BOB, 8, 6));
  d.frame(receipt(BOB, 7, 7));
  d.frame(receipt(ME, 9, 9));
  const ch = d.channel('c1');
  assert.deepEqual(ch.receipts.get(BOB.id), { delivered_seq: 8, read_seq: 7 });
  assert.equal(ch.receipts.has(ME.id), false);

  d.act((s) =>
    s.receiptsLoaded(ch, {
      receipts: [
        { user_id: BOB.id, delivered_seq: 5, read_seq: 5 },
        { user_id: CAROL.id, delivered_seq: 9, read_seq: 3 },
        { user_id: ME.id, delivered_seq: 9, read_seq: 9 },
      ],
    }),
  );
  assert.deepEqual(ch.receipts.get(BOB.id), { delivered_seq: 8, read_seq: 7 }, 'an older answer does not lower them');
  assert.deepEqual(ch.receipts.get(CAROL.id), { delivered_seq: 9, read_seq: 3 });
  assert.equal(ch.receipts.has(ME.id), false);

  d.frame(event('c1', 10, { type: 'member_left', author: CAROL }));
  assert.equal(ch.receipts.has(CAROL.id), false);
});

test('ticks: pending, sent, delivered to all, read by all', () => {
  const ch = { receipts: new Map() };
  assert.equal(statusOf(ch, null), 'pending');
  assert.equal(statusOf(ch, 5), 'sent', 'no receipts (a large group): sent');
  ch.receipts.set(BOB.id, { delivered_seq: 5, read_seq: 5 });
  ch.receipts.set(CAROL.id, { delivered_seq: 4, read_seq: 4 });
  assert.equal(statusOf(ch, 5), 'sent');
  ch.receipts.set(CAROL.id, { delivered_seq: 5, read_seq: 4 });
  assert.equal(statusOf(ch, 5), 'delivered');
  assert.equal(statusOf(ch, 4), 'read');
  ch.receipts.set(CAROL.id, { delivered_seq: 6, read_seq: 6 });
  assert.equal(statusOf(ch, 5), 'read');
});

test('a history page adds what is missing below the cursor, never past it', () => {
  const d = new Driver();
  d.start([summary('c1', 60)]);
  const ch = d.channel('c1');
  d.frame(event('c1', 61));
  // The newest page, asked for up to the cursor of the time (60), comes back after 61 arrived.
  d.act((s) => s.newestLoaded(ch, page('c1', [11, 12, 60, 61], { has_more: true }), 60));
  assert.deepEqual(d.seqs('c1'), [11, 12, 60, 61]);
  assert.equal(ch.events.get(61).id, 'e-c1-61');
  assert.equal(ch.oldest, 11);
  assert.equal(ch.loaded, true);
  assert.equal(ch.hasMore, true);
  // One committed after the newest page was asked for, not arrived live yet: it waits its turn.
  d.act((s) => s.olderLoaded(ch, page('c1', [5, 61, 62], { has_more: true })));
  assert.deepEqual(d.seqs('c1'), [5, 11, 12, 60, 61]);
  d.act((s) => s.olderLoaded(ch, page('c1', [1, 2, 11], { has_more: false })));
  assert.equal(ch.oldest, 1);
  assert.equal(ch.hasMore, false);
  assert.deepEqual(d.seqs('c1'), [1, 2, 5, 11, 12, 60, 61]);
});
