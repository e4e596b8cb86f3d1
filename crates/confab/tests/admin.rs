//! `confab admin` on the real binary, against a real server on the same SQLite store: accounts
//! created, disabled and deleted while the server runs; an online backup taken while the server
//! writes, restored into a fresh data directory that a new server serves; the integrity check on
//! a sound store and on one damaged with SQL.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use confab_client::http::HistoryQuery;
use confab_client::proto::{ChannelId, ErrorCode, EventBody};
use confab_client::{ClientError, Http};

mod common;

use common::{node, PASSWORD};

/// Runs `confab admin ARGS` with no `CONFAB_*` setting but the ones given, and `stdin` as input.
fn admin(args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command.arg("admin").args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("CONFAB_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn confab admin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("confab admin ran")
}

/// `confab admin ARGS --data-dir DIR`, which must exit with `code`; returns its stdout.
fn admin_in(dir: &Path, args: &[&str], code: i32) -> String {
    let dir = dir.to_str().expect("utf-8");
    let mut all = args.to_vec();
    all.extend(["--data-dir", dir]);
    expect_exit(admin(&all, ""), code, args)
}

fn expect_exit(out: Output, code: i32, args: &[&str]) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "confab admin {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

fn api_code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Api(body)) => body.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_made_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    // Before any server ran: the store is created.
    let out = admin(
        &[
            "users",
            "create",
            "Carol",
            "--password-stdin",
            "--data-dir",
            data_s,
        ],
        &format!("{PASSWORD}\n"),
    );
    let created = expect_exit(out, 0, &["users", "create"]);
    assert!(created.starts_with("created user carol"), "{created}");
    // A generated password is printed, and works.
    let made = admin_in(&data, &["users", "create", "dave"], 0);
    let dave_password = made
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password is printed")
        .to_owned();
    admin_in(&data, &["users", "create", "dave"], 5);
    admin_in(&data, &["users", "create", "x"], 2);

    let (_server, addr) = node(&["--data-dir".into(), data_s.into()]).await;
    let http = Http::new(format!("http://{addr}"));
    let carol = http.login("carol", PASSWORD).await.expect("carol logs in");
    http.login("dave", &dave_password)
        .await
        .expect("dave logs in");
    let carol_http = http.with_token(&carol.token);
    carol_http.me().await.expect("the token works");

    let listed = admin_in(&data, &["users", "list"], 0);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("carol") && l.contains("active")),
        "{listed}"
    );

    // Disabled while the server runs: no login, and the token is refused at once.
    let said = admin_in(&data, &["users", "disable", "carol"], 0);
    assert_eq!(said.trim(), "disabled carol");
    assert_eq!(
        api_code(http.login("carol", PASSWORD).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        api_code(http.login("carol", "wrong password").await),
        ErrorCode::Unauthorized,
        "a wrong password is not told the account is disabled"
    );
    assert_eq!(api_code(carol_http.me().await), ErrorCode::Unauthorized);
    let listed: serde_json::Value =
        serde_json::from_str(&admin_in(&data, &["users", "list", "--json"], 0)).expect("json");
    let row = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|u| u["username"] == "carol")
        .expect("listed");
    assert!(row["disabled_at"].is_i64(), "{row}");

    // Enabled again: the same token works; revoked: it does not.
    admin_in(&data, &["users", "enable", "carol"], 0);
    carol_http.me().await.expect("the token works again");
    let said = admin_in(&data, &["tokens", "revoke", "carol"], 0);
    assert!(said.starts_with("revoked 1 tokens of carol"), "{said}");
    assert_eq!(api_code(carol_http.me().await), ErrorCode::Unauthorized);

    // A new password from stdin.
    let out = admin(
        &[
            "users",
            "reset-password",
            "carol",
            "--password-stdin",
            "--data-dir",
            data_s,
        ],
        "another password\n",
    );
    expect_exit(out, 0, &["users", "reset-password"]);
    assert_eq!(
        api_code(http.login("carol", PASSWORD).await),
        ErrorCode::Unauthorized
    );
    http.login("carol", "another password")
        .await
        .expect("the new password works");

    // Deleted: gone, its name free.
    let said = admin_in(&data, &["users", "delete", "carol"], 0);
    assert!(said.starts_with("deleted carol"), "{said}");
    assert_eq!(
        api_code(http.login("carol", "another password").await),
        ErrorCode::Unauthorized
    );
    admin_in(&data, &["users", "delete", "carol"], 3);
    http.register("carol", PASSWORD)
        .await
        .expect("the name is free");
}

/// The events of `channel` a user sees: (seq, message body or the event's type).
async fn history(http: &Http, channel: ChannelId) -> Vec<(u64, String)> {
    let mut events = Vec::new();
    loop {
        let query = HistoryQuery {
            after: Some(events.last().map_or(0, |(seq, _)| *seq)),
            before: None,
            limit: Some(200),
        };
        let page = http.history(channel, query).await.expect("history");
        events.extend(page.events.into_iter().map(|e| {
            let what = match e.body {
                EventBody::Message { body, .. } => body,
                other => other.kind().to_owned(),
            };
            (e.seq, what)
        }));
        if !page.has_more {
            return events;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_into_a_server_that_serves_the_same_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (live, fresh) = (dir.path().join("live"), dir.path().join("fresh"));
    let backup = dir.path().join("confab-backup.db");
    let (_server, addr) = node(&["--data-dir".into(), live.to_str().expect("utf-8").into()]).await;
    let http = Http::new(format!("http://{addr}"));
    let alice = http.register("alice", PASSWORD).await.expect("register");
    http.register("bob", PASSWORD).await.expect("register");
    let alice = http.with_token(&alice.token);
    let channel = alice.create_direct("bob").await.expect("dm").id;

    // Messages are sent before, during and after the backup.
    let writer = {
        let alice = alice.clone();
        tokio::spawn(async move {
            for i in 0..150 {
                alice
                    .send(channel, &format!("c{i}"), &format!("message {i}"))
                    .await
                    .expect("send");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (b, l) = (
        backup.to_str().expect("utf-8").to_owned(),
        live.to_str().expect("utf-8").to_owned(),
    );
    let said = tokio::task::spawn_blocking(move || {
        expect_exit(admin(&["backup", &b, "--data-dir", &l], ""), 0, &["backup"])
    })
    .await
    .expect("backup");
    assert!(said.starts_with("wrote "), "{said}");
    writer.await.expect("writer");
    // Not over an existing file; not onto the store a server has open.
    admin_in(&live, &["backup", backup.to_str().expect("utf-8")], 5);
    admin_in(
        &live,
        &["restore", backup.to_str().expect("utf-8"), "--force"],
        5,
    );

    // The copy is consistent: the check finds it sound.
    let out = admin(
        &["check", "--store", &format!("sqlite:{}", backup.display())],
        "",
    );
    assert_eq!(
        expect_exit(out, 0, &["check"]).trim(),
        "ok: no problems found"
    );

    let said = admin_in(&fresh, &["restore", backup.to_str().expect("utf-8")], 0);
    assert!(said.starts_with("restored "), "{said}");
    let (_restored, addr) =
        node(&["--data-dir".into(), fresh.to_str().expect("utf-8").into()]).await;
    let restored = Http::new(format!("http://{addr}"));
    let bob = restored.login("bob", PASSWORD).await.expect("bob logs in");
    let got = history(&restored.with_token(&bob.token), channel).await;
    let all = history(&alice, channel).await;
    assert!(
        got.len() > 1 && got.len() < all.len(),
        "the backup was taken mid-way: {} of {} events",
        got.len(),
        all.len()
    );
    assert_eq!(
        got[..],
        all[..got.len()],
        "the same history, gapless, up to the backup"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_passes_a_sound_store_and_reports_a_deleted_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (_server, addr) = node(&["--data-dir".into(), data.to_str().expect("utf-8").into()]).await;
    let http = Http::new(format!("http://{addr}"));
    let alice = http.register("alice", PASSWORD).await.expect("register");
    http.register("bob", PASSWORD).await.expect("register");
    let alice = http.with_token(&alice.token);
    let channel = alice
        .create_group("team", &["bob"])
        .await
        .expect("group")
        .id;
    for i in 0..5 {
        alice
            .send(channel, &format!("c{i}"), "hello")
            .await
            .expect("send");
    }
    assert_eq!(
        admin_in(&data, &["check"], 0).trim(),
        "ok: no problems found"
    );
    let inspected = admin_in(&data, &["channels", "inspect", &channel.to_string()], 0);
    assert!(inspected.contains("head seq:        6"), "{inspected}");
    assert!(
        inspected
            .lines()
            .any(|l| l.contains("alice") && l.contains("owner")),
        "{inspected}"
    );

    // Damaged behind the store's back, while the server runs.
    rusqlite::Connection::open(data.join("confab.db"))
        .expect("open")
        .execute(
            "DELETE FROM events WHERE channel_id = ?1 AND seq = 3",
            [channel.0],
        )
        .expect("delete an event");
    let report = admin_in(&data, &["check"], 4);
    assert!(
        report
            .lines()
            .any(|l| l == format!("seq_gap: channel {channel}: seq 3 is missing")),
        "{report}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&admin_in(&data, &["check", "--json"], 4)).expect("json");
    assert!(
        json["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p["kind"] == "seq_gap" && p["channel_id"] == channel.to_string()),
        "{json}"
    );
}

/// On a cluster (PostgreSQL and NATS), the admin commands tell the running nodes: a deleted
/// user's open sessions close at once (`session_revoked`), and the other members see the user
/// leave live, in `seq` order. Needs `CONFAB_TEST_DATABASE_URL` and `CONFAB_TEST_NATS_URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_deletion_reaches_live_sessions() {
    use confab_client::ClientEvent;
    use confab_testkit::push::next_matching;

    let Some((db, nats)) = confab_testkit::services::shared_urls("the admin cluster test") else {
        return;
    };
    let schema = format!("confab_admin_{}", std::process::id());
    let store = [
        "--store".to_owned(),
        db.clone(),
        "--store-schema".into(),
        schema.clone(),
        "--bus".into(),
        nats.clone(),
    ];
    let (_server, addr) = node(&store).await;
    let url = format!("http://{addr}");
    let http = Http::new(url.clone());
    let alice = http.register("alice", PASSWORD).await.expect("register");
    let bob = http.register("bob", PASSWORD).await.expect("register");
    let channel = http
        .with_token(&alice.token)
        .create_group("team", &["bob"])
        .await
        .expect("group")
        .id;
    let ws = format!("ws://{addr}/ws");
    let (_a, mut alice_events) = common::connect(&ws, &alice.token).await;
    let (_b, mut bob_events) = common::connect(&ws, &bob.token).await;
    http.with_token(&alice.token)
        .send(channel, "c1", "hello")
        .await
        .expect("send");
    common::collect_in(&mut bob_events, Some(channel), 1).await;

    let mut args = vec!["users", "delete", "alice"];
    args.extend(store.iter().map(String::as_str));
    // The server's sessions go on meanwhile (another worker thread).
    let said = tokio::task::block_in_place(|| expect_exit(admin(&args, ""), 0, &args));
    assert!(said.contains("running servers were told"), "{said}");
    let code = next_matching(&mut alice_events, |push| match push {
        ClientEvent::Closed { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, Some(4105), "alice's session is revoked");
    let left = next_matching(&mut bob_events, |push| match push {
        ClientEvent::Event(e) if e.channel_id == channel => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(left.body, EventBody::MemberLeft);
    assert_eq!(left.author.username, format!("deleted:{}", alice.user.id));

    let mut args = vec!["check"];
    args.extend(store.iter().map(String::as_str));
    assert_eq!(
        expect_exit(admin(&args, ""), 0, &args).trim(),
        "ok: no problems found"
    );
    let _ = std::process::Command::new("psql")
        .args([
            &db,
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}
