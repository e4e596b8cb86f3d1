//! Test support for Confab's own tests (never a dependency of a shipped crate).
//!
//! # Layout
//!
//! - [`server`]: the port-0 test server ([`server::TestServer`]): a real Confab server started
//!   in-process on 127.0.0.1 with a throwaway database, its URLs, users and SDK clients; stop and
//!   restart.
//! - [`push`]: waiting for an SDK client's next event, push or presence report, with a timeout.
//! - [`Proxy`]: a TCP proxy on 127.0.0.1 standing between clients and a server, the way a load
//!   balancer or a flaky network does: it can cut every connection at once, refuse new ones, drop
//!   what the server sends (a lost ack), and send new connections to another server (a failover).
//! - [`services`]: throwaway `nats-server` and PostgreSQL instances on free ports, for tests that
//!   stop or restart them.

pub mod push;
pub mod server;
pub mod services;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A controllable TCP proxy. Dropping it stops accepting and cuts every connection.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: AbortHandle,
}

#[derive(Debug)]
struct Inner {
    upstream: Mutex<SocketAddr>,
    connections: Mutex<Vec<AbortHandle>>,
    refusing: AtomicBool,
    drop_downstream: AtomicBool,
    accepted: AtomicU64,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            upstream: Mutex::new(upstream),
            connections: Mutex::new(Vec::new()),
            refusing: AtomicBool::new(false),
            drop_downstream: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone())).abort_handle();
        Ok(Proxy {
            addr,
            inner,
            accept,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://<addr>/ws`, for Confab clients.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://<addr>`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every open connection (both sides see the socket close). Returns how many.
    pub fn cut_all(&self) -> usize {
        let mut conns = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = conns.iter().filter(|c| !c.is_finished()).count();
        for c in conns.drain(..) {
            c.abort();
        }
        n
    }

    /// While `true`, new connections are closed as soon as they are accepted.
    pub fn refuse(&self, refusing: bool) {
        self.inner.refusing.store(refusing, Ordering::SeqCst);
    }

    /// While `true`, bytes from the server to clients are discarded (sent into the void).
    pub fn drop_downstream(&self, dropping: bool) {
        self.inner.drop_downstream.store(dropping, Ordering::SeqCst);
    }

    /// Sends new connections to `upstream` (existing ones stay where they are).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .inner
            .upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = upstream;
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        inner.accepted.fetch_add(1, Ordering::SeqCst);
        if inner.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let upstream = *inner.upstream.lock().unwrap_or_else(|e| e.into_inner());
        let task = tokio::spawn(pipe(client, upstream, inner.clone()));
        let mut conns = inner.connections.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|c| !c.is_finished());
        conns.push(task.abort_handle());
    }
}

async fn pipe(client: TcpStream, upstream: SocketAddr, inner: Arc<Inner>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if inner.drop_downstream.load(Ordering::SeqCst) {
                        continue;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    // Either direction ending ends both: the sockets drop together, as on a real cut.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
