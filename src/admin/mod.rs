//! The administrative API for security officers: lift a login lockout, log a user out
//! everywhere. Authenticated by a bearer token from a file (its SHA-256 is kept and compared in
//! constant time); every action is audited. Fine-grained officer roles arrive with the
//! access-policy work.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::{constant_time, digest};
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{AuditEvent, AuditLog, LockoutSubject};
use crate::bruteforce::LoginGuard;
use crate::session::SessionService;

/// Largest request body the admin API reads.
const MAX_ADMIN_BODY: usize = 4096;

/// Why the admin API could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot read admin token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
}

/// The admin API and what it acts on.
pub struct AdminApi {
    token_sha256: [u8; 32],
    guard: Arc<LoginGuard>,
    sessions: Arc<SessionService>,
    audit: AuditLog,
}

/// What an administrator asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    ip: Option<IpAddr>,
}

impl AdminApi {
    pub fn new(
        token_file: &Path,
        guard: Arc<LoginGuard>,
        sessions: Arc<SessionService>,
        audit: AuditLog,
    ) -> Result<Self, AdminError> {
        let text = std::fs::read_to_string(token_file).map_err(|source| AdminError::TokenFile {
            path: token_file.display().to_string(),
            source,
        })?;
        let mut token_sha256 = [0u8; 32];
        token_sha256
            .copy_from_slice(digest::digest(&digest::SHA256, text.trim().as_bytes()).as_ref());
        Ok(Self {
            token_sha256,
            guard,
            sessions,
            audit,
        })
    }

    /// Answers `/.govgate/admin/<action>`.
    pub async fn handle(
        &self,
        action: &str,
        method: &Method,
        headers: &HeaderMap,
        body: Incoming,
        client_ip: IpAddr,
    ) -> Response<Bytes> {
        if !self.authorised(headers) {
            return reply(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
        }
        if method != Method::POST {
            return reply(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "use POST"}));
        }
        let target: Target = match read_json(body).await {
            Ok(target) => target,
            Err(message) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "bad_request", "message": message}),
                )
            }
        };
        match (action, target) {
            (
                "unlock",
                Target {
                    username: Some(username),
                    ip: None,
                },
            ) => self.unlock_user(&username, client_ip).await,
            (
                "unlock",
                Target {
                    username: None,
                    ip: Some(ip),
                },
            ) => self.unlock_ip(ip, client_ip).await,
            (
                "logout-everywhere",
                Target {
                    username: Some(username),
                    ip: None,
                },
            ) => self.logout_everywhere(&username, client_ip).await,
            ("unlock" | "logout-everywhere", _) => reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_request", "message": "give exactly one of username, ip (ip only for unlock)"}),
            ),
            _ => reply(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        }
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let presented = digest::digest(&digest::SHA256, token.trim().as_bytes());
        constant_time::verify_slices_are_equal(presented.as_ref(), &self.token_sha256).is_ok()
    }

    async fn unlock_user(&self, username: &str, client_ip: IpAddr) -> Response<Bytes> {
        match self.guard.unlock(username).await {
            Ok(was_locked) => {
                self.record(AuditEvent::Unlocked {
                    subject: LockoutSubject::User(username.to_string()),
                    admin: "admin-token".into(),
                    client_ip: Some(client_ip),
                })
                .await;
                reply(
                    StatusCode::OK,
                    json!({"unlocked": username, "was_locked": was_locked}),
                )
            }
            Err(error) => store_down(&error.to_string()),
        }
    }

    async fn unlock_ip(&self, ip: IpAddr, client_ip: IpAddr) -> Response<Bytes> {
        match self.guard.unlock_ip(ip).await {
            Ok(was_locked) => {
                self.record(AuditEvent::Unlocked {
                    subject: LockoutSubject::Ip(ip.to_string()),
                    admin: "admin-token".into(),
                    client_ip: Some(client_ip),
                })
                .await;
                reply(
                    StatusCode::OK,
                    json!({"unlocked": ip.to_string(), "was_locked": was_locked}),
                )
            }
            Err(error) => store_down(&error.to_string()),
        }
    }

    async fn logout_everywhere(&self, username: &str, client_ip: IpAddr) -> Response<Bytes> {
        match self.sessions.destroy_all_for_user(username).await {
            Ok(()) => {
                self.record(AuditEvent::LoggedOutEverywhere {
                    username: username.to_string(),
                    client_ip: Some(client_ip),
                })
                .await;
                reply(StatusCode::OK, json!({"logged_out_everywhere": username}))
            }
            Err(error) => store_down(&error.to_string()),
        }
    }

    async fn record(&self, event: AuditEvent) {
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit record not written");
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(body: Incoming) -> Result<T, String> {
    let bytes = Limited::new(body, MAX_ADMIN_BODY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

fn store_down(error: &str) -> Response<Bytes> {
    tracing::error!(%error, "admin action failed: store unavailable");
    reply(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "store_unavailable"}),
    )
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}
