//! `govgate policy check|test|explain|fmt` run as a real process: small policy sets written
//! into temp dirs (with the shipped schema), and the shipped `policies/` set itself.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMA: &str = include_str!("../policies/schema.cedarschema");

const ROLES: &str = r#"[roles.chuyen-vien]
description = "Chuyên viên"
groups = ["chuyen-vien"]

[roles.lanh-dao]
description = "Lãnh đạo"
groups = ["lanh-dao"]
includes = ["chuyen-vien"]

[roles.khong-dung]
description = "A role no policy uses"
groups = ["khong-dung"]
"#;

const ROUTES: &str = r#"[apps.mot-cua]
name = "Một cửa điện tử"

[[apps.mot-cua.routes]]
class = "xu-ly"
path_prefix = "/mot-cua/xu-ly"

[[apps.mot-cua.routes]]
class = "phe-duyet"
path_prefix = "/mot-cua/phe-duyet"
"#;

/// Lines: chuyen-vien-xu-ly @ 2, lanh-dao-phe-duyet @ 10, ngoai-gio (forbid) @ 18.
const MOT_CUA: &str = r#"// Một cửa điện tử
@id("chuyen-vien-xu-ly")
@description("Chuyên viên xử lý hồ sơ")
permit (
  principal in Role::"chuyen-vien",
  action in [Action::"read", Action::"write"],
  resource == Route::"mot-cua/xu-ly"
);

@id("lanh-dao-phe-duyet")
@description("Lãnh đạo phê duyệt hồ sơ")
permit (
  principal in Role::"lanh-dao",
  action in [Action::"read", Action::"write"],
  resource == Route::"mot-cua/phe-duyet"
);

@id("ngoai-gio")
@description("Không ghi ngoài giờ hành chính")
forbid (
  principal,
  action == Action::"write",
  resource in App::"mot-cua"
)
when { context.hour < 7 || context.hour >= 18 };
"#;

const TESTS: &str = r#"[[case]]
name = "chuyên viên xử lý hồ sơ"
groups = ["chuyen-vien"]
app = "mot-cua"
method = "POST"
path = "/mot-cua/xu-ly/1"
expect = "allow"
policies = ["chuyen-vien-xu-ly"]

[[case]]
name = "chuyên viên không phê duyệt"
groups = ["chuyen-vien"]
app = "mot-cua"
path = "/mot-cua/phe-duyet/1"
expect = "deny"
"#;

/// A well-formed but unformatted policy file (one warning-free policy, a comment to keep).
const UNFORMATTED: &str = "// giữ chú thích này\n@id(\"lanh-dao-doc\")   permit(principal in Role::\"lanh-dao\",action==Action::\"read\",resource in App::\"mot-cua\") when {context.hour>7};\n";

/// What one run printed and returned.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn govgate(args: &[&str], cwd: &Path) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("GOVGATE_CONFIG")
        .output()
        .expect("run govgate");
    Outcome {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `govgate policy ARGS…` run from the parent of the set, with DIR given as `policies`, so
/// locations read `policies/FILE:…`.
fn policy(set: &Set, args: &[&str]) -> Outcome {
    let mut all = vec!["policy"];
    all.extend_from_slice(args);
    all.push("policies");
    govgate(&all, set.root())
}

/// A policy set in `<temp>/policies`.
struct Set {
    temp: tempfile::TempDir,
}

impl Set {
    /// The base set: schema, roles, routes, mot-cua.cedar and one test table.
    fn base() -> Set {
        let set = Set::empty();
        set.write("schema.cedarschema", SCHEMA);
        set.write("roles.toml", ROLES);
        set.write("routes.toml", ROUTES);
        set.write("mot-cua.cedar", MOT_CUA);
        set.write("tests/mot-cua.toml", TESTS);
        set
    }

    fn empty() -> Set {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("policies/tests")).unwrap();
        Set { temp }
    }

    fn root(&self) -> &Path {
        self.temp.path()
    }

    fn dir(&self) -> PathBuf {
        self.temp.path().join("policies")
    }

    fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.dir().join(relative), text).unwrap();
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir().join(relative)).unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// policy check
// ---------------------------------------------------------------------------------------

#[test]
fn check_passes_with_warnings_and_deny_warnings_fails() {
    let set = Set::base();
    let outcome = policy(&set, &["check"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        "policy check: 3 policies, 3 roles, 1 app, 0 errors, 1 warning\n"
    );
    assert_eq!(
        outcome.stderr_lines(),
        vec![
            "policies/roles.toml:10:8: warning: role \"khong-dung\" is used by no policy (nor is any role it includes)"
        ],
        "{outcome:?}"
    );

    let strict = policy(&set, &["check", "--deny-warnings"]);
    assert_eq!(strict.code, 2, "{strict:?}");
    assert!(
        strict.stdout.ends_with("0 errors, 1 warning\n"),
        "{strict:?}"
    );
}

#[test]
fn check_syntax_error_is_located_and_exits_2() {
    let set = Set::base();
    set.write(
        "hong.cedar",
        "// a broken policy\n@id(\"hong\")\npermit (\n  principal,\n  action == Action::\"read\",\n  resource\n) when { principal.username == };\n",
    );
    let outcome = policy(&set, &["check"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let lines = outcome.stderr_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("policies/hong.cedar:7:32: error: unexpected token `}`")),
        "{outcome:?}"
    );
    assert_eq!(outcome.stdout, "policy check: 1 error, 0 warnings\n");
}

#[test]
fn check_unknown_attribute_is_located_on_its_line() {
    let set = Set::base();
    set.write(
        "chuc-vu.cedar",
        "@id(\"truong-phong\")\npermit (\n  principal,\n  action == Action::\"read\",\n  resource\n)\nwhen {\n  principal.chuc_vu == \"truong-phong\"\n};\n",
    );
    let outcome = policy(&set, &["check"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let located: Vec<&str> = outcome
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("policies/chuc-vu.cedar:8:3: error: policy \"truong-phong\": "))
        .collect();
    assert!(!located.is_empty(), "{outcome:?}");
    assert!(
        located.iter().all(|l| l.contains("attribute `chuc_vu`")),
        "{outcome:?}"
    );
}

#[test]
fn check_duplicate_id_names_both_places() {
    let set = Set::base();
    set.write(
        "z-trung.cedar",
        "\n\n@id(\"chuyen-vien-xu-ly\")\npermit (principal, action == Action::\"read\", resource == Route::\"mot-cua/xu-ly\");\n",
    );
    let outcome = policy(&set, &["check"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr_lines().contains(
            &"policies/z-trung.cedar:3:1: error: @id(\"chuyen-vien-xu-ly\") is already used at mot-cua.cedar:2"
        ),
        "{outcome:?}"
    );
}

#[test]
fn check_takes_the_directory_and_apps_from_the_configuration() {
    let set = Set::base();
    std::fs::rename(set.dir(), set.root().join("rules")).unwrap();
    let config = set.root().join("govgate.toml");
    std::fs::write(
        &config,
        "[[apps]]\nid = \"mot-cua\"\nname = \"Một cửa điện tử\"\nupstreams = [\"http://10.10.1.11:8080\"]\n\n\
         [[apps]]\nid = \"mail\"\nname = \"Thư điện tử\"\nupstreams = [\"http://10.10.1.31\"]\npath_prefix = \"/mail\"\n\n\
         [policy]\ndir = \"rules\"\n",
    )
    .unwrap();
    let outcome = govgate(
        &["policy", "check", "--config", config.to_str().unwrap()],
        Path::new("/"),
    );
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        "policy check: 3 policies, 3 roles, 2 apps, 0 errors, 2 warnings\n"
    );
    let rules = set.root().join("rules");
    let mail_warning = format!(
        "{}: warning: app \"mail\"",
        rules.join("routes.toml:1:1").display()
    );
    assert!(
        outcome
            .stderr_lines()
            .iter()
            .any(|l| l.starts_with(&mail_warning)),
        "{outcome:?}"
    );
}

#[test]
fn check_of_a_missing_directory_exits_1() {
    let set = Set::base();
    let outcome = govgate(&["policy", "check", "nowhere"], set.root());
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(outcome.stderr.contains("nowhere"), "{outcome:?}");
}

// ---------------------------------------------------------------------------------------
// policy test
// ---------------------------------------------------------------------------------------

#[test]
fn test_tables_pass() {
    let set = Set::base();
    let outcome = policy(&set, &["test"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(outcome.stdout, "policy test: 2 passed, 0 failed\n");
}

#[test]
fn test_failure_names_the_case_and_the_deciding_policy() {
    let set = Set::base();
    set.write(
        "tests/sai.toml",
        "# a wrong expectation\n\n[[case]]\nname = \"lãnh đạo không xử lý hồ sơ\"\ngroups = [\"lanh-dao\"]\napp = \"mot-cua\"\nmethod = \"POST\"\npath = \"/mot-cua/xu-ly/1\"\nexpect = \"deny\"\n\n\
         [[case]]\nname = \"chuyên viên phê duyệt\"\ngroups = [\"chuyen-vien\"]\napp = \"mot-cua\"\npath = \"/mot-cua/phe-duyet\"\nexpect = \"allow\"\n",
    );
    let outcome = policy(&set, &["test"]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let expected = "FAIL policies/tests/sai.toml:3: lãnh đạo không xử lý hồ sơ\n    expected: deny\n    got:      allow by chuyen-vien-xu-ly (policies/mot-cua.cedar:2)\n\
                    FAIL policies/tests/sai.toml:11: chuyên viên phê duyệt\n    expected: allow\n    got:      deny (default deny: no permit applies)\n\
                    policy test: 2 passed, 2 failed\n";
    assert_eq!(outcome.stdout, expected, "{outcome:?}");
}

#[test]
fn test_runs_only_the_files_given_even_outside_the_set() {
    let set = Set::base();
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("ngoai-gio.toml");
    std::fs::write(
        &file,
        "[[case]]\nname = \"phê duyệt buổi tối\"\ngroups = [\"lanh-dao\"]\napp = \"mot-cua\"\nmethod = \"POST\"\npath = \"/mot-cua/phe-duyet/7\"\ntime = \"2026-01-05T20:00:00+07:00\"\nexpect = \"allow\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let outcome = govgate(&["policy", "test", "policies", file], set.root());
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        format!(
            "FAIL {file}:1: phê duyệt buổi tối\n    expected: allow\n    got:      deny by ngoai-gio (policies/mot-cua.cedar:18)\npolicy test: 0 passed, 1 failed\n"
        ),
        "{outcome:?}"
    );
}

#[test]
fn test_of_a_set_that_does_not_compile_exits_2() {
    let set = Set::base();
    set.write(
        "hong.cedar",
        "@id(\"hong\") permit (principal, action, resource",
    );
    let outcome = policy(&set, &["test"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("policies/hong.cedar:1:"),
        "{outcome:?}"
    );
    assert!(!outcome.stdout.contains("passed"), "{outcome:?}");
}

// ---------------------------------------------------------------------------------------
// policy explain
// ---------------------------------------------------------------------------------------

const APPROVE: [&str; 10] = [
    "explain",
    "--user",
    "nvan",
    "--groups",
    "lanh-dao",
    "--app",
    "mot-cua",
    "--method",
    "post",
    "--path=/mot-cua/phe-duyet/12",
];

fn explain(set: &Set, extra: &[&str]) -> Outcome {
    let mut args = APPROVE.to_vec();
    args.extend_from_slice(extra);
    policy(set, &args)
}

#[test]
fn explain_allow_names_the_permit() {
    let set = Set::base();
    let outcome = explain(&set, &["--time", "2026-01-05T10:00:00+07:00"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout,
        "ALLOW\n  user:        nvan (roles: chuyen-vien, lanh-dao)\n  action:      write\n  resource:    Route::\"mot-cua/phe-duyet\"\n  route class: phe-duyet\n  decided by:\n    permit lanh-dao-phe-duyet  policies/mot-cua.cedar:10\n      Lãnh đạo phê duyệt hồ sơ\n",
        "{outcome:?}"
    );
}

#[test]
fn explain_deny_names_the_forbid() {
    let set = Set::base();
    let outcome = explain(&set, &["--time", "2026-01-05T20:30:00+07:00"]);
    assert_eq!(outcome.code, 3, "{outcome:?}");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines[0], "DENY", "{outcome:?}");
    assert!(
        lines.contains(&"    forbid ngoai-gio  policies/mot-cua.cedar:18"),
        "{outcome:?}"
    );
    assert!(!outcome.stdout.contains("closest"), "{outcome:?}");
}

#[test]
fn explain_default_deny_names_the_closest_permit_and_what_it_needs() {
    let set = Set::base();
    let outcome = policy(
        &set,
        &[
            "explain",
            "--user",
            "tthang",
            "--roles",
            "chuyen-vien",
            "--app",
            "mot-cua",
            "--path",
            "/mot-cua/phe-duyet/12",
            "--time",
            "2026-01-05T10:00:00+07:00",
        ],
    );
    assert_eq!(outcome.code, 3, "{outcome:?}");
    let text = &outcome.stdout;
    assert!(
        text.starts_with("DENY (default deny: no permit applies)\n"),
        "{outcome:?}"
    );
    let permit = text
        .find("    permit lanh-dao-phe-duyet  policies/mot-cua.cedar:10\n")
        .expect("closest permit listed");
    assert!(
        text[..permit].contains("  closest permits:\n"),
        "{outcome:?}"
    );
    assert!(
        text[permit..].contains("      would need: principal in Role::\"lanh-dao\"\n"),
        "{outcome:?}"
    );
}

#[test]
fn explain_json_is_the_explanation() {
    let set = Set::base();
    let allow = explain(&set, &["--time", "2026-01-05T10:00:00+07:00", "--json"]);
    assert_eq!(allow.code, 0, "{allow:?}");
    let json: serde_json::Value = serde_json::from_str(&allow.stdout).expect("JSON");
    assert_eq!(json["decision"]["allowed"], serde_json::Value::Bool(true));
    assert_eq!(json["decision"]["policies"][0], "lanh-dao-phe-duyet");
    assert_eq!(json["deciding"][0]["file"], "mot-cua.cedar");
    assert_eq!(json["deciding"][0]["line"], 10);

    let deny = policy(
        &set,
        &[
            "explain",
            "--user",
            "x",
            "--app",
            "mot-cua",
            "--path",
            "/mot-cua/xu-ly",
            "--json",
        ],
    );
    assert_eq!(deny.code, 3, "{deny:?}");
    let json: serde_json::Value = serde_json::from_str(&deny.stdout).expect("JSON");
    assert_eq!(json["decision"]["allowed"], serde_json::Value::Bool(false));
    assert_eq!(json["closest"][0]["policy"]["id"], "chuyen-vien-xu-ly");
    assert_eq!(
        json["closest"][0]["unmet"][0],
        "principal in Role::\"chuyen-vien\""
    );
}

#[test]
fn explain_administrative_action_is_about_the_gateway() {
    let set = Set::base();
    let outcome = policy(
        &set,
        &["explain", "--user", "x", "--action", "policy_write"],
    );
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("  action:      policy_write\n  resource:    Gateway::\"govgate\"\n"),
        "{outcome:?}"
    );
}

#[test]
fn explain_rejects_bad_input_with_exit_1() {
    let set = Set::base();
    let no_app = policy(&set, &["explain", "--user", "x"]);
    assert_eq!(no_app.code, 1, "{no_app:?}");
    assert!(no_app.stderr.contains("--app is required"), "{no_app:?}");

    let bad_time = explain(&set, &["--time", "mai"]);
    assert_eq!(bad_time.code, 1, "{bad_time:?}");
    assert!(bad_time.stderr.contains("RFC 3339"), "{bad_time:?}");

    let bad_role = policy(
        &set,
        &[
            "explain", "--user", "x", "--roles", "khong-co", "--app", "mot-cua",
        ],
    );
    assert_eq!(bad_role.code, 1, "{bad_role:?}");
    assert!(bad_role.stderr.contains("khong-co"), "{bad_role:?}");
}

// ---------------------------------------------------------------------------------------
// policy fmt
// ---------------------------------------------------------------------------------------

#[test]
fn fmt_check_lists_an_unformatted_file_and_leaves_it_untouched() {
    let set = Set::base();
    set.write("doc.cedar", UNFORMATTED);
    let outcome = policy(&set, &["fmt", "--check"]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome.stdout.lines().any(|l| l == "policies/doc.cedar"),
        "{outcome:?}"
    );
    assert_eq!(set.read("doc.cedar"), UNFORMATTED);
}

#[test]
fn fmt_rewrites_then_check_passes_and_the_set_still_compiles() {
    let set = Set::base();
    set.write("doc.cedar", UNFORMATTED);
    let outcome = policy(&set, &["fmt"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.contains("formatted policies/doc.cedar\n"),
        "{outcome:?}"
    );
    let formatted = set.read("doc.cedar");
    assert_ne!(formatted, UNFORMATTED);
    assert!(
        formatted.starts_with("// giữ chú thích này\n"),
        "{formatted}"
    );
    assert!(
        formatted.contains("when { context.hour > 7 }"),
        "{formatted}"
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(set.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");

    let again = policy(&set, &["fmt", "--check"]);
    assert_eq!(again.code, 0, "{again:?}");
    // Formatting changed no meaning: the set still compiles, with the new policy in it.
    let check = policy(&set, &["check"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(
        check.stdout.starts_with("policy check: 4 policies"),
        "{check:?}"
    );
}

#[test]
fn fmt_leaves_a_broken_file_untouched_and_exits_2() {
    let set = Set::base();
    let broken = "@id(\"hong\") permit(principal, action, resource";
    set.write("hong.cedar", broken);
    set.write("doc.cedar", UNFORMATTED);
    let end_of_input = format!("policies/hong.cedar:1:{}: error: ", broken.len() + 1);
    let outcome = policy(&set, &["fmt"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert_eq!(set.read("hong.cedar"), broken);
    assert!(
        outcome
            .stderr_lines()
            .iter()
            .any(|l| l.starts_with(&end_of_input)),
        "{outcome:?}"
    );
    // The good file next to it is still formatted.
    assert_ne!(set.read("doc.cedar"), UNFORMATTED);

    let check = policy(&set, &["fmt", "--check"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert_eq!(set.read("hong.cedar"), broken);
}

// ---------------------------------------------------------------------------------------
// The shipped set
// ---------------------------------------------------------------------------------------

fn shipped(args: &[&str]) -> Outcome {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = vec!["policy"];
    all.extend_from_slice(args);
    all.push("policies");
    govgate(&all, manifest)
}

#[test]
fn shipped_policies_check() {
    let outcome = shipped(&["check"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(outcome.stdout.starts_with("policy check: "), "{outcome:?}");
    assert!(outcome.stdout.contains(" 0 errors, "), "{outcome:?}");
}

#[test]
fn shipped_policies_pass_their_tests() {
    let outcome = shipped(&["test"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.ends_with(" passed, 0 failed\n"),
        "{outcome:?}"
    );
}
