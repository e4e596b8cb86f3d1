// Turning state into DOM. Every piece of user data goes in as text (textContent), never as HTML.
// Lists are keyed and updated in place, so screen readers announce only what is new.

/** Creates an element: `attrs` are set as attributes (`class`, `aria-*`, `data-*`…), children are nodes or text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

/** Makes `parent`'s children the nodes for `items`, in order, reusing nodes by key. */
export function reconcile(parent, items, keyOf, create, update) {
  const old = new Map();
  for (const child of parent.children) old.set(child.dataset.key, child);
  let i = 0;
  for (const item of items) {
    const key = keyOf(item);
    let node = old.get(key);
    if (node) old.delete(key);
    else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item);
    const at = parent.children[i];
    if (at !== node) parent.insertBefore(node, at || null);
    i += 1;
  }
  for (const node of old.values()) node.remove();
}

export function channelTitle(ch) {
  if (ch.kind === 'direct') return ch.peer ? ch.peer.username : 'Direct chat';
  return ch.name || 'Group';
}

export function formatTime(ts) {
  const d = new Date(ts);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** "online", "idle", "last seen 14:02" or "offline". */
export function presenceText(p) {
  if (!p || p.status === 'offline') {
    return p && p.last_seen ? `last seen ${formatTime(p.last_seen)}` : 'offline';
  }
  return p.status;
}

/** One line for a non-message event (and for previews). */
export function describeEvent(e, me) {
  const who = (u) => (me && u.id === me.id ? 'you' : u.username);
  const Who = (u) => (me && u.id === me.id ? 'You' : u.username);
  switch (e.type) {
    case 'message':
      return e.body;
    case 'channel_created':
      return e.kind === 'group'
        ? `${Who(e.author)} created the group “${e.name}”`
        : `${Who(e.author)} started the chat`;
    case 'member_added':
      return `${Who(e.author)} added ${who(e.user)}`;
    case 'member_removed':
      return `${Who(e.author)} removed ${who(e.user)}`;
    case 'member_left':
      return `${Who(e.author)} left`;
    case 'role_changed':
      return `${Who(e.user)} ${me && e.user.id === me.id ? 'are' : 'is'} now ${e.role}`;
    default:
      return `(${e.type})`;
  }
}

const TICKS = {
  pending: { mark: '🕓', label: 'Sending' },
  failed: { mark: '!', label: 'Not sent' },
  sent: { mark: '✓', label: 'Sent' },
  delivered: { mark: '✓✓', label: 'Delivered' },
  read: { mark: '✓✓', label: 'Read' },
};

/** The channel list: name, presence dot, last message, unread badge. */
export function renderChannelList(list, chat, channels, selectedId) {
  reconcile(
    list,
    channels,
    (ch) => ch.id,
    () => {
      const dot = el('span', { class: 'dot', 'aria-hidden': 'true' });
      const name = el('span', { class: 'ch-name' });
      const time = el('span', { class: 'ch-time' });
      const preview = el('span', { class: 'ch-preview' });
      const badge = el('span', { class: 'badge' });
      const button = el(
        'button',
        { type: 'button', class: 'channel' },
        dot,
        el('span', { class: 'ch-main' }, el('span', { class: 'ch-top' }, name, time), preview),
        badge,
      );
      return el('li', {}, button);
    },
    (li, ch) => {
      const button = li.firstChild;
      const title = channelTitle(ch);
      const p = ch.kind === 'direct' && ch.peer ? chat.presence.get(ch.peer.id) : null;
      const status = ch.kind === 'direct' ? (p ? p.status : 'offline') : 'group';
      button.dataset.channel = ch.id;
      button.querySelector('.dot').className = `dot ${status}`;
      button.querySelector('.ch-name').textContent = title;
      const last = ch.last;
      button.querySelector('.ch-time').textContent = last ? formatTime(last.ts) : '';
      let preview = '';
      if (last) {
        preview = describeEvent(last, chat.me);
        if (last.type === 'message' && chat.me && last.author.id === chat.me.id) preview = `You: ${preview}`;
        else if (last.type === 'message' && ch.kind === 'group') preview = `${last.author.username}: ${preview}`;
      }
      const typing = chat.typingIn(ch.id);
      button.querySelector('.ch-preview').textContent = typing.length ? 'typing…' : preview;
      const badge = button.querySelector('.badge');
      badge.textContent = ch.unread > 0 ? String(ch.unread) : '';
      badge.hidden = ch.unread <= 0;
      const selected = ch.id === selectedId;
      button.classList.toggle('selected', selected);
      if (selected) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
      const parts = [title];
      if (ch.kind === 'direct') parts.push(presenceText(p));
      if (ch.unread > 0) parts.push(`${ch.unread} unread`);
      if (preview) parts.push(`last: ${preview}`);
      button.setAttribute('aria-label', parts.join(', '));
    },
  );
}

/** The open conversation's messages: history, live events and my sends still in the outbox. */
export function renderMessages(list, chat, ch) {
  const me = chat.me;
  const items = [...ch.events.values()]
    .filter((e) => ch.oldest !== null && e.seq >= ch.oldest)
    .sort((a, b) => a.seq - b.seq);
  const seen = new Set(items.filter((e) => e.client_id).map((e) => e.client_id));
  for (const entry of chat.outbox.values()) {
    if (entry.channelId === ch.id && !seen.has(entry.clientId)) {
      items.push({
        pending: entry,
        seq: entry.seq,
        ts: entry.ts,
        author: me,
        type: 'message',
        body: entry.body,
        client_id: entry.clientId,
      });
    }
  }
  reconcile(
    list,
    items,
    (e) => (e.type === 'message' && me && e.author.id === me.id && e.client_id ? `c:${e.client_id}` : `s:${e.seq}`),
    (e) => {
      if (e.type !== 'message') return el('li', { class: 'sys' });
      const mine = me && e.author.id === me.id;
      return el(
        'li',
        { class: mine ? 'msg mine' : 'msg' },
        el('span', { class: 'msg-author' }),
        el('p', { class: 'msg-body' }),
        el('span', { class: 'msg-meta' }, el('time', { class: 'msg-time' }), el('span', { class: 'ticks' })),
      );
    },
    (li, e) => {
      if (e.type !== 'message') {
        li.textContent = describeEvent(e, me);
        if (e.seq !== null) li.dataset.seq = e.seq;
        return;
      }
      const mine = me && e.author.id === me.id;
      li.querySelector('.msg-author').textContent = mine ? 'You' : e.author.username;
      li.querySelector('.msg-body').textContent = e.body;
      const time = li.querySelector('.msg-time');
      time.textContent = formatTime(e.ts);
      time.setAttribute('datetime', new Date(e.ts).toISOString());
      if (e.seq !== null && e.seq !== undefined) li.dataset.seq = e.seq;
      const ticks = li.querySelector('.ticks');
      if (!mine) {
        ticks.textContent = '';
        return;
      }
      const failed = e.pending && e.pending.failed;
      const status = failed ? 'failed' : chat.statusOf(ch, e.pending ? e.pending.seq : e.seq);
      li.dataset.status = status;
      ticks.className = `ticks ${status}`;
      ticks.textContent = TICKS[status].mark;
      ticks.setAttribute('aria-label', failed ? `Not sent: ${failed}` : TICKS[status].label);
      ticks.title = failed ? `Not sent: ${failed}` : TICKS[status].label;
      let actions = li.querySelector('.msg-actions');
      if (failed && !actions) {
        actions = el(
          'span',
          { class: 'msg-actions' },
          el('button', { type: 'button', class: 'small', 'data-retry': e.client_id }, 'Retry'),
          el('button', { type: 'button', class: 'small', 'data-discard': e.client_id }, 'Discard'),
        );
        li.append(actions);
      } else if (!failed && actions) actions.remove();
    },
  );
}

/** The members panel: each member with their role, and the buttons my role allows. */
export function renderMembers(list, chat, ch, members) {
  const me = chat.me;
  reconcile(
    list,
    members,
    (m) => m.user.id,
    () => el('li', { class: 'member' }),
    (li, m) => {
      li.replaceChildren();
      const p = chat.presence.get(m.user.id);
      const isMe = me && m.user.id === me.id;
      li.append(
        el('span', { class: `dot ${isMe ? 'online' : p ? p.status : 'offline'}`, 'aria-hidden': 'true' }),
        el('span', { class: 'member-name' }, isMe ? `${m.user.username} (you)` : m.user.username),
        el('span', { class: 'role' }, m.role),
      );
      if (isMe) return;
      const canRemove = ch.role === 'owner' || (ch.role === 'admin' && m.role === 'member');
      if (ch.role === 'owner' && m.role !== 'owner') {
        const to = m.role === 'admin' ? 'member' : 'admin';
        li.append(
          el(
            'button',
            { type: 'button', class: 'small', 'data-role': to, 'data-user': m.user.id },
            to === 'admin' ? 'Make admin' : 'Make member',
          ),
        );
      }
      if (canRemove && m.role !== 'owner') {
        li.append(
          el(
            'button',
            {
              type: 'button',
              class: 'small danger',
              'data-remove': m.user.id,
              'aria-label': `Remove ${m.user.username}`,
            },
            'Remove',
          ),
        );
      }
    },
  );
}

/**
 * The open conversation `ch` (or none): title, presence or member count, the messages (keeping the
 * reader's place when older ones go in above), who is typing, and the members panel when open.
 */
export function renderConversation(chat, ch, membersOpen, members) {
  const $ = (id) => document.getElementById(id);
  $('conv').hidden = !ch;
  $('conv-empty').hidden = !!ch;
  if (!ch) {
    $('members-panel').hidden = true;
    return;
  }
  $('conv-title').textContent = channelTitle(ch);
  const dot = $('conv-dot');
  if (ch.kind === 'direct' && ch.peer) {
    const p = chat.presence.get(ch.peer.id);
    dot.className = `dot ${p ? p.status : 'offline'}`;
    $('conv-sub').textContent = presenceText(p);
  } else {
    dot.className = 'dot group';
    $('conv-sub').textContent = `${ch.memberCount} ${ch.memberCount === 1 ? 'member' : 'members'} · you are ${ch.role}`;
  }
  $('members-button').hidden = ch.kind !== 'group';
  $('members-panel').hidden = !membersOpen || ch.kind !== 'group';
  $('members-button').setAttribute('aria-expanded', String(membersOpen));

  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const heightBefore = box.scrollHeight;
  const topBefore = box.scrollTop;
  const list = $('message-list');
  const firstBefore = list.firstElementChild;
  if (ch.loaded) renderMessages(list, chat, ch);
  else list.replaceChildren(el('li', { class: 'sys' }, 'Loading…'));
  $('older-button').hidden = !ch.loaded || !ch.hasMore;
  if (ch.loaded && firstBefore && list.firstElementChild !== firstBefore && firstBefore.isConnected && !atBottom) {
    // Older messages went in above: keep what the user was looking at in place.
    box.scrollTop = topBefore + (box.scrollHeight - heightBefore);
  } else if (atBottom) {
    box.scrollTop = box.scrollHeight;
  }

  const typing = chat.typingIn(ch.id).map((id) => nameOf(ch, members, id));
  $('typing').textContent =
    typing.length === 0 ? '' : typing.length === 1 ? `${typing[0]} is typing…` : `${typing.join(', ')} are typing…`;
  if (membersOpen && ch.kind === 'group') renderMembers($('member-list'), chat, ch, members);
  const canAdd = ch.role === 'owner' || ch.role === 'admin';
  $('add-member-form').hidden = !canAdd;
}

/** A user's name as far as the conversation knows it. */
function nameOf(ch, members, userId) {
  if (ch.peer && ch.peer.id === userId) return ch.peer.username;
  const m = members.find((x) => x.user.id === userId);
  if (m) return m.user.username;
  for (const e of ch.events.values()) if (e.author.id === userId) return e.author.username;
  return 'Someone';
}
