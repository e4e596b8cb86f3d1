//! `confab admin backup` and `restore`: the SQLite store's file, copied while a server runs.

use std::path::PathBuf;

use anyhow::Context;

use confab_server::admin as server;
use confab_server::config::StoreConfig;
use confab_server::Config;
use confab_store::sqlite::file;
use serde_json::json;

use super::{code, report, Failure, Outcome};

/// The SQLite file of the configured store, or why this command needs one.
pub(super) fn sqlite_path<'a>(
    config: &'a Config,
    command: &str,
    instead: &str,
) -> Result<&'a PathBuf, Failure> {
    match &config.store {
        StoreConfig::Sqlite(path) => Ok(path),
        StoreConfig::Postgres { .. } => Err(Failure::new(
            code::USAGE,
            format!(
                "`confab admin {command}` works on the SQLite store; for PostgreSQL use \
                 {instead} (docs/operations.md, \"Backup and restore\")"
            ),
        )),
    }
}

pub(super) async fn backup(config: &Config, dest: &std::path::Path, json: bool) -> Outcome {
    let db = sqlite_path(
        config,
        "backup",
        "pg_dump, e.g. `pg_dump --format=custom --file=confab.dump postgres://…`",
    )?
    .clone();
    let target = dest.to_path_buf();
    let info = tokio::task::spawn_blocking(move || file::backup(&db, &target))
        .await
        .context("backup task")??;
    report(json, &json!({"file": dest, "info": info}), || {
        format!(
            "wrote {} ({} bytes, schema {}): {} users, {} channels, {} events",
            dest.display(),
            info.bytes,
            info.schema_version,
            info.users,
            info.channels,
            info.events
        )
    })
}

pub(super) async fn restore(
    config: &Config,
    from: &std::path::Path,
    force: bool,
    json: bool,
) -> Outcome {
    let db = sqlite_path(
        config,
        "restore",
        "pg_restore, e.g. `pg_restore --clean --if-exists --dbname=postgres://… confab.dump`",
    )?
    .clone();
    if !from.is_file() {
        return Err(Failure::new(
            code::NOT_FOUND,
            format!("no file {}", from.display()),
        ));
    }
    let (source, target) = (from.to_path_buf(), db.clone());
    let restored = tokio::task::spawn_blocking(move || file::restore(&source, &target, force))
        .await
        .context("restore task")??;
    // Opened once: an older backup is migrated now, and a file SQLite cannot use fails here.
    let store = server::open_store(config).await?;
    store.close().await;
    report(json, &restored, || {
        let mut text = format!(
            "restored {} to {} (schema {}): {} users, {} channels, {} events",
            from.display(),
            db.display(),
            restored.info.schema_version,
            restored.info.users,
            restored.info.channels,
            restored.info.events
        );
        if let Some(aside) = &restored.replaced {
            text.push_str(&format!(
                "\nthe store it replaced is kept as {}",
                aside.display()
            ));
        }
        text
    })
}
