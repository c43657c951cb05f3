//! `govgate policy …`: the security officer's tools for the access policies — check a set,
//! run its test tables, explain one decision, format the `.cedar` files.
//!
//! Exit statuses: 0 good; 1 for I/O problems (and failed tests); 2 when the set does not
//! compile (or `fmt` meets a file it cannot parse); `explain` exits 3 on a deny.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use crate::config;
use crate::identity::AuthStrength;
use crate::policy::clock::{now_unix, parse_rfc3339};
use crate::policy::explain::{explain, Explanation, PolicyView};
use crate::policy::{
    compile, format_policies, is_policy_file_name, parse_test_file, run_tests, subject_with_roles,
    AccessRequest, AdminAction, CompiledSet, Diagnostic, Expect, KnownApp, PolicyEngine,
    PolicySource, Position, Severity, Target, TestCase, TestOutcome, DEFAULT_TEST_IP, TESTS_DIR,
};

/// `println!` that ignores a closed stdout (`govgate policy explain … | head`) instead of
/// panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The policies directory used when neither DIR nor `[policy] dir` of --config names one.
const DEFAULT_DIR: &str = "policies";

/// Tests failed (also: I/O problems, bad arguments).
const EXIT_FAILED: u8 = 1;
/// The set does not compile, or a file cannot be parsed.
const EXIT_INVALID: u8 = 2;
/// `explain`: the request is denied.
const EXIT_DENIED: u8 = 3;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Kiểm tra — parse and strictly validate a policy set against its schema.
    ///
    /// Prints every problem as `file:line:column: error|warning: message`, then a summary.
    /// Exit status: 0 without errors (warnings allowed), 2 with errors (or warnings, with
    /// --deny-warnings), 1 when the files cannot be read.
    Check {
        #[command(flatten)]
        set: SetArgs,
        /// Treat warnings as errors (exit 2 when there are any).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Chạy kiểm thử — run the test tables of a policy set.
    ///
    /// Runs every case of DIR/tests/*.toml, or only those of the test files given (which may
    /// live outside DIR). Prints each failing case with where it is written, what it expected,
    /// what it got and the deciding policies, then a summary. Exit status: 0 when every case
    /// passes, 1 when any fails (or a file cannot be read), 2 when the set does not compile.
    Test {
        /// A policies directory (at most one) and/or test table files (`*.toml`) to run instead
        /// of DIR/tests/*.toml. DIR defaults to `[policy] dir` of --config, else ./policies.
        #[arg(value_name = "DIR|FILE")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Giải thích — decide one request and explain why.
    ///
    /// Prints ALLOW or DENY, the action, resource and route class, and the deciding policies
    /// with where they are written. For a default deny (no permit applies), it lists the
    /// permits that came closest and the parts of them the request does not meet.
    /// Exit status: 0 on allow, 3 on deny, 2 when the set does not compile, 1 on bad input.
    Explain(Box<ExplainArgs>),
    /// Định dạng — format every DIR/*.cedar with Cedar's formatter (comments kept).
    ///
    /// Rewrites changed files in place (each atomically: a temporary file renamed over it).
    /// With --check, writes nothing and lists the files that would change. A file that does
    /// not parse is reported and left untouched. Exit status: 0 when done (or, with --check,
    /// nothing would change), 1 when --check finds files to reformat, 2 when a file does not
    /// parse.
    Fmt {
        /// The policies directory.
        #[arg(value_name = "DIR", default_value = DEFAULT_DIR)]
        dir: PathBuf,
        /// Change nothing; list the files that are not formatted and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
}

/// Which policy set: a directory, and the gateway configuration that knows the apps.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The policies directory [default: `[policy] dir` of --config, else ./policies].
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// govgate.toml: supplies the policies directory (`[policy] dir`) and the apps the
    /// gateway serves (app ids may then be used without route classes).
    #[arg(short, long, value_name = "FILE", env = "GOVGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The user's login name.
    #[arg(long, value_name = "USER")]
    user: String,
    /// Directory groups, mapped to roles by roles.toml (comma-separated).
    #[arg(long, value_name = "G1,G2", value_delimiter = ',')]
    groups: Vec<String>,
    /// Roles of roles.toml, given directly (comma-separated).
    #[arg(long, value_name = "R1,R2", value_delimiter = ',')]
    roles: Vec<String>,
    /// The user's department (phòng ban / đơn vị).
    #[arg(long, value_name = "D")]
    department: Option<String>,
    /// The app's id (required except for administrative actions).
    #[arg(long, value_name = "APP")]
    app: Option<String>,
    /// The HTTP method.
    #[arg(long, value_name = "M", default_value = "GET")]
    method: String,
    /// The request path, including the app's mount path.
    #[arg(long, value_name = "P", default_value = "/")]
    path: String,
    /// The client address.
    #[arg(long, value_name = "IP", default_value = DEFAULT_TEST_IP)]
    ip: IpAddr,
    /// How the user logged in.
    #[arg(long, value_enum, default_value_t = Strength::Password)]
    strength: Strength,
    /// When the request is made, RFC 3339 (e.g. 2026-01-05T10:00:00+07:00) [default: now].
    #[arg(long, value_name = "RFC3339")]
    time: Option<String>,
    /// The request carries a signature the gateway verified.
    #[arg(long)]
    signed: bool,
    /// What is asked instead of an app route: `signin` (to --app), or an administrative
    /// action: policy_read, policy_write, session_admin, audit_read, signature_verify.
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Print the explanation as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    set: SetArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Strength {
    #[value(name = "password")]
    Password,
    #[value(name = "second_factor")]
    SecondFactor,
    #[value(name = "certificate")]
    Certificate,
}

impl From<Strength> for AuthStrength {
    fn from(strength: Strength) -> AuthStrength {
        match strength {
            Strength::Password => AuthStrength::Password,
            Strength::SecondFactor => AuthStrength::SecondFactor,
            Strength::Certificate => AuthStrength::Certificate,
        }
    }
}

pub fn run(command: &PolicyCommand) -> ExitCode {
    let outcome = match command {
        PolicyCommand::Check { set, deny_warnings } => check(set, *deny_warnings),
        PolicyCommand::Test { paths, config } => test(paths, config),
        PolicyCommand::Explain(args) => explain_command(args),
        PolicyCommand::Fmt { dir, check } => fmt(dir, *check),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("govgate: {error:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// A policy set read from its directory, with the apps of the configuration.
struct Loaded {
    dir: PathBuf,
    apps: Vec<KnownApp>,
    source: PolicySource,
}

impl Loaded {
    fn read(dir: Option<&Path>, config: &ConfigArg) -> anyhow::Result<Loaded> {
        let mut apps = Vec::new();
        let mut configured_dir = None;
        if let Some(path) = &config.config {
            let loaded = config::load(path).map_err(|e| anyhow!("{e}"))?;
            apps = loaded
                .apps
                .iter()
                .map(|app| KnownApp {
                    id: app.id.clone(),
                    name: app.name.clone(),
                })
                .collect();
            configured_dir = loaded.policy.map(|policy| policy.dir);
        }
        let dir = dir
            .map(Path::to_path_buf)
            .or(configured_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        if !dir.is_dir() {
            bail!("{}: not a directory of policies", dir.display());
        }
        let source = PolicySource::read_dir(&dir)?;
        Ok(Loaded { dir, apps, source })
    }

    /// `DIR/file`, as the officer finds it.
    fn shown(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn diagnostic(&self, d: &Diagnostic) -> String {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{}:{}:{}: {severity}: {}",
            self.shown(&d.file),
            d.line,
            d.column,
            d.message
        )
    }

    /// Compiles the set; on errors prints every problem and returns `None`.
    fn compile_or_report(&self) -> Option<CompiledSet> {
        match compile(&self.source, &self.apps) {
            Ok(set) => Some(set),
            Err(diagnostics) => {
                let mut all = diagnostics.diagnostics;
                sort_by_place(&mut all);
                for d in &all {
                    eprintln!("{}", self.diagnostic(d));
                }
                let errors = all.iter().filter(|d| d.is_error()).count();
                eprintln!(
                    "{}: the policy set does not compile ({})",
                    self.dir.display(),
                    plural(errors, "error", "errors")
                );
                None
            }
        }
    }
}

fn sort_by_place(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity, &a.message)
            .cmp(&(&b.file, b.line, b.column, b.severity, &b.message))
    });
}

fn check(args: &SetArgs, deny_warnings: bool) -> anyhow::Result<u8> {
    let loaded = Loaded::read(args.dir.as_deref(), &args.config)?;
    let (mut diagnostics, counts) = match compile(&loaded.source, &loaded.apps) {
        Ok(set) => {
            let counts = format!(
                "{}, {}, {}, ",
                plural(set.policies.len(), "policy", "policies"),
                plural(set.roles.roles().len(), "role", "roles"),
                plural(set.routes.apps().len(), "app", "apps"),
            );
            (set.warnings, counts)
        }
        Err(diagnostics) => (diagnostics.diagnostics, String::new()),
    };
    sort_by_place(&mut diagnostics);
    for d in &diagnostics {
        eprintln!("{}", loaded.diagnostic(d));
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    out!(
        "policy check: {counts}{}, {}",
        plural(errors, "error", "errors"),
        plural(warnings, "warning", "warnings")
    );
    if errors > 0 || (deny_warnings && warnings > 0) {
        Ok(EXIT_INVALID)
    } else {
        Ok(0)
    }
}

fn test(paths: &[PathBuf], config: &ConfigArg) -> anyhow::Result<u8> {
    let mut dir = None;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            if let Some(first) = dir.replace(path.as_path()) {
                bail!(
                    "two policies directories given: {} and {}",
                    first.display(),
                    path.display()
                );
            }
        } else if path.is_file() {
            files.push(path);
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    let loaded = Loaded::read(dir, config)?;
    let Some(set) = loaded.compile_or_report() else {
        return Ok(EXIT_INVALID);
    };
    let external = !files.is_empty();
    let cases: Vec<TestCase> = if external {
        let mut problems = Vec::new();
        let mut cases = Vec::new();
        for path in &files {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            cases.extend(parse_test_file(
                &path.display().to_string(),
                &text,
                &mut problems,
            ));
        }
        if !problems.is_empty() {
            for d in &problems {
                eprintln!("{d}");
            }
            return Ok(EXIT_INVALID);
        }
        cases
    } else {
        set.tests.clone()
    };
    if cases.is_empty() {
        eprintln!(
            "warning: no test cases (write them in {})",
            loaded.shown(&format!("{TESTS_DIR}/*.toml"))
        );
    }
    let engine = PolicyEngine::new(set);
    let outcomes = run_tests(&engine, &cases);
    let shown_case = |case: &TestCase| {
        if external {
            case.file.clone()
        } else {
            loaded.shown(&case.file)
        }
    };
    let mut failed = 0;
    for outcome in outcomes.iter().filter(|o| !o.passed()) {
        failed += 1;
        print_failure(&loaded, &engine, outcome, &shown_case(&outcome.case));
    }
    out!(
        "policy test: {} passed, {} failed",
        outcomes.len() - failed,
        failed
    );
    Ok(if failed > 0 { EXIT_FAILED } else { 0 })
}

fn print_failure(loaded: &Loaded, engine: &PolicyEngine, outcome: &TestOutcome, at: &str) {
    let case = &outcome.case;
    out!("FAIL {at}:{}: {}", case.line, case.name);
    let expected = match case.expect {
        Expect::Allow => "allow",
        Expect::Deny => "deny",
    };
    match &case.policies {
        Some(policies) => out!("    expected: {expected} by {}", policies.join(", ")),
        None => out!("    expected: {expected}"),
    }
    match &outcome.decision {
        Some(decision) => {
            let got = if decision.allowed { "allow" } else { "deny" };
            if decision.policies.is_empty() {
                out!("    got:      {got} (default deny: no permit applies)");
            } else {
                let by: Vec<String> = decision
                    .policies
                    .iter()
                    .map(|id| match engine.set().info(id) {
                        Some(info) => {
                            format!("{id} ({}:{})", loaded.shown(&info.file), info.line)
                        }
                        None => id.clone(),
                    })
                    .collect();
                out!("    got:      {got} by {}", by.join(", "));
            }
            if !decision.errors.is_empty() {
                out!("    not evaluated (errors): {}", decision.errors.join(", "));
            }
        }
        None => out!(
            "    got:      no decision: {}",
            outcome.failure.as_deref().unwrap_or("")
        ),
    }
}

fn explain_command(args: &ExplainArgs) -> anyhow::Result<u8> {
    let time = match &args.time {
        Some(text) => parse_rfc3339(text).ok_or_else(|| {
            anyhow!(
                "--time {text:?} is not an RFC 3339 timestamp such as 2026-01-05T10:00:00+07:00"
            )
        })?,
        None => now_unix(),
    };
    let admin = match args.action.as_deref() {
        None | Some("signin") => None,
        Some(action) => Some(AdminAction::parse(action).ok_or_else(|| {
            anyhow!(
                "--action {action:?} is not signin or an administrative action ({})",
                AdminAction::ALL.map(AdminAction::as_str).join(", ")
            )
        })?),
    };
    let target = match (admin, args.action.as_deref(), args.app.as_deref()) {
        (Some(admin), _, _) => Target::Admin(admin),
        (None, Some(_), Some(app)) => Target::SignIn { app },
        (None, None, Some(app)) => Target::Route { app },
        (None, _, None) => bail!("--app is required (except for administrative actions)"),
    };
    let loaded = Loaded::read(args.set.dir.as_deref(), &args.set.config)?;
    let Some(set) = loaded.compile_or_report() else {
        return Ok(EXIT_INVALID);
    };
    let engine = PolicyEngine::new(set);
    let subject = subject_with_roles(
        &engine,
        &args.user,
        args.department.as_deref(),
        &args.roles,
        &args.groups,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let roles: Vec<&str> = subject
        .roles
        .iter()
        .map(|index| engine.set().roles.role(index).id.as_str())
        .collect();
    let method = args.method.to_ascii_uppercase();
    let request = AccessRequest {
        subject,
        target,
        method: &method,
        path: &args.path,
        ip: args.ip,
        strength: args.strength.into(),
        time,
        signed: args.signed,
    };
    let explanation = explain(&engine, &request);
    if args.json {
        out!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print_explanation(&loaded, &args.user, &roles, &explanation);
    }
    Ok(if explanation.decision.allowed {
        0
    } else {
        EXIT_DENIED
    })
}

fn print_explanation(loaded: &Loaded, user: &str, roles: &[&str], explanation: &Explanation) {
    let decision = &explanation.decision;
    let default_deny = !decision.allowed && decision.policies.is_empty();
    out!(
        "{}",
        match (decision.allowed, default_deny) {
            (true, _) => "ALLOW",
            (false, true) => "DENY (default deny: no permit applies)",
            (false, false) => "DENY",
        }
    );
    let roles = if roles.is_empty() {
        "none".to_string()
    } else {
        roles.join(", ")
    };
    out!("  user:        {user} (roles: {roles})");
    out!("  action:      {}", decision.action);
    out!("  resource:    {}", decision.resource);
    if let Some(class) = &decision.route_class {
        out!("  route class: {class}");
    }
    let view = |policy: &PolicyView| {
        let mut line = format!(
            "{} {}  {}:{}",
            policy.effect,
            policy.id,
            loaded.shown(&policy.file),
            policy.line
        );
        if let Some(description) = &policy.description {
            line.push_str(&format!("\n      {description}"));
        }
        line
    };
    if !explanation.deciding.is_empty() {
        out!("  decided by:");
        for policy in &explanation.deciding {
            out!("    {}", view(policy));
        }
    }
    if !decision.errors.is_empty() {
        out!(
            "  not evaluated (errors, counted as not applying): {}",
            decision.errors.join(", ")
        );
    }
    if default_deny {
        if explanation.closest.is_empty() {
            out!("  no permit concerns this request");
        } else {
            out!("  closest permits:");
            for close in &explanation.closest {
                out!("    {}", view(&close.policy));
                for unmet in &close.unmet {
                    out!("      would need: {unmet}");
                }
            }
        }
    }
}

fn fmt(dir: &Path, check: bool) -> anyhow::Result<u8> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot read", dir.display()))?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot read", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cedar") && is_policy_file_name(&name) && entry.path().is_file() {
            files.insert(name, entry.path());
        }
    }
    let (mut changed, mut broken) = (0, 0);
    for path in files.values() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let formatted = match format_policies(&text) {
            Ok(formatted) => formatted,
            Err(error) => {
                broken += 1;
                for problem in parse_problems(&text).unwrap_or_else(|| vec![error.to_string()]) {
                    eprintln!("{}:{problem}", path.display());
                }
                eprintln!("{}: not formatted: it does not parse", path.display());
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        changed += 1;
        if check {
            out!("{}", path.display());
        } else {
            write_atomically(path, &formatted)?;
            out!("formatted {}", path.display());
        }
    }
    let verb = if check {
        "would be reformatted"
    } else {
        "reformatted"
    };
    out!(
        "policy fmt: {}, {changed} {verb}, {broken} not parsable",
        plural(files.len(), "file", "files")
    );
    Ok(if broken > 0 {
        EXIT_INVALID
    } else if check && changed > 0 {
        EXIT_FAILED
    } else {
        0
    })
}

/// Cedar's parse errors of `text` as `line:column: error: message`, or `None` if it parses.
fn parse_problems(text: &str) -> Option<Vec<String>> {
    let errors = text.parse::<cedar_policy::PolicySet>().err()?;
    let problems = errors
        .iter()
        .map(|error| {
            let offset = miette::Diagnostic::labels(error)
                .and_then(|mut labels| labels.next())
                .map_or(0, |label| label.offset());
            let at = Position::of_offset(text, offset);
            let mut message = error.to_string();
            if let Some(help) = miette::Diagnostic::help(error) {
                message.push_str(&format!(" ({help})"));
            }
            format!("{}:{}: error: {message}", at.line, at.column)
        })
        .collect();
    Some(problems)
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`, so a reader
/// (the gateway's watcher) sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.fmt.tmp"));
    let result = (|| -> std::io::Result<()> {
        std::fs::write(&temporary, text)?;
        if let Ok(permissions) = std::fs::metadata(path).map(|m| m.permissions()) {
            std::fs::set_permissions(&temporary, permissions)?;
        }
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("{}: cannot write", path.display()));
    }
    Ok(())
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}
