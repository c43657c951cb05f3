//! Routing table: which app answers a request, by Host and longest path prefix.
//!
//! Hosts match exactly first, then by the longest wildcard suffix (`*.namdinh.gov.vn`),
//! then apps with no host list. Within a host, the longest path prefix that ends on a
//! segment boundary wins (`/qlvb` matches `/qlvb` and `/qlvb/x`, not `/qlvbx`). A host
//! pattern whose prefixes all miss falls through to the next, less specific pattern.

use std::borrow::Cow;
use std::collections::HashMap;

/// A candidate route: a path prefix and the index of the app it leads to.
#[derive(Debug, Clone)]
struct PrefixRoute {
    /// Normalised: starts with `/`, no trailing `/` except for the root itself.
    prefix: Box<str>,
    app: usize,
}

/// Host pattern → prefixes, each list sorted longest prefix first.
#[derive(Debug, Default)]
pub struct RoutingTable {
    exact: HashMap<Box<str>, Vec<PrefixRoute>>,
    /// Wildcard suffixes including the leading dot (`.namdinh.gov.vn`), longest first.
    wildcard: Vec<(Box<str>, Vec<PrefixRoute>)>,
    any_host: Vec<PrefixRoute>,
}

/// The app a request goes to, and how much of its path the app's prefix covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch {
    pub app: usize,
    /// Length of the matched prefix in the request path (0 for the root prefix).
    pub prefix_len: usize,
}

impl RoutingTable {
    /// Builds the table from `(host patterns, path prefix)` per app, in app-index order.
    /// Host patterns are lowercase; an empty list means any host.
    pub fn build<'a>(apps: impl IntoIterator<Item = (&'a [String], &'a str)>) -> Self {
        let mut table = RoutingTable::default();
        let mut wildcard: HashMap<Box<str>, Vec<PrefixRoute>> = HashMap::new();
        for (app, (hosts, prefix)) in apps.into_iter().enumerate() {
            let route = PrefixRoute {
                prefix: normalise_prefix(prefix).into(),
                app,
            };
            if hosts.is_empty() {
                table.any_host.push(route);
                continue;
            }
            for host in hosts {
                let host = host.to_ascii_lowercase();
                match host.strip_prefix('*') {
                    Some(suffix) => wildcard
                        .entry(suffix.into())
                        .or_default()
                        .push(route.clone()),
                    None => table
                        .exact
                        .entry(host.into())
                        .or_default()
                        .push(route.clone()),
                }
            }
        }
        table.wildcard = wildcard.into_iter().collect();
        table
            .wildcard
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        for routes in table
            .exact
            .values_mut()
            .chain(table.wildcard.iter_mut().map(|(_, r)| r))
        {
            sort_longest_first(routes);
        }
        sort_longest_first(&mut table.any_host);
        table
    }

    /// Finds the app for a request. `host` must already be lowercase and without port.
    pub fn find(&self, host: &str, path: &str) -> Option<RouteMatch> {
        if let Some(found) = self
            .exact
            .get(host)
            .and_then(|routes| match_prefix(routes, path))
        {
            return Some(found);
        }
        for (suffix, routes) in &self.wildcard {
            // `*.a.b` matches `x.a.b` and `x.y.a.b`, never `a.b` itself.
            if host.len() > suffix.len() && host.ends_with(&**suffix) {
                if let Some(found) = match_prefix(routes, path) {
                    return Some(found);
                }
            }
        }
        match_prefix(&self.any_host, path)
    }
}

fn sort_longest_first(routes: &mut [PrefixRoute]) {
    routes.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
}

fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

fn match_prefix(routes: &[PrefixRoute], path: &str) -> Option<RouteMatch> {
    routes.iter().find_map(|route| {
        let prefix = &*route.prefix;
        if prefix == "/" {
            return Some(RouteMatch {
                app: route.app,
                prefix_len: 0,
            });
        }
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(RouteMatch {
            app: route.app,
            prefix_len: prefix.len(),
        })
    })
}

/// True when the path has a `.` or `..` segment, literal or percent-encoded (`%2e`).
/// The upstream would resolve it to a path other than the one the route was chosen for.
pub fn has_dot_segment(path: &str) -> bool {
    if !path.bytes().any(|b| b == b'.' || b == b'%') {
        return false;
    }
    path.split('/').any(|segment| {
        // `.` … `%2e%2e`: at most six bytes.
        segment.len() <= 6
            && matches!(
                segment.to_ascii_lowercase().replace("%2e", ".").as_str(),
                "." | ".."
            )
    })
}

/// Lowercases a Host header value and removes its port (`[::1]:8443` → `[::1]`).
pub fn normalise_host(host: &str) -> Cow<'_, str> {
    let without_port = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let without_dot = without_port.strip_suffix('.').unwrap_or(without_port);
    if without_dot.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(without_dot.to_ascii_lowercase())
    } else {
        Cow::Borrowed(without_dot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RoutingTable {
        let apps: Vec<(Vec<String>, &str)> = vec![
            (vec!["motcua.namdinh.gov.vn".into()], "/"),
            (vec!["*.namdinh.gov.vn".into()], "/"),
            (vec!["portal.namdinh.gov.vn".into()], "/qlvb"),
            (vec![], "/mot-cua"),
            (vec![], "/"),
            (vec!["*.so.namdinh.gov.vn".into()], "/"),
        ];
        RoutingTable::build(apps.iter().map(|(h, p)| (h.as_slice(), *p)))
    }

    #[test]
    fn exact_host_beats_wildcard() {
        assert_eq!(table().find("motcua.namdinh.gov.vn", "/x").unwrap().app, 0);
    }

    #[test]
    fn longest_wildcard_suffix_wins() {
        let t = table();
        assert_eq!(t.find("mail.namdinh.gov.vn", "/").unwrap().app, 1);
        assert_eq!(t.find("yte.so.namdinh.gov.vn", "/").unwrap().app, 5);
        // The bare domain is not covered by its own wildcard.
        assert_eq!(t.find("namdinh.gov.vn", "/").unwrap().app, 4);
    }

    #[test]
    fn prefix_on_segment_boundary_only() {
        let t = table();
        assert_eq!(
            t.find("portal.namdinh.gov.vn", "/qlvb"),
            Some(RouteMatch {
                app: 2,
                prefix_len: 5
            })
        );
        assert_eq!(
            t.find("portal.namdinh.gov.vn", "/qlvb/van-ban-den")
                .unwrap()
                .app,
            2
        );
        // `/qlvbx` is not under `/qlvb`: falls through to the next most specific host pattern.
        assert_eq!(t.find("portal.namdinh.gov.vn", "/qlvbx").unwrap().app, 1);
        assert_eq!(t.find("other", "/mot-cua/ho-so").unwrap().app, 3);
    }

    #[test]
    fn no_match_without_fallback() {
        let apps: Vec<(Vec<String>, &str)> = vec![(vec!["a.gov.vn".into()], "/app")];
        let t = RoutingTable::build(apps.iter().map(|(h, p)| (h.as_slice(), *p)));
        assert_eq!(t.find("a.gov.vn", "/"), None);
        assert_eq!(t.find("b.gov.vn", "/app"), None);
    }

    #[test]
    fn dot_segments_literal_or_encoded() {
        for path in [
            "/a/../b",
            "/a/..",
            "/./a",
            "/a/%2e%2E/b",
            "/a/.%2e",
            "/a/%2e",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/",
            "/a/b",
            "/a/b..c",
            "/.well-known/x",
            "/a/...",
            "/a/%2e%2e%2e",
            "/a%2fb",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(
            &*normalise_host("MotCua.NamDinh.gov.vn:8443"),
            "motcua.namdinh.gov.vn"
        );
        assert_eq!(&*normalise_host("[::1]:8443"), "[::1]");
        assert_eq!(&*normalise_host("example.gov.vn."), "example.gov.vn");
    }
}
