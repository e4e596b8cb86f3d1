// One gateway session at a time, kept alive (docs/protocol.md §2, §8, §11): opens a transport,
// answers `hello` with identify or resume, heartbeats, detects dead connections, and reconnects with
// exponential backoff and full jitter, honouring close codes and retry hints. Falls back to long
// polling only when WebSockets fail while the node is ready, tries the WebSocket again at every
// reconnect after that, and probes it from time to time while long polling works.

import { CloseCode, isFromServer, isTerminal, retryAfterMs } from './codes.js';
import { gatewayUrl, PollTransport, SocketTransport } from './transport.js';

const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 30000;
/** WebSocket attempts that fail before `ready` while /readyz answers 200, before falling back. */
const WS_FAILURES_BEFORE_FALLBACK = 2;
/** How often a working long-polling session probes whether a WebSocket would open now. */
const UPGRADE_AFTER_MS = 5 * 60 * 1000;

/** What the connection uses of the browser; tests pass their own. */
const BROWSER = {
  Socket: SocketTransport,
  Poll: PollTransport,
  /** Whether the node is up and ready (not starting, not draining). */
  async nodeReady() {
    try {
      const r = await fetch('/readyz', { cache: 'no-store' });
      return r.ok;
    } catch {
      return false;
    }
  },
  /** Resolves true when a WebSocket to the gateway opens and says `hello`, false otherwise. */
  probeSocket() {
    return new Promise((resolve) => {
      let ws;
      try {
        ws = new WebSocket(gatewayUrl());
      } catch {
        resolve(false);
        return;
      }
      const done = (ok) => {
        clearTimeout(timer);
        ws.onmessage = null;
        ws.onclose = null;
        try {
          ws.close(CloseCode.Normal);
        } catch {
          // already closed
        }
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), 15000);
      ws.onmessage = () => done(true);
      ws.onclose = () => done(false);
    });
  },
};

/**
 * States reported to `onState(state, detail)`:
 * - `connecting`: the first attempt is under way;
 * - `online`: identified or resumed (`detail.transport` says how);
 * - `reconnecting`: dropped, trying again (`detail.retryInMs`, `detail.code`);
 * - `terminal`: closed with a 4100–4199 code (`detail.code`), not retrying.
 */
export class Connection {
  /**
   * @param {object} opts
   * @param {() => object} opts.greeting the `identify` or `resume` frame to send after `hello`
   * @param {(frame: object) => void} opts.onFrame every server frame after `hello`
   * @param {(state: string, detail: object) => void} opts.onState
   * @param {object} [opts.env] the transports and probes to use (tests); the browser's by default
   * @param {number} [opts.upgradeAfterMs] how often long polling probes the WebSocket
   */
  constructor({ greeting, onFrame, onState, env = BROWSER, upgradeAfterMs = UPGRADE_AFTER_MS }) {
    this.greeting = greeting;
    this.onFrame = onFrame;
    this.onState = onState;
    this.env = env;
    this.upgradeAfterMs = upgradeAfterMs;
    this.transport = null;
    this.online = false;
    this.stopped = true;
    this.attempt = 0;
    this.wsFailures = 0;
    /** Set when the WebSocket itself failed: the next attempt uses long polling. */
    this.fallback = false;
    this.timers = {};
    this.hello = null;
  }

  start() {
    this.stopped = false;
    this.onState('connecting', {});
    this.open();
  }

  stop() {
    this.stopped = true;
    this.online = false;
    this.clearTimers();
    if (this.transport) this.transport.close();
    this.transport = null;
  }

  /** Drops the current session and resumes on a new one (e.g. after a gap history cannot fill). */
  restart() {
    if (this.transport) this.transport.close();
    // A code of the reconnect range: resume with backoff, not counted as a WebSocket failure.
    this.dropped(CloseCode.InternalError, 'restart');
  }

  /** Sends a frame if a session is identified; false otherwise (the caller keeps or drops it). */
  send(frame) {
    if (!this.online || !this.transport) return false;
    return this.transport.send(frame);
  }

  get transportKind() {
    return this.transport ? this.transport.kind : null;
  }

  open() {
    this.clearTimers();
    this.online = false;
    const usePoll = this.fallback;
    const handlers = {
      frame: (f) => this.received(transport, f),
      close: (code, reason) => {
        if (this.transport === transport) this.dropped(code, reason);
      },
    };
    const transport = usePoll ? new this.env.Poll(handlers) : new this.env.Socket(handlers);
    this.transport = transport;
    this.lastHeard = Date.now();
    // No hello within a while: the attempt failed (a socket that never opens, a black hole).
    this.timers.hello = setTimeout(() => {
      if (this.transport === transport && !this.hello) {
        transport.close();
        this.dropped(CloseCode.Abnormal, 'no hello');
      }
    }, 15000);
  }

  received(transport, frame) {
    if (this.transport !== transport || this.stopped) return;
    this.lastHeard = Date.now();
    if (frame.op === 'hello') {
      this.hello = frame;
      clearTimeout(this.timers.hello);
      transport.send(this.greeting());
      return;
    }
    if (frame.op === 'ready' || frame.op === 'resumed') {
      this.online = true;
      this.attempt = 0;
      if (transport.kind === 'websocket') this.wsFailures = 0;
      this.startHeartbeat(transport);
      if (transport.kind !== 'websocket') this.scheduleUpgrade(transport);
      // The session's own frames first (it sends its outbox), then the state change.
      this.onFrame(frame);
      this.onState('online', { transport: transport.kind });
      return;
    }
    if (frame.op === 'heartbeat_ack') return;
    this.onFrame(frame);
  }

  startHeartbeat(transport) {
    const interval = (this.hello && this.hello.heartbeat_interval_ms) || 30000;
    clearInterval(this.timers.heartbeat);
    this.timers.heartbeat = setInterval(() => {
      if (this.transport !== transport) return;
      if (Date.now() - this.lastHeard > 2 * interval) {
        // Nothing heard for two intervals: the connection is dead (maybe half-open).
        transport.close();
        this.dropped(CloseCode.Abnormal, 'silent');
        return;
      }
      if (transport.kind === 'websocket') transport.send({ op: 'heartbeat' });
    }, interval / 2);
  }

  /** While `transport` (long polling) works, probe the WebSocket now and then; move when it opens. */
  scheduleUpgrade(transport) {
    clearTimeout(this.timers.upgrade);
    this.timers.upgrade = setTimeout(async () => {
      if (this.transport !== transport || this.stopped) return;
      const opens = await this.env.probeSocket();
      if (this.transport !== transport || this.stopped) return;
      if (opens) this.restart();
      else this.scheduleUpgrade(transport);
    }, this.upgradeAfterMs);
  }

  async dropped(code, reason) {
    const wasOnline = this.online;
    const kind = this.transport ? this.transport.kind : null;
    this.transport = null;
    this.online = false;
    this.hello = null;
    this.clearTimers();
    if (this.stopped) return;
    if (isTerminal(code)) {
      this.stopped = true;
      this.onState('terminal', { code, reason });
      return;
    }
    const hintMs = retryAfterMs(reason);
    // A long-polling session that ended (closed by the node, a restart, a drain, a lost network)
    // says nothing against the WebSocket: the next attempt tries it first again.
    if (kind !== 'websocket') this.fallback = false;
    if (kind === 'websocket' && !wasOnline && !isFromServer(code) && !hintMs) {
      // The WebSocket failed before the session started. If the node is up and ready, a proxy
      // or network is breaking WebSockets: count it, and fall back to long polling. A node that
      // is down, starting or draining refuses everything; that is no reason to leave WebSockets.
      if (await this.env.nodeReady()) {
        this.wsFailures += 1;
        if (this.wsFailures >= WS_FAILURES_BEFORE_FALLBACK) {
          this.fallback = true;
          this.wsFailures = 0;
        }
      }
      if (this.stopped) return;
    }
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const wait = Math.max(hintMs, Math.random() * ceiling);
    this.attempt += 1;
    this.onState('reconnecting', { code, reason, retryInMs: wait });
    this.timers.retry = setTimeout(() => {
      if (!this.stopped) this.open();
    }, wait);
  }

  clearTimers() {
    clearTimeout(this.timers.hello);
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.heartbeat);
    clearTimeout(this.timers.upgrade);
    this.timers = {};
  }
}
