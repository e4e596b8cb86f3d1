// Text is always text: markup in messages and group names shows as typed, and no script runs.

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
  sleep,
  waitForText,
} from './harness.js';

const env = serverAndBrowser();

const PAYLOAD = '<script>alert(1)</script><img src=x onerror=alert(2)>';
const GROUP = '<img src=y onerror=alert(3)><b>bold</b>';

test('markup in a message or a group name shows as text and runs nothing', async () => {
  const { server, browser } = env;
  const aliceAuth = await server.register('alice');
  const bobAuth = await server.register('bob');
  await server.rest(aliceAuth.token, 'POST', '/channels', { kind: 'direct', peer: 'bob' });
  const alice = await newPage(browser);
  const bob = await newPage(browser);
  await openAs(alice, server, aliceAuth);
  await openAs(bob, server, bobAuth);

  await openChannel(alice, 'bob');
  await sendInUi(alice, PAYLOAD);
  await waitForText(bob, '#channel-list .ch-preview', PAYLOAD);
  await openChannel(bob, 'alice');
  await waitForText(bob, '#message-list', PAYLOAD);
  assert.deepEqual(await messageBodies(bob), [PAYLOAD]);

  await server.rest(aliceAuth.token, 'POST', '/channels', { kind: 'group', name: GROUP, members: ['bob'] });
  await waitForText(bob, '#channel-list', GROUP);
  await openChannel(bob, GROUP);
  await waitForText(bob, '#message-list', 'created the group');

  await sleep(300); // give any injected handler the chance to fire
  for (const page of [alice, bob]) {
    assert.deepEqual(page.dialogs, [], 'no dialog fired');
    assert.equal(await page.locator('#app-view script, #app-view img, #app-view b').count(), 0, 'no markup made it in');
    assert.deepEqual(page.errors, []);
  }
  await openChannel(bob, 'alice');
  await screenshot(bob, 'xss-as-text');
});
