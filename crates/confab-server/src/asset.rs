//! Files embedded in the binary (the web UI, the API reference viewer), served so that browsers
//! revalidate cheaply and download little.
//!
//! - **Strong `ETag`s**, one per representation: a hash of the file, with `.gz` or `.br` for the
//!   compressed ones (a strong validator names the bytes sent, content coding included). A
//!   request whose `If-None-Match` names the representation it would get is answered `304`.
//! - **`Cache-Control: no-cache`**: the browser keeps the file but asks every time, so a new
//!   binary's UI takes effect on the next load, at the cost of a `304`.
//! - **gzip and brotli**, chosen by `Accept-Encoding` (brotli first, then gzip, then the file as
//!   is). Each file is compressed once per process, on the first request that asks for that
//!   coding, on a blocking thread: servers that never serve a file never pay for it, and the
//!   request path afterwards only copies a reference.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Content types of the embedded files.
pub const JS: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";
pub const HTML: &str = "text/html; charset=utf-8";

/// Brotli's quality: 9, not the densest 11, which takes ten times as long (measured on the 1.7 MB
/// API reference bundle: about 20 s against 2 s on a busy machine, for a file 9 % smaller). The
/// first request that asks for brotli waits for it.
const BROTLI_QUALITY: u32 = 9;
const BROTLI_WINDOW: u32 = 22;

/// A file embedded in the binary, and its compressed forms once made.
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The file as embedded.
    pub body: &'static [u8],
    /// A hash of the body: the opaque part of every `ETag` of this file.
    tag: OnceLock<String>,
    gzip: OnceLock<Vec<u8>>,
    brotli: OnceLock<Vec<u8>>,
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asset").field("path", &self.path).finish()
    }
}

/// A content coding this module can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    fn header(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Brotli => Some("br"),
        }
    }

    fn tag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => ".gz",
            Coding::Brotli => ".br",
        }
    }

    /// The best coding `accept` (an `Accept-Encoding` value) allows: brotli, then gzip, else the
    /// file as is. A coding is allowed when named (or matched by `*`) with a non-zero `q`.
    pub fn negotiate(accept: Option<&str>) -> Coding {
        let Some(accept) = accept else {
            return Coding::Identity;
        };
        let named = |want: &str| -> Option<bool> {
            let mut star = None;
            for item in accept.split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or("").trim();
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                if name.eq_ignore_ascii_case(want) {
                    return Some(q > 0.0);
                }
                if name == "*" {
                    star = Some(q > 0.0);
                }
            }
            star
        };
        if named("br") == Some(true) {
            Coding::Brotli
        } else if named("gzip") == Some(true) {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }
}

impl Asset {
    pub const fn new(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        Asset {
            path,
            content_type,
            body,
            tag: OnceLock::new(),
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    /// The strong `ETag` of the representation in `coding`.
    pub fn etag(&self, coding: Coding) -> String {
        let tag = self.tag.get_or_init(|| {
            let digest = Sha256::digest(self.body);
            digest[..16].iter().map(|b| format!("{b:02x}")).collect()
        });
        format!("\"{tag}{}\"", coding.tag_suffix())
    }

    /// The bytes sent in `coding`, compressed now if this is the first time (a blocking call).
    pub fn encoded(&self, coding: Coding) -> &[u8] {
        match coding {
            Coding::Identity => self.body,
            Coding::Gzip => self.gzip.get_or_init(|| gzip(self.body)),
            Coding::Brotli => self.brotli.get_or_init(|| brotli(self.body)),
        }
    }

    fn is_ready(&self, coding: Coding) -> bool {
        match coding {
            Coding::Identity => true,
            Coding::Gzip => self.gzip.get().is_some(),
            Coding::Brotli => self.brotli.get().is_some(),
        }
    }

    /// Answers a `GET` of this file: `304` when `If-None-Match` names the representation the
    /// request would get, else the file in the best coding the client accepts, with `extra`
    /// headers (a page's Content-Security-Policy).
    pub async fn serve(
        &'static self,
        request: &HeaderMap,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Response {
        let accept = request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let mut coding = Coding::negotiate(accept);
        if !self.is_ready(coding) {
            // The first request for this coding compresses the file, off the async threads.
            let compressed = tokio::task::spawn_blocking(move || self.encoded(coding).len()).await;
            if compressed.is_err() {
                coding = Coding::Identity;
            }
        }
        // A coding that does not make the file smaller is not worth a decoding step.
        if self.encoded(coding).len() >= self.body.len() {
            coding = Coding::Identity;
        }
        let etag = self.etag(coding);
        let mut headers = vec![
            (header::ETAG, etag.clone()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::VARY, "accept-encoding".to_owned()),
        ];
        let if_none_match = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        if if_none_match.is_some_and(|list| matches_etag(list, &etag)) {
            return (StatusCode::NOT_MODIFIED, headers_map(headers, Vec::new())).into_response();
        }
        headers.push((header::CONTENT_TYPE, self.content_type.to_owned()));
        headers.push((header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()));
        if let Some(name) = coding.header() {
            headers.push((header::CONTENT_ENCODING, name.to_owned()));
        }
        let body = Body::from(self.encoded(coding));
        (headers_map(headers, extra), body).into_response()
    }
}

fn headers_map(
    headers: Vec<(HeaderName, String)>,
    extra: Vec<(HeaderName, HeaderValue)>,
) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    }
    map.extend(extra.into_iter().map(|(n, v)| (Some(n), v)));
    map
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, as RFC 9110 asks for this
/// header: a `W/` prefix is ignored), or is `*`.
pub fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag)
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY as i32,
        lgwin: BROTLI_WINDOW as i32,
        ..Default::default()
    };
    let mut input = body;
    // Reading from a slice and writing to a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_accepted_coding_wins_and_q_zero_refuses() {
        assert_eq!(Coding::negotiate(None), Coding::Identity);
        assert_eq!(Coding::negotiate(Some("")), Coding::Identity);
        assert_eq!(
            Coding::negotiate(Some("gzip, deflate, br, zstd")),
            Coding::Brotli
        );
        assert_eq!(Coding::negotiate(Some("gzip")), Coding::Gzip);
        assert_eq!(Coding::negotiate(Some("br;q=0, gzip;q=0.5")), Coding::Gzip);
        assert_eq!(Coding::negotiate(Some("GZIP")), Coding::Gzip);
        assert_eq!(Coding::negotiate(Some("*")), Coding::Brotli);
        assert_eq!(Coding::negotiate(Some("*;q=0, gzip")), Coding::Gzip);
        assert_eq!(Coding::negotiate(Some("identity")), Coding::Identity);
        assert_eq!(Coding::negotiate(Some("deflate")), Coding::Identity);
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let tag = "\"abc.gz\"";
        assert!(matches_etag("\"abc.gz\"", tag));
        assert!(matches_etag("W/\"abc.gz\"", tag));
        assert!(matches_etag("\"x\", \"abc.gz\"", tag));
        assert!(matches_etag("*", tag));
        assert!(!matches_etag("\"abc\"", tag));
        assert!(!matches_etag("\"abc.br\"", tag));
    }

    #[test]
    fn each_representation_has_its_own_strong_tag_and_decodes_to_the_file() {
        static A: Asset = Asset::new(
            "/a.js",
            "text/javascript",
            b"let x = 1; // 1 2 3 1 2 3 1 2 3 1 2 3 1 2 3 1 2 3",
        );
        let tags = [Coding::Identity, Coding::Gzip, Coding::Brotli].map(|c| A.etag(c));
        assert!(tags[0].starts_with('"') && tags[0].ends_with('"') && tags[0].len() == 34);
        assert_ne!(tags[0], tags[1]);
        assert_ne!(tags[1], tags[2]);

        let mut gz = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(A.encoded(Coding::Gzip)),
            &mut gz,
        )
        .expect("gunzip");
        assert_eq!(gz, A.body);
        let mut br = Vec::new();
        brotli::BrotliDecompress(&mut A.encoded(Coding::Brotli), &mut br).expect("unbrotli");
        assert_eq!(br, A.body);
    }
}
