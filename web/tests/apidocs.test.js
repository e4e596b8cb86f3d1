// The API reference at /api/docs: the embedded Swagger UI lists every operation of the server's
// OpenAPI document, and loads nothing from anywhere else (offline, within its CSP).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newPage, screenshot, serverAndBrowser } from './harness.js';

const env = serverAndBrowser();

test('/api/docs lists every path of the OpenAPI document, offline', async () => {
  const { server, browser } = env;
  const doc = await (await fetch(`${server.base}/api/v1/openapi.json`)).json();
  const documented = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) documented.push(`${method.toUpperCase()} ${path}`);
  }
  assert.ok(documented.length >= 20, `${documented.length} operations`);

  const page = await newPage(browser);
  const elsewhere = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(server.base) && !r.url().startsWith('data:')) elsewhere.push(r.url());
  });
  const blocked = [];
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) blocked.push(m.text());
  });
  const response = await page.goto(`${server.base}/api/docs`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /default-src 'none'/);
  await page.waitForSelector('.opblock-summary-path');
  const listed = await page.$$eval('.opblock', (blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method').textContent.trim();
      const path = b.querySelector('.opblock-summary-path').getAttribute('data-path');
      return `${method} ${path}`;
    }),
  );
  assert.deepEqual([...listed].sort(), [...documented].sort());
  assert.match(await page.textContent('.info .title'), /Confab REST API/);

  assert.deepEqual(elsewhere, [], 'nothing fetched from elsewhere');
  assert.deepEqual(blocked, [], 'nothing blocked by the CSP');
  assert.deepEqual(page.errors, []);
  await screenshot(page, 'api-docs');
});
