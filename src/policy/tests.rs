//! Policy semantics on a small set: default deny, forbid wins, role inheritance, address
//! ranges, login strength, time windows, slicing per app, and the cache agreeing with fresh
//! evaluation on every combination.

use std::net::IpAddr;

use super::*;
use crate::identity::AuthStrength;

const ROLES: &str = r#"
[roles.can-bo]
groups = ["can-bo"]
[roles.chuyen-vien]
groups = ["chuyen-vien"]
includes = ["can-bo"]
[roles.lanh-dao]
groups = ["lanh-dao"]
includes = ["chuyen-vien"]
[roles.van-thu]
groups = ["van-thu"]
includes = ["can-bo"]
[roles.an-ninh]
groups = ["an-ninh"]
"#;

const ROUTES: &str = r#"
[apps.mot-cua]
[[apps.mot-cua.routes]]
class = "quan-tri"
path_prefix = "/quan-tri"
[[apps.mot-cua.routes]]
class = "ky-duyet"
path_prefix = "/ky"
[apps.van-ban]
[[apps.van-ban.routes]]
class = "van-ban-di"
path_prefix = "/di"
methods = ["POST"]
"#;

const POLICIES: &str = r#"
@id("can-bo-doc-mot-cua")
permit(principal in Role::"can-bo", action == Action::"read", resource in App::"mot-cua");

@id("chuyen-vien-ghi-mot-cua")
permit(principal in Role::"chuyen-vien", action == Action::"write", resource in App::"mot-cua");

@id("lanh-dao-ky")
permit(principal in Role::"lanh-dao", action, resource == Route::"mot-cua/ky-duyet");

@id("chi-lanh-dao-ky")
forbid(principal, action, resource == Route::"mot-cua/ky-duyet")
unless { principal in Role::"lanh-dao" };

@id("quan-tri-can-chung-thu-trong-mang-tinh")
forbid(principal, action, resource is Route)
when { resource.class == "quan-tri" }
unless { context.strength_level >= 3 && context.ip.isInRange(ip("10.0.0.0/8")) };

@id("van-thu-gio-hanh-chinh")
permit(principal in Role::"van-thu", action == Action::"write", resource == Route::"van-ban/van-ban-di")
when { context.weekday <= 6 && context.hour >= 7 && context.hour < 19 };

@id("dang-nhap-oidc")
permit(principal in Role::"can-bo", action == Action::"signin", resource);

@id("an-ninh-quan-ly-chinh-sach")
permit(principal in Role::"an-ninh", action in [Action::"policy_read", Action::"policy_write"], resource == Gateway::"govgate")
when { context.strength == "certificate" };
"#;

fn source() -> PolicySource {
    let mut source = PolicySource::new();
    let schema = include_str!("../../policies/schema.cedarschema");
    source.insert(SCHEMA_FILE, schema.into()).unwrap();
    source.insert(ROLES_FILE, ROLES.into()).unwrap();
    source.insert(ROUTES_FILE, ROUTES.into()).unwrap();
    source.insert("chinh-sach.cedar", POLICIES.into()).unwrap();
    source
}

fn engine() -> PolicyEngine {
    let set = compile(&source(), &[]).unwrap_or_else(|e| panic!("{e}"));
    PolicyEngine::new(set)
}

/// Monday 10:00 in Hà Nội.
const MONDAY_10: i64 = 1_767_582_000;

struct Ask<'a> {
    groups: &'a [&'a str],
    target: Target<'a>,
    method: &'a str,
    path: &'a str,
    ip: &'a str,
    strength: AuthStrength,
    time: i64,
}

impl Default for Ask<'_> {
    fn default() -> Self {
        Ask {
            groups: &[],
            target: Target::Route { app: "mot-cua" },
            method: "GET",
            path: "/",
            ip: "10.1.1.1",
            strength: AuthStrength::Password,
            time: MONDAY_10,
        }
    }
}

fn request<'a>(engine: &PolicyEngine, ask: &Ask<'a>) -> AccessRequest<'a> {
    let groups: Vec<String> = ask.groups.iter().map(|g| g.to_string()).collect();
    AccessRequest {
        subject: Subject {
            kind: crate::policy::PrincipalKind::User,
            username: "nguoi-dung",
            display_name: "Người dùng",
            department: Some("Sở Nội vụ"),
            roles: engine.set().roles.for_groups(&groups),
        },
        target: ask.target,
        method: ask.method,
        path: ask.path,
        ip: ask.ip.parse::<IpAddr>().unwrap(),
        strength: ask.strength,
        time: ask.time,
        signed: false,
    }
}

fn decide(engine: &PolicyEngine, ask: Ask<'_>) -> Decision {
    engine.evaluate(&request(engine, &ask))
}

#[test]
fn default_deny_without_a_matching_permit() {
    let engine = engine();
    let decision = decide(
        &engine,
        Ask {
            groups: &["khong-co"],
            ..Ask::default()
        },
    );
    assert!(!decision.allowed);
    assert!(decision.policies.is_empty());
    assert_eq!(decision.reason(), "default_deny");
}

#[test]
fn roles_include_roles() {
    let engine = engine();
    for groups in [&["can-bo"][..], &["chuyen-vien"], &["lanh-dao"]] {
        let d = decide(
            &engine,
            Ask {
                groups,
                ..Ask::default()
            },
        );
        assert!(d.allowed, "{groups:?} reads mot-cua");
        assert_eq!(d.policies, vec!["can-bo-doc-mot-cua"]);
    }
    let write = |groups| {
        decide(
            &engine,
            Ask {
                groups,
                method: "POST",
                ..Ask::default()
            },
        )
    };
    assert!(!write(&["can-bo"]).allowed);
    assert!(
        write(&["lanh-dao"]).allowed,
        "a leader writes what staff writes"
    );
    assert_eq!(write(&["lanh-dao"]).action, "write");
}

#[test]
fn forbid_overrides_permit() {
    let engine = engine();
    // Staff may write the app, but the signing route is forbidden to non-leaders.
    let staff = decide(
        &engine,
        Ask {
            groups: &["chuyen-vien"],
            method: "POST",
            path: "/ky/1",
            ..Ask::default()
        },
    );
    assert!(!staff.allowed);
    assert_eq!(staff.policies, vec!["chi-lanh-dao-ky"]);
    assert_eq!(staff.route_class.as_deref(), Some("ky-duyet"));
    let leader = decide(
        &engine,
        Ask {
            groups: &["lanh-dao"],
            method: "POST",
            path: "/ky/1",
            ..Ask::default()
        },
    );
    assert!(leader.allowed);
}

#[test]
fn admin_routes_need_certificate_from_the_provincial_network() {
    let engine = engine();
    let ask = |strength, ip| {
        decide(
            &engine,
            Ask {
                groups: &["lanh-dao"],
                path: "/quan-tri/nguoi-dung",
                strength,
                ip,
                ..Ask::default()
            },
        )
    };
    assert!(ask(AuthStrength::Certificate, "10.9.8.7").allowed);
    let password = ask(AuthStrength::Password, "10.9.8.7");
    assert!(!password.allowed);
    assert_eq!(
        password.policies,
        vec!["quan-tri-can-chung-thu-trong-mang-tinh"]
    );
    assert!(!ask(AuthStrength::SecondFactor, "10.9.8.7").allowed);
    assert!(
        !ask(AuthStrength::Certificate, "203.0.113.9").allowed,
        "outside the network"
    );
    assert!(
        !ask(AuthStrength::Certificate, "2001:db8::1").allowed,
        "IPv6 is another family"
    );
    // A dual-stack socket's IPv4-mapped address is the IPv4 address.
    assert!(ask(AuthStrength::Certificate, "::ffff:10.9.8.7").allowed);
}

#[test]
fn time_windows_follow_vietnam_local_time() {
    let engine = engine();
    let at = |time| {
        decide(
            &engine,
            Ask {
                groups: &["van-thu"],
                target: Target::Route { app: "van-ban" },
                method: "POST",
                path: "/di/1",
                time,
                ..Ask::default()
            },
        )
        .allowed
    };
    assert!(at(MONDAY_10));
    assert!(!at(MONDAY_10 + 10 * 3600), "20:00 is outside office hours");
    assert!(!at(MONDAY_10 - 4 * 3600), "06:00 is before office hours");
    assert!(at(MONDAY_10 + 5 * 86_400), "Saturday 10:00");
    assert!(!at(MONDAY_10 + 6 * 86_400), "Sunday 10:00");
    // GET on the POST-only class falls to the default class: no permit for văn thư there.
    let get = decide(
        &engine,
        Ask {
            groups: &["van-thu"],
            target: Target::Route { app: "van-ban" },
            path: "/di/1",
            ..Ask::default()
        },
    );
    assert_eq!(get.route_class.as_deref(), Some(DEFAULT_CLASS));
    assert!(!get.allowed);
}

#[test]
fn signin_and_admin_actions() {
    let engine = engine();
    let signin = decide(
        &engine,
        Ask {
            groups: &["can-bo"],
            target: Target::SignIn { app: "van-ban" },
            ..Ask::default()
        },
    );
    assert!(signin.allowed);
    assert_eq!(signin.resource, "App::\"van-ban\"");
    let admin = |groups, strength| {
        decide(
            &engine,
            Ask {
                groups,
                target: Target::Admin(AdminAction::PolicyWrite),
                strength,
                ..Ask::default()
            },
        )
        .allowed
    };
    assert!(admin(&["an-ninh"], AuthStrength::Certificate));
    assert!(!admin(&["an-ninh"], AuthStrength::Password));
    assert!(!admin(&["lanh-dao"], AuthStrength::Certificate));
}

#[test]
fn unknown_apps_are_denied_not_errors() {
    let engine = engine();
    let d = decide(
        &engine,
        Ask {
            groups: &["lanh-dao"],
            target: Target::Route {
                app: "khong-ton-tai",
            },
            ..Ask::default()
        },
    );
    assert!(!d.allowed);
    let (cached, _) = engine.decide(&request(
        &engine,
        &Ask {
            groups: &["lanh-dao"],
            target: Target::Route {
                app: "khong-ton-tai",
            },
            ..Ask::default()
        },
    ));
    assert!(!cached.allowed);
}

#[test]
fn cache_agrees_with_fresh_evaluation_everywhere() {
    let engine = engine();
    let groups: [&[&str]; 5] = [
        &[],
        &["can-bo"],
        &["chuyen-vien"],
        &["lanh-dao"],
        &["van-thu", "an-ninh"],
    ];
    let targets = [
        Target::Route { app: "mot-cua" },
        Target::Route { app: "van-ban" },
        Target::SignIn { app: "mot-cua" },
        Target::Admin(AdminAction::PolicyWrite),
    ];
    let mut checked = 0;
    for _round in 0..2 {
        for groups in groups {
            for target in targets {
                for (method, path) in [
                    ("GET", "/"),
                    ("POST", "/ky/a"),
                    ("GET", "/quan-tri"),
                    ("POST", "/di/x"),
                ] {
                    for ip in ["10.0.0.1", "10.255.0.1", "192.0.2.1", "2001:db8::1"] {
                        for strength in [AuthStrength::Password, AuthStrength::Certificate] {
                            for time in [MONDAY_10, MONDAY_10 + 11 * 3600, MONDAY_10 + 6 * 86_400] {
                                let ask = Ask {
                                    groups,
                                    target,
                                    method,
                                    path,
                                    ip,
                                    strength,
                                    time,
                                };
                                let request = request(&engine, &ask);
                                let fresh = engine.evaluate(&request);
                                let (cached, _) = engine.decide(&request);
                                assert_eq!(*cached, fresh, "{groups:?} {target:?} {method} {path} {ip} {strength:?} {time}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 1000);
    // The address only matters through one range, strength and time through a few values:
    // far fewer classes than requests.
    assert!(
        engine.cached_decisions() < checked / 4,
        "{} classes",
        engine.cached_decisions()
    );
}

#[test]
fn explain_names_the_closest_permit_and_what_it_lacks() {
    let engine = engine();
    let ask = Ask {
        groups: &["can-bo"],
        method: "POST",
        ..Ask::default()
    };
    let explanation = explain::explain(&engine, &request(&engine, &ask));
    assert!(!explanation.decision.allowed);
    // Two permits are one part away: reading (wrong action) and staff writing (wrong role).
    let closest: Vec<(&str, &[String])> = explanation
        .closest
        .iter()
        .map(|c| (c.policy.id.as_str(), c.unmet.as_slice()))
        .collect();
    assert!(
        closest.contains(&(
            "chuyen-vien-ghi-mot-cua",
            &["principal in Role::\"chuyen-vien\"".to_string()][..]
        )),
        "{closest:?}"
    );
    assert!(
        closest.contains(&(
            "can-bo-doc-mot-cua",
            &["action == Action::\"read\"".to_string()][..]
        )),
        "{closest:?}"
    );
    // A forbid-decided deny names the forbid, with its file and line.
    let ask = Ask {
        groups: &["chuyen-vien"],
        path: "/ky/1",
        ..Ask::default()
    };
    let explanation = explain::explain(&engine, &request(&engine, &ask));
    assert_eq!(explanation.deciding[0].id, "chi-lanh-dao-ky");
    assert_eq!(explanation.deciding[0].file, "chinh-sach.cedar");
    assert_eq!(explanation.deciding[0].line, 11);
    assert!(explanation.closest.is_empty());
}

#[test]
fn explain_reports_unmet_conditions() {
    let engine = engine();
    let ask = Ask {
        groups: &["van-thu"],
        target: Target::Route { app: "van-ban" },
        method: "POST",
        path: "/di/1",
        time: MONDAY_10 + 11 * 3600,
        ..Ask::default()
    };
    let explanation = explain::explain(&engine, &request(&engine, &ask));
    let closest = &explanation.closest[0];
    assert_eq!(closest.policy.id, "van-thu-gio-hanh-chinh");
    assert_eq!(closest.unmet.len(), 1);
    assert!(
        closest.unmet[0].starts_with("when {"),
        "{:?}",
        closest.unmet
    );
    assert!(closest.unmet[0].contains("context.hour"));
}

#[test]
fn errors_are_located() {
    let mut broken = source();
    broken
        .insert(
            "hong.cedar",
            "@id(\"a\")\npermit(principal, action, resource);\n\n@id(\"b\")\npermit(principal, action == Action::\"read\", resource)\nwhen { context.khong_co == 1 };\n\npermit(principal, action, resource);\n@id(\"c\") permit(principal, action resource);\n".into(),
        )
        .unwrap();
    let error = match compile(&broken, &[]) {
        Err(error) => error,
        Ok(_) => panic!("the broken set compiled"),
    };
    let located: Vec<(usize, &str)> = error
        .errors()
        .filter(|d| d.file == "hong.cedar")
        .map(|d| (d.line, d.message.as_str()))
        .collect();
    assert!(
        located
            .iter()
            .any(|(line, m)| *line == 6 && m.contains("khong_co")),
        "{located:?}"
    );
    assert!(
        located
            .iter()
            .any(|(line, m)| *line == 8 && m.contains("@id")),
        "{located:?}"
    );
    assert!(located.iter().any(|(line, _)| *line == 9), "{located:?}");
}

#[test]
fn duplicate_ids_are_errors() {
    let mut broken = source();
    broken
        .insert(
            "trung.cedar",
            "@id(\"lanh-dao-ky\")\npermit(principal, action, resource);\n".into(),
        )
        .unwrap();
    let error = compile(&broken, &[]).err().expect("duplicate id refused");
    assert!(
        error
            .to_string()
            .contains("already used at chinh-sach.cedar:"),
        "{error}"
    );
}

#[test]
fn lints_warn_about_sets_that_cannot_mean_what_they_say() {
    let mut odd = source();
    // Without the any-app sign-in permit, an app nobody names has no permit at all.
    let scoped = POLICIES.replace(
        "action == Action::\"signin\", resource)",
        "action == Action::\"signin\", resource in App::\"mot-cua\")",
    );
    odd.insert("chinh-sach.cedar", scoped).unwrap();
    odd.insert(
        "la.cedar",
        "@id(\"vai-tro-la\")\npermit(principal in Role::\"khong-co\", action, resource in App::\"ma\");\n".into(),
    )
    .unwrap();
    let set = compile(
        &odd,
        &[KnownApp {
            id: "thu".into(),
            name: "Thư".into(),
        }],
    )
    .unwrap();
    let warnings: Vec<String> = set.warnings.iter().map(ToString::to_string).collect();
    let has = |needle: &str| warnings.iter().any(|w| w.contains(needle));
    assert!(
        has("Role::\"khong-co\", which roles.toml does not define"),
        "{warnings:#?}"
    );
    assert!(has("App::\"ma\""), "{warnings:#?}");
    assert!(has("app \"thu\" has no permit"), "{warnings:#?}");
    // an-ninh is only used for admin actions; can-bo is used; none is unmapped here.
    assert!(
        !has("role \"can-bo\" is used by no policy"),
        "{warnings:#?}"
    );
}

#[test]
fn failing_test_tables_keep_a_set_out() {
    let mut with_tests = source();
    with_tests
        .insert(
            "tests/a.toml",
            "[[case]]\nname = \"chuyên viên ký\"\ngroups = [\"chuyen-vien\"]\napp = \"mot-cua\"\npath = \"/ky/1\"\nexpect = \"allow\"\n".into(),
        )
        .unwrap();
    match store::prepare(&with_tests, &[]) {
        Err(ReloadError::TestsFailed(failed)) => {
            assert_eq!(failed.len(), 1);
            assert!(failed[0]
                .failure
                .as_deref()
                .unwrap()
                .contains("chi-lanh-dao-ky"));
            assert_eq!(failed[0].case.line, 1);
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a failing table was accepted"),
    }
}
