//! Passwords (argon2id), session tokens, and the bearer-token extractor.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use confab_proto::User;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Usernames: 3–32 characters of `a-z 0-9 _ . -`, starting with a letter or digit; case-insensitive.
pub const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=32;
/// Passwords: 8–128 characters.
pub const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;

/// Normalizes (lower-cases) and validates a username.
pub fn normalize_username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_lowercase();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !USERNAME_LEN.contains(&name.len()) || !ok_chars || !ok_start {
        return Err(ApiError::bad_request(
            "a username is 3-32 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
        ));
    }
    Ok(name)
}

/// Validates a new password's length.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if !PASSWORD_LEN.contains(&password.chars().count()) {
        return Err(ApiError::bad_request("a password is 8-128 characters"));
    }
    Ok(())
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| ApiError::new(confab_proto::ErrorCode::Internal, "internal error"))?
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::new(confab_proto::ErrorCode::Internal, "internal error")
    })
}

/// A hash of a random password, made once: verifying against it for unknown users spends the same
/// time as for known ones, so response times do not reveal which usernames exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(&random, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Checks `password` against a stored hash (or the dummy hash) on a blocking thread.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .unwrap_or(false)
}

/// A new random session token (256 bits, base64url) and its SHA-256 hash, which is what is stored.
pub fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The user a token belongs to.
pub async fn authenticate(state: &AppState, token: &str) -> Result<(User, [u8; 32]), ApiError> {
    let hash = token_hash(token);
    match state.store.token_user(&hash).await? {
        Some(user) => Ok((user, hash)),
        None => Err(ApiError::unauthorized("invalid or revoked token")),
    }
}

/// The authenticated caller of a REST request (`Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub token_hash: [u8; 32],
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        // The scheme is case-insensitive (RFC 9110).
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let (user, token_hash) = authenticate(state, token.trim()).await?;
        Ok(Caller { user, token_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(normalize_username(" Alice ").ok().as_deref(), Some("alice"));
        assert!(normalize_username("al").is_err());
        assert!(normalize_username("_alice").is_err());
        assert!(normalize_username("al ice").is_err());
        assert!(normalize_username("ålice").is_err());
        assert!(normalize_username(&"a".repeat(33)).is_err());
        assert!(normalize_username("bob.smith-2_x").is_ok());
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(hash)).await);
        assert!(!verify_password("correct horse".into(), None).await);
    }
}
