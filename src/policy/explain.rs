//! `explain`: a decision, the policies that made it, and for a default deny, the permits that
//! came closest and exactly which of their parts the request does not meet.
//!
//! Each permit is split into its parts (principal, action and resource scope, each condition);
//! every part is evaluated alone as a policy of its own against the same request. The permits
//! with the fewest unmet parts are "closest": those parts are what would have to change.

use cedar_policy::{
    ActionConstraint, Effect, Policy, PolicySet, PrincipalConstraint, ResourceConstraint,
};
use serde::Serialize;
use serde_json::{json, Value};

use super::engine::PolicyEngine;
use super::request::{AccessRequest, Decision};

/// Closest permits listed at most.
const MAX_CLOSEST: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    pub id: String,
    pub file: String,
    pub line: usize,
    pub effect: &'static str,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClosePermit {
    pub policy: PolicyView,
    /// The parts of the permit this request does not meet, as Cedar text.
    pub unmet: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub decision: Decision,
    /// The policies named by the decision, with where they are written.
    pub deciding: Vec<PolicyView>,
    /// For a default deny: the permits that came closest.
    pub closest: Vec<ClosePermit>,
}

pub fn explain(engine: &PolicyEngine, request: &AccessRequest<'_>) -> Explanation {
    let decision = engine.evaluate(request);
    let deciding = decision
        .policies
        .iter()
        .filter_map(|id| view(engine, id))
        .collect();
    let closest = if !decision.allowed && decision.policies.is_empty() {
        closest_permits(engine, request)
    } else {
        Vec::new()
    };
    Explanation {
        decision,
        deciding,
        closest,
    }
}

fn view(engine: &PolicyEngine, id: &str) -> Option<PolicyView> {
    let info = engine.set().info(id)?;
    Some(PolicyView {
        id: info.id.clone(),
        file: info.file.clone(),
        line: info.line,
        effect: info.effect,
        description: info.description.clone(),
    })
}

fn closest_permits(engine: &PolicyEngine, request: &AccessRequest<'_>) -> Vec<ClosePermit> {
    let (resource, slice) = engine.slice_for(request);
    let action = engine.action_of(request);
    let mut candidates: Vec<ClosePermit> = slice
        .policies()
        .filter(|p| p.effect() == Effect::Permit)
        .filter_map(|policy| {
            let unmet: Vec<String> = parts(policy)
                .into_iter()
                .filter(|(_, part)| {
                    let mut alone = PolicySet::new();
                    alone.add(part.clone()).is_ok()
                        && !engine.ask(request, action, &resource, &alone).allowed
                })
                .map(|(text, _)| text)
                .collect();
            Some(ClosePermit {
                policy: view(engine, policy.id().as_ref())?,
                unmet,
            })
        })
        .collect();
    candidates.sort_by_key(|c| c.unmet.len());
    let best = candidates.first().map_or(0, |c| c.unmet.len());
    candidates.retain(|c| c.unmet.len() == best);
    candidates.truncate(MAX_CLOSEST);
    candidates
}

/// A permit's parts, each as (Cedar text, a policy checking only that part).
fn parts(policy: &Policy) -> Vec<(String, Policy)> {
    let Ok(json) = policy.to_json() else {
        return Vec::new();
    };
    let all = json!({"op": "All"});
    let part = |principal: &Value, action: &Value, resource: &Value, conditions: Value| {
        let body = json!({
            "effect": "permit",
            "principal": principal,
            "action": action,
            "resource": resource,
            "conditions": conditions,
        });
        Policy::from_json(None, body).ok()
    };
    let mut found = Vec::new();
    let scope = |key: &str| json.get(key).cloned().unwrap_or_else(|| all.clone());
    let (principal, action, resource) = (scope("principal"), scope("action"), scope("resource"));
    let scopes = [
        (
            principal_text(policy),
            part(&principal, &all, &all, json!([])),
        ),
        (action_text(policy), part(&all, &action, &all, json!([]))),
        (
            resource_text(policy),
            part(&all, &all, &resource, json!([])),
        ),
    ];
    for (text, part) in scopes {
        if let (Some(text), Some(part)) = (text, part) {
            found.push((text, part));
        }
    }
    let conditions = json
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for condition in conditions {
        if let Some(part) = part(&all, &all, &all, json!([condition])) {
            let text = condition_text(&part);
            found.push((text, part));
        }
    }
    found
}

fn principal_text(policy: &Policy) -> Option<String> {
    match policy.principal_constraint() {
        PrincipalConstraint::Any => None,
        PrincipalConstraint::In(uid) => Some(format!("principal in {uid}")),
        PrincipalConstraint::Eq(uid) => Some(format!("principal == {uid}")),
        PrincipalConstraint::Is(kind) => Some(format!("principal is {kind}")),
        PrincipalConstraint::IsIn(kind, uid) => Some(format!("principal is {kind} in {uid}")),
    }
}

fn action_text(policy: &Policy) -> Option<String> {
    match policy.action_constraint() {
        ActionConstraint::Any => None,
        ActionConstraint::Eq(uid) => Some(format!("action == {uid}")),
        ActionConstraint::In(uids) => Some(format!(
            "action in [{}]",
            uids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn resource_text(policy: &Policy) -> Option<String> {
    match policy.resource_constraint() {
        ResourceConstraint::Any => None,
        ResourceConstraint::In(uid) => Some(format!("resource in {uid}")),
        ResourceConstraint::Eq(uid) => Some(format!("resource == {uid}")),
        ResourceConstraint::Is(kind) => Some(format!("resource is {kind}")),
        ResourceConstraint::IsIn(kind, uid) => Some(format!("resource is {kind} in {uid}")),
    }
}

/// `when { … }` / `unless { … }` of a policy holding one condition.
fn condition_text(part: &Policy) -> String {
    let text = part.to_cedar().unwrap_or_default();
    let start = [text.find("when"), text.find("unless")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(0);
    text[start..]
        .trim_end()
        .trim_end_matches(';')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
