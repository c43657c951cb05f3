//! Brute-force regulation against real stores: redb for the rules, a real
//! `redis-server` shared by two guards for cross-instance counting.

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use govgate::bruteforce::{LockoutSubject, LoginGuard, LoginProtectionSettings, Verdict};
use govgate::config::{RedisConfig, RedisMode, Seconds, StoreBackend, StoreConfig};
use govgate::store::{open, SharedStore};
use support::redis::RedisServer;

const EVENTUALLY: Duration = Duration::from_secs(20);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn settings(user_max: u32, ip_max: u32) -> LoginProtectionSettings {
    LoginProtectionSettings {
        user_max_failures: user_max,
        ip_max_failures: ip_max,
        ..LoginProtectionSettings::default()
    }
}

async fn redb_guard(settings: LoginProtectionSettings) -> (LoginGuard, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&StoreConfig::default(), dir.path()).await.unwrap();
    (LoginGuard::new(store, settings), dir)
}

async fn redis_store(server: &RedisServer) -> SharedStore {
    let config = StoreConfig {
        backend: StoreBackend::Redis,
        path: None,
        redis: Some(RedisConfig {
            mode: RedisMode::Standalone,
            urls: vec![server.url()],
            master_name: None,
            username: None,
            password_file: None,
            key_prefix: "govgate:".into(),
            connect_timeout: Seconds(Duration::from_secs(2)),
            command_timeout: Seconds(Duration::from_secs(2)),
        }),
    };
    open(&config, std::path::Path::new("/nonexistent"))
        .await
        .unwrap()
}

/// Fails `username` from `from` until just before the lock, checking it stays allowed.
async fn fail_until_lock(
    guard: &LoginGuard,
    username: &str,
    from: IpAddr,
    max: u32,
) -> Vec<String> {
    let mut trace = Vec::new();
    for attempt in 1..=max {
        trace.push(format!("{:?}", guard.check(username, from).await.unwrap()));
        let lockouts = guard.record_failure(username, from).await.unwrap();
        trace.push(format!("{}", lockouts.len()));
        if attempt < max {
            assert!(lockouts.is_empty(), "attempt {attempt} must not lock");
        }
    }
    trace.push(format!("{:?}", guard.check(username, from).await.unwrap()));
    trace
}

#[tokio::test]
async fn username_locks_after_max_failures() {
    let (guard, _dir) = redb_guard(settings(3, 100)).await;
    let from = ip("203.0.113.7");
    assert_eq!(guard.check("hangnt", from).await.unwrap(), Verdict::Allowed);
    guard.record_failure("hangnt", from).await.unwrap();
    guard.record_failure("hangnt", from).await.unwrap();
    assert_eq!(guard.check("hangnt", from).await.unwrap(), Verdict::Allowed);
    let lockouts = guard.record_failure("HangNT", from).await.unwrap();
    assert_eq!(lockouts.len(), 1, "the third failure locks: {lockouts:?}");
    assert_eq!(lockouts[0].subject, LockoutSubject::User("hangnt".into()));
    assert!(lockouts[0].until > 0);

    let locked = Verdict::Locked(LockoutSubject::User("hangnt".into()));
    assert_eq!(guard.check("hangnt", from).await.unwrap(), locked);
    assert_eq!(
        guard.check(" HANGNT ", ip("198.51.100.1")).await.unwrap(),
        locked,
        "any case, any address"
    );
    assert_eq!(
        guard.check("tuanlv", from).await.unwrap(),
        Verdict::Allowed,
        "others unaffected"
    );
}

#[tokio::test]
async fn unknown_usernames_are_treated_exactly_like_real_ones() {
    let (guard, _dir) = redb_guard(settings(4, 100)).await;
    let real = fail_until_lock(&guard, "hangnt", ip("203.0.113.7"), 4).await;
    let unknown = fail_until_lock(&guard, "khong-ton-tai", ip("203.0.113.8"), 4).await;
    let real = real.join(" ").replace("hangnt", "NAME");
    let unknown = unknown.join(" ").replace("khong-ton-tai", "NAME");
    assert_eq!(real, unknown);
    assert!(real.ends_with("Locked(User(\"NAME\"))"), "{real}");
}

#[tokio::test]
async fn address_locks_after_max_failures_across_usernames() {
    let (guard, _dir) = redb_guard(settings(100, 4)).await;
    let attacker = ip("203.0.113.7");
    for n in 0..3 {
        let lockouts = guard
            .record_failure(&format!("user{n}"), attacker)
            .await
            .unwrap();
        assert!(lockouts.is_empty());
    }
    let lockouts = guard.record_failure("user3", attacker).await.unwrap();
    assert_eq!(lockouts.len(), 1);
    assert_eq!(
        lockouts[0].subject,
        LockoutSubject::Ip("203.0.113.7".into())
    );
    assert_eq!(
        guard.check("someone-else", attacker).await.unwrap(),
        Verdict::Locked(LockoutSubject::Ip("203.0.113.7".into()))
    );
    let mapped = ip("::ffff:203.0.113.7");
    assert!(
        matches!(guard.check("x", mapped).await.unwrap(), Verdict::Locked(_)),
        "IPv4-mapped is the same address"
    );
    assert_eq!(
        guard.check("user0", ip("203.0.113.8")).await.unwrap(),
        Verdict::Allowed
    );
}

#[tokio::test]
async fn ipv6_addresses_are_grouped_by_64() {
    let (guard, _dir) = redb_guard(settings(100, 3)).await;
    for address in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
    ] {
        guard
            .record_failure("hangnt-probe", ip(address))
            .await
            .unwrap();
    }
    let network = LockoutSubject::Ip("2001:db8:1:2::/64".into());
    let verdict = guard
        .check("anyone", ip("2001:db8:1:2:abcd::9"))
        .await
        .unwrap();
    assert_eq!(verdict, Verdict::Locked(network));
    let next_door = guard.check("anyone", ip("2001:db8:1:3::1")).await.unwrap();
    assert_eq!(
        next_door,
        Verdict::Allowed,
        "the neighbouring /64 is not locked"
    );
}

#[tokio::test]
async fn success_resets_the_username_count() {
    let (guard, _dir) = redb_guard(settings(3, 100)).await;
    let from = ip("203.0.113.7");
    for _ in 0..2 {
        guard.record_failure("hangnt", from).await.unwrap();
    }
    guard.record_success("HANGNT").await.unwrap();
    for _ in 0..2 {
        assert!(guard
            .record_failure("hangnt", from)
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(guard.check("hangnt", from).await.unwrap(), Verdict::Allowed);
    assert_eq!(guard.record_failure("hangnt", from).await.unwrap().len(), 1);
}

#[tokio::test]
async fn admin_unlocks_users_and_addresses() {
    let (guard, _dir) = redb_guard(settings(2, 2)).await;
    let from = ip("2001:db8::5");
    guard.record_failure("hangnt", from).await.unwrap();
    let lockouts = guard.record_failure("hangnt", from).await.unwrap();
    assert_eq!(
        lockouts.len(),
        2,
        "both limits reached at once: {lockouts:?}"
    );

    assert!(guard.unlock("HangNT").await.unwrap(), "was locked");
    assert!(!guard.unlock("hangnt").await.unwrap(), "no longer locked");
    let verdict = guard.check("hangnt", from).await.unwrap();
    assert!(
        matches!(verdict, Verdict::Locked(LockoutSubject::Ip(_))),
        "{verdict:?}"
    );
    assert!(
        guard.unlock_ip(ip("2001:db8::ffff")).await.unwrap(),
        "same /64"
    );
    assert_eq!(guard.check("hangnt", from).await.unwrap(), Verdict::Allowed);
    assert!(
        guard
            .record_failure("hangnt", from)
            .await
            .unwrap()
            .is_empty(),
        "counts start over"
    );
}

#[tokio::test]
async fn lockout_ends_by_itself() {
    let (guard, _dir) = redb_guard(LoginProtectionSettings {
        user_lockout: Duration::from_secs(1),
        ..settings(1, 100)
    })
    .await;
    let from = ip("203.0.113.7");
    assert_eq!(guard.record_failure("hangnt", from).await.unwrap().len(), 1);
    assert!(matches!(
        guard.check("hangnt", from).await.unwrap(),
        Verdict::Locked(_)
    ));
    let deadline = Instant::now() + EVENTUALLY;
    while guard.check("hangnt", from).await.unwrap() != Verdict::Allowed {
        assert!(Instant::now() < deadline, "lockout never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_counters() {
    let server = RedisServer::start();
    let gateway_a = LoginGuard::new(redis_store(&server).await, settings(3, 100));
    let gateway_b = LoginGuard::new(redis_store(&server).await, settings(3, 100));
    let from = ip("203.0.113.7");
    assert!(gateway_a
        .record_failure("hangnt", from)
        .await
        .unwrap()
        .is_empty());
    assert!(gateway_b
        .record_failure("hangnt", from)
        .await
        .unwrap()
        .is_empty());
    let lockouts = gateway_a.record_failure("hangnt", from).await.unwrap();
    assert_eq!(lockouts.len(), 1, "A counts B's failure");
    let verdict = gateway_b.check("hangnt", from).await.unwrap();
    assert_eq!(
        verdict,
        Verdict::Locked(LockoutSubject::User("hangnt".into())),
        "B sees A's lock"
    );
    assert!(gateway_b.unlock("hangnt").await.unwrap());
    assert_eq!(
        gateway_a.check("hangnt", from).await.unwrap(),
        Verdict::Allowed
    );
}
