// When the connection uses long polling and when it goes back to the WebSocket (docs/web.md):
// driven with fake transports and probes, on real timers (backoffs of at most a second here).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connection } from '../connection.js';

/** Fake transports that record themselves; the test opens, greets or drops them. */
function fakeEnv({ ready = true, probes = [] } = {}) {
  const opened = [];
  let waiting = null;
  class Fake {
    constructor(kind, handlers) {
      this.kind = kind;
      this.handlers = handlers;
      this.sent = [];
      opened.push(this);
      if (waiting) waiting();
    }
    send(frame) {
      this.sent.push(frame);
      return true;
    }
    close() {
      this.closed = true;
    }
    /** The server's side: `hello`, then `ready` once the greeting arrived. */
    accept() {
      this.handlers.frame({ op: 'hello', heartbeat_interval_ms: 30000 });
      assert.equal(this.sent[0].op, 'identify');
      this.handlers.frame({ op: 'ready', channels: [] });
    }
    drop(code = 1006, reason = '') {
      this.handlers.close(code, reason);
    }
  }
  const env = {
    ready,
    probes: [...probes],
    probed: 0,
    Socket: class extends Fake {
      constructor(handlers) {
        super('websocket', handlers);
      }
    },
    Poll: class extends Fake {
      constructor(handlers) {
        super('long polling', handlers);
      }
    },
    async nodeReady() {
      return env.ready;
    },
    async probeSocket() {
      env.probed += 1;
      return env.probes.shift() ?? false;
    },
    opened,
    /** The `n`th transport opened (0-based), waiting for it if it is not there yet. */
    async nth(n) {
      const deadline = Date.now() + 5000;
      while (opened.length <= n) {
        if (Date.now() > deadline) throw new Error(`transport ${n} never opened: ${opened.map((t) => t.kind)}`);
        await new Promise((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 50);
        });
      }
      return opened[n];
    },
  };
  return env;
}

function connect(env, more = {}) {
  const states = [];
  const conn = new Connection({
    greeting: () => ({ op: 'identify', token: 't' }),
    onFrame: () => {},
    onState: (state, detail) => states.push([state, detail.transport]),
    env,
    ...more,
  });
  conn.start();
  return { conn, states };
}

test('the WebSocket failing twice while the node is ready moves to long polling', async () => {
  const env = fakeEnv({ ready: true });
  const { conn, states } = connect(env);
  (await env.nth(0)).drop();
  (await env.nth(1)).drop();
  const poll = await env.nth(2);
  assert.deepEqual(env.opened.map((t) => t.kind), ['websocket', 'websocket', 'long polling']);
  poll.accept();
  assert.deepEqual(states.at(-1), ['online', 'long polling']);
  conn.stop();
});

test('a node that is down or draining never pushes the connection off the WebSocket', async () => {
  const env = fakeEnv({ ready: false });
  const { conn } = connect(env);
  for (let i = 0; i < 4; i += 1) (await env.nth(i)).drop();
  const fifth = await env.nth(4);
  assert.deepEqual(
    env.opened.map((t) => t.kind),
    ['websocket', 'websocket', 'websocket', 'websocket', 'websocket'],
  );
  // Back up: the WebSocket works at once.
  env.ready = true;
  fifth.accept();
  assert.equal(conn.transportKind, 'websocket');
  conn.stop();
});

test('after a long-polling session ends, the next attempt tries the WebSocket first', async () => {
  const env = fakeEnv({ ready: true });
  const { conn, states } = connect(env);
  (await env.nth(0)).drop();
  (await env.nth(1)).drop();
  const poll = await env.nth(2);
  poll.accept();
  // The node restarts (drain: 4003), and its WebSockets now work.
  poll.drop(4003, 'server_shutdown');
  const next = await env.nth(3);
  assert.equal(next.kind, 'websocket');
  next.accept();
  assert.deepEqual(states.at(-1), ['online', 'websocket']);
  conn.stop();
});

test('a working long-polling session probes the WebSocket and moves to it when it opens', async () => {
  const env = fakeEnv({ ready: true, probes: [false, true] });
  const { conn } = connect(env, { upgradeAfterMs: 30 });
  (await env.nth(0)).drop();
  (await env.nth(1)).drop();
  const poll = await env.nth(2);
  poll.accept();
  const upgraded = await env.nth(3);
  assert.equal(env.probed, 2, 'one failed probe, then one that opened');
  assert.equal(upgraded.kind, 'websocket');
  assert.ok(poll.closed, 'the long-polling session was left');
  upgraded.accept();
  assert.equal(conn.transportKind, 'websocket');
  conn.stop();
});
