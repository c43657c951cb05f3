//! `roles.toml`: which directory groups give which roles, and which roles include others.
//!
//! ```toml
//! [roles.lanh-dao]
//! description = "Lãnh đạo"
//! groups = ["lanh-dao"]
//! includes = ["chuyen-vien"]   # a leader may do whatever staff may do
//! ```
//! A `groups` entry is a group name (`lanh-dao`, compared case-insensitively) or, when it
//! contains `=`, a group DN (`cn=lanh-dao,ou=groups,dc=namdinh,dc=gov,dc=vn`, compared
//! case- and space-insensitively with the DNs the LDAP directory reports).
//! A role that includes another is, in Cedar, a member of it: `principal in Role::"chuyen-vien"`
//! holds for a leader. Inclusion must not loop.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use toml::Spanned;

use super::diagnostics::{Diagnostic, Position};
use super::source::ROLES_FILE;

/// A set of roles, as bits over [`RoleMap`] indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleBits(Vec<u64>);

impl RoleBits {
    pub fn with(index: usize) -> Self {
        let mut bits = RoleBits::default();
        bits.insert(index);
        bits
    }

    pub fn insert(&mut self, index: usize) {
        let word = index / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (index % 64);
    }

    pub fn contains(&self, index: usize) -> bool {
        self.0
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    pub fn union_with(&mut self, other: &RoleBits) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine |= theirs;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(word, bits)| {
            (0..64).filter_map(move |bit| (bits & (1 << bit) != 0).then_some(word * 64 + bit))
        })
    }
}

/// One role as written.
#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub description: String,
    pub groups: Vec<String>,
    /// Roles this one includes (indexes).
    pub includes: Vec<usize>,
    /// This role and every role it includes, transitively.
    pub closure: RoleBits,
    pub position: Position,
}

/// The compiled `roles.toml`.
#[derive(Debug, Clone, Default)]
pub struct RoleMap {
    roles: Vec<Role>,
    index: HashMap<String, usize>,
    /// Lowercased group name, or normalised group DN → every role it gives (closed under
    /// inclusion).
    by_group: HashMap<String, RoleBits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    #[serde(default)]
    roles: BTreeMap<Spanned<String>, RoleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    #[serde(default)]
    description: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    includes: Vec<Spanned<String>>,
}

impl RoleMap {
    /// Parses `roles.toml`; problems are pushed to `diagnostics` (a role map is returned
    /// anyway, without the broken parts, so later checks can still run).
    pub fn parse(text: &str, diagnostics: &mut Vec<Diagnostic>) -> RoleMap {
        let at = |offset: usize| Position::of_offset(text, offset);
        let file: RolesFile = match toml::from_str(text) {
            Ok(file) => file,
            Err(error) => {
                let offset = error.span().map_or(0, |s| s.start);
                diagnostics.push(Diagnostic::error(
                    ROLES_FILE,
                    at(offset),
                    error.message().trim().to_string(),
                ));
                return RoleMap::default();
            }
        };
        let mut map = RoleMap::default();
        for (id, entry) in &file.roles {
            if !is_role_id(id.get_ref()) {
                diagnostics.push(Diagnostic::error(
                    ROLES_FILE,
                    at(id.span().start),
                    format!(
                        "role id {:?} must be lowercase letters, digits and '-'",
                        id.get_ref()
                    ),
                ));
            }
            map.index.insert(id.get_ref().clone(), map.roles.len());
            map.roles.push(Role {
                id: id.get_ref().clone(),
                description: entry.description.clone(),
                groups: entry.groups.clone(),
                includes: Vec::new(),
                closure: RoleBits::with(map.roles.len()),
                position: at(id.span().start),
            });
        }
        for (index, entry) in file.roles.values().enumerate() {
            for included in &entry.includes {
                match map.index.get(included.get_ref()) {
                    Some(&target) => map.roles[index].includes.push(target),
                    None => diagnostics.push(Diagnostic::error(
                        ROLES_FILE,
                        at(included.span().start),
                        format!(
                            "role {:?} includes {:?}, which is not defined here",
                            map.roles[index].id,
                            included.get_ref()
                        ),
                    )),
                }
            }
        }
        map.close(diagnostics);
        map
    }

    /// Computes each role's closure; reports inclusion cycles and drops the edge that closes one.
    fn close(&mut self, diagnostics: &mut Vec<Diagnostic>) {
        for start in 0..self.roles.len() {
            let mut closure = RoleBits::with(start);
            let mut stack = self.roles[start].includes.clone();
            while let Some(next) = stack.pop() {
                if next == start {
                    diagnostics.push(Diagnostic::error(
                        ROLES_FILE,
                        self.roles[start].position,
                        format!(
                            "role {:?} includes itself through other roles: inclusion must not loop",
                            self.roles[start].id
                        ),
                    ));
                    continue;
                }
                if !closure.contains(next) {
                    closure.insert(next);
                    stack.extend(self.roles[next].includes.iter().copied());
                }
            }
            self.roles[start].closure = closure;
        }
        for role in &self.roles {
            for group in &role.groups {
                self.by_group
                    .entry(group_key(group))
                    .or_default()
                    .union_with(&role.closure);
            }
        }
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn get(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn role(&self, index: usize) -> &Role {
        &self.roles[index]
    }

    /// Every role the directory groups (names or DNs) give, closed under inclusion.
    pub fn for_groups<S: AsRef<str>>(&self, groups: &[S]) -> RoleBits {
        self.for_group_list(groups.iter().map(AsRef::as_ref))
    }

    /// The same over any list: a person's group names and group DNs together.
    pub fn for_group_list<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> RoleBits {
        let mut bits = RoleBits::default();
        for group in groups {
            // Names from the directory are usually lowercase already: no allocation then.
            let found = match self.by_group.get(group) {
                Some(found) => Some(found),
                None if group.contains('=') || group.bytes().any(|b| b.is_ascii_uppercase()) => {
                    self.by_group.get(&group_key(group))
                }
                None => None,
            };
            if let Some(roles) = found {
                bits.union_with(roles);
            }
        }
        bits
    }

    /// The named roles closed under inclusion; unknown names are returned as errors.
    pub fn for_role_names<S: AsRef<str>>(&self, names: &[S]) -> Result<RoleBits, String> {
        let mut bits = RoleBits::default();
        for name in names {
            let index = self
                .get(name.as_ref())
                .ok_or_else(|| format!("unknown role {:?}", name.as_ref()))?;
            bits.union_with(&self.roles[index].closure);
        }
        Ok(bits)
    }
}

/// How a `groups` entry is compared: names lowercased; DNs lowercased with the spaces
/// around `,` and `=` removed (`CN=Lãnh đạo, OU=Groups` ≡ `cn=lãnh đạo,ou=groups`).
fn group_key(group: &str) -> String {
    let lower = group.trim().to_lowercase();
    if !lower.contains('=') {
        return lower;
    }
    lower
        .split(',')
        .map(|rdn| {
            let (attribute, value) = rdn.split_once('=').unwrap_or((rdn, ""));
            format!("{}={}", attribute.trim(), value.trim())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Role ids: `[a-z0-9-]+`, like app ids.
pub fn is_role_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &str = r#"
[roles.can-bo]
groups = []
[roles.chuyen-vien]
groups = ["chuyen-vien"]
includes = ["can-bo"]
[roles.lanh-dao]
groups = ["lanh-dao", "CN=Lanh Dao"]
includes = ["chuyen-vien"]
"#;

    #[test]
    fn groups_give_roles_with_everything_they_include() {
        let mut problems = Vec::new();
        let map = RoleMap::parse(ROLES, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let leader = map.for_groups(&["lanh-dao"]);
        for role in ["lanh-dao", "chuyen-vien", "can-bo"] {
            assert!(leader.contains(map.get(role).unwrap()), "{role}");
        }
        let staff = map.for_groups(&["chuyen-vien", "unknown-group"]);
        assert!(!staff.contains(map.get("lanh-dao").unwrap()));
        assert!(staff.contains(map.get("can-bo").unwrap()));
        assert_eq!(map.for_groups(&["cn=lanh dao"]), leader);
        assert_eq!(
            map.for_groups(&["CN = Lanh Dao"]),
            leader,
            "DNs compare without case and spaces"
        );
        assert!(map.for_groups::<&str>(&[]).is_empty());
    }

    #[test]
    fn cycles_and_unknown_roles_are_errors_with_lines() {
        let text = "[roles.a]\nincludes = [\"b\"]\n[roles.b]\nincludes = [\"a\", \"ghost\"]\n";
        let mut problems = Vec::new();
        RoleMap::parse(text, &mut problems);
        assert!(problems
            .iter()
            .any(|p| p.message.contains("ghost") && p.line == 4));
        assert!(problems.iter().any(|p| p.message.contains("must not loop")));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let mut problems = Vec::new();
        RoleMap::parse("[roles.a]\ngrops = []\n", &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.contains("grops"), "{}", problems[0]);
    }
}
