// What the browser tests share: the real `confab` binary on a free port with a temporary data
// directory, Debian's Chromium driven by playwright-core, and a few steps done through the UI.

import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const BINARY = process.env.CONFAB_BIN || path.join(ROOT, 'target/debug/confab');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = path.join(here, 'screenshots');
export const PASSWORD = 'correct horse battery';

/** A port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** `confab serve` as a child process; `start()` again after `kill()` reuses port and data. */
export class ConfabServer {
  static async create() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'confab-web-'));
    return new ConfabServer(await freePort(), dir);
  }

  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.base = `http://127.0.0.1:${port}`;
    this.proc = null;
    this.log = '';
  }

  async start() {
    const args = [
      'serve',
      '--listen',
      `127.0.0.1:${this.port}`,
      '--data-dir',
      this.dir,
      // Tests post many messages at once over REST.
      '--send-rate',
      '1000',
      '--send-burst',
      '1000',
      '--drain-window',
      '1s',
    ];
    const proc = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (chunk) => {
      this.log = (this.log + chunk.toString()).slice(-20000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => proc.on('exit', resolve));
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`confab exited (${proc.exitCode}):\n${this.log}`);
      try {
        const r = await fetch(`${this.base}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`confab did not answer /healthz within 30 s:\n${this.log}`);
  }

  /** Kills the process at once (SIGKILL): no drain, no close frames. */
  async kill() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Stops the process as an operator does (SIGTERM): it drains, closing sessions with 4003. */
  async terminate() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    await this.exited;
  }

  async dispose() {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** A REST call; returns the parsed body, throws on an error status. */
  async rest(token, method, apiPath, body) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(`${this.base}/api/v1${apiPath}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${apiPath}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  register(username) {
    return this.rest(null, 'POST', '/register', { username, password: PASSWORD });
  }
}

/**
 * Starts a Confab server and a browser before the file's tests and stops both after them. Returns
 * an object whose `server` and `browser` are set once they are up.
 */
export function serverAndBrowser() {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await ConfabServer.create();
    await env.server.start();
    env.browser = await launchBrowser();
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.server) await env.server.dispose();
  });
  return env;
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page in a fresh browser context (its own localStorage), with dialogs recorded. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 }, ...options });
  const page = await context.newPage();
  page.dialogs = [];
  page.on('dialog', (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

/** Registers through the login form and waits for the channel list. */
export async function registerInUi(page, server, username) {
  await page.goto(`${server.base}/`);
  await page.fill('#login-username', username);
  await page.fill('#login-password', PASSWORD);
  await page.click('#register-button');
  await page.waitForSelector('#app-view:not([hidden])');
  await waitForText(page, '#me-name', username);
}

/** Logs in through the login form with a token stored in the page instead of typing. */
export async function openAs(page, server, auth) {
  await page.goto(`${server.base}/`);
  await page.evaluate(
    ([token, user]) => {
      localStorage.setItem('confab.token', token);
      localStorage.setItem('confab.user', JSON.stringify(user));
    },
    [auth.token, auth.user],
  );
  await page.reload();
  await page.waitForSelector('#app-view:not([hidden])');
}

/** Opens a channel by the name shown in the list. */
export async function openChannel(page, name) {
  await page.locator('#channel-list .channel', { has: page.locator('.ch-name', { hasText: name }) }).click();
  await waitForText(page, '#conv-title', name);
}

/** Starts (or opens) a direct chat with `username` through the search box. */
export async function startDirect(page, username) {
  await page.fill('#direct-input', username);
  await page.press('#direct-input', 'Enter');
  await waitForText(page, '#conv-title', username);
}

export async function sendInUi(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/** Waits until the element's text contains `text`. */
export function waitForText(page, selector, text, timeout = 15000) {
  return page.waitForFunction(
    ([s, t]) => {
      const node = document.querySelector(s);
      return node && node.textContent.includes(t);
    },
    [selector, text],
    { timeout },
  );
}

/** The bodies of the messages in the open conversation, in order. */
export function messageBodies(page) {
  return page.$$eval('#message-list .msg .msg-body', (nodes) => nodes.map((n) => n.textContent));
}

export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
