//! Which request facts the policies can tell apart: the cache key holds exactly those.
//!
//! A decision depends on the subject's roles and department, the app, route class and action,
//! and whatever parts of the context the policies read. Reading the policies once tells which
//! context attributes matter, and for the client address, which literal ranges it is tested
//! against with `isInRange` (then only *which of those ranges hold* matters, not the address).
//! Anything the analysis does not recognise is treated as "depends on the exact value", so the
//! cache can be less effective but never wrong.

use std::net::IpAddr;

use cedar_policy::Policy;
use ipnet::IpNet;
use serde_json::Value;

/// Most literal ranges tracked as a bitmask; more make the address part of the key.
const MAX_RANGES: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextUsage {
    pub path: bool,
    pub method: bool,
    pub strength: bool,
    pub hour: bool,
    pub minute_of_day: bool,
    pub weekday: bool,
    pub signed: bool,
    /// The exact address matters.
    pub ip_exact: bool,
    /// Literal ranges `context.ip` is tested against.
    pub ip_ranges: Vec<IpNet>,
    /// The user's department matters (beyond their roles).
    pub department: bool,
    /// The user's own name or attributes matter.
    pub user: bool,
}

impl ContextUsage {
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> ContextUsage {
        let mut usage = ContextUsage::default();
        for policy in policies {
            usage.add(policy);
        }
        if usage.ip_ranges.len() > MAX_RANGES {
            usage.ip_exact = true;
        }
        usage
    }

    fn add(&mut self, policy: &Policy) {
        for uid in policy.entity_literals() {
            match uid.type_name().to_string().as_str() {
                "User" => self.user = true,
                "Department" => self.department = true,
                _ => {}
            }
        }
        match policy.to_json() {
            Ok(json) => {
                if let Some(conditions) = json.get("conditions").and_then(Value::as_array) {
                    for condition in conditions {
                        if let Some(body) = condition.get("body") {
                            self.walk(body);
                        }
                    }
                }
            }
            Err(_) => self.everything(),
        }
    }

    /// The policy reads something this analysis cannot bound: every fact matters.
    fn everything(&mut self) {
        self.path = true;
        self.method = true;
        self.strength = true;
        self.hour = true;
        self.minute_of_day = true;
        self.weekday = true;
        self.signed = true;
        self.ip_exact = true;
        self.department = true;
        self.user = true;
    }

    fn walk(&mut self, expr: &Value) {
        match expr {
            Value::Object(map) if map.len() == 1 => {
                let (op, body) = map.iter().next().expect("one entry");
                self.walk_op(op, body);
            }
            Value::Object(map) => map.values().for_each(|v| self.walk(v)),
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }

    fn walk_op(&mut self, op: &str, body: &Value) {
        match op {
            "Var" => match body.as_str() {
                Some("context") | Some("principal") => self.everything(),
                _ => {}
            },
            "." => {
                let attr = body.get("attr").and_then(Value::as_str).unwrap_or("");
                match var_of(body.get("left")) {
                    Some("context") => self.context_attribute(attr),
                    Some("principal") if attr == "department" => self.department = true,
                    Some("principal") => self.user = true,
                    _ => self.walk_child(body, "left"),
                }
            }
            // Presence tests say nothing about values (every attribute is always present).
            "has" if matches!(var_of(body.get("left")), Some("context" | "principal")) => {}
            // `principal in …` / `principal is …`: decided by roles and department, which the
            // key holds; the right side is walked for literals.
            "in" | "is" if var_of(body.get("left")) == Some("principal") => {
                if let Some(right) = body.get("right") {
                    self.walk(right);
                }
                if let Some(within) = body.get("in") {
                    self.walk(within);
                }
            }
            "isInRange" => match ip_range_test(body) {
                Some(range) => {
                    if !self.ip_ranges.contains(&range) {
                        self.ip_ranges.push(range);
                    }
                }
                None => self.walk(body),
            },
            _ => self.walk(body),
        }
    }

    fn walk_child(&mut self, body: &Value, key: &str) {
        if let Some(child) = body.get(key) {
            self.walk(child);
        }
    }

    fn context_attribute(&mut self, attr: &str) {
        match attr {
            "path" => self.path = true,
            "method" => self.method = true,
            "strength" | "strength_level" => self.strength = true,
            "hour" => self.hour = true,
            "minute_of_day" => self.minute_of_day = true,
            "weekday" => self.weekday = true,
            "signed" => self.signed = true,
            "ip" => self.ip_exact = true,
            _ => self.everything(),
        }
    }

    /// Bits telling which tracked ranges contain `ip` (Cedar semantics: IPv4 and IPv6 are
    /// different families).
    pub fn range_bits(&self, ip: IpAddr) -> u64 {
        self.ip_ranges
            .iter()
            .take(MAX_RANGES)
            .enumerate()
            .filter(|(_, range)| range.contains(&ip))
            .fold(0, |bits, (i, _)| bits | (1 << i))
    }
}

/// `Var` name of `expr`, if it is a plain variable.
fn var_of(expr: Option<&Value>) -> Option<&str> {
    expr?.get("Var")?.as_str()
}

/// `[context.ip, ip("literal")]` → the literal range.
fn ip_range_test(args: &Value) -> Option<IpNet> {
    let [subject, range] = args.as_array()?.as_slice() else {
        return None;
    };
    let attribute = subject.get(".")?;
    if var_of(attribute.get("left")) != Some("context") || attribute.get("attr")?.as_str()? != "ip"
    {
        return None;
    }
    let literal = range
        .get("ip")?
        .as_array()?
        .first()?
        .get("Value")?
        .as_str()?;
    parse_range(literal)
}

fn parse_range(literal: &str) -> Option<IpNet> {
    if literal.contains('/') {
        literal.parse::<IpNet>().ok().map(|n| n.trunc())
    } else {
        literal.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(text: &str) -> ContextUsage {
        let policy = Policy::parse(None, text).expect("policy parses");
        ContextUsage::of([&policy])
    }

    #[test]
    fn ranges_in_is_in_range_are_tracked_not_the_address() {
        let u = usage(
            r#"permit(principal, action, resource) when { context.ip.isInRange(ip("10.0.0.0/8")) && context.strength == "certificate" };"#,
        );
        assert!(!u.ip_exact);
        assert_eq!(u.ip_ranges, vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]);
        assert!(u.strength && !u.path && !u.hour && !u.user);
        assert_eq!(u.range_bits("10.1.2.3".parse().unwrap()), 1);
        assert_eq!(u.range_bits("192.0.2.1".parse().unwrap()), 0);
    }

    #[test]
    fn other_uses_of_the_address_make_it_exact() {
        let u = usage(r#"permit(principal, action, resource) when { context.ip.isLoopback() };"#);
        assert!(u.ip_exact);
    }

    #[test]
    fn user_literals_and_attributes_make_the_user_part_of_the_key() {
        assert!(usage(r#"permit(principal == User::"an", action, resource);"#).user);
        assert!(
            usage(r#"permit(principal, action, resource) when { principal.username like "a*" };"#)
                .user
        );
        let u = usage(
            r#"permit(principal in Role::"x", action, resource) when { principal.department == "Sở" };"#,
        );
        assert!(u.department && !u.user);
    }

    #[test]
    fn the_whole_context_makes_everything_matter() {
        let u = usage(r#"permit(principal, action, resource) when { context == {} };"#);
        assert!(u.ip_exact && u.path && u.user);
    }
}
