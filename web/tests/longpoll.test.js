// Where WebSockets fail (here: every /ws connection is closed at once), the UI falls back to long
// polling through /api/v1/sessions and still chats.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  messageBodies,
  newPage,
  openAs,
  openChannel,
  screenshot,
  sendInUi,
  serverAndBrowser,
  waitForText,
} from './harness.js';

const env = serverAndBrowser();

test('with WebSockets blocked the UI chats over long polling', async () => {
  const { server, browser } = env;
  const aliceAuth = await server.register('alice');
  const bobAuth = await server.register('bob');
  await server.rest(aliceAuth.token, 'POST', '/channels', { kind: 'direct', peer: 'bob' });

  const alice = await newPage(browser);
  let blocked = 0;
  await alice.context().routeWebSocket(/\/ws$/, (ws) => {
    blocked += 1;
    ws.close({ code: 1006, reason: 'blocked by the test' });
  });
  const polls = [];
  alice.on('request', (r) => {
    if (r.url().includes('/api/v1/sessions')) polls.push(r.url());
  });
  const bob = await newPage(browser);
  await openAs(alice, server, aliceAuth);
  await openAs(bob, server, bobAuth);

  await waitForText(alice, '#connection', 'long polling', 20000);
  assert.equal(await alice.evaluate(() => document.body.dataset.transport), 'long polling');
  assert.ok(blocked >= 1, 'the UI tried the WebSocket first');
  await openChannel(alice, 'bob');
  await openChannel(bob, 'alice');

  await sendInUi(alice, 'sent over long polling');
  await waitForText(bob, '#message-list', 'sent over long polling');
  await sendInUi(bob, 'received over long polling');
  await waitForText(alice, '#message-list', 'received over long polling');
  // Typing and read ticks travel the same way.
  await bob.click('#composer-input');
  await bob.keyboard.type('typing…');
  await waitForText(alice, '#typing', 'bob is typing');
  await bob.waitForSelector('#message-list .msg.mine[data-status="read"]');

  assert.deepEqual(await messageBodies(alice), ['sent over long polling', 'received over long polling']);
  assert.ok(polls.some((u) => u.includes('/poll?')), 'frames came by polling');
  await screenshot(alice, 'longpoll');
  assert.deepEqual(alice.errors, []);
});
