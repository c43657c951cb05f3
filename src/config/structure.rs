//! First phase of loading: TOML syntax and the shape of the data (known keys, types,
//! units), each problem located at the offending key or value.

use std::ops::Range;

use toml_edit::{DocumentMut, ImDocument, Item, Table, Value};

use super::locate::{KeyPath, Reporter, SYNTAX_KEY};
use super::Config;

/// Parses the text as a TOML document that keeps every key's and value's span.
pub(crate) fn parse_document(
    text: &str,
    reporter: &mut Reporter<'_>,
) -> Option<ImDocument<String>> {
    match ImDocument::parse(text.to_string()) {
        Ok(doc) => Some(doc),
        Err(error) => {
            let message = error.message().trim().replace('\n', "; ");
            reporter.at_span(
                error.span(),
                SYNTAX_KEY.to_string(),
                format!("invalid TOML: {message}"),
            );
            None
        }
    }
}

/// Deserializes the whole configuration. When that fails, every top-level section and
/// every entry of a top-level array (each `[[apps]]`) is deserialized on its own, so
/// one mistake per section and per app is reported instead of only the first.
pub(crate) fn deserialize(
    text: &str,
    doc: &ImDocument<String>,
    reporter: &mut Reporter<'_>,
) -> Option<Config> {
    let whole = serde_path_to_error::deserialize::<_, Config>(toml::Deserializer::new(text));
    let first_error = match whole {
        Ok(config) => return Some(config),
        Err(error) => error,
    };
    for part in parts_of(doc.as_table()) {
        let result = serde_path_to_error::deserialize::<_, Config>(
            toml_edit::de::Deserializer::from(part.document),
        );
        if let Err(error) = result {
            let path = KeyPath::from_serde(error.path());
            let path = match part.array_index {
                Some(index) => path.with_first_index(index),
                None => path,
            };
            report(
                reporter,
                path,
                error.inner().span(),
                error.inner().message(),
                text,
            );
        }
    }
    if reporter.is_empty() {
        // The part-wise pass should find at least what the whole pass found; if not,
        // report the whole pass's error rather than nothing.
        let path = KeyPath::from_serde(first_error.path());
        report(
            reporter,
            path,
            first_error.inner().span(),
            first_error.inner().message(),
            text,
        );
    }
    None
}

/// One independently deserializable piece of the document.
struct Part {
    document: DocumentMut,
    /// For one entry of a top-level array: its index in the original array.
    array_index: Option<usize>,
}

fn parts_of(root: &Table) -> Vec<Part> {
    let mut parts = Vec::new();
    for (name, item) in root.iter() {
        let entries = match item {
            Item::ArrayOfTables(tables) => tables.len(),
            Item::Value(Value::Array(array)) => array.len(),
            _ => 0,
        };
        if entries == 0 {
            parts.push(Part {
                document: only_key(root, name, None),
                array_index: None,
            });
        }
        for index in 0..entries {
            parts.push(Part {
                document: only_key(root, name, Some(index)),
                array_index: Some(index),
            });
        }
    }
    parts
}

/// A copy of `root` holding only `name` (and, for an array, only its entry `index`).
/// Copies keep their spans, so errors still point into the original text.
fn only_key(root: &Table, name: &str, index: Option<usize>) -> DocumentMut {
    let mut table = root.clone();
    table.retain(|key, _| key == name);
    if let (Some(keep), Some(item)) = (index, table.get_mut(name)) {
        match item {
            Item::ArrayOfTables(tables) => {
                let mut n = 0;
                tables.retain(|_| {
                    n += 1;
                    n - 1 == keep
                });
            }
            Item::Value(Value::Array(array)) => {
                let mut n = 0;
                array.retain(|_| {
                    n += 1;
                    n - 1 == keep
                });
            }
            _ => {}
        }
    }
    DocumentMut::from(table)
}

/// Records one deserialization error, rewording serde's field vocabulary into the
/// configuration's: unknown and missing *keys*, with the key named in the path.
fn report(
    reporter: &mut Reporter<'_>,
    path: KeyPath,
    span: Option<Range<usize>>,
    message: &str,
    text: &str,
) {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let name = span
            .clone()
            .and_then(|span| text.get(span))
            .map(|written| written.trim().trim_matches('"').to_string())
            .filter(|written| written == name)
            .unwrap_or_else(|| name.to_string());
        let allowed = expected
            .trim_start_matches(", ")
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ")
            .trim();
        let message = if allowed.is_empty() || allowed == "there are no fields" {
            format!("unknown key `{name}`; no keys are allowed here")
        } else {
            format!("unknown key `{name}`; allowed keys: {allowed}")
        };
        // serde_path_to_error already records an unknown key as the last path segment.
        let path = if path.ends_with_key(&name) {
            path
        } else {
            path.key(&name)
        };
        reporter.at_span(span, path.to_string(), message);
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        reporter.at_span(
            span,
            path.key(name).to_string(),
            format!("missing required key `{name}`"),
        );
    } else {
        reporter.at_span(span, path.to_string(), message.trim().to_string());
    }
}
