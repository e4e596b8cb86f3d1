//! A two-minute tour of the SDK against a running server.
//!
//! ```text
//! cargo run --release -- serve            # in one terminal
//! cargo run -p confab-client --example tour   # in another
//! ```
//!
//! Registers two users (with a random suffix, so it can run again), opens a direct channel, connects
//! both over the WebSocket, sends a message each way, pages history and marks it read.

use confab_client::http::HistoryQuery;
use confab_client::{Client, ClientEvent, Http};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("CONFAB_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let ws = format!("{}/ws", base.replacen("http", "ws", 1));
    let http = Http::new(&base);
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let (ann, ben) = (format!("ann-{suffix}"), format!("ben-{suffix}"));

    let ann_auth = http.register(&ann, "correct horse battery").await?;
    let ben_auth = http.register(&ben, "correct horse battery").await?;
    let ann_http = http.with_token(&ann_auth.token);
    let dm = ann_http.create_direct(&ben).await?;
    println!("{ann} opened direct channel {} with {ben}", dm.id);

    let (ann_client, _ann_events) = Client::connect(&ws, &ann_auth.token).await?;
    let (ben_client, mut ben_events) = Client::connect(&ws, &ben_auth.token).await?;
    println!(
        "{ben} is ready with {} channel(s)",
        ben_client.ready().channels.len()
    );

    let ack = ann_client.send(dm.id, "hello ben!").await?;
    println!(
        "{ann}'s message committed as seq {} (id {})",
        ack.seq, ack.id
    );
    while let Some(push) = ben_events.next().await {
        if let ClientEvent::Event(event) = push {
            println!("{ben} received seq {}: {:?}", event.seq, event.body);
            break;
        }
    }
    ben_client.send(dm.id, "hi ann").await?;

    let page = ann_http.history(dm.id, HistoryQuery::default()).await?;
    for event in &page.events {
        println!(
            "  history seq {} by {}: {}",
            event.seq,
            event.author.username,
            event.body.kind()
        );
    }
    let read = ann_http.mark_read(dm.id, page.last_seq).await?;
    println!(
        "{ann} read up to seq {}, unread {}",
        read.read_seq, read.unread
    );
    ann_client.close().await;
    ben_client.close().await;
    Ok(())
}
