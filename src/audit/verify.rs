//! Checking a whole audit log: every record's hash, the link to its predecessor and the
//! sequence numbers. The first problem is reported by line and seq.

use std::fmt;
use std::path::Path;

use super::record::{AuditRecord, GENESIS_HASH};
use super::AuditError;

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked and found intact (all of them, or those before the break).
    pub records: u64,
    /// Hash of the last intact record (the genesis hash for an empty log).
    pub last_hash: String,
    /// The first problem, if any.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// 1-based line number in the file.
    pub line: usize,
    /// The record's seq, when the line is readable.
    pub seq: Option<u64>,
    pub kind: BreakKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// Not a record at all (edited into invalid JSON, or an unknown field).
    Malformed(String),
    /// The last line is incomplete: the file was truncated (or a write was interrupted).
    Truncated,
    /// The content does not match its hash: the record was edited.
    Edited,
    /// Records `from..=to` are missing.
    Deleted { from: u64, to: u64 },
    /// The record with seq `expected` appears later in the file.
    Reordered { expected: u64 },
    /// A seq that already appeared, or an out-of-sequence record: something was inserted.
    Inserted { expected: u64 },
    /// Hash and seq are consistent but `prev_hash` is not the previous record's hash:
    /// a record was inserted or the one before was replaced.
    BrokenLink,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        match &self.kind {
            BreakKind::Malformed(why) => write!(f, ": not a valid audit record: {why}"),
            BreakKind::Truncated => write!(f, ": incomplete last record (file truncated?)"),
            BreakKind::Edited => write!(f, ": record was edited (hash does not match content)"),
            BreakKind::Deleted { from, to } if from == to => {
                write!(f, ": record seq {from} was deleted")
            }
            BreakKind::Deleted { from, to } => write!(f, ": records seq {from}..{to} were deleted"),
            BreakKind::Reordered { expected } => write!(
                f,
                ": records reordered (seq {expected} was expected here and appears later)"
            ),
            BreakKind::Inserted { expected } => write!(
                f,
                ": record inserted or repeated (seq {expected} was expected here)"
            ),
            BreakKind::BrokenLink => write!(
                f,
                ": prev_hash does not match the previous record (record inserted or replaced)"
            ),
        }
    }
}

/// Reads and checks the log at `path` (blocking; call from a CLI or `spawn_blocking`).
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let bytes = std::fs::read(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(verify_bytes(&bytes))
}

/// One line of the file, parsed or not.
enum Line {
    Record(Box<AuditRecord>, bool),
    Malformed(String),
    Truncated,
}

fn parse_lines(bytes: &[u8]) -> Vec<Line> {
    let mut pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // A file ending in '\n' leaves an empty last piece: not a line.
    let terminated = pieces.last().is_some_and(|last| last.is_empty());
    if terminated {
        pieces.pop();
    }
    let last = pieces.len().saturating_sub(1);
    pieces
        .iter()
        .enumerate()
        .map(
            |(index, piece)| match serde_json::from_slice::<AuditRecord>(piece) {
                Ok(record) => {
                    let exact = record.to_line().as_bytes() == *piece;
                    Line::Record(Box::new(record), exact)
                }
                Err(_) if index == last && !terminated => Line::Truncated,
                Err(error) => Line::Malformed(error.to_string()),
            },
        )
        .collect()
}

pub(crate) fn verify_bytes(bytes: &[u8]) -> VerifyReport {
    let lines = parse_lines(bytes);
    let mut report = VerifyReport {
        records: 0,
        last_hash: GENESIS_HASH.to_string(),
        first_break: None,
    };
    for (index, line) in lines.iter().enumerate() {
        let expected = report.records + 1;
        let fail = |seq, kind| ChainBreak {
            line: index + 1,
            seq,
            kind,
        };
        let problem = match line {
            Line::Malformed(why) => Some(fail(None, BreakKind::Malformed(why.clone()))),
            Line::Truncated => Some(fail(None, BreakKind::Truncated)),
            Line::Record(record, exact) => check_record(
                record,
                *exact,
                expected,
                &report.last_hash,
                &lines[index + 1..],
            )
            .map(|kind| fail(Some(record.seq), kind)),
        };
        if let Some(problem) = problem {
            report.first_break = Some(problem);
            return report;
        }
        if let Line::Record(record, _) = line {
            report.records += 1;
            report.last_hash = record.hash.clone();
        }
    }
    report
}

fn check_record(
    record: &AuditRecord,
    exact: bool,
    expected: u64,
    prev_hash: &str,
    later: &[Line],
) -> Option<BreakKind> {
    if !exact || record.compute_hash() != record.hash {
        return Some(BreakKind::Edited);
    }
    let appears_later = || {
        later
            .iter()
            .any(|line| matches!(line, Line::Record(r, _) if r.seq == expected))
    };
    if record.seq > expected {
        return Some(if appears_later() {
            BreakKind::Reordered { expected }
        } else {
            BreakKind::Deleted {
                from: expected,
                to: record.seq - 1,
            }
        });
    }
    if record.seq < expected {
        return Some(BreakKind::Inserted { expected });
    }
    (record.prev_hash != prev_hash).then_some(BreakKind::BrokenLink)
}
