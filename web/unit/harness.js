// What the unit tests share: a ChatState driven the way chat.js drives it, with a clock that moves
// only when told, a gateway that records the frames that went out (or refuses them while offline),
// history requests that wait for the test to answer them, and builders for server frames.

import { ChatState } from '../state.js';

export const ME = { id: 'u-me', username: 'me' };
export const BOB = { id: 'u-bob', username: 'bob' };
export const CAROL = { id: 'u-carol', username: 'carol' };

/** A ChannelSummary as `ready`, `resumed` and `channel_joined` carry it. */
export function summary(id, lastSeq, more = {}) {
  return {
    id,
    kind: 'group',
    name: id,
    peer: null,
    role: 'member',
    member_count: 3,
    created_at: 1,
    last_seq: lastSeq,
    read_seq: lastSeq,
    unread: 0,
    ...more,
  };
}

/** An `event` frame; a message from bob unless told otherwise. */
export function event(channelId, seq, more = {}) {
  return {
    op: 'event',
    channel_id: channelId,
    seq,
    id: `e-${channelId}-${seq}`,
    ts: 1000 + seq,
    author: BOB,
    type: 'message',
    body: `message ${seq}`,
    ...more,
  };
}

/** A page of history with the events of `seqs`. */
export function page(channelId, seqs, more = {}) {
  return { events: seqs.map((seq) => event(channelId, seq)), has_more: false, truncated: false, ...more };
}

export function ready(channels, more = {}) {
  return { op: 'ready', session_id: 's1', user: ME, channels, server_ts: 50_000, presence: [], ...more };
}

export function resumed(more = {}) {
  return {
    op: 'resumed',
    session_id: 's2',
    user: ME,
    channels_joined: [],
    channels_left: [],
    resync: [],
    replayed: 0,
    server_ts: 90_000,
    presence: [],
    ...more,
  };
}

export class Driver {
  constructor() {
    this.state = new ChatState();
    this.now = 1_000_000;
    /** The channel the user looks at. */
    this.reading = null;
    /** Whether the gateway takes frames. */
    this.online = true;
    /** Frames that went out, in order. */
    this.out = [];
    /** `history` commands not answered yet. */
    this.requests = [];
    this.channelListRequests = 0;
    this.restarts = 0;
    /** `change` commands: [kind, channelId, detail]. */
    this.changes = [];
  }

  ctx() {
    return { now: this.now, reading: this.reading };
  }

  perform(commands) {
    for (const c of commands) {
      if (c.type === 'send') {
        if (!this.online) continue;
        this.out.push(c.frame);
        this.perform(this.state.sent(c.frame, this.ctx()));
      } else if (c.type === 'history') this.requests.push(c);
      else if (c.type === 'channels') this.channelListRequests += 1;
      else if (c.type === 'restart') this.restarts += 1;
      else if (c.type === 'replay') for (const f of c.frames) this.perform(this.state.frame(f, this.ctx()));
      else if (c.type === 'change') this.changes.push([c.kind, c.channelId, c.detail]);
      else throw new Error(`unknown command ${c.type}`);
    }
  }

  /** A server frame arrives. */
  frame(f) {
    this.perform(this.state.frame(f, this.ctx()));
  }

  /** Starts a session: `ready` with these channels; preview requests are dropped. */
  start(channels) {
    this.frame(ready(channels));
    this.requests = this.requests.filter((r) => r.purpose !== 'preview');
    this.out = [];
    this.changes = [];
  }

  /** An input, as chat.js runs one: `d.act((s, ctx) => s.send('c', 'hi', 'id-1', ctx))`. */
  act(input) {
    this.perform(input(this.state, this.ctx()));
  }

  /** Answers the oldest history request for `purpose` with `answer`; returns the request. */
  answer(purpose, answer) {
    const i = this.requests.findIndex((r) => r.purpose === purpose);
    if (i < 0) throw new Error(`no ${purpose} request`);
    const [request] = this.requests.splice(i, 1);
    this.perform(this.state.historyLoaded(request, answer, this.ctx()));
    return request;
  }

  /** Fails the oldest history request for `purpose`. */
  fail(purpose) {
    const i = this.requests.findIndex((r) => r.purpose === purpose);
    const [request] = this.requests.splice(i, 1);
    this.perform(this.state.historyFailed(request));
  }

  /** Moves the clock on by `ms`, waking the state at each time it asked for, in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const at = this.state.nextWake();
      if (at === null || at > end) break;
      this.now = Math.max(this.now, at);
      this.perform(this.state.tick(this.ctx()));
    }
    this.now = end;
  }

  /** The frames with `op` that went out since the last call, which forgets them. */
  take(op) {
    const taken = this.out.filter((f) => f.op === op);
    this.out = this.out.filter((f) => f.op !== op);
    return taken;
  }

  /** The seqs held for a channel, in order. */
  seqs(channelId) {
    return [...this.state.channels.get(channelId).events.keys()].sort((a, b) => a - b);
  }

  channel(id) {
    return this.state.channels.get(id);
  }
}
