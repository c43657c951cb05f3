//! A tokenizer and object parser over raw PDF bytes (ISO 32000-1 §7.2–7.3).
//!
//! Hostile input is the normal case: every loop advances or stops, nesting is bounded
//! by [`MAX_DEPTH`], a string or array can be no longer than the input, and nothing
//! panics (all indexing goes through `get`).

use super::object::{Dict, ObjRef, Object, PdfString, Stream};
use super::PdfError;

/// Arrays and dictionaries nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;

pub fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(byte: u8) -> bool {
    !is_whitespace(byte) && !is_delimiter(byte)
}

pub struct Parser<'a> {
    bytes: &'a [u8],
    pub pos: usize,
    /// Record the file offsets of strings (false inside a decoded object stream).
    track_spans: bool,
}

impl<'a> Parser<'a> {
    pub fn new(bytes: &'a [u8], pos: usize, track_spans: bool) -> Parser<'a> {
        Parser {
            bytes,
            pos,
            track_spans,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, what: &str) -> PdfError {
        PdfError::Syntax {
            offset: self.pos,
            what: what.to_string(),
        }
    }

    pub fn skip_whitespace(&mut self) {
        while let Some(byte) = self.peek() {
            if is_whitespace(byte) {
                self.pos += 1;
            } else if byte == b'%' {
                while let Some(byte) = self.peek() {
                    if byte == b'\n' || byte == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next run of regular characters (a keyword or a number), without consuming it.
    fn peek_word(&self) -> &'a [u8] {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let len = rest.iter().take_while(|b| is_regular(**b)).count();
        &rest[..len]
    }

    /// Consumes `keyword` if it comes next (as a whole word).
    pub fn eat_keyword(&mut self, keyword: &[u8]) -> bool {
        self.skip_whitespace();
        if self.peek_word() == keyword {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    pub fn expect_keyword(&mut self, keyword: &str) -> Result<(), PdfError> {
        if self.eat_keyword(keyword.as_bytes()) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{keyword}`")))
        }
    }

    /// An unsigned integer token (object numbers, offsets).
    pub fn unsigned(&mut self) -> Result<u64, PdfError> {
        self.skip_whitespace();
        let word = self.peek_word();
        if word.is_empty() || word.len() > 19 || !word.iter().all(u8::is_ascii_digit) {
            return Err(self.error("expected an unsigned integer"));
        }
        let value = word
            .iter()
            .fold(0u64, |acc, digit| acc * 10 + u64::from(digit - b'0'));
        self.pos += word.len();
        Ok(value)
    }

    /// `num gen obj`: the header of an indirect object.
    pub fn object_header(&mut self) -> Result<ObjRef, PdfError> {
        let num = self.unsigned()?;
        let gen = self.unsigned()?;
        self.expect_keyword("obj")?;
        match (u32::try_from(num), u16::try_from(gen)) {
            (Ok(num), Ok(gen)) => Ok(ObjRef { num, gen }),
            _ => Err(self.error("object number out of range")),
        }
    }

    pub fn object(&mut self) -> Result<Object, PdfError> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> Result<Object, PdfError> {
        if depth > MAX_DEPTH {
            return Err(self.error("objects nested too deeply"));
        }
        self.skip_whitespace();
        let start = self.pos;
        match self.peek() {
            None => Err(self.error("unexpected end of data")),
            Some(b'/') => Ok(Object::Name(self.name()?)),
            Some(b'(') => self.literal_string(start),
            Some(b'<') if self.bytes.get(self.pos + 1) == Some(&b'<') => {
                Ok(Object::Dictionary(self.dict(depth)?))
            }
            Some(b'<') => self.hex_string(start),
            Some(b'[') => self.array(depth),
            Some(_) => self.keyword_or_number(),
        }
    }

    pub fn name(&mut self) -> Result<Vec<u8>, PdfError> {
        self.skip_whitespace();
        if self.peek() != Some(b'/') {
            return Err(self.error("expected a name"));
        }
        self.pos += 1;
        let mut name = Vec::new();
        while let Some(byte) = self.peek() {
            if !is_regular(byte) {
                break;
            }
            self.pos += 1;
            if byte == b'#' {
                let hex = self.bytes.get(self.pos..self.pos + 2).and_then(hex_pair);
                if let Some(decoded) = hex {
                    name.push(decoded);
                    self.pos += 2;
                    continue;
                }
            }
            name.push(byte);
        }
        Ok(name)
    }

    fn span(&self, start: usize) -> Option<std::ops::Range<usize>> {
        self.track_spans.then_some(start..self.pos)
    }

    fn literal_string(&mut self, start: usize) -> Result<Object, PdfError> {
        self.pos += 1;
        let mut bytes = Vec::new();
        let mut nesting = 1usize;
        loop {
            let byte = self
                .peek()
                .ok_or_else(|| self.error("unterminated string"))?;
            self.pos += 1;
            match byte {
                b'(' => nesting += 1,
                b')' => {
                    nesting -= 1;
                    if nesting == 0 {
                        break;
                    }
                }
                b'\\' => {
                    self.escape(&mut bytes);
                    continue;
                }
                _ => {}
            }
            bytes.push(byte);
        }
        Ok(Object::String(PdfString {
            bytes,
            hex: false,
            span: self.span(start),
        }))
    }

    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(byte) = self.peek() else { return };
        self.pos += 1;
        match byte {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'\r' => {
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            b'\n' => {}
            b'0'..=b'7' => {
                let mut value = u32::from(byte - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(digit @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(digit - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            other => out.push(other),
        }
    }

    fn hex_string(&mut self, start: usize) -> Result<Object, PdfError> {
        self.pos += 1;
        let mut digits = Vec::new();
        loop {
            let byte = self
                .peek()
                .ok_or_else(|| self.error("unterminated hex string"))?;
            self.pos += 1;
            match byte {
                b'>' => break,
                byte if is_whitespace(byte) => {}
                byte if byte.is_ascii_hexdigit() => digits.push(byte),
                _ => return Err(self.error("invalid character in a hex string")),
            }
        }
        if !digits.len().is_multiple_of(2) {
            digits.push(b'0');
        }
        let bytes = digits.chunks(2).filter_map(hex_pair).collect();
        Ok(Object::String(PdfString {
            bytes,
            hex: true,
            span: self.span(start),
        }))
    }

    fn array(&mut self, depth: usize) -> Result<Object, PdfError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => return Err(self.error("unterminated array")),
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Object::Array(items));
                }
                Some(_) => items.push(self.object_at_depth(depth + 1)?),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Dict, PdfError> {
        self.pos += 2;
        let mut entries = Vec::new();
        loop {
            self.skip_whitespace();
            match (self.peek(), self.bytes.get(self.pos + 1)) {
                (None, _) => return Err(self.error("unterminated dictionary")),
                (Some(b'>'), Some(b'>')) => {
                    self.pos += 2;
                    return Ok(Dict(entries));
                }
                _ => {
                    let key = self.name()?;
                    let value = self.object_at_depth(depth + 1)?;
                    entries.push((key, value));
                }
            }
        }
    }

    fn keyword_or_number(&mut self) -> Result<Object, PdfError> {
        let word = self.peek_word();
        match word {
            b"true" | b"false" | b"null" => {
                self.pos += word.len();
                return Ok(match word {
                    b"true" => Object::Bool(true),
                    b"false" => Object::Bool(false),
                    _ => Object::Null,
                });
            }
            _ => {}
        }
        let number = parse_number(word).ok_or_else(|| self.error("unexpected token"))?;
        self.pos += word.len();
        if let Object::Integer(num) = number {
            if let Some(reference) = self.reference_tail(num) {
                return Ok(Object::Reference(reference));
            }
        }
        Ok(number)
    }

    /// After an integer: `gen R` makes it a reference; otherwise nothing is consumed.
    fn reference_tail(&mut self, num: i64) -> Option<ObjRef> {
        let saved = self.pos;
        let result = (|| {
            let num = u32::try_from(num).ok()?;
            let gen = u16::try_from(self.unsigned().ok()?).ok()?;
            self.eat_keyword(b"R").then_some(ObjRef { num, gen })
        })();
        if result.is_none() {
            self.pos = saved;
        }
        result
    }

    /// After an indirect object's value: `stream ... endstream` when the value is a
    /// dictionary followed by `stream`. `length` resolves an indirect `/Length`.
    pub fn stream_after(
        &mut self,
        value: Object,
        length: &dyn Fn(&Object) -> Option<usize>,
    ) -> Result<Object, PdfError> {
        let Object::Dictionary(dict) = value else {
            return Ok(value);
        };
        if !self.eat_keyword(b"stream") {
            return Ok(Object::Dictionary(dict));
        }
        match (self.peek(), self.bytes.get(self.pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => self.pos += 2,
            (Some(b'\n'), _) | (Some(b'\r'), _) => self.pos += 1,
            _ => {}
        }
        let start = self.pos;
        let declared = dict.get(b"Length").and_then(length);
        let end = declared
            .and_then(|len| start.checked_add(len))
            .filter(|end| self.ends_stream_at(*end))
            .or_else(|| self.find_endstream(start))
            .ok_or_else(|| self.error("stream without endstream"))?;
        let data = self.bytes.get(start..end).unwrap_or_default().to_vec();
        self.pos = end;
        self.expect_keyword("endstream")?;
        Ok(Object::Stream(Stream { dict, data }))
    }

    fn ends_stream_at(&self, end: usize) -> bool {
        let mut probe = Parser::new(self.bytes, end, false);
        end <= self.bytes.len() && probe.eat_keyword(b"endstream")
    }

    /// Where the data ends when `/Length` is wrong: before the EOL preceding `endstream`.
    fn find_endstream(&self, start: usize) -> Option<usize> {
        let rest = self.bytes.get(start..)?;
        let found = find(rest, b"endstream")?;
        let mut end = start + found;
        if end > start && self.bytes.get(end - 1) == Some(&b'\n') {
            end -= 1;
        }
        if end > start && self.bytes.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        Some(end)
    }
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

fn parse_number(word: &[u8]) -> Option<Object> {
    let text = std::str::from_utf8(word).ok()?;
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    if let Ok(value) = text.parse::<i64>() {
        return Some(Object::Integer(value));
    }
    let valid = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    if !valid {
        return None;
    }
    let normalised = if text.starts_with('.') || text.starts_with("-.") || text.starts_with("+.") {
        text.replacen('.', "0.", 1)
    } else {
        text.to_string()
    };
    normalised.parse::<f64>().ok().map(Object::Real)
}

/// The first occurrence of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Object {
        Parser::new(text.as_bytes(), 0, true).object().unwrap()
    }

    #[test]
    fn references_numbers_and_names_are_told_apart() {
        let object = parse("[1 0 R 2 -3.5 /A#20B (x\\)y) <414> true null]");
        let items = object.as_array().unwrap();
        assert_eq!(items[0].as_reference(), Some(ObjRef { num: 1, gen: 0 }));
        assert_eq!(items[1].as_integer(), Some(2));
        assert!(matches!(items[2], Object::Real(v) if v == -3.5));
        assert_eq!(items[3].as_name(), Some(&b"A B"[..]));
        assert_eq!(items[4].as_string().unwrap().bytes, b"x)y");
        assert_eq!(items[5].as_string().unwrap().bytes, b"A@");
    }

    #[test]
    fn strings_remember_their_span() {
        let object = parse("<< /Contents <00ff> >>");
        let string = object.as_dict().unwrap().get(b"Contents").unwrap();
        assert_eq!(string.as_string().unwrap().span, Some(13..19));
    }

    #[test]
    fn hostile_nesting_and_truncation_are_errors() {
        let deep = "[".repeat(10_000);
        assert!(Parser::new(deep.as_bytes(), 0, true).object().is_err());
        for text in ["<< /A", "(abc", "<12", "[1 2", "/"] {
            let _ = Parser::new(text.as_bytes(), 0, true).object();
        }
    }
}
