//! Users and session tokens: unique usernames, credentials, lookups by id, prefix and name,
//! tokens that resolve to their user until deleted.

use crate::{Store, StoreError};

pub(super) async fn users_and_tokens(store: &dyn Store, tag: &str) {
    let name = format!("ann{tag}");
    let ann = store.create_user(&name, "hash").await.expect("create");
    assert!(
        matches!(
            store.create_user(&name, "x").await,
            Err(StoreError::Conflict(_))
        ),
        "duplicate username must conflict"
    );
    let creds = store
        .credentials(&name)
        .await
        .expect("creds")
        .expect("exists");
    assert_eq!(creds.user, ann);
    assert_eq!(creds.password_hash, "hash");
    assert_eq!(store.user(ann.id).await.expect("user"), Some(ann.clone()));
    let found = store
        .users_by_prefix(&format!("ann{tag}"), 10)
        .await
        .expect("prefix");
    assert_eq!(found, vec![ann.clone()]);
    assert!(store
        .users_by_prefix("zzzz-nobody", 10)
        .await
        .expect("prefix")
        .is_empty());
    let missing = store
        .users_by_name(&[name.clone(), "nobody-at-all".into()])
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));

    let hash = format!("token-{tag}").into_bytes();
    store.insert_token(&hash, ann.id).await.expect("token");
    assert_eq!(
        store.token_user(&hash).await.expect("lookup"),
        Some(ann.clone())
    );
    assert!(store.delete_token(&hash).await.expect("delete"));
    assert!(!store.delete_token(&hash).await.expect("delete again"));
    assert_eq!(store.token_user(&hash).await.expect("lookup"), None);
}
