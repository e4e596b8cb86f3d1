// Two users in two browser contexts: register, start a direct chat, talk both ways; presence,
// typing and read ticks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  messageBodies,
  newPage,
  openChannel,
  registerInUi,
  screenshot,
  sendInUi,
  serverAndBrowser,
  startDirect,
  waitForText,
} from './harness.js';

const env = serverAndBrowser();

test('two users chat both ways and see presence, typing and read ticks', async () => {
  const { server, browser } = env;
  const alice = await newPage(browser);
  const bob = await newPage(browser);
  await registerInUi(alice, server, 'alice');
  await registerInUi(bob, server, 'bob');

  // A server error is shown as readable text.
  await alice.fill('#direct-input', 'nobody');
  await alice.press('#direct-input', 'Enter');
  await alice.waitForSelector('#toast:not([hidden])');
  const error = await alice.textContent('#toast');
  assert.match(error, /nobody|not found|no such/i);
  assert.doesNotMatch(error, /[{}]/);

  // Alice starts a direct chat with Bob by username; it appears in Bob's list live.
  await startDirect(alice, 'bob');
  await bob.waitForSelector('#channel-list .channel:has-text("alice")');

  // Each sees the other online (the direct peer is a contact).
  await alice.waitForSelector('#conv-dot.online');
  await waitForText(alice, '#conv-sub', 'online');
  await bob.waitForSelector('#channel-list .channel .dot.online');

  // Alice sends while Bob is elsewhere: sent (✓), then Bob gets an unread badge.
  await sendInUi(alice, 'Hello Bob!');
  await alice.waitForSelector('#message-list .msg.mine[data-status="sent"], #message-list .msg.mine[data-status="delivered"]');
  await waitForText(bob, '#channel-list .channel .badge', '1');
  await waitForText(bob, '#channel-list .channel .ch-preview', 'Hello Bob!');

  // Bob opens the chat: Alice's message turns read.
  await openChannel(bob, 'alice');
  await waitForText(bob, '#message-list', 'Hello Bob!');
  await alice.waitForSelector('#message-list .msg.mine[data-status="read"]');
  assert.equal(await bob.locator('#channel-list .channel .badge:not([hidden])').count(), 0);

  // Bob types: Alice sees the indicator; then he sends a multi-line reply with Shift+Enter.
  await bob.click('#composer-input');
  await bob.keyboard.type('Hi Alice');
  await waitForText(alice, '#typing', 'bob is typing…');
  await screenshot(alice, 'chat-typing');
  await bob.keyboard.down('Shift');
  await bob.keyboard.press('Enter');
  await bob.keyboard.up('Shift');
  await bob.keyboard.type('second line');
  await bob.keyboard.press('Enter');
  await waitForText(alice, '#message-list', 'second line');
  // The indicator ends with his message.
  await alice.waitForFunction(() => document.querySelector('#typing').textContent === '');

  // Alice has the chat open, so Bob's reply is read at once.
  await bob.waitForSelector('#message-list .msg.mine[data-status="read"]');
  assert.deepEqual(await messageBodies(alice), ['Hello Bob!', 'Hi Alice\nsecond line']);
  assert.deepEqual(await messageBodies(bob), ['Hello Bob!', 'Hi Alice\nsecond line']);

  // Bob leaves: Alice sees him go offline with a last-seen time.
  await sendInUi(alice, 'See you');
  await waitForText(bob, '#message-list', 'See you');
  await screenshot(alice, 'chat-alice');
  await bob.context().close();
  await waitForText(alice, '#conv-sub', 'last seen');
  await alice.waitForSelector('#conv-dot.offline');

  // Logging out forgets the token: a reload shows the login form.
  await alice.click('#logout-button');
  await alice.waitForSelector('#login-view:not([hidden])');
  await alice.reload();
  await alice.waitForSelector('#login-view:not([hidden])');
  assert.equal(await alice.evaluate(() => localStorage.getItem('confab.token')), null);
  assert.deepEqual(alice.errors, []);
});
