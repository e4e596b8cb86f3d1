// Typing indicators (docs/protocol.md §6.10, §11), both ways. Others': shown per (channel, user)
// until `expires_in_ms` after their frame, or until their message arrives. Ours: `typing` goes out
// at most once every 2 s per channel (the server drops more) and is never queued; input made within
// the 2 s is announced when they end, unless the user sent the message, cleared the box or stopped
// typing 5 s before. Pure data: state.js sends the frames and passes the time in.

const TYPING_EVERY_MS = 2000;
/** Extra wait so that a delayed `typing` reaches the server after its 2 s window, not just before. */
const TYPING_MARGIN_MS = 150;
/** Input older than this when the 2 s window ends no longer counts as typing. */
const TYPING_STALE_MS = 5000;
/** How long after an indicator's end it is cleared from the view. */
const EXPIRY_SLACK_MS = 50;

export class Typing {
  constructor() {
    /** channel id → Map(user id → when their indicator ends, in ms) */
    this.others = new Map();
    /** When indicators are checked for expiry: one entry per `typing` frame heard. */
    this.checks = [];
    /** channel id → when our last `typing` went out */
    this.lastSent = new Map();
    /** channel id → when the user last typed */
    this.lastInput = new Map();
    /** channel id → when the 2 s window ends, for input made during it */
    this.windowEnds = new Map();
  }

  // ---- others ----

  /** User ids typing in a channel at `now`. */
  in(channelId, now) {
    const users = this.others.get(channelId);
    if (!users) return [];
    return [...users].filter(([, until]) => until > now).map(([id]) => id);
  }

  /** Someone's `typing` frame (a new one restarts the time). */
  heard(channelId, userId, expiresInMs, now) {
    let users = this.others.get(channelId);
    if (!users) this.others.set(channelId, (users = new Map()));
    users.set(userId, now + expiresInMs);
    this.checks.push(now + expiresInMs + EXPIRY_SLACK_MS);
  }

  /** Their message arrived: the indicator ends now. Whether there was one. */
  ended(channelId, userId) {
    const users = this.others.get(channelId);
    return Boolean(users && users.delete(userId));
  }

  /** Clears indicators that ended by `now`, if a check is due; the channels they were in. */
  expire(now) {
    if (!this.checks.some((at) => at <= now)) return [];
    this.checks = this.checks.filter((at) => at > now);
    const channels = [];
    for (const [channelId, users] of this.others) {
      for (const [userId, until] of users) {
        if (until <= now) {
          users.delete(userId);
          channels.push(channelId);
        }
      }
    }
    return channels;
  }

  forget(channelId) {
    this.others.delete(channelId);
  }

  // ---- ours ----

  /** The user typed at `now`: whether a `typing` should go out now (else it waits for the window). */
  input(channelId, now) {
    this.lastInput.set(channelId, now);
    const wait = TYPING_EVERY_MS - (now - (this.lastSent.get(channelId) || 0));
    if (wait <= 0) return true;
    if (!this.windowEnds.has(channelId)) this.windowEnds.set(channelId, now + wait + TYPING_MARGIN_MS);
    return false;
  }

  /** Our `typing` went out at `now`. */
  sent(channelId, now) {
    this.lastSent.set(channelId, now);
  }

  /** The user sent the message or cleared the box. */
  stopped(channelId) {
    this.windowEnds.delete(channelId);
    this.lastInput.delete(channelId);
  }

  /** Channels whose window ended by `now` with input still fresh: typing goes on there. */
  windowsEnded(now) {
    const fresh = [];
    for (const [channelId, at] of this.windowEnds) {
      if (at > now) continue;
      this.windowEnds.delete(channelId);
      if (now - (this.lastInput.get(channelId) || 0) < TYPING_STALE_MS) fresh.push(channelId);
    }
    return fresh;
  }

  nextWake() {
    const times = [...this.windowEnds.values(), ...this.checks];
    return times.length ? Math.min(...times) : null;
  }
}
