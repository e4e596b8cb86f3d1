//! Throwaway NATS and PostgreSQL servers on free loopback ports, for tests that stop, restart or
//! cut them off (never the machine's shared ones).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The shared PostgreSQL and NATS URLs the tests may use (`CONFAB_TEST_DATABASE_URL`,
/// `CONFAB_TEST_NATS_URL`), or `None` after saying clearly that `test` is skipped.
pub fn shared_urls(test: &str) -> Option<(String, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("CONFAB_TEST_DATABASE_URL"), var("CONFAB_TEST_NATS_URL")) {
        (Some(db), Some(nats)) => Some((db, nats)),
        _ => {
            eprintln!("SKIPPED: {test} needs CONFAB_TEST_DATABASE_URL and CONFAB_TEST_NATS_URL");
            None
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Where a program is: on `PATH`, or in one of `extra` directories.
fn find(program: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A `nats-server` of the test's own.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    binary: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts one on a free port; `None` when `nats-server` is not installed.
    pub async fn start() -> Option<NatsServer> {
        let binary = find(
            "nats-server",
            &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")],
        )?;
        let port = free_port().ok()?;
        let mut server = NatsServer {
            port,
            binary,
            child: None,
        };
        server.resume().await.then_some(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL): clients see the connection drop.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port; `true` once it accepts connections.
    pub async fn resume(&mut self) -> bool {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        match child {
            Ok(child) => self.child = Some(child),
            Err(_) => return false,
        }
        wait_for_port(self.port, Duration::from_secs(10)).await
    }
}

/// A PostgreSQL cluster of the test's own (`initdb` + `pg_ctl` in a temporary folder). When the
/// test runs as root, the server runs as the `postgres` user, as PostgreSQL requires.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

impl PostgresServer {
    /// Initializes and starts one on a free port; `None` when PostgreSQL's binaries are missing.
    pub async fn start() -> Option<PostgresServer> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").is_file())?;
        let dir = tempfile::Builder::new()
            .prefix("confab-pg-")
            .tempdir()
            .ok()?;
        let as_postgres = is_root();
        if as_postgres {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .await;
        }
        let port = free_port().ok()?;
        let server = PostgresServer {
            port,
            bin,
            dir,
            as_postgres,
        };
        let data = server.data_dir();
        let ok = server
            .run("initdb", &["-A", "trust", "-U", "postgres", "-D", &data])
            .await;
        if !ok || !server.resume().await {
            return None;
        }
        Some(server)
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    async fn run(&self, program: &str, args: &[&str]) -> bool {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        matches!(cmd.status().await, Ok(status) if status.success())
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it immediately (`pg_ctl stop -m immediate`): connections drop mid-flight.
    pub async fn stop(&self) -> bool {
        let data = self.data_dir();
        self.run("pg_ctl", &["stop", "-m", "immediate", "-w", "-D", &data])
            .await
    }

    /// Starts it again on the same port; `true` once it accepts connections.
    pub async fn resume(&self) -> bool {
        let data = self.data_dir();
        let log = self.dir.path().join("log").display().to_string();
        let opts = format!(
            "-p {} -k {} -h 127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &["start", "-w", "-D", &data, "-l", &log, "-o", &opts],
        )
        .await
            && wait_for_port(self.port, Duration::from_secs(20)).await
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        let program = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        let _ = cmd
            .args(["stop", "-m", "immediate", "-D", &data])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
