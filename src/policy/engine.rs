//! The engine: one compiled set, sliced per app, with its decision cache.
//!
//! A decision on a cache miss builds the handful of entities the request involves (the user
//! with their roles and department, the route class and its app) and asks Cedar, over only the
//! policies whose scope can match that app's route class (or the app, for sign-in) and that
//! action (see [`slices`](super::slices)): a policy whose scope cannot match can never apply,
//! so leaving it out changes no answer and keeps a miss fast with hundreds of apps. The app and
//! route entities are built once per engine; role entities only when a policy can observe them.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicySet,
    Request, ResourceConstraint, RestrictedExpression,
};

use super::cache::{DecisionCache, DecisionKey, KeyFacts};
use super::clock::LocalTime;
use super::compile::CompiledSet;
use super::request::{AccessRequest, AdminAction, Decision, PrincipalKind, Subject, Target};
use super::roles::RoleBits;
use super::routes::{RouteAction, DEFAULT_CLASS};
use super::slices::DecisionSlices;
use super::usage::{reads_role_entities, Conditions, ContextUsage};
use crate::identity::{AuthStrength, Identity};

/// The gateway entity administrative actions are about.
pub const GATEWAY_ENTITY: &str = "govgate";

/// Action names by index (the index is part of the cache key).
const ACTIONS: [&str; 8] = [
    "read",
    "write",
    "signin",
    "policy_read",
    "policy_write",
    "session_admin",
    "audit_read",
    "signature_verify",
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
            AdminAction::SignatureVerify => 7,
        },
    }
}

/// Entity type names, parsed once.
struct Types {
    user: EntityTypeName,
    client: EntityTypeName,
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
            client: name("Client"),
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
    /// What decisions are asked over: per app, class and action (the slices above stay for
    /// explanations, which also show permits for other actions and classes of the app).
    slices: DecisionSlices,
    /// `Role::"id"` of every role, by index.
    role_uids: Vec<EntityUid>,
    /// The entities of every app and route class of the route table.
    resources: ResourceEntities,
    /// Whether a policy can observe role entities (see `usage::reads_role_entities`); if none
    /// can, decisions give the user its closed set of roles and build no role entities.
    role_entities: bool,
    types: Types,
    authorizer: Authorizer,
    cache: DecisionCache,
}

impl PolicyEngine {
    pub fn new(set: CompiledSet) -> PolicyEngine {
        // Each policy's conditions in JSON form, once: producing it parses the text again.
        let conditions: Vec<Conditions> = set
            .policies
            .iter()
            .map(|(policy, _)| Conditions::of(policy))
            .collect();
        let usage = ContextUsage::of_conditions(
            set.policies
                .iter()
                .zip(&conditions)
                .map(|((policy, _), conditions)| (policy, conditions)),
        );
        let role_entities = set
            .policies
            .iter()
            .zip(&conditions)
            .any(|((policy, _), conditions)| reads_role_entities(policy, conditions));
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
        let mut engine = PolicyEngine {
            usage,
            slices: DecisionSlices::new(&set, &ACTIONS),
            app_slices: app_slices.into_iter().map(to_set).collect(),
            unknown_app_slice: to_set(unknown_app_slice),
            gateway_slice: to_set(gateway_slice),
            role_uids: {
                let types = Types::new();
                set.roles
                    .roles()
                    .iter()
                    .map(|role| types.uid(&types.role, &role.id))
                    .collect()
            },
            role_entities,
            resources: ResourceEntities::default(),
            types: Types::new(),
            authorizer: Authorizer::new(),
            cache: DecisionCache::default(),
            set,
        };
        engine.resources = ResourceEntities::of(&engine);
        engine
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
            kind: PrincipalKind::User,
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

    /// The subject for a system client: the roles of its registration (unknown role names
    /// give nothing: the policies, not the client list, define roles).
    pub fn client_subject<'a>(
        &self,
        client_id: &'a str,
        name: &'a str,
        roles: &[String],
    ) -> Subject<'a> {
        let mut bits = RoleBits::default();
        for role in roles {
            if let Ok(found) = self.set.roles.for_role_names(std::slice::from_ref(role)) {
                bits.union_with(&found);
            }
        }
        Subject {
            kind: PrincipalKind::Client,
            username: client_id,
            display_name: name,
            department: None,
            roles: bits,
        }
    }

    /// The names of a person's roles (closed under inclusion), for `roles` claims.
    pub fn role_names(&self, identity: &Identity) -> Vec<String> {
        let subject = self.subject(identity);
        let mut closed = RoleBits::default();
        for index in subject.roles.iter() {
            closed.union_with(&self.set.roles.role(index).closure);
        }
        closed
            .iter()
            .map(|index| self.set.roles.role(index).id.clone())
            .collect()
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
        // Users and clients are different principals even with equal ids and roles.
        let kind_bit = match request.subject.kind {
            PrincipalKind::User => 0,
            PrincipalKind::Client => 0x80,
        };
        let action = action_index(&request.target, Some(route.action)) | kind_bit;
        Some(DecisionKey::new(
            &self.usage,
            &request.subject.roles,
            (app, class, action),
            &facts,
        ))
    }

    fn evaluate_route(&self, request: &AccessRequest<'_>, route: &RouteRef) -> Decision {
        let index = action_index(&request.target, Some(route.action)) as usize;
        let action = ACTIONS[index];
        let (resource, route_class, app_slice) = self.resource(request, route);
        let slice = match (request.target, route.app) {
            (Target::Route { .. }, Some(app)) => {
                Some(self.slices.route(app, route.class, index == 1))
            }
            (Target::SignIn { .. }, Some(app)) => Some(self.slices.signin(app)),
            (Target::Admin(_), _) => Some(self.slices.admin(index)),
            // Apps the route table does not know: the policies that can concern any app.
            (_, None) => None,
        };
        let outcome = match slice {
            Some(slice) => self.ask_over(
                request,
                action,
                &resource,
                &slice.policies,
                Some(&slice.roles),
            ),
            None => self.ask(request, action, &resource, app_slice.0),
        };
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
        self.ask_over(request, action, resource, policies, None)
    }

    /// [`ask`](Self::ask), knowing which roles `policies` name (`named`): when no policy of
    /// the set can observe role entities, the user is given only those of its roles.
    fn ask_over(
        &self,
        request: &AccessRequest<'_>,
        action: &str,
        resource: &ResourceRef,
        policies: &PolicySet,
        named: Option<&RoleBits>,
    ) -> Outcome {
        let types = &self.types;
        let kind = match request.subject.kind {
            PrincipalKind::User => &types.user,
            PrincipalKind::Client => &types.client,
        };
        let principal = types.uid(kind, request.subject.username);
        let entities = match self.entities(request, &principal, resource, named) {
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
        named: Option<&RoleBits>,
    ) -> Result<Entities, String> {
        let types = &self.types;
        let subject = &request.subject;
        let roles = &self.set.roles;
        let known = |i: &usize| *i < self.role_uids.len();
        let mut entities = Vec::new();
        let mut parents: HashSet<EntityUid>;
        if self.role_entities {
            // Some policy looks at role entities themselves: build them, with their inclusions,
            // and let Cedar close the hierarchy.
            parents = subject
                .roles
                .iter()
                .filter(known)
                .map(|i| self.role_uids[i].clone())
                .collect();
            for index in subject.roles.iter().filter(known) {
                let included = roles
                    .role(index)
                    .includes
                    .iter()
                    .map(|&i| self.role_uids[i].clone())
                    .collect();
                entities.push(Entity::new_no_attrs(
                    self.role_uids[index].clone(),
                    included,
                ));
            }
        } else {
            // Policies only ask whether the user is in a role: the user's parents are every
            // role it has, inclusions closed here, so Cedar has a much smaller graph to close;
            // of those, only the roles the policies asked over name can change the answer.
            let mut closed = RoleBits::default();
            for index in subject.roles.iter().filter(known) {
                closed.union_with(&roles.role(index).closure);
            }
            parents = closed
                .iter()
                .filter(known)
                .filter(|&i| named.is_none_or(|named| named.contains(i)))
                .map(|i| self.role_uids[i].clone())
                .collect();
        }
        if let Some(department) = subject.department {
            let uid = types.uid(&types.department, department);
            parents.insert(uid.clone());
            entities.push(Entity::new_no_attrs(uid, HashSet::new()));
        }
        let text = |s: &str| RestrictedExpression::new_string(s.to_string());
        let attributes = match subject.kind {
            PrincipalKind::User => HashMap::from([
                ("username".to_string(), text(subject.username)),
                ("display_name".to_string(), text(subject.display_name)),
                (
                    "department".to_string(),
                    text(subject.department.unwrap_or("")),
                ),
            ]),
            PrincipalKind::Client => {
                HashMap::from([("name".to_string(), text(subject.display_name))])
            }
        };
        let user =
            Entity::new(principal.clone(), attributes, parents).map_err(|e| e.to_string())?;
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
        // The route table's apps and classes are built once per engine.
        let routes = &engine.set.routes;
        match (self.kind, &self.route) {
            ("Route", Some((app, class))) => {
                let index = routes.app_index(app);
                let class = index.and_then(|i| routes.app(i).class_index(class));
                if let (Some(index), Some(class)) = (index, class) {
                    if let Some(route) = engine.resources.routes.get(index) {
                        return Ok(vec![
                            engine.resources.apps[index].clone(),
                            route[class].clone(),
                        ]);
                    }
                }
            }
            ("App", _) => {
                if let Some(app) = routes
                    .app_index(&self.id)
                    .and_then(|i| engine.resources.apps.get(i))
                {
                    return Ok(vec![app.clone()]);
                }
            }
            _ => {}
        }
        self.build_entities(types, engine)
    }

    fn build_entities(&self, types: &Types, engine: &PolicyEngine) -> Result<Vec<Entity>, String> {
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

/// The entity of every app and route class of the route table, built once per engine: a
/// decision clones the two it needs instead of building them (and evaluating their
/// attributes) again.
#[derive(Default)]
struct ResourceEntities {
    apps: Vec<Entity>,
    /// Per app, per class.
    routes: Vec<Vec<Entity>>,
}

impl ResourceEntities {
    fn of(engine: &PolicyEngine) -> ResourceEntities {
        let types = &engine.types;
        let mut built = ResourceEntities::default();
        for app in engine.set.routes.apps() {
            // App and route ids from the route table make valid entities; should one not, no
            // entity is prebuilt and every decision builds its own (reporting the error).
            let mut routes = Vec::new();
            let mut app_entity = None;
            for class in &app.classes {
                match ResourceRef::route(&app.id, &class.class).build_entities(types, engine) {
                    Ok(mut pair) if pair.len() == 2 => {
                        routes.push(pair.pop().expect("two entities"));
                        app_entity = pair.pop();
                    }
                    _ => return ResourceEntities::default(),
                }
            }
            match app_entity {
                Some(entity) => built.apps.push(entity),
                None => return ResourceEntities::default(),
            }
            built.routes.push(routes);
        }
        built
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

/// Client addresses kept per thread as ready `ip("…")` expressions.
const IP_EXPRESSIONS: usize = 4096;

thread_local! {
    static IP_EXPRESSION_CACHE: RefCell<HashMap<IpAddr, RestrictedExpression>> =
        RefCell::new(HashMap::new());
}

/// `ip("<address>")`. Building one parses the extension's name with Cedar's full parser
/// (about 4 µs, a tenth of a miss), so each thread keeps the addresses it has seen; a full
/// cache is emptied rather than grown.
fn ip_expression(ip: IpAddr) -> RestrictedExpression {
    IP_EXPRESSION_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(expression) = cache.get(&ip) {
            return expression.clone();
        }
        if cache.len() >= IP_EXPRESSIONS {
            cache.clear();
        }
        let expression = RestrictedExpression::new_ip(ip.to_string());
        cache.insert(ip, expression.clone());
        expression
    })
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
        ("ip", ip_expression(request.ip.to_canonical())),
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
        kind: PrincipalKind::User,
        username,
        display_name: username,
        department,
        roles: bits,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{compile, PolicySource, ROLES_FILE, ROUTES_FILE, SCHEMA_FILE};
    use super::*;

    const ROUTES: &str = r#"
[apps.a]
[[apps.a.routes]]
class = "quan-tri"
path_prefix = "/a/quan-tri"
[[apps.a.routes]]
class = "ky"
path_prefix = "/a/ky"
methods = ["POST"]
[[apps.a.routes]]
class = "xem"
path_prefix = "/a/xem"
action = "read"
[apps.b]
[[apps.b.routes]]
class = "quan-tri"
path_prefix = "/b/quan-tri"
"#;

    const ROLES: &str = r#"
[roles.can-bo]
groups = ["can-bo"]
[roles.lanh-dao]
groups = ["lanh-dao"]
includes = ["can-bo"]
[roles.an-ninh]
groups = ["an-ninh"]
"#;

    /// Every shape of scope the slices must place right.
    const POLICIES: &str = r#"
@id("doc-a")
permit(principal in Role::"can-bo", action == Action::"read", resource in App::"a");
@id("ghi-a")
permit(principal in Role::"lanh-dao", action in [Action::"write", Action::"signin"], resource in App::"a");
@id("ky-a")
permit(principal, action, resource == Route::"a/ky") when { context.strength_level >= 2 };
@id("quan-tri-moi-app")
forbid(principal, action, resource is Route) when { resource.class == "quan-tri" }
unless { context.ip.isInRange(ip("10.0.0.0/8")) };
@id("xem-route-trong-b")
permit(principal, action == Action::"read", resource is Route in App::"b");
@id("dang-nhap-b")
permit(principal in Role::"can-bo", action == Action::"signin", resource == App::"b");
@id("dang-nhap-moi-app")
permit(principal in Role::"an-ninh", action == Action::"signin", resource is App);
@id("route-in-route")
permit(principal in Role::"an-ninh", action, resource in Route::"b/quan-tri");
@id("khong-ghi-chu-nhat")
forbid(principal, action == Action::"write", resource) when { context.weekday == 7 };
@id("chinh-sach")
permit(principal in Role::"an-ninh", action in [Action::"policy_read", Action::"policy_write"], resource == Gateway::"govgate");
@id("moi-thu-cho-lanh-dao")
permit(principal in Role::"lanh-dao", action, resource) when { context.hour < 12 };
@id("gateway-is")
permit(principal in Role::"can-bo", action == Action::"audit_read", resource is Gateway);
"#;

    fn engine() -> PolicyEngine {
        let mut source = PolicySource::new();
        source
            .insert(
                SCHEMA_FILE,
                include_str!("../../policies/schema.cedarschema").into(),
            )
            .unwrap();
        source.insert(ROLES_FILE, ROLES.into()).unwrap();
        source.insert(ROUTES_FILE, ROUTES.into()).unwrap();
        source.insert("p.cedar", POLICIES.into()).unwrap();
        PolicyEngine::new(compile(&source, &[]).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Slicing per app, class and action, and leaving role entities out, change no decision:
    /// the same answers as Cedar over every policy of the set with every role entity built.
    #[test]
    fn slices_decide_as_the_whole_set() {
        let engine = engine();
        assert!(
            !engine.role_entities,
            "no policy of this set reads role entities"
        );
        let mut reference = self::engine();
        reference.role_entities = true;
        let all =
            PolicySet::from_policies(engine.set.policies.iter().map(|(p, _)| p.clone())).unwrap();
        let mut targets = vec![
            Target::Route { app: "a" },
            Target::Route { app: "b" },
            Target::SignIn { app: "a" },
            Target::SignIn { app: "b" },
        ];
        targets.extend(AdminAction::ALL.map(Target::Admin));
        let mut checked = 0;
        let mut allowed = 0;
        for groups in [&[][..], &["can-bo"], &["lanh-dao"], &["an-ninh"]] {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            for target in &targets {
                for (method, path) in [
                    ("GET", "/"),
                    ("POST", "/"),
                    ("GET", "/a/quan-tri/x"),
                    ("POST", "/a/ky/1"),
                    ("GET", "/a/ky/1"),
                    ("DELETE", "/a/xem"),
                    ("GET", "/b/quan-tri"),
                    ("PUT", "/b/quan-tri"),
                ] {
                    for ip in ["10.1.1.1", "192.0.2.7"] {
                        for time in [1_767_582_000, 1_767_582_000 + 6 * 86_400 + 4 * 3600] {
                            let request = AccessRequest {
                                subject: Subject {
                                    kind: PrincipalKind::User,
                                    username: "u",
                                    display_name: "u",
                                    department: None,
                                    roles: engine.set.roles.for_groups(&groups),
                                },
                                target: *target,
                                method,
                                path,
                                ip: ip.parse().unwrap(),
                                strength: AuthStrength::SecondFactor,
                                time,
                                signed: false,
                            };
                            let sliced = engine.evaluate(&request);
                            let route = engine.route_of(&request);
                            let (resource, _, _) = engine.resource(&request, &route);
                            let whole = reference.ask(&request, sliced.action, &resource, &all);
                            assert_eq!(
                                (sliced.allowed, &sliced.policies, &sliced.errors),
                                (whole.allowed, &whole.reasons, &whole.errors),
                                "{groups:?} {target:?} {method} {path} {ip} {time}"
                            );
                            checked += 1;
                            allowed += usize::from(sliced.allowed);
                        }
                    }
                }
            }
        }
        assert!(checked > 1000 && allowed > 100 && allowed < checked - 100);
    }
}
