// The chat state (state.js) wired to the world: frames from the Connection go in, its commands are
// carried out on the Connection and the Api, one timer wakes it when it asks, and `onChange(kind,
// channelId, detail)` tells the page what moved. It also loads what the user opens (the newest
// page, older pages, receipts, a peer's presence). The rules themselves live in state.js.

import { statusOf } from './channel.js';
import { Connection } from './connection.js';
import { ChatState } from './state.js';

/** Events per page of a conversation. */
const PAGE = 50;

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
   * @param {() => string|null} reading the id of the channel the user sees now, or null
   */
  constructor(api, onChange, reading) {
    this.api = api;
    this.onChange = onChange;
    this.reading = reading;
    this.state = new ChatState();
    /** channel → the load of its newest or older page under way (one at a time per channel) */
    this.loading = new WeakMap();
    this.timer = null;
    this.connection = new Connection({
      greeting: () => this.state.greeting(this.connection.hello, this.api.token),
      onFrame: (f) => this.received(f),
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

  // ---- what the view reads ----

  get me() {
    return this.state.me;
  }

  get channels() {
    return this.state.channels;
  }

  get presence() {
    return this.state.presence;
  }

  get outbox() {
    return this.state.outbox.entries;
  }

  typingIn(channelId) {
    return this.state.typingIn(channelId, Date.now());
  }

  statusOf(ch, seq) {
    return statusOf(ch, seq);
  }

  // ---- actions from the UI ----

  /** Queues a message; returns an error text when it cannot be sent at all. */
  send(channelId, body) {
    const refusal = this.state.refusal(body);
    if (refusal) return refusal;
    this.run((s, ctx) => s.send(channelId, body, newClientId(), ctx));
    return null;
  }

  retry(clientId) {
    this.run((s) => s.retry(clientId));
  }

  discard(clientId) {
    this.run((s) => s.discard(clientId));
  }

  typed(channelId) {
    this.run((s, ctx) => s.typed(channelId, ctx));
  }

  stoppedTyping(channelId) {
    this.run((s) => s.stoppedTyping(channelId));
  }

  markRead(channelId) {
    this.run((s) => s.markRead(channelId));
  }

  watch(userIds) {
    this.run((s) => s.watch(userIds));
  }

  addChannel(summary) {
    this.run((s) => s.addChannel(summary));
  }

  /** Loads the newest page and the members' receipts of a channel, once. */
  loadNewest(channelId) {
    const ch = this.state.channels.get(channelId);
    if (!ch || ch.loaded) return Promise.resolve();
    if (!this.loading.has(ch)) {
      const load = (async () => {
        const upTo = ch.cursor;
        const page = await this.api.history(ch.id, { before: upTo + 1, limit: PAGE });
        this.run((s) => s.newestLoaded(ch, page, upTo));
        const receipts = await this.api.receipts(ch.id);
        this.run((s) => s.receiptsLoaded(ch, receipts));
        const peer = this.state.peerToLookUp(ch);
        if (peer) {
          const p = await this.api.userPresence(peer);
          this.run((s) => s.peerPresenceLoaded(peer, p));
        }
      })().finally(() => this.loading.delete(ch));
      this.loading.set(ch, load);
    }
    return this.loading.get(ch);
  }

  /** Loads the page before the oldest event shown; false when there is none. */
  async loadOlder(channelId) {
    const ch = this.state.channels.get(channelId);
    if (!ch || !ch.loaded || !ch.hasMore || this.loading.has(ch)) return false;
    const load = (async () => {
      const page = await this.api.history(ch.id, { before: ch.oldest, limit: PAGE });
      this.run((s) => s.olderLoaded(ch, page));
    })().finally(() => this.loading.delete(ch));
    this.loading.set(ch, load);
    await load;
    return true;
  }

  // ---- carrying out commands ----

  /** A server frame; what goes wrong applying it is shown, and the session goes on. */
  received(frame) {
    try {
      this.run((s, ctx) => s.frame(frame, ctx));
    } catch (err) {
      this.onChange('error', null, `Could not apply an update: ${(err && err.message) || err}`);
    }
  }

  /** The time, and the channel the user sees, looked up only when a rule asks. */
  context() {
    const reading = this.reading;
    return {
      now: Date.now(),
      get reading() {
        return reading();
      },
    };
  }

  /** Applies one input to the state and carries out what it asks, then sets the timer. */
  run(input) {
    const ctx = this.context();
    let commands;
    try {
      commands = input(this.state, ctx);
    } catch (err) {
      this.perform(this.state.drain(), ctx);
      throw err;
    }
    this.perform(commands, ctx);
  }

  perform(commands, ctx) {
    for (const c of commands) {
      switch (c.type) {
        case 'send':
          if (this.connection.send(c.frame)) this.perform(this.state.sent(c.frame, ctx), ctx);
          break;
        case 'history':
          this.api
            .history(c.channelId, c.params)
            .then(
              (page) => this.run((s, later) => s.historyLoaded(c, page, later)),
              () => this.run((s) => s.historyFailed(c)),
            )
            // Only a malformed preview page can throw here; the preview is cosmetic.
            .catch(() => {});
          break;
        case 'channels':
          this.api
            .channels()
            .then(({ channels }) => this.run((s) => s.channelsLoaded(channels)))
            .catch(() => {});
          break;
        case 'restart':
          this.connection.restart();
          break;
        case 'replay':
          for (const f of c.frames) this.perform(this.state.frame(f, ctx), ctx);
          break;
        case 'change':
          this.onChange(c.kind, c.channelId, c.detail);
          break;
        default:
          break;
      }
    }
    this.schedule();
  }

  /** One timer, for the state's next wake. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    const at = this.state.nextWake();
    if (at === null) return;
    this.timer = setTimeout(() => this.run((s, ctx) => s.tick(ctx)), Math.max(0, at - Date.now()));
  }
}
