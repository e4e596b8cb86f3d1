//! The API reference at `/api/docs`: Swagger UI, pinned and embedded (`web/apidocs/`, refreshed
//! from npm by `web/apidocs/vendor.sh`), showing the OpenAPI document of [`openapi`](crate::openapi).
//! It works offline: every file comes from this server, and the page's Content-Security-Policy
//! allows nothing else.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::routing::get;
use axum::Router;

use crate::asset::{Asset, CSS, HTML, JS};

/// The page's policy: scripts, styles and the document from this origin only; images inline
/// (Swagger UI's icons are `data:` URIs). Nothing may be framed, posted or loaded from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

/// The page.
pub static PAGE: Asset = Asset::new(
    "/api/docs",
    HTML,
    include_bytes!("../../../web/apidocs/index.html"),
);

/// What the page loads: the viewer and the script that starts it on `/api/v1/openapi.json`.
pub static FILES: [Asset; 3] = [
    Asset::new(
        "/api/docs/swagger-ui-bundle.js",
        JS,
        include_bytes!("../../../web/apidocs/vendor/swagger-ui-bundle.js"),
    ),
    Asset::new(
        "/api/docs/swagger-ui.css",
        CSS,
        include_bytes!("../../../web/apidocs/vendor/swagger-ui.css"),
    ),
    Asset::new(
        "/api/docs/init.js",
        JS,
        include_bytes!("../../../web/apidocs/init.js"),
    ),
];

/// The routes of the page and its files.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route(
        PAGE.path,
        get(|headers: HeaderMap| async move {
            let csp = (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            PAGE.serve(&headers, vec![csp]).await
        }),
    );
    for file in &FILES {
        router = router.route(
            file.path,
            get(move |headers: HeaderMap| async move { file.serve(&headers, Vec::new()).await }),
        );
    }
    router
}
