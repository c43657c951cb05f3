//! Test tables (`tests/*.toml`): officers state what must be allowed and denied; a set whose
//! tables fail never takes effect.
//!
//! ```toml
//! [[case]]
//! name = "chuyên viên đọc hồ sơ"
//! groups = ["chuyen-vien"]        # or roles = [...]
//! app = "mot-cua"
//! method = "GET"
//! path = "/mot-cua/ho-so/1"
//! ip = "10.20.1.5"
//! strength = "password"
//! time = "2026-01-05T10:00:00+07:00"
//! expect = "allow"
//! ```

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::clock::parse_rfc3339;
use super::diagnostics::{Diagnostic, Position};
use super::engine::{subject_with_roles, PolicyEngine};
use super::request::{AccessRequest, AdminAction, Decision, Target};
use crate::identity::AuthStrength;

/// Monday 2026-01-05 10:00 in Hà Nội: the default time of a case, inside office hours.
pub const DEFAULT_TEST_TIME: &str = "2026-01-05T10:00:00+07:00";
/// The default client address of a case, inside the provincial network.
pub const DEFAULT_TEST_IP: &str = "10.0.0.10";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Allow,
    Deny,
}

/// One case of a test table, resolved (defaults filled in, time parsed).
#[derive(Debug, Clone, Serialize)]
pub struct TestCase {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub user: String,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub department: Option<String>,
    pub app: Option<String>,
    pub action: Option<String>,
    pub method: String,
    pub path: String,
    pub ip: IpAddr,
    pub strength: AuthStrength,
    pub time: i64,
    pub signed: bool,
    pub expect: Expect,
    pub policies: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    case: Vec<toml::Spanned<CaseEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseEntry {
    name: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    ip: Option<IpAddr>,
    #[serde(default)]
    strength: Option<AuthStrength>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    signed: bool,
    expect: Expect,
    #[serde(default)]
    policies: Option<Vec<String>>,
}

/// Parses one test file; problems go to `diagnostics`, good cases are returned.
pub fn parse_test_file(file: &str, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<TestCase> {
    let parsed: TestFile = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(error) => {
            let at = Position::of_offset(text, error.span().map_or(0, |s| s.start));
            diagnostics.push(Diagnostic::error(file, at, error.message().trim()));
            return Vec::new();
        }
    };
    let mut cases = Vec::new();
    for spanned in parsed.case {
        let at = Position::of_offset(text, spanned.span().start);
        let entry = spanned.into_inner();
        let mut problem = |message: String| {
            diagnostics.push(Diagnostic::error(
                file,
                at,
                format!("case {:?}: {message}", entry.name),
            ));
        };
        let time = entry.time.as_deref().unwrap_or(DEFAULT_TEST_TIME);
        let Some(time) = parse_rfc3339(time) else {
            problem(format!(
                "time {time:?} is not an RFC 3339 timestamp such as {DEFAULT_TEST_TIME}"
            ));
            continue;
        };
        let admin = entry.action.as_deref().and_then(AdminAction::parse);
        match (&entry.action, &entry.app, admin) {
            (Some(action), _, None) if action != "signin" => {
                problem(format!(
                    "action {action:?} is not signin or an administrative action ({})",
                    AdminAction::ALL.map(AdminAction::as_str).join(", ")
                ));
                continue;
            }
            (_, None, None) => {
                problem("app is required (except for administrative actions)".into());
                continue;
            }
            _ => {}
        }
        cases.push(TestCase {
            file: file.to_string(),
            line: at.line,
            name: entry.name,
            user: entry.user.unwrap_or_else(|| "test-user".into()),
            groups: entry.groups,
            roles: entry.roles,
            department: entry.department,
            app: entry.app,
            action: entry.action,
            method: entry
                .method
                .unwrap_or_else(|| "GET".into())
                .to_ascii_uppercase(),
            path: entry.path.unwrap_or_else(|| "/".into()),
            ip: entry
                .ip
                .unwrap_or_else(|| DEFAULT_TEST_IP.parse().expect("valid default")),
            strength: entry.strength.unwrap_or(AuthStrength::Password),
            time,
            signed: entry.signed,
            expect: entry.expect,
            policies: entry.policies,
        });
    }
    cases
}

/// What one case gave.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub case: TestCase,
    pub decision: Option<Decision>,
    /// Why it failed; `None` = passed.
    pub failure: Option<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs `cases` against `engine` (fresh evaluations, never the cache).
pub fn run_tests(engine: &PolicyEngine, cases: &[TestCase]) -> Vec<TestOutcome> {
    cases.iter().map(|case| run_case(engine, case)).collect()
}

fn run_case(engine: &PolicyEngine, case: &TestCase) -> TestOutcome {
    let fail = |failure: String, decision: Option<Decision>| TestOutcome {
        case: case.clone(),
        decision,
        failure: Some(failure),
    };
    let subject = match subject_with_roles(
        engine,
        &case.user,
        case.department.as_deref(),
        &case.roles,
        &case.groups,
    ) {
        Ok(subject) => subject,
        Err(message) => return fail(message, None),
    };
    let target = match (case.action.as_deref(), case.app.as_deref()) {
        (Some("signin"), Some(app)) => Target::SignIn { app },
        (Some(action), _) => match AdminAction::parse(action) {
            Some(admin) => Target::Admin(admin),
            None => return fail(format!("unknown action {action:?}"), None),
        },
        (None, Some(app)) => Target::Route { app },
        (None, None) => return fail("no app".into(), None),
    };
    let request = AccessRequest {
        subject,
        target,
        method: &case.method,
        path: &case.path,
        ip: case.ip,
        strength: case.strength,
        time: case.time,
        signed: case.signed,
    };
    let decision = engine.evaluate(&request);
    let got = if decision.allowed {
        Expect::Allow
    } else {
        Expect::Deny
    };
    if got != case.expect {
        let by = if decision.policies.is_empty() {
            "no permit applied (default deny)".to_string()
        } else {
            format!("decided by {}", decision.policies.join(", "))
        };
        return fail(
            format!("expected {:?}, got {got:?}: {by}", case.expect).to_lowercase(),
            Some(decision),
        );
    }
    if let Some(expected) = &case.policies {
        let mut expected = expected.clone();
        expected.sort();
        if expected != decision.policies {
            return fail(
                format!(
                    "expected the deciding policies [{}], got [{}]",
                    expected.join(", "),
                    decision.policies.join(", ")
                ),
                Some(decision),
            );
        }
    }
    TestOutcome {
        case: case.clone(),
        decision: Some(decision),
        failure: None,
    }
}
