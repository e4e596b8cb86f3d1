// The shell (chat.js) carries out the state's commands: frames on the connection (and reports the
// ones that went), history from the API, restarts, held frames, one timer. Its Connection is never
// started here; its `send` and `restart` are replaced, and the API is a fake.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Chat } from '../chat.js';
import { BOB, event, page, ready, summary } from './harness.js';

/** Resolves once the promise callbacks queued so far (and those they queue) have run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function fakeChat({ history, reading = null } = {}) {
  const calls = [];
  const api = {
    token: 'tok',
    history: (channelId, params) => {
      calls.push(['history', channelId, params]);
      return history ? history(channelId, params) : Promise.resolve(page(channelId, []));
    },
    channels: () => Promise.resolve({ channels: [] }),
    receipts: (channelId) => {
      calls.push(['receipts', channelId]);
      return Promise.resolve({ receipts: [{ user_id: BOB.id, delivered_seq: 3, read_seq: 2 }] });
    },
    userPresence: (userId) => {
      calls.push(['presence', userId]);
      return Promise.resolve({ user_id: userId, status: 'offline', last_seen: 5 });
    },
  };
  const changes = [];
  const chat = new Chat(api, (kind, id) => changes.push([kind, id]), () => reading);
  const sent = [];
  chat.connection.send = (frame) => {
    if (!chat.connection.up) return false;
    sent.push(frame);
    return true;
  };
  chat.connection.up = true;
  chat.connection.restarts = 0;
  chat.connection.restart = () => {
    chat.connection.restarts += 1;
  };
  return { chat, api, calls, changes, sent, close: () => clearTimeout(chat.timer) };
}

test('the greeting comes from the state, with the API token', () => {
  const { chat, close } = fakeChat();
  assert.deepEqual(chat.connection.greeting(), { op: 'identify', token: 'tok' });
  close();
});

test('a gap is fetched through the API; frames that came meanwhile apply after it, in order', async () => {
  const { chat, calls, close } = fakeChat({
    history: (channelId, params) =>
      Promise.resolve(params.limit === 1 ? page(channelId, []) : page(channelId, [4, 5])),
  });
  chat.received(ready([summary('c1', 3)]));
  chat.received(event('c1', 6));
  chat.received(event('c1', 7));
  assert.deepEqual(calls.at(-1), ['history', 'c1', { after: 3, before: 6, limit: 200 }]);
  assert.equal(chat.channels.get('c1').cursor, 3);
  await settle();
  assert.deepEqual([...chat.channels.get('c1').events.keys()], [4, 5, 6, 7]);
  close();
});

test('history that fails restarts the connection', async () => {
  const { chat, close } = fakeChat({
    history: (channelId, params) =>
      params.limit === 1 ? Promise.resolve(page(channelId, [])) : Promise.reject(new Error('down')),
  });
  chat.received(ready([summary('c1', 3)]));
  chat.received(event('c1', 9));
  await settle();
  assert.equal(chat.connection.restarts, 1);
  close();
});

test('a read counts only if the connection took it', () => {
  const { chat, sent, close } = fakeChat();
  chat.received(ready([summary('c1', 3)]));
  chat.received(event('c1', 4));
  chat.connection.up = false;
  chat.markRead('c1');
  assert.equal(chat.channels.get('c1').unread, 1);
  chat.connection.up = true;
  chat.markRead('c1');
  assert.deepEqual(sent.at(-1), { op: 'read', channel_id: 'c1', seq: 4 });
  assert.equal(chat.channels.get('c1').unread, 0);
  close();
});

test('a send gets a fresh 32-hex client_id; too long a message is refused with the reason', () => {
  const { chat, sent, close } = fakeChat();
  chat.received(ready([summary('c1', 3)]));
  assert.equal(chat.send('c1', 'hello'), null);
  const frame = sent.at(-1);
  assert.match(frame.client_id, /^[0-9a-f]{32}$/);
  assert.equal(chat.outbox.get(frame.client_id).body, 'hello');
  chat.send('c1', 'again');
  assert.notEqual(sent.at(-1).client_id, frame.client_id);
  assert.match(chat.send('c1', 'x'.repeat(4001)), /limit is 4000/);
  close();
});

test('opening a direct chat loads its newest page, receipts and the peer’s presence, once', async () => {
  const { chat, calls, close } = fakeChat();
  chat.received(ready([summary('d1', 12, { kind: 'direct', peer: BOB })]));
  calls.length = 0;
  await Promise.all([chat.loadNewest('d1'), chat.loadNewest('d1')]);
  assert.deepEqual(calls, [
    ['history', 'd1', { before: 13, limit: 50 }],
    ['receipts', 'd1'],
    ['presence', BOB.id],
  ]);
  const ch = chat.channels.get('d1');
  assert.equal(ch.loaded, true);
  assert.equal(chat.statusOf(ch, 2), 'read');
  assert.equal(chat.presence.get(BOB.id).last_seen, 5);
  await chat.loadNewest('d1');
  assert.equal(calls.length, 3, 'loaded once');
  close();
});

test('the timer is set for the next wake and cleared when nothing is due', async () => {
  const { chat, sent, close } = fakeChat();
  chat.received(ready([summary('c1', 3)]));
  assert.equal(chat.timer, null);
  chat.received(event('c1', 4));
  assert.notEqual(chat.timer, null);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(sent.at(-1), { op: 'delivered', channel_id: 'c1', seq: 4 });
  assert.equal(chat.timer, null);
  close();
});
