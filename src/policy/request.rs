//! What a decision is asked about, and what it answers.

use std::net::IpAddr;

use serde::Serialize;

use super::roles::RoleBits;
use crate::identity::AuthStrength;

/// Who is asking, with roles already resolved against the engine's `roles.toml`
/// (see [`PolicyEngine::subject`](super::PolicyEngine::subject)).
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// A person (`User::"…"`) or a system client (`Client::"…"`).
    pub kind: PrincipalKind,
    pub username: &'a str,
    pub display_name: &'a str,
    pub department: Option<&'a str>,
    pub roles: RoleBits,
}

/// Which entity type the principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PrincipalKind {
    /// A civil servant from the directory.
    #[default]
    User,
    /// An OIDC client acting for itself (client_credentials, a system's bearer token).
    Client,
}

/// The administrative actions of security officers and IT administrators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    PolicyRead,
    PolicyWrite,
    SessionAdmin,
    AuditRead,
    /// Verify signed documents through `POST /api/v1/signatures/verify`.
    SignatureVerify,
}

impl AdminAction {
    pub const ALL: [AdminAction; 5] = [
        AdminAction::PolicyRead,
        AdminAction::PolicyWrite,
        AdminAction::SessionAdmin,
        AdminAction::AuditRead,
        AdminAction::SignatureVerify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::PolicyRead => "policy_read",
            AdminAction::PolicyWrite => "policy_write",
            AdminAction::SessionAdmin => "session_admin",
            AdminAction::AuditRead => "audit_read",
            AdminAction::SignatureVerify => "signature_verify",
        }
    }

    pub fn parse(name: &str) -> Option<AdminAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// What the subject wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// A request to an app route; the action (read/write) follows from the route class.
    Route { app: &'a str },
    /// Signing in to an app by OpenID Connect (and seeing it in the launcher).
    SignIn { app: &'a str },
    /// An administrative action on the gateway itself.
    Admin(AdminAction),
}

/// One question for the engine.
#[derive(Debug, Clone)]
pub struct AccessRequest<'a> {
    pub subject: Subject<'a>,
    pub target: Target<'a>,
    /// Upper case.
    pub method: &'a str,
    pub path: &'a str,
    pub ip: IpAddr,
    pub strength: AuthStrength,
    /// Unix seconds.
    pub time: i64,
    pub signed: bool,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The policies that decided: the permits that allowed, or the forbids that denied.
    /// Empty on a deny means no permit applied (default deny).
    pub policies: Vec<String>,
    /// Policies that could not be evaluated (they count as not applying).
    pub errors: Vec<String>,
    /// `read`, `write`, `signin` or an administrative action.
    pub action: &'static str,
    /// `Route::"app/class"`, `App::"app"` or `Gateway::"govgate"`.
    pub resource: String,
    /// The route class, for route requests.
    pub route_class: Option<String>,
}

impl Decision {
    /// The reason for an audit record: the deciding policies, or `default_deny`.
    pub fn reason(&self) -> String {
        if self.policies.is_empty() {
            if self.allowed {
                "allowed".into()
            } else {
                "default_deny".into()
            }
        } else {
            self.policies.join(",")
        }
    }
}
