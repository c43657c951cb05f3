//! Key paths (`apps[1].upstreams[0]`) and turning them into `line:column` positions in
//! the configuration text, so every problem points where the operator has to look.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, ImDocument, InlineTable, Item, Table, Value};

use super::ConfigProblem;

/// Key path used when a problem concerns the file as a whole (unreadable, bad syntax).
pub(crate) const SYNTAX_KEY: &str = "(syntax)";
pub(crate) const FILE_KEY: &str = "(file)";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Where a value lives in the configuration, e.g. `apps[1].upstreams[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// The path `name` at the top level.
    pub(crate) fn of(name: &str) -> Self {
        Self::root().key(name)
    }

    pub(crate) fn key(&self, name: &str) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(name.to_string()));
        path
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// Replaces the index right after the first key (used when one `[[apps]]` entry was
    /// deserialized on its own, as if it were `apps[0]`).
    pub(crate) fn with_first_index(mut self, index: usize) -> Self {
        if let Some(Segment::Index(i)) = self.0.get_mut(1) {
            *i = index;
        }
        self
    }

    pub(crate) fn ends_with_key(&self, name: &str) -> bool {
        matches!(self.0.last(), Some(Segment::Key(last)) if last == name)
    }

    /// Converts the path serde_path_to_error recorded during deserialization.
    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> Self {
        let mut key_path = Self::root();
        for segment in path.iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    key_path.0.push(Segment::Index(*index))
                }
                serde_path_to_error::Segment::Map { key } => {
                    key_path.0.push(Segment::Key(key.clone()))
                }
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        key_path
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (n, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if n == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The span of the deepest part of `path` present in `doc`: the value itself when it is
/// written in the file, else the nearest enclosing table or key that is.
pub(crate) fn span_of(doc: &ImDocument<String>, path: &KeyPath) -> Option<Range<usize>> {
    let mut node = Node::of_item(doc.as_item());
    let mut best = None;
    for segment in &path.0 {
        let Some((span, child)) = node.child(segment) else {
            break;
        };
        if span.is_some() {
            best = span;
        }
        node = child;
    }
    best
}

/// A position in the parsed document while walking a key path.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Inline(&'a InlineTable),
    Array(&'a Array),
    Tables(&'a ArrayOfTables),
    Leaf,
}

impl<'a> Node<'a> {
    fn of_item(item: &'a Item) -> Self {
        match item {
            Item::Table(table) => Node::Table(table),
            Item::ArrayOfTables(tables) => Node::Tables(tables),
            Item::Value(value) => Node::of_value(value),
            Item::None => Node::Leaf,
        }
    }

    fn of_value(value: &'a Value) -> Self {
        match value {
            Value::InlineTable(table) => Node::Inline(table),
            Value::Array(array) => Node::Array(array),
            _ => Node::Leaf,
        }
    }

    /// The child at `segment` and the best span for it (its value, else its key).
    fn child(self, segment: &Segment) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match (self, segment) {
            (Node::Table(table), Segment::Key(name)) => {
                let (key, item) = table.get_key_value(name)?;
                Some((item.span().or_else(|| key.span()), Node::of_item(item)))
            }
            (Node::Inline(table), Segment::Key(name)) => {
                let (key, item) = table.get_key_value(name)?;
                Some((item.span().or_else(|| key.span()), Node::of_item(item)))
            }
            (Node::Array(array), Segment::Index(index)) => {
                let value = array.get(*index)?;
                Some((value.span(), Node::of_value(value)))
            }
            (Node::Tables(tables), Segment::Index(index)) => {
                let table = tables.get(*index)?;
                Some((table.span(), Node::Table(table)))
            }
            _ => None,
        }
    }
}

/// Collects problems for one configuration file, locating each in the file's text.
pub(crate) struct Reporter<'a> {
    file: PathBuf,
    text: &'a str,
    doc: Option<&'a ImDocument<String>>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &Path, text: &'a str, doc: Option<&'a ImDocument<String>>) -> Self {
        Self {
            file: file.to_path_buf(),
            text,
            doc,
            problems: Vec::new(),
        }
    }

    /// A problem with the value at `path`, located through the parsed document.
    pub(crate) fn at(&mut self, path: &KeyPath, message: impl Into<String>) {
        let span = self.doc.and_then(|doc| span_of(doc, path));
        self.at_span(span, path.to_string(), message);
    }

    /// A problem at a known byte span (from the TOML parser or deserializer).
    pub(crate) fn at_span(
        &mut self,
        span: Option<Range<usize>>,
        key: String,
        message: impl Into<String>,
    ) {
        let (line, column) = span.map_or((1, 1), |span| line_column(self.text, span.start));
        let problem = ConfigProblem {
            file: self.file.clone(),
            line,
            column,
            key,
            message: message.into(),
        };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub(crate) fn into_problems(self) -> Vec<ConfigProblem> {
        self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_display_like_toml_accessors() {
        let path = KeyPath::of("apps").index(1).key("upstreams").index(0);
        assert_eq!(path.to_string(), "apps[1].upstreams[0]");
        assert_eq!(
            KeyPath::of("server").key("max_header_bytes").to_string(),
            "server.max_header_bytes"
        );
        assert_eq!(KeyPath::root().to_string(), "(root)");
        assert_eq!(
            KeyPath::of("apps")
                .index(0)
                .key("id")
                .with_first_index(4)
                .to_string(),
            "apps[4].id"
        );
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nname = \"Một cửa\" x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let x = text.find(" x").unwrap() + 1;
        assert_eq!(line_column(text, x), (2, 18));
        assert_eq!(line_column(text, 10_000), (3, 1));
    }

    #[test]
    fn spans_found_for_nested_values_and_fall_back_to_parents() {
        let text = "[server]\nworkers = 4\n\n[[apps]]\nid = \"a\"\n[[apps]]\nid = \"b\"\nupstreams = [\"http://x\", \"ftp://y\"]\n";
        let doc = ImDocument::parse(text.to_string()).unwrap();
        let at = |path: &KeyPath| span_of(&doc, path).map(|s| line_column(text, s.start));
        assert_eq!(at(&KeyPath::of("server").key("workers")), Some((2, 11)));
        assert_eq!(
            at(&KeyPath::of("apps").index(1).key("upstreams").index(1)),
            Some((8, 26))
        );
        assert_eq!(at(&KeyPath::of("apps").index(1).key("hosts")), Some((6, 1)));
        assert_eq!(at(&KeyPath::of("server").key("h2c")), Some((1, 1)));
        assert_eq!(at(&KeyPath::of("tls")), None);
    }
}
