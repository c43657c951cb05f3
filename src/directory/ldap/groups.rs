//! Group memberships: from `memberOf`, from a `(member=<dn>)` search, or from AD's
//! in-chain matching rule. Nested groups are followed level by level up to a depth limit;
//! a DN seen once is never expanded again, so cycles end.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{ldap_escape, Scope};

use super::connect::Pool;
use super::entry::{all_text, first_text};
use crate::config::{GroupMode, LdapConfig};
use crate::directory::DirectoryError;

/// AD LDAP_MATCHING_RULE_IN_CHAIN: transitive membership evaluated by the server.
const IN_CHAIN_RULE: &str = "1.2.840.113556.1.4.1941";
/// Entries kept in the cache before expired ones are swept.
const CACHE_SWEEP_AT: usize = 10_000;

/// A user's resolved groups and when they were resolved, by lowercase user DN.
type GroupCache = HashMap<String, (Instant, Arc<Memberships>)>;

/// The groups a user is in, nested memberships resolved: names (sorted, de-duplicated) and
/// the groups' DNs (sorted, de-duplicated, as the directory wrote them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Memberships {
    pub names: Vec<String>,
    pub dns: Vec<String>,
}

impl Memberships {
    fn add(&mut self, name: Option<String>, dn: String) {
        self.names.extend(name);
        self.dns.push(dn);
    }

    fn tidy(&mut self) {
        self.names.sort();
        self.names.dedup();
        self.dns.sort();
        self.dns.dedup();
    }
}

pub(crate) struct GroupResolver {
    mode: GroupMode,
    base_dn: String,
    name_attribute: String,
    member_of_attribute: String,
    max_depth: usize,
    ttl: Duration,
    cache: Mutex<GroupCache>,
}

/// A group found at some level: its DN (to expand further) and its name.
struct Group {
    dn: String,
    name: Option<String>,
    parents: Vec<String>,
}

impl GroupResolver {
    pub(crate) fn new(config: &LdapConfig) -> GroupResolver {
        GroupResolver {
            mode: config.group_mode,
            base_dn: config.group_base_dn.clone().unwrap_or_default(),
            name_attribute: config.group_name_attribute.clone(),
            member_of_attribute: config.attributes.member_of.clone(),
            max_depth: config.group_max_depth,
            ttl: config.group_cache_ttl.get(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The attribute the user search must also read (memberOf mode).
    pub(crate) fn user_attribute(&self) -> Option<&str> {
        (self.mode == GroupMode::MemberOf).then_some(self.member_of_attribute.as_str())
    }

    /// Sorted, de-duplicated group names of the user at `user_dn`; `direct` are the
    /// user's own `memberOf` values (memberOf mode).
    pub(crate) async fn groups_of(
        &self,
        pool: &Pool,
        user_dn: &str,
        direct: &[String],
    ) -> Result<Arc<Memberships>, DirectoryError> {
        let key = user_dn.to_lowercase();
        if let Some(cached) = self.cached(&key) {
            return Ok(cached);
        }
        let mut found = match self.mode {
            GroupMode::AdInChain => self.in_chain(pool, user_dn).await?,
            GroupMode::MemberOf | GroupMode::Search => {
                self.nested(pool, user_dn, direct.to_vec()).await?
            }
        };
        found.tidy();
        let found = Arc::new(found);
        self.remember(key, &found);
        Ok(found)
    }

    fn cached(&self, key: &str) -> Option<Arc<Memberships>> {
        if self.ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, names)| names.clone())
    }

    fn remember(&self, key: String, found: &Arc<Memberships>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_SWEEP_AT {
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= CACHE_SWEEP_AT {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), found.clone()));
    }

    /// Level-by-level expansion: level 1 is the user's direct groups, each next level the
    /// groups those are members of, up to `max_depth`.
    async fn nested(
        &self,
        pool: &Pool,
        user_dn: &str,
        direct: Vec<String>,
    ) -> Result<Memberships, DirectoryError> {
        let mut seen: HashSet<String> = HashSet::from([user_dn.to_lowercase()]);
        let mut found = Memberships::default();
        let mut level: Vec<Group> = match self.mode {
            GroupMode::MemberOf => self.read_groups(pool, &direct).await?,
            _ => self.groups_containing(pool, user_dn).await?,
        };
        for depth in 1..=self.max_depth {
            let mut next_dns = Vec::new();
            for group in level {
                if !seen.insert(group.dn.to_lowercase()) {
                    continue; // a cycle, or reached along two paths
                }
                found.add(group.name, group.dn.clone());
                if depth == self.max_depth {
                    continue;
                }
                match self.mode {
                    GroupMode::MemberOf => next_dns.extend(group.parents),
                    _ => next_dns.push(group.dn),
                }
            }
            if self.mode == GroupMode::MemberOf {
                // Parents already named are not read again; in search mode the list holds
                // the groups just seen, whose own parents are searched next.
                next_dns.retain(|dn| !seen.contains(&dn.to_lowercase()));
            }
            if next_dns.is_empty() {
                break;
            }
            level = match self.mode {
                GroupMode::MemberOf => self.read_groups(pool, &next_dns).await?,
                _ => {
                    let mut parents = Vec::new();
                    for dn in &next_dns {
                        parents.extend(self.groups_containing(pool, dn).await?);
                    }
                    parents
                }
            };
        }
        Ok(found)
    }

    /// Reads each group entry (name and its own `memberOf`).
    async fn read_groups(&self, pool: &Pool, dns: &[String]) -> Result<Vec<Group>, DirectoryError> {
        let attributes = [self.name_attribute.as_str(), &self.member_of_attribute];
        let mut groups = Vec::new();
        for dn in dns {
            let entries = pool
                .search(dn, Scope::Base, "(objectClass=*)", &attributes)
                .await?;
            match entries.into_iter().next() {
                Some(entry) => groups.push(Group {
                    name: first_text(&entry, &self.name_attribute),
                    parents: all_text(&entry, &self.member_of_attribute),
                    dn: dn.clone(),
                }),
                // memberOf naming an entry that is gone (or unreadable): nothing to add.
                None => tracing::debug!(group = %dn, "memberOf names a missing group"),
            }
        }
        Ok(groups)
    }

    /// Groups under the group base whose `member` is `dn`.
    async fn groups_containing(&self, pool: &Pool, dn: &str) -> Result<Vec<Group>, DirectoryError> {
        let filter = format!("(member={})", ldap_escape(dn));
        let attributes = [self.name_attribute.as_str()];
        let entries = pool
            .search(&self.base_dn, Scope::Subtree, &filter, &attributes)
            .await?;
        Ok(entries
            .into_iter()
            .map(|entry| Group {
                name: first_text(&entry, &self.name_attribute),
                parents: Vec::new(),
                dn: entry.dn,
            })
            .collect())
    }

    /// AD: every group the user is in, transitively, in one search.
    async fn in_chain(&self, pool: &Pool, user_dn: &str) -> Result<Memberships, DirectoryError> {
        let filter = format!("(member:{IN_CHAIN_RULE}:={})", ldap_escape(user_dn));
        let attributes = [self.name_attribute.as_str()];
        let entries = pool
            .search(&self.base_dn, Scope::Subtree, &filter, &attributes)
            .await?;
        let mut found = Memberships::default();
        for entry in entries {
            found.add(first_text(&entry, &self.name_attribute), entry.dn);
        }
        Ok(found)
    }
}
