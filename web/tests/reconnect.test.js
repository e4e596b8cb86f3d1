// Killing the server shows the reconnect state; after a restart on the same port and data the
// conversation resumes with nothing lost and nothing duplicated.

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

/** Message bodies of the open conversation, checked to be in strictly increasing seq order. */
async function orderedBodies(page) {
  const seqs = await page.$$eval('#message-list .msg', (nodes) => nodes.map((n) => Number(n.dataset.seq)));
  for (let i = 1; i < seqs.length; i += 1) assert.ok(seqs[i] > seqs[i - 1], `seq order: ${seqs}`);
  return messageBodies(page);
}

test('a server restart shows the reconnect state and resumes with nothing lost or repeated', async () => {
  const { server, browser } = env;
  const aliceAuth = await server.register('alice');
  const bobAuth = await server.register('bob');
  const dm = await server.rest(aliceAuth.token, 'POST', '/channels', { kind: 'direct', peer: 'bob' });
  const alice = await newPage(browser);
  const bob = await newPage(browser);
  await openAs(alice, server, aliceAuth);
  await openAs(bob, server, bobAuth);
  await openChannel(alice, 'bob');
  await openChannel(bob, 'alice');
  await sendInUi(alice, 'before the crash');
  await waitForText(bob, '#message-list', 'before the crash');

  await server.kill();
  await waitForText(alice, '#connection', 'Reconnecting');
  await waitForText(bob, '#connection', 'Reconnecting');
  await screenshot(alice, 'reconnect-down');

  // Bob writes while the server is down: the message waits in his outbox.
  await sendInUi(bob, 'written while down');
  await bob.waitForSelector('#message-list .msg.mine[data-status="pending"]');

  await server.start();
  // Right after the restart, more arrives over REST (possibly before the browsers are back).
  for (let i = 1; i <= 3; i += 1) {
    await server.rest(bobAuth.token, 'POST', `/channels/${dm.id}/messages`, {
      client_id: `after-${i}`,
      body: `after restart ${i}`,
    });
  }
  await waitForText(alice, '#connection', 'Back online', 30000);
  await waitForText(bob, '#connection', 'Back online', 30000);
  await waitForText(alice, '#message-list', 'written while down');
  await waitForText(alice, '#message-list', 'after restart 3');
  await waitForText(bob, '#message-list', 'after restart 3');

  // The conversation goes on both ways.
  await sendInUi(alice, 'alice again');
  await sendInUi(bob, 'bob again');
  await waitForText(alice, '#message-list', 'bob again');
  await waitForText(bob, '#message-list', 'alice again');
  await bob.waitForSelector('#message-list .msg.mine[data-status="pending"]', { state: 'detached' });

  const expected = [
    'before the crash',
    'written while down',
    'after restart 1',
    'after restart 2',
    'after restart 3',
    'alice again',
    'bob again',
  ].sort();
  for (const page of [alice, bob]) {
    const bodies = await orderedBodies(page);
    assert.equal(bodies.length, expected.length, `no repeats: ${bodies}`);
    assert.deepEqual([...bodies].sort(), expected);
  }
  // The DOM agrees with the server's history.
  const history = await server.rest(aliceAuth.token, 'GET', `/channels/${dm.id}/messages?limit=50`);
  const stored = history.events.filter((e) => e.type === 'message').map((e) => e.body);
  assert.deepEqual(await orderedBodies(alice), stored);
  assert.deepEqual(await orderedBodies(bob), stored);
  await screenshot(alice, 'reconnect-back');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
