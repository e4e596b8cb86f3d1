// Confab's browser client: the entry point. Wires the login form, the channel list, the
// conversation and the members panel to the chat, and owns keyboard shortcuts. What the page
// holds between events (the open channel, panels, timers) is the one `app` object below.
//
// Layout (plain ES modules, served by `confab serve`; no build step):
// - api.js: the REST API, errors as readable text;
// - codes.js: the protocol's error codes and close codes, by name, and their ranges;
// - transport.js: WebSocket and long-polling transports of a gateway session;
// - connection.js: one session kept alive (identify/resume, heartbeat, backoff, fallback);
// - state.js: the chat state and its rules, with no DOM, socket or timers (frames, actions and
//   time in, commands out): cursors, dedup and gap filling, resume, pointers, receipts, presence;
//   with channel.js (one channel's data), outbox.js (sends kept until they arrive, retries) and
//   typing.js (indicators, both ways). Unit tests: web/unit/, `npm run unit --prefix web`;
// - chat.js: the state wired to the connection, the API and a timer; loads what the user opens;
// - view.js: state into DOM (text only, keyed lists);
// - app.js: this file.

import { Api, describeError } from './api.js';
import { Chat } from './chat.js';
import { CloseCode } from './codes.js';
import { renderChannelList, renderConversation } from './view.js';

const TOKEN_KEY = 'confab.token';
const USER_KEY = 'confab.user';

const $ = (id) => document.getElementById(id);

/** Everything the page holds between events, in one place. */
const app = {
  /** The REST API, with the session's token once logged in. */
  api: new Api(),
  /** The chat session (state, rules and connection), from login to logout. */
  chat: null,
  /** The open conversation's channel id. */
  selectedId: null,
  /** The members panel: open or not, and the members it shows. */
  membersOpen: false,
  members: [],
  /** A render is queued for the next turn (many changes, one render). */
  renderQueued: false,
  /** An older page is being loaded (one at a time). */
  olderLoading: false,
  /** The connection was lost: the next "online" says "Back online". */
  reconnecting: false,
  /** The group whose "Leave group" was pressed once, waiting for the second press. */
  leaveArmed: null,
  /** Timers that hide the connection banner and the toast, and that debounce the user search. */
  backTimer: null,
  toastTimer: null,
  searchTimer: null,
};

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
    const auth = register ? await app.api.register(username, password) : await app.api.login(username, password);
    localStorage.setItem(TOKEN_KEY, auth.token);
    localStorage.setItem(USER_KEY, JSON.stringify(auth.user));
    $('login-password').value = '';
    startSession(auth.token, auth.user);
  } catch (err) {
    $('login-error').textContent = describeError(err);
  }
}

function startSession(token, user) {
  app.api = new Api(token);
  app.selectedId = null;
  app.membersOpen = false;
  app.chat = new Chat(app.api, onChange, readingChannel);
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('me-name').textContent = user ? user.username : '';
  document.body.classList.remove('show-conv');
  render();
  app.chat.start();
  $('direct-input').focus();
}

function endSession(message) {
  if (app.chat) app.chat.stop();
  app.chat = null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  app.api = new Api();
  showLogin(message);
}

async function logout() {
  try {
    await app.api.logout();
  } catch {
    // The token is dropped here either way.
  }
  endSession('You are logged out.');
}

// ---- state changes ----

function onChange(kind, id, detail) {
  if (!app.chat) return;
  switch (kind) {
    case 'connection':
      showConnection(detail);
      break;
    case 'error':
      toast(detail);
      break;
    case 'left':
      if (id === app.selectedId) {
        toast(`You are no longer a member of “${$('conv-title').textContent}”.`);
        closeConversation();
      }
      break;
    case 'members':
      if (id === app.selectedId && app.membersOpen) loadMembers();
      break;
    default:
      break;
  }
  queueRender();
}

function showConnection(detail) {
  const banner = $('connection');
  clearTimeout(app.backTimer);
  if (detail.transport) document.body.dataset.transport = detail.transport;
  banner.className = 'connection';
  switch (detail.state) {
    case 'connecting':
      banner.textContent = 'Connecting…';
      banner.hidden = false;
      break;
    case 'reconnecting': {
      app.reconnecting = true;
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
      banner.textContent = app.reconnecting ? `Back online${via}` : `Connected${via}`;
      banner.classList.add('ok');
      // The first connection over a WebSocket is the normal case: no need to say so.
      banner.hidden = !app.reconnecting && !via;
      app.reconnecting = false;
      app.backTimer = setTimeout(() => {
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
  clearTimeout(app.toastTimer);
  app.toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 6000);
}

/** The channel the user sees now (open, on a visible page, not behind the list on a phone), or null. */
function readingChannel() {
  const seen = document.visibilityState === 'visible' && (!isNarrow() || document.body.classList.contains('show-conv'));
  return seen ? app.selectedId : null;
}

function isNarrow() {
  return window.matchMedia('(max-width: 640px)').matches;
}

// ---- rendering ----

function queueRender() {
  if (app.renderQueued) return;
  app.renderQueued = true;
  setTimeout(() => {
    app.renderQueued = false;
    render();
  }, 0);
}

function sortedChannels() {
  const activity = (ch) => (ch.last ? ch.last.ts : ch.createdAt || 0);
  return [...app.chat.channels.values()].sort((a, b) => activity(b) - activity(a) || (a.id < b.id ? -1 : 1));
}

function render() {
  if (!app.chat) return;
  if (app.chat.me) $('me-name').textContent = app.chat.me.username;
  const channels = sortedChannels();
  renderChannelList($('channel-list'), app.chat, channels, app.selectedId);
  $('no-channels').hidden = channels.length > 0;
  const unread = channels.reduce((n, ch) => n + ch.unread, 0);
  document.title = unread ? `(${unread}) Confab` : 'Confab';
  const open = app.selectedId ? app.chat.channels.get(app.selectedId) : null;
  renderConversation(app.chat, open, app.membersOpen, app.members);
}

// ---- conversation ----

async function openChannel(id, focusComposer = true) {
  if (!app.chat || !app.chat.channels.has(id)) return;
  const changed = id !== app.selectedId;
  app.selectedId = id;
  if (changed) {
    app.membersOpen = false;
    app.members = [];
    app.leaveArmed = null;
    $('composer-input').value = '';
    $('message-list').replaceChildren();
  }
  document.body.classList.add('show-conv');
  render();
  if (focusComposer) $('composer-input').focus();
  try {
    await app.chat.loadNewest(id);
  } catch (err) {
    toast(`Could not load the conversation: ${describeError(err)}`);
  }
  if (app.selectedId !== id) return;
  render();
  const box = $('messages');
  if (changed) box.scrollTop = box.scrollHeight;
  app.chat.markRead(id);
  // A short first page does not fill the pane: keep loading until it scrolls (or history ends).
  await fillPane(id);
}

async function fillPane(id) {
  const box = $('messages');
  while (app.selectedId === id && box.scrollHeight <= box.clientHeight && (await loadOlder())) {
    /* keep going */
  }
}

function closeConversation() {
  app.selectedId = null;
  app.membersOpen = false;
  document.body.classList.remove('show-conv');
  render();
  $('direct-input').focus();
}

async function loadOlder() {
  if (!app.chat || !app.selectedId || app.olderLoading) return false;
  app.olderLoading = true;
  try {
    const more = await app.chat.loadOlder(app.selectedId);
    render();
    return more;
  } catch (err) {
    toast(`Could not load older messages: ${describeError(err)}`);
    return false;
  } finally {
    app.olderLoading = false;
  }
}

function sendComposed() {
  const input = $('composer-input');
  if (!app.chat || !app.selectedId) return;
  const body = input.value;
  if (!body.trim()) return;
  const error = app.chat.send(app.selectedId, body);
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
  if (!app.selectedId) return;
  const id = app.selectedId;
  try {
    const answer = await app.api.members(id);
    if (app.selectedId !== id) return;
    app.members = answer.members;
    app.chat.watch(app.members.map((m) => m.user.id));
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

function suggestUsers(prefix) {
  clearTimeout(app.searchTimer);
  const p = prefix.trim().toLowerCase();
  if (!p || !/^[a-z0-9_.-]{1,32}$/.test(p)) return;
  app.searchTimer = setTimeout(async () => {
    try {
      const { users } = await app.api.searchUsers(p);
      const list = $('user-suggestions');
      list.replaceChildren(
        ...users
          .filter((u) => !app.chat || !app.chat.me || u.id !== app.chat.me.id)
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
  if (!app.chat) return;
  const channels = sortedChannels();
  if (!channels.length) return;
  let i = channels.findIndex((c) => c.id === app.selectedId);
  i = i < 0 ? (step > 0 ? 0 : channels.length - 1) : (i + step + channels.length) % channels.length;
  openChannel(channels[i].id);
}

function onKey(e) {
  if (!app.chat || $('app-view').hidden) return;
  if (e.altKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
    e.preventDefault();
    switchChannel(e.key === 'ArrowDown' ? 1 : -1);
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
    e.preventDefault();
    document.body.classList.remove('show-conv');
    $('direct-input').focus();
  } else if (e.key === 'Escape' && !$('group-dialog').open) {
    if (app.membersOpen) {
      app.membersOpen = false;
      render();
      $('members-button').focus();
    } else if (app.selectedId && document.body.classList.contains('show-conv') && isNarrow()) {
      goBack();
    } else if (app.selectedId) {
      const button = document.querySelector(`.channel[data-channel="${CSS.escape(app.selectedId)}"]`);
      if (button) button.focus();
    }
  }
}

function goBack() {
  document.body.classList.remove('show-conv');
  render();
  const button = app.selectedId && document.querySelector(`.channel[data-channel="${CSS.escape(app.selectedId)}"]`);
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
    if (!name || !app.chat) return;
    try {
      const summary = await app.api.createDirect(name);
      app.chat.addChannel(summary);
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
    if (!app.chat || !app.selectedId) return;
    if ($('composer-input').value.trim()) app.chat.typed(app.selectedId);
    else app.chat.stoppedTyping(app.selectedId);
  });

  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < 80) loadOlder();
  });
  $('older-button').addEventListener('click', loadOlder);
  $('message-list').addEventListener('click', (e) => {
    const retry = e.target.closest('[data-retry]');
    const discard = e.target.closest('[data-discard]');
    if (retry && app.chat) app.chat.retry(retry.dataset.retry);
    if (discard && app.chat) app.chat.discard(discard.dataset.discard);
  });
  $('back-button').addEventListener('click', goBack);

  $('members-button').addEventListener('click', () => {
    app.membersOpen = !app.membersOpen;
    render();
    if (app.membersOpen) {
      loadMembers();
      $('members-close').focus();
    }
  });
  $('members-close').addEventListener('click', () => {
    app.membersOpen = false;
    render();
    $('members-button').focus();
  });
  $('member-list').addEventListener('click', (e) => {
    const remove = e.target.closest('[data-remove]');
    const role = e.target.closest('[data-role]');
    const id = app.selectedId;
    if (remove) memberAction(() => app.api.removeMember(id, remove.dataset.remove));
    if (role) memberAction(() => app.api.setRole(id, role.dataset.user, role.dataset.role));
  });
  $('add-member-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('add-member-input').value.trim();
    if (!name) return;
    const id = app.selectedId;
    memberAction(async () => {
      await app.api.addMember(id, name);
      $('add-member-input').value = '';
    });
  });
  $('leave-button').addEventListener('click', () => {
    const button = $('leave-button');
    if (app.leaveArmed !== app.selectedId) {
      app.leaveArmed = app.selectedId;
      button.textContent = 'Press again to leave';
      setTimeout(() => {
        app.leaveArmed = null;
        button.textContent = 'Leave group';
      }, 4000);
      return;
    }
    const id = app.selectedId;
    app.leaveArmed = null;
    button.textContent = 'Leave group';
    app.api.leave(id).catch((err) => toast(describeError(err)));
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
      const summary = await app.api.createGroup(name, names);
      dialog.close();
      $('group-name').value = '';
      $('group-members').value = '';
      if (app.chat.channels.has(summary.id)) openChannel(summary.id);
      else {
        app.chat.addChannel(summary);
        openChannel(summary.id);
      }
    } catch (err) {
      $('group-error').textContent = describeError(err);
    }
  });

  document.addEventListener('keydown', onKey);
  document.addEventListener('visibilitychange', () => {
    const id = readingChannel();
    if (app.chat && id) app.chat.markRead(id);
  });
  window.addEventListener('pagehide', () => {
    if (app.chat) app.chat.stop();
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
