//! The policy API for security officers (JSON under `/.govgate/admin/policies`):
//!
//! | request | needs | does |
//! |---|---|---|
//! | `GET policies` | `policy_read` | the set in force: version, files, policies, warnings |
//! | `POST policies/validate` | `policy_read` | compile + run the test tables of a proposed set |
//! | `POST policies/preview` | `policy_read` | impact: what becomes allowed / denied |
//! | `POST policies/apply` | `policy_write` | validate, write atomically, reload, new version |
//! | `GET policies/versions` | `policy_read` | the versions kept |
//! | `POST policies/rollback` | `policy_write` | apply a kept version again |
//!
//! A proposed set is `{"files": {"name": "text", …}}` with every file of the set. Officers are
//! the break-glass admin token or a logged-in user whom the policies grant the action.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::versions::VersionStore;
use crate::audit::{AuditEvent, AuditLog};
use crate::directory::SharedDirectory;
use crate::identity::{AuthStrength, Identity};
use crate::policy::{
    AccessRequest, Decision, PolicyEngine, PolicySource, PolicyStore, ReloadError, SampledRequest,
    Subject, Target,
};

/// Directory users enumerated at most for a preview.
const MAX_PREVIEW_USERS: usize = 5_000;
/// Changes listed at most in a preview answer (the counts are always complete).
const MAX_LISTED_CHANGES: usize = 1_000;

pub struct PolicyAdmin {
    pub store: Arc<PolicyStore>,
    pub directory: Option<SharedDirectory>,
    pub versions: VersionStore,
    pub audit: AuditLog,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposedSet {
    files: BTreeMap<String, String>,
    /// Apply only if the set in force still has this version (optimistic concurrency).
    #[serde(default)]
    expected_version: Option<String>,
    /// Preview: the context every enumerated user × app × route class is decided in.
    #[serde(default)]
    context: Option<PreviewContext>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewContext {
    #[serde(default)]
    ip: Option<IpAddr>,
    #[serde(default)]
    strength: Option<AuthStrength>,
    #[serde(default)]
    time: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackTo {
    version: String,
}

/// One decision that changes between the set in force and a proposed one.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub username: String,
    pub app: Option<String>,
    pub action: String,
    pub resource: String,
    pub method: String,
    pub path: String,
    /// `sampled` (a recent real decision) or `directory` (every user × app × route class).
    pub source: &'static str,
    /// Whether the proposed set allows it (it was the opposite before).
    pub allowed: bool,
    /// The policies that decide under the proposed set (`default_deny` when none applies).
    pub policies: Vec<String>,
}

/// An API answer: status code and JSON body.
pub type Answer = (http::StatusCode, Value);

fn bad_request(message: impl Into<String>) -> Answer {
    (
        http::StatusCode::BAD_REQUEST,
        json!({"error": "bad_request", "message": message.into()}),
    )
}

impl PolicyAdmin {
    pub fn current(&self) -> Answer {
        let engine = self.store.current();
        let set = engine.set();
        let files: BTreeMap<&str, &str> = set.source.files().collect();
        (
            http::StatusCode::OK,
            json!({
                "version": set.version,
                "files": files,
                "policies": set.policies.iter().map(|(_, info)| info).collect::<Vec<_>>(),
                "warnings": set.warnings,
                "tests": set.tests.len(),
            }),
        )
    }

    pub fn validate(&self, proposed: &ProposedSet) -> Answer {
        let source = match source_of(proposed) {
            Ok(source) => source,
            Err(answer) => return answer,
        };
        match self.store.check(&source) {
            Ok(engine) => (
                http::StatusCode::OK,
                json!({
                    "ok": true,
                    "version": engine.version(),
                    "diagnostics": engine.set().warnings,
                    "tests": {"passed": engine.set().tests.len(), "failed": []},
                }),
            ),
            Err(error) => (http::StatusCode::OK, refusal_json(&error)),
        }
    }

    pub async fn preview(&self, proposed: &ProposedSet, caller_ip: IpAddr) -> Answer {
        let source = match source_of(proposed) {
            Ok(source) => source,
            Err(answer) => return answer,
        };
        let proposed_engine = match self.store.check(&source) {
            Ok(engine) => engine,
            Err(error) => return (http::StatusCode::OK, refusal_json(&error)),
        };
        let current = self.store.current();
        let context = match preview_context(proposed.context.as_ref(), caller_ip) {
            Ok(context) => context,
            Err(message) => return bad_request(message),
        };
        let mut changes = Vec::new();
        let samples = self.store.samples();
        for sample in &samples {
            let (before, after) = (sample.replay(&current), sample.replay(&proposed_engine));
            if before.allowed != after.allowed {
                changes.push(change(sample_view(sample), "sampled", &after));
            }
        }
        let users = match &self.directory {
            Some(directory) => match directory.list_users(MAX_PREVIEW_USERS).await {
                Ok(users) => users,
                Err(error) => {
                    return (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        json!({"error": "directory_unavailable", "message": error.to_string()}),
                    )
                }
            },
            None => Vec::new(),
        };
        let enumerated = enumerate(&users, &current, &proposed_engine, &context, &mut changes);
        changes.sort();
        changes.dedup();
        let (allowed, denied): (Vec<Change>, Vec<Change>) =
            changes.into_iter().partition(|c| c.allowed);
        let counts = json!({"newly_allowed": allowed.len(), "newly_denied": denied.len()});
        (
            http::StatusCode::OK,
            json!({
                "ok": true,
                "from_version": current.version(),
                "to_version": proposed_engine.version(),
                "sampled_decisions": samples.len(),
                "directory_users": users.len(),
                "enumerated_decisions": enumerated,
                "counts": counts,
                "newly_allowed": truncate(allowed),
                "newly_denied": truncate(denied),
            }),
        )
    }

    pub async fn apply(&self, proposed: &ProposedSet, officer: &str, client_ip: IpAddr) -> Answer {
        let source = match source_of(proposed) {
            Ok(source) => source,
            Err(answer) => return answer,
        };
        let before = self.store.current();
        if let Some(expected) = &proposed.expected_version {
            if expected != before.version() {
                return (
                    http::StatusCode::CONFLICT,
                    json!({"error": "version_conflict", "in_force": before.version()}),
                );
            }
        }
        self.install(&before, source, officer, client_ip, "apply")
            .await
    }

    pub async fn rollback(&self, to: &RollbackTo, officer: &str, client_ip: IpAddr) -> Answer {
        let Some((_, source)) = self.versions.load(&to.version) else {
            return (
                http::StatusCode::NOT_FOUND,
                json!({"error": "unknown_version", "message": "give a kept version's digest (at least 8 hex digits)"}),
            );
        };
        let before = self.store.current();
        self.install(&before, source, officer, client_ip, "rollback")
            .await
    }

    pub fn versions(&self) -> Answer {
        (
            http::StatusCode::OK,
            json!({"in_force": self.store.current().version(), "versions": self.versions.list()}),
        )
    }

    async fn install(
        &self,
        before: &PolicyEngine,
        source: PolicySource,
        officer: &str,
        client_ip: IpAddr,
        change: &str,
    ) -> Answer {
        // The set in force before the first change is kept too, so it can be rolled back to.
        if self.versions.list().is_empty() {
            if let Err(error) = self
                .versions
                .record(&before.set().source, "gateway", "initial")
            {
                return storage_failed(&error.to_string());
            }
        }
        let engine = match self.store.apply(&source) {
            Ok(engine) => engine,
            Err(ReloadError::Read(error)) => return storage_failed(&error.to_string()),
            Err(error) => return (http::StatusCode::UNPROCESSABLE_ENTITY, refusal_json(&error)),
        };
        let kept = self.versions.record(&source, officer, change);
        let diff = serde_json::to_value(source.diff_from(&before.set().source)).unwrap_or_default();
        let event = AuditEvent::PolicyChanged {
            officer: officer.to_string(),
            client_ip: Some(client_ip),
            change: change.to_string(),
            from_version: before.version().to_string(),
            to_version: engine.version().to_string(),
            diff,
        };
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit record of a policy change not written");
        }
        tracing::info!(
            officer,
            change,
            version = engine.version(),
            "access policies changed through the API"
        );
        (
            http::StatusCode::OK,
            json!({
                "ok": true,
                "version": engine.version(),
                "seq": kept.ok().map(|v| v.seq),
                "warnings": engine.set().warnings,
            }),
        )
    }
}

fn source_of(proposed: &ProposedSet) -> Result<PolicySource, Answer> {
    let mut source = PolicySource::new();
    for (name, text) in &proposed.files {
        source
            .insert(name, text.clone())
            .map_err(|e| bad_request(e.to_string()))?;
    }
    Ok(source)
}

/// Why a proposed set would be refused: located diagnostics, or the failing test cases.
fn refusal_json(error: &ReloadError) -> Value {
    match error {
        ReloadError::Invalid(diagnostics) => {
            json!({"ok": false, "error": "invalid", "diagnostics": diagnostics.diagnostics})
        }
        ReloadError::TestsFailed(failed) => json!({
            "ok": false,
            "error": "tests_failed",
            "tests": {"failed": failed.iter().map(|o| json!({
                "file": o.case.file, "line": o.case.line, "name": o.case.name,
                "failure": o.failure, "decision": o.decision,
            })).collect::<Vec<_>>()},
        }),
        ReloadError::Read(error) => {
            json!({"ok": false, "error": "read", "message": error.to_string()})
        }
    }
}

fn storage_failed(message: &str) -> Answer {
    tracing::error!(message, "policy files could not be written");
    (
        http::StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "storage_failed", "message": message}),
    )
}

/// The context enumerated decisions are made in.
struct Context {
    ip: IpAddr,
    strength: AuthStrength,
    time: i64,
}

fn preview_context(given: Option<&PreviewContext>, caller_ip: IpAddr) -> Result<Context, String> {
    let time = match given.and_then(|c| c.time.as_deref()) {
        Some(text) => crate::policy::clock::parse_rfc3339(text)
            .ok_or_else(|| format!("context.time {text:?} is not an RFC 3339 timestamp"))?,
        None => crate::policy::clock::now_unix(),
    };
    Ok(Context {
        ip: given.and_then(|c| c.ip).unwrap_or(caller_ip),
        strength: given
            .and_then(|c| c.strength)
            .unwrap_or(AuthStrength::Password),
        time,
    })
}

/// Every user × app × route class × (read, write) and every user × app sign-in, decided by
/// both sets; the differences are pushed to `changes`. Returns how many pairs were compared.
fn enumerate(
    users: &[Identity],
    current: &PolicyEngine,
    proposed: &PolicyEngine,
    context: &Context,
    changes: &mut Vec<Change>,
) -> usize {
    let mut compared = 0;
    let routes = proposed.set().routes.apps();
    for user in users {
        for app in routes {
            for class in &app.classes {
                let path = class.path();
                let methods: Vec<&str> = match &class.methods {
                    Some(methods) => methods.iter().map(String::as_str).collect(),
                    None => vec!["GET", "POST"],
                };
                for method in methods {
                    let target = Target::Route { app: &app.id };
                    compared += 1;
                    compare(
                        user, target, method, path, current, proposed, context, changes,
                    );
                }
            }
            compared += 1;
            let target = Target::SignIn { app: &app.id };
            compare(
                user, target, "GET", "/", current, proposed, context, changes,
            );
        }
    }
    compared
}

#[allow(clippy::too_many_arguments)]
fn compare(
    user: &Identity,
    target: Target<'_>,
    method: &str,
    path: &str,
    current: &PolicyEngine,
    proposed: &PolicyEngine,
    context: &Context,
    changes: &mut Vec<Change>,
) {
    let ask = |engine: &PolicyEngine| {
        engine.evaluate(&AccessRequest {
            subject: Subject {
                kind: crate::policy::PrincipalKind::User,
                username: &user.username,
                display_name: &user.display_name,
                department: user.department.as_deref(),
                roles: engine.subject(user).roles,
            },
            target,
            method,
            path,
            ip: context.ip,
            strength: context.strength,
            time: context.time,
            signed: false,
        })
    };
    let (before, after) = (ask(current), ask(proposed));
    if before.allowed != after.allowed {
        let app = match target {
            Target::Route { app } | Target::SignIn { app } => Some(app.to_string()),
            Target::Admin(_) => None,
        };
        let view = ChangeView {
            username: user.username.clone(),
            app,
            method: method.to_string(),
            path: path.to_string(),
        };
        changes.push(change(view, "directory", &after));
    }
}

struct ChangeView {
    username: String,
    app: Option<String>,
    method: String,
    path: String,
}

fn sample_view(sample: &SampledRequest) -> ChangeView {
    ChangeView {
        username: sample.username.clone(),
        app: sample.app.clone(),
        method: sample.method.clone(),
        path: sample.path.clone(),
    }
}

fn change(view: ChangeView, source: &'static str, after: &Decision) -> Change {
    Change {
        username: view.username,
        app: view.app,
        action: after.action.to_string(),
        resource: after.resource.clone(),
        method: view.method,
        path: view.path,
        source,
        allowed: after.allowed,
        policies: if after.policies.is_empty() {
            vec![after.reason()]
        } else {
            after.policies.clone()
        },
    }
}

fn truncate(mut changes: Vec<Change>) -> Vec<Change> {
    changes.truncate(MAX_LISTED_CHANGES);
    changes
}
