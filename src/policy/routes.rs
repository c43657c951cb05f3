//! `routes.toml`: each app's route classes, so policies speak of apps and classes, not paths.
//!
//! ```toml
//! [apps.mot-cua]
//! name = "Một cửa điện tử"
//! [[apps.mot-cua.routes]]
//! class = "quan-tri"
//! path_prefix = "/mot-cua/quan-tri"
//! methods = ["GET", "POST"]   # default: every method
//! # path_prefix may also be a list: ["/mot-cua/quan-tri", "/quan-tri"]
//! action = "write"            # default: read for GET/HEAD/OPTIONS, write otherwise
//! ```
//! A request gets the class with the longest `path_prefix` (on a segment boundary) among the
//! classes whose methods include its method; none → the reserved class `default`. Prefixes are
//! the full path the browser asks for, including the app's mount path.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use toml::Spanned;

use super::diagnostics::{Diagnostic, Position};
use super::roles::is_role_id;
use super::source::ROUTES_FILE;

/// The class a path matching none of an app's classes gets.
pub const DEFAULT_CLASS: &str = "default";

/// What a request to an app route does, unless its class says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteAction {
    Read,
    Write,
}

impl RouteAction {
    pub fn for_method(method: &str) -> RouteAction {
        match method {
            "GET" | "HEAD" | "OPTIONS" => RouteAction::Read,
            _ => RouteAction::Write,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteAction::Read => "read",
            RouteAction::Write => "write",
        }
    }

    fn parse(name: &str) -> Option<RouteAction> {
        match name {
            "read" => Some(RouteAction::Read),
            "write" => Some(RouteAction::Write),
            _ => None,
        }
    }
}

/// One route class of an app.
#[derive(Debug, Clone)]
pub struct RouteClass {
    pub class: String,
    /// One or more prefixes; the first is the class's usual path (previews enumerate it).
    pub path_prefixes: Vec<String>,
    /// Upper-case methods; `None` = every method.
    pub methods: Option<Vec<String>>,
    pub action: Option<RouteAction>,
}

impl RouteClass {
    fn accepts(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m == method))
    }

    /// The path previews and launchers use for this class.
    pub fn path(&self) -> &str {
        self.path_prefixes.first().map_or("/", String::as_str)
    }
}

/// One app's classes; index 0 is always `default`.
#[derive(Debug, Clone)]
pub struct AppRoutes {
    pub id: String,
    pub name: Option<String>,
    /// `default` first, then the written classes in file order.
    pub classes: Vec<RouteClass>,
    /// Every (prefix, class index), longest prefix first: the first match is the most specific.
    matchers: Vec<(String, usize)>,
    pub position: Position,
}

impl AppRoutes {
    fn only_default(id: &str) -> AppRoutes {
        AppRoutes {
            id: id.to_string(),
            name: None,
            classes: vec![RouteClass {
                class: DEFAULT_CLASS.to_string(),
                path_prefixes: vec!["/".to_string()],
                methods: None,
                action: None,
            }],
            matchers: Vec::new(),
            position: Position::START,
        }
    }

    /// The class index for a request (0 = `default`).
    pub fn classify(&self, method: &str, path: &str) -> usize {
        self.matchers
            .iter()
            .find(|(prefix, index)| {
                self.classes[*index].accepts(method) && prefix_matches(prefix, path)
            })
            .map_or(0, |(_, index)| *index)
    }

    fn index_prefixes(&mut self) {
        self.matchers = self
            .classes
            .iter()
            .enumerate()
            .skip(1)
            .flat_map(|(index, class)| class.path_prefixes.iter().map(move |p| (p.clone(), index)))
            .collect();
        self.matchers
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.trim_end_matches('/').len()));
    }

    pub fn class_index(&self, class: &str) -> Option<usize> {
        self.classes.iter().position(|c| c.class == class)
    }
}

/// Every app's route classes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    apps: Vec<AppRoutes>,
    index: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFile {
    #[serde(default)]
    apps: BTreeMap<Spanned<String>, AppEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    routes: Vec<RouteEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    class: Spanned<String>,
    path_prefix: Spanned<OneOrMore>,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    action: Option<Spanned<String>>,
}

/// `path_prefix = "/a"` or `path_prefix = ["/a", "/b"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMore {
    One(String),
    More(Vec<String>),
}

impl RouteTable {
    /// Parses `routes.toml`, pushing problems to `diagnostics`.
    pub fn parse(text: &str, diagnostics: &mut Vec<Diagnostic>) -> RouteTable {
        let at = |offset: usize| Position::of_offset(text, offset);
        let mut error = |offset: usize, message: String| {
            diagnostics.push(Diagnostic::error(ROUTES_FILE, at(offset), message));
        };
        let file: RoutesFile = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                error(
                    e.span().map_or(0, |s| s.start),
                    e.message().trim().to_string(),
                );
                return RouteTable::default();
            }
        };
        let mut table = RouteTable::default();
        for (id, entry) in file.apps {
            if !is_role_id(id.get_ref()) {
                error(
                    id.span().start,
                    format!(
                        "app id {:?} must be lowercase letters, digits and '-'",
                        id.get_ref()
                    ),
                );
            }
            let mut app = AppRoutes::only_default(id.get_ref());
            app.name = entry.name;
            app.position = at(id.span().start);
            for route in entry.routes {
                let class = route.class.get_ref();
                if class == DEFAULT_CLASS || !is_role_id(class) {
                    error(
                        route.class.span().start,
                        format!("route class {class:?} must be lowercase letters, digits and '-', and not \"{DEFAULT_CLASS}\""),
                    );
                    continue;
                }
                if app.classes.iter().any(|c| &c.class == class) {
                    error(
                        route.class.span().start,
                        format!(
                            "route class {class:?} is defined twice for app {:?}",
                            app.id
                        ),
                    );
                    continue;
                }
                let at = route.path_prefix.span().start;
                let prefixes = match route.path_prefix.into_inner() {
                    OneOrMore::One(prefix) => vec![prefix],
                    OneOrMore::More(prefixes) => prefixes,
                };
                if prefixes.is_empty() {
                    error(at, "path_prefix must name at least one path".into());
                    continue;
                }
                if let Some(bad) = prefixes.iter().find(|p| !is_clean_prefix(p)) {
                    error(
                        at,
                        format!("path_prefix {bad:?} must be an absolute path without '..'"),
                    );
                    continue;
                }
                let action = match &route.action {
                    None => None,
                    Some(name) => match RouteAction::parse(name.get_ref()) {
                        Some(action) => Some(action),
                        None => {
                            error(
                                name.span().start,
                                format!(
                                    "action {:?} is not a route action: use \"read\" or \"write\"",
                                    name.get_ref()
                                ),
                            );
                            continue;
                        }
                    },
                };
                app.classes.push(RouteClass {
                    class: class.clone(),
                    path_prefixes: prefixes,
                    methods: route
                        .methods
                        .map(|m| m.iter().map(|m| m.to_ascii_uppercase()).collect()),
                    action,
                });
            }
            app.index_prefixes();
            table.insert(app);
        }
        table
    }

    fn insert(&mut self, app: AppRoutes) {
        self.index.insert(app.id.clone(), self.apps.len());
        self.apps.push(app);
    }

    /// Adds apps the gateway serves that `routes.toml` does not list (class `default` only).
    pub fn with_apps<'a>(mut self, ids: impl IntoIterator<Item = &'a str>) -> RouteTable {
        for id in ids {
            if !self.index.contains_key(id) {
                self.insert(AppRoutes::only_default(id));
            }
        }
        self
    }

    pub fn apps(&self) -> &[AppRoutes] {
        &self.apps
    }

    pub fn app_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn app(&self, index: usize) -> &AppRoutes {
        &self.apps[index]
    }
}

fn is_clean_prefix(prefix: &str) -> bool {
    prefix.starts_with('/') && !prefix.split('/').any(|segment| segment == "..")
}

/// `prefix` matches `path` on a segment boundary (`/a` matches `/a` and `/a/b`, not `/ab`).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let prefix = prefix.trim_end_matches('/');
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = r#"
[apps.mot-cua]
name = "Một cửa"
[[apps.mot-cua.routes]]
class = "quan-tri"
path_prefix = "/mot-cua/quan-tri"
[[apps.mot-cua.routes]]
class = "tiep-nhan"
path_prefix = "/mot-cua/ho-so"
methods = ["post", "PUT"]
[[apps.mot-cua.routes]]
class = "tra-cuu"
path_prefix = "/mot-cua"
action = "read"
"#;

    #[test]
    fn longest_prefix_with_matching_method_wins() {
        let mut problems = Vec::new();
        let table = RouteTable::parse(ROUTES, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let app = table.app(table.app_index("mot-cua").unwrap());
        let class = |method, path| &app.classes[app.classify(method, path)].class;
        assert_eq!(class("GET", "/mot-cua/quan-tri/users"), "quan-tri");
        assert_eq!(class("GET", "/mot-cua/quan-trix"), "tra-cuu");
        assert_eq!(class("POST", "/mot-cua/ho-so/1"), "tiep-nhan");
        assert_eq!(class("GET", "/mot-cua/ho-so/1"), "tra-cuu");
        assert_eq!(class("GET", "/khac"), DEFAULT_CLASS);
    }

    #[test]
    fn a_class_may_have_several_prefixes() {
        let text = "[apps.a]\n[[apps.a.routes]]\nclass = \"quan-tri\"\npath_prefix = [\"/a/quan-tri\", \"/quan-tri\"]\n\
                    [[apps.a.routes]]\nclass = \"a\"\npath_prefix = \"/a\"\n";
        let mut problems = Vec::new();
        let table = RouteTable::parse(text, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let app = table.app(0);
        let class = |path| &app.classes[app.classify("GET", path)].class;
        assert_eq!(class("/quan-tri/x"), "quan-tri");
        assert_eq!(class("/a/quan-tri"), "quan-tri");
        assert_eq!(class("/a/other"), "a");
        assert_eq!(app.classes[1].path(), "/a/quan-tri");
    }

    #[test]
    fn bad_entries_are_located_errors() {
        let text = "[apps.a]\n[[apps.a.routes]]\nclass = \"default\"\npath_prefix = \"/x\"\n\
                    [[apps.a.routes]]\nclass = \"b\"\npath_prefix = \"x\"\n\
                    [[apps.a.routes]]\nclass = \"c\"\npath_prefix = \"/c\"\naction = \"delete\"\n";
        let mut problems = Vec::new();
        RouteTable::parse(text, &mut problems);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 7, 11], "{problems:?}");
    }

    #[test]
    fn apps_the_gateway_serves_get_a_default_class() {
        let table = RouteTable::default().with_apps(["mail"]);
        let app = table.app(table.app_index("mail").unwrap());
        assert_eq!(app.classify("DELETE", "/anything"), 0);
    }
}
