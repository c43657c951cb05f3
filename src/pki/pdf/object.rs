//! The PDF object model (ISO 32000-1 §7.3), as far as signature verification needs it.
//!
//! Strings keep their byte span in the file when they were parsed from the file itself:
//! the `/Contents` of a signature dictionary must sit exactly in the hole the
//! `/ByteRange` leaves, and only its offsets can prove that.

use std::ops::Range;

/// `num gen R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    pub num: u32,
    pub gen: u16,
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} R", self.num, self.gen)
    }
}

#[derive(Debug, Clone)]
pub struct PdfString {
    pub bytes: Vec<u8>,
    pub hex: bool,
    /// Where the string (delimiters included) lies in the file; `None` inside an
    /// object stream.
    pub span: Option<Range<usize>>,
}

#[derive(Debug, Clone)]
pub struct Stream {
    pub dict: Dict,
    /// The raw (still encoded) data, as the stream holds it.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Dict(pub Vec<(Vec<u8>, Object)>);

impl Dict {
    /// The value of `/key`; the last one wins when a hostile file repeats a key.
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        self.get(key).and_then(Object::as_name)
    }

    pub fn integer(&self, key: &[u8]) -> Option<i64> {
        self.get(key).and_then(Object::as_integer)
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|(name, _)| name.as_slice())
    }
}

#[derive(Debug, Clone)]
pub enum Object {
    Null,
    Bool(bool),
    Integer(i64),
    Real(f64),
    String(PdfString),
    Name(Vec<u8>),
    Array(Vec<Object>),
    Dictionary(Dict),
    Stream(Stream),
    Reference(ObjRef),
}

impl Object {
    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Object::Name(name) => Some(name),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Object::Integer(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Object::Dictionary(dict) => Some(dict),
            Object::Stream(stream) => Some(&stream.dict),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Object]> {
        match self {
            Object::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_reference(&self) -> Option<ObjRef> {
        match self {
            Object::Reference(reference) => Some(*reference),
            _ => None,
        }
    }

    pub fn as_string(&self) -> Option<&PdfString> {
        match self {
            Object::String(string) => Some(string),
            _ => None,
        }
    }

    /// What kind of object this is, for a report sentence.
    pub fn describe(&self) -> String {
        match self {
            Object::Dictionary(dict) | Object::Stream(Stream { dict, .. }) => {
                let kind = if matches!(self, Object::Stream(_)) {
                    "stream"
                } else {
                    "dictionary"
                };
                match (dict.name(b"Type"), dict.name(b"Subtype")) {
                    (Some(t), Some(s)) => format!("a /{} /{} {kind}", lossy(t), lossy(s)),
                    (Some(t), None) => format!("a /{} {kind}", lossy(t)),
                    (None, Some(s)) => format!("a /{} {kind}", lossy(s)),
                    (None, None) => format!("a {kind}"),
                }
            }
            Object::Array(_) => "an array".into(),
            Object::Null => "null".into(),
            _ => "a simple value".into(),
        }
    }
}

/// Same value, ignoring where strings were found (an object rewritten unchanged in a
/// later revision is no modification).
pub fn same_value(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::Null, Object::Null) => true,
        (Object::Bool(x), Object::Bool(y)) => x == y,
        (Object::Integer(x), Object::Integer(y)) => x == y,
        (Object::Real(x), Object::Real(y)) => x == y,
        (Object::Integer(x), Object::Real(y)) | (Object::Real(y), Object::Integer(x)) => {
            (*x as f64) == *y
        }
        (Object::String(x), Object::String(y)) => x.bytes == y.bytes,
        (Object::Name(x), Object::Name(y)) => x == y,
        (Object::Array(x), Object::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Object::Dictionary(x), Object::Dictionary(y)) => same_dict(x, y),
        (Object::Stream(x), Object::Stream(y)) => {
            x.data == y.data && same_dict_except(&x.dict, &y.dict, &[b"Length"])
        }
        (Object::Reference(x), Object::Reference(y)) => x == y,
        _ => false,
    }
}

pub fn same_dict(a: &Dict, b: &Dict) -> bool {
    same_dict_except(a, b, &[])
}

/// The keys whose values differ between `a` and `b` (a key missing on one side counts).
pub fn differing_keys(a: &Dict, b: &Dict) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = a.keys().chain(b.keys()).map(<[u8]>::to_vec).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|key| match (a.get(key), b.get(key)) {
        (Some(x), Some(y)) => !same_value(x, y),
        (None, None) => false,
        _ => true,
    });
    keys
}

fn same_dict_except(a: &Dict, b: &Dict, ignored: &[&[u8]]) -> bool {
    differing_keys(a, b)
        .iter()
        .all(|key| ignored.contains(&key.as_slice()))
}

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
