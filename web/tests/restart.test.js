// After a normal restart (SIGTERM: the node drains, then starts again) every browser is back on a
// WebSocket, including one that had fallen back to long polling while WebSockets were blocked:
// a drain or a restart is no reason to leave the WebSocket, and the end of a long-polling session
// makes the next attempt try it first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newPage, openAs, openChannel, sendInUi, serverAndBrowser, waitForText } from './harness.js';

const env = serverAndBrowser();

const transportOf = (page) => page.evaluate(() => document.body.dataset.transport);

async function waitForTransport(page, kind, timeout = 30000) {
  await page.waitForFunction((k) => document.body.dataset.transport === k, kind, { timeout });
}

test('after a drained restart both browsers are back on a WebSocket', async () => {
  const { server, browser } = env;
  const aliceAuth = await server.register('alice');
  const bobAuth = await server.register('bob');
  await server.rest(aliceAuth.token, 'POST', '/channels', { kind: 'direct', peer: 'bob' });

  const alice = await newPage(browser);
  const bob = await newPage(browser);
  // Bob starts behind something that breaks WebSockets, and falls back to long polling.
  let blocked = true;
  await bob.context().routeWebSocket(/\/ws$/, (ws) => {
    if (blocked) ws.close({ code: 1006, reason: 'blocked by the test' });
    else ws.connectToServer();
  });
  await openAs(alice, server, aliceAuth);
  await openAs(bob, server, bobAuth);
  await waitForTransport(alice, 'websocket');
  await waitForTransport(bob, 'long polling', 20000);
  // The block goes away; Bob's working long-polling session stays for now.
  blocked = false;

  // A normal restart: SIGTERM drains (every session closed with 4003), then the node comes back.
  await server.terminate();
  await waitForText(alice, '#connection', 'Reconnecting');
  await server.start();
  await waitForText(alice, '#connection', 'Back online', 30000);
  await waitForTransport(alice, 'websocket');
  await waitForTransport(bob, 'websocket');
  assert.equal(await transportOf(alice), 'websocket');
  assert.equal(await transportOf(bob), 'websocket');

  // And they chat over it.
  await openChannel(alice, 'bob');
  await openChannel(bob, 'alice');
  await sendInUi(alice, 'after the restart');
  await waitForText(bob, '#message-list', 'after the restart');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
