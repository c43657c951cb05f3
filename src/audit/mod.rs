//! Tamper-evident audit log: one JSON record per line, each carrying the SHA-256 of the
//! previous record, so an edited, deleted, inserted or reordered record breaks the chain
//! at that point ([`verify`]).
//!
//! Records: `{seq, time, event, actor, client_ip, outcome, reason, details, prev_hash, hash}`
//! where `hash` = hex SHA-256 of the record serialised without `hash` (fields in this order,
//! compact JSON, `details` keys sorted) and the first record's `prev_hash` is 64 zeros.
//! Removing whole records from the *end* of the file cannot be detected from the file
//! alone; keep the last hash elsewhere (e.g. the logs) to detect that.

mod event;
mod record;
mod verify;
mod writer;

use std::path::PathBuf;

pub use event::{AuditEvent, LockoutSubject, LoginFailureReason};
pub use record::{AuditRecord, GENESIS_HASH};
pub use verify::{verify, BreakKind, ChainBreak, VerifyReport};
pub use writer::AuditLog;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit log {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("the audit log writer has stopped")]
    WriterStopped,
    #[error("audit log {path}: write failed: {message}")]
    Write { path: PathBuf, message: String },
}
