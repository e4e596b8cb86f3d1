// The two transports a gateway session runs over (docs/protocol.md §2.7): a WebSocket, and long
// polling through an HTTP session. Both take the same handlers: `frame(obj)` for each server frame,
// `close(code, reason)` once when the session ends (code 1006, `CloseCode.Abnormal`, when it just
// dropped).

import { CloseCode } from './codes.js';

/** The gateway's WebSocket URL: /ws on this page's host, over TLS when the page is. */
export function gatewayUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/** The gateway over a WebSocket at /ws. */
export class SocketTransport {
  constructor(handlers) {
    this.kind = 'websocket';
    this.handlers = handlers;
    this.closed = false;
    this.ws = new WebSocket(gatewayUrl());
    this.ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(m.data);
      } catch {
        return;
      }
      this.handlers.frame(frame);
    };
    this.ws.onclose = (e) => this.finish(e.code || CloseCode.Abnormal, e.reason || '');
  }

  send(frame) {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.closed = true;
    try {
      this.ws.close(CloseCode.Normal);
    } catch {
      // already closed
    }
  }

  finish(code, reason) {
    if (this.closed) return;
    this.closed = true;
    this.handlers.close(code, reason);
  }
}

/** How long one poll waits on the server, and how long the browser waits for its answer. */
const POLL_WAIT_MS = 25000;
const POLL_DEADLINE_MS = POLL_WAIT_MS + 10000;
/** Failed polls in a row (network errors, 5xx) before the session counts as dropped. */
const MAX_POLL_FAILURES = 3;

/** The gateway over HTTP long polling: POST /api/v1/sessions, then …/frames and …/poll. */
export class PollTransport {
  constructor(handlers) {
    this.kind = 'long polling';
    this.handlers = handlers;
    this.closed = false;
    this.id = null;
    this.after = 0;
    this.posting = Promise.resolve();
    this.abort = new AbortController();
    this.start();
  }

  async start() {
    let response;
    try {
      response = await fetch('/api/v1/sessions', { method: 'POST', signal: this.abort.signal });
    } catch {
      this.finish(CloseCode.Abnormal, 'unreachable');
      return;
    }
    if (response.status === 503) {
      const secs = Number(response.headers.get('Retry-After')) || 1;
      this.finish(CloseCode.TryAgainLater, `refused retry_after_ms=${secs * 1000}`);
      return;
    }
    if (!response.ok) {
      this.finish(CloseCode.Abnormal, `session refused (${response.status})`);
      return;
    }
    this.id = (await response.json()).session_id;
    this.pollLoop();
  }

  async pollLoop() {
    let failures = 0;
    while (!this.closed) {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), POLL_DEADLINE_MS);
      const onAbort = () => deadline.abort();
      this.abort.signal.addEventListener('abort', onAbort);
      try {
        const url = `/api/v1/sessions/${this.id}/poll?after=${this.after}&timeout_ms=${POLL_WAIT_MS}`;
        const response = await fetch(url, { signal: deadline.signal });
        if (response.status === 404) {
          this.finish(CloseCode.Abnormal, 'session gone');
          return;
        }
        if (!response.ok) throw new Error(`poll answered ${response.status}`);
        const batch = await response.json();
        failures = 0;
        this.after = batch.next;
        for (const frame of batch.frames) {
          if (this.closed) return;
          this.handlers.frame(frame);
        }
        if (batch.closed) {
          this.finish(batch.closed.code, batch.closed.reason);
          return;
        }
      } catch {
        if (this.closed) return;
        failures += 1;
        if (failures >= MAX_POLL_FAILURES) {
          this.finish(CloseCode.Abnormal, 'polls failing');
          return;
        }
        await new Promise((r) => setTimeout(r, 500 * failures));
      } finally {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Posts frames one request at a time, in order. */
  send(frame) {
    if (this.closed || !this.id) return false;
    const body = JSON.stringify(frame);
    this.posting = this.posting.then(async () => {
      if (this.closed) return;
      try {
        const r = await fetch(`/api/v1/sessions/${this.id}/frames`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body,
          signal: this.abort.signal,
        });
        if (r.status === 404) this.finish(CloseCode.Abnormal, 'session gone');
      } catch {
        this.finish(CloseCode.Abnormal, 'post failed');
      }
    });
    return true;
  }

  close() {
    const id = this.id;
    this.closed = true;
    this.abort.abort();
    if (id) fetch(`/api/v1/sessions/${id}`, { method: 'DELETE', keepalive: true }).catch(() => {});
  }

  finish(code, reason) {
    if (this.closed) return;
    this.close();
    this.handlers.close(code, reason);
  }
}
