// A page reload keeps history (scrolling back through more than one page) and unread state.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  messageBodies,
  newPage,
  openAs,
  openChannel,
  screenshot,
  serverAndBrowser,
  waitForText,
} from './harness.js';

const env = serverAndBrowser();

/** Scrolls the conversation to the top until the oldest message is `first`. */
async function scrollBackTo(page, first) {
  for (let i = 0; i < 20; i += 1) {
    const bodies = await messageBodies(page);
    if (bodies[0] === first) return bodies;
    await page.evaluate(() => {
      document.querySelector('#messages').scrollTop = 0;
    });
    await page.waitForTimeout(200);
  }
  throw new Error(`never reached ${first}: starts at ${(await messageBodies(page))[0]}`);
}

test('a reload keeps history and unread state', async () => {
  const { server, browser } = env;
  const alice = await server.register('alice');
  const bob = await server.register('bob');
  const dm = await server.rest(alice.token, 'POST', '/channels', { kind: 'direct', peer: 'bob' });
  const total = 75; // more than one page (50)
  const sent = [];
  for (let i = 1; i <= total; i += 1) {
    const body = `message ${i}`;
    await server.rest(bob.token, 'POST', `/channels/${dm.id}/messages`, { client_id: `m-${i}`, body });
    sent.push(body);
  }

  const page = await newPage(browser);
  await openAs(page, server, alice);
  await waitForText(page, '#channel-list .badge', String(total));
  await waitForText(page, '#channel-list .ch-preview', `message ${total}`);

  await openChannel(page, 'bob');
  await waitForText(page, '#message-list', `message ${total}`);
  await page.waitForSelector('#channel-list .badge', { state: 'hidden' });

  // After a reload: the newest page first, then older pages by scrolling up, all in order.
  await page.reload();
  await page.waitForSelector('#channel-list .channel');
  assert.equal(await page.locator('#channel-list .badge:not([hidden])').count(), 0, 'read survives a reload');
  await openChannel(page, 'bob');
  await waitForText(page, '#message-list', `message ${total}`);
  const bodies = await scrollBackTo(page, 'message 1');
  assert.deepEqual(bodies, sent);
  await screenshot(page, 'reload-history');

  // Messages that arrive while another channel is open make a badge, which a reload keeps.
  await server.register('carol');
  const other = await server.rest(alice.token, 'POST', '/channels', { kind: 'direct', peer: 'carol' });
  await openChannel(page, 'carol');
  for (let i = 1; i <= 3; i += 1) {
    await server.rest(bob.token, 'POST', `/channels/${dm.id}/messages`, { client_id: `late-${i}`, body: `late ${i}` });
  }
  const bobItem = page.locator('#channel-list .channel', { has: page.locator('.ch-name', { hasText: 'bob' }) });
  await waitForText(page, '#channel-list', 'late 3');
  assert.equal(await bobItem.locator('.badge').textContent(), '3');
  assert.ok(other.id);

  await page.reload();
  await page.waitForSelector('#channel-list .channel');
  await waitForText(page, '#channel-list', 'late 3');
  assert.equal(await bobItem.locator('.badge').textContent(), '3', 'unread survives a reload');
  await screenshot(page, 'reload-unread');

  // Opening it clears the badge, for good.
  await openChannel(page, 'bob');
  await waitForText(page, '#message-list', 'late 3');
  await bobItem.locator('.badge').waitFor({ state: 'hidden' });
  await page.reload();
  await page.waitForSelector('#channel-list .channel');
  await waitForText(page, '#channel-list', 'late 3');
  assert.equal(await bobItem.locator('.badge:not([hidden])').count(), 0);
  assert.deepEqual(page.errors, []);
});
