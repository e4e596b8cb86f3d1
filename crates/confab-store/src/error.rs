//! The store's error type.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The channel or user does not exist, or the caller cannot see it.
    #[error("{0} not found")]
    NotFound(String),
    /// The thing already exists (a username, a membership).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this (not a member, not an admin).
    #[error("{0}")]
    Forbidden(String),
    /// A configured limit would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The request makes no sense for this channel (adding members to a direct channel).
    #[error("{0}")]
    Invalid(String),
    /// The backend could not be reached or timed out; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other backend failure.
    #[error("store error: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            // PostgreSQL going away: connection exceptions (class 08), shutdown and start-up (57P01–57P03).
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Backend(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("stored event is not valid JSON: {e}"))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
