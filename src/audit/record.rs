//! The record as written, its canonical form and its hash.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// RFC 3339, UTC, whole seconds.
    pub time: String,
    pub event: String,
    pub actor: Option<String>,
    pub client_ip: Option<String>,
    /// `success`, `failure` or `blocked`.
    pub outcome: String,
    pub reason: Option<String>,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed content: every field but `hash`, in record order.
#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    time: &'a str,
    event: &'a str,
    actor: &'a Option<String>,
    client_ip: &'a Option<String>,
    outcome: &'a str,
    reason: &'a Option<String>,
    details: &'a Value,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// Hex SHA-256 of the canonical record without `hash`.
    pub fn compute_hash(&self) -> String {
        let unhashed = Unhashed {
            seq: self.seq,
            time: &self.time,
            event: &self.event,
            actor: &self.actor,
            client_ip: &self.client_ip,
            outcome: &self.outcome,
            reason: &self.reason,
            details: &self.details,
            prev_hash: &self.prev_hash,
        };
        // Serialising plain strings, numbers and a JSON value cannot fail.
        let canonical = serde_json::to_vec(&unhashed).unwrap_or_default();
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &canonical).as_ref())
    }

    /// The line as written (compact JSON, no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
