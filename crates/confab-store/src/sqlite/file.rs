//! The SQLite store as a file: an online backup, what a backup file holds, and restoring one
//! (`confab admin backup` and `restore`).
//!
//! A backup is `VACUUM INTO`: it reads one snapshot of the database in a read transaction, so
//! servers go on writing (WAL mode) and the copy is consistent, compact, and one file (no WAL to
//! carry along). A restore must not swap a file from under a running server: it first takes the
//! database's exclusive lock, which SQLite refuses while any other process has it open.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::{Result, StoreError};

/// The tables every version of the schema has.
const TABLES: &[&str] = &["users", "tokens", "channels", "members", "events", "sends"];

/// What a Confab database file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// Its schema version (`PRAGMA user_version`: the migrations applied).
    pub schema_version: i64,
    pub users: u64,
    pub channels: u64,
    pub events: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what} {}: {e}", path.display()))
}

/// Opens an existing database (never creates one): the server's store, or a backup.
fn open_existing(path: &Path, flags: OpenFlags) -> Result<Connection> {
    if !path.is_file() {
        return Err(StoreError::NotFound(format!(
            "SQLite database {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    Ok(conn)
}

/// Writes a consistent copy of the database at `db` to `dest`, which must not exist, while
/// servers go on using `db`. Written to a temporary file beside `dest` and renamed into place, so
/// `dest` is whole or absent.
pub fn backup(db: &Path, dest: &Path) -> Result<FileInfo> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists; choose a new file name",
            dest.display()
        )));
    }
    let conn = open_existing(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    // A writer holds its lock only for a commit; `VACUUM INTO` waits for it like a reader.
    conn.busy_timeout(Duration::from_secs(30))?;
    let partial = partial_path(dest);
    let _ = std::fs::remove_file(&partial);
    let target = partial
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not UTF-8", dest.display())))?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    drop(conn);
    let info = inspect(&partial)?;
    std::fs::rename(&partial, dest).map_err(|e| io(dest, "renaming the backup to", e))?;
    Ok(info)
}

/// `dest` with `.partial` added to its name.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Checks that `path` is a sound Confab database that this version can open (its schema is not
/// newer), and says what it holds. [`StoreError::Invalid`] otherwise, saying why.
pub fn inspect(path: &Path) -> Result<FileInfo> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let shown = path.display();
    let not_sqlite = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            StoreError::Invalid(format!("{shown} is not a SQLite database"))
        }
        _ => StoreError::from(e),
    };
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(not_sqlite)?;
    if check != "ok" {
        return Err(StoreError::Invalid(format!(
            "{shown} is damaged (SQLite's quick_check: {check})"
        )));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut tables = 0;
    for table in TABLES {
        let found: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        tables += found;
    }
    if version < 1 || tables < TABLES.len() as i64 {
        return Err(StoreError::Invalid(format!(
            "{shown} is a SQLite database but not a Confab store"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::Invalid(format!(
            "{shown} has schema version {version}, newer than this confab's {SCHEMA_VERSION}: \
             restore it with the newer confab that wrote it"
        )));
    }
    let count = |table: &str| -> Result<u64> {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    };
    Ok(FileInfo {
        schema_version: version,
        users: count("users")?,
        channels: count("channels")?,
        events: count("events")?,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    })
}

/// The database at `path`, held exclusively: no other process can open it while this lives.
#[derive(Debug)]
pub struct Exclusive {
    conn: Connection,
}

impl Exclusive {
    /// Takes the database's exclusive lock, with its WAL checkpointed into the main file. Fails
    /// with [`StoreError::Conflict`] while another process (a server) has the database open.
    pub fn take(path: &Path) -> Result<Exclusive> {
        let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let busy = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Conflict(format!(
                    "{} is in use (a confab server has it open): stop the server first",
                    path.display()
                ))
            }
            _ => StoreError::from(e),
        };
        // Exclusive locking mode before the first read: in WAL mode SQLite then takes the file's
        // exclusive lock instead of sharing the WAL index, which fails while anyone has it open.
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_master; COMMIT;",
        )
        .map_err(busy)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(busy)?;
        Ok(Exclusive { conn })
    }

    /// Lets the database go.
    pub fn release(self) {
        drop(self.conn);
    }
}

/// Where [`restore`] kept the database it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub info: FileInfo,
    /// The database that was at the target before, renamed aside; `None` when there was none.
    pub replaced: Option<PathBuf>,
}

/// Restores the backup `from` as the database at `db`. Refuses a file that is not a sound Confab
/// database or has a newer schema ([`inspect`]), and a `db` that a server has open. An existing
/// `db` is replaced only with `replace`, and kept beside it as `<db>.replaced-<unix time>`.
pub fn restore(from: &Path, db: &Path, replace: bool) -> Result<Restored> {
    let info = inspect(from)?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "creating", e))?;
    }
    let existing = db.exists();
    let lock = if existing {
        let lock = Exclusive::take(db)?;
        if !replace {
            return Err(StoreError::Conflict(format!(
                "{} exists: pass --force to replace it (it is kept as {}.replaced-<time>)",
                db.display(),
                db.display()
            )));
        }
        Some(lock)
    } else {
        None
    };
    // Copied beside the target first, so that the target is swapped by a rename, whole.
    let incoming = partial_path(db);
    std::fs::copy(from, &incoming).map_err(|e| io(&incoming, "copying the backup to", e))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&incoming, "syncing", e))?;
    let mut replaced = None;
    if existing {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".replaced-{secs}"));
        let aside = db.with_file_name(name);
        std::fs::rename(db, &aside).map_err(|e| io(db, "moving aside", e))?;
        replaced = Some(aside);
    }
    // Closed before the new file takes the name: closing may remove the WAL by that name.
    if let Some(lock) = lock {
        lock.release();
    }
    // The WAL and its index belonged to the old file (checkpointed into it above).
    for suffix in ["-wal", "-shm"] {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(db.with_file_name(name));
    }
    std::fs::rename(&incoming, db).map_err(|e| io(db, "renaming the restored file to", e))?;
    Ok(Restored { info, replaced })
}
