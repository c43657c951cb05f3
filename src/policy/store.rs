//! The set in force, swapped whole and only for a set that compiled and passed its tests.
//!
//! Requests load the current engine with one atomic pointer read; a reload builds the next
//! engine off to the side and publishes it in one store, so a request sees the old set or the
//! new one, never a mix. The recent decisions (one per distinct class of request, as cache
//! misses) are kept across reloads for the impact preview.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::{ArcSwap, Guard};
use serde::Serialize;

use super::compile::{compile, KnownApp};
use super::diagnostics::Diagnostics;
use super::engine::PolicyEngine;
use super::request::{AccessRequest, AdminAction, Decision, Subject, Target};
use super::source::PolicySource;
use super::testcase::{run_tests, TestOutcome};
use super::PolicyError;
use crate::identity::{AuthStrength, Identity};

/// Recent distinct decisions kept for the impact preview.
pub const SAMPLE_CAPACITY: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Read(#[from] PolicyError),
    #[error("the policy set does not compile:\n{0}")]
    Invalid(Diagnostics),
    #[error("{} of the policy tests failed: {}", .0.len(), first_failure(.0))]
    TestsFailed(Vec<TestOutcome>),
}

fn first_failure(failed: &[TestOutcome]) -> String {
    failed
        .first()
        .map(|o| {
            format!(
                "{}:{}: {:?}: {}",
                o.case.file,
                o.case.line,
                o.case.name,
                o.failure.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default()
}

/// A decision the gateway made, kept to replay against a proposed set.
#[derive(Debug, Clone, Serialize)]
pub struct SampledRequest {
    pub username: String,
    pub display_name: String,
    pub department: Option<String>,
    pub groups: Vec<String>,
    pub group_dns: Vec<String>,
    pub app: Option<String>,
    /// `route`, `signin` or an administrative action.
    pub kind: String,
    pub method: String,
    pub path: String,
    pub ip: IpAddr,
    pub strength: AuthStrength,
    pub time: i64,
    pub signed: bool,
    pub allowed: bool,
}

impl SampledRequest {
    pub fn new(identity: &Identity, request: &AccessRequest<'_>, decision: &Decision) -> Self {
        let (app, kind) = match request.target {
            Target::Route { app } => (Some(app.to_string()), "route".to_string()),
            Target::SignIn { app } => (Some(app.to_string()), "signin".to_string()),
            Target::Admin(action) => (None, action.as_str().to_string()),
        };
        SampledRequest {
            username: identity.username.clone(),
            display_name: identity.display_name.clone(),
            department: identity.department.clone(),
            groups: identity.groups.clone(),
            group_dns: identity.group_dns.clone(),
            app,
            kind,
            method: request.method.to_string(),
            path: request.path.to_string(),
            ip: request.ip,
            strength: request.strength,
            time: request.time,
            signed: request.signed,
            allowed: decision.allowed,
        }
    }

    /// The same request against `engine` (whose roles map may differ from the one that decided).
    pub fn replay(&self, engine: &PolicyEngine) -> Decision {
        let target = match (self.kind.as_str(), self.app.as_deref()) {
            ("route", Some(app)) => Target::Route { app },
            ("signin", Some(app)) => Target::SignIn { app },
            (kind, _) => Target::Admin(AdminAction::parse(kind).unwrap_or(AdminAction::PolicyRead)),
        };
        let request = AccessRequest {
            subject: Subject {
                kind: crate::policy::PrincipalKind::User,
                username: &self.username,
                display_name: &self.display_name,
                department: self.department.as_deref(),
                roles: engine.set().roles.for_group_list(
                    self.groups
                        .iter()
                        .chain(&self.group_dns)
                        .map(String::as_str),
                ),
            },
            target,
            method: &self.method,
            path: &self.path,
            ip: self.ip,
            strength: self.strength,
            time: self.time,
            signed: self.signed,
        };
        engine.evaluate(&request)
    }
}

/// What the files of a policies directory looked like, to notice edits without reading them.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

pub struct PolicyStore {
    dir: PathBuf,
    apps: Mutex<Vec<KnownApp>>,
    active: ArcSwap<PolicyEngine>,
    /// Serialises reloads and API applies, so the watcher never reads a half-written set.
    reload: Mutex<Fingerprint>,
    samples: Mutex<VecDeque<SampledRequest>>,
}

impl PolicyStore {
    /// Reads, compiles and tests the set in `dir`; the gateway does not start without one.
    pub fn open(dir: &Path, apps: Vec<KnownApp>) -> Result<PolicyStore, ReloadError> {
        let fingerprint = fingerprint(dir);
        let engine = prepare(&PolicySource::read_dir(dir)?, &apps)?;
        Ok(PolicyStore {
            dir: dir.to_path_buf(),
            apps: Mutex::new(apps),
            active: ArcSwap::from_pointee(engine),
            reload: Mutex::new(fingerprint),
            samples: Mutex::new(VecDeque::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine in force (one atomic load; hold it for the request).
    pub fn engine(&self) -> Guard<Arc<PolicyEngine>> {
        self.active.load()
    }

    pub fn current(&self) -> Arc<PolicyEngine> {
        self.active.load_full()
    }

    /// The apps the gateway serves changed (configuration reload): recompile the set in force.
    pub fn set_apps(&self, apps: Vec<KnownApp>) -> Result<Option<Arc<PolicyEngine>>, ReloadError> {
        *self.apps.lock().unwrap_or_else(|p| p.into_inner()) = apps;
        let _held = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        let source = self.current().set().source.clone();
        self.install(&source).map(Some)
    }

    /// Whether the directory's files changed since the set in force was read.
    pub fn changed_on_disk(&self) -> bool {
        let seen = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        *seen != fingerprint(&self.dir)
    }

    /// Re-reads the directory; a set that differs from the one in force and passes every
    /// check and test replaces it. `Ok(None)`: nothing changed.
    pub fn reload_from_dir(&self) -> Result<Option<Arc<PolicyEngine>>, ReloadError> {
        let mut seen = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        *seen = fingerprint(&self.dir);
        let source = PolicySource::read_dir(&self.dir)?;
        if source.digest() == self.current().version() {
            return Ok(None);
        }
        self.install(&source).map(Some)
    }

    /// Checks a proposed set exactly as a reload would, without installing it.
    pub fn check(&self, source: &PolicySource) -> Result<PolicyEngine, ReloadError> {
        prepare(source, &self.known_apps())
    }

    /// Installs a proposed set (after the same checks) and writes it to the directory.
    pub fn apply(&self, source: &PolicySource) -> Result<Arc<PolicyEngine>, ReloadError> {
        let mut seen = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        let engine = Arc::new(self.check(source)?);
        source.write_to(&self.dir)?;
        *seen = fingerprint(&self.dir);
        self.active.store(engine.clone());
        Ok(engine)
    }

    fn install(&self, source: &PolicySource) -> Result<Arc<PolicyEngine>, ReloadError> {
        let engine = Arc::new(self.check(source)?);
        self.active.store(engine.clone());
        Ok(engine)
    }

    fn known_apps(&self) -> Vec<KnownApp> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps a decision for the impact preview (the oldest goes when full).
    pub fn sample(&self, sample: SampledRequest) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() >= SAMPLE_CAPACITY {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    pub fn samples(&self) -> Vec<SampledRequest> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// Compiles `source` and runs its test tables: an engine only for a set that passes them all.
pub fn prepare(source: &PolicySource, apps: &[KnownApp]) -> Result<PolicyEngine, ReloadError> {
    let set = compile(source, apps).map_err(ReloadError::Invalid)?;
    let tests = set.tests.clone();
    let engine = PolicyEngine::new(set);
    let failed: Vec<TestOutcome> = run_tests(&engine, &tests)
        .into_iter()
        .filter(|o| !o.passed())
        .collect();
    if failed.is_empty() {
        Ok(engine)
    } else {
        Err(ReloadError::TestsFailed(failed))
    }
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut seen = Vec::new();
    for folder in [dir.to_path_buf(), dir.join(super::source::TESTS_DIR)] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(meta) = entry.metadata() {
                if meta.is_file() {
                    seen.push((entry.path(), meta.len(), meta.modified().ok()));
                }
            }
        }
    }
    seen.sort();
    seen
}
