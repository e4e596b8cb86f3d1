//! The web UI (`web/`): its files are embedded in the binary and served at `/`, so running it
//! needs nothing built or installed.

use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// The routes of the page and its assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/", get(index));
    for &(path, content_type, body) in WEB_ASSETS {
        router = router.route(
            path,
            get(move || async move { web_asset(content_type, body) }),
        );
    }
    router
}

/// The web UI's files (`web/`), embedded in the binary: path, content type, body.
pub const WEB_ASSETS: &[(&str, &str, &str)] = &[
    ("/app.js", JS, include_str!("../../../web/app.js")),
    ("/api.js", JS, include_str!("../../../web/api.js")),
    ("/chat.js", JS, include_str!("../../../web/chat.js")),
    ("/channel.js", JS, include_str!("../../../web/channel.js")),
    ("/codes.js", JS, include_str!("../../../web/codes.js")),
    (
        "/connection.js",
        JS,
        include_str!("../../../web/connection.js"),
    ),
    ("/outbox.js", JS, include_str!("../../../web/outbox.js")),
    ("/state.js", JS, include_str!("../../../web/state.js")),
    (
        "/transport.js",
        JS,
        include_str!("../../../web/transport.js"),
    ),
    ("/typing.js", JS, include_str!("../../../web/typing.js")),
    ("/view.js", JS, include_str!("../../../web/view.js")),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/style.css"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

/// `no-cache`: the browser revalidates, so a new binary's UI takes effect on the next load.
fn web_asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// The web UI's page, with a Content-Security-Policy that allows only this origin (and its
/// WebSocket, named from the `Host` header when that is a plain host name).
async fn index(headers: HeaderMap) -> impl IntoResponse {
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
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        include_str!("../../../web/index.html"),
    )
}
