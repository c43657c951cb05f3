//! Warnings for sets that compile but are probably not what the officer meant: policies that
//! can never apply, roles no directory group gives, roles no policy uses, apps nobody may open.

use std::collections::HashSet;

use cedar_policy::{Effect, ResourceConstraint};

use super::compile::{CompiledSet, KnownApp};
use super::diagnostics::{Diagnostic, Position};
use super::roles::RoleBits;
use super::source::ROLES_FILE;
use super::usage::ContextUsage;

pub fn lint(set: &CompiledSet, apps: &[KnownApp]) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    let referenced_roles = unknown_references(set, &mut warnings);
    role_warnings(set, &referenced_roles, &mut warnings);
    app_warnings(set, apps, &mut warnings);
    for (policy, info) in &set.policies {
        // Only a policy whose text says `path` can read it; the analysis itself parses the
        // policy's text again, which is most of what linting a large set would cost.
        if policy.to_string().contains("path") && ContextUsage::of([policy]).path {
            warnings.push(Diagnostic::warning(
                &info.file,
                Position { line: info.line, column: 1 },
                format!("policy {:?} tests context.path: every path is then decided (and cached) on its own; prefer a route class in routes.toml", info.id),
            ));
        }
    }
    warnings
}

/// Warns about entity literals naming roles, apps or route classes that do not exist; returns
/// the roles that policies do name.
fn unknown_references(set: &CompiledSet, warnings: &mut Vec<Diagnostic>) -> RoleBits {
    let mut referenced = RoleBits::default();
    for (policy, info) in &set.policies {
        let at = Position {
            line: info.line,
            column: 1,
        };
        let mut warn = |what: String| {
            warnings.push(Diagnostic::warning(
                &info.file,
                at,
                format!(
                    "policy {:?} names {what}: it can never match that entity",
                    info.id
                ),
            ))
        };
        for uid in policy.entity_literals() {
            let id = uid.id().unescaped();
            match uid.type_name().to_string().as_str() {
                "Role" => match set.roles.get(id) {
                    Some(index) => referenced.insert(index),
                    None => warn(format!("{uid}, which roles.toml does not define")),
                },
                "App" if set.routes.app_index(id).is_none() => warn(format!(
                    "{uid}, which neither routes.toml nor the gateway's configuration knows"
                )),
                "Route" => {
                    let known = id.split_once('/').and_then(|(app, class)| {
                        let app = set.routes.app(set.routes.app_index(app)?);
                        app.class_index(class)
                    });
                    if known.is_none() {
                        warn(format!("{uid}, which is not a route class in routes.toml (ids are \"app/class\")"));
                    }
                }
                "Gateway" if id != super::engine::GATEWAY_ENTITY => warn(format!(
                    "{uid}; the gateway entity is Gateway::\"{}\"",
                    super::engine::GATEWAY_ENTITY
                )),
                _ => {}
            }
        }
    }
    referenced
}

fn role_warnings(set: &CompiledSet, referenced: &RoleBits, warnings: &mut Vec<Diagnostic>) {
    let roles = set.roles.roles();
    let mut reachable = RoleBits::default();
    for role in roles.iter().filter(|r| !r.groups.is_empty()) {
        reachable.union_with(&role.closure);
    }
    for (index, role) in roles.iter().enumerate() {
        if !reachable.contains(index) {
            warnings.push(Diagnostic::warning(
                ROLES_FILE,
                role.position,
                format!("role {:?} is mapped from no directory group (directly or through a role that includes it): nobody has it", role.id),
            ));
        }
        if !role.closure.iter().any(|i| referenced.contains(i)) {
            warnings.push(Diagnostic::warning(
                ROLES_FILE,
                role.position,
                format!(
                    "role {:?} is used by no policy (nor is any role it includes)",
                    role.id
                ),
            ));
        }
    }
}

fn app_warnings(set: &CompiledSet, known: &[KnownApp], warnings: &mut Vec<Diagnostic>) {
    let mut permitted: HashSet<String> = HashSet::new();
    let mut global_permit = false;
    for (policy, _) in set
        .policies
        .iter()
        .filter(|(p, _)| p.effect() == Effect::Permit)
    {
        let app_of = |id: &str| id.split('/').next().unwrap_or(id).to_string();
        match policy.resource_constraint() {
            ResourceConstraint::Eq(uid)
            | ResourceConstraint::In(uid)
            | ResourceConstraint::IsIn(_, uid) => match uid.type_name().to_string().as_str() {
                "App" | "Route" => {
                    permitted.insert(app_of(uid.id().unescaped()));
                }
                "Gateway" => {}
                _ => global_permit = true,
            },
            ResourceConstraint::Is(kind) if kind.to_string() == "Gateway" => {}
            _ => global_permit = true,
        }
    }
    if global_permit {
        return;
    }
    for app in set.routes.apps() {
        if !permitted.contains(&app.id) {
            // Apps only the gateway's configuration names have no line in routes.toml.
            let served_only =
                known.iter().any(|k| k.id == app.id) && app.position == Position::START;
            let where_ = if served_only {
                " (it is served by the gateway but not listed in routes.toml)"
            } else {
                ""
            };
            warnings.push(Diagnostic::warning(
                super::source::ROUTES_FILE,
                app.position,
                format!(
                    "app {:?} has no permit that can apply to it: everyone is denied{where_}",
                    app.id
                ),
            ));
        }
    }
}
