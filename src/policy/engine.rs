//! The engine: one compiled set, sliced per app, with its decision cache.
//!
//! A decision on a cache miss builds the handful of entities the request involves (the user
//! with their roles and department, the route class and its app) and asks Cedar, over only the
//! policies that can concern that app: a policy whose resource scope names another app can
//! never apply, so leaving it out changes no answer and keeps a miss fast with hundreds of apps.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicySet,
    Request, ResourceConstraint, RestrictedExpression,
};

use super::cache::{DecisionCache, DecisionKey, KeyFacts};
use super::clock::LocalTime;
use super::compile::CompiledSet;
use super::request::{AccessRequest, AdminAction, Decision, Subject, Target};
use super::roles::RoleBits;
use super::routes::{RouteAction, DEFAULT_CLASS};
use super::usage::ContextUsage;
use crate::identity::{AuthStrength, Identity};

/// The gateway entity administrative actions are about.
pub const GATEWAY_ENTITY: &str = "govgate";

/// Action names by index (the index is part of the cache key).
const ACTIONS: [&str; 7] = [
    "read",
    "write",
    "signin",
    "policy_read",
    "policy_write",
    "session_admin",
    "audit_read",
];

fn action_index(target: &Target<'_>, route_action: Option<RouteAction>) -> u8 {
    match target {
        Target::Route { .. } => match route_action {
            Some(RouteAction::Write) => 1,
            _ => 0,
        },
        Target::SignIn { .. } => 2,
        Target::Admin(action) => match action {
            AdminAction::PolicyRead => 3,
            AdminAction::PolicyWrite => 4,
            AdminAction::SessionAdmin => 5,
            AdminAction::AuditRead => 6,
        },
    }
}

/// Entity type names, parsed once.
struct Types {
    user: EntityTypeName,
    role: EntityTypeName,
    department: EntityTypeName,
    app: EntityTypeName,
    route: EntityTypeName,
    gateway: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Types {
        // These are valid Cedar identifiers; parsing them cannot fail.
        let name = |n: &str| EntityTypeName::from_str(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        Types {
            user: name("User"),
            role: name("Role"),
            department: name("Department"),
            app: name("App"),
            route: name("Route"),
            gateway: name("Gateway"),
            action: name("Action"),
        }
    }

    fn uid(&self, kind: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
    }
}

/// Which policies can concern a request, by what their resource scope names.
enum Slice {
    All,
    App(String),
    Gateway,
}

fn slice_of(policy: &Policy) -> Slice {
    let named = |uid: &EntityUid| match uid.type_name().to_string().as_str() {
        "App" => Slice::App(uid.id().unescaped().to_string()),
        "Route" => match uid.id().unescaped().split_once('/') {
            Some((app, _)) => Slice::App(app.to_string()),
            None => Slice::All,
        },
        "Gateway" => Slice::Gateway,
        _ => Slice::All,
    };
    match policy.resource_constraint() {
        ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid) => named(&uid),
        ResourceConstraint::IsIn(_, uid) => named(&uid),
        ResourceConstraint::Is(kind) if kind.to_string() == "Gateway" => Slice::Gateway,
        ResourceConstraint::Is(_) | ResourceConstraint::Any => Slice::All,
    }
}

/// A compiled policy set ready to decide.
pub struct PolicyEngine {
    set: CompiledSet,
    usage: ContextUsage,
    /// Per app of the route table: the policies that can concern it.
    app_slices: Vec<PolicySet>,
    /// Policies that can concern an app the route table does not know.
    unknown_app_slice: PolicySet,
    gateway_slice: PolicySet,
    types: Types,
    authorizer: Authorizer,
    cache: DecisionCache,
}

impl PolicyEngine {
    pub fn new(set: CompiledSet) -> PolicyEngine {
        let usage = ContextUsage::of(set.policies.iter().map(|(p, _)| p));
        let apps = set.routes.apps().len();
        let mut app_slices = vec![Vec::new(); apps];
        let mut unknown_app_slice = Vec::new();
        let mut gateway_slice = Vec::new();
        for (policy, _) in &set.policies {
            match slice_of(policy) {
                Slice::All => {
                    app_slices.iter_mut().for_each(|s| s.push(policy.clone()));
                    unknown_app_slice.push(policy.clone());
                    gateway_slice.push(policy.clone());
                }
                Slice::App(app) => {
                    if let Some(index) = set.routes.app_index(&app) {
                        app_slices[index].push(policy.clone());
                    }
                }
                Slice::Gateway => gateway_slice.push(policy.clone()),
            }
        }
        let to_set = |policies: Vec<Policy>| {
            // Ids are unique (checked at compile time), so adding cannot fail.
            PolicySet::from_policies(policies).unwrap_or_default()
        };
        PolicyEngine {
            usage,
            app_slices: app_slices.into_iter().map(to_set).collect(),
            unknown_app_slice: to_set(unknown_app_slice),
            gateway_slice: to_set(gateway_slice),
            types: Types::new(),
            authorizer: Authorizer::new(),
            cache: DecisionCache::default(),
            set,
        }
    }

    pub fn set(&self) -> &CompiledSet {
        &self.set
    }

    pub fn version(&self) -> &str {
        &self.set.version
    }

    pub fn usage(&self) -> &ContextUsage {
        &self.usage
    }

    /// Decisions currently cached.
    pub fn cached_decisions(&self) -> usize {
        self.cache.len()
    }

    /// The subject for a logged-in person: their directory groups mapped to roles.
    pub fn subject<'a>(&self, identity: &'a Identity) -> Subject<'a> {
        Subject {
            username: &identity.username,
            display_name: &identity.display_name,
            department: identity.department.as_deref(),
            roles: self.set.roles.for_group_list(
                identity
                    .groups
                    .iter()
                    .chain(&identity.group_dns)
                    .map(String::as_str),
            ),
        }
    }

    /// The decision, from the cache when this class of request was decided before.
    /// The boolean says whether it was a cache miss (freshly evaluated).
    pub fn decide(&self, request: &AccessRequest<'_>) -> (Arc<Decision>, bool) {
        let route = self.route_of(request);
        let Some(key) = self.key(request, &route) else {
            return (Arc::new(self.evaluate_route(request, &route)), true);
        };
        if let Some(decision) = self.cache.get(&key) {
            return (decision, false);
        }
        let decision = Arc::new(self.evaluate_route(request, &route));
        self.cache.insert(key, decision.clone());
        (decision, true)
    }

    /// The decision, always freshly evaluated (tests, explanations, impact previews).
    pub fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        let route = self.route_of(request);
        self.evaluate_route(request, &route)
    }

    /// Where a request lands in the route table: (app index, class index, route action).
    fn route_of(&self, request: &AccessRequest<'_>) -> RouteRef {
        let app = match request.target {
            Target::Route { app } | Target::SignIn { app } => app,
            Target::Admin(_) => return RouteRef::admin(),
        };
        let Some(index) = self.set.routes.app_index(app) else {
            return RouteRef {
                app: None,
                class: 0,
                action: RouteAction::for_method(request.method),
            };
        };
        let routes = self.set.routes.app(index);
        let class = match request.target {
            Target::Route { .. } => routes.classify(request.method, request.path),
            _ => 0,
        };
        RouteRef {
            app: Some(index),
            class,
            action: routes.classes[class]
                .action
                .unwrap_or_else(|| RouteAction::for_method(request.method)),
        }
    }

    /// The cache key, or `None` for requests that are not cached (unknown apps).
    fn key(&self, request: &AccessRequest<'_>, route: &RouteRef) -> Option<DecisionKey> {
        let (app, class) = match request.target {
            Target::Admin(_) => (u32::MAX, u32::MAX),
            _ => (route.app? as u32, route.class as u32),
        };
        let local = LocalTime::in_vietnam(request.time);
        let facts = KeyFacts {
            department: request.subject.department,
            user: request.subject.username,
            ip: request.ip.to_canonical(),
            strength_level: strength_level(request.strength) as u8,
            hour: local.hour,
            minute_of_day: local.minute_of_day,
            weekday: local.weekday,
            signed: request.signed,
            method: request.method,
            path: request.path,
        };
        let action = action_index(&request.target, Some(route.action));
        Some(DecisionKey::new(
            &self.usage,
            &request.subject.roles,
            (app, class, action),
            &facts,
        ))
    }

    fn evaluate_route(&self, request: &AccessRequest<'_>, route: &RouteRef) -> Decision {
        let action = ACTIONS[action_index(&request.target, Some(route.action)) as usize];
        let (resource, route_class, policies) = self.resource(request, route);
        let outcome = self.ask(request, action, &resource, policies.0);
        Decision {
            allowed: outcome.allowed,
            policies: outcome.reasons,
            errors: outcome.errors,
            action,
            resource: format!("{}::{:?}", resource.kind, resource.id),
            route_class,
        }
    }

    /// The resource entity of a request and the policies that can concern it.
    fn resource(
        &self,
        request: &AccessRequest<'_>,
        route: &RouteRef,
    ) -> (ResourceRef, Option<String>, SliceRef<'_>) {
        let slice = |app: Option<usize>| match app {
            Some(index) => SliceRef(&self.app_slices[index]),
            None => SliceRef(&self.unknown_app_slice),
        };
        match request.target {
            Target::Admin(_) => (ResourceRef::gateway(), None, SliceRef(&self.gateway_slice)),
            Target::SignIn { app } => (ResourceRef::app(app), None, slice(route.app)),
            Target::Route { app } => {
                let class = match route.app {
                    Some(index) => self.set.routes.app(index).classes[route.class]
                        .class
                        .clone(),
                    None => DEFAULT_CLASS.to_string(),
                };
                (
                    ResourceRef::route(app, &class),
                    Some(class),
                    slice(route.app),
                )
            }
        }
    }

    /// Builds the entities and context and asks Cedar.
    pub(crate) fn ask(
        &self,
        request: &AccessRequest<'_>,
        action: &str,
        resource: &ResourceRef,
        policies: &PolicySet,
    ) -> Outcome {
        let types = &self.types;
        let principal = types.uid(&types.user, request.subject.username);
        let entities = match self.entities(request, &principal, resource) {
            Ok(entities) => entities,
            Err(message) => return Outcome::failed(message),
        };
        let cedar_request = Request::new(
            principal,
            types.uid(&types.action, action),
            resource.uid(types),
            context(request),
            None,
        );
        let cedar_request = match cedar_request {
            Ok(request) => request,
            Err(error) => return Outcome::failed(error.to_string()),
        };
        let response = self
            .authorizer
            .is_authorized(&cedar_request, policies, &entities);
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        reasons.sort();
        Outcome {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            reasons,
            errors: response
                .diagnostics()
                .errors()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// The user (with roles and department), the roles, and the resource with its app.
    fn entities(
        &self,
        request: &AccessRequest<'_>,
        principal: &EntityUid,
        resource: &ResourceRef,
    ) -> Result<Entities, String> {
        let types = &self.types;
        let subject = &request.subject;
        let roles = &self.set.roles;
        let mut entities = Vec::new();
        let mut parents: HashSet<EntityUid> = subject
            .roles
            .iter()
            .filter(|&i| i < roles.roles().len())
            .map(|i| types.uid(&types.role, &roles.role(i).id))
            .collect();
        for index in subject.roles.iter().filter(|&i| i < roles.roles().len()) {
            let role = roles.role(index);
            let included = role
                .includes
                .iter()
                .map(|&i| types.uid(&types.role, &roles.role(i).id))
                .collect();
            entities.push(Entity::new_no_attrs(
                types.uid(&types.role, &role.id),
                included,
            ));
        }
        if let Some(department) = subject.department {
            let uid = types.uid(&types.department, department);
            parents.insert(uid.clone());
            entities.push(Entity::new_no_attrs(uid, HashSet::new()));
        }
        let text = |s: &str| RestrictedExpression::new_string(s.to_string());
        let user = Entity::new(
            principal.clone(),
            HashMap::from([
                ("username".to_string(), text(subject.username)),
                ("display_name".to_string(), text(subject.display_name)),
                (
                    "department".to_string(),
                    text(subject.department.unwrap_or("")),
                ),
            ]),
            parents,
        )
        .map_err(|e| e.to_string())?;
        entities.push(user);
        entities.extend(resource.entities(types, self)?);
        Entities::from_entities(entities, None).map_err(|e| e.to_string())
    }

    pub(crate) fn app_name<'a>(&'a self, app: &'a str) -> &'a str {
        self.set
            .routes
            .app_index(app)
            .and_then(|i| self.set.routes.app(i).name.as_deref())
            .unwrap_or(app)
    }

    /// The policies that can concern `request` (for explanations).
    pub(crate) fn slice_for(&self, request: &AccessRequest<'_>) -> (ResourceRef, &PolicySet) {
        let route = self.route_of(request);
        let (resource, _, slice) = self.resource(request, &route);
        (resource, slice.0)
    }

    pub(crate) fn action_of(&self, request: &AccessRequest<'_>) -> &'static str {
        let route = self.route_of(request);
        ACTIONS[action_index(&request.target, Some(route.action)) as usize]
    }
}

struct SliceRef<'a>(&'a PolicySet);

/// Where a request landed in the route table.
struct RouteRef {
    app: Option<usize>,
    class: usize,
    action: RouteAction,
}

impl RouteRef {
    fn admin() -> RouteRef {
        RouteRef {
            app: None,
            class: 0,
            action: RouteAction::Read,
        }
    }
}

/// The resource of a request.
pub(crate) struct ResourceRef {
    kind: &'static str,
    id: String,
    /// For routes: the app and class.
    route: Option<(String, String)>,
}

impl ResourceRef {
    fn gateway() -> Self {
        ResourceRef {
            kind: "Gateway",
            id: GATEWAY_ENTITY.into(),
            route: None,
        }
    }
    fn app(app: &str) -> Self {
        ResourceRef {
            kind: "App",
            id: app.into(),
            route: None,
        }
    }
    fn route(app: &str, class: &str) -> Self {
        ResourceRef {
            kind: "Route",
            id: format!("{app}/{class}"),
            route: Some((app.into(), class.into())),
        }
    }

    fn uid(&self, types: &Types) -> EntityUid {
        let kind = match self.kind {
            "Gateway" => &types.gateway,
            "App" => &types.app,
            _ => &types.route,
        };
        types.uid(kind, &self.id)
    }

    fn entities(&self, types: &Types, engine: &PolicyEngine) -> Result<Vec<Entity>, String> {
        let text = |s: &str| RestrictedExpression::new_string(s.to_string());
        let app_entity = |app: &str| {
            Entity::new(
                types.uid(&types.app, app),
                HashMap::from([("name".to_string(), text(engine.app_name(app)))]),
                HashSet::new(),
            )
            .map_err(|e| e.to_string())
        };
        match (self.kind, &self.route) {
            ("Gateway", _) => Ok(vec![Entity::new_no_attrs(self.uid(types), HashSet::new())]),
            ("Route", Some((app, class))) => Ok(vec![
                app_entity(app)?,
                Entity::new(
                    self.uid(types),
                    HashMap::from([
                        ("app".to_string(), text(app)),
                        ("class".to_string(), text(class)),
                    ]),
                    HashSet::from([types.uid(&types.app, app)]),
                )
                .map_err(|e| e.to_string())?,
            ]),
            _ => Ok(vec![app_entity(&self.id)?]),
        }
    }
}

/// Cedar's answer, reduced to what the gateway reports.
pub(crate) struct Outcome {
    pub allowed: bool,
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
}

impl Outcome {
    /// A request Cedar could not even be asked: denied, with the reason.
    fn failed(message: String) -> Outcome {
        Outcome {
            allowed: false,
            reasons: Vec::new(),
            errors: vec![message],
        }
    }
}

pub fn strength_name(strength: AuthStrength) -> &'static str {
    match strength {
        AuthStrength::Password => "password",
        AuthStrength::SecondFactor => "second_factor",
        AuthStrength::Certificate => "certificate",
    }
}

pub fn strength_level(strength: AuthStrength) -> i64 {
    match strength {
        AuthStrength::Password => 1,
        AuthStrength::SecondFactor => 2,
        AuthStrength::Certificate => 3,
    }
}

/// The request context as the schema declares it.
fn context(request: &AccessRequest<'_>) -> Context {
    let local = LocalTime::in_vietnam(request.time);
    let pairs = [
        (
            "path",
            RestrictedExpression::new_string(request.path.to_string()),
        ),
        (
            "method",
            RestrictedExpression::new_string(request.method.to_string()),
        ),
        (
            "ip",
            RestrictedExpression::new_ip(request.ip.to_canonical().to_string()),
        ),
        (
            "strength",
            RestrictedExpression::new_string(strength_name(request.strength).to_string()),
        ),
        (
            "strength_level",
            RestrictedExpression::new_long(strength_level(request.strength)),
        ),
        ("hour", RestrictedExpression::new_long(local.hour.into())),
        (
            "minute_of_day",
            RestrictedExpression::new_long(local.minute_of_day.into()),
        ),
        (
            "weekday",
            RestrictedExpression::new_long(local.weekday.into()),
        ),
        ("signed", RestrictedExpression::new_bool(request.signed)),
    ];
    // Distinct keys and plain values: building the record cannot fail.
    Context::from_pairs(pairs.map(|(k, v)| (k.to_string(), v))).unwrap_or_else(|_| Context::empty())
}

/// Helper for tests and tools: a subject with the named roles.
pub fn subject_with_roles<'a>(
    engine: &PolicyEngine,
    username: &'a str,
    department: Option<&'a str>,
    roles: &[String],
    groups: &[String],
) -> Result<Subject<'a>, String> {
    let mut bits: RoleBits = engine.set.roles.for_role_names(roles)?;
    bits.union_with(&engine.set.roles.for_groups(groups));
    Ok(Subject {
        username,
        display_name: username,
        department,
        roles: bits,
    })
}
