//! The shared vocabulary of who is asking: subjects, identities, login strength.
//!
//! Every room that deals with a person speaks these types: the directory produces an
//! [`Identity`], the session keeps it, the proxy passes it upstream, policies decide on it.

use serde::{Deserialize, Serialize};

/// How strongly the person proved who they are, weakest first (ordering is meaningful:
/// a policy asking for `Password` is satisfied by `Certificate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStrength {
    /// Username and password against the directory.
    Password,
    /// Password plus a second factor.
    SecondFactor,
    /// A client certificate (e.g. a government-issued signing token).
    Certificate,
}

/// A person as the directory describes them, at the time they logged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Stable, never-reassigned id (entryUUID, objectGUID, or the file backend's id).
    pub subject: String,
    /// Login name (`uid` / `sAMAccountName`).
    pub username: String,
    /// Full name, e.g. "Nguyễn Thị Hằng".
    pub display_name: String,
    pub email: Option<String>,
    /// Department or unit (phòng ban / đơn vị).
    pub department: Option<String>,
    pub employee_number: Option<String>,
    /// Group names (short names such as `lanh-dao`), nested memberships resolved.
    pub groups: Vec<String>,
    /// Distinguished names of the same groups (LDAP / AD; empty for the file directory), so
    /// policies can map groups to roles by DN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_dns: Vec<String>,
    /// Which directory vouched for this identity (`ldap`, `file`).
    pub source: String,
}

pub mod headers;
