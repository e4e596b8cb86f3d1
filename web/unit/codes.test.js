// The named codes: the same names and numbers as crates/confab-proto/src/error.rs and the tables of
// docs/protocol.md, and how a close code is judged.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CloseCode, ErrorCode, isFromServer, isTerminal, retryAfterMs } from '../codes.js';

const root = new URL('../../', import.meta.url);
const read = (path) => readFileSync(new URL(path, root), 'utf8');

/** `Name = 1234,` lines of a Rust enum, as {Name: 1234}. */
function rustEnum(source, name) {
  const body = source.split(`pub enum ${name} {`)[1].split('\n}')[0];
  return Object.fromEntries([...body.matchAll(/^\s*(\w+) = (\d+),/gm)].map((m) => [m[1], Number(m[2])]));
}

/** The first column of a protocol table's rows that start with a code, as numbers. */
function documented(doc, section) {
  const text = doc.split(section)[1].split('\n## ')[0];
  return [...text.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
}

test('error codes are the protocol crate’s, name for name', () => {
  assert.deepEqual({ ...ErrorCode }, rustEnum(read('crates/confab-proto/src/error.rs'), 'ErrorCode'));
});

test('server close codes are the protocol crate’s, name for name', () => {
  const { Normal, Abnormal, TryAgainLater, ...server } = CloseCode;
  assert.deepEqual(server, rustEnum(read('crates/confab-proto/src/error.rs'), 'CloseCode'));
  // The three others are the WebSocket layer's own numbers.
  assert.deepEqual([Normal, Abnormal, TryAgainLater], [1000, 1006, 1013]);
});

test('every code docs/protocol.md lists has a name here', () => {
  const doc = read('docs/protocol.md');
  assert.deepEqual(documented(doc, '## 7. Errors'), Object.values(ErrorCode));
  const closes = documented(doc, '## 8. Close codes');
  assert.deepEqual(closes, Object.values(CloseCode).filter(isFromServer));
});

test('4100–4199 are terminal; the server’s reconnect range and network failures are not', () => {
  for (const code of [4100, 4103, 4105, 4150, 4199]) assert.equal(isTerminal(code), true, String(code));
  for (const code of [4000, 4002, 4003, 4006, 4099, 1000, 1006, 1013, 0]) {
    assert.equal(isTerminal(code), false, String(code));
  }
  assert.equal(isTerminal(CloseCode.AuthenticationFailed), true);
  assert.equal(isTerminal(CloseCode.SessionRevoked), true);
  assert.equal(isTerminal(CloseCode.SlowConsumer), false);
});

test('codes from 4000 up come from the server; those below from the network', () => {
  assert.equal(isFromServer(4000), true);
  assert.equal(isFromServer(4105), true);
  assert.equal(isFromServer(3999), false);
  assert.equal(isFromServer(CloseCode.Abnormal), false);
});

test('the retry hint is read from a close reason', () => {
  assert.equal(retryAfterMs('overloaded retry_after_ms=3284'), 3284);
  assert.equal(retryAfterMs('refused retry_after_ms=2000'), 2000);
  assert.equal(retryAfterMs('server_shutdown'), 0);
  assert.equal(retryAfterMs(''), 0);
  assert.equal(retryAfterMs(undefined), 0);
});

test('the objects cannot be changed', () => {
  assert.throws(() => {
    CloseCode.SessionRevoked = 1;
  }, TypeError);
  assert.equal(Object.isFrozen(ErrorCode), true);
});
