//! The web UI's files: each served with its content type, the page's Content-Security-Policy, and
//! no reference (from the page or between modules) to a file the server does not serve; strong
//! ETags, `304` on revalidation, gzip and brotli by `Accept-Encoding`.

use std::collections::BTreeSet;
use std::path::Path;

use confab_server::web::WEB_ASSETS;
use confab_testkit::server::TestServer;

/// The values of `attr="…"` in `html` that are paths on this server (start with `/`).
fn local_refs(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .filter(|v| v.starts_with('/'))
        .collect()
}

/// The relative module paths a JavaScript file imports (`from './x.js'`), as server paths.
fn imports(js: &str) -> Vec<String> {
    js.match_indices("from './")
        .filter_map(|(at, _)| {
            let rest = &js[at + "from './".len()..];
            rest.find('\'').map(|end| format!("/{}", &rest[..end]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_web_asset_is_served_with_its_type_and_the_page_references_only_those() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.base)).send();

    let page = get("/").await.expect("GET /");
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let host = server.addr().to_string();
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{host} wss://{host}")),
        "{csp}"
    );
    let html = page.text().await.expect("page body");

    let served: BTreeSet<&str> = WEB_ASSETS.iter().map(|a| a.path).collect();
    let mut referenced = BTreeSet::new();
    for path in local_refs(&html, "src")
        .into_iter()
        .chain(local_refs(&html, "href"))
    {
        referenced.insert(path);
    }
    assert!(referenced.contains("/app.js") && referenced.contains("/style.css"));

    for asset in &WEB_ASSETS {
        let (path, content_type) = (asset.path, asset.content_type);
        let body = std::str::from_utf8(asset.body).expect("UTF-8");
        let r = get(path).await.expect("GET asset");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.text().await.expect("asset body"), body, "{path}");
        if path.ends_with(".js") {
            referenced.extend(imports(body));
        }
    }
    for path in &referenced {
        assert!(
            served.contains(path.as_str()),
            "{path} is referenced but not served"
        );
    }

    // Every module and style sheet in web/ is embedded (a file added there but not to
    // WEB_ASSETS would be missing from the binary).
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    for entry in std::fs::read_dir(&web).expect("web/ exists") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".js") || name.ends_with(".css") {
            assert!(
                served.contains(format!("/{name}").as_str()),
                "web/{name} is not served"
            );
        }
    }

    let missing = get("/no-such-file.js").await.expect("GET missing");
    assert_eq!(missing.status(), 404);
}

/// The body of `r`, decoded by its `Content-Encoding`.
async fn decoded(r: reqwest::Response) -> (Option<String>, Vec<u8>) {
    use std::io::Read;
    let coding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = r.bytes().await.expect("body").to_vec();
    let mut out = Vec::new();
    match coding.as_deref() {
        None => out = bytes,
        Some("gzip") => {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .expect("gunzip");
        }
        Some("br") => {
            brotli::BrotliDecompress(&mut &bytes[..], &mut out).expect("unbrotli");
        }
        Some(other) => panic!("unexpected coding {other}"),
    }
    (coding, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_compressed_by_accept_encoding_and_revalidated_by_etag() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/state.js", server.base);
    let file = WEB_ASSETS
        .iter()
        .find(|a| a.path == "/state.js")
        .expect("state.js")
        .body;
    let mut etags = Vec::new();
    for (accept, coding) in [
        (None, None),
        (Some("identity"), None),
        (Some("gzip, deflate"), Some("gzip")),
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("br;q=0, gzip;q=0.8"), Some("gzip")),
    ] {
        let mut request = client.get(&url);
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        let r = request.send().await.expect("GET");
        assert_eq!(r.status(), 200, "{accept:?}");
        let h = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().expect("ascii").to_owned())
        };
        assert_eq!(h("cache-control").as_deref(), Some("no-cache"));
        assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(h("vary").as_deref(), Some("accept-encoding"));
        assert_eq!(
            h("content-type").as_deref(),
            Some("text/javascript; charset=utf-8")
        );
        let etag = h("etag").expect("an ETag");
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong: {etag}"
        );
        let (got, body) = decoded(r).await;
        assert_eq!(got.as_deref(), coding, "{accept:?}");
        assert_eq!(body, file, "{accept:?} decodes to the file");
        etags.push((accept, etag));
    }
    // One tag per representation: identity, gzip and brotli differ; the same one repeats.
    assert_eq!(etags[0].1, etags[1].1);
    assert_eq!(etags[2].1, etags[4].1);
    assert_ne!(etags[0].1, etags[2].1);
    assert_ne!(etags[2].1, etags[3].1);

    // Revalidation: the representation's own tag gives 304 with no body; another's gives 200.
    for (accept, etag) in &etags {
        let mut request = client.get(&url).header("if-none-match", etag.as_str());
        if let Some(accept) = accept {
            request = request.header("accept-encoding", *accept);
        }
        let r = request.send().await.expect("GET");
        assert_eq!(r.status(), 304, "{accept:?} {etag}");
        assert_eq!(r.headers()["etag"], etag.as_str());
        assert_eq!(r.headers()["cache-control"], "no-cache");
        assert!(r.bytes().await.expect("body").is_empty());
    }
    let r = client
        .get(&url)
        .header("accept-encoding", "br")
        .header("if-none-match", format!("{}, W/\"other\"", etags[0].1))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200, "the identity tag does not validate brotli");

    // The page too: compressed, revalidated, and its CSP kept.
    let page = client
        .get(format!("{}/", server.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    let etag = page.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .contains("default-src 'self'"));
    let (coding, html) = decoded(page).await;
    assert_eq!(coding.as_deref(), Some("gzip"));
    assert!(String::from_utf8(html)
        .expect("utf-8")
        .contains("<title>Confab</title>"));
    let again = client
        .get(format!("{}/", server.base))
        .header("accept-encoding", "gzip")
        .header("if-none-match", etag)
        .send()
        .await
        .expect("GET /");
    assert_eq!(again.status(), 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_and_everything_it_loads_are_served_from_the_binary() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{}/api/docs", server.base))
        .send()
        .await
        .expect("GET /api/docs");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    let html = page.text().await.expect("page");
    let refs: Vec<String> = local_refs(&html, "src")
        .into_iter()
        .chain(local_refs(&html, "href"))
        .collect();
    assert_eq!(refs.len(), 3, "{refs:?}");
    for path in refs {
        let r = client
            .get(format!("{}{path}", server.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-encoding"], "gzip", "{path}");
        assert!(r.headers().contains_key("etag"), "{path}");
    }
}
