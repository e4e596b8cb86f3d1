//! What travels on a channel subject: the routing facts a receiving node needs, beside the frame
//! bytes its clients receive as they are.
//!
//! A node fans a channel's events out to its local sessions in `seq` order and stops delivering
//! to a member an event removes. It learns both from a fixed binary header, never by parsing the
//! frame: the frame is serialized once by the publisher and passed on untouched (the receiver
//! slices it out of the payload without copying).
//!
//! Layout, big-endian: `version: u8 (1)`, `kind: u8` (1 event, 2 ephemeral), `channel: i64`,
//! `seq: u64`, `removes: i64` (0: nobody), then the frame (UTF-8 JSON) to the end.

use bytes::{BufMut, Bytes, BytesMut};
use confab_proto::{ChannelId, UserId};
use serde::Serialize;

/// The envelope's format version: the first byte of every payload on a channel subject.
const VERSION: u8 = 1;
const KIND_EVENT: u8 = 1;
const KIND_EPHEMERAL: u8 = 2;
/// Bytes before the frame.
pub const HEADER_LEN: usize = 1 + 1 + 8 + 8 + 8;

/// How a receiving node routes a frame on a channel subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A channel event: delivered in `seq` order, once; after it, nothing more reaches the user
    /// it `removes` (a removed member, or one who left).
    Event {
        channel: ChannelId,
        seq: u64,
        removes: Option<UserId>,
    },
    /// An ephemeral frame (a receipt, a typing indicator): passed straight to the channel's
    /// sessions, never reordered, never stored.
    Ephemeral,
}

/// A decoded payload: its route and the frame, as clients receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub route: Route,
    pub frame: Bytes,
}

/// Why a payload is not an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("payload of {0} bytes is shorter than the envelope header")]
    Short(usize),
    #[error("unknown envelope version {0}")]
    Version(u8),
    #[error("unknown envelope kind {0}")]
    Kind(u8),
}

impl Envelope {
    /// Encodes `route` and `frame` (serialized as JSON right after the header, in one buffer).
    pub fn encode(route: Route, frame: &impl Serialize) -> Result<Bytes, serde_json::Error> {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + 256);
        buf.put_u8(VERSION);
        match route {
            Route::Event {
                channel,
                seq,
                removes,
            } => {
                buf.put_u8(KIND_EVENT);
                buf.put_i64(channel.get());
                buf.put_u64(seq);
                buf.put_i64(removes.map_or(0, UserId::get));
            }
            Route::Ephemeral => {
                buf.put_u8(KIND_EPHEMERAL);
                buf.put_bytes(0, 24);
            }
        }
        let mut writer = buf.writer();
        serde_json::to_writer(&mut writer, frame)?;
        Ok(writer.into_inner().freeze())
    }

    /// Reads the header; the frame is a slice of `payload` (no copy).
    pub fn decode(payload: Bytes) -> Result<Envelope, EnvelopeError> {
        if payload.len() < HEADER_LEN {
            return Err(EnvelopeError::Short(payload.len()));
        }
        let h = &payload[..HEADER_LEN];
        if h[0] != VERSION {
            return Err(EnvelopeError::Version(h[0]));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            b
        };
        let route = match h[1] {
            KIND_EVENT => Route::Event {
                channel: ChannelId(i64::from_be_bytes(word(2))),
                seq: u64::from_be_bytes(word(10)),
                removes: Some(i64::from_be_bytes(word(18)))
                    .filter(|&id| id != 0)
                    .map(UserId),
            },
            KIND_EPHEMERAL => Route::Ephemeral,
            kind => return Err(EnvelopeError::Kind(kind)),
        };
        Ok(Envelope {
            route,
            frame: payload.slice(HEADER_LEN..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_their_route_and_untouched_frame() {
        let route = Route::Event {
            channel: ChannelId(81_000_000_000_000_100),
            seq: 42,
            removes: Some(UserId(7)),
        };
        let frame = serde_json::json!({"op": "event", "seq": 42});
        let payload = Envelope::encode(route, &frame).expect("encode");
        let decoded = Envelope::decode(payload).expect("decode");
        assert_eq!(decoded.route, route);
        assert_eq!(&decoded.frame[..], br#"{"op":"event","seq":42}"#);
    }

    #[test]
    fn nobody_removed_and_ephemeral_frames_round_trip() {
        let route = Route::Event {
            channel: ChannelId(5),
            seq: 1,
            removes: None,
        };
        let decoded = Envelope::decode(Envelope::encode(route, &"x").expect("encode"));
        assert_eq!(decoded.expect("decode").route, route);
        let decoded = Envelope::decode(Envelope::encode(Route::Ephemeral, &"x").expect("encode"))
            .expect("decode");
        assert_eq!(decoded.route, Route::Ephemeral);
        assert_eq!(&decoded.frame[..], b"\"x\"");
    }

    #[test]
    fn foreign_payloads_are_refused() {
        assert_eq!(
            Envelope::decode(Bytes::from_static(b"{}")),
            Err(EnvelopeError::Short(2))
        );
        let mut json = vec![b'{'; HEADER_LEN];
        json.push(b'}');
        assert_eq!(
            Envelope::decode(Bytes::from(json)),
            Err(EnvelopeError::Version(b'{'))
        );
        let mut unknown = vec![0u8; HEADER_LEN];
        unknown[0] = VERSION;
        unknown[1] = 9;
        assert_eq!(
            Envelope::decode(Bytes::from(unknown)),
            Err(EnvelopeError::Kind(9))
        );
    }
}
