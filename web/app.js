// Confab's browser client: the entry point. Wires the login form, the channel list, the
// conversation and the members panel to the chat state, and owns keyboard shortcuts.
//
// Layout (plain ES modules, served by `confab serve`; no build step):
// - api.js: the REST API, errors as readable text;
// - codes.js: the protocol's error codes and close codes, by name, and their ranges;
// - transport.js: WebSocket and long-polling transports of a gateway session;
// - connection.js: one session kept alive (identify/resume, heartbeat, backoff, fallback);
// - state.js: the chat state and its rules, with no DOM, socket or timers (frames, actions and
//   time in, commands out): cursors, dedup and gap filling, resume, pointers, receipts, presence;
//   with channel.js (one channel's data), outbox.js (sends kept until they arrive, retries) and
//   typing.js (indicators, both ways);
// - chat.js: the state wired to the connection, the API and a timer; loads what the user opens;
// - view.js: state into DOM (text only, keyed lists);
// - app.js: this file.

import { Api, describeError } from './api.js';
import { Chat } from './chat.js';
import { CloseCode } from './codes.js';
import { channelTitle, el, presenceText, renderChannelList, renderMembers, renderMessages } from './view.js';

const TOKEN_KEY = 'confab.token';
const USER_KEY = 'confab.user';

const $ = (id) => document.getElementById(id);

let api = new Api();
let chat = null;
let selectedId = null;
let membersOpen = false;
let members = [];
let renderQueued = false;
let olderLoading = false;
let reconnecting = false;
let backTimer = null;
let toastTimer = null;
let leaveArmed = null;

// ---- login ----

function showLogin(message = '') {
  $('app-view').hidden = true;
  $('login-view').hidden = false;
  $('connection').hidden = true;
  $('login-error').textContent = message;
  document.title = 'Confab';
  $('login-username').focus();
}

async function authenticate(register) {
  const username = $('login-username').value.trim();
  const password = $('login-password').value;
  $('login-error').textContent = '';
  if (!username || !password) {
    $('login-error').textContent = 'Enter a username and a password.';
    return;
  }
  try {
    const auth = register ? await api.register(username, password) : await api.login(username, password);
    localStorage.setItem(TOKEN_KEY, auth.token);
    localStorage.setItem(USER_KEY, JSON.stringify(auth.user));
    $('login-password').value = '';
    startSession(auth.token, auth.user);
  } catch (err) {
    $('login-error').textContent = describeError(err);
  }
}

function startSession(token, user) {
  api = new Api(token);
  selectedId = null;
  membersOpen = false;
  chat = new Chat(api, onChange, readingChannel);
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('me-name').textContent = user ? user.username : '';
  document.body.classList.remove('show-conv');
  render();
  chat.start();
  $('direct-input').focus();
}

function endSession(message) {
  if (chat) chat.stop();
  chat = null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  api = new Api();
  showLogin(message);
}

async function logout() {
  try {
    await api.logout();
  } catch {
    // The token is dropped here either way.
  }
  endSession('You are logged out.');
}

// ---- state changes ----

function onChange(kind, id, detail) {
  if (!chat) return;
  switch (kind) {
    case 'connection':
      showConnection(detail);
      break;
    case 'error':
      toast(detail);
      break;
    case 'left':
      if (id === selectedId) {
        toast(`You are no longer a member of “${$('conv-title').textContent}”.`);
        closeConversation();
      }
      break;
    case 'members':
      if (id === selectedId && membersOpen) loadMembers();
      break;
    default:
      break;
  }
  queueRender();
}

function showConnection(detail) {
  const banner = $('connection');
  clearTimeout(backTimer);
  if (detail.transport) document.body.dataset.transport = detail.transport;
  banner.className = 'connection';
  switch (detail.state) {
    case 'connecting':
      banner.textContent = 'Connecting…';
      banner.hidden = false;
      break;
    case 'reconnecting': {
      reconnecting = true;
      document.body.classList.add('offline');
      const secs = Math.ceil(detail.retryInMs / 1000);
      banner.textContent = secs > 1 ? `Reconnecting… (next try in ${secs} s)` : 'Reconnecting…';
      banner.classList.add('warn');
      banner.hidden = false;
      break;
    }
    case 'online': {
      document.body.classList.remove('offline');
      const via = detail.transport === 'long polling' ? ' (long polling)' : '';
      banner.textContent = reconnecting ? `Back online${via}` : `Connected${via}`;
      banner.classList.add('ok');
      // The first connection over a WebSocket is the normal case: no need to say so.
      banner.hidden = !reconnecting && !via;
      reconnecting = false;
      backTimer = setTimeout(() => {
        banner.hidden = true;
      }, 4000);
      break;
    }
    case 'terminal':
      if (detail.code === CloseCode.SessionRevoked) {
        endSession('You were logged out (this session was ended). Log in again.');
      } else if (detail.code === CloseCode.AuthenticationFailed) {
        endSession('Your login has expired. Log in again.');
      } else {
        banner.textContent = `Disconnected (${detail.code} ${detail.reason}). Reload the page to reconnect.`;
        banner.classList.add('error');
        banner.hidden = false;
      }
      break;
    default:
      break;
  }
}

function toast(message) {
  const t = $('toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 6000);
}

/** The channel the user sees now (open, on a visible page, not behind the list on a phone), or null. */
function readingChannel() {
  const seen = document.visibilityState === 'visible' && (!isNarrow() || document.body.classList.contains('show-conv'));
  return seen ? selectedId : null;
}

function isNarrow() {
  return window.matchMedia('(max-width: 640px)').matches;
}

// ---- rendering ----

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

function sortedChannels() {
  const activity = (ch) => (ch.last ? ch.last.ts : ch.createdAt || 0);
  return [...chat.channels.values()].sort((a, b) => activity(b) - activity(a) || (a.id < b.id ? -1 : 1));
}

function render() {
  if (!chat) return;
  if (chat.me) $('me-name').textContent = chat.me.username;
  const channels = sortedChannels();
  renderChannelList($('channel-list'), chat, channels, selectedId);
  $('no-channels').hidden = channels.length > 0;
  const unread = channels.reduce((n, ch) => n + ch.unread, 0);
  document.title = unread ? `(${unread}) Confab` : 'Confab';
  renderConversation();
}

function renderConversation() {
  const ch = selectedId ? chat.channels.get(selectedId) : null;
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

  const typing = chat.typingIn(ch.id).map((id) => nameOf(ch, id));
  $('typing').textContent =
    typing.length === 0 ? '' : typing.length === 1 ? `${typing[0]} is typing…` : `${typing.join(', ')} are typing…`;
  if (membersOpen && ch.kind === 'group') renderMembers($('member-list'), chat, ch, members);
  const canAdd = ch.role === 'owner' || ch.role === 'admin';
  $('add-member-form').hidden = !canAdd;
}

function nameOf(ch, userId) {
  if (ch.peer && ch.peer.id === userId) return ch.peer.username;
  const m = members.find((x) => x.user.id === userId);
  if (m) return m.user.username;
  for (const e of ch.events.values()) if (e.author.id === userId) return e.author.username;
  return 'Someone';
}

// ---- conversation ----

async function openChannel(id, focusComposer = true) {
  if (!chat || !chat.channels.has(id)) return;
  const changed = id !== selectedId;
  selectedId = id;
  if (changed) {
    membersOpen = false;
    members = [];
    leaveArmed = null;
    $('composer-input').value = '';
    $('message-list').replaceChildren();
  }
  document.body.classList.add('show-conv');
  render();
  if (focusComposer) $('composer-input').focus();
  try {
    await chat.loadNewest(id);
  } catch (err) {
    toast(`Could not load the conversation: ${describeError(err)}`);
  }
  if (selectedId !== id) return;
  render();
  const box = $('messages');
  if (changed) box.scrollTop = box.scrollHeight;
  chat.markRead(id);
  // A short first page does not fill the pane: keep loading until it scrolls (or history ends).
  await fillPane(id);
}

async function fillPane(id) {
  const box = $('messages');
  while (selectedId === id && box.scrollHeight <= box.clientHeight && (await loadOlder())) {
    /* keep going */
  }
}

function closeConversation() {
  selectedId = null;
  membersOpen = false;
  document.body.classList.remove('show-conv');
  render();
  $('direct-input').focus();
}

async function loadOlder() {
  if (!chat || !selectedId || olderLoading) return false;
  olderLoading = true;
  try {
    const more = await chat.loadOlder(selectedId);
    render();
    return more;
  } catch (err) {
    toast(`Could not load older messages: ${describeError(err)}`);
    return false;
  } finally {
    olderLoading = false;
  }
}

function sendComposed() {
  const input = $('composer-input');
  if (!chat || !selectedId) return;
  const body = input.value;
  if (!body.trim()) return;
  const error = chat.send(selectedId, body);
  if (error) {
    toast(error);
    return;
  }
  input.value = '';
  autoGrow();
  render();
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
}

function autoGrow() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// ---- members ----

async function loadMembers() {
  if (!selectedId) return;
  const id = selectedId;
  try {
    const answer = await api.members(id);
    if (selectedId !== id) return;
    members = answer.members;
    chat.watch(members.map((m) => m.user.id));
    render();
  } catch (err) {
    toast(describeError(err));
  }
}

async function memberAction(fn) {
  try {
    await fn();
    await loadMembers();
  } catch (err) {
    toast(describeError(err));
  }
}

// ---- user search ----

let searchTimer = null;
function suggestUsers(prefix) {
  clearTimeout(searchTimer);
  const p = prefix.trim().toLowerCase();
  if (!p || !/^[a-z0-9_.-]{1,32}$/.test(p)) return;
  searchTimer = setTimeout(async () => {
    try {
      const { users } = await api.searchUsers(p);
      const list = $('user-suggestions');
      list.replaceChildren(
        ...users
          .filter((u) => !chat || !chat.me || u.id !== chat.me.id)
          .map((u) => {
            const o = document.createElement('option');
            o.value = u.username;
            return o;
          }),
      );
    } catch {
      // Suggestions are a convenience.
    }
  }, 150);
}

// ---- keyboard ----

function switchChannel(step) {
  if (!chat) return;
  const channels = sortedChannels();
  if (!channels.length) return;
  let i = channels.findIndex((c) => c.id === selectedId);
  i = i < 0 ? (step > 0 ? 0 : channels.length - 1) : (i + step + channels.length) % channels.length;
  openChannel(channels[i].id);
}

function onKey(e) {
  if (!chat || $('app-view').hidden) return;
  if (e.altKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
    e.preventDefault();
    switchChannel(e.key === 'ArrowDown' ? 1 : -1);
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
    e.preventDefault();
    document.body.classList.remove('show-conv');
    $('direct-input').focus();
  } else if (e.key === 'Escape' && !$('group-dialog').open) {
    if (membersOpen) {
      membersOpen = false;
      render();
      $('members-button').focus();
    } else if (selectedId && document.body.classList.contains('show-conv') && isNarrow()) {
      goBack();
    } else if (selectedId) {
      const button = document.querySelector(`.channel[data-channel="${CSS.escape(selectedId)}"]`);
      if (button) button.focus();
    }
  }
}

function goBack() {
  document.body.classList.remove('show-conv');
  render();
  const button = selectedId && document.querySelector(`.channel[data-channel="${CSS.escape(selectedId)}"]`);
  if (button) button.focus();
  else $('direct-input').focus();
}

// ---- wiring ----

function wire() {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    authenticate(false);
  });
  $('register-button').addEventListener('click', () => authenticate(true));
  $('logout-button').addEventListener('click', logout);

  $('direct-input').addEventListener('input', (e) => suggestUsers(e.target.value));
  $('add-member-input').addEventListener('input', (e) => suggestUsers(e.target.value));
  $('direct-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('direct-input').value.trim();
    if (!name || !chat) return;
    try {
      const summary = await api.createDirect(name);
      chat.addChannel(summary);
      $('direct-input').value = '';
      openChannel(summary.id);
    } catch (err) {
      toast(describeError(err));
    }
  });

  $('channel-list').addEventListener('click', (e) => {
    const button = e.target.closest('.channel');
    if (button) openChannel(button.dataset.channel);
  });

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    sendComposed();
  });
  $('composer-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendComposed();
    }
  });
  $('composer-input').addEventListener('input', () => {
    autoGrow();
    if (!chat || !selectedId) return;
    if ($('composer-input').value.trim()) chat.typed(selectedId);
    else chat.stoppedTyping(selectedId);
  });

  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < 80) loadOlder();
  });
  $('older-button').addEventListener('click', loadOlder);
  $('message-list').addEventListener('click', (e) => {
    const retry = e.target.closest('[data-retry]');
    const discard = e.target.closest('[data-discard]');
    if (retry && chat) chat.retry(retry.dataset.retry);
    if (discard && chat) chat.discard(discard.dataset.discard);
  });
  $('back-button').addEventListener('click', goBack);

  $('members-button').addEventListener('click', () => {
    membersOpen = !membersOpen;
    render();
    if (membersOpen) {
      loadMembers();
      $('members-close').focus();
    }
  });
  $('members-close').addEventListener('click', () => {
    membersOpen = false;
    render();
    $('members-button').focus();
  });
  $('member-list').addEventListener('click', (e) => {
    const remove = e.target.closest('[data-remove]');
    const role = e.target.closest('[data-role]');
    const id = selectedId;
    if (remove) memberAction(() => api.removeMember(id, remove.dataset.remove));
    if (role) memberAction(() => api.setRole(id, role.dataset.user, role.dataset.role));
  });
  $('add-member-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('add-member-input').value.trim();
    if (!name) return;
    const id = selectedId;
    memberAction(async () => {
      await api.addMember(id, name);
      $('add-member-input').value = '';
    });
  });
  $('leave-button').addEventListener('click', () => {
    const button = $('leave-button');
    if (leaveArmed !== selectedId) {
      leaveArmed = selectedId;
      button.textContent = 'Press again to leave';
      setTimeout(() => {
        leaveArmed = null;
        button.textContent = 'Leave group';
      }, 4000);
      return;
    }
    const id = selectedId;
    leaveArmed = null;
    button.textContent = 'Leave group';
    api.leave(id).catch((err) => toast(describeError(err)));
  });

  const dialog = $('group-dialog');
  $('new-group-button').addEventListener('click', () => {
    $('group-error').textContent = '';
    dialog.showModal();
    $('group-name').focus();
  });
  $('group-cancel').addEventListener('click', () => dialog.close());
  $('group-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('group-name').value.trim();
    const names = $('group-members')
      .value.split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (!name) {
      $('group-error').textContent = 'A group needs a name.';
      return;
    }
    try {
      const summary = await api.createGroup(name, names);
      dialog.close();
      $('group-name').value = '';
      $('group-members').value = '';
      if (chat.channels.has(summary.id)) openChannel(summary.id);
      else {
        chat.addChannel(summary);
        openChannel(summary.id);
      }
    } catch (err) {
      $('group-error').textContent = describeError(err);
    }
  });

  document.addEventListener('keydown', onKey);
  document.addEventListener('visibilitychange', () => {
    const id = readingChannel();
    if (chat && id) chat.markRead(id);
  });
  window.addEventListener('pagehide', () => {
    if (chat) chat.stop();
  });
}

function boot() {
  wire();
  const token = localStorage.getItem(TOKEN_KEY);
  let user = null;
  try {
    user = JSON.parse(localStorage.getItem(USER_KEY) || 'null');
  } catch {
    user = null;
  }
  if (token) startSession(token, user);
  else showLogin();
}

boot();
