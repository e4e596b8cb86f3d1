//! Errors at the edge: every failure becomes an [`ErrorBody`] with a stable code, once, here.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use confab_proto::api::ErrorResponse;
use confab_proto::{ErrorBody, ErrorCode};
use confab_store::StoreError;

/// A failed request, as the client will see it.
#[derive(Debug, Clone)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(ErrorBody::new(code, message))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn rate_limited(retry_after_ms: u64) -> Self {
        let mut body = ErrorBody::new(ErrorCode::RateLimited, "sending too fast");
        body.retry_after_ms = Some(retry_after_ms);
        ApiError(body)
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
            }
            StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            StoreError::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            StoreError::LimitExceeded(m) => ApiError::new(ErrorCode::LimitExceeded, m),
            StoreError::Invalid(m) => ApiError::new(ErrorCode::BadRequest, m),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the store is unavailable; nothing was changed, retry later",
                )
            }
            StoreError::Backend(detail) => {
                // Internal detail never reaches a client; it is logged once, here.
                tracing::error!(error = %detail, "store failure");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.0.retry_after_ms;
        let mut response = (status, axum::Json(ErrorResponse { error: self.0 })).into_response();
        if let Some(ms) = retry {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The result of a REST handler.
pub type ApiResult<T> = Result<T, ApiError>;
