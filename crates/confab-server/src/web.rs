//! The web UI (`web/`): its files are embedded in the binary and served at `/` (see `asset` for
//! the caching and compression), so running it needs nothing built or installed.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::asset::{Asset, CSS, HTML, JS};

/// The routes of the page and its assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/", get(index));
    for asset in &WEB_ASSETS {
        router = router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { asset.serve(&headers, Vec::new()).await }),
        );
    }
    router
}

/// The web UI's modules and style sheet (`web/`), embedded in the binary.
pub static WEB_ASSETS: [Asset; 12] = [
    Asset::new("/app.js", JS, include_bytes!("../../../web/app.js")),
    Asset::new("/api.js", JS, include_bytes!("../../../web/api.js")),
    Asset::new("/chat.js", JS, include_bytes!("../../../web/chat.js")),
    Asset::new("/channel.js", JS, include_bytes!("../../../web/channel.js")),
    Asset::new("/codes.js", JS, include_bytes!("../../../web/codes.js")),
    Asset::new(
        "/connection.js",
        JS,
        include_bytes!("../../../web/connection.js"),
    ),
    Asset::new("/outbox.js", JS, include_bytes!("../../../web/outbox.js")),
    Asset::new("/state.js", JS, include_bytes!("../../../web/state.js")),
    Asset::new(
        "/transport.js",
        JS,
        include_bytes!("../../../web/transport.js"),
    ),
    Asset::new("/typing.js", JS, include_bytes!("../../../web/typing.js")),
    Asset::new("/view.js", JS, include_bytes!("../../../web/view.js")),
    Asset::new("/style.css", CSS, include_bytes!("../../../web/style.css")),
];

/// The page itself (`web/index.html`).
pub static INDEX: Asset = Asset::new("/", HTML, include_bytes!("../../../web/index.html"));

/// The web UI's page, with a Content-Security-Policy that allows only this origin (and its
/// WebSocket, named from the `Host` header when that is a plain host name).
async fn index(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let ws = host.map_or(String::new(), |h| format!(" ws://{h} wss://{h}"));
    let csp = format!(
        "default-src 'self'; connect-src 'self'{ws}; img-src 'self' data:; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let extra = HeaderValue::from_str(&csp)
        .map(|v| vec![(header::CONTENT_SECURITY_POLICY, v)])
        .unwrap_or_default();
    INDEX.serve(&headers, extra).await
}
