//! The embedded redb store with real processes: acknowledged writes survive `kill -9`,
//! a second process cannot open a locked file, and expired values are swept.
//!
//! The test binary re-executes itself as the child process: with `GOVGATE_STORE_CHILD`
//! set, the `child_process` test becomes the child's main (it does nothing otherwise).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use govgate::config::StoreConfig;
use govgate::store::{open, RedbStore, Store, StoreError};

const CHILD_PATH_VAR: &str = "GOVGATE_STORE_CHILD";
const CHILD_MODE_VAR: &str = "GOVGATE_STORE_CHILD_MODE";
/// Acknowledgements the parent waits for before killing the writer.
const ACKS_BEFORE_KILL: usize = 40;

/// Child entry point. Modes: `write` (write forever, one `ACK` line per committed write)
/// and `hold` (open the store, print `OPEN`, then wait to be killed).
#[tokio::test]
async fn child_process() {
    let Ok(path) = std::env::var(CHILD_PATH_VAR) else {
        return;
    };
    let store = RedbStore::open(Path::new(&path)).await.unwrap();
    let mut out = std::io::stdout().lock();
    match std::env::var(CHILD_MODE_VAR).as_deref() {
        Ok("hold") => {
            writeln!(out, "OPEN").unwrap();
            out.flush().unwrap();
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        _ => {
            for i in 0u64.. {
                store
                    .put(
                        &format!("session:{i}"),
                        format!("value-{i}").as_bytes(),
                        None,
                    )
                    .await
                    .unwrap();
                store
                    .put(
                        &format!("oidc:code:{i}"),
                        b"code",
                        Some(Duration::from_secs(3600)),
                    )
                    .await
                    .unwrap();
                let taken = store.take(&format!("oidc:code:{i}")).await.unwrap();
                assert!(taken.is_some());
                let count = store
                    .increment("counter", 1, Duration::from_secs(3600))
                    .await
                    .unwrap();
                writeln!(out, "ACK {i} {count}").unwrap();
                out.flush().unwrap();
            }
        }
    }
}

fn spawn_child(path: &Path, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_PATH_VAR, path)
        .env(CHILD_MODE_VAR, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the child if a test panics before doing so.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn store_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("govgate.redb");
    (dir, path)
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let (_dir, path) = store_file();
    let mut child = KillOnDrop(spawn_child(&path, "write"));
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();

    let mut acknowledged: Vec<(u64, i64)> = Vec::new();
    while acknowledged.len() < ACKS_BEFORE_KILL {
        let line = lines
            .next()
            .expect("child exited before enough acknowledgements")
            .unwrap();
        acknowledged.extend(parse_ack(&line));
    }
    // SIGKILL: no destructor, no flush, no graceful close.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Lines already in the pipe were printed after their commit: they count too.
    for line in lines {
        let Ok(line) = line else { break };
        acknowledged.extend(parse_ack(&line));
    }

    let store = open(
        &StoreConfig {
            path: Some(path.clone()),
            ..StoreConfig::default()
        },
        Path::new("/unused"),
    )
    .await
    .unwrap();
    for (i, _) in &acknowledged {
        assert_eq!(
            store.get(&format!("session:{i}")).await.unwrap(),
            Some(format!("value-{i}").into_bytes()),
            "acknowledged write {i} lost after kill -9"
        );
        assert_eq!(
            store.get(&format!("oidc:code:{i}")).await.unwrap(),
            None,
            "acknowledged take {i} undone"
        );
    }
    let last_count = acknowledged.iter().map(|(_, count)| *count).max().unwrap();
    let counter = store
        .increment("counter", 0, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        counter >= last_count,
        "counter {counter} went back below acknowledged {last_count}"
    );
    assert!(acknowledged.len() >= ACKS_BEFORE_KILL);
}

fn parse_ack(line: &str) -> Option<(u64, i64)> {
    // The first one shares its line with the test harness's `test child_process ... `.
    let (_, ack) = line.split_once("ACK ")?;
    let mut parts = ack.split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[tokio::test]
async fn a_second_process_gets_a_clear_error_on_a_locked_file() {
    let (_dir, path) = store_file();
    let mut child = KillOnDrop(spawn_child(&path, "hold"));
    let stdout = child.0.stdout.take().unwrap();
    // The test harness prints its own text first, and on the same line.
    let opened = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.ends_with("OPEN"));
    assert!(opened, "child exited before opening the store");

    let error = RedbStore::open(&path)
        .await
        .err()
        .expect("opening a locked file must fail");
    match &error {
        StoreError::Config(message) => {
            assert!(
                message.contains(&path.display().to_string()),
                "names the file: {message}"
            );
            assert!(message.contains("locked"), "says why: {message}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }

    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let store = RedbStore::open(&path)
        .await
        .expect("the lock dies with its process");
    store.put("k", b"v", None).await.unwrap();
}

#[tokio::test]
async fn sweep_removes_only_expired_values_in_batches() {
    let (_dir, path) = store_file();
    let store = RedbStore::open(&path).await.unwrap();
    let short = Duration::from_millis(200);
    for i in 0..1100 {
        store
            .put(&format!("expiring:{i:04}"), b"x", Some(short))
            .await
            .unwrap();
    }
    store.put("live:forever", b"x", None).await.unwrap();
    store
        .put("live:long", b"x", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(store.stored_entries().await.unwrap(), 1102);

    let deadline = Instant::now() + Duration::from_secs(15);
    while store.get("expiring:1099").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "values never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.sweep_expired().await.unwrap(),
        1100,
        "more than one batch is swept"
    );
    assert_eq!(store.sweep_expired().await.unwrap(), 0);
    assert_eq!(store.stored_entries().await.unwrap(), 2);
    assert!(store.get("live:forever").await.unwrap().is_some());
    assert!(store.get("live:long").await.unwrap().is_some());
}

#[tokio::test]
async fn background_sweeper_removes_expired_values() {
    let (_dir, path) = store_file();
    let store = RedbStore::open_with_sweep_interval(&path, Duration::from_millis(100))
        .await
        .unwrap();
    for i in 0..20 {
        store
            .put(
                &format!("expiring:{i}"),
                b"x",
                Some(Duration::from_millis(100)),
            )
            .await
            .unwrap();
    }
    store.put("live", b"x", None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.stored_entries().await.unwrap() != 1 {
        assert!(
            Instant::now() < deadline,
            "the background sweeper never removed expired values"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.get("live").await.unwrap().as_deref(), Some(&b"x"[..]));
}

#[tokio::test]
async fn values_survive_a_clean_reopen() {
    let (_dir, path) = store_file();
    {
        let store = RedbStore::open(&path).await.unwrap();
        store.put("session:a", b"kept", None).await.unwrap();
        store
            .put("session:b", b"expires", Some(Duration::from_millis(1)))
            .await
            .unwrap();
        assert_eq!(
            store
                .increment("counter", 3, Duration::from_secs(3600))
                .await
                .unwrap(),
            3
        );
    }
    let store = RedbStore::open(&path).await.unwrap();
    assert_eq!(
        store.get("session:a").await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(
        store
            .increment("counter", 1, Duration::from_secs(3600))
            .await
            .unwrap(),
        4,
        "keeps counting"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.get("session:b").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "expiry is lost across reopen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
