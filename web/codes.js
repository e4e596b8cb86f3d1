// The protocol's numbers, named once (docs/protocol.md §7 and §8; the same names as the Rust enums in
// crates/confab-proto/src/error.rs): error codes of `error` frames and HTTP error bodies, and the
// close codes that end a gateway session, in a reconnect range and a terminal range.

/** Why a request failed: `code` of an `error` frame or of an HTTP error body. */
export const ErrorCode = Object.freeze({
  /** Something went wrong on the server; retrying may help. */
  Internal: 1000,
  BadRequest: 1001,
  UnknownOp: 1002,
  Unauthorized: 1003,
  Forbidden: 1004,
  NotFound: 1005,
  Conflict: 1006,
  /** Sending too fast; `retry_after_ms` says when to try again. */
  RateLimited: 1007,
  TooLarge: 1008,
  LimitExceeded: 1009,
  /** The store is unavailable; nothing changed, and the request may be retried. */
  Unavailable: 1010,
});

/**
 * Why a gateway session ended. 4000–4099 is the server's reconnect range, 4100–4199 its terminal
 * range; codes below 4000 come from the WebSocket layer (or from the transports, for the same
 * meaning) and are reconnectable network failures.
 */
export const CloseCode = Object.freeze({
  /** A normal closure: what the client sends when it closes a socket itself. */
  Normal: 1000,
  /** Closed without a close frame: the network dropped, or the client gave up on a silent session. */
  Abnormal: 1006,
  /** Try again later: an HTTP session refused with 503 (the reason carries `retry_after_ms=`). */
  TryAgainLater: 1013,

  InternalError: 4000,
  HeartbeatTimeout: 4001,
  SlowConsumer: 4002,
  ServerShutdown: 4003,
  IdentifyTimeout: 4004,
  RateLimited: 4005,
  /** The node admits no more sessions now; the reason carries `retry_after_ms=N`. */
  Overloaded: 4006,

  /** The token is invalid or revoked: log in again. */
  AuthenticationFailed: 4100,
  NotIdentified: 4101,
  AlreadyIdentified: 4102,
  FrameTooLarge: 4103,
  ProtocolViolation: 4104,
  /** The token was revoked by a logout. */
  SessionRevoked: 4105,
});

/** The first code the server itself sends; below it, the WebSocket layer's own. */
const SERVER_RANGE_START = 4000;
const TERMINAL_RANGE_START = 4100;
const TERMINAL_RANGE_END = 4199;

/** Whether a session closed with `code` must not be reconnected as before (4100–4199). */
export function isTerminal(code) {
  return code >= TERMINAL_RANGE_START && code <= TERMINAL_RANGE_END;
}

/** Whether `code` was sent by the server (4000 and up) rather than by the network or the browser. */
export function isFromServer(code) {
  return code >= SERVER_RANGE_START;
}

/** The server's retry hint in a close reason (`overloaded retry_after_ms=3284`), in ms; 0 if none. */
export function retryAfterMs(reason) {
  const m = /retry_after_ms=(\d+)/.exec(reason || '');
  return m ? Number(m[1]) : 0;
}
