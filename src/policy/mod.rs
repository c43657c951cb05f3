//! Access policies: Cedar policies that security officers write, test and review, deciding
//! who may reach which app route, sign in to which app, and administer the gateway.
//!
//! A policies directory holds `schema.cedarschema`, `*.cedar`, `roles.toml` (directory groups →
//! roles), `routes.toml` (route classes per app) and `tests/*.toml` (test tables). It is read
//! into a [`PolicySource`], compiled and strictly validated into a [`CompiledSet`], and run by a
//! [`PolicyEngine`] that caches decisions per class of request. [`PolicyStore`] holds the set
//! in force and swaps in a new one only after it compiled and passed every test table.
//!
//! Semantics (Cedar's): default deny; a `forbid` that applies overrides every `permit`; every
//! decision names the policies that made it, by the `@id` the officer gave them.
//!
//! This room knows nothing of HTTP, the audit log or metrics: the server wires those in.

mod cache;
pub mod clock;
mod compile;
mod diagnostics;
mod engine;
pub mod explain;
mod format;
mod lint;
mod request;
mod roles;
mod routes;
mod slices;
mod source;
mod split;
pub(crate) mod store;
mod testcase;
mod usage;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use compile::{compile, CompiledSet, KnownApp, PolicyInfo};
pub use diagnostics::{Diagnostic, Diagnostics, Position, Severity};
pub use engine::{strength_level, strength_name, subject_with_roles, PolicyEngine, GATEWAY_ENTITY};
pub use format::{format_policies, FormatError};
pub use request::{AccessRequest, AdminAction, Decision, PrincipalKind, Subject, Target};
pub use roles::{RoleBits, RoleMap};
pub use routes::{RouteAction, RouteTable, DEFAULT_CLASS};
pub use source::{
    is_policy_file_name, FileChange, PolicySource, ROLES_FILE, ROUTES_FILE, SCHEMA_FILE, TESTS_DIR,
};
pub use store::{PolicyStore, ReloadError, SampledRequest, SAMPLE_CAPACITY};
pub use testcase::{
    parse_test_file, run_tests, Expect, TestCase, TestOutcome, DEFAULT_TEST_IP, DEFAULT_TEST_TIME,
};
pub use usage::ContextUsage;

/// Problems reading or writing policy files.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0:?} is not a policy file name: use schema.cedarschema, roles.toml, routes.toml, NAME.cedar or tests/NAME.toml")]
    FileName(String),
    #[error("{0}: larger than the 1 MiB a policy file may have")]
    TooLarge(String),
    #[error("a policy set may have at most {} files", source::MAX_FILES)]
    TooManyFiles,
}
