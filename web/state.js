// The browser client's chat state and the rules that keep it right (docs/protocol.md §11), as a state
// machine with no DOM, no socket, no timers and no fetch: server frames, user actions, answers from
// history and the passing of time go in; what must be done comes out as commands. chat.js runs it
// against the real connection, API and clock; web/unit/ runs it against nothing.
//
// - Channels with a cursor each (the highest seq held, nothing missing below it): events are
//   deduplicated by (channel, seq), and a jump in seq is filled from history before anything later
//   is applied; while the fill runs, every later frame is held, then handed back in order.
// - Resume cursors and `receipts_since`; channels joined, left and resynced; read and delivered
//   pointers; receipts; presence and watched users.
// - The outbox (outbox.js) and typing indicators (typing.js), whose frames go out from here; each
//   channel's own data and rules are in channel.js.
//
// Every input method returns the commands it produced, in the order they must be carried out:
// - `{type: 'send', frame}`: send `frame` on the gateway session; if it went, hand it to `sent()`
//   (a `read`, `delivered` or `typing` counts only once it went; nothing is queued while offline);
// - `{type: 'history', purpose, channelId, params, channel}`: fetch a page of history (`purpose`
//   is 'gap' or 'preview') and hand the command back with the page to `historyLoaded()`, or to
//   `historyFailed()`;
// - `{type: 'channels'}`: fetch the channel list (`GET /channels`) for `channelsLoaded()`;
// - `{type: 'restart'}`: drop the session and resume from the cursors (a gap history cannot fill);
// - `{type: 'replay', frames}`: frames held during a gap fill: pass each to `frame()`, in order;
// - `{type: 'change', kind, channelId, detail}`: tell the view what moved (kinds: channels,
//   channel, messages, older, members, receipts, presence, typing, joined, left, error).
//
// Time is passed in: `ctx = {now, reading}` gives the time in ms and the id of the channel the user
// is looking at (or null). `nextWake()` says when `tick(ctx)` is due next.

import { applyMembership, describe, mergePage, newChannel, raiseReceipt } from './channel.js';
import { Outbox } from './outbox.js';
import { Typing } from './typing.js';

/** Events per history page while filling a gap. */
const GAP_PAGE = 200;
const DELIVERED_EVERY_MS = 250;
/** How far `receipts_since` goes back from `resumed.server_ts` (clocks of nodes differ). */
const RECEIPTS_OVERLAP_MS = 2000;
/** Users one session may watch (the server's limit). */
export const MAX_WATCHED = 256;
/** The message length limit until `hello` says otherwise. */
const DEFAULT_MAX_MESSAGE_CHARS = 4000;

export class ChatState {
  constructor() {
    /** The logged-in user, from `ready` / `resumed`. */
    this.me = null;
    /** channel id → channel (summary fields, cursor, events by seq, pointers, receipts) */
    this.channels = new Map();
    /** user id → Presence; a user with no entry is offline */
    this.presence = new Map();
    /** Messages sent and not yet arrived as events. */
    this.outbox = new Outbox();
    /** Others' typing indicators, and the pace of ours. */
    this.typing = new Typing();
    /** The newest receipt time seen: what `resume` asks receipts from. */
    this.receiptsSince = null;
    /** Whether a session started once: later ones `resume` instead of `identify`. */
    this.started = false;
    /** Users whose presence was asked for, watched again after every reconnect. */
    this.watched = new Set();
    this.maxMessageChars = DEFAULT_MAX_MESSAGE_CHARS;

    /** Channels whose cursor moved since the last `delivered`, and when those go out. */
    this.deliveredDirty = new Set();
    this.deliveredDue = null;

    /** The gap being filled, {ch, event}, and the frames that arrived meanwhile. */
    this.gap = null;
    this.held = [];

    /** Commands of the step under way. */
    this.commands = [];
  }

  // ---- for the view ----

  /** User ids typing in a channel at `now`. */
  typingIn(channelId, now) {
    return this.typing.in(channelId, now);
  }

  /** Why `body` cannot be sent at all, or null. */
  refusal(body) {
    if (!body.trim()) return 'A message needs some text.';
    const chars = [...body].length;
    if (chars > this.maxMessageChars) {
      return `That message is ${chars} characters long; the limit is ${this.maxMessageChars}.`;
    }
    return null;
  }

  /** The first frame of a session, after `hello`: `identify` the first time, then `resume`. */
  greeting(hello, token) {
    if (hello && hello.limits) this.maxMessageChars = hello.limits.max_message_chars;
    if (!this.started) return { op: 'identify', token };
    const cursors = {};
    for (const ch of this.channels.values()) cursors[ch.id] = ch.cursor;
    const frame = { op: 'resume', token, cursors };
    if (this.receiptsSince !== null) frame.receipts_since = this.receiptsSince;
    return frame;
  }

  /** The earliest time `tick` has something to do, or null. */
  nextWake() {
    const times = [this.deliveredDue, this.outbox.nextWake(), this.typing.nextWake()].filter((t) => t !== null);
    return times.length ? Math.min(...times) : null;
  }

  // ---- inputs ----

  /** A server frame (after `hello`). Held while a gap is being filled. */
  frame(f, ctx) {
    return this.step(() => {
      if (this.gap) this.held.push(f);
      else this.guarded(() => this.apply(f, ctx));
    });
  }

  /** A frame went out (a `send` command carried out). */
  sent(frame, ctx) {
    return this.step(() => {
      if (frame.op === 'read') {
        const ch = this.channels.get(frame.channel_id);
        if (!ch) return;
        ch.readSeq = frame.seq;
        ch.unread = 0;
        this.change('channel', ch.id);
      } else if (frame.op === 'delivered') {
        const ch = this.channels.get(frame.channel_id);
        if (ch) ch.deliveredSent = frame.seq;
      } else if (frame.op === 'typing') {
        this.typing.sent(frame.channel_id, ctx.now);
      }
    });
  }

  /** The answer to a `history` command. */
  historyLoaded(cmd, page, ctx) {
    return this.step(() => {
      if (cmd.purpose === 'gap') this.gapPage(page, ctx);
      else if (cmd.purpose === 'preview') this.previewLoaded(cmd.channel, page);
    });
  }

  /** A `history` command failed. */
  historyFailed(cmd) {
    return this.step(() => {
      // The preview is cosmetic; the list still works without it.
      if (cmd.purpose === 'gap') this.gapFailed();
    });
  }

  /** The channel list: resume does not repeat unread counts, this refreshes them. */
  channelsLoaded(summaries) {
    return this.step(() => {
      for (const s of summaries) {
        const ch = this.channels.get(s.id);
        if (ch && s.last_seq <= ch.cursor) {
          ch.readSeq = Math.max(ch.readSeq, s.read_seq);
          ch.unread = s.unread;
        }
      }
      this.change('channels');
    });
  }

  /** The newest page of a channel, fetched with `before: upTo + 1`. */
  newestLoaded(ch, page, upTo) {
    return this.step(() => {
      mergePage(ch, page, upTo);
      ch.loaded = true;
      this.change('messages', ch.id);
    });
  }

  /** The page before the oldest event shown, fetched with `before: ch.oldest`. */
  olderLoaded(ch, page) {
    return this.step(() => {
      mergePage(ch, page, ch.cursor);
      this.change('older', ch.id);
    });
  }

  /** The members' receipts of a channel (`GET …/receipts`). */
  receiptsLoaded(ch, summary) {
    return this.step(() => {
      for (const r of summary.receipts) {
        if (this.me && r.user_id === this.me.id) continue;
        raiseReceipt(ch, r.user_id, r);
      }
      this.change('receipts', ch.id);
    });
  }

  /** The direct peer whose presence nobody told us yet (for "last seen"), or null. */
  peerToLookUp(ch) {
    return ch.kind === 'direct' && ch.peer && !this.presence.has(ch.peer.id) ? ch.peer.id : null;
  }

  /** A looked-up presence, unless a fresher one arrived meanwhile. */
  peerPresenceLoaded(userId, p) {
    return this.step(() => {
      if (this.presence.has(userId)) return;
      this.presence.set(userId, p);
      this.change('presence');
    });
  }

  /** Time passed: flush `delivered`, repeat sends, end typing windows and indicators. */
  tick(ctx) {
    return this.step(() => {
      const now = ctx.now;
      if (this.deliveredDue !== null && this.deliveredDue <= now) this.flushDelivered();
      for (const entry of this.outbox.due(now)) this.transmit(entry);
      for (const channelId of this.typing.windowsEnded(now)) this.typedAt(channelId, now);
      for (const channelId of this.typing.expire(now)) this.change('typing', channelId);
    });
  }

  // ---- actions from the UI ----

  /** Queues a message (check `refusal(body)` first) under a fresh `clientId`. */
  send(channelId, body, clientId, ctx) {
    return this.step(() => {
      if (this.refusal(body)) return;
      const entry = this.outbox.add(clientId, channelId, body, ctx.now);
      this.typing.stopped(channelId);
      this.transmit(entry);
      this.change('messages', channelId);
    });
  }

  /** Sends a failed message again, with its own client_id. */
  retry(clientId) {
    return this.step(() => {
      const entry = this.outbox.retry(clientId);
      if (!entry) return;
      this.transmit(entry);
      this.change('messages', entry.channelId);
    });
  }

  discard(clientId) {
    return this.step(() => {
      const entry = this.outbox.discard(clientId);
      if (entry) this.change('messages', entry.channelId);
    });
  }

  /** The user types: `typing` goes out at most once every 2 s per channel (typing.js). */
  typed(channelId, ctx) {
    return this.step(() => this.typedAt(channelId, ctx.now));
  }

  /** The user stopped typing (sent the message or cleared the box). */
  stoppedTyping(channelId) {
    return this.step(() => this.typing.stopped(channelId));
  }

  /** Moves the read pointer to the newest event held (over the gateway; not queued). */
  markRead(channelId) {
    return this.step(() => this.readUpToCursor(channelId));
  }

  /** Follows these users' presence too (after every reconnect as well). */
  watch(userIds) {
    return this.step(() => {
      const fresh = userIds.filter((id) => id !== (this.me && this.me.id) && !this.watched.has(id));
      if (!fresh.length || this.watched.size + fresh.length > MAX_WATCHED) return;
      for (const id of fresh) this.watched.add(id);
      this.out({ op: 'watch', user_ids: fresh });
    });
  }

  /** A channel the user just made or found (or one the server announced). */
  addChannel(summary) {
    return this.step(() => this.add(summary));
  }

  // ---- the rules ----

  apply(f, ctx) {
    switch (f.op) {
      case 'ready':
        return this.applyReady(f, ctx);
      case 'resumed':
        return this.applyResumed(f, ctx);
      case 'event':
        return this.applyEvent(f, ctx);
      case 'ack':
        return this.applyAck(f);
      case 'error':
        return this.applyError(f, ctx);
      case 'read_state': {
        const ch = this.channels.get(f.channel_id);
        if (!ch) return;
        ch.readSeq = Math.max(ch.readSeq, f.read_seq);
        ch.unread = f.unread;
        this.change('channel', ch.id);
        return;
      }
      case 'receipt':
        return this.applyReceipt(f);
      case 'presence':
        this.presence.set(f.user_id, f);
        this.change('presence');
        return;
      case 'typing':
        return this.applyTyping(f, ctx);
      case 'channel_joined':
        this.add(f.channel);
        this.change('joined', f.channel.id);
        return;
      case 'channel_left':
        this.removeChannel(f.channel_id);
        return;
      default:
        // Unknown frames are skipped (protocol §1).
        return;
    }
  }

  applyReady(f, ctx) {
    this.started = true;
    this.me = f.user;
    this.receiptsSince = f.server_ts;
    for (const summary of f.channels) this.add(summary, true);
    this.replacePresence(f.presence);
    this.afterSessionStart(ctx);
    this.change('channels');
  }

  applyResumed(f, ctx) {
    this.me = f.user;
    this.receiptsSince = Math.max(this.receiptsSince || 0, f.server_ts - RECEIPTS_OVERLAP_MS);
    for (const summary of f.channels_joined) this.add(summary);
    for (const id of f.channels_left) this.removeChannel(id);
    for (const summary of f.resync) {
      // History past our cursor is gone (or we were re-added): start this channel afresh.
      this.channels.delete(summary.id);
      this.add(summary, true);
    }
    this.replacePresence(f.presence);
    this.afterSessionStart(ctx);
    // Resume does not repeat unread counts: refresh them.
    this.commands.push({ type: 'channels' });
    this.change('channels');
  }

  /** A new session: send the outbox again (same client_ids), watch again, read what is open. */
  afterSessionStart(ctx) {
    for (const entry of this.outbox.unacked()) this.transmit(entry);
    if (this.watched.size) this.out({ op: 'watch', user_ids: [...this.watched] });
    for (const ch of this.channels.values()) {
      if (ctx.reading === ch.id) this.readUpToCursor(ch.id);
    }
  }

  replacePresence(list) {
    this.presence.clear();
    for (const p of list) this.presence.set(p.user_id, p);
    this.change('presence');
  }

  add(summary, preview = false) {
    let ch = this.channels.get(summary.id);
    if (!ch) {
      ch = newChannel(summary);
      this.channels.set(summary.id, ch);
      preview = true;
    }
    describe(ch, summary);
    if (preview) {
      // The newest event, for the channel list.
      this.commands.push({ type: 'history', purpose: 'preview', channelId: ch.id, channel: ch, params: { limit: 1 } });
    }
    this.change('channels');
    return ch;
  }

  removeChannel(id) {
    if (!this.channels.delete(id)) return;
    this.typing.forget(id);
    this.outbox.dropChannel(id);
    this.change('left', id);
  }

  previewLoaded(ch, page) {
    const e = page.events[page.events.length - 1];
    if (e && (!ch.last || ch.last.seq < e.seq)) {
      ch.last = e;
      this.change('channel', ch.id);
    }
  }

  applyEvent(e, ctx) {
    const ch = this.channels.get(e.channel_id);
    if (!ch || e.seq <= ch.cursor) return; // not ours, or a repeat
    if (e.seq > ch.cursor + 1) {
      this.gap = { ch, event: e };
      this.askGapPage();
      return;
    }
    this.accept(ch, e, ctx);
    this.change('messages', ch.id);
  }

  /** Asks for the events between the cursor and the gap's event. */
  askGapPage() {
    const { ch, event } = this.gap;
    this.commands.push({
      type: 'history',
      purpose: 'gap',
      channelId: ch.id,
      channel: ch,
      params: { after: ch.cursor, before: event.seq, limit: GAP_PAGE },
    });
  }

  gapPage(page, ctx) {
    const { ch, event } = this.gap;
    try {
      if (page.truncated || page.events.length === 0) throw new Error('history truncated');
      for (const e of page.events) if (e.seq === ch.cursor + 1) this.accept(ch, e, ctx);
    } catch {
      this.gapFailed();
      return;
    }
    if (page.has_more && ch.cursor + 1 < event.seq) {
      this.askGapPage();
      return;
    }
    this.gap = null;
    // A page that ends short of the event leaves the gap open: the event is dropped, and the
    // next one asks again.
    if (ch.cursor + 1 === event.seq) {
      this.guarded(() => {
        this.accept(ch, event, ctx);
        this.change('messages', ch.id);
      });
    }
    this.replayHeld();
  }

  /** Never skip a gap: resume from the cursor instead (the server answers with a resync). */
  gapFailed() {
    this.gap = null;
    this.commands.push({ type: 'restart' });
    this.replayHeld();
  }

  replayHeld() {
    if (!this.held.length) return;
    this.commands.push({ type: 'replay', frames: this.held });
    this.held = [];
  }

  accept(ch, e, ctx) {
    ch.events.set(e.seq, e);
    ch.cursor = e.seq;
    if (!ch.last || ch.last.seq < e.seq) ch.last = e;
    const mine = this.me && e.author.id === this.me.id;
    if (e.type === 'message') {
      if (mine) {
        if (e.client_id) this.outbox.arrived(e.client_id);
      } else {
        if (this.typing.ended(ch.id, e.author.id)) this.change('typing', ch.id);
        if (ctx.reading === ch.id) this.readUpToCursor(ch.id);
        else if (e.seq > ch.readSeq) ch.unread += 1;
      }
    } else {
      applyMembership(ch, e, this.me);
      this.change('members', ch.id);
    }
    this.deliveredDirty.add(ch.id);
    if (this.deliveredDue === null) this.deliveredDue = ctx.now + DELIVERED_EVERY_MS;
  }

  flushDelivered() {
    this.deliveredDue = null;
    for (const id of this.deliveredDirty) {
      const ch = this.channels.get(id);
      if (!ch || ch.cursor <= ch.deliveredSent) continue;
      this.out({ op: 'delivered', channel_id: id, seq: ch.cursor });
    }
    this.deliveredDirty.clear();
  }

  applyAck(f) {
    const entry = this.outbox.acked(f);
    if (entry) this.change('messages', entry.channelId);
  }

  /** An `error` answers a send of ours (retried later, or failed) or is something to show. */
  applyError(f, ctx) {
    const { entry, retrying } = this.outbox.refused(f, ctx.now);
    if (!entry) this.change('error', null, f.message || f.error);
    else if (!retrying) this.change('messages', entry.channelId);
  }

  applyReceipt(f) {
    this.receiptsSince = Math.max(this.receiptsSince || 0, f.ts);
    const ch = this.channels.get(f.channel_id);
    if (!ch || (this.me && f.user_id === this.me.id)) return;
    raiseReceipt(ch, f.user_id, f);
    this.change('receipts', ch.id);
  }

  applyTyping(f, ctx) {
    if (this.me && f.user_id === this.me.id) return;
    if (!this.channels.has(f.channel_id)) return;
    this.typing.heard(f.channel_id, f.user_id, f.expires_in_ms, ctx.now);
    this.change('typing', f.channel_id);
  }

  /** Sends (again) with the entry's own client_id and a new ref. Unsent entries wait for the next session. */
  transmit(entry) {
    this.out(this.outbox.attempt(entry));
  }

  typedAt(channelId, now) {
    if (this.typing.input(channelId, now)) this.out({ op: 'typing', channel_id: channelId });
  }

  readUpToCursor(channelId) {
    const ch = this.channels.get(channelId);
    if (!ch) return;
    if (ch.readSeq >= ch.cursor && ch.unread === 0) return;
    this.out({ op: 'read', channel_id: ch.id, seq: ch.cursor });
  }

  // ---- commands ----

  /** Runs one input and returns its commands. */
  step(fn) {
    fn();
    return this.drain();
  }

  /** The commands produced so far and not returned: after an input threw, those made before. */
  drain() {
    const commands = this.commands;
    this.commands = [];
    return commands;
  }

  /** Runs a part of a step; a failure becomes an error for the view, as one bad frame must not stop the rest. */
  guarded(fn) {
    try {
      fn();
    } catch (err) {
      this.change('error', null, `Could not apply an update: ${(err && err.message) || err}`);
    }
  }

  out(frame) {
    this.commands.push({ type: 'send', frame });
  }

  change(kind, channelId = null, detail = undefined) {
    this.commands.push({ type: 'change', kind, channelId, detail });
  }
}
