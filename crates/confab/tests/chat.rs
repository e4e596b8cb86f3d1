//! `confab chat` in a pseudo-terminal: the real binary registers through its form, opens the
//! direct chat another user started, sends a message that the other user gets, and quits with
//! Ctrl+Q, leaving the terminal restored and the token saved with mode 0600.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_client::http::HistoryQuery;
use confab_client::proto::EventBody;
use confab_client::Http;
use confab_testkit::push::PATIENCE;
use portable_pty::{native_pty_system, CommandBuilder, PtySize};

mod common;

use common::{node, PASSWORD};

/// The pseudo-terminal's screen as the user sees it.
struct Screen(Arc<Mutex<vt100::Parser>>);

impl Screen {
    fn text(&self) -> String {
        self.0.lock().expect("parser lock").screen().contents()
    }

    async fn until(&self, what: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {what:?}; the screen:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_a_pseudo_terminal() {
    let data = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = node(&[
        "--store".into(),
        format!("sqlite:{}", data.path().join("confab.db").display()),
    ])
    .await;
    let base = format!("http://{addr}");
    let config = tempfile::tempdir().expect("tempdir");

    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 30,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_confab"));
    cmd.args(["chat", "--server", &base]);
    cmd.env("XDG_CONFIG_HOME", config.path());
    cmd.env("TERM", "xterm-256color");
    let mut child = pty.slave.spawn_command(cmd).expect("spawn confab chat");
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().expect("reader");
    let mut keys = pty.master.take_writer().expect("writer");
    let size = |n| std::num::NonZeroU16::new(n).expect("non-zero");
    let parser = Arc::new(Mutex::new(vt100::Parser::new(size(30), size(100), 0)));
    let screen = Screen(parser.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            parser.lock().expect("parser lock").process(&buf[..n]);
        }
    });
    let mut press = |bytes: &str| {
        keys.write_all(bytes.as_bytes()).expect("type");
        keys.flush().expect("flush");
    };

    // Register: Ctrl+R switches the form, Tab moves to the password, Enter submits.
    screen.until("Log in").await;
    press("\u{12}");
    screen.until("Register").await;
    press("dora\t");
    press(PASSWORD);
    press("\r");
    screen.until("dora @").await;

    // Alice starts a direct chat; Dora opens it with Tab and answers.
    let alice = Http::new(&base)
        .register("alice", PASSWORD)
        .await
        .expect("register alice");
    let alice = Http::new(&base).with_token(&alice.token);
    let dm = alice.create_direct("dora").await.expect("dm");
    screen.until("alice").await;
    press("\t");
    screen.until("alice · ").await;
    press("hello from a real terminal\r");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let page = alice
            .history(dm.id, HistoryQuery::default())
            .await
            .expect("history");
        let got = page.events.iter().any(|e| {
            matches!(&e.body, EventBody::Message { body, .. } if body == "hello from a real terminal")
        });
        if got {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alice never got the message; the screen:\n{}",
            screen.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screen.until("dora: hello from a real terminal").await;

    // Ctrl+Q quits cleanly and leaves the terminal as it was.
    press("\u{11}");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "confab chat did not quit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let parser = screen.0.lock().expect("parser lock");
    assert!(
        !parser.screen().alternate_screen(),
        "the alternate screen was left"
    );
    drop(parser);

    let token = config
        .path()
        .join("confab")
        .join(format!("token-127.0.0.1_{}", addr.port()));
    let meta = std::fs::metadata(&token).expect("the token file exists");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let _ = meta;
}
