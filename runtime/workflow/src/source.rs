//! The position-tracking document tree that workflow files are read into.
//!
//! Both JSON and YAML become one [`Node`] tree in which every value and every
//! object key remembers its line and column, so later stages can point at the
//! exact spot of a mistake. Reading enforces the input limits
//! ([`MAX_SOURCE_BYTES`], [`MAX_DEPTH`]) and refuses duplicate keys and YAML
//! aliases, so no input can make the reader panic or recurse without bound.
//! The JSON reader is hand-written because serde_json forgets positions.

use std::cell::Cell;
use std::collections::HashSet;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Largest workflow file accepted, in bytes. Real definitions are a few
/// kilobytes; the limit keeps a hostile or mistaken file from exhausting memory.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// Deepest nesting of objects and arrays accepted. The deepest legitimate
/// structure (a foreach inside a parallel branch inside ...) is far shallower;
/// the limit bounds the reader's recursion.
pub const MAX_DEPTH: usize = 64;

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// An object key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub position: Position,
}

/// One value of the document and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub position: Position,
}

/// The kinds of value a document holds; objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(Key, Node)>),
}

/// Why a document could not be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    pub position: Position,
}

impl Node {
    /// The JSON type name used in messages ("object", "string", ...).
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "boolean",
            NodeValue::Number(_) => "number",
            NodeValue::String(_) => "string",
            NodeValue::Array(_) => "array",
            NodeValue::Object(_) => "object",
        }
    }

    /// The member `name` of an object node.
    pub fn get(&self, name: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Object(members) => {
                members.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to a plain JSON value, dropping positions (for inject data,
    /// metadata and literal parameters, which the engine uses as data).
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeValue::Object(members) => {
                let mut map = Map::new();
                for (key, node) in members {
                    map.insert(key.name.clone(), node.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// Checks the raw bytes of a file: size limit and UTF-8.
pub fn decode(bytes: &[u8]) -> Result<&str, SourceError> {
    check_size(bytes.len())?;
    std::str::from_utf8(bytes).map_err(|error| {
        let before = &bytes[..error.valid_up_to()];
        SourceError {
            message: "the file is not valid UTF-8; save it as UTF-8 text".to_owned(),
            position: position_at(before),
        }
    })
}

fn check_size(len: usize) -> Result<(), SourceError> {
    if len > MAX_SOURCE_BYTES {
        return Err(SourceError {
            message: format!(
                "the file is {len} bytes, more than the limit of {MAX_SOURCE_BYTES} bytes for a workflow definition"
            ),
            position: Position { line: 1, column: 1 },
        });
    }
    Ok(())
}

fn position_at(before: &[u8]) -> Position {
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Position { line, column }
}

/// Reads a document, choosing JSON when it starts with `{` or `[` and YAML
/// otherwise (YAML is a superset of JSON, but the JSON reader gives better
/// messages and stricter checks for JSON files).
pub fn parse_document(text: &str) -> Result<Node, SourceError> {
    check_size(text.len())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match text.trim_start().chars().next() {
        Some('{') | Some('[') => parse_json(text),
        _ => parse_yaml(text),
    }
}

// ---------------------------------------------------------------- JSON

/// Reads strict JSON (RFC 8259) into a [`Node`] tree.
pub fn parse_json(text: &str) -> Result<Node, SourceError> {
    check_size(text.len())?;
    let mut reader = JsonReader {
        text,
        bytes: text.as_bytes(),
        offset: 0,
        line: 1,
        line_start: 0,
        column_mark: Cell::new((0, 1)),
    };
    reader.skip_whitespace();
    let node = reader.value(0)?;
    reader.skip_whitespace();
    if reader.offset < reader.bytes.len() {
        return Err(reader.error("unexpected text after the end of the JSON document"));
    }
    Ok(node)
}

struct JsonReader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    offset: usize,
    line: usize,
    line_start: usize,
    /// The last position computed, as (offset, column). Columns count
    /// characters, and counting them from the line start for every value made
    /// a minified, single-line document quadratic to read; counting on from
    /// the last mark keeps reading linear, since the offset only moves forward.
    column_mark: Cell<(usize, usize)>,
}

impl JsonReader<'_> {
    fn position(&self) -> Position {
        let (mark_offset, mark_column) = self.column_mark.get();
        let (from, column) = if (self.line_start..=self.offset).contains(&mark_offset) {
            (mark_offset, mark_column)
        } else {
            (self.line_start, 1)
        };
        let column = column
            + self
                .text
                .get(from..self.offset)
                .map_or(0, |s| s.chars().count());
        self.column_mark.set((self.offset, column));
        Position {
            line: self.line,
            column,
        }
    }

    fn error(&self, message: &str) -> SourceError {
        SourceError {
            message: message.to_owned(),
            position: self.position(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.offset += 1;
                    self.line += 1;
                    self.line_start = self.offset;
                }
                b' ' | b'\t' | b'\r' => self.offset += 1,
                _ => break,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SourceError> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!(
                "the document nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let position = self.position();
        let value =
            match self.peek() {
                None => return Err(self.error("unexpected end of the JSON document")),
                Some(b'{') => self.object(depth)?,
                Some(b'[') => self.array(depth)?,
                Some(b'"') => NodeValue::String(self.string()?),
                Some(b't') => self.literal("true", NodeValue::Bool(true))?,
                Some(b'f') => self.literal("false", NodeValue::Bool(false))?,
                Some(b'n') => self.literal("null", NodeValue::Null)?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return Err(self.error(
                    "expected a JSON value (object, array, string, number, true, false or null)",
                )),
            };
        Ok(Node { value, position })
    }

    fn literal(&mut self, word: &str, value: NodeValue) -> Result<NodeValue, SourceError> {
        if self.bytes[self.offset..].starts_with(word.as_bytes()) {
            self.offset += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a JSON value; strings must be in double quotes"))
        }
    }

    fn number(&mut self) -> Result<NodeValue, SourceError> {
        let start = self.offset;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.offset += 1;
        }
        let text = &self.text[start..self.offset];
        match serde_json::from_str::<Number>(text) {
            Ok(number) => Ok(NodeValue::Number(number)),
            Err(_) => {
                self.offset = start;
                Err(self.error(&format!("'{text}' is not a valid JSON number")))
            }
        }
    }

    fn string(&mut self) -> Result<String, SourceError> {
        self.offset += 1;
        let mut out = String::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unterminated string; add the closing '\"'"));
            };
            match b {
                b'"' => {
                    self.offset += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.offset += 1;
                    let Some(escape) = self.peek() else {
                        return Err(self.error("unterminated string; add the closing '\"'"));
                    };
                    self.offset += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.error("invalid escape sequence in string")),
                    }
                }
                0..=0x1f => {
                    return Err(
                        self.error("control character in string; escape it (for example \\n)")
                    );
                }
                _ => {
                    // Copy one whole UTF-8 character; the input is valid UTF-8.
                    let rest = &self.text[self.offset..];
                    let ch = rest.chars().next().unwrap_or('\u{fffd}');
                    out.push(ch);
                    self.offset += ch.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SourceError> {
        let digits = self
            .text
            .get(self.offset..self.offset + 4)
            .ok_or_else(|| self.error("incomplete \\u escape"))?;
        let code = u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.offset += 4;
        Ok(code)
    }

    fn unicode_escape(&mut self) -> Result<char, SourceError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            if self.bytes[self.offset..].starts_with(b"\\u") {
                self.offset += 2;
                let second = self.hex4()?;
                if (0xDC00..0xE000).contains(&second) {
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"));
                }
            }
            return Err(self.error("unpaired surrogate in \\u escape"));
        }
        char::from_u32(first).ok_or_else(|| self.error("unpaired surrogate in \\u escape"))
    }

    fn array(&mut self, depth: usize) -> Result<NodeValue, SourceError> {
        self.offset += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.offset += 1;
            return Ok(NodeValue::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.offset += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        return Err(self.error("trailing comma before ']'; remove it"));
                    }
                }
                Some(b']') => {
                    self.offset += 1;
                    return Ok(NodeValue::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<NodeValue, SourceError> {
        self.offset += 1;
        let mut members: Vec<(Key, Node)> = Vec::new();
        // Looking each key up in `members` made an object with many keys
        // quadratic to read; the set keeps it linear.
        let mut names: HashSet<String> = HashSet::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.offset += 1;
            return Ok(NodeValue::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name in double quotes"));
            }
            let position = self.position();
            let name = self.string()?;
            if !names.insert(name.clone()) {
                return Err(SourceError {
                    message: format!(
                        "duplicate key '{name}'; each key may appear once in an object"
                    ),
                    position,
                });
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after the member name"));
            }
            self.offset += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            members.push((Key { name, position }, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.offset += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        return Err(self.error("trailing comma before '}'; remove it"));
                    }
                }
                Some(b'}') => {
                    self.offset += 1;
                    return Ok(NodeValue::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}' in object")),
            }
        }
    }
}

// ---------------------------------------------------------------- YAML

/// Reads a single-document YAML file into a [`Node`] tree.
pub fn parse_yaml(text: &str) -> Result<Node, SourceError> {
    check_size(text.len())?;
    let mut reader = YamlReader {
        parser: Parser::new_from_str(text),
    };
    loop {
        let (event, marker) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart => continue,
            Event::StreamEnd => {
                return Err(SourceError {
                    message: "the document is empty".to_owned(),
                    position: yaml_position(&marker),
                });
            }
            other => {
                let node = reader.node(other, marker, 0)?;
                loop {
                    let (event, marker) = reader.next()?;
                    match event {
                        Event::DocumentEnd => continue,
                        Event::StreamEnd => return Ok(node),
                        _ => {
                            return Err(SourceError {
                                message: "the file holds more than one YAML document; keep one workflow per file".to_owned(),
                                position: yaml_position(&marker),
                            });
                        }
                    }
                }
            }
        }
    }
}

struct YamlReader<'a> {
    parser: Parser<std::str::Chars<'a>>,
}

fn yaml_position(marker: &Marker) -> Position {
    Position {
        line: marker.line().max(1),
        column: marker.col() + 1,
    }
}

impl YamlReader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), SourceError> {
        self.parser.next_token().map_err(|error| SourceError {
            message: format!("invalid YAML: {}", error.info()),
            position: yaml_position(error.marker()),
        })
    }

    fn node(&mut self, event: Event, marker: Marker, depth: usize) -> Result<Node, SourceError> {
        let position = yaml_position(&marker);
        if depth > MAX_DEPTH {
            return Err(SourceError {
                message: format!("the document nests deeper than {MAX_DEPTH} levels"),
                position,
            });
        }
        let value = match event {
            Event::Scalar(text, style, _, _) => scalar(text, style),
            Event::Alias(_) => {
                return Err(SourceError {
                    message: "YAML aliases are not supported in workflow definitions; write the value out".to_owned(),
                    position,
                });
            }
            Event::SequenceStart(_, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, marker) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break;
                    }
                    items.push(self.node(event, marker, depth + 1)?);
                }
                NodeValue::Array(items)
            }
            Event::MappingStart(_, _) => {
                let mut members: Vec<(Key, Node)> = Vec::new();
                // A set, not a scan of `members`, so many keys stay linear.
                let mut names: HashSet<String> = HashSet::new();
                loop {
                    let (event, marker) = self.next()?;
                    if let Event::MappingEnd = event {
                        break;
                    }
                    let key_position = yaml_position(&marker);
                    let name = match event {
                        Event::Scalar(text, _, _, _) => text,
                        _ => {
                            return Err(SourceError {
                                message: "mapping keys must be plain strings".to_owned(),
                                position: key_position,
                            });
                        }
                    };
                    if !names.insert(name.clone()) {
                        return Err(SourceError {
                            message: format!(
                                "duplicate key '{name}'; each key may appear once in a mapping"
                            ),
                            position: key_position,
                        });
                    }
                    let (event, marker) = self.next()?;
                    let value = self.node(event, marker, depth + 1)?;
                    members.push((
                        Key {
                            name,
                            position: key_position,
                        },
                        value,
                    ));
                }
                NodeValue::Object(members)
            }
            _ => {
                return Err(SourceError {
                    message: "unexpected YAML structure".to_owned(),
                    position,
                });
            }
        };
        Ok(Node { value, position })
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema; quoted scalars are strings.
fn scalar(text: String, style: TScalarStyle) -> NodeValue {
    if style != TScalarStyle::Plain {
        return NodeValue::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.');
    if looks_numeric {
        let trimmed = text.strip_prefix('+').unwrap_or(&text);
        if let Ok(i) = trimmed.parse::<i64>() {
            return NodeValue::Number(i.into());
        }
        if trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+'))
            && let Ok(f) = trimmed.parse::<f64>()
            && let Some(n) = Number::from_f64(f)
        {
            return NodeValue::Number(n);
        }
    }
    NodeValue::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_positions_are_one_based() {
        let node = parse_json("{\n  \"a\": [1, \"x\"]\n}").unwrap();
        let NodeValue::Object(members) = &node.value else {
            panic!()
        };
        assert_eq!(members[0].0.position, Position { line: 2, column: 3 });
        assert_eq!(members[0].1.position, Position { line: 2, column: 8 });
    }

    #[test]
    fn yaml_positions_are_one_based() {
        let node = parse_yaml("id: x\nstates:\n  - name: A\n").unwrap();
        let states = node.get("states").unwrap();
        let NodeValue::Array(items) = &states.value else {
            panic!()
        };
        let NodeValue::Object(members) = &items[0].value else {
            panic!()
        };
        assert_eq!(members[0].0.position, Position { line: 3, column: 5 });
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let error = parse_json("{\"a\": 1, \"a\": 2}").unwrap_err();
        assert_eq!(
            error.message,
            "duplicate key 'a'; each key may appear once in an object"
        );
        let error = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert_eq!(error.position, Position { line: 2, column: 1 });
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = "[".repeat(100_000);
        assert!(
            parse_json(&deep)
                .unwrap_err()
                .message
                .contains("nests deeper")
        );
        let deep_yaml = "[".repeat(10_000);
        assert!(parse_yaml(&deep_yaml).is_err());
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
        assert!(
            parse_document(&big)
                .unwrap_err()
                .message
                .contains("more than the limit")
        );
    }

    #[test]
    fn invalid_utf8_is_reported_with_position() {
        let error = decode(b"{\n  \"a\": \"\xff\"}").unwrap_err();
        assert_eq!(error.position, Position { line: 2, column: 9 });
    }

    #[test]
    fn yaml_scalars_resolve_like_json() {
        let node = parse_yaml("a: 1\nb: '1'\nc: true\nd: 1.5\ne: PT5S\nf: null\n").unwrap();
        assert_eq!(
            node.to_value(),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": "PT5S", "f": null})
        );
    }

    #[test]
    fn json_escapes_and_unicode() {
        let node = parse_json(r#"{"a": "\u00e9\ud83d\ude00\n", "b": "Здравствуйте"}"#).unwrap();
        assert_eq!(
            node.to_value(),
            serde_json::json!({"a": "é😀\n", "b": "Здравствуйте"})
        );
    }

    /// The reader must stay linear on large documents within
    /// [`MAX_SOURCE_BYTES`]; a quadratic one takes minutes on them, so a
    /// bound of seconds tells the two apart on any machine.
    fn assert_reads_quickly(what: &str, read: impl FnOnce()) {
        let started = std::time::Instant::now();
        read();
        let elapsed = started.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(10),
            "{what} took {elapsed:?}"
        );
    }

    /// A minified (single-line) document of 800 KB took 21 s to read, and
    /// one of 60,000 keys over 100 s: every position counted the characters
    /// from the start of the line again.
    #[test]
    fn regression_single_line_json_took_quadratic_time() {
        let text = format!("[{}\"ä\", \"ö\", 3]", "1,".repeat(400_000));
        assert_reads_quickly("a single-line array", || {
            let node = parse_json(&text).unwrap();
            let NodeValue::Array(items) = &node.value else {
                panic!()
            };
            // Columns count characters, not bytes, across the marks too.
            let last = items.last().unwrap();
            assert_eq!(last.position.column, 800_000 + 12);
        });
        let error = parse_json(&format!("[{}{{\"é\": tru}}]", "1, ".repeat(1000))).unwrap_err();
        assert_eq!(
            error.position,
            Position {
                line: 1,
                column: 3008
            }
        );
    }

    /// An object of 60,000 keys took minutes to read in JSON and in YAML:
    /// each key was checked for duplicates against every key before it.
    #[test]
    fn regression_objects_with_many_keys_took_quadratic_time() {
        let keys = 60_000;
        let mut json = String::from("{");
        let mut yaml = String::new();
        for i in 0..keys {
            json.push_str(&format!("\n\"k{i}\": {i},"));
            yaml.push_str(&format!("k{i}: {i}\n"));
        }
        json.push_str("\n\"k7\": 0}");
        yaml.push_str("k7: 0\n");
        let duplicate = Position {
            line: keys + 2,
            column: 1,
        };
        assert_reads_quickly("a JSON object with many keys", || {
            assert_eq!(parse_json(&json).unwrap_err().position, duplicate);
        });
        assert_reads_quickly("a YAML mapping with many keys", || {
            let error = parse_yaml(&yaml).unwrap_err();
            assert_eq!(error.position.line, keys + 1);
            assert!(error.message.starts_with("duplicate key 'k7'"));
        });
    }
}
