//! Where the session token is remembered between runs: one file per server,
//! `$XDG_CONFIG_HOME/confab/token-<host>` (or `~/.config/confab/token-<host>`), readable by its owner
//! only (mode 0600, in a 0700 directory).

use std::io;
use std::path::{Path, PathBuf};

/// The token file of one server.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// The token file for `server` (a base URL) under the user's config directory.
    pub fn for_server(server: &str) -> io::Result<TokenStore> {
        let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".config"),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "neither XDG_CONFIG_HOME nor HOME is set",
                    ))
                }
            },
        };
        Ok(TokenStore::in_dir(&base.join("confab"), server))
    }

    /// The token file for `server` in `dir`.
    pub fn in_dir(dir: &Path, server: &str) -> TokenStore {
        TokenStore {
            path: dir.join(format!("token-{}", file_key(server))),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remembered token, if there is one.
    pub fn load(&self) -> io::Result<Option<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let token = text.trim();
                Ok((!token.is_empty()).then(|| token.to_owned()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Remembers `token`, replacing the file atomically; only its owner may read it.
    pub fn save(&self, token: &str) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let tmp = self.path.with_extension("tmp");
        write_private(&tmp, token)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Forgets the token (nothing happens when there is none).
    pub fn forget(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// `http://127.0.0.1:8080/` → `127.0.0.1_8080`: the server's host and port, safe in a file name.
fn file_key(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or(rest);
    let key: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() {
        "default".into()
    } else {
        key
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, token: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, token: &str) -> io::Result<()> {
    std::fs::write(path, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_host_and_port() {
        assert_eq!(file_key("http://127.0.0.1:8080"), "127.0.0.1_8080");
        assert_eq!(file_key("https://chat.example.org/"), "chat.example.org");
        assert_eq!(file_key("[::1]:9000"), "___1__9000");
    }

    #[test]
    fn saves_loads_and_forgets_privately() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = TokenStore::in_dir(&dir.path().join("confab"), "http://localhost:1");
        assert_eq!(store.load()?, None);
        store.save("secret")?;
        assert_eq!(store.load()?.as_deref(), Some("secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.save("newer")?;
        assert_eq!(store.load()?.as_deref(), Some("newer"));
        store.forget()?;
        assert_eq!(store.load()?, None);
        store.forget()?;
        Ok(())
    }
}
