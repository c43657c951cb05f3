//! The session service against real stores: every shared scenario runs on redb (temp dir)
//! and on a real `redis-server`; then two "gateways" on one Redis, cookies, and redb reopen.

mod support;

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use govgate::config::{RedisConfig, RedisMode, Seconds, StoreBackend, StoreConfig};
use govgate::identity::{AuthStrength, Identity};
use govgate::session::{Session, SessionId, SessionService, SessionSettings};
use govgate::store::{open, RedbStore, SharedStore};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use support::redis::RedisServer;

/// Upper bound for eventual expiry (a bound, not a speed assert).
const EVENTUALLY: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

struct Fixture {
    store: SharedStore,
    _keep_alive: Box<dyn Any>,
}

async fn redb_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&StoreConfig::default(), dir.path()).await.unwrap();
    Fixture {
        store,
        _keep_alive: Box::new(dir),
    }
}

fn redis_store_config(url: String) -> StoreConfig {
    StoreConfig {
        backend: StoreBackend::Redis,
        path: None,
        redis: Some(RedisConfig {
            mode: RedisMode::Standalone,
            urls: vec![url],
            master_name: None,
            username: None,
            password_file: None,
            key_prefix: "govgate:".into(),
            connect_timeout: Seconds(Duration::from_secs(2)),
            command_timeout: Seconds(Duration::from_secs(2)),
        }),
    }
}

async fn redis_store(server: &RedisServer) -> SharedStore {
    open(
        &redis_store_config(server.url()),
        std::path::Path::new("/nonexistent"),
    )
    .await
    .unwrap()
}

async fn redis_fixture() -> Fixture {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    Fixture {
        store,
        _keep_alive: Box::new(server),
    }
}

fn identity(username: &str) -> Identity {
    Identity {
        subject: format!("uuid-{username}"),
        username: username.into(),
        display_name: "Nguyễn Thị Hằng".into(),
        email: Some(format!("{username}@namdinh.gov.vn")),
        department: Some("Sở Nội vụ".into()),
        employee_number: None,
        groups: vec!["lanh-dao".into()],
        group_dns: Vec::new(),
        source: "ldap".into(),
    }
}

fn settings() -> SessionSettings {
    SessionSettings {
        cache_ttl: Duration::ZERO,
        ..SessionSettings::default()
    }
}

/// Polls `get` until the session is gone; panics after [`EVENTUALLY`].
async fn wait_until_gone(service: &SessionService, id: &SessionId, what: &str) {
    let deadline = Instant::now() + EVENTUALLY;
    while service.get(id).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{what}: session still valid");
        tokio::time::sleep(POLL).await;
    }
}

/// Runs one scenario on both backends.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(mod $scenario {
            #[tokio::test]
            async fn redb() {
                let fixture = super::redb_fixture().await;
                super::$scenario(fixture.store.clone()).await;
            }
            #[tokio::test]
            async fn redis() {
                let fixture = super::redis_fixture().await;
                super::$scenario(fixture.store.clone()).await;
            }
        })*
    };
}

on_both_backends!(
    create_get_destroy,
    idle_timeout_ends_an_unused_session,
    activity_slides_the_idle_timeout,
    absolute_lifetime_ends_an_active_session,
    log_out_everywhere_ends_every_session_of_the_user,
    handoff_code_is_single_use_and_bound_to_its_host,
    expired_handoff_code_is_refused,
);

async fn create_get_destroy(store: SharedStore) {
    let service = SessionService::new(store, settings());
    let session = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    let id = session.id.as_str();
    assert_eq!(id.len(), 43, "256 bits in unpadded base64url");
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(session.created_at, session.auth_time);
    assert!(
        !format!("{session:?}").contains(id),
        "Debug must not leak the id"
    );
    assert!(!format!("{:?}", session.id).contains(id));

    let found = service
        .get(&session.id)
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(found.identity, identity("hangnt"));
    assert_eq!(found.strength, AuthStrength::Password);
    assert_eq!(found.csrf_key, session.csrf_key);
    assert_ne!(session.csrf_key, [0u8; 32]);

    let other = service
        .create(identity("hangnt"), AuthStrength::Certificate)
        .await
        .unwrap();
    assert_ne!(other.id, session.id, "ids are distinct");
    assert_ne!(other.csrf_key, session.csrf_key);

    service.destroy(&session.id).await.unwrap();
    assert!(service.get(&session.id).await.unwrap().is_none());
    assert!(
        service.get(&other.id).await.unwrap().is_some(),
        "only that one ends"
    );
    let never_issued = SessionId::generate().unwrap();
    assert!(service.get(&never_issued).await.unwrap().is_none());
}

async fn idle_timeout_ends_an_unused_session(store: SharedStore) {
    let service = SessionService::new(
        store,
        SessionSettings {
            idle_timeout: Duration::from_secs(1),
            ..settings()
        },
    );
    let session = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        service.get(&session.id).await.unwrap().is_none(),
        "unused for longer than the idle timeout"
    );
}

async fn activity_slides_the_idle_timeout(store: SharedStore) {
    let service = SessionService::new(
        store,
        SessionSettings {
            idle_timeout: Duration::from_secs(4),
            ..settings()
        },
    );
    let session = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(7);
    let mut last_seen = session.last_seen;
    while Instant::now() < until {
        let live = service.get(&session.id).await.unwrap();
        let live = live.expect("a session in use outlives its idle timeout");
        last_seen = live.last_seen;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(last_seen > session.last_seen, "last_seen was refreshed");
    // Polling would keep it alive: wait past the idle timeout, then look once.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        service.get(&session.id).await.unwrap().is_none(),
        "idle after activity stops"
    );
}

async fn absolute_lifetime_ends_an_active_session(store: SharedStore) {
    let service = SessionService::new(
        store,
        SessionSettings {
            absolute_lifetime: Duration::from_secs(2),
            ..settings()
        },
    );
    let session = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    assert!(service.get(&session.id).await.unwrap().is_some());
    wait_until_gone(&service, &session.id, "absolute lifetime").await;
}

async fn log_out_everywhere_ends_every_session_of_the_user(store: SharedStore) {
    let service = SessionService::new(store, settings());
    let first = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    let second = service
        .create(identity("hangnt"), AuthStrength::Certificate)
        .await
        .unwrap();
    let colleague = service
        .create(identity("tuanlv"), AuthStrength::Password)
        .await
        .unwrap();
    // Directories are case-insensitive: so is "log out everywhere".
    service.destroy_all_for_user("HangNT").await.unwrap();
    assert!(service.get(&first.id).await.unwrap().is_none());
    assert!(service.get(&second.id).await.unwrap().is_none());
    assert!(service.get(&colleague.id).await.unwrap().is_some());
    let after = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    assert!(
        service.get(&after.id).await.unwrap().is_some(),
        "a login after logging out everywhere works"
    );
    service.destroy_all_for_user("hangnt").await.unwrap();
    assert!(service.get(&after.id).await.unwrap().is_none(), "and again");
}

async fn handoff_code_is_single_use_and_bound_to_its_host(store: SharedStore) {
    let service = SessionService::new(store, settings());
    let origin = service
        .create(identity("hangnt"), AuthStrength::SecondFactor)
        .await
        .unwrap();

    let code = service
        .issue_handoff_code(&origin, "dichvucong.namdinh.vn")
        .await
        .unwrap();
    assert_eq!(code.len(), 43);
    let redeemed = service
        .redeem_handoff_code(&code, "DichVuCong.NamDinh.vn")
        .await
        .unwrap()
        .expect("right host, first use");
    assert_ne!(redeemed.id, origin.id, "a new session id for the app host");
    assert_eq!(redeemed.identity, origin.identity);
    assert_eq!(redeemed.strength, AuthStrength::SecondFactor);
    assert_eq!(redeemed.auth_time, origin.auth_time);
    assert_eq!(redeemed.host.as_deref(), Some("dichvucong.namdinh.vn"));
    assert!(service.get(&redeemed.id).await.unwrap().is_some());
    assert!(
        service
            .redeem_handoff_code(&code, "dichvucong.namdinh.vn")
            .await
            .unwrap()
            .is_none(),
        "single use"
    );

    let code = service
        .issue_handoff_code(&origin, "dichvucong.namdinh.vn")
        .await
        .unwrap();
    assert!(
        service
            .redeem_handoff_code(&code, "evil.example.com")
            .await
            .unwrap()
            .is_none(),
        "wrong host refused"
    );
    assert!(
        service
            .redeem_handoff_code(&code, "dichvucong.namdinh.vn")
            .await
            .unwrap()
            .is_none(),
        "a code tried on the wrong host is spent"
    );

    let code = service
        .issue_handoff_code(&origin, "dichvucong.namdinh.vn")
        .await
        .unwrap();
    service.destroy(&origin.id).await.unwrap();
    assert!(
        service
            .redeem_handoff_code(&code, "dichvucong.namdinh.vn")
            .await
            .unwrap()
            .is_none(),
        "the session behind the code has ended"
    );
    for garbage in ["", "short", &"x".repeat(5000), "../../etc/passwd"] {
        let redeemed = service.redeem_handoff_code(garbage, "dichvucong.namdinh.vn");
        assert!(redeemed.await.unwrap().is_none());
    }
}

async fn expired_handoff_code_is_refused(store: SharedStore) {
    let service = SessionService::new(
        store,
        SessionSettings {
            handoff_code_ttl: Duration::from_secs(1),
            ..settings()
        },
    );
    let origin = service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap();
    let code = service
        .issue_handoff_code(&origin, "app.example.vn")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let redeemed = service.redeem_handoff_code(&code, "app.example.vn").await;
    assert!(redeemed.unwrap().is_none(), "expired code refused");
}

async fn a_session(service: &SessionService) -> Session {
    service
        .create(identity("hangnt"), AuthStrength::Password)
        .await
        .unwrap()
}

#[tokio::test]
async fn cookie_attributes() {
    let fixture = redb_fixture().await;
    let service = SessionService::new(fixture.store.clone(), settings());
    let session = a_session(&service).await;
    let plain = service.cookie(&session, false);
    let plain = plain.to_str().unwrap();
    assert!(plain.starts_with(&format!("govgate_session={};", session.id.as_str())));
    for attribute in ["; HttpOnly", "; SameSite=Lax", "; Path=/"] {
        assert!(plain.contains(attribute), "{plain} lacks {attribute}");
    }
    assert!(
        !plain.contains("Secure"),
        "no Secure over plain HTTP: {plain}"
    );
    assert!(!plain.contains("Domain"), "host-only by default: {plain}");
    assert!(
        !plain.contains("Max-Age"),
        "a browser-session cookie: {plain}"
    );
    let tls = service.cookie(&session, true);
    assert!(tls.to_str().unwrap().contains("; Secure"));

    let clear = service.clear_cookie(true);
    let clear = clear.to_str().unwrap();
    assert!(clear.starts_with("govgate_session=;"), "{clear}");
    assert!(
        clear.contains("; Max-Age=0") && clear.contains("; Path=/") && clear.contains("; Secure")
    );

    let shared = SessionService::new(
        fixture.store.clone(),
        SessionSettings {
            cookie_domain: Some(".namdinh.gov.vn".into()),
            cookie_name: "gg".into(),
            ..settings()
        },
    );
    let cookie = shared.cookie(&session, true);
    let cookie = cookie.to_str().unwrap();
    assert!(cookie.starts_with("gg="), "{cookie}");
    assert!(cookie.contains("; Domain=.namdinh.gov.vn"), "{cookie}");
    assert!(shared
        .clear_cookie(false)
        .to_str()
        .unwrap()
        .contains("; Domain=.namdinh.gov.vn"));
}

fn cookies(values: &[&[u8]]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(COOKIE, HeaderValue::from_bytes(value).unwrap());
    }
    headers
}

#[tokio::test]
async fn session_id_from_cookie_headers() {
    let fixture = redb_fixture().await;
    let service = SessionService::new(fixture.store.clone(), settings());
    let id = a_session(&service).await.id;
    let other = a_session(&service).await.id;
    let ours = format!("govgate_session={}", id.as_str());

    let found = |values: &[&[u8]]| service.session_id_from(&cookies(values));
    assert_eq!(found(&[ours.as_bytes()]), Some(id.clone()));
    let among = format!("lang=vi; {ours}; theme=dark");
    assert_eq!(found(&[among.as_bytes()]), Some(id.clone()));
    assert_eq!(
        found(&[b"lang=vi", ours.as_bytes()]),
        Some(id.clone()),
        "second header"
    );
    let quoted = format!("govgate_session=\"{}\"", id.as_str());
    assert_eq!(found(&[quoted.as_bytes()]), Some(id.clone()));

    assert_eq!(found(&[]), None);
    assert_eq!(found(&[b"govgate_session="]), None);
    assert_eq!(found(&[b"govgate_session=short"]), None);
    let too_long = format!("govgate_session={}A", id.as_str());
    assert_eq!(found(&[too_long.as_bytes()]), None);
    let bad_alphabet = format!("govgate_session={}!", &id.as_str()[..42]);
    assert_eq!(found(&[bad_alphabet.as_bytes()]), None);
    let other_name = format!("xgovgate_session={}", id.as_str());
    assert_eq!(
        found(&[other_name.as_bytes()]),
        None,
        "name must match exactly"
    );
    assert_eq!(found(&[b"govgate_session"]), None, "no '='");
    assert_eq!(found(&[b";;;=;=="]), None);
    let non_utf8: &[u8] = b"govgate_session=\xff\xfe";
    assert_eq!(found(&[non_utf8]), None);
    let oversized = format!("pad={}; {ours}", "a".repeat(20_000));
    assert_eq!(
        found(&[oversized.as_bytes()]),
        None,
        "oversized header skipped"
    );
    let malformed_then_good = format!("govgate_session=garbage; {ours}");
    assert_eq!(found(&[malformed_then_good.as_bytes()]), Some(id.clone()));

    let twice = format!("{ours}; {ours}");
    assert_eq!(
        found(&[twice.as_bytes()]),
        Some(id.clone()),
        "same id twice is fine"
    );
    let tossed = format!("govgate_session={}; {ours}", other.as_str());
    assert_eq!(
        found(&[tossed.as_bytes()]),
        None,
        "two different ids: trust neither"
    );
    let split = format!("govgate_session={}", other.as_str());
    assert_eq!(found(&[ours.as_bytes(), split.as_bytes()]), None);
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_sessions() {
    let server = RedisServer::start();
    let cached = SessionSettings {
        cache_ttl: Duration::from_secs(1),
        ..SessionSettings::default()
    };
    let gateway_a = SessionService::new(redis_store(&server).await, cached.clone());
    let gateway_b = SessionService::new(redis_store(&server).await, cached);

    let session = a_session(&gateway_a).await;
    assert!(
        gateway_a.get(&session.id).await.unwrap().is_some(),
        "A caches it"
    );
    let seen_by_b = gateway_b
        .get(&session.id)
        .await
        .unwrap()
        .expect("B sees A's session");
    assert_eq!(seen_by_b.identity, session.identity);

    gateway_b.destroy(&session.id).await.unwrap();
    assert!(
        gateway_b.get(&session.id).await.unwrap().is_none(),
        "B at once"
    );
    wait_until_gone(&gateway_a, &session.id, "A within the cache TTL").await;

    let first = a_session(&gateway_a).await;
    let second = a_session(&gateway_b).await;
    assert!(gateway_a.get(&second.id).await.unwrap().is_some());
    gateway_b.destroy_all_for_user("hangnt").await.unwrap();
    assert!(gateway_b.get(&second.id).await.unwrap().is_none());
    wait_until_gone(&gateway_a, &first.id, "log out everywhere, seen by A").await;
    wait_until_gone(&gateway_a, &second.id, "log out everywhere, seen by A").await;

    let code = gateway_a
        .issue_handoff_code(&a_session(&gateway_a).await, "app.example.vn")
        .await
        .unwrap();
    let redeemed = gateway_b.redeem_handoff_code(&code, "app.example.vn").await;
    assert!(
        redeemed.unwrap().is_some(),
        "a code issued by A is redeemable on B"
    );
    let again = gateway_a.redeem_handoff_code(&code, "app.example.vn").await;
    assert!(again.unwrap().is_none(), "once across gateways");
}

#[tokio::test]
async fn redb_sessions_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("govgate.redb");
    let session = {
        let store: SharedStore = Arc::new(RedbStore::open(&path).await.unwrap());
        let service = SessionService::new(store, settings());
        a_session(&service).await
    };
    let store: SharedStore = Arc::new(RedbStore::open(&path).await.unwrap());
    let service = SessionService::new(store, settings());
    let found = service
        .get(&session.id)
        .await
        .unwrap()
        .expect("survives reopen");
    assert_eq!(found.identity, session.identity);
    assert_eq!(found.csrf_key, session.csrf_key);
}
