//! The default configuration the Debian package installs as /etc/confab/confab.toml
//! (`deploy/debian/confab.toml`): it parses (the server refuses unknown keys), every example in its
//! comments parses too once uncommented, and the real binary serves with it. `.ci/package.sh`
//! checks the installed package itself.

mod common;

use std::path::{Path, PathBuf};

use common::{http_status, node};
use confab_server::{Config, RawConfig};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/debian/confab.toml")
}

#[test]
fn the_shipped_config_parses_and_resolves() {
    let raw = RawConfig::from_file(&shipped()).expect("deploy/debian/confab.toml parses");
    assert_eq!(raw.listen.as_deref(), Some("127.0.0.1:8080"));
    Config::resolve(raw).expect("and is valid");
}

#[test]
fn every_commented_example_in_it_parses_too() {
    let text = std::fs::read_to_string(shipped()).expect("read");
    let mut uncommented = 0;
    let examples: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                uncommented += 1;
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(uncommented >= 10, "found {uncommented} examples");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.toml");
    std::fs::write(&path, examples).expect("write");
    let raw = RawConfig::from_file(&path).expect("the uncommented examples parse");
    let config = Config::resolve(raw).expect("and are valid");
    assert!(matches!(
        config.store,
        confab_server::config::StoreConfig::Postgres { .. }
    ));
}

#[tokio::test]
async fn the_binary_serves_with_the_shipped_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = node(&[
        "--config".into(),
        shipped().display().to_string(),
        "--data-dir".into(),
        dir.path().display().to_string(),
    ])
    .await;
    assert_eq!(http_status(addr, "/readyz").await, Some(200));
    assert!(
        dir.path().join("confab.db").exists(),
        "the store is in --data-dir"
    );
    child.kill().await.expect("kill");
}
