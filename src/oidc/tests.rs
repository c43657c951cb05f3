//! The provider's logic over a real embedded store: what each endpoint decides, without HTTP.
//! (The relying-party view, over HTTP, is in tests/oidc_rp.rs and tests/oidc_node.rs.)

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::authorize::{Outcome, Params};
use super::clients::PresentedCredentials;
use super::delivery::LogoutQueue;
use super::types::{sha256_b64, ErrorCode};
use super::Provider;
use crate::identity::{AuthStrength, Identity};
use crate::keys::{KeyRing, SigningKeys};
use crate::session::{Session, SessionService};

const SECRET: &str = "a-long-random-client-secret-for-tests-0123456789";
const REDIRECT: &str = "https://qlvb.tinh.gov.vn/cb";
const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Fixture {
    provider: Provider,
    sessions: Arc<SessionService>,
    _dir: tempfile::TempDir,
}

fn config_text(digest: &str) -> String {
    format!(
        r#"
[portal]
public_url = "https://sso.tinh.gov.vn/"
[oidc]
[[oidc.clients]]
id = "qlvb"
name = "QLVB"
first_party = true
secret_sha256 = "{digest}"
redirect_uris = ["{REDIRECT}"]
post_logout_redirect_uris = ["https://qlvb.tinh.gov.vn/bye"]
scopes = ["openid", "profile", "email", "offline_access"]
[[oidc.clients]]
id = "post"
name = "Post"
auth_method = "client_secret_post"
secret_sha256 = "{digest}"
grant_types = ["client_credentials"]
scopes = ["api"]
[[oidc.clients]]
id = "spa"
name = "SPA"
first_party = true
auth_method = "none"
redirect_uris = ["http://127.0.0.1:3000/cb"]
loopback_any_port = true
"#
    )
}

async fn fixture() -> Fixture {
    crate::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let digest =
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, SECRET.as_bytes()).as_ref());
    let config = crate::config::parse(&dir.path().join("govgate.toml"), &config_text(&digest))
        .expect("config");
    let store: crate::store::SharedStore = Arc::new(
        crate::store::RedbStore::open(&dir.path().join("store.redb"))
            .await
            .expect("store"),
    );
    let sessions = Arc::new(SessionService::new(store.clone(), Default::default()));
    let keys = Arc::new(KeyRing::new(
        SigningKeys::load_or_generate(&dir.path().join("keys")).expect("keys"),
    ));
    let audit = crate::audit::AuditLog::open(&dir.path().join("audit.log")).expect("audit");
    let (queue, _sender) = LogoutQueue::new(10, 1, None, Arc::default());
    let provider =
        Provider::from_config(&config, keys, store, sessions.clone(), None, audit, queue)
            .expect("provider")
            .expect("[oidc] is set");
    Fixture {
        provider,
        sessions,
        _dir: dir,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn identity() -> Identity {
    Identity {
        subject: "entry-uuid-1".into(),
        username: "nvan".into(),
        display_name: "Nguyễn Văn An".into(),
        email: Some("an.nv@tinh.gov.vn".into()),
        department: None,
        employee_number: None,
        groups: vec!["chuyen-vien".into()],
        group_dns: vec![],
        source: "test".into(),
    }
}

async fn session(fixture: &Fixture) -> Session {
    fixture
        .sessions
        .create(identity(), AuthStrength::Password)
        .await
        .expect("session")
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn authorize_params(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("response_type", "code".to_string()),
        ("client_id", "qlvb".to_string()),
        ("redirect_uri", REDIRECT.to_string()),
        ("scope", "openid profile".to_string()),
        ("state", "s-1".to_string()),
        ("nonce", "n-1".to_string()),
        ("code_challenge", sha256_b64(VERIFIER.as_bytes())),
        ("code_challenge_method", "S256".to_string()),
    ];
    for (name, value) in extra {
        pairs.retain(|(k, _)| k != name);
        if !value.is_empty() {
            pairs.push((name, value.to_string()));
        }
    }
    pairs
}

fn as_params(pairs: &[(&str, String)]) -> Params {
    Params::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn redirect_param(outcome: &Outcome, name: &str) -> Option<String> {
    match outcome {
        Outcome::Redirect(to) => to
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn basic() -> PresentedCredentials {
    PresentedCredentials {
        basic: Some(("qlvb".into(), SECRET.into())),
        ..Default::default()
    }
}

async fn code_for(fixture: &Fixture, session: &Session) -> String {
    let outcome = fixture
        .provider
        .authorize(&as_params(&authorize_params(&[])), Some(session), IP)
        .await;
    redirect_param(&outcome, "code").unwrap_or_else(|| panic!("no code: {outcome:?}"))
}

fn exchange(code: &str, verifier: &str) -> Params {
    params(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ])
}

#[tokio::test]
async fn errors_before_the_redirect_uri_is_verified_are_pages_never_redirects() {
    let fixture = fixture().await;
    for (name, value) in [
        ("client_id", "unknown"),
        ("redirect_uri", "https://qlvb.tinh.gov.vn/cb/"),
        ("redirect_uri", "https://QLVB.tinh.gov.vn/cb"),
        ("redirect_uri", "https://qlvb.tinh.gov.vn/cb?x=1"),
        ("redirect_uri", "https://attacker.example/cb"),
        ("redirect_uri", ""),
    ] {
        let outcome = fixture
            .provider
            .authorize(&as_params(&authorize_params(&[(name, value)])), None, IP)
            .await;
        assert!(
            matches!(outcome, Outcome::ErrorPage { status: 400, .. }),
            "{name}={value:?}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn protocol_errors_go_back_to_a_verified_redirect_uri_with_state() {
    let fixture = fixture().await;
    for (extra, expected) in [
        (
            ("response_type", "token"),
            ErrorCode::UnsupportedResponseType,
        ),
        (
            ("response_type", "code id_token"),
            ErrorCode::UnsupportedResponseType,
        ),
        (
            ("code_challenge_method", "plain"),
            ErrorCode::InvalidRequest,
        ),
        (("code_challenge", ""), ErrorCode::InvalidRequest),
        (("scope", "openid admin"), ErrorCode::InvalidScope),
        (("prompt", "none login"), ErrorCode::InvalidRequest),
        (("max_age", "soon"), ErrorCode::InvalidRequest),
    ] {
        let outcome = fixture
            .provider
            .authorize(&as_params(&authorize_params(&[extra])), None, IP)
            .await;
        assert_eq!(
            redirect_param(&outcome, "error").as_deref(),
            Some(expected.as_str()),
            "{extra:?}: {outcome:?}"
        );
        assert_eq!(redirect_param(&outcome, "state").as_deref(), Some("s-1"));
    }
    let repeated = Params::new(vec![
        ("client_id".into(), "qlvb".into()),
        ("client_id".into(), "qlvb".into()),
    ]);
    assert!(matches!(
        fixture.provider.authorize(&repeated, None, IP).await,
        Outcome::ErrorPage { .. }
    ));
}

#[tokio::test]
async fn without_a_session_the_browser_logs_in_and_prompt_none_says_login_required() {
    let fixture = fixture().await;
    let outcome = fixture
        .provider
        .authorize(&as_params(&authorize_params(&[])), None, IP)
        .await;
    let Outcome::Login { resume, force } = outcome else {
        panic!("expected a login detour: {outcome:?}");
    };
    assert!(!force);
    // After login, the same request resumes and yields a code.
    let session = session(&fixture).await;
    let resumed = fixture
        .provider
        .authorize(&params(&[("resume", &resume)]), Some(&session), IP)
        .await;
    assert!(redirect_param(&resumed, "code").is_some(), "{resumed:?}");
    // The pending request is gone once used.
    let again = fixture
        .provider
        .authorize(&params(&[("resume", &resume)]), Some(&session), IP)
        .await;
    assert!(matches!(again, Outcome::ErrorPage { .. }), "{again:?}");
    let none = fixture
        .provider
        .authorize(
            &as_params(&authorize_params(&[("prompt", "none")])),
            None,
            IP,
        )
        .await;
    assert_eq!(
        redirect_param(&none, "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn prompt_login_forces_a_fresh_login_even_with_a_session() {
    let fixture = fixture().await;
    let session = session(&fixture).await;
    let outcome = fixture
        .provider
        .authorize(
            &as_params(&authorize_params(&[("prompt", "login")])),
            Some(&session),
            IP,
        )
        .await;
    assert!(
        matches!(outcome, Outcome::Login { force: true, .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_code_is_spent_once_and_its_reuse_revokes_what_it_gave() {
    let fixture = fixture().await;
    let session = session(&fixture).await;
    let code = code_for(&fixture, &session).await;
    let wrong = fixture
        .provider
        .token(
            &exchange(&code, "wrong-verifier-wrong-verifier-wrong-verifier-00"),
            &basic(),
            IP,
        )
        .await;
    assert_eq!(wrong.unwrap_err().code, ErrorCode::InvalidGrant);
    // A failed verifier spends the code too: the right one now fails as a reuse.
    let code = code_for(&fixture, &session).await;
    let tokens = fixture
        .provider
        .token(&exchange(&code, VERIFIER), &basic(), IP)
        .await
        .expect("tokens");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let introspect = params(&[("token", &access)]);
    let active = fixture
        .provider
        .introspect(&introspect, &basic())
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["username"], "nvan");
    let reuse = fixture
        .provider
        .token(&exchange(&code, VERIFIER), &basic(), IP)
        .await;
    assert_eq!(reuse.unwrap_err().code, ErrorCode::InvalidGrant);
    let after = fixture
        .provider
        .introspect(&introspect, &basic())
        .await
        .unwrap();
    assert_eq!(
        after["active"], false,
        "reuse must revoke the first exchange's tokens"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_family() {
    let fixture = fixture().await;
    let session = session(&fixture).await;
    let code = code_for(&fixture, &session).await;
    let first = fixture
        .provider
        .token(&exchange(&code, VERIFIER), &basic(), IP)
        .await
        .unwrap();
    let refresh =
        |token: &str| params(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
    let old = first["refresh_token"].as_str().unwrap().to_string();
    let second = fixture
        .provider
        .token(&refresh(&old), &basic(), IP)
        .await
        .unwrap();
    let new = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    let narrowed = fixture
        .provider
        .token(
            &params(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &new),
                ("scope", "openid profile email"),
            ]),
            &basic(),
            IP,
        )
        .await;
    assert_eq!(
        narrowed.unwrap_err().code,
        ErrorCode::InvalidScope,
        "no widening"
    );
    let replay = fixture.provider.token(&refresh(&old), &basic(), IP).await;
    assert_eq!(replay.unwrap_err().code, ErrorCode::InvalidGrant);
    // `new` was spent by the refused widening attempt? No: scope is checked after the
    // spend, so it is spent too — either way, the family is revoked by the replay.
    let introspected = fixture
        .provider
        .introspect(
            &params(&[("token", second["access_token"].as_str().unwrap())]),
            &basic(),
        )
        .await
        .unwrap();
    assert_eq!(introspected["active"], false);
}

#[tokio::test]
async fn clients_authenticate_only_by_their_registered_method() {
    let fixture = fixture().await;
    let cc = params(&[("grant_type", "client_credentials"), ("scope", "api")]);
    let post = PresentedCredentials {
        client_id: Some("post".into()),
        client_secret: Some(SECRET.into()),
        ..Default::default()
    };
    let token = fixture
        .provider
        .token(&cc, &post, IP)
        .await
        .expect("post auth");
    assert_eq!(token["scope"], "api");
    let as_basic = PresentedCredentials {
        basic: Some(("post".into(), SECRET.into())),
        ..Default::default()
    };
    let refused = fixture
        .provider
        .token(&cc, &as_basic, IP)
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::InvalidClient);
    let wrong = PresentedCredentials {
        client_id: Some("post".into()),
        client_secret: Some(format!("{SECRET}x")),
        ..Default::default()
    };
    assert_eq!(
        fixture
            .provider
            .token(&cc, &wrong, IP)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidClient
    );
    let personal = params(&[("grant_type", "client_credentials"), ("scope", "openid")]);
    assert_eq!(
        fixture
            .provider
            .token(&personal, &post, IP)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidScope
    );
    // qlvb may not use client_credentials.
    assert_eq!(
        fixture
            .provider
            .token(&cc, &basic(), IP)
            .await
            .unwrap_err()
            .code,
        ErrorCode::UnauthorizedClient
    );
    let header = format!("Basic {}", STANDARD.encode(format!("qlvb:{SECRET}")));
    assert_eq!(
        PresentedCredentials::parse_basic(&header),
        Some(("qlvb".to_string(), SECRET.to_string()))
    );
}

#[tokio::test]
async fn public_clients_must_use_pkce_and_may_use_any_loopback_port_when_registered() {
    let fixture = fixture().await;
    let spa = |redirect: &'static str, challenge: bool| {
        let mut pairs = authorize_params(&[("client_id", "spa"), ("redirect_uri", redirect)]);
        if !challenge {
            pairs.retain(|(k, _)| !k.starts_with("code_challenge"));
        }
        pairs
    };
    let session = session(&fixture).await;
    let other_port = fixture
        .provider
        .authorize(
            &as_params(&spa("http://127.0.0.1:49152/cb", true)),
            Some(&session),
            IP,
        )
        .await;
    assert!(
        redirect_param(&other_port, "code").is_some(),
        "{other_port:?}"
    );
    let other_path = fixture
        .provider
        .authorize(
            &as_params(&spa("http://127.0.0.1:49152/other", true)),
            Some(&session),
            IP,
        )
        .await;
    assert!(matches!(other_path, Outcome::ErrorPage { .. }));
    let no_pkce = fixture
        .provider
        .authorize(
            &as_params(&spa("http://127.0.0.1:3000/cb", false)),
            Some(&session),
            IP,
        )
        .await;
    assert_eq!(
        redirect_param(&no_pkce, "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn logout_needs_an_exact_post_logout_uri_and_confirmation_without_a_matching_hint() {
    let fixture = fixture().await;
    let session = session(&fixture).await;
    let near_miss = fixture
        .provider
        .end_session(
            &params(&[
                ("client_id", "qlvb"),
                ("post_logout_redirect_uri", "https://qlvb.tinh.gov.vn/bye/"),
            ]),
            Some(&session),
            None,
            IP,
        )
        .await;
    assert!(matches!(
        near_miss,
        super::logout::LogoutOutcome::ErrorPage { .. }
    ));
    let unconfirmed = fixture
        .provider
        .end_session(
            &params(&[
                ("client_id", "qlvb"),
                ("post_logout_redirect_uri", "https://qlvb.tinh.gov.vn/bye"),
            ]),
            Some(&session),
            None,
            IP,
        )
        .await;
    let super::logout::LogoutOutcome::Confirm { csrf, .. } = unconfirmed else {
        panic!("expected a confirmation: {unconfirmed:?}");
    };
    let done = fixture
        .provider
        .end_session(
            &params(&[
                ("client_id", "qlvb"),
                ("post_logout_redirect_uri", "https://qlvb.tinh.gov.vn/bye"),
                ("state", "a b"),
            ]),
            Some(&session),
            Some(&csrf),
            IP,
        )
        .await;
    match done {
        super::logout::LogoutOutcome::Done {
            redirect, ended, ..
        } => {
            assert_eq!(
                redirect.as_deref(),
                Some("https://qlvb.tinh.gov.vn/bye?state=a+b")
            );
            assert!(ended.is_some());
        }
        other => panic!("expected logout: {other:?}"),
    }
    assert!(fixture.sessions.get(&session.id).await.unwrap().is_none());
}
