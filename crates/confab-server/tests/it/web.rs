//! The web UI's files: each served with its content type, the page's Content-Security-Policy, and
//! no reference (from the page or between modules) to a file the server does not serve.

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

    let served: BTreeSet<&str> = WEB_ASSETS.iter().map(|(path, _, _)| *path).collect();
    let mut referenced = BTreeSet::new();
    for path in local_refs(&html, "src")
        .into_iter()
        .chain(local_refs(&html, "href"))
    {
        referenced.insert(path);
    }
    assert!(referenced.contains("/app.js") && referenced.contains("/style.css"));

    for &(path, content_type, body) in WEB_ASSETS {
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
