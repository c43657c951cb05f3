//! What is audited, and how each event maps onto the record's fixed fields.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::identity::AuthStrength;

/// What brute-force regulation locked: a username (as typed, lowercased) or a client network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum LockoutSubject {
    User(String),
    /// An IPv4 address or an IPv6 /64, e.g. `2001:db8:1:2::/64`.
    Ip(String),
}

impl fmt::Display for LockoutSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockoutSubject::User(user) => write!(f, "user {user}"),
            LockoutSubject::Ip(network) => write!(f, "ip {network}"),
        }
    }
}

/// Why a login failed, as a class: the password itself is never recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailureReason {
    BadCredentials,
    AccountDisabled,
    LockedOut,
    DirectoryUnavailable,
}

impl LoginFailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailureReason::BadCredentials => "bad_credentials",
            LoginFailureReason::AccountDisabled => "account_disabled",
            LoginFailureReason::LockedOut => "locked_out",
            LoginFailureReason::DirectoryUnavailable => "directory_unavailable",
        }
    }
}

/// One auditable event. `username` is the login name as typed (failed logins) or as the
/// directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    LoginSucceeded {
        username: String,
        client_ip: Option<IpAddr>,
        strength: AuthStrength,
    },
    LoginFailed {
        username: String,
        client_ip: Option<IpAddr>,
        reason: LoginFailureReason,
    },
    LoggedOut {
        username: String,
        client_ip: Option<IpAddr>,
    },
    LoggedOutEverywhere {
        username: String,
        client_ip: Option<IpAddr>,
    },
    /// Brute-force regulation locked a username or a client network.
    LockedOut {
        subject: LockoutSubject,
        /// When the lock ends (unix seconds).
        until: u64,
        client_ip: Option<IpAddr>,
    },
    /// An administrator lifted a lock.
    Unlocked {
        subject: LockoutSubject,
        admin: String,
        client_ip: Option<IpAddr>,
    },
    /// The access policies refused a request (the user sees only a 403 with the request id).
    AccessDenied {
        username: String,
        client_ip: Option<IpAddr>,
        /// `read`, `write`, `signin` or an administrative action.
        action: String,
        /// `Route::"app/class"`, `App::"app"` or `Gateway::"govgate"`.
        resource: String,
        method: String,
        path: String,
        /// The deciding forbid policies, or `default_deny`.
        reason: String,
        request_id: String,
    },
    /// A policy set was loaded (`outcome` success) or refused (failure: the set in force stays).
    PolicyReloaded {
        /// What triggered it: `startup`, `sighup`, `file_change`, `config`.
        trigger: String,
        /// The digest of the set in force after the attempt.
        version: String,
        ok: bool,
        /// Why a refused set was refused (first problems), or the number of policies loaded.
        detail: String,
    },
    /// A security officer changed the policy set through the API (apply or rollback).
    PolicyChanged {
        officer: String,
        client_ip: Option<IpAddr>,
        /// `apply` or `rollback`.
        change: String,
        from_version: String,
        to_version: String,
        /// Per file: the lines removed and added.
        diff: Value,
    },
    /// The OpenID Connect provider issued tokens (a code exchange, a refresh, client credentials).
    TokenIssued {
        /// The user, or the system client for client_credentials.
        subject: String,
        client_id: String,
        /// `authorization_code`, `refresh_token` or `client_credentials`.
        grant: String,
        scope: String,
        client_ip: Option<IpAddr>,
    },
    /// A grant (every token issued from one authorization) was revoked: a reused code or
    /// refresh token (a sign of theft), a client's revocation request, or a logout.
    GrantRevoked {
        subject: String,
        client_id: String,
        /// `code_reuse`, `refresh_reuse`, `revocation` or `logout`.
        reason: String,
        client_ip: Option<IpAddr>,
    },
    /// A signed document was verified: through the API (`via` = `api`) or by an app's
    /// signature guard (`via` = `guard:<app>`), which refuses it unless it passed.
    SignatureChecked {
        /// Who submitted it: the user, or `-` for a guard on a public app.
        actor: String,
        client_ip: Option<IpAddr>,
        via: String,
        /// SHA-256 of the document (hex), so the record names the file without holding it.
        document_sha256: String,
        /// `TOTAL_PASSED`, `TOTAL_FAILED` or `INDETERMINATE`.
        indication: String,
        /// The sub-indication, when it did not pass.
        sub_indication: Option<String>,
        /// The signers' subject names.
        signers: Vec<String>,
    },
}

/// The record fields an event determines (everything but seq, time and the hashes).
pub(crate) struct EventFields {
    pub event: &'static str,
    pub actor: Option<String>,
    pub client_ip: Option<String>,
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub details: Value,
}

impl AuditEvent {
    /// The record's `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            AuditEvent::LoginSucceeded { .. } => "login_succeeded",
            AuditEvent::LoginFailed { .. } => "login_failed",
            AuditEvent::LoggedOut { .. } => "logged_out",
            AuditEvent::LoggedOutEverywhere { .. } => "logged_out_everywhere",
            AuditEvent::LockedOut { .. } => "locked_out",
            AuditEvent::Unlocked { .. } => "unlocked",
            AuditEvent::AccessDenied { .. } => "access_denied",
            AuditEvent::PolicyReloaded { .. } => "policy_reloaded",
            AuditEvent::PolicyChanged { .. } => "policy_changed",
            AuditEvent::TokenIssued { .. } => "token_issued",
            AuditEvent::GrantRevoked { .. } => "grant_revoked",
            AuditEvent::SignatureChecked { .. } => "signature_checked",
        }
    }

    pub(crate) fn fields(&self) -> EventFields {
        let ip = |ip: &Option<IpAddr>| ip.map(|ip| ip.to_string());
        let fields =
            |actor: Option<&str>, client_ip, outcome, reason: Option<&str>, details| EventFields {
                event: self.name(),
                actor: actor.map(str::to_string),
                client_ip,
                outcome,
                reason: reason.map(str::to_string),
                details,
            };
        match self {
            AuditEvent::LoginSucceeded {
                username,
                client_ip,
                strength,
            } => fields(
                Some(username),
                ip(client_ip),
                "success",
                None,
                json!({ "strength": strength }),
            ),
            AuditEvent::LoginFailed {
                username,
                client_ip,
                reason,
            } => fields(
                Some(username),
                ip(client_ip),
                "failure",
                Some(reason.as_str()),
                json!({}),
            ),
            AuditEvent::LoggedOut {
                username,
                client_ip,
            }
            | AuditEvent::LoggedOutEverywhere {
                username,
                client_ip,
            } => fields(Some(username), ip(client_ip), "success", None, json!({})),
            AuditEvent::LockedOut {
                subject,
                until,
                client_ip,
            } => {
                let actor = match subject {
                    LockoutSubject::User(user) => Some(user.as_str()),
                    LockoutSubject::Ip(_) => None,
                };
                let details = json!({ "subject": subject, "until": until });
                fields(
                    actor,
                    ip(client_ip),
                    "blocked",
                    Some("too_many_failures"),
                    details,
                )
            }
            AuditEvent::Unlocked {
                subject,
                admin,
                client_ip,
            } => fields(
                Some(admin),
                ip(client_ip),
                "success",
                None,
                json!({ "subject": subject }),
            ),
            AuditEvent::AccessDenied {
                username,
                client_ip,
                action,
                resource,
                method,
                path,
                reason,
                request_id,
            } => fields(
                Some(username),
                ip(client_ip),
                "denied",
                Some(reason),
                json!({ "action": action, "resource": resource, "method": method, "path": path, "request_id": request_id }),
            ),
            AuditEvent::PolicyReloaded {
                trigger,
                version,
                ok,
                detail,
            } => fields(
                None,
                None,
                if *ok { "success" } else { "failure" },
                (!*ok).then_some("policy_set_refused"),
                json!({ "trigger": trigger, "version": version, "detail": detail }),
            ),
            AuditEvent::PolicyChanged {
                officer,
                client_ip,
                change,
                from_version,
                to_version,
                diff,
            } => fields(
                Some(officer),
                ip(client_ip),
                "success",
                None,
                json!({ "change": change, "from_version": from_version, "to_version": to_version, "diff": diff }),
            ),
            AuditEvent::TokenIssued {
                subject,
                client_id,
                grant,
                scope,
                client_ip,
            } => fields(
                Some(subject),
                ip(client_ip),
                "success",
                None,
                json!({ "client_id": client_id, "grant": grant, "scope": scope }),
            ),
            AuditEvent::GrantRevoked {
                subject,
                client_id,
                reason,
                client_ip,
            } => fields(
                Some(subject),
                ip(client_ip),
                "revoked",
                Some(reason),
                json!({ "client_id": client_id }),
            ),
            AuditEvent::SignatureChecked {
                actor,
                client_ip,
                via,
                document_sha256,
                indication,
                sub_indication,
                signers,
            } => fields(
                Some(actor),
                ip(client_ip),
                if indication == "TOTAL_PASSED" {
                    "success"
                } else {
                    "failure"
                },
                sub_indication.as_deref(),
                json!({ "via": via, "document_sha256": document_sha256, "indication": indication, "signers": signers }),
            ),
        }
    }
}
