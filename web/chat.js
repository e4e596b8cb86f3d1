// The client's state and the rules that keep it right (docs/protocol.md §11): channels with a
// cursor each, events deduplicated by (channel, seq) and gaps filled from history, an outbox of
// sends kept until their event arrives (retried with the same client_id), receipts, presence,
// typing, read and delivered pointers. The view reads this state; `onChange(kind, channelId)` says
// what moved.

import { ErrorCode } from './codes.js';
import { Connection } from './connection.js';

const PAGE = 50;
const GAP_PAGE = 200;
const DELIVERED_EVERY_MS = 250;
const TYPING_EVERY_MS = 2000;
/** Extra wait so that a delayed `typing` reaches the server after its 2 s window, not just before. */
const TYPING_MARGIN_MS = 150;
/** Input older than this when the 2 s window ends no longer counts as typing. */
const TYPING_STALE_MS = 5000;
/** Waits before re-sending a send the server could not complete (1000, 1010). */
const SEND_RETRY_MS = [200, 400, 800, 1600, 3000, 3000];
const MAX_WATCHED = 256;
/** Send errors worth sending again with the same client_id: it may not be stored yet. */
const RETRYABLE_SEND_ERRORS = [ErrorCode.Internal, ErrorCode.Unavailable, ErrorCode.RateLimited];

/** A fresh idempotency key: 32 hex characters. */
function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Chat {
  /**
   * @param {import('./api.js').Api} api
   * @param {(kind: string, channelId?: string, detail?: any) => void} onChange
   * @param {(channelId: string) => boolean} isReading whether the user sees that channel now
   */
  constructor(api, onChange, isReading) {
    this.api = api;
    this.onChange = onChange;
    this.isReading = isReading;
    this.me = null;
    this.channels = new Map();
    this.presence = new Map();
    /** channel id → Map(user id → expiry time in ms) */
    this.typing = new Map();
    /** client_id → {clientId, channelId, body, ts, seq, failed, tries}, in send order */
    this.outbox = new Map();
    this.refs = new Map();
    this.nextRef = 1;
    this.receiptsSince = null;
    this.started = false;
    this.watched = new Set();
    this.lastTypingSent = new Map();
    this.lastInput = new Map();
    this.typingTimers = new Map();
    this.deliveredDirty = new Set();
    this.deliveredTimer = null;
    this.maxMessageChars = 4000;
    this.queue = Promise.resolve();
    this.connection = new Connection({
      greeting: () => this.greeting(),
      onFrame: (f) => this.handle(f),
      onState: (state, detail) => this.onChange('connection', null, { state, ...detail }),
    });
  }

  start() {
    this.connection.start();
  }

  stop() {
    this.connection.stop();
  }

  get online() {
    return this.connection.online;
  }

  greeting() {
    const hello = this.connection.hello;
    if (hello && hello.limits) this.maxMessageChars = hello.limits.max_message_chars;
    if (!this.started) return { op: 'identify', token: this.api.token };
    const cursors = {};
    for (const ch of this.channels.values()) cursors[ch.id] = ch.cursor;
    const frame = { op: 'resume', token: this.api.token, cursors };
    if (this.receiptsSince !== null) frame.receipts_since = this.receiptsSince;
    return frame;
  }

  /** Frames are applied one at a time, in arrival order (a gap fill holds the ones after it). */
  handle(frame) {
    this.queue = this.queue
      .then(() => this.apply(frame))
      .catch((err) => this.onChange('error', null, `Could not apply an update: ${err.message || err}`));
  }

  async apply(f) {
    switch (f.op) {
      case 'ready':
        return this.applyReady(f);
      case 'resumed':
        return this.applyResumed(f);
      case 'event':
        return this.applyEvent(f);
      case 'ack':
        return this.applyAck(f);
      case 'error':
        return this.applyError(f);
      case 'read_state': {
        const ch = this.channels.get(f.channel_id);
        if (!ch) return;
        ch.readSeq = Math.max(ch.readSeq, f.read_seq);
        ch.unread = f.unread;
        this.onChange('channel', ch.id);
        return;
      }
      case 'receipt':
        return this.applyReceipt(f);
      case 'presence':
        this.presence.set(f.user_id, f);
        this.onChange('presence');
        return;
      case 'typing':
        return this.applyTyping(f);
      case 'channel_joined':
        this.addChannel(f.channel);
        this.onChange('joined', f.channel.id);
        return;
      case 'channel_left':
        this.removeChannel(f.channel_id);
        return;
      default:
        // Unknown frames are skipped (protocol §1).
        return;
    }
  }

  applyReady(f) {
    this.started = true;
    this.me = f.user;
    this.receiptsSince = f.server_ts;
    for (const summary of f.channels) this.addChannel(summary, true);
    this.replacePresence(f.presence);
    this.afterSessionStart();
    this.onChange('channels');
  }

  applyResumed(f) {
    this.me = f.user;
    this.receiptsSince = Math.max(this.receiptsSince || 0, f.server_ts - 2000);
    for (const summary of f.channels_joined) this.addChannel(summary);
    for (const id of f.channels_left) this.removeChannel(id);
    for (const summary of f.resync) {
      // History past our cursor is gone (or we were re-added): start this channel afresh.
      this.channels.delete(summary.id);
      this.addChannel(summary, true);
    }
    this.replacePresence(f.presence);
    this.afterSessionStart();
    // Resume does not repeat unread counts: refresh them.
    this.api
      .channels()
      .then(({ channels }) => {
        for (const s of channels) {
          const ch = this.channels.get(s.id);
          if (ch && s.last_seq <= ch.cursor) {
            ch.readSeq = Math.max(ch.readSeq, s.read_seq);
            ch.unread = s.unread;
          }
        }
        this.onChange('channels');
      })
      .catch(() => {});
    this.onChange('channels');
  }

  afterSessionStart() {
    for (const entry of this.outbox.values()) {
      if (entry.seq === null && !entry.failed) this.transmit(entry);
    }
    if (this.watched.size) this.connection.send({ op: 'watch', user_ids: [...this.watched] });
    for (const ch of this.channels.values()) {
      if (this.isReading(ch.id)) this.markRead(ch.id);
    }
  }

  replacePresence(list) {
    this.presence.clear();
    for (const p of list) this.presence.set(p.user_id, p);
    this.onChange('presence');
  }

  addChannel(summary, preview = false) {
    let ch = this.channels.get(summary.id);
    if (!ch) {
      ch = {
        id: summary.id,
        cursor: summary.last_seq,
        readSeq: summary.read_seq,
        unread: summary.unread,
        events: new Map(),
        oldest: null,
        hasMore: true,
        loaded: false,
        loading: null,
        last: null,
        receipts: new Map(),
        deliveredSent: summary.last_seq,
        members: null,
      };
      this.channels.set(summary.id, ch);
      preview = true;
    }
    ch.kind = summary.kind;
    ch.name = summary.name;
    ch.peer = summary.peer;
    ch.role = summary.role;
    ch.memberCount = summary.member_count;
    ch.createdAt = summary.created_at;
    if (preview) this.loadPreview(ch);
    this.onChange('channels');
    return ch;
  }

  removeChannel(id) {
    if (!this.channels.delete(id)) return;
    this.typing.delete(id);
    for (const [cid, entry] of this.outbox) if (entry.channelId === id) this.outbox.delete(cid);
    this.onChange('left', id);
  }

  /** The newest event of a channel, for the channel list. */
  async loadPreview(ch) {
    try {
      const page = await this.api.history(ch.id, { limit: 1 });
      const e = page.events[page.events.length - 1];
      if (e && (!ch.last || ch.last.seq < e.seq)) {
        ch.last = e;
        this.onChange('channel', ch.id);
      }
    } catch {
      // The preview is cosmetic; the list still works without it.
    }
  }

  async applyEvent(e) {
    const ch = this.channels.get(e.channel_id);
    if (!ch || e.seq <= ch.cursor) return; // not ours, or a repeat
    if (e.seq > ch.cursor + 1 && !(await this.fillGap(ch, e.seq))) return;
    this.accept(ch, e);
    this.onChange('messages', ch.id);
  }

  /** Fetches the events between the cursor and `seq` from history; false if it could not. */
  async fillGap(ch, seq) {
    try {
      while (ch.cursor + 1 < seq) {
        const page = await this.api.history(ch.id, { after: ch.cursor, before: seq, limit: GAP_PAGE });
        if (page.truncated || page.events.length === 0) throw new Error('history truncated');
        for (const e of page.events) if (e.seq === ch.cursor + 1) this.accept(ch, e);
        if (!page.has_more) break;
      }
      return ch.cursor + 1 === seq;
    } catch {
      // Never skip a gap: resume from the cursor instead (the server answers with a resync).
      this.connection.restart();
      return false;
    }
  }

  accept(ch, e) {
    ch.events.set(e.seq, e);
    ch.cursor = e.seq;
    if (!ch.last || ch.last.seq < e.seq) ch.last = e;
    const mine = this.me && e.author.id === this.me.id;
    if (e.type === 'message') {
      if (mine) {
        if (e.client_id) this.outbox.delete(e.client_id);
      } else {
        this.stopTyping(ch.id, e.author.id);
        if (this.isReading(ch.id)) this.markRead(ch.id);
        else if (e.seq > ch.readSeq) ch.unread += 1;
      }
    } else if (e.type === 'member_added') {
      ch.memberCount += 1;
      ch.members = null;
    } else if (e.type === 'member_removed' || e.type === 'member_left') {
      ch.memberCount = Math.max(0, ch.memberCount - 1);
      ch.members = null;
      const gone = e.type === 'member_left' ? e.author.id : e.user.id;
      ch.receipts.delete(gone);
    } else if (e.type === 'role_changed') {
      if (this.me && e.user.id === this.me.id) ch.role = e.role;
      ch.members = null;
    }
    if (e.type !== 'message') this.onChange('members', ch.id);
    this.deliveredDirty.add(ch.id);
    if (!this.deliveredTimer) {
      this.deliveredTimer = setTimeout(() => this.flushDelivered(), DELIVERED_EVERY_MS);
    }
  }

  flushDelivered() {
    this.deliveredTimer = null;
    for (const id of this.deliveredDirty) {
      const ch = this.channels.get(id);
      if (!ch || ch.cursor <= ch.deliveredSent) continue;
      if (this.connection.send({ op: 'delivered', channel_id: id, seq: ch.cursor })) {
        ch.deliveredSent = ch.cursor;
      }
    }
    this.deliveredDirty.clear();
  }

  applyAck(f) {
    const entry = this.outbox.get(f.client_id);
    if (f.ref !== undefined) this.refs.delete(f.ref);
    if (!entry) return;
    entry.seq = f.seq;
    entry.ts = f.ts;
    entry.failed = null;
    this.onChange('messages', entry.channelId);
  }

  applyError(f) {
    const clientId = f.ref !== undefined ? this.refs.get(f.ref) : undefined;
    const entry = clientId ? this.outbox.get(clientId) : undefined;
    if (f.ref !== undefined) this.refs.delete(f.ref);
    if (!entry) {
      this.onChange('error', null, f.message || f.error);
      return;
    }
    const retryable = RETRYABLE_SEND_ERRORS.includes(f.code);
    if (retryable && entry.tries < SEND_RETRY_MS.length) {
      const wait = f.code === ErrorCode.RateLimited ? f.retry_after_ms || 500 : SEND_RETRY_MS[entry.tries];
      entry.tries += 1;
      setTimeout(() => {
        if (this.outbox.get(entry.clientId) === entry && entry.seq === null) this.transmit(entry);
      }, wait);
      return;
    }
    entry.failed = f.message || f.error;
    this.onChange('messages', entry.channelId);
  }

  applyReceipt(f) {
    this.receiptsSince = Math.max(this.receiptsSince || 0, f.ts);
    const ch = this.channels.get(f.channel_id);
    if (!ch || (this.me && f.user_id === this.me.id)) return;
    const old = ch.receipts.get(f.user_id);
    ch.receipts.set(f.user_id, {
      delivered_seq: Math.max(f.delivered_seq, old ? old.delivered_seq : 0),
      read_seq: Math.max(f.read_seq, old ? old.read_seq : 0),
    });
    this.onChange('receipts', ch.id);
  }

  applyTyping(f) {
    if (this.me && f.user_id === this.me.id) return;
    if (!this.channels.has(f.channel_id)) return;
    let users = this.typing.get(f.channel_id);
    if (!users) this.typing.set(f.channel_id, (users = new Map()));
    users.set(f.user_id, Date.now() + f.expires_in_ms);
    setTimeout(() => this.expireTyping(), f.expires_in_ms + 50);
    this.onChange('typing', f.channel_id);
  }

  stopTyping(channelId, userId) {
    const users = this.typing.get(channelId);
    if (users && users.delete(userId)) this.onChange('typing', channelId);
  }

  expireTyping() {
    const now = Date.now();
    for (const [channelId, users] of this.typing) {
      for (const [userId, until] of users) {
        if (until <= now) {
          users.delete(userId);
          this.onChange('typing', channelId);
        }
      }
    }
  }

  /** User ids typing in a channel now. */
  typingIn(channelId) {
    const users = this.typing.get(channelId);
    if (!users) return [];
    const now = Date.now();
    return [...users].filter(([, until]) => until > now).map(([id]) => id);
  }

  // ---- actions from the UI ----

  /** Queues a message; returns an error text when it cannot be sent at all. */
  send(channelId, body) {
    if (!body.trim()) return 'A message needs some text.';
    const chars = [...body].length;
    if (chars > this.maxMessageChars) {
      return `That message is ${chars} characters long; the limit is ${this.maxMessageChars}.`;
    }
    const entry = {
      clientId: newClientId(),
      channelId,
      body,
      ts: Date.now(),
      seq: null,
      failed: null,
      tries: 0,
    };
    this.outbox.set(entry.clientId, entry);
    this.stoppedTyping(channelId);
    this.transmit(entry);
    this.onChange('messages', channelId);
    return null;
  }

  /** Sends (again) with the entry's own client_id and a new ref. Unsent entries wait for the next session. */
  transmit(entry) {
    const ref = this.nextRef++;
    this.refs.set(ref, entry.clientId);
    this.connection.send({
      op: 'send',
      ref,
      channel_id: entry.channelId,
      client_id: entry.clientId,
      body: entry.body,
    });
  }

  retry(clientId) {
    const entry = this.outbox.get(clientId);
    if (!entry) return;
    entry.failed = null;
    entry.tries = 0;
    this.transmit(entry);
    this.onChange('messages', entry.channelId);
  }

  discard(clientId) {
    const entry = this.outbox.get(clientId);
    if (!entry) return;
    this.outbox.delete(clientId);
    this.onChange('messages', entry.channelId);
  }

  /**
   * Tells the channel that the user types: at most once every 2 s (the server drops more), never
   * queued. Input within the 2 s is sent when they end, unless the user sent the message, cleared
   * the box or stopped typing 5 s before.
   */
  typed(channelId) {
    const now = Date.now();
    this.lastInput.set(channelId, now);
    const wait = TYPING_EVERY_MS - (now - (this.lastTypingSent.get(channelId) || 0));
    if (wait > 0) {
      if (!this.typingTimers.has(channelId)) {
        const timer = setTimeout(() => {
          this.typingTimers.delete(channelId);
          if (Date.now() - (this.lastInput.get(channelId) || 0) < TYPING_STALE_MS) this.typed(channelId);
        }, wait + TYPING_MARGIN_MS);
        this.typingTimers.set(channelId, timer);
      }
      return;
    }
    if (this.connection.send({ op: 'typing', channel_id: channelId })) {
      this.lastTypingSent.set(channelId, now);
    }
  }

  /** The user stopped typing (sent the message or cleared the box). */
  stoppedTyping(channelId) {
    clearTimeout(this.typingTimers.get(channelId));
    this.typingTimers.delete(channelId);
    this.lastInput.delete(channelId);
  }

  /** Moves the read pointer to the newest event we hold (over the gateway; not queued). */
  markRead(channelId) {
    const ch = this.channels.get(channelId);
    if (!ch) return;
    if (ch.readSeq >= ch.cursor && ch.unread === 0) return;
    if (!this.connection.send({ op: 'read', channel_id: ch.id, seq: ch.cursor })) return;
    ch.readSeq = ch.cursor;
    ch.unread = 0;
    this.onChange('channel', ch.id);
  }

  /** Loads the newest page and the members' receipts of a channel, once. */
  loadNewest(channelId) {
    const ch = this.channels.get(channelId);
    if (!ch) return Promise.resolve();
    if (ch.loaded) return Promise.resolve();
    if (!ch.loading) {
      ch.loading = (async () => {
        const upTo = ch.cursor;
        const page = await this.api.history(ch.id, { before: upTo + 1, limit: PAGE });
        this.mergePage(ch, page, upTo);
        ch.loaded = true;
        this.onChange('messages', ch.id);
        await this.loadReceipts(ch);
        if (ch.kind === 'direct' && ch.peer && !this.presence.has(ch.peer.id)) {
          const p = await this.api.userPresence(ch.peer.id);
          if (!this.presence.has(ch.peer.id)) {
            this.presence.set(ch.peer.id, p);
            this.onChange('presence');
          }
        }
      })().finally(() => {
        ch.loading = null;
      });
    }
    return ch.loading;
  }

  async loadReceipts(ch) {
    const summary = await this.api.receipts(ch.id);
    for (const r of summary.receipts) {
      if (this.me && r.user_id === this.me.id) continue;
      const old = ch.receipts.get(r.user_id);
      ch.receipts.set(r.user_id, {
        delivered_seq: Math.max(r.delivered_seq, old ? old.delivered_seq : 0),
        read_seq: Math.max(r.read_seq, old ? old.read_seq : 0),
      });
    }
    this.onChange('receipts', ch.id);
  }

  /** Loads the page before the oldest event shown; false when there is none. */
  async loadOlder(channelId) {
    const ch = this.channels.get(channelId);
    if (!ch || !ch.loaded || !ch.hasMore || ch.loading) return false;
    ch.loading = (async () => {
      const page = await this.api.history(ch.id, { before: ch.oldest, limit: PAGE });
      this.mergePage(ch, page, ch.cursor);
      this.onChange('older', ch.id);
    })().finally(() => {
      ch.loading = null;
    });
    await ch.loading;
    return true;
  }

  mergePage(ch, page, upTo) {
    for (const e of page.events) if (e.seq <= upTo && !ch.events.has(e.seq)) ch.events.set(e.seq, e);
    const first = page.events.length ? page.events[0].seq : null;
    if (first !== null && (ch.oldest === null || first < ch.oldest)) ch.oldest = first;
    if (ch.oldest === null) ch.oldest = upTo + 1;
    ch.hasMore = page.has_more;
    ch.truncated = page.truncated;
  }

  /** Follows these users' presence too (after every reconnect as well). */
  watch(userIds) {
    const fresh = userIds.filter((id) => id !== (this.me && this.me.id) && !this.watched.has(id));
    if (!fresh.length || this.watched.size + fresh.length > MAX_WATCHED) return;
    for (const id of fresh) this.watched.add(id);
    this.connection.send({ op: 'watch', user_ids: fresh });
  }

  /** A message's marks: pending, failed, sent, delivered or read (by every other member). */
  statusOf(ch, seq) {
    if (seq === null) return 'pending';
    const others = [...ch.receipts.values()];
    if (!others.length) return 'sent';
    if (others.every((r) => r.read_seq >= seq)) return 'read';
    if (others.every((r) => r.delivered_seq >= seq)) return 'delivered';
    return 'sent';
  }
}
