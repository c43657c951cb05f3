//! The audit log on real files: the chain verifies, every kind of tampering is found at
//! the right record, reopening continues the chain, and `govgate audit verify` via the
//! real binary reports it with the right exit status.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use govgate::audit::{
    verify, AuditEvent, AuditLog, AuditRecord, BreakKind, LoginFailureReason, GENESIS_HASH,
};
use govgate::bruteforce::LockoutSubject;
use govgate::identity::AuthStrength;

fn client() -> Option<IpAddr> {
    Some("203.0.113.7".parse().unwrap())
}

/// One event of each kind; the `n`th's username is `user{n}`.
fn event(n: usize) -> AuditEvent {
    let username = format!("user{n}");
    match n % 6 {
        0 => AuditEvent::LoginSucceeded {
            username,
            client_ip: client(),
            strength: AuthStrength::Password,
        },
        1 => AuditEvent::LoginFailed {
            username,
            client_ip: client(),
            reason: LoginFailureReason::BadCredentials,
        },
        2 => AuditEvent::LoggedOut {
            username,
            client_ip: None,
        },
        3 => AuditEvent::LockedOut {
            subject: LockoutSubject::User(username),
            until: 1_900_000_000,
            client_ip: client(),
        },
        4 => AuditEvent::Unlocked {
            subject: LockoutSubject::Ip("2001:db8:1:2::/64".into()),
            admin: username,
            client_ip: client(),
        },
        _ => AuditEvent::LoggedOutEverywhere {
            username,
            client_ip: client(),
        },
    }
}

async fn write_log(path: &Path, events: std::ops::Range<usize>) {
    let log = AuditLog::open(path).unwrap();
    for n in events {
        log.record(event(n)).await.unwrap();
    }
}

async fn log_with_five_records() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/audit.log");
    write_log(&path, 1..6).await;
    (dir, path)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn first_break(path: &Path) -> (usize, Option<u64>, BreakKind) {
    let report = verify(path).unwrap();
    let problem = report.first_break.expect("tampering must be detected");
    (problem.line, problem.seq, problem.kind)
}

#[tokio::test]
async fn write_behind_records_join_the_chain_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let log = AuditLog::open(&path).unwrap();
    let login = |n: usize| AuditEvent::LoginSucceeded {
        username: format!("user{n}"),
        client_ip: client(),
        strength: AuthStrength::Password,
    };
    for n in 1..=50 {
        log.record_behind(login(n)).await.unwrap();
    }
    // A synchronous record is queued after them: once it is on disk, so are they.
    log.record(login(51)).await.unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 51);
    let actors: Vec<String> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
        .filter_map(|r| r.actor)
        .collect();
    let expected: Vec<String> = (1..=51).map(|n| format!("user{n}")).collect();
    assert_eq!(actors, expected, "queue order is chain order");
}

#[tokio::test]
async fn records_form_a_verifiable_chain() {
    let (_dir, path) = log_with_five_records().await;
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 5);

    let records: Vec<AuditRecord> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record.seq, index as u64 + 1);
        assert_eq!(record.hash, record.compute_hash());
        assert!(
            record.time.ends_with('Z') && record.time.contains('T'),
            "RFC 3339 UTC: {}",
            record.time
        );
        if index > 0 {
            assert_eq!(record.prev_hash, records[index - 1].hash);
        }
    }
    assert_eq!(report.last_hash, records[4].hash);
    let failed = &records[0];
    assert_eq!(
        (failed.event.as_str(), failed.outcome.as_str()),
        ("login_failed", "failure")
    );
    assert_eq!(failed.reason.as_deref(), Some("bad_credentials"));
    assert_eq!(failed.actor.as_deref(), Some("user1"));
    assert_eq!(failed.client_ip.as_deref(), Some("203.0.113.7"));
    let locked = &records[2];
    assert_eq!(locked.event, "locked_out");
    assert_eq!(locked.details["subject"]["kind"], "user");
    assert_eq!(locked.details["until"], 1_900_000_000u64);
}

#[tokio::test]
async fn an_edited_record_is_named() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    lines[2] = lines[2].replace("\"user3\"", "\"user9\"");
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), (3, Some(3), BreakKind::Edited));
}

#[tokio::test]
async fn an_edited_record_with_a_recomputed_hash_breaks_the_next_link() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    let mut record: AuditRecord = serde_json::from_str(&lines[2]).unwrap();
    record.actor = Some("someone-else".into());
    record.hash = record.compute_hash();
    lines[2] = record.to_line();
    write_lines(&path, &lines);
    assert_eq!(first_break(&path), (4, Some(4), BreakKind::BrokenLink));
}

#[tokio::test]
async fn a_deleted_record_is_named() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    lines.remove(2);
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&path),
        (3, Some(4), BreakKind::Deleted { from: 3, to: 3 })
    );
}

#[tokio::test]
async fn swapped_records_are_named() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    lines.swap(1, 2);
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&path),
        (2, Some(3), BreakKind::Reordered { expected: 2 })
    );
}

#[tokio::test]
async fn a_repeated_record_is_named() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    let copy = lines[1].clone();
    lines.insert(2, copy);
    write_lines(&path, &lines);
    assert_eq!(
        first_break(&path),
        (3, Some(2), BreakKind::Inserted { expected: 3 })
    );
}

#[tokio::test]
async fn a_truncated_last_record_is_named() {
    let (_dir, path) = log_with_five_records().await;
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 20]).unwrap();
    assert_eq!(first_break(&path), (5, None, BreakKind::Truncated));
    let report = verify(&path).unwrap();
    assert_eq!(report.records, 4, "the four before it are intact");
}

#[tokio::test]
async fn garbage_in_the_middle_is_named() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    lines[1].insert(0, 'x');
    write_lines(&path, &lines);
    let (line, seq, kind) = first_break(&path);
    assert_eq!((line, seq), (2, None));
    assert!(matches!(kind, BreakKind::Malformed(_)), "{kind:?}");
}

#[tokio::test]
async fn reopening_continues_the_chain() {
    let (_dir, path) = log_with_five_records().await;
    write_log(&path, 6..9).await;
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 8);
    let last: AuditRecord = serde_json::from_str(lines(&path).last().unwrap()).unwrap();
    assert_eq!(last.seq, 8);
}

#[tokio::test]
async fn reopening_after_a_torn_write_keeps_the_evidence() {
    let (_dir, path) = log_with_five_records().await;
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{{\"seq\":6,\"ti")).unwrap();
    write_log(&path, 6..7).await;
    let lines = lines(&path);
    assert_eq!(lines.len(), 7, "the fragment stays on its own line");
    let record: AuditRecord = serde_json::from_str(&lines[6]).unwrap();
    assert_eq!(
        record.seq, 6,
        "the chain continues after the last complete record"
    );
    let (line, _, kind) = first_break(&path);
    assert_eq!(line, 6);
    assert!(matches!(kind, BreakKind::Malformed(_)), "{kind:?}");
}

#[tokio::test]
async fn opening_refuses_a_log_whose_last_record_was_edited() {
    let (_dir, path) = log_with_five_records().await;
    let mut lines = lines(&path);
    lines[4] = lines[4].replace("\"user5\"", "\"user0\"");
    write_lines(&path, &lines);
    let error = AuditLog::open(&path)
        .err()
        .expect("must not extend a damaged chain");
    assert!(error.to_string().contains("seq 5"), "{error}");
}

#[tokio::test]
async fn concurrent_records_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let log = AuditLog::open(&path).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..60 {
        let log = log.clone();
        tasks.spawn(async move { log.record(event(n)).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 60);
}

fn govgate_audit_verify(path: &Path) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(["audit", "verify"])
        .arg(path)
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (
        output.status.code(),
        text(output.stdout),
        text(output.stderr),
    )
}

#[tokio::test]
async fn cli_verify_reports_intact_and_tampered_logs() {
    let (dir, path) = log_with_five_records().await;
    let (code, stdout, _) = govgate_audit_verify(&path);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("5 records, chain intact"), "{stdout}");

    let mut lines = lines(&path);
    lines[2] = lines[2].replace("\"user3\"", "\"user9\"");
    write_lines(&path, &lines);
    let (code, stdout, stderr) = govgate_audit_verify(&path);
    assert_eq!(code, Some(1));
    assert!(!stdout.contains("intact"), "{stdout}");
    assert!(
        stderr.contains("line 3 (seq 3)") && stderr.contains("edited"),
        "{stderr}"
    );

    let (code, _, stderr) = govgate_audit_verify(&dir.path().join("missing.log"));
    assert_eq!(code, Some(2), "unreadable file: {stderr}");
    assert!(stderr.contains("missing.log"), "{stderr}");
}
