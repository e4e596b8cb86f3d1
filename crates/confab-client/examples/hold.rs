//! Opens and holds many identified gateway connections, to measure a server's memory per
//! connection (see docs/architecture.md). A stop-gap until the load generator lands.
//!
//! ```text
//! cargo run --release -p confab-client --example hold -- 2000 20   # connections, seconds to hold
//! ```

use std::time::{Duration, Instant};

use confab_client::Http;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let hold: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let base = std::env::var("CONFAB_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let ws = format!("{}/ws", base.replacen("http", "ws", 1));
    let http = Http::new(&base);
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let users = count.div_ceil(20).max(1);
    let mut tokens = Vec::new();
    for i in 0..users {
        tokens.push(
            http.register(&format!("hold{i}-{suffix}"), "correct horse battery")
                .await?
                .token,
        );
    }
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(count);
    for i in 0..count {
        let token = &tokens[i % users];
        loop {
            let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await?;
            socket.next().await; // hello
            let identify = format!(r#"{{"op":"identify","token":"{token}"}}"#);
            socket.send(Message::text(identify)).await?;
            match socket.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().starts_with(r#"{"op":"ready""#) => {
                    sockets.push(socket);
                    break;
                }
                // Refused by admission control (close 4006): wait a little and retry.
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    println!(
        "{count} connections identified in {:?}; holding {hold} s",
        started.elapsed()
    );
    let until = Instant::now() + Duration::from_secs(hold);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5)).await;
        for s in &mut sockets {
            let _ = s.send(Message::text(r#"{"op":"heartbeat"}"#)).await;
        }
    }
    Ok(())
}
