//! The few fields the generator reads from server frames, borrowed from the frame's text, and
//! the message body that carries its send time.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// The fields of a server frame (or of a history event) that the generator needs. Everything
/// else in the frame is skipped without being stored.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    #[serde(default, borrow)]
    pub op: Option<&'a str>,
    #[serde(default, borrow)]
    pub channel_id: Option<&'a str>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default, borrow)]
    pub body: Option<Cow<'a, str>>,
    #[serde(default, rename = "ref")]
    pub reference: Option<u64>,
    /// `ready`: where each channel stands.
    #[serde(default, borrow)]
    pub channels: Option<Vec<ChannelCursor<'a>>>,
    /// `error`: the error code.
    #[serde(default)]
    pub code: Option<u16>,
}

/// A channel and its `last_seq`, from `ready`.
#[derive(Debug, Deserialize)]
pub struct ChannelCursor<'a> {
    #[serde(borrow)]
    pub id: &'a str,
    pub last_seq: u64,
}

impl<'a> Incoming<'a> {
    /// Parses a frame; `None` if it is not JSON the generator understands.
    pub fn parse(text: &'a str) -> Option<Incoming<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The frame's `op`, or "" when it has none (history events).
    pub fn op(&self) -> &str {
        self.op.unwrap_or("")
    }

    /// When the message was sent (ns since the epoch), read from its body.
    pub fn sent_at(&self) -> Option<u64> {
        self.body.as_deref().and_then(sent_at)
    }
}

/// The channel, `seq` and send time of an `event` frame as this server writes it (`op`,
/// `channel_id` and `seq` first), read without a JSON parser; `None` for any other frame, which
/// then goes through [`Incoming::parse`].
pub fn fast_event(text: &str) -> Option<(&str, u64, Option<u64>)> {
    let rest = text.strip_prefix(r#"{"op":"event","channel_id":""#)?;
    let (channel, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","seq":"#)?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    let seq = rest[..end].parse().ok()?;
    let sent = rest
        .find(r#""body":""#)
        .and_then(|at| sent_at(&rest[at + 8..]));
    Some((channel, seq, sent))
}

/// Smallest `--size`: the send timestamp (19 digits) and a separator fit.
pub const MIN_BODY: usize = 24;

/// The machine's clock in nanoseconds since the epoch: the same clock in every process of a run,
/// so a receiver computes latency from the body alone.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A message body: the send time, a space, and padding up to `size` bytes.
pub fn body(sent_ns: u64, size: usize) -> String {
    let mut body = String::with_capacity(size.max(MIN_BODY));
    body.push_str(&sent_ns.to_string());
    body.push(' ');
    while body.len() < size {
        body.push('x');
    }
    body
}

/// The send time written by [`body`].
pub fn sent_at(body: &str) -> Option<u64> {
    let digits = body.split(' ').next()?;
    digits.parse().ok()
}

/// A `send` frame.
pub fn send(reference: u64, channel: &str, client_id: &str, body: &str) -> String {
    format!(
        r#"{{"op":"send","ref":{reference},"channel_id":"{channel}","client_id":"{client_id}","body":"{body}"}}"#
    )
}

/// An `identify` frame.
pub fn identify(token: &str) -> String {
    format!(r#"{{"op":"identify","token":"{token}"}}"#)
}

/// A `resume` frame with the cursor of `channel` and those of the client's `others`.
pub fn resume(token: &str, channel: &str, cursor: u64, others: &[(String, u64)]) -> String {
    let mut cursors = format!(r#""{channel}":{cursor}"#);
    for (id, seq) in others {
        cursors.push_str(&format!(r#","{id}":{seq}"#));
    }
    format!(r#"{{"op":"resume","token":"{token}","cursors":{{{cursors}}}}}"#)
}

/// A `heartbeat` frame.
pub const HEARTBEAT: &str = r#"{"op":"heartbeat"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_carries_every_cursor() {
        let others = [("7".to_owned(), 3), ("8".to_owned(), 0)];
        let frame: serde_json::Value =
            serde_json::from_str(&resume("t", "5", 42, &others)).expect("json");
        assert_eq!(
            frame,
            serde_json::json!({"op": "resume", "token": "t", "cursors": {"5": 42, "7": 3, "8": 0}})
        );
        let alone: serde_json::Value =
            serde_json::from_str(&resume("t", "5", 1, &[])).expect("json");
        assert_eq!(alone["cursors"], serde_json::json!({"5": 1}));
    }

    #[test]
    fn a_body_carries_its_send_time_and_has_the_asked_size() {
        let b = body(1_796_000_000_123_456_789, 64);
        assert_eq!(b.len(), 64);
        assert_eq!(sent_at(&b), Some(1_796_000_000_123_456_789));
    }

    #[test]
    fn an_event_frame_yields_its_seq_channel_and_send_time() {
        let text = format!(
            r#"{{"op":"event","channel_id":"5","seq":42,"id":"9","ts":1,"author":{{"id":"1","username":"a"}},"type":"message","body":"{}","client_id":"c"}}"#,
            body(77, 30)
        );
        let f = Incoming::parse(&text).expect("parses");
        assert_eq!(f.op(), "event");
        assert_eq!(f.channel_id, Some("5"));
        assert_eq!(f.seq, Some(42));
        assert_eq!(f.sent_at(), Some(77));
        assert_eq!(fast_event(&text), Some(("5", 42, Some(77))));
        assert_eq!(fast_event(r#"{"op":"ack","ref":1}"#), None);
    }

    #[test]
    fn ready_yields_each_channels_last_seq() {
        let text = r#"{"op":"ready","session_id":"x","user":{"id":"1","username":"a","created_at":1},"channels":[{"id":"5","kind":"group","name":"g","peer":null,"member_count":2,"role":"member","last_seq":7,"read_seq":1,"unread":0,"created_at":1}],"server_ts":1,"presence":[]}"#;
        let f = Incoming::parse(text).expect("parses");
        let channels = f.channels.expect("channels");
        assert_eq!((channels[0].id, channels[0].last_seq), ("5", 7));
    }
}
