//! One error type for every handler, mapped to one JSON shape: `{"error":{"code","message"}}`.
//!
//! The layers below return their own errors (`domain::DomainError`,
//! `db::DbError`, `jobs::JobError`), converted here. Client errors carry their message as-is.
//! Server errors are logged with their whole cause chain and answered with an opaque message, so
//! no SQL, path or credential ever reaches a response.
use std::convert::Infallible;

use serde::Serialize;
use uuid::Uuid;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reject::Rejection;
use warp::reply::{Reply, Response};

use super::table::WrongMethod;
use crate::db::DbError;
use crate::domain::DomainError;
use crate::jobs::JobError;
use crate::telemetry::chain;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A `/jobs` call a proxy received over plain HTTP (its token went in clear).
    #[error(
        "this endpoint takes a bearer token and answers over HTTPS only: call it with https:// \
         (the proxy in front of adrec received this request over plain HTTP; a deployment \
         without a certificate must set JOBS_ALLOW_PLAIN_HTTP=true)"
    )]
    HttpsRequired,
    /// Conflicting work is already under way: the run `running`, when it is still known.
    #[error("{message}")]
    Conflict {
        message: String,
        running: Option<Uuid>,
    },
    /// A dependency (the database) is unreachable: retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl warp::reject::Reject for AppError {}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        let code = match e {
            DomainError::UnknownModel(_) => "unknown_model",
            DomainError::InvalidDate { .. } => "invalid_date",
        };
        AppError::bad_request(code, e.to_string())
    }
}

impl From<JobError> for AppError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Conflict { running, .. } => AppError::Conflict {
                message: e.to_string(),
                running: running.map(|r| r.id),
            },
            JobError::Publishing { running, .. } => AppError::Conflict {
                message: e.to_string(),
                running: Some(running.id),
            },
            JobError::Db(e) => AppError::Database(e),
            JobError::Other(e) => AppError::Internal(e),
        }
    }
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::HttpsRequired => (StatusCode::FORBIDDEN, "https_required"),
            AppError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            _ if self.is_unavailable() => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The database (or another dependency) cannot answer now: a 503, worth retrying.
    fn is_unavailable(&self) -> bool {
        match self {
            AppError::Unavailable(_) => true,
            AppError::Database(e) => e.is_unavailable(),
            _ => false,
        }
    }

    /// The response for this error; server-side details are logged here and never sent.
    pub fn to_response(&self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            AppError::Database(_) if self.is_unavailable() => {
                tracing::warn!(error = %chain(&self), "database unavailable");
                "the database is unavailable; retry later".to_owned()
            }
            AppError::Database(_) | AppError::Internal(_) => {
                tracing::error!(error = %chain(&self), "request failed");
                "internal error; the details are in the service log".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = error_reply(status, code, &message);
        match self {
            AppError::Unauthorized => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::Conflict {
                running: Some(id), ..
            } => {
                // The runner may name no run (it finished meanwhile): then no Location.
                if let Ok(v) = HeaderValue::from_str(&super::run_path(*id)) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
            }
            _ => {}
        }
        resp
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

/// The one error shape, serialized.
pub fn error_json(code: &str, message: &str) -> Vec<u8> {
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    serde_json::to_vec(&body).expect("serializable")
}

pub fn error_reply(status: StatusCode, code: &str, message: &str) -> Response {
    json_bytes(status, error_json(code, message).into())
}

/// A JSON response from already serialized bytes.
pub fn json_bytes(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl Reply for AppError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// Handlers return `Result<_, AppError>`; this turns either side into the response, so a matched
/// route never falls through to other routes.
pub fn respond<T: Reply>(result: Result<T, AppError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.to_response(),
    }
}

/// The single rejection handler: every way a request can fail ends here.
pub async fn recover(err: Rejection) -> Result<Response, Infallible> {
    if let Some(e) = err.find::<AppError>() {
        return Ok(e.to_response());
    }
    if let Some(w) = err.find::<WrongMethod>() {
        let mut resp = error_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("method not allowed: this path answers {}", w.allow),
        );
        // RFC 9110 §15.5.6: a 405 says which methods the path takes.
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(w.allow));
        return Ok(resp);
    }
    let (status, code, message) = if err.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such resource".to_owned(),
        )
    } else if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("invalid JSON body: {e}"),
        )
    } else if let Some(e) = err.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, "invalid_query", format!("{e}"))
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large".to_owned(),
        )
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json".to_owned(),
        )
    } else if let Some(e) = err.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, "invalid_header", e.to_string())
    } else {
        tracing::error!(rejection = ?err, "unhandled rejection");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error".to_owned(),
        )
    };
    Ok(error_reply(status, code, &message))
}
