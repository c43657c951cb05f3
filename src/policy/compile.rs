//! Compiles a [`PolicySource`] into a checked set: schema, policies with their officer-given
//! ids, roles, route classes and test tables. Nothing of a set with an error takes effect.

use cedar_policy::{Effect, Policy, PolicyId, Schema, ValidationMode, Validator};
use std::collections::BTreeMap;

use super::diagnostics::{from_miette, Diagnostic, Diagnostics, Position, Severity};
use super::roles::RoleMap;
use super::routes::RouteTable;
use super::source::{PolicySource, ROLES_FILE, ROUTES_FILE, SCHEMA_FILE};
use super::split::split_policies;
use super::testcase::{parse_test_file, TestCase};

/// An app the gateway serves, as the compiler needs it (from the gateway configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownApp {
    pub id: String,
    pub name: String,
}

/// Where a policy came from and what it says, for audits, explanations and the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyInfo {
    pub id: String,
    pub file: String,
    pub line: usize,
    pub effect: &'static str,
    pub description: Option<String>,
}

/// A checked policy set, ready for [`PolicyEngine::new`](super::PolicyEngine::new).
pub struct CompiledSet {
    /// Content digest of the source (see [`PolicySource::digest`]).
    pub version: String,
    pub source: PolicySource,
    pub schema: Schema,
    pub policies: Vec<(Policy, PolicyInfo)>,
    pub roles: RoleMap,
    pub routes: RouteTable,
    pub tests: Vec<TestCase>,
    /// Problems that do not stop the set (lint results included).
    pub warnings: Vec<Diagnostic>,
}

impl CompiledSet {
    pub fn info(&self, id: &str) -> Option<&PolicyInfo> {
        self.policies
            .iter()
            .find(|(_, info)| info.id == id)
            .map(|(_, info)| info)
    }
}

/// Parses and strictly validates `source`. `apps` are the apps the gateway serves (their ids
/// may be used in policies even without route classes); pass none to use `routes.toml` alone.
pub fn compile(source: &PolicySource, apps: &[KnownApp]) -> Result<CompiledSet, Diagnostics> {
    let mut diagnostics = Vec::new();
    let schema = parse_schema(source, &mut diagnostics);
    let (policies, offsets) = parse_policies(source, &mut diagnostics);
    let roles = match source.get(ROLES_FILE) {
        Some(text) => RoleMap::parse(text, &mut diagnostics),
        None => RoleMap::default(),
    };
    let routes = match source.get(ROUTES_FILE) {
        Some(text) => RouteTable::parse(text, &mut diagnostics),
        None => RouteTable::default(),
    }
    .with_apps(apps.iter().map(|a| a.id.as_str()));
    let mut tests = Vec::new();
    for (file, text) in source.test_files() {
        tests.extend(parse_test_file(file, text, &mut diagnostics));
    }
    if let Some(schema) = &schema {
        validate(schema, source, &policies, &offsets, &mut diagnostics);
    }
    let errors = diagnostics.iter().any(Diagnostic::is_error);
    match schema {
        Some(schema) if !errors => {
            let mut set = CompiledSet {
                version: source.digest(),
                source: source.clone(),
                schema,
                policies,
                roles,
                routes,
                tests,
                warnings: diagnostics,
            };
            let lints = super::lint::lint(&set, apps);
            set.warnings.extend(lints);
            Ok(set)
        }
        _ => {
            diagnostics.sort_by_key(|d| d.severity);
            Err(Diagnostics { diagnostics })
        }
    }
}

fn parse_schema(source: &PolicySource, diagnostics: &mut Vec<Diagnostic>) -> Option<Schema> {
    let Some(text) = source.get(SCHEMA_FILE) else {
        diagnostics.push(Diagnostic::error(
            SCHEMA_FILE,
            Position::START,
            "the policy set has no schema: every set needs schema.cedarschema",
        ));
        return None;
    };
    match Schema::from_cedarschema_str(text) {
        Ok((schema, warnings)) => {
            for warning in warnings {
                diagnostics.push(from_miette(
                    SCHEMA_FILE,
                    text,
                    0,
                    Severity::Warning,
                    &warning,
                ));
            }
            Some(schema)
        }
        Err(error) => {
            diagnostics.push(from_miette(SCHEMA_FILE, text, 0, Severity::Error, &error));
            None
        }
    }
}

/// Every policy of every `.cedar` file, renamed to its `@id`, with the byte offset of its
/// chunk in its file (validation labels point into the chunk's text).
fn parse_policies(
    source: &PolicySource,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<(Policy, PolicyInfo)>, Vec<usize>) {
    let mut policies: Vec<(Policy, PolicyInfo)> = Vec::new();
    let mut offsets = Vec::new();
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (file, text) in source.policy_files() {
        let lines = LineIndex::new(text);
        for chunk in split_policies(text) {
            let at = lines.position(chunk.offset + leading_space(chunk.text));
            let policy = match Policy::parse(None, chunk.text) {
                Ok(policy) => policy,
                Err(errors) => {
                    for error in errors.iter() {
                        diagnostics.push(from_miette(
                            file,
                            text,
                            chunk.offset,
                            Severity::Error,
                            error,
                        ));
                    }
                    continue;
                }
            };
            let Some(id) = policy.annotation("id").map(str::to_string) else {
                diagnostics.push(Diagnostic::error(
                    file,
                    at,
                    "policy has no @id(\"...\") annotation: every policy needs a stable id for audits and explanations",
                ));
                continue;
            };
            if !is_policy_id(&id) {
                diagnostics.push(Diagnostic::error(
                    file,
                    at,
                    format!("@id({id:?}) must be 1-100 characters: letters, digits, '-', '_', '.'"),
                ));
                continue;
            }
            if let Some((first_file, first_line)) = seen.get(&id) {
                diagnostics.push(Diagnostic::error(
                    file,
                    at,
                    format!("@id({id:?}) is already used at {first_file}:{first_line}"),
                ));
                continue;
            }
            seen.insert(id.clone(), (file.to_string(), at.line));
            let info = PolicyInfo {
                id: id.clone(),
                file: file.to_string(),
                line: at.line,
                effect: match policy.effect() {
                    Effect::Permit => "permit",
                    Effect::Forbid => "forbid",
                },
                description: policy.annotation("description").map(str::to_string),
            };
            policies.push((policy.new_id(PolicyId::new(&id)), info));
            offsets.push(chunk.offset);
        }
    }
    (policies, offsets)
}

/// Line starts of a text, so that positions of many offsets cost a binary search each
/// (the same answers as [`Position::of_offset`]).
struct LineIndex<'a> {
    text: &'a str,
    newlines: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let newlines = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        LineIndex { text, newlines }
    }

    fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = self.newlines.partition_point(|&newline| newline < offset);
        let line_start = if before == 0 {
            0
        } else {
            self.newlines[before - 1] + 1
        };
        Position {
            line: before + 1,
            column: self.text[line_start..offset].chars().count() + 1,
        }
    }
}

/// Strict validation against the schema, each error at its policy's line.
fn validate(
    schema: &Schema,
    source: &PolicySource,
    policies: &[(Policy, PolicyInfo)],
    offsets: &[usize],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let validator = Validator::new(schema.clone());
    for ((policy, info), &base) in policies.iter().zip(offsets) {
        let mut set = cedar_policy::PolicySet::new();
        if set.add(policy.clone()).is_err() {
            continue;
        }
        let text = source.get(&info.file).unwrap_or_default();
        let result = validator.validate(&set, ValidationMode::Strict);
        for error in result.validation_errors() {
            let mut d = from_miette(&info.file, text, base, Severity::Error, error);
            d.message = format!("policy {:?}: {}", info.id, d.message);
            diagnostics.push(d);
        }
        for warning in result.validation_warnings() {
            let mut d = from_miette(&info.file, text, base, Severity::Warning, warning);
            d.message = format!("policy {:?}: {}", info.id, d.message);
            diagnostics.push(d);
        }
    }
}

/// Bytes of whitespace and `//` comments before a chunk's first token.
fn leading_space(text: &str) -> usize {
    let mut offset = 0;
    loop {
        let rest = &text[offset..];
        let trimmed = rest.trim_start();
        offset += rest.len() - trimmed.len();
        if trimmed.starts_with("//") {
            offset += trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else {
            return offset;
        }
    }
}

fn is_policy_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_gives_the_positions_of_offsets() {
        let text = "// đầu\n@id(\"a\")\npermit(principal, action, resource);\n\n  forbid(x);";
        let lines = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                lines.position(offset),
                Position::of_offset(text, offset),
                "{offset}"
            );
        }
        assert_eq!(LineIndex::new("").position(0), Position::START);
    }
}
