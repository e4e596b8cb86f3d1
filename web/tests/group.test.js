// Groups: create one, add a member (who sees it appear live), change a role, remove them (it
// disappears from their list).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  newPage,
  openAs,
  openChannel,
  screenshot,
  sendInUi,
  serverAndBrowser,
  waitForText,
} from './harness.js';

const env = serverAndBrowser();

test('a group is created, gains a member live, and loses them again', async () => {
  const { server, browser } = env;
  const aliceAuth = await server.register('alice');
  const bobAuth = await server.register('bob');
  const alice = await newPage(browser);
  const bob = await newPage(browser);
  await openAs(alice, server, aliceAuth);
  await openAs(bob, server, bobAuth);

  await alice.click('#new-group-button');
  await alice.fill('#group-name', 'team');
  await alice.click('#group-create');
  await waitForText(alice, '#conv-title', 'team');
  await waitForText(alice, '#conv-sub', '1 member · you are owner');

  await alice.click('#members-button');
  await waitForText(alice, '#member-list', 'alice (you)');
  await alice.fill('#add-member-input', 'bob');
  await alice.press('#add-member-input', 'Enter');
  await waitForText(alice, '#member-list', 'bob');
  await waitForText(alice, '#message-list', 'You added bob');

  // Bob sees the group appear without reloading, and can talk in it.
  await bob.waitForSelector('#channel-list .channel:has-text("team")');
  await openChannel(bob, 'team');
  await sendInUi(bob, 'thanks for adding me');
  await waitForText(alice, '#message-list', 'thanks for adding me');

  // Roles: the owner makes Bob an admin, then a member again.
  await alice.click('#member-list button[data-role="admin"]');
  await alice.waitForSelector('#member-list button[data-role="member"]');
  await waitForText(bob, '#conv-sub', 'you are admin');
  await screenshot(alice, 'group-members');
  await alice.click('#member-list button[data-role="member"]');
  await waitForText(bob, '#conv-sub', 'you are member');

  // Removed: the group leaves Bob's list, and his open conversation closes.
  await alice.click('#member-list button[data-remove]');
  await bob.waitForSelector('#channel-list .channel:has-text("team")', { state: 'detached' });
  await bob.waitForSelector('#conv', { state: 'hidden' });
  await waitForText(alice, '#message-list', 'You removed bob');
  assert.equal(await alice.locator('#member-list .member').count(), 1);
  await screenshot(bob, 'group-removed');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
