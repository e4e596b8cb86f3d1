//! The terminal client against a real server started in-process: keys go in through `input` and
//! the `App`, the screen is drawn into ratatui's `TestBackend`, and what the user would see is read
//! back from the buffer. The other side of each conversation is a plain SDK user.

use std::time::{Duration, Instant};

use confab_client::proto::EventBody;
use confab_client::{ClientEvent, Events, Http};
use confab_testkit::push::{next_matching, PATIENCE};
use confab_testkit::server::{TestServer, PASSWORD};
use confab_tui::driver::Driver;
use confab_tui::net::NetConfig;
use confab_tui::token::TokenStore;
use confab_tui::view;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

/// The terminal client, drawn into a test backend.
struct Tui {
    driver: Driver,
    terminal: Terminal<TestBackend>,
    tokens: TokenStore,
    _dir: tempfile::TempDir,
}

impl Tui {
    /// A client of `base`, with a token already saved when `token` is given.
    fn start(base: &str, token: Option<&str>) -> Tui {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = TokenStore::in_dir(dir.path(), base);
        if let Some(token) = token {
            tokens.save(token).expect("save token");
        }
        let mut config = NetConfig::new(base, tokens.clone());
        config.backoff_base = Duration::from_millis(200);
        config.backoff_cap = Duration::from_secs(1);
        let terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        let mut tui = Tui {
            driver: Driver::start(config),
            terminal,
            tokens,
            _dir: dir,
        };
        tui.draw();
        tui
    }

    fn draw(&mut self) {
        let app = &self.driver.app;
        self.terminal
            .draw(|frame| view::draw(frame, app))
            .expect("draw");
    }

    /// The screen as text, one line per row.
    fn screen(&self) -> String {
        let buffer = self.terminal.backend().buffer();
        let width = buffer.area.width as usize;
        buffer
            .content
            .chunks(width)
            .map(|row| row.iter().map(|cell| cell.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn press(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        let event = Event::Key(KeyEvent::new(code, modifiers));
        self.driver.terminal_event(&event, Instant::now());
        self.draw();
    }

    fn key(&mut self, code: KeyCode) {
        self.press(code, KeyModifiers::NONE);
    }

    fn ctrl(&mut self, c: char) {
        self.press(KeyCode::Char(c), KeyModifiers::CONTROL);
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// Lets the network's reports in for `time`, drawing after each.
    async fn settle(&mut self, time: Duration) {
        let until = tokio::time::Instant::now() + time;
        while let Ok(Some(report)) = tokio::time::timeout_at(until, self.driver.next_report()).await
        {
            self.driver.report(report, Instant::now());
            self.draw();
        }
        self.driver.app.tick(Instant::now());
        self.draw();
    }

    /// Waits until the screen satisfies `check`, letting the network's reports in; fails with
    /// the screen after [`PATIENCE`].
    async fn until(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.driver.app.tick(Instant::now());
            self.draw();
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {what}; the screen:\n{screen}"
            );
            if let Ok(Some(report)) =
                tokio::time::timeout(Duration::from_millis(100), self.driver.next_report()).await
            {
                self.driver.report(report, Instant::now());
            }
        }
    }

    async fn until_shows(&mut self, text: &str) -> String {
        self.until(&format!("{text:?}"), |s| s.contains(text)).await
    }
}

/// The body of the next message from `author`.
async fn next_message_from(events: &mut Events, author: confab_client::proto::UserId) -> String {
    next_matching(events, |push| match push {
        ClientEvent::Event(e) if e.author.id == author => match e.body {
            EventBody::Message { body, .. } => Some(body),
            _ => None,
        },
        _ => None,
    })
    .await
}

/// How many times a message body is in a channel's stored history.
async fn stored_copies(http: &Http, channel: confab_client::proto::ChannelId, body: &str) -> usize {
    let page = http
        .history(
            channel,
            confab_client::http::HistoryQuery {
                limit: Some(200),
                ..Default::default()
            },
        )
        .await
        .expect("history");
    page.events
        .iter()
        .filter(|e| matches!(&e.body, EventBody::Message { body: b, .. } if b == body))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_chat_read_typing_and_presence() {
    let server = TestServer::start().await;
    let mut tui = Tui::start(&server.base, None);

    // Register through the form: Ctrl+R switches to registering, Tab to the password.
    tui.until_shows("Log in").await;
    tui.ctrl('r');
    tui.until_shows("Register").await;
    tui.type_text("carol");
    tui.key(KeyCode::Tab);
    tui.type_text(PASSWORD);
    let masked = tui.screen();
    assert!(!masked.contains(PASSWORD), "the password is masked");
    tui.key(KeyCode::Enter);
    tui.until("connected as carol", |s| {
        s.contains("connected") && s.contains("carol @")
    })
    .await;
    assert!(
        tui.tokens.load().expect("token file").is_some(),
        "the token is remembered"
    );

    // Alice (SDK) opens a direct chat and writes: it shows in the list with its unread count.
    let (alice, alice_token, _) = server.user("alice").await;
    let (alice_client, mut alice_events) = server.connect(&alice_token).await;
    let dm = alice.create_direct("carol").await.expect("dm");
    alice_client
        .send(dm.id, "hello carol")
        .await
        .expect("alice sends");
    tui.until_shows("alice (1)").await;

    // Opening it shows the message, clears the count, and moves the read pointer on the server.
    tui.key(KeyCode::Tab);
    let screen = tui.until_shows("alice: hello carol").await;
    assert!(!screen.contains("alice (1)"), "unread cleared:\n{screen}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let receipts = alice.receipts(dm.id, None).await.expect("receipts");
        if receipts.read == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "carol's read never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The DM peer's presence, and her typing.
    tui.until_shows("alice · online").await;
    alice_client.typing(dm.id).await.expect("typing");
    tui.until_shows("alice is typing…").await;

    // Writing sends `typing`; Enter sends the message, which reaches alice.
    tui.type_text("hi alice");
    let carol_id = tui.driver.app.me.as_ref().expect("me").id;
    next_matching(&mut alice_events, |push| match push {
        ClientEvent::Typing {
            channel_id,
            user_id,
            ..
        } if channel_id == dm.id && user_id == carol_id => Some(()),
        _ => None,
    })
    .await;
    tui.key(KeyCode::Enter);
    let body = next_message_from(&mut alice_events, carol_id).await;
    assert_eq!(body, "hi alice");
    tui.until("my message confirmed", |s| {
        s.contains("carol: hi alice") && !s.contains("sending…")
    })
    .await;
    // A message from her ends her typing indicator at once.
    alice_client
        .send(dm.id, "done typing")
        .await
        .expect("alice sends");
    let screen = tui.until_shows("alice: done typing").await;
    assert!(!screen.contains("alice is typing"), "{screen}");

    // A pasted line break stays in the message; Enter sends both lines as one message.
    let paste = Event::Paste("line one\nline two".into());
    tui.driver.terminal_event(&paste, Instant::now());
    tui.key(KeyCode::Enter);
    let body = next_message_from(&mut alice_events, carol_id).await;
    assert_eq!(body, "line one\nline two");

    // Alice goes away: offline, with when she was last seen.
    alice_client.close().await;
    tui.until_shows("alice · last seen").await;

    // Commands: a group, then an unknown command is refused with a hint.
    tui.type_text("/group crew alice");
    tui.key(KeyCode::Enter);
    tui.until_shows("crew · group · 2 members").await;
    tui.type_text("/nonsense");
    tui.key(KeyCode::Enter);
    tui.until_shows("/help lists the commands").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scroll_back_loads_older_pages_and_bodies_are_shown_as_text() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.user("alice").await;
    let (_, dave_token, _) = server.user("dave").await;
    let dm = alice.create_direct("dave").await.expect("dm");
    // More than two pages (50 events each).
    for n in 0..120 {
        alice
            .send(dm.id, &format!("m{n}"), &format!("msg {n:03}"))
            .await
            .expect("send");
    }
    alice
        .send(
            dm.id,
            "evil",
            "\u{1b}[2J\u{1b}]0;owned\u{7}boom\u{1b}[31m ok\u{7}",
        )
        .await
        .expect("send");

    // Dave starts with a saved token: straight into the chat, the DM open at its newest page.
    let mut tui = Tui::start(&server.base, Some(&dave_token));
    let screen = tui.until_shows("alice: boom ok").await;
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "no control characters reach the screen:\n{screen}"
    );
    assert!(!screen.contains("owned"), "the title sequence is dropped");
    assert!(screen.contains("msg 119"));
    assert!(!screen.contains("msg 000"), "only the newest page at first");

    // PageUp until the beginning: older pages load as the view reaches the top.
    let mut presses = 0;
    while !tui.screen().contains("msg 000") {
        presses += 1;
        assert!(presses < 100, "never reached msg 000:\n{}", tui.screen());
        tui.key(KeyCode::PageUp);
        tui.settle(Duration::from_millis(150)).await;
    }
    tui.key(KeyCode::PageUp);
    let screen = tui.until_shows("start of the conversation").await;
    assert!(screen.contains("alice started this conversation"));
    let ch = tui.driver.app.current().expect("open channel");
    assert_eq!(
        ch.entries.len(),
        122,
        "every event loaded once: 1 + 120 + 1"
    );

    // PageDown returns to the newest.
    for _ in 0..100 {
        tui.key(KeyCode::PageDown);
    }
    tui.until_shows("alice: boom ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_resumes_and_nothing_is_lost_or_doubled() {
    let mut server = TestServer::start().await;
    let (_, erin_token, _) = server.user("erin").await;
    let (frank, _, _) = server.user("frank").await;
    let dm = frank.create_direct("erin").await.expect("dm");
    frank
        .send(dm.id, "b1", "before the restart")
        .await
        .expect("send");

    let mut tui = Tui::start(&server.base, Some(&erin_token));
    tui.until_shows("frank: before the restart").await;
    tui.until_shows("● connected").await;

    server.stop().await;
    tui.until_shows("reconnecting…").await;
    // Written while the server is down: it waits in the SDK's outbox.
    tui.type_text("sent while down");
    tui.key(KeyCode::Enter);
    tui.until_shows("sent while down (sending…)").await;

    server.restart().await;
    frank
        .send(dm.id, "w1", "while you were away")
        .await
        .expect("send after restart");
    tui.until_shows("back online").await;
    let screen = tui
        .until("the missed message and my queued one", |s| {
            s.contains("frank: while you were away")
                && s.contains("erin: sent while down")
                && !s.contains("sending…")
        })
        .await;
    tui.settle(Duration::from_millis(500)).await;
    let screen_after = tui.screen();
    for text in [
        "while you were away",
        "sent while down",
        "before the restart",
    ] {
        assert_eq!(
            screen_after.matches(text).count(),
            1,
            "{text:?} shown once:\n{screen}"
        );
        assert_eq!(
            stored_copies(&frank, dm.id, text).await,
            1,
            "{text:?} stored once"
        );
    }
    drop(server);
}
