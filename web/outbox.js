// The outbox (docs/protocol.md §6.2, §11): every message the user sends, kept until its own event
// arrives. Each attempt is a `send` with the message's own client_id and a new ref (so that an
// `error` finds its message); unacknowledged messages go again after every (re)connect, and sends
// the server could not complete go again after a wait. The server stores a client_id once, so
// none of this can make a message appear twice. Pure data: state.js sends the frames.

import { ErrorCode } from './codes.js';

/** Waits before re-sending a send the server could not complete (1000, 1010). */
export const SEND_RETRY_MS = [200, 400, 800, 1600, 3000, 3000];
/** The wait after a 1007 that carries no `retry_after_ms`. */
const RATE_LIMITED_WAIT_MS = 500;
/** Send errors worth sending again with the same client_id: it may not be stored yet. */
const RETRYABLE = [ErrorCode.Internal, ErrorCode.Unavailable, ErrorCode.RateLimited];

export class Outbox {
  constructor() {
    /** client_id → {clientId, channelId, body, ts, seq, failed, tries}, in send order */
    this.entries = new Map();
    /** ref of a `send` frame → its client_id */
    this.refs = new Map();
    this.nextRef = 1;
    /** Sends to repeat after a retryable error: {entry, at}. */
    this.resends = [];
  }

  /** A new message; `seq` stays null until its ack. */
  add(clientId, channelId, body, now) {
    const entry = { clientId, channelId, body, ts: now, seq: null, failed: null, tries: 0 };
    this.entries.set(clientId, entry);
    return entry;
  }

  /** The `send` frame of one attempt: the entry's own client_id, a new ref. */
  attempt(entry) {
    const ref = this.nextRef++;
    this.refs.set(ref, entry.clientId);
    return { op: 'send', ref, channel_id: entry.channelId, client_id: entry.clientId, body: entry.body };
  }

  /** What a new session sends again: every message without an ack that did not fail. */
  unacked() {
    return [...this.entries.values()].filter((e) => e.seq === null && !e.failed);
  }

  /** The message's event arrived: it is in the channel now. */
  arrived(clientId) {
    this.entries.delete(clientId);
  }

  /** An `ack`: the entry, now with its seq and time; null when it is not ours (any more). */
  acked(f) {
    const entry = this.entries.get(f.client_id);
    if (f.ref !== undefined) this.refs.delete(f.ref);
    if (!entry) return null;
    entry.seq = f.seq;
    entry.ts = f.ts;
    entry.failed = null;
    return entry;
  }

  /**
   * An `error`: `{entry: null}` when it answers no send of ours; else the entry, either to be sent
   * again later (`retrying`) or marked failed with the server's explanation.
   */
  refused(f, now) {
    const clientId = f.ref !== undefined ? this.refs.get(f.ref) : undefined;
    const entry = clientId ? this.entries.get(clientId) : undefined;
    if (f.ref !== undefined) this.refs.delete(f.ref);
    if (!entry) return { entry: null, retrying: false };
    if (RETRYABLE.includes(f.code) && entry.tries < SEND_RETRY_MS.length) {
      const wait =
        f.code === ErrorCode.RateLimited ? f.retry_after_ms || RATE_LIMITED_WAIT_MS : SEND_RETRY_MS[entry.tries];
      entry.tries += 1;
      this.resends.push({ entry, at: now + wait });
      return { entry, retrying: true };
    }
    entry.failed = f.message || f.error;
    return { entry, retrying: false };
  }

  /** The messages whose wait after an error ended at `now`, still unacknowledged. */
  due(now) {
    const due = this.resends.filter((r) => r.at <= now).sort((a, b) => a.at - b.at);
    this.resends = this.resends.filter((r) => r.at > now);
    return due.map((r) => r.entry).filter((e) => this.entries.get(e.clientId) === e && e.seq === null);
  }

  nextWake() {
    return this.resends.length ? Math.min(...this.resends.map((r) => r.at)) : null;
  }

  /** The user asks to send a failed message again: a fresh set of tries. */
  retry(clientId) {
    const entry = this.entries.get(clientId);
    if (!entry) return null;
    entry.failed = null;
    entry.tries = 0;
    return entry;
  }

  discard(clientId) {
    const entry = this.entries.get(clientId);
    if (entry) this.entries.delete(clientId);
    return entry || null;
  }

  /** The user left the channel: its unsent messages go. */
  dropChannel(channelId) {
    for (const [clientId, entry] of this.entries) if (entry.channelId === channelId) this.entries.delete(clientId);
  }
}
