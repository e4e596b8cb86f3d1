// The REST API (docs/protocol.md §10): one method per endpoint the UI uses. Every failure becomes an
// ApiError whose message is readable text for the user.

/** A failed request: `status` is the HTTP status (0 when the server could not be reached). */
export class ApiError extends Error {
  constructor(status, code, name, message, retryAfterMs) {
    super(message);
    this.status = status;
    this.code = code;
    this.name = name || 'error';
    this.retryAfterMs = retryAfterMs;
  }
}

/** Readable text for an error thrown by this module or by anything else. */
export function describeError(err) {
  if (err instanceof ApiError) return err.message;
  return err && err.message ? err.message : String(err);
}

export class Api {
  /** @param {string|null} token the bearer token, or null before login */
  constructor(token = null) {
    this.token = token;
  }

  async request(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 0, 'network', 'Cannot reach the server. Check your connection.');
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const e = json && json.error;
      if (e) throw new ApiError(response.status, e.code, e.error, sentence(e.message), e.retry_after_ms);
      const detail = text && text.length < 200 ? `: ${text}` : '';
      throw new ApiError(response.status, 0, 'http', `The server answered ${response.status}${detail}`);
    }
    return json;
  }

  register(username, password) {
    return this.request('POST', '/register', { username, password });
  }
  login(username, password) {
    return this.request('POST', '/login', { username, password });
  }
  logout() {
    return this.request('POST', '/logout');
  }
  me() {
    return this.request('GET', '/me');
  }
  searchUsers(prefix, limit = 10) {
    const q = new URLSearchParams({ prefix, limit: String(limit) });
    return this.request('GET', `/users?${q}`);
  }
  userPresence(userId) {
    return this.request('GET', `/users/${userId}/presence`);
  }
  channels() {
    return this.request('GET', '/channels');
  }
  createDirect(peer) {
    return this.request('POST', '/channels', { kind: 'direct', peer });
  }
  createGroup(name, members) {
    return this.request('POST', '/channels', { kind: 'group', name, members });
  }
  members(channelId) {
    return this.request('GET', `/channels/${channelId}/members`);
  }
  addMember(channelId, username) {
    return this.request('POST', `/channels/${channelId}/members`, { username });
  }
  removeMember(channelId, userId) {
    return this.request('DELETE', `/channels/${channelId}/members/${userId}`);
  }
  leave(channelId) {
    return this.request('POST', `/channels/${channelId}/leave`);
  }
  setRole(channelId, userId, role) {
    return this.request('PUT', `/channels/${channelId}/members/${userId}/role`, { role });
  }
  /** One page of history: `{before, after, limit}`, each optional. */
  history(channelId, params = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
    return this.request('GET', `/channels/${channelId}/messages?${q}`);
  }
  receipts(channelId) {
    return this.request('GET', `/channels/${channelId}/receipts`);
  }
  read(channelId, seq) {
    return this.request('POST', `/channels/${channelId}/read`, { seq });
  }
}

function sentence(message) {
  if (!message) return 'Something went wrong.';
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
