//! Reloading the access policies: on SIGHUP, when the directory's files change, and when the
//! configuration's apps change. A set that does not compile or fails a test table is refused:
//! the set in force stays, and the refusal is logged, counted and audited.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditEvent, AuditLog};
use crate::metrics::Metrics;
use crate::policy::{PolicyEngine, PolicyStore, ReloadError};

use super::login::first_lines;

pub struct PolicyReloader {
    pub store: Arc<PolicyStore>,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
}

impl PolicyReloader {
    /// Re-reads the policies directory (`trigger` names why, for the audit record).
    pub async fn reload(&self, trigger: &str) {
        let outcome = self.store.reload_from_dir();
        self.settle(trigger, outcome).await;
    }

    /// The gateway's apps changed: recompile the set in force against them.
    pub async fn apps_changed(&self, apps: Vec<crate::policy::KnownApp>) {
        let outcome = self.store.set_apps(apps);
        self.settle("config", outcome).await;
    }

    /// Polls the directory every `interval` and reloads when a file changed.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        if interval.is_zero() {
            return;
        }
        loop {
            tokio::time::sleep(interval).await;
            if self.store.changed_on_disk() {
                self.reload("file_change").await;
            }
        }
    }

    async fn settle(&self, trigger: &str, outcome: Result<Option<Arc<PolicyEngine>>, ReloadError>) {
        let event = match outcome {
            Ok(None) => return,
            Ok(Some(engine)) => {
                tracing::info!(
                    trigger,
                    version = engine.version(),
                    policies = engine.set().policies.len(),
                    "access policies reloaded"
                );
                for warning in &engine.set().warnings {
                    tracing::warn!(%warning, "access policy warning");
                }
                self.metrics.policy.set_version(engine.version());
                AuditEvent::PolicyReloaded {
                    trigger: trigger.into(),
                    version: engine.version().to_string(),
                    ok: true,
                    detail: format!("{} policies", engine.set().policies.len()),
                }
            }
            Err(error) => {
                tracing::error!(trigger, %error, "access policies not reloaded; the set in force stays");
                AuditEvent::PolicyReloaded {
                    trigger: trigger.into(),
                    version: self.store.current().version().to_string(),
                    ok: false,
                    detail: first_lines(&error.to_string()),
                }
            }
        };
        let ok = matches!(&event, AuditEvent::PolicyReloaded { ok: true, .. });
        self.metrics.policy.record_reload(ok);
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit record of the policy reload not written");
        }
    }
}
