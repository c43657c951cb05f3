//! The policies a decision is asked over: per app, route class and action.
//!
//! Cedar evaluates every policy of the set it is given, and most of a miss goes into that
//! (each policy's scope and conditions are rebuilt and interpreted per request). A policy whose
//! scope cannot match a request's action and resource can never apply to it, so leaving it out
//! changes no answer. Scopes are read once per compiled set; each (app, class, action) gets the
//! policies whose scope can match `Route::"app/class"` (a member of `App::"app"`) and that
//! action, each app's sign-in gets those that can match `App::"app"`, each administrative
//! action those that can match `Gateway::"govgate"`.
//!
//! Action scopes are matched against the schema's action hierarchy, so `action in
//! Action::"group"` lands in the slices of every member action (today's schema has no groups).

use std::collections::HashSet;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, EntityId, EntityTypeName, EntityUid, PolicySet, ResourceConstraint,
};

use super::compile::CompiledSet;
use super::engine::GATEWAY_ENTITY;
use super::roles::RoleBits;

/// The policies one kind of request is asked over.
pub(super) struct Slice {
    pub policies: PolicySet,
    /// The roles these policies name (`Role` literals). When no policy of the set can observe
    /// role entities, only these of the user's roles can change an answer.
    pub roles: RoleBits,
}

/// Action names by index: the engine's `ACTIONS` order (read, write, signin, then the
/// administrative actions: policy_read, policy_write,
/// session_admin, audit_read, signature_verify).
pub(super) struct DecisionSlices {
    /// Per app, per class: the policies for [read, write].
    routes: Vec<Vec<[Slice; 2]>>,
    /// Per app: the policies for signing in.
    signin: Vec<Slice>,
    /// Per administrative action (action index − 3).
    admin: Vec<Slice>,
}

fn uid(kind: &str, id: &str) -> EntityUid {
    // Valid Cedar type names; parsing cannot fail.
    let kind = EntityTypeName::from_str(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    EntityUid::from_type_name_and_id(kind, EntityId::new(id))
}

/// Whether a resource scope can match `resource`, whose only ancestor is `parent`.
fn resource_matches(
    scope: &ResourceConstraint,
    resource: &EntityUid,
    parent: Option<&EntityUid>,
) -> bool {
    let under = |ancestor: &EntityUid| ancestor == resource || parent == Some(ancestor);
    match scope {
        ResourceConstraint::Any => true,
        ResourceConstraint::Eq(target) => target == resource,
        ResourceConstraint::In(ancestor) => under(ancestor),
        ResourceConstraint::Is(kind) => kind == resource.type_name(),
        ResourceConstraint::IsIn(kind, ancestor) => kind == resource.type_name() && under(ancestor),
    }
}

/// Bit `i`: the action scope can match action `i`.
fn action_bits(
    scope: &ActionConstraint,
    actions: &[EntityUid],
    ancestors: &[Option<HashSet<EntityUid>>],
) -> u8 {
    let mut bits = 0u8;
    for (i, action) in actions.iter().enumerate() {
        let matches = match scope {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(target) => target == action,
            ActionConstraint::In(targets) => targets.iter().any(|target| {
                target == action
                    || match &ancestors[i] {
                        Some(known) => known.contains(target),
                        // The hierarchy could not be read: keep the policy.
                        None => true,
                    }
            }),
        };
        if matches {
            bits |= 1 << i;
        }
    }
    bits
}

/// The app a resource scope names (by an `App` or `Route` uid), if any.
fn named_app(scope: &ResourceConstraint) -> Option<String> {
    let named = match scope {
        ResourceConstraint::Eq(uid)
        | ResourceConstraint::In(uid)
        | ResourceConstraint::IsIn(_, uid) => uid,
        ResourceConstraint::Any | ResourceConstraint::Is(_) => return None,
    };
    match named.type_name().to_string().as_str() {
        "App" => Some(named.id().unescaped().to_string()),
        "Route" => named
            .id()
            .unescaped()
            .split_once('/')
            .map(|(app, _)| app.to_string()),
        _ => None,
    }
}

impl DecisionSlices {
    pub(super) fn new(set: &CompiledSet, action_names: &[&str]) -> DecisionSlices {
        let actions: Vec<EntityUid> = action_names.iter().map(|a| uid("Action", a)).collect();
        let hierarchy = set.schema.action_entities().ok();
        let ancestors: Vec<Option<HashSet<EntityUid>>> = actions
            .iter()
            .map(|action| {
                let hierarchy = hierarchy.as_ref()?;
                Some(
                    hierarchy
                        .ancestors(action)
                        .map(|a| a.cloned().collect())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let apps = set.routes.apps();
        // (resource, parent) of every route class, and of every app for sign-in.
        let route_uids: Vec<(EntityUid, Vec<EntityUid>)> = apps
            .iter()
            .map(|app| {
                let classes = app
                    .classes
                    .iter()
                    .map(|c| uid("Route", &format!("{}/{}", app.id, c.class)))
                    .collect();
                (uid("App", &app.id), classes)
            })
            .collect();
        let gateway = uid("Gateway", GATEWAY_ENTITY);

        let mut routes: Vec<Vec<[Vec<usize>; 2]>> = apps
            .iter()
            .map(|app| vec![[Vec::new(), Vec::new()]; app.classes.len()])
            .collect();
        let mut signin: Vec<Vec<usize>> = vec![Vec::new(); apps.len()];
        let mut admin: Vec<Vec<usize>> = vec![Vec::new(); actions.len().saturating_sub(3)];
        // The roles each policy names.
        let named: Vec<RoleBits> = set
            .policies
            .iter()
            .map(|(policy, _)| {
                let mut roles = RoleBits::default();
                for uid in policy.entity_literals() {
                    if uid.type_name().to_string() == "Role" {
                        if let Some(index) = set.roles.get(uid.id().unescaped()) {
                            roles.insert(index);
                        }
                    }
                }
                roles
            })
            .collect();
        for (p, (policy, _)) in set.policies.iter().enumerate() {
            let scope = policy.resource_constraint();
            let bits = action_bits(&policy.action_constraint(), &actions, &ancestors);
            if bits == 0 {
                continue;
            }
            // A scope naming an app can only match that app's resources; one naming an app
            // the table does not know matches none of them (nor the gateway).
            let candidates: Vec<usize> = match named_app(&scope) {
                Some(app) => set.routes.app_index(&app).into_iter().collect(),
                None => (0..apps.len()).collect(),
            };
            for index in candidates {
                let (app_uid, class_uids) = &route_uids[index];
                for (class, class_uid) in class_uids.iter().enumerate() {
                    if resource_matches(&scope, class_uid, Some(app_uid)) {
                        for (action, policies) in routes[index][class].iter_mut().enumerate() {
                            if bits & (1 << action) != 0 {
                                policies.push(p);
                            }
                        }
                    }
                }
                if bits & (1 << 2) != 0 && resource_matches(&scope, app_uid, None) {
                    signin[index].push(p);
                }
            }
            if resource_matches(&scope, &gateway, None) {
                for (i, policies) in admin.iter_mut().enumerate() {
                    if bits & (1 << (i + 3)) != 0 {
                        policies.push(p);
                    }
                }
            }
        }
        let slice = |members: Vec<usize>| {
            let mut roles = RoleBits::default();
            for &p in &members {
                roles.union_with(&named[p]);
            }
            // Ids are unique (checked at compile time), so adding cannot fail.
            let policies =
                PolicySet::from_policies(members.iter().map(|&p| set.policies[p].0.clone()))
                    .unwrap_or_default();
            Slice { policies, roles }
        };
        DecisionSlices {
            routes: routes
                .into_iter()
                .map(|classes| {
                    classes
                        .into_iter()
                        .map(|[read, write]| [slice(read), slice(write)])
                        .collect()
                })
                .collect(),
            signin: signin.into_iter().map(slice).collect(),
            admin: admin.into_iter().map(slice).collect(),
        }
    }

    /// The policies for a route request to a known app's class; `write` picks the action.
    pub(super) fn route(&self, app: usize, class: usize, write: bool) -> &Slice {
        &self.routes[app][class][usize::from(write)]
    }

    pub(super) fn signin(&self, app: usize) -> &Slice {
        &self.signin[app]
    }

    /// The policies for administrative action `index` (the engine's action index).
    pub(super) fn admin(&self, index: usize) -> &Slice {
        &self.admin[index - 3]
    }
}
