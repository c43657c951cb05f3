//! The administrative API for security officers: lift a login lockout, log a user out
//! everywhere, and read, validate, preview, apply and roll back the access policies
//! ([`policies`]). Callers are either the break-glass bearer token from a file (its SHA-256 is
//! kept and compared in constant time; every right) or a logged-in user whom the access
//! policies grant the administrative action. Every change is audited.

pub mod policies;
pub mod versions;

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
use crate::policy::AdminAction;
use crate::proxy::admit::{Authorizer, RouteRequest};
use crate::session::{Session, SessionService};

pub use policies::PolicyAdmin;

/// Largest request body the admin API reads.
const MAX_ADMIN_BODY: usize = 4096;
/// Largest proposed policy set (all files, JSON-encoded).
const MAX_POLICY_BODY: usize = 8 * 1024 * 1024;

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
    token_sha256: Option<[u8; 32]>,
    guard: Arc<LoginGuard>,
    sessions: Arc<SessionService>,
    audit: AuditLog,
    /// The policy API, when `[policy]` is configured.
    policy: Option<PolicyAdmin>,
    /// Decides whether a logged-in user may perform an administrative action.
    authorizer: Option<Authorizer>,
}

/// Who is calling the admin API.
enum Caller {
    /// The break-glass bearer token: every right.
    Token,
    /// A logged-in user; what they may do is decided per action by the access policies.
    Officer(Box<Session>),
}

impl Caller {
    fn name(&self) -> String {
        match self {
            Caller::Token => "admin-token".into(),
            Caller::Officer(session) => session.identity.username.clone(),
        }
    }
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
        token_file: Option<&Path>,
        guard: Arc<LoginGuard>,
        sessions: Arc<SessionService>,
        audit: AuditLog,
    ) -> Result<Self, AdminError> {
        let token_sha256 = match token_file {
            Some(token_file) => {
                let text = std::fs::read_to_string(token_file).map_err(|source| {
                    AdminError::TokenFile {
                        path: token_file.display().to_string(),
                        source,
                    }
                })?;
                let mut sha256 = [0u8; 32];
                sha256.copy_from_slice(
                    digest::digest(&digest::SHA256, text.trim().as_bytes()).as_ref(),
                );
                Some(sha256)
            }
            None => None,
        };
        Ok(Self {
            token_sha256,
            guard,
            sessions,
            audit,
            policy: None,
            authorizer: None,
        })
    }

    /// Adds the policy API and officer logins decided by the access policies.
    pub fn with_policies(mut self, policy: PolicyAdmin, authorizer: Authorizer) -> Self {
        self.policy = Some(policy);
        self.authorizer = Some(authorizer);
        self
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
        let Some(caller) = self.caller(headers).await else {
            return reply(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
        };
        if action == "policies" || action.starts_with("policies/") {
            return self
                .policies(action, method, headers, body, &caller, client_ip)
                .await;
        }
        if !self.may(
            &caller,
            AdminAction::SessionAdmin,
            method,
            action,
            client_ip,
        ) {
            return forbidden();
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
            ) => self.unlock_user(&username, client_ip, &caller.name()).await,
            (
                "unlock",
                Target {
                    username: None,
                    ip: Some(ip),
                },
            ) => self.unlock_ip(ip, client_ip, &caller.name()).await,
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

    /// The bearer token, or else a logged-in user's session (only where policies decide).
    async fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        if self.token_matches(headers) {
            return Some(Caller::Token);
        }
        self.authorizer.as_ref()?;
        let id = self.sessions.session_id_from(headers)?;
        let session = self.sessions.get(&id).await.ok()??;
        // Hand-off sessions belong to one app host, never to the admin API.
        session
            .host
            .is_none()
            .then(|| Caller::Officer(Box::new(session)))
    }

    /// Whether `caller` may perform `action` (the token may do everything).
    fn may(
        &self,
        caller: &Caller,
        action: AdminAction,
        method: &Method,
        path: &str,
        client_ip: IpAddr,
    ) -> bool {
        let Caller::Officer(session) = caller else {
            return true;
        };
        let Some(authorizer) = &self.authorizer else {
            return false;
        };
        let request = RouteRequest {
            app: "",
            method: method.as_str(),
            path,
            client_ip,
            signed: false,
            worker: 0,
        };
        authorizer
            .decide(session, crate::policy::Target::Admin(action), &request)
            .allowed
    }

    async fn policies(
        &self,
        action: &str,
        method: &Method,
        headers: &HeaderMap,
        body: Incoming,
        caller: &Caller,
        client_ip: IpAddr,
    ) -> Response<Bytes> {
        let _ = headers;
        let Some(policy) = &self.policy else {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "message": "no [policy] is configured"}),
            );
        };
        let needs = match (method, action) {
            (&Method::POST, "policies/apply" | "policies/rollback") => AdminAction::PolicyWrite,
            _ => AdminAction::PolicyRead,
        };
        if !self.may(caller, needs, method, action, client_ip) {
            if let Caller::Officer(session) = caller {
                self.record(AuditEvent::AccessDenied {
                    username: session.identity.username.clone(),
                    client_ip: Some(client_ip),
                    action: needs.as_str().into(),
                    resource: format!("Gateway::{:?}", crate::policy::GATEWAY_ENTITY),
                    method: method.to_string(),
                    path: format!("/.govgate/admin/{action}"),
                    reason: "policy".into(),
                    request_id: String::new(),
                })
                .await;
            }
            return forbidden();
        }
        let officer = caller.name();
        let (status, body) = match (method, action) {
            (&Method::GET, "policies") => policy.current(),
            (&Method::GET, "policies/versions") => policy.versions(),
            (&Method::POST, "policies/validate" | "policies/preview" | "policies/apply") => {
                let proposed: policies::ProposedSet =
                    match read_json_limited(body, MAX_POLICY_BODY).await {
                        Ok(proposed) => proposed,
                        Err(message) => {
                            return reply(
                                StatusCode::BAD_REQUEST,
                                json!({"error": "bad_request", "message": message}),
                            )
                        }
                    };
                match action {
                    "policies/validate" => policy.validate(&proposed),
                    "policies/preview" => policy.preview(&proposed, client_ip).await,
                    _ => policy.apply(&proposed, &officer, client_ip).await,
                }
            }
            (&Method::POST, "policies/rollback") => {
                let to: policies::RollbackTo = match read_json_limited(body, MAX_ADMIN_BODY).await {
                    Ok(to) => to,
                    Err(message) => {
                        return reply(
                            StatusCode::BAD_REQUEST,
                            json!({"error": "bad_request", "message": message}),
                        )
                    }
                };
                policy.rollback(&to, &officer, client_ip).await
            }
            _ => (StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        };
        reply(status, body)
    }

    fn token_matches(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token_sha256 else {
            return false;
        };
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let presented = digest::digest(&digest::SHA256, token.trim().as_bytes());
        constant_time::verify_slices_are_equal(presented.as_ref(), expected).is_ok()
    }

    async fn unlock_user(&self, username: &str, client_ip: IpAddr, admin: &str) -> Response<Bytes> {
        match self.guard.unlock(username).await {
            Ok(was_locked) => {
                self.record(AuditEvent::Unlocked {
                    subject: LockoutSubject::User(username.to_string()),
                    admin: admin.into(),
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

    async fn unlock_ip(&self, ip: IpAddr, client_ip: IpAddr, admin: &str) -> Response<Bytes> {
        match self.guard.unlock_ip(ip).await {
            Ok(was_locked) => {
                self.record(AuditEvent::Unlocked {
                    subject: LockoutSubject::Ip(ip.to_string()),
                    admin: admin.into(),
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
    read_json_limited(body, MAX_ADMIN_BODY).await
}

async fn read_json_limited<T: serde::de::DeserializeOwned>(
    body: Incoming,
    limit: usize,
) -> Result<T, String> {
    let bytes = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

fn forbidden() -> Response<Bytes> {
    reply(StatusCode::FORBIDDEN, json!({"error": "forbidden"}))
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
