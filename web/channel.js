// One channel as the client holds it: its ChannelSummary's fields, its cursor (the highest seq held,
// with nothing missing below it), the events held by seq, how far back history is loaded, the read
// and delivered pointers, and the other members' receipts. Plain data and the rules that touch only
// it; state.js decides when they apply.

/** A channel first seen in a summary (`ready`, `resumed`, `channel_joined`, or made by the user). */
export function newChannel(summary) {
  return {
    id: summary.id,
    cursor: summary.last_seq,
    readSeq: summary.read_seq,
    unread: summary.unread,
    /** seq → event: live events and loaded pages, one per seq */
    events: new Map(),
    /** The lowest seq loaded (null before the first page), and whether history goes further back. */
    oldest: null,
    hasMore: true,
    loaded: false,
    /** The newest event, for the channel list. */
    last: null,
    /** user id → {delivered_seq, read_seq} of every other member */
    receipts: new Map(),
    deliveredSent: summary.last_seq,
    members: null,
  };
}

/** Takes a summary's descriptive fields (kind, name, peer, role, member count, creation time). */
export function describe(ch, summary) {
  ch.kind = summary.kind;
  ch.name = summary.name;
  ch.peer = summary.peer;
  ch.role = summary.role;
  ch.memberCount = summary.member_count;
  ch.createdAt = summary.created_at;
}

/**
 * Merges a page of history asked for up to `upTo` (the cursor then): its events that are not held
 * yet and not past the cursor (those arrive live, in order), and how far back history now goes.
 */
export function mergePage(ch, page, upTo) {
  for (const e of page.events) if (e.seq <= upTo && !ch.events.has(e.seq)) ch.events.set(e.seq, e);
  const first = page.events.length ? page.events[0].seq : null;
  if (first !== null && (ch.oldest === null || first < ch.oldest)) ch.oldest = first;
  if (ch.oldest === null) ch.oldest = upTo + 1;
  ch.hasMore = page.has_more;
  ch.truncated = page.truncated;
}

/** A member's pointers; they only move forward (receipts are not ordered with events or each other). */
export function raiseReceipt(ch, userId, r) {
  const old = ch.receipts.get(userId);
  ch.receipts.set(userId, {
    delivered_seq: Math.max(r.delivered_seq, old ? old.delivered_seq : 0),
    read_seq: Math.max(r.read_seq, old ? old.read_seq : 0),
  });
}

/** A membership or role event: the member count, my role, and who has receipts. */
export function applyMembership(ch, e, me) {
  if (e.type === 'member_added') {
    ch.memberCount += 1;
    ch.members = null;
  } else if (e.type === 'member_removed' || e.type === 'member_left') {
    ch.memberCount = Math.max(0, ch.memberCount - 1);
    ch.members = null;
    const gone = e.type === 'member_left' ? e.author.id : e.user.id;
    ch.receipts.delete(gone);
  } else if (e.type === 'role_changed') {
    if (me && e.user.id === me.id) ch.role = e.role;
    ch.members = null;
  }
}

/** A message's marks: pending, sent, delivered or read (by every other member). */
export function statusOf(ch, seq) {
  if (seq === null) return 'pending';
  const others = [...ch.receipts.values()];
  if (!others.length) return 'sent';
  if (others.every((r) => r.read_seq >= seq)) return 'read';
  if (others.every((r) => r.delivered_seq >= seq)) return 'delivered';
  return 'sent';
}
