//! Decisions cached per (roles, department, user, app, route class, action, context class).
//!
//! The key holds only the facts the policies can tell apart (see [`ContextUsage`]), so a warm
//! cache answers most requests with one hash lookup. The cache belongs to one compiled set and
//! is dropped with it on reload. Shards keep the two worker threads off each other's locks; a
//! full shard is emptied rather than grown, so memory stays bounded under any key spray.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::request::Decision;
use super::roles::RoleBits;
use super::usage::ContextUsage;

const SHARDS: usize = 16;
/// Entries per shard before it is emptied.
const SHARD_CAPACITY: usize = 4096;

/// The client address as far as the policies can tell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressClass {
    Irrelevant,
    Ranges(u64),
    Exact(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecisionKey {
    pub roles: RoleBits,
    pub department: Option<Box<str>>,
    pub user: Option<Box<str>>,
    /// Index into the engine's route table, and class index within the app; admin actions use
    /// `u32::MAX` for both.
    pub app: u32,
    pub class: u32,
    /// Index of the action.
    pub action: u8,
    pub address: AddressClass,
    /// Strength, hour, weekday and signature flags (each 0xff when irrelevant), packed.
    pub facts: u64,
    pub minute_of_day: Option<u16>,
    pub method: Option<Box<str>>,
    pub path: Option<Box<str>>,
}

/// The facts of a request that [`DecisionKey`] packs, so the key is built without allocating.
pub struct KeyFacts<'a> {
    pub department: Option<&'a str>,
    pub user: &'a str,
    pub ip: IpAddr,
    pub strength_level: u8,
    pub hour: u8,
    pub minute_of_day: u16,
    pub weekday: u8,
    pub signed: bool,
    pub method: &'a str,
    pub path: &'a str,
}

impl DecisionKey {
    pub fn new(
        usage: &ContextUsage,
        roles: &RoleBits,
        target: (u32, u32, u8),
        facts: &KeyFacts<'_>,
    ) -> DecisionKey {
        let keep = |used: bool, value: u8| if used { value } else { 0xff };
        let packed = u64::from(keep(usage.strength, facts.strength_level))
            | u64::from(keep(usage.hour, facts.hour)) << 8
            | u64::from(keep(usage.weekday, facts.weekday)) << 16
            | u64::from(keep(usage.signed, u8::from(facts.signed))) << 24;
        let address = if usage.ip_exact {
            AddressClass::Exact(facts.ip)
        } else if usage.ip_ranges.is_empty() {
            AddressClass::Irrelevant
        } else {
            AddressClass::Ranges(usage.range_bits(facts.ip))
        };
        DecisionKey {
            roles: roles.clone(),
            department: usage
                .department
                .then(|| facts.department.unwrap_or("").into()),
            user: usage.user.then(|| facts.user.into()),
            app: target.0,
            class: target.1,
            action: target.2,
            address,
            facts: packed,
            minute_of_day: usage.minute_of_day.then_some(facts.minute_of_day),
            method: usage.method.then(|| facts.method.into()),
            path: usage.path.then(|| facts.path.into()),
        }
    }
}

type Shard = Mutex<HashMap<DecisionKey, Arc<Decision>>>;

pub struct DecisionCache {
    shards: Vec<Shard>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for DecisionCache {
    fn default() -> Self {
        DecisionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
}

impl DecisionCache {
    fn shard(&self, key: &DecisionKey) -> &Shard {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    pub fn get(&self, key: &DecisionKey) -> Option<Arc<Decision>> {
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.get(key).cloned()
    }

    pub fn insert(&self, key: DecisionKey, decision: Arc<Decision>) {
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        shard.insert(key, decision);
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}
