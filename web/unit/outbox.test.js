// The outbox: a message stays until its own event arrives; every attempt carries its client_id;
// retryable errors and reconnects send it again with the same client_id, others mark it failed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEND_RETRY_MS } from '../outbox.js';
import { Driver, ME, event, resumed, summary } from './harness.js';

function send(d, channelId, body, clientId) {
  d.act((s, ctx) => s.send(channelId, body, clientId, ctx));
}

function entry(d, clientId) {
  return d.state.outbox.entries.get(clientId);
}

test('a send goes out with its client_id and a ref, and waits in the outbox', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'hello', 'id-1');
  const [frame] = d.take('send');
  assert.deepEqual(frame, { op: 'send', ref: frame.ref, channel_id: 'c1', client_id: 'id-1', body: 'hello' });
  assert.equal(entry(d, 'id-1').seq, null);
  assert.equal(d.state.outbox.entries.size, 1);
  assert.ok(d.changes.some(([kind, id]) => kind === 'messages' && id === 'c1'));
});

test('an ack gives the message its seq; its own event takes it out of the outbox', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'hello', 'id-1');
  const [frame] = d.take('send');
  d.frame({ op: 'ack', ref: frame.ref, channel_id: 'c1', client_id: 'id-1', id: 'm1', seq: 4, ts: 777 });
  assert.equal(entry(d, 'id-1').seq, 4);
  assert.equal(entry(d, 'id-1').ts, 777);
  assert.equal(d.state.outbox.refs.has(frame.ref), false, 'an answered ref is forgotten');

  d.frame(event('c1', 4, { author: ME, body: 'hello', client_id: 'id-1' }));
  assert.equal(d.state.outbox.entries.size, 0);
  assert.equal(d.channel('c1').unread, 0, 'my own message is not unread');
});

test('an echo of my message arriving before the ack still matches the pending send', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'hello', 'id-1');
  d.frame(event('c1', 4, { author: ME, body: 'hello', client_id: 'id-1' }));
  assert.equal(d.state.outbox.entries.size, 0);
  // The late ack finds nothing to update, and says nothing.
  d.changes = [];
  d.frame({ op: 'ack', ref: 1, channel_id: 'c1', client_id: 'id-1', id: 'm1', seq: 4, ts: 1 });
  assert.deepEqual(d.changes, []);
});

test('1010 and 1000 are retried with the same client_id and a new ref, after growing waits', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'hello', 'id-1');
  let [frame] = d.take('send');
  const refs = [frame.ref];
  for (const [i, wait] of SEND_RETRY_MS.entries()) {
    d.frame({ op: 'error', ref: frame.ref, code: i % 2 ? 1000 : 1010, error: 'unavailable', message: 'try later' });
    d.advance(wait - 1);
    assert.deepEqual(d.take('send'), [], `not before ${wait} ms`);
    d.advance(1);
    [frame] = d.take('send');
    assert.equal(frame.client_id, 'id-1');
    assert.equal(frame.body, 'hello');
    refs.push(frame.ref);
  }
  assert.equal(new Set(refs).size, refs.length, 'every attempt has its own ref');
  assert.equal(entry(d, 'id-1').failed, null);

  // Out of tries: the message is marked failed with the server's words, and not sent again.
  d.frame({ op: 'error', ref: frame.ref, code: 1010, error: 'unavailable', message: 'Still down.' });
  assert.equal(entry(d, 'id-1').failed, 'Still down.');
  d.advance(10_000);
  assert.deepEqual(d.take('send'), []);
});

test('1007 waits for retry_after_ms (500 ms without it)', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'a', 'id-1');
  send(d, 'c1', 'b', 'id-2');
  const [a, b] = d.take('send');
  d.frame({ op: 'error', ref: a.ref, code: 1007, error: 'rate_limited', message: 'slow down', retry_after_ms: 1234 });
  d.frame({ op: 'error', ref: b.ref, code: 1007, error: 'rate_limited', message: 'slow down' });
  d.advance(500);
  assert.deepEqual(
    d.take('send').map((f) => f.client_id),
    ['id-2'],
  );
  d.advance(733);
  assert.deepEqual(d.take('send'), []);
  d.advance(1);
  assert.deepEqual(
    d.take('send').map((f) => f.client_id),
    ['id-1'],
  );
});

test('a refusal that retrying cannot fix marks the message failed; Retry and Discard', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'hello', 'id-1');
  const [frame] = d.take('send');
  d.frame({ op: 'error', ref: frame.ref, code: 1004, error: 'forbidden', message: 'Not a member.' });
  assert.equal(entry(d, 'id-1').failed, 'Not a member.');
  d.advance(10_000);
  assert.deepEqual(d.take('send'), [], 'no automatic retry');

  d.act((s) => s.retry('id-1'));
  const [again] = d.take('send');
  assert.equal(again.client_id, 'id-1');
  assert.notEqual(again.ref, frame.ref);
  assert.equal(entry(d, 'id-1').failed, null);
  assert.equal(entry(d, 'id-1').tries, 0);

  d.act((s) => s.discard('id-1'));
  assert.equal(d.state.outbox.entries.size, 0);
});

test('an error that answers no send of ours is shown', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  d.frame({ op: 'error', ref: 99, code: 1009, error: 'limit_exceeded', message: 'Too many watched users.' });
  assert.deepEqual(d.changes, [['error', null, 'Too many watched users.']]);
});

test('sends made offline, and sends never acked, go again after the reconnect with the same client_id', () => {
  const d = new Driver();
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'acked', 'id-1');
  send(d, 'c1', 'lost ack', 'id-2');
  send(d, 'c1', 'refused', 'id-3');
  const [first, , third] = d.take('send');
  d.frame({ op: 'ack', ref: first.ref, channel_id: 'c1', client_id: 'id-1', id: 'm1', seq: 4, ts: 1 });
  d.frame({ op: 'error', ref: third.ref, code: 1001, error: 'bad_request', message: 'No.' });

  d.online = false;
  send(d, 'c1', 'written offline', 'id-4');
  assert.deepEqual(d.take('send'), [], 'nothing goes out offline');
  assert.equal(entry(d, 'id-4').seq, null, 'but it waits');

  d.online = true;
  d.frame(resumed());
  const resent = d.take('send');
  assert.deepEqual(
    resent.map((f) => [f.client_id, f.body]),
    [
      ['id-2', 'lost ack'],
      ['id-4', 'written offline'],
    ],
    'unacked ones, in send order; not the acked nor the failed one',
  );
  assert.ok(resent.every((f) => f.ref > third.ref), 'with new refs');
});

test('leaving a channel drops its unsent messages', () => {
  const d = new Driver();
  d.start([summary('c1', 3), summary('c2', 3)]);
  d.online = false;
  send(d, 'c1', 'one', 'id-1');
  send(d, 'c2', 'two', 'id-2');
  d.frame({ op: 'channel_left', channel_id: 'c1' });
  assert.deepEqual([...d.state.outbox.entries.keys()], ['id-2']);
  assert.ok(d.changes.some(([kind, id]) => kind === 'left' && id === 'c1'));
});

test('empty and too long messages are refused before sending, by the limit hello gave', () => {
  const d = new Driver();
  assert.equal(d.state.refusal('  \n '), 'A message needs some text.');
  d.state.greeting({ op: 'hello', limits: { max_message_chars: 5 } }, 'token');
  assert.equal(d.state.refusal('héllo'), null, 'characters, not bytes');
  assert.equal(d.state.refusal('hello!'), 'That message is 6 characters long; the limit is 5.');
  d.start([summary('c1', 3)]);
  send(d, 'c1', 'hello!', 'id-1');
  assert.deepEqual(d.take('send'), []);
  assert.equal(d.state.outbox.entries.size, 0);
});
