//! Which request facts the policies can tell apart: the cache key holds exactly those.
//!
//! A decision depends on the subject's roles and department, the app, route class and action,
//! and whatever parts of the context the policies read. Reading the policies once tells which
//! context attributes matter, and for the client address, which literal ranges it is tested
//! against with `isInRange` (then only *which of those ranges hold* matters, not the address).
//! Anything the analysis does not recognise is treated as "depends on the exact value", so the
//! cache can be less effective but never wrong.

use std::net::IpAddr;

use cedar_policy::{ActionConstraint, EntityTypeName, Policy, ResourceConstraint};
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

/// A policy's `when` / `unless` conditions, as the analyses here read them.
pub(crate) enum Conditions {
    /// The policy has none: its text has neither keyword.
    None,
    /// The policy's JSON form (`Policy::to_json`, which parses the policy's text again: most
    /// of what analysing a policy costs, so it is skipped for policies without conditions).
    Json(Value),
    /// The JSON form could not be produced: the analyses assume the policy reads anything.
    Unknown,
}

impl Conditions {
    pub(crate) fn of(policy: &Policy) -> Conditions {
        // Conditions are written with the keywords `when` or `unless`, which cannot be
        // escaped; the words anywhere else (an id, a comment) only cost the parse.
        let text = policy.to_string();
        if !text.contains("when") && !text.contains("unless") {
            return Conditions::None;
        }
        match policy.to_json() {
            Ok(json) => Conditions::Json(json),
            Err(_) => Conditions::Unknown,
        }
    }
}

impl ContextUsage {
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> ContextUsage {
        let policies: Vec<(&Policy, Conditions)> = policies
            .into_iter()
            .map(|policy| (policy, Conditions::of(policy)))
            .collect();
        Self::of_conditions(policies.iter().map(|(p, c)| (*p, c)))
    }

    /// The same from each policy with its [`Conditions`], for callers that have them already.
    pub(crate) fn of_conditions<'a>(
        policies: impl IntoIterator<Item = (&'a Policy, &'a Conditions)>,
    ) -> ContextUsage {
        let mut usage = ContextUsage::default();
        for (policy, conditions) in policies {
            usage.add(policy, conditions);
        }
        if usage.ip_ranges.len() > MAX_RANGES {
            usage.ip_exact = true;
        }
        usage
    }

    fn add(&mut self, policy: &Policy, conditions: &Conditions) {
        for uid in policy.entity_literals() {
            match uid.type_name().to_string().as_str() {
                "User" => self.user = true,
                "Department" => self.department = true,
                _ => {}
            }
        }
        match conditions {
            Conditions::None => {}
            Conditions::Json(json) => {
                if let Some(conditions) = json.get("conditions").and_then(Value::as_array) {
                    for condition in conditions {
                        if let Some(body) = condition.get("body") {
                            self.walk(body);
                        }
                    }
                }
            }
            Conditions::Unknown => self.everything(),
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

/// Whether `policy` can tell the engine's role entities apart from the user's ancestors: it
/// names a role anywhere but in the principal scope or on the right of `principal in` /
/// `principal is T in` (where only the user's ancestors matter, and the engine gives the user
/// every role it has, inclusions included). When no policy of a set does, the engine leaves the
/// role entities out of each decision. Anything unrecognised counts as reading them.
pub(crate) fn reads_role_entities(policy: &Policy, conditions: &Conditions) -> bool {
    let role = |kind: &EntityTypeName| kind.to_string() == "Role";
    let resource_scope = match policy.resource_constraint() {
        ResourceConstraint::Any => false,
        ResourceConstraint::Is(kind) => role(&kind),
        ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid) => role(uid.type_name()),
        ResourceConstraint::IsIn(kind, uid) => role(&kind) || role(uid.type_name()),
    };
    let action_scope = match policy.action_constraint() {
        ActionConstraint::Any => false,
        ActionConstraint::Eq(uid) => role(uid.type_name()),
        ActionConstraint::In(uids) => uids.iter().any(|uid| role(uid.type_name())),
    };
    resource_scope
        || action_scope
        || match conditions {
            Conditions::None => false,
            Conditions::Json(json) => {
                json.get("conditions")
                    .and_then(Value::as_array)
                    .is_none_or(|conditions| {
                        conditions
                            .iter()
                            .any(|c| c.get("body").is_none_or(role_outside_principal_in))
                    })
            }
            Conditions::Unknown => true,
        }
}

fn role_outside_principal_in(expr: &Value) -> bool {
    match expr {
        Value::Object(map) => map.iter().any(|(key, value)| match key.as_str() {
            "__entity" => value
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(|kind| kind == "Role"),
            "in" | "is" if var_of(value.get("left")) == Some("principal") => {
                let ancestors = if key == "in" { "right" } else { "in" };
                value.as_object().is_none_or(|body| {
                    body.iter().any(|(part, operand)| {
                        if part == "left" {
                            false
                        } else if part == ancestors {
                            !entity_literals_only(operand) && role_outside_principal_in(operand)
                        } else {
                            role_outside_principal_in(operand)
                        }
                    })
                })
            }
            _ => role_outside_principal_in(value),
        }),
        Value::Array(items) => items.iter().any(role_outside_principal_in),
        _ => false,
    }
}

/// An entity literal, or a set of entity literals.
fn entity_literals_only(expr: &Value) -> bool {
    let literal = |v: &Value| v.get("Value").and_then(|v| v.get("__entity")).is_some();
    literal(expr)
        || expr
            .get("Set")
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().all(literal))
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
    fn role_entities_matter_only_outside_principal_in() {
        let reads = |text: &str| {
            let policy = Policy::parse(None, text).unwrap();
            reads_role_entities(&policy, &Conditions::of(&policy))
        };
        assert!(!reads(
            r#"permit(principal in Role::"a", action, resource) when { principal in Role::"b" || principal in [Role::"c", Role::"d"] || principal is User in Role::"e" };"#
        ));
        assert!(!reads(
            r#"forbid(principal == User::"x", action, resource) unless { principal in Department::"d" && resource in App::"a" };"#
        ));
        assert!(reads(
            r#"permit(principal, action, resource) when { Role::"a" in Role::"b" };"#
        ));
        assert!(reads(
            r#"permit(principal, action, resource) when { [Role::"a"].contains(Role::"b") };"#
        ));
        assert!(reads(
            r#"permit(principal, action, resource) when { principal in (if context.signed then Role::"a" else Role::"b") };"#
        ));
        assert!(reads(
            r#"permit(principal, action, resource) when { principal in Role::"a" && context.signed && Role::"a" in principal };"#
        ));
        assert!(reads(
            r#"permit(principal, action, resource in Role::"a");"#
        ));
        assert!(reads(r#"permit(principal, action, resource is Role);"#));
        assert!(!reads(
            r#"permit(principal in Role::"a", action, resource);"#
        ));
    }

    #[test]
    fn the_whole_context_makes_everything_matter() {
        let u = usage(r#"permit(principal, action, resource) when { context == {} };"#);
        assert!(u.ip_exact && u.path && u.user);
    }
}
