//! One conformance suite, run unchanged against every store backend: redb (temp dir),
//! a real standalone `redis-server`, a real 3-master Redis Cluster and a Sentinel setup.
//! Then Redis-specific behaviour: outage and recovery, password file, configuration errors.

mod support;

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use govgate::config::{RedisConfig, RedisMode, Seconds, StoreBackend, StoreConfig};
use govgate::store::{open, SharedStore, StoreError};
use support::redis::{RedisCluster, RedisSentinel, RedisServer};

/// How long eventual expiry may take before a test gives up (a bound, not a speed assert).
const EVENTUALLY: Duration = Duration::from_secs(15);
const SHORT_TTL: Duration = Duration::from_millis(300);
const LONG_TTL: Duration = Duration::from_secs(3600);

/// A store plus whatever must stay alive for it (temp dir, server processes).
struct Fixture {
    store: SharedStore,
    _keep_alive: Box<dyn Any>,
}

fn redis_config(mode: RedisMode, urls: Vec<String>) -> RedisConfig {
    RedisConfig {
        mode,
        urls,
        master_name: None,
        username: None,
        password_file: None,
        key_prefix: "govgate:".into(),
        connect_timeout: Seconds(Duration::from_secs(2)),
        command_timeout: Seconds(Duration::from_secs(1)),
    }
}

fn redis_store_config(redis: RedisConfig) -> StoreConfig {
    StoreConfig {
        backend: StoreBackend::Redis,
        path: None,
        redis: Some(redis),
    }
}

async fn redb_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&StoreConfig::default(), &dir.path().join("data"))
        .await
        .unwrap();
    assert_eq!(store.backend_name(), "redb");
    assert!(
        dir.path().join("data/govgate.redb").is_file(),
        "default redb path is <data_dir>/govgate.redb"
    );
    Fixture {
        store,
        _keep_alive: Box::new(dir),
    }
}

async fn redis_fixture() -> Fixture {
    let server = RedisServer::start();
    let config = redis_store_config(redis_config(RedisMode::Standalone, vec![server.url()]));
    let store = open(&config, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    assert_eq!(store.backend_name(), "redis");
    Fixture {
        store,
        _keep_alive: Box::new(server),
    }
}

async fn redis_cluster_fixture() -> Fixture {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let config = redis_store_config(redis_config(RedisMode::Cluster, cluster.urls()));
    let store = open(&config, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    Fixture {
        store,
        _keep_alive: Box::new(cluster),
    }
}

async fn redis_sentinel_fixture() -> Fixture {
    let setup = tokio::task::spawn_blocking(RedisSentinel::start)
        .await
        .unwrap();
    let mut redis = redis_config(RedisMode::Sentinel, vec![setup.sentinel_url()]);
    redis.master_name = Some(RedisSentinel::MASTER_NAME.into());
    let store = open(
        &redis_store_config(redis),
        std::path::Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    Fixture {
        store,
        _keep_alive: Box::new(setup),
    }
}

/// Polls until `key` is gone, panicking after `EVENTUALLY`.
async fn wait_until_absent(store: &SharedStore, key: &str) {
    let deadline = Instant::now() + EVENTUALLY;
    while store.get(key).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{key} never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The suite: every function takes only the trait object.
mod suite {
    use super::*;

    pub async fn get_put_delete(store: &SharedStore) {
        assert_eq!(store.get("session:a").await.unwrap(), None);
        store.put("session:a", b"one", None).await.unwrap();
        assert_eq!(
            store.get("session:a").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        store.put("session:a", b"two", None).await.unwrap();
        assert_eq!(
            store.get("session:a").await.unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(
            store.get("session:b").await.unwrap(),
            None,
            "keys are independent"
        );
        assert!(store.delete("session:a").await.unwrap());
        assert!(
            !store.delete("session:a").await.unwrap(),
            "second delete finds nothing"
        );
        assert_eq!(store.get("session:a").await.unwrap(), None);
        store.ping().await.unwrap();
    }

    pub async fn ttl_expiry(store: &SharedStore) {
        store.put("short", b"v", Some(SHORT_TTL)).await.unwrap();
        store.put("long", b"v", Some(LONG_TTL)).await.unwrap();
        store.put("forever", b"v", None).await.unwrap();
        // A TTL value rewritten without TTL no longer expires.
        store.put("renewed", b"old", Some(SHORT_TTL)).await.unwrap();
        store.put("renewed", b"new", None).await.unwrap();
        wait_until_absent(store, "short").await;
        assert!(
            !store.delete("short").await.unwrap(),
            "an expired value is not deleted twice"
        );
        assert_eq!(
            store.take("short").await.unwrap(),
            None,
            "an expired value cannot be taken"
        );
        assert_eq!(store.get("long").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(
            store.get("forever").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(
            store.get("renewed").await.unwrap().as_deref(),
            Some(&b"new"[..])
        );
        // An expired value counts as absent for compare_and_set.
        store
            .put("cas-expired", b"x", Some(SHORT_TTL))
            .await
            .unwrap();
        wait_until_absent(store, "cas-expired").await;
        assert!(!store
            .compare_and_set("cas-expired", Some(b"x"), Some(b"y"), None)
            .await
            .unwrap());
        assert!(store
            .compare_and_set("cas-expired", None, Some(b"y"), None)
            .await
            .unwrap());
    }

    pub async fn take_once_under_concurrency(store: &SharedStore) {
        assert_eq!(store.take("oidc:code:absent").await.unwrap(), None);
        store
            .put("oidc:code:1", b"grant", Some(LONG_TTL))
            .await
            .unwrap();
        let takers: Vec<_> = (0..32)
            .map(|_| {
                let store = Arc::clone(store);
                tokio::spawn(async move { store.take("oidc:code:1").await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for taker in takers {
            if let Some(value) = taker.await.unwrap() {
                assert_eq!(value, b"grant");
                winners += 1;
            }
        }
        assert_eq!(
            winners, 1,
            "exactly one of 32 concurrent takers gets the code"
        );
        assert_eq!(store.get("oidc:code:1").await.unwrap(), None);
    }

    pub async fn increment_counts(store: &SharedStore) {
        assert_eq!(
            store.increment("fail:a", 5, LONG_TTL).await.unwrap(),
            5,
            "absent starts at 0"
        );
        assert_eq!(store.increment("fail:a", -2, LONG_TTL).await.unwrap(), 3);
        assert_eq!(
            store.get("fail:a").await.unwrap().as_deref(),
            Some(&b"3"[..]),
            "stored as decimal text"
        );
        let (tasks, per_task) = (8, 25);
        let workers: Vec<_> = (0..tasks)
            .map(|_| {
                let store = Arc::clone(store);
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        store
                            .increment("fail:concurrent", 1, LONG_TTL)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        assert_eq!(
            store
                .increment("fail:concurrent", 0, LONG_TTL)
                .await
                .unwrap(),
            tasks * per_task
        );
        store.put("not-a-number", b"abc", None).await.unwrap();
        let error = store
            .increment("not-a-number", 1, LONG_TTL)
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
        assert_eq!(
            store.get("not-a-number").await.unwrap().as_deref(),
            Some(&b"abc"[..]),
            "left unchanged"
        );
    }

    pub async fn increment_keeps_first_ttl(store: &SharedStore) {
        assert_eq!(store.increment("window", 1, SHORT_TTL).await.unwrap(), 1);
        // A later increment with a long TTL must not extend the window.
        assert_eq!(store.increment("window", 1, LONG_TTL).await.unwrap(), 2);
        wait_until_absent(store, "window").await;
        assert_eq!(
            store.increment("window", 1, SHORT_TTL).await.unwrap(),
            1,
            "a new window starts from 0"
        );
    }

    pub async fn compare_and_set(store: &SharedStore) {
        assert!(
            store
                .compare_and_set("rt", None, Some(b"v1"), None)
                .await
                .unwrap(),
            "absent → value"
        );
        assert!(
            !store
                .compare_and_set("rt", None, Some(b"v2"), None)
                .await
                .unwrap(),
            "not absent any more"
        );
        assert!(!store
            .compare_and_set("rt", Some(b"wrong"), Some(b"v2"), None)
            .await
            .unwrap());
        assert_eq!(
            store.get("rt").await.unwrap().as_deref(),
            Some(&b"v1"[..]),
            "failed swaps change nothing"
        );
        assert!(store
            .compare_and_set("rt", Some(b"v1"), Some(b"v2"), None)
            .await
            .unwrap());
        assert_eq!(store.get("rt").await.unwrap().as_deref(), Some(&b"v2"[..]));
        assert!(
            !store
                .compare_and_set("rt", Some(b"v1"), None, None)
                .await
                .unwrap(),
            "stale delete refused"
        );
        assert!(
            store
                .compare_and_set("rt", Some(b"v2"), None, None)
                .await
                .unwrap(),
            "delete via None"
        );
        assert_eq!(store.get("rt").await.unwrap(), None);
        assert!(
            !store
                .compare_and_set("rt", Some(b"v2"), Some(b"v3"), None)
                .await
                .unwrap(),
            "absent ≠ value"
        );
        assert!(store
            .compare_and_set("rt-ttl", None, Some(b"x"), Some(SHORT_TTL))
            .await
            .unwrap());
        wait_until_absent(store, "rt-ttl").await;
        // Prefix of the current value is not equal to it.
        store.put("prefix", b"abcdef", None).await.unwrap();
        assert!(!store
            .compare_and_set("prefix", Some(b"abc"), Some(b"x"), None)
            .await
            .unwrap());
    }

    pub async fn concurrent_compare_and_set_has_one_winner(store: &SharedStore) {
        store.put("rotate", b"generation-0", None).await.unwrap();
        let contenders: Vec<_> = (0..16)
            .map(|i| {
                let store = Arc::clone(store);
                tokio::spawn(async move {
                    let new = format!("generation-1-by-{i}");
                    let won = store
                        .compare_and_set(
                            "rotate",
                            Some(b"generation-0"),
                            Some(new.as_bytes()),
                            None,
                        )
                        .await
                        .unwrap();
                    won.then_some(new)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for contender in contenders {
            winners.extend(contender.await.unwrap());
        }
        assert_eq!(
            winners.len(),
            1,
            "exactly one concurrent swap wins: {winners:?}"
        );
        assert_eq!(
            store.get("rotate").await.unwrap(),
            Some(winners[0].clone().into_bytes())
        );
    }

    pub async fn binary_and_empty_values(store: &SharedStore) {
        let every_byte: Vec<u8> = (0..=255).collect();
        store.put("binary", &every_byte, None).await.unwrap();
        assert_eq!(store.get("binary").await.unwrap(), Some(every_byte.clone()));
        assert!(store
            .compare_and_set("binary", Some(&every_byte), Some(b"\0\r\n\xff"), None)
            .await
            .unwrap());
        assert_eq!(
            store.take("binary").await.unwrap().as_deref(),
            Some(&b"\0\r\n\xff"[..])
        );
        store.put("empty", b"", None).await.unwrap();
        assert_eq!(
            store.get("empty").await.unwrap(),
            Some(Vec::new()),
            "empty is present, not absent"
        );
        assert!(!store
            .compare_and_set("empty", None, Some(b"x"), None)
            .await
            .unwrap());
        assert!(store
            .compare_and_set("empty", Some(b""), Some(b"x"), None)
            .await
            .unwrap());
        let large = vec![0xA5u8; 1 << 20];
        store.put("large", &large, None).await.unwrap();
        assert_eq!(store.get("large").await.unwrap(), Some(large));
    }

    pub async fn long_and_unicode_keys(store: &SharedStore) {
        let long_key = format!("session:{}", "k".repeat(4000));
        store.put(&long_key, b"long", None).await.unwrap();
        assert_eq!(
            store.get(&long_key).await.unwrap().as_deref(),
            Some(&b"long"[..])
        );
        let vietnamese = "phiên:người-dùng:Nguyễn Văn Ả";
        let similar = "phiên:người-dùng:Nguyễn Văn A";
        store
            .put(vietnamese, "Hà Nội".as_bytes(), None)
            .await
            .unwrap();
        assert_eq!(
            store.get(vietnamese).await.unwrap().as_deref(),
            Some("Hà Nội".as_bytes())
        );
        assert_eq!(
            store.get(similar).await.unwrap(),
            None,
            "keys differing only in diacritics are distinct"
        );
        assert_eq!(
            store
                .increment("đếm:lỗi đăng nhập", 2, LONG_TTL)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.take(vietnamese).await.unwrap().as_deref(),
            Some("Hà Nội".as_bytes())
        );
        let spaced = "key with spaces\r\nand newline";
        store.put(spaced, b"ok", None).await.unwrap();
        assert_eq!(
            store.get(spaced).await.unwrap().as_deref(),
            Some(&b"ok"[..])
        );
        assert_eq!(store.get("key with spaces").await.unwrap(), None);
    }
}

/// Instantiates every suite test for one backend.
macro_rules! conformance {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn get_put_delete() {
                suite::get_put_delete(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn ttl_expiry() {
                suite::ttl_expiry(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn take_once_under_concurrency() {
                suite::take_once_under_concurrency(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn increment_counts() {
                suite::increment_counts(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn increment_keeps_first_ttl() {
                suite::increment_keeps_first_ttl(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn compare_and_set() {
                suite::compare_and_set(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn concurrent_compare_and_set_has_one_winner() {
                suite::concurrent_compare_and_set_has_one_winner(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn binary_and_empty_values() {
                suite::binary_and_empty_values(&$fixture().await.store).await;
            }
            #[tokio::test]
            async fn long_and_unicode_keys() {
                suite::long_and_unicode_keys(&$fixture().await.store).await;
            }
        }
    };
}

conformance!(redb, redb_fixture);
conformance!(redis_standalone, redis_fixture);
conformance!(redis_cluster, redis_cluster_fixture);
conformance!(redis_sentinel, redis_sentinel_fixture);

async fn within_bound<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| panic!("{what} hung instead of failing"))
}

#[tokio::test]
async fn redis_outage_gives_unavailable_and_recovers_without_reopening() {
    let mut server = RedisServer::start();
    let config = redis_store_config(redis_config(RedisMode::Standalone, vec![server.url()]));
    let store = open(&config, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    store.put("before", b"1", None).await.unwrap();

    server.stop();
    for attempt in 0..3 {
        let error = within_bound("put during outage", store.put("during", b"2", None))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Unavailable(_)),
            "attempt {attempt}: {error:?}"
        );
        let error = within_bound("get during outage", store.get("before"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Unavailable(_)),
            "attempt {attempt}: {error:?}"
        );
    }
    let error = within_bound("ping during outage", store.ping())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("unavailable"), "{error}");

    server.restart();
    let deadline = Instant::now() + EVENTUALLY;
    while within_bound("put after restart", store.put("after", b"3", None))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "store never recovered after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        store.get("after").await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        store.increment("counter", 2, LONG_TTL).await.unwrap(),
        2,
        "scripts reload after restart"
    );
    assert!(store
        .compare_and_set("counter", Some(b"2"), Some(b"7"), None)
        .await
        .unwrap());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn redis_down_at_startup_opens_and_reports_unavailable() {
    let port = support::free_port();
    let config = redis_store_config(redis_config(
        RedisMode::Standalone,
        vec![format!("redis://127.0.0.1:{port}")],
    ));
    let store = open(&config, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    let error = within_bound("ping with no redis", store.ping())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let server = RedisServer::start_with(port, &[]);
    let deadline = Instant::now() + EVENTUALLY;
    while store.ping().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "store never connected once Redis started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.put("k", b"v", None).await.unwrap();
    assert!(server.command(&["EXISTS", "govgate:k"]).starts_with(":1"));
}

#[tokio::test]
async fn redis_keys_carry_the_configured_prefix() {
    let server = RedisServer::start();
    let mut redis = redis_config(RedisMode::Standalone, vec![server.url()]);
    redis.key_prefix = "tinh-a:".into();
    let store = open(
        &redis_store_config(redis),
        std::path::Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    store.put("session:1", b"v", None).await.unwrap();
    assert!(server
        .command(&["EXISTS", "tinh-a:session:1"])
        .starts_with(":1"));
    assert!(server.command(&["EXISTS", "session:1"]).starts_with(":0"));
    // Another province sharing the server does not see it.
    let other = open(
        &redis_store_config(redis_config(RedisMode::Standalone, vec![server.url()])),
        std::path::Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    assert_eq!(other.get("session:1").await.unwrap(), None);
}

#[tokio::test]
async fn redis_password_file_is_used_and_trimmed() {
    let server =
        RedisServer::start_with(support::free_port(), &["--requirepass", "mật-khẩu secret"]);
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("right");
    std::fs::write(&right, "mật-khẩu secret\n").unwrap();
    let mut redis = redis_config(RedisMode::Standalone, vec![server.url()]);
    redis.password_file = Some(right);
    let store = open(&redis_store_config(redis.clone()), dir.path())
        .await
        .unwrap();
    store.put("k", b"v", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-it\n").unwrap();
    redis.password_file = Some(wrong);
    let store = open(&redis_store_config(redis.clone()), dir.path())
        .await
        .unwrap();
    let error = within_bound("wrong password", store.get("k"))
        .await
        .unwrap_err();
    assert!(
        !error.to_string().contains("not-it"),
        "the password is never shown: {error}"
    );

    redis.password_file = Some(dir.path().join("missing"));
    let error = open(&redis_store_config(redis), dir.path())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, StoreError::Config(m) if m.contains("missing")),
        "{error:?}"
    );
}

#[tokio::test]
async fn invalid_store_configurations_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let no_section = StoreConfig {
        backend: StoreBackend::Redis,
        path: None,
        redis: None,
    };
    let error = open(&no_section, dir.path()).await.err().unwrap();
    assert!(matches!(error, StoreError::Config(_)), "{error:?}");

    let error = open(
        &redis_store_config(redis_config(RedisMode::Standalone, vec![])),
        dir.path(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(error, StoreError::Config(_)), "{error:?}");

    let bad_url = redis_config(
        RedisMode::Standalone,
        vec!["http://user:hunter2@example:1".into()],
    );
    let error = open(&redis_store_config(bad_url), dir.path())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, StoreError::Config(m) if !m.contains("hunter2")),
        "{error:?}"
    );

    let sentinel = redis_config(RedisMode::Sentinel, vec!["redis://127.0.0.1:1".into()]);
    let error = open(&redis_store_config(sentinel), dir.path())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, StoreError::Config(m) if m.contains("master_name")),
        "{error:?}"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let error = open(&StoreConfig::default(), &file).await.err().unwrap();
    assert!(
        matches!(error, StoreError::Config(_)),
        "a data dir that is a file: {error:?}"
    );
}

#[tokio::test]
async fn redis_sentinel_failover_is_followed_without_reopening() {
    let mut setup = tokio::task::spawn_blocking(RedisSentinel::start)
        .await
        .unwrap();
    let mut redis = redis_config(RedisMode::Sentinel, vec![setup.sentinel_url()]);
    redis.master_name = Some(RedisSentinel::MASTER_NAME.into());
    let store = open(
        &redis_store_config(redis),
        std::path::Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    store.put("before", b"1", None).await.unwrap();
    assert!(
        setup
            .master
            .command(&["EXISTS", "govgate:before"])
            .starts_with(":1"),
        "writes go to the master"
    );

    let old_master = setup.master.port();
    setup.master.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let promoted = setup.current_master_port() == Some(setup.replica.port());
        if promoted
            && within_bound("put after failover", store.put("after", b"2", None))
                .await
                .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store never followed the failover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(setup.replica.port(), old_master);
    assert!(
        setup
            .replica
            .command(&["EXISTS", "govgate:after"])
            .starts_with(":1"),
        "writes go to the new master"
    );
    assert_eq!(
        store.get("after").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
}

#[tokio::test]
async fn redis_cluster_node_outage_gives_unavailable_and_recovers() {
    let mut cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let config = redis_store_config(redis_config(RedisMode::Cluster, cluster.urls()));
    let store = open(&config, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    let keys: Vec<String> = (0..30).map(|i| format!("session:{i}")).collect();
    for key in &keys {
        store.put(key, b"v", None).await.unwrap();
    }

    cluster.nodes[0].stop();
    let mut unavailable = 0;
    for key in &keys {
        match within_bound("put with a node down", store.put(key, b"w", None)).await {
            Ok(()) => {}
            Err(StoreError::Unavailable(_)) => unavailable += 1,
            Err(other) => panic!("expected Unavailable, got {other:?}"),
        }
    }
    assert!(
        unavailable > 0,
        "keys on the stopped node's slots cannot be written"
    );

    cluster.nodes[0].restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    for key in &keys {
        while within_bound("put after node restart", store.put(key, b"x", None))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "store never recovered after the node came back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&b"x"[..]));
    }
}

#[tokio::test]
async fn redis_cluster_down_at_startup_opens_and_reports_unavailable() {
    let urls = vec![format!("redis://127.0.0.1:{}", support::free_port())];
    let store = open(
        &redis_store_config(redis_config(RedisMode::Cluster, urls)),
        std::path::Path::new("/nonexistent"),
    )
    .await
    .unwrap();
    let error = within_bound("cluster ping with no redis", store.ping())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}
