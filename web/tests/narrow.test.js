// A phone-sized screen (375×700): the channel list and the conversation are two panes you switch
// between; open a chat, send, go back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  messageBodies,
  newPage,
  openAs,
  screenshot,
  sendInUi,
  serverAndBrowser,
  waitForText,
} from './harness.js';

const env = serverAndBrowser();

test('on a narrow screen the list and the conversation take turns', async () => {
  const { server, browser } = env;
  const aliceAuth = await server.register('alice');
  const bobAuth = await server.register('bob');
  const dm = await server.rest(aliceAuth.token, 'POST', '/channels', { kind: 'direct', peer: 'bob' });
  await server.rest(bobAuth.token, 'POST', `/channels/${dm.id}/messages`, { client_id: 'b1', body: 'Are you on your phone?' });

  const page = await newPage(browser, { viewport: { width: 375, height: 700 }, isMobile: true, hasTouch: true });
  await openAs(page, server, aliceAuth);
  await waitForText(page, '#channel-list', 'Are you on your phone?');
  assert.ok(await page.isVisible('#sidebar'));
  assert.ok(!(await page.isVisible('#conversation')), 'only the list at first');
  await screenshot(page, 'narrow-list');

  await page.locator('#channel-list .channel').first().tap();
  await page.waitForSelector('#conversation', { state: 'visible' });
  assert.ok(!(await page.isVisible('#sidebar')), 'only the conversation now');
  await waitForText(page, '#message-list', 'Are you on your phone?');
  await sendInUi(page, 'Yes, on a small screen');
  await page.waitForSelector('#message-list .msg.mine[data-seq]');
  assert.deepEqual(await messageBodies(page), ['Are you on your phone?', 'Yes, on a small screen']);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `no horizontal scrolling (${width}px)`);
  await screenshot(page, 'narrow-conversation');

  await page.locator('#back-button').tap();
  await page.waitForSelector('#sidebar', { state: 'visible' });
  assert.ok(!(await page.isVisible('#conversation')));
  await waitForText(page, '#channel-list', 'You: Yes, on a small screen');
  // Escape goes back too, from the keyboard.
  await page.locator('#channel-list .channel').first().tap();
  await page.waitForSelector('#conversation', { state: 'visible' });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#sidebar', { state: 'visible' });
  assert.deepEqual(page.errors, []);
});
