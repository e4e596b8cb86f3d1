// Takes the README's screenshot of the web UI (docs/img/web-ui.png): a short conversation between
// two users on a fresh server. Not a test; run it by hand after changing how the UI looks:
//   node web/tests/readme-screenshot.js

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  ConfabServer,
  ROOT,
  launchBrowser,
  newPage,
  openAs,
  openChannel,
  sendInUi,
  waitForText,
} from './harness.js';

const server = await ConfabServer.create();
await server.start();
const browser = await launchBrowser();
try {
  const ann = await server.register('ann');
  const ben = await server.register('ben');
  await server.register('cho');
  const dm = await server.rest(ann.token, 'POST', '/channels', { kind: 'direct', peer: 'ben' });
  const team = await server.rest(ann.token, 'POST', '/channels', {
    kind: 'group',
    name: 'launch crew',
    members: ['ben', 'cho'],
  });
  const cho = await server.rest(null, 'POST', '/login', { username: 'cho', password: 'correct horse battery' });
  await server.rest(cho.token, 'POST', `/channels/${team.id}/messages`, {
    client_id: 'c1',
    body: 'Release notes are up for review.',
  });

  const annPage = await newPage(browser, { viewport: { width: 1100, height: 640 } });
  const benPage = await newPage(browser);
  await openAs(annPage, server, ann);
  await openAs(benPage, server, ben);
  await server.rest(ben.token, 'POST', `/channels/${dm.id}/messages`, {
    client_id: 'b1',
    body: 'Morning! Did the deploy go out?',
  });
  await openChannel(benPage, 'ann');
  await openChannel(annPage, 'ben');
  await sendInUi(annPage, 'It did, at 9:02. Zero errors so far.');
  await annPage.waitForSelector('#message-list .msg.mine[data-status="read"]');
  await sendInUi(benPage, 'Great work!\nI will tell the others.');
  await waitForText(annPage, '#message-list', 'tell the others').catch(async (err) => {
    await benPage.screenshot({ path: '/tmp/ben-fail.png' });
    throw err;
  });
  await benPage.click('#composer-input');
  await benPage.keyboard.type('Lunch');
  await waitForText(annPage, '#typing', 'ben is typing');
  await annPage.waitForTimeout(300);
  const out = path.join(ROOT, 'docs/img/web-ui.png');
  await mkdir(path.dirname(out), { recursive: true });
  await annPage.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.dispose();
}
