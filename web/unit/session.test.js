// Sessions: identify, then resume with a cursor per channel and receipts_since; what `resumed`
// changes (joined, left, resync, presence, watched users, unread counts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BOB, CAROL, Driver, event, page, ready, resumed, summary } from './harness.js';

test('the first session identifies; later ones resume from every cursor and receipts_since', () => {
  const d = new Driver();
  assert.deepEqual(d.state.greeting({ op: 'hello' }, 'tok'), { op: 'identify', token: 'tok' });
  d.frame(ready([summary('c1', 3), summary('c2', 10)], { server_ts: 5000 }));
  d.frame(event('c1', 4));
  d.frame(event('c1', 5));
  assert.deepEqual(d.state.greeting({ op: 'hello' }, 'tok'), {
    op: 'resume',
    token: 'tok',
    cursors: { c1: 5, c2: 10 },
    receipts_since: 5000,
  });
});

test('ready asks for each channel\'s newest event, for the list', () => {
  const d = new Driver();
  d.frame(ready([summary('c1', 3), summary('c2', 0)]));
  assert.deepEqual(
    d.requests.map((r) => [r.purpose, r.channelId, r.params]),
    [
      ['preview', 'c1', { limit: 1 }],
      ['preview', 'c2', { limit: 1 }],
    ],
  );
  d.answer('preview', page('c1', [3]));
  assert.equal(d.channel('c1').last.seq, 3);
  // A live event newer than an old preview wins.
  d.frame(event('c2', 1));
  d.answer('preview', page('c2', []));
  assert.equal(d.channel('c2').last.seq, 1);
});

test('receipts_since follows the newest receipt, and resumed moves it to server_ts − 2 s', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame({ op: 'receipt', channel_id: 'c1', user_id: BOB.id, delivered_seq: 3, read_seq: 2, ts: 60_000 });
  d.frame({ op: 'receipt', channel_id: 'c1', user_id: BOB.id, delivered_seq: 3, read_seq: 1, ts: 55_000 });
  assert.equal(d.state.receiptsSince, 60_000);
  d.frame(resumed({ server_ts: 90_000 }));
  assert.equal(d.state.receiptsSince, 88_000);
  d.frame(resumed({ server_ts: 61_000 }));
  assert.equal(d.state.receiptsSince, 88_000, 'it never goes back');
});

test('resumed adds joined channels, drops left ones, and starts resynced ones afresh', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 3), summary('c3', 3)]);
  d.frame(event('c3', 4));
  d.frame(event('c3', 5));
  d.frame(
    resumed({
      channels_joined: [summary('c4', 7)],
      channels_left: ['c2'],
      resync: [summary('c3', 40, { unread: 12, read_seq: 28 })],
    }),
  );
  assert.deepEqual([...d.state.channels.keys()].sort(), ['c1', 'c3', 'c4']);
  assert.equal(d.channel('c4').cursor, 7);
  const c3 = d.channel('c3');
  assert.equal(c3.cursor, 40);
  assert.equal(c3.events.size, 0, 'what was held of a resynced channel is dropped');
  assert.equal(c3.loaded, false);
  assert.equal(c3.unread, 12);
  assert.deepEqual(d.requests.map((r) => r.channelId).sort(), ['c3', 'c4'], 'previews of the new ones');
  assert.ok(d.changes.some(([kind, id]) => kind === 'left' && id === 'c2'));
  // Live events continue after the summary's last_seq.
  d.frame(event('c3', 41));
  assert.deepEqual(d.seqs('c3'), [41]);
});

test('presence is replaced on resume; watched users are watched again', () => {
  const d = new Driver();
  d.frame(ready([summary('c1', 3)], { presence: [{ user_id: BOB.id, status: 'online' }] }));
  d.act((s) => s.watch([CAROL.id, 'u-me']));
  assert.deepEqual(d.take('watch'), [{ op: 'watch', user_ids: [CAROL.id] }], 'not myself');
  d.act((s) => s.watch([CAROL.id]));
  assert.deepEqual(d.take('watch'), [], 'already watched');
  d.frame({ op: 'presence', user_id: CAROL.id, status: 'idle' });
  assert.equal(d.state.presence.get(CAROL.id).status, 'idle');

  d.frame(resumed({ presence: [{ user_id: CAROL.id, status: 'online' }] }));
  assert.equal(d.state.presence.has(BOB.id), false, 'a contact not listed is offline now');
  assert.equal(d.state.presence.get(CAROL.id).status, 'online');
  assert.deepEqual(d.take('watch'), [{ op: 'watch', user_ids: [CAROL.id] }]);
});

test('watching stops at 256 users', () => {
  const d = new Driver();
  d.start([]);
  const ids = (from, n) => Array.from({ length: n }, (_, i) => `u${from + i}`);
  d.act((s) => s.watch(ids(0, 250)));
  d.act((s) => s.watch(ids(250, 7)));
  assert.equal(d.state.watched.size, 250);
  d.act((s) => s.watch(ids(250, 6)));
  assert.equal(d.state.watched.size, 256);
  assert.equal(d.take('watch').length, 2);
});

test('after resumed the unread counts are refreshed, but not for channels that moved on', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 3)]);
  d.frame(resumed());
  assert.equal(d.channelListRequests, 1);
  d.frame(event('c2', 4));
  d.act((s) =>
    s.channelsLoaded([
      summary('c1', 3, { unread: 2, read_seq: 1 }),
      summary('c2', 5, { unread: 9, read_seq: 2 }),
    ]),
  );
  assert.equal(d.channel('c1').unread, 2);
  assert.equal(d.channel('c1').readSeq, 3, 'the read pointer never goes back');
  assert.equal(d.channel('c2').unread, 1, 'the list is older than what c2 holds');
});

test('the open channel is read after a (re)connect', () => {
  const d = new Driver();
  d.reading = 'c1';
  d.frame(ready([summary('c1', 5, { read_seq: 2, unread: 3 }), summary('c2', 5, { read_seq: 2, unread: 3 })]));
  assert.deepEqual(d.take('read'), [{ op: 'read', channel_id: 'c1', seq: 5 }]);
  assert.equal(d.channel('c1').unread, 0);
  assert.equal(d.channel('c2').unread, 3);
});

test('channel_joined adds the channel; channel_left removes it', () => {
  const d = new Driver();
  d.start([]);
  d.frame({ op: 'channel_joined', channel: summary('c9', 2) });
  assert.equal(d.channel('c9').cursor, 2);
  assert.ok(d.changes.some(([kind, id]) => kind === 'joined' && id === 'c9'));
  d.frame({ op: 'channel_left', channel_id: 'c9' });
  assert.equal(d.state.channels.has('c9'), false);
});

test('unknown frames are skipped', () => {
  const d = new Driver();
  d.start([summary('c1', 1)]);
  d.frame({ op: 'something_new', x: 1 });
  assert.deepEqual(d.changes, []);
  assert.deepEqual(d.out, []);
});
