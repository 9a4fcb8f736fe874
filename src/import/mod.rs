//! `rbk import`: rbk methods from OpenAPI documents, curl command lines and
//! Postman collections.
//!
//! Each importer reads its input into plain definitions ([`emit`]), which
//! are written as rbk text and then run through the project's own parser
//! and formatter ([`finish`]): what `rbk import` prints is already in the
//! form `rbk fmt` keeps, and the CLI checks it before printing.
//!
//! Documents (OpenAPI, Postman) are read into one order-preserving tree,
//! `serde_norway::Value` (a maintained fork of serde_yaml), from JSON by
//! serde_json and from YAML by serde_norway, so that parameters, fields and
//! operations keep the order of the document.

pub mod curl;
pub mod emit;
pub mod mask;
pub mod openapi;
pub mod postman;

use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::syntax::span::{FileId, SourceMap, Span};

/// A document tree: JSON or YAML, keys in document order, all keys strings.
pub type Node = serde_norway::Value;

/// Error codes of `rbk import` (documented in docs/diagnostics.md).
pub mod codes {
    /// The input is not valid JSON or YAML, or not the expected shape.
    pub const INVALID_DOCUMENT: &str = "rbk::import::invalid_document";
    /// A `$ref` points at nothing (or outside the local files).
    pub const UNRESOLVED_REF: &str = "rbk::import::unresolved_ref";
    /// The OpenAPI (or Postman schema) version is not one rbk reads.
    pub const UNSUPPORTED_VERSION: &str = "rbk::import::unsupported_version";
    /// A curl option rbk does not know or cannot express.
    pub const CURL_UNKNOWN_FLAG: &str = "rbk::import::curl_unknown_flag";
    /// A curl line that is not a curl command, has no URL, or bad quoting.
    pub const INVALID_CURL: &str = "rbk::import::invalid_curl";
    /// `--tag` / `--operation` selected no operation.
    pub const NOTHING_SELECTED: &str = "rbk::import::nothing_selected";
    /// The generated text did not parse: a bug in rbk.
    pub const INTERNAL: &str = "rbk::import::internal";
    /// Every import code.
    pub const ALL: &[&str] = &[
        INVALID_DOCUMENT,
        UNRESOLVED_REF,
        UNSUPPORTED_VERSION,
        CURL_UNKNOWN_FLAG,
        INVALID_CURL,
        NOTHING_SELECTED,
        INTERNAL,
    ];
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The rbk program, formatted.
    pub text: String,
    /// How many methods it defines.
    pub methods: usize,
}

/// Why an import failed: diagnostics over the inputs held in `sources`.
#[derive(Debug)]
pub struct Failure {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl Failure {
    pub fn one(d: Diagnostic, sources: SourceMap) -> Failure {
        Failure {
            diagnostics: vec![d],
            sources,
        }
    }
}

/// Renders the definitions and formats them with the project's formatter.
pub fn finish(program: &emit::Program) -> Result<Imported, Failure> {
    let text = program.render();
    match crate::syntax::format::format_source(&text) {
        Some(formatted) => Ok(Imported {
            text: formatted,
            methods: program.methods.len(),
        }),
        None => {
            let mut sources = SourceMap::new();
            let id = sources.add("<generated>".into(), text.clone());
            let (_, diags) = crate::syntax::parse(id, &text);
            let mut out: Vec<Diagnostic> = vec![
                Diagnostic::error(codes::INTERNAL, "rbk generated text that does not parse")
                    .help("this is a bug in `rbk import`; please report it with the input"),
            ];
            out.extend(diags.into_iter().filter(Diagnostic::is_error));
            Err(Failure {
                diagnostics: out,
                sources,
            })
        }
    }
}

/// The span of the first occurrence of `needle` in a source file, at or
/// after byte `from`; the whole first line when it does not occur.
pub fn find_span(sources: &SourceMap, file: FileId, needle: &str, from: usize) -> Span {
    let text = &sources.get(file).text;
    let start = from.min(text.len());
    if !needle.is_empty()
        && let Some(i) = text.get(start..).and_then(|t| t.find(needle))
    {
        return Span::new(file, start + i, start + i + needle.len());
    }
    let end = text.find('\n').unwrap_or(text.len());
    Span::new(file, 0, end)
}

/// The byte offset of a 1-based line and column (columns count characters).
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col = column.saturating_sub(1);
            return offset
                + l.char_indices()
                    .nth(col)
                    .map(|(b, _)| b)
                    .unwrap_or(l.trim_end_matches('\n').len());
        }
        offset += l.len();
    }
    text.len()
}

/// Parses a JSON or YAML document (JSON when its first non-blank character
/// is `{` or `[`), with every mapping key made a string. A syntax error is
/// a diagnostic at its line and column.
pub fn parse_document(sources: &SourceMap, file: FileId) -> Result<Node, Box<Diagnostic>> {
    let src = sources.get(file);
    let text = src.text.as_str();
    let json = text.trim_start().starts_with(['{', '[']);
    let parsed: Result<Node, (String, Option<(usize, usize)>)> = if json {
        serde_json::from_str::<Lenient>(text)
            .map(|l| l.0)
            .map_err(|e| {
                let at = (e.line() > 0).then(|| (e.line(), e.column().max(1)));
                (e.to_string(), at)
            })
    } else {
        serde_norway::from_str::<Lenient>(text)
            .map(|l| l.0)
            .map_err(|e| {
                let at = e.location().map(|l| (l.line(), l.column()));
                (e.to_string(), at)
            })
    };
    match parsed {
        Ok(v) => Ok(stringify_keys(v)),
        Err((message, at)) => {
            let kind = if json { "JSON" } else { "YAML" };
            let mut d = Diagnostic::error(
                codes::INVALID_DOCUMENT,
                format!("{} is not valid {kind}", src.path.display()),
            )
            .help(format!(
                "fix the {kind} syntax there (the parser said: {})",
                crate::text::printable(&message)
            ));
            d = match at {
                Some((line, column)) => {
                    let o = offset_of(text, line, column);
                    let end = text[o..]
                        .char_indices()
                        .nth(1)
                        .map(|(b, _)| o + b)
                        .unwrap_or(o);
                    d.at(Span::new(file, o, end), format!("{kind} syntax error here"))
                }
                None => d.with_path(&src.path),
            };
            Err(Box::new(d))
        }
    }
}

/// A document tree read leniently: integers beyond 64 bits (which real
/// documents write as schema bounds) become floats instead of failing.
struct Lenient(Node);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor).map(Lenient)
    }
}

struct LenientVisitor;

impl<'de> serde::de::Visitor<'de> for LenientVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON or YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Number((v as f64).into()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Number((v as f64).into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(Lenient(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Node::Sequence(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = serde_norway::Mapping::new();
        while let Some((Lenient(k), Lenient(v))) = map.next_entry()? {
            out.insert(k, v);
        }
        Ok(Node::Mapping(out))
    }
}

/// Mapping keys as strings (YAML allows `200:` as an integer key), tags
/// dropped.
fn stringify_keys(v: Node) -> Node {
    match v {
        Node::Mapping(m) => {
            let mut out = serde_norway::Mapping::with_capacity(m.len());
            for (k, v) in m {
                let k = match k {
                    Node::String(s) => s,
                    Node::Number(n) => n.to_string(),
                    Node::Bool(b) => b.to_string(),
                    Node::Null => "null".to_string(),
                    other => serde_norway::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(Node::String(k), stringify_keys(v));
            }
            Node::Mapping(out)
        }
        Node::Sequence(s) => Node::Sequence(s.into_iter().map(stringify_keys).collect()),
        Node::Tagged(t) => stringify_keys(t.value),
        other => other,
    }
}

/// `v[key]` when `v` is a mapping.
pub fn get<'a>(v: &'a Node, key: &str) -> Option<&'a Node> {
    v.as_mapping().and_then(|m| m.get(key))
}

/// `v[key]` as text.
pub fn get_str<'a>(v: &'a Node, key: &str) -> Option<&'a str> {
    get(v, key).and_then(Node::as_str)
}

/// The entries of a mapping, keys as text.
pub fn entries(v: &Node) -> impl Iterator<Item = (&str, &Node)> {
    v.as_mapping()
        .into_iter()
        .flat_map(|m| m.iter())
        .filter_map(|(k, v)| Some((k.as_str()?, v)))
}

/// The items of a sequence.
pub fn items(v: &Node) -> &[Node] {
    v.as_sequence().map(|s| s.as_slice()).unwrap_or(&[])
}

/// A document value as an rbk literal (mappings keep their order).
pub fn literal(v: &Node) -> String {
    match v {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else {
                match n.as_f64().and_then(serde_json::Number::from_f64) {
                    Some(f) => emit::number_literal(&f),
                    None => "null".into(),
                }
            }
        }
        Node::String(s) => emit::string(s),
        Node::Sequence(items) => {
            let parts: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", parts.join(", "))
        }
        Node::Mapping(_) => {
            let parts: Vec<String> = entries(v)
                .map(|(k, v)| format!("{}: {}", emit::key(k), literal(v)))
                .collect();
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        Node::Tagged(t) => literal(&t.value),
    }
}

/// Reads a file named on the command line into a new source map.
pub fn read_input(path: &Path) -> Result<(SourceMap, FileId), Failure> {
    let mut sources = SourceMap::new();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => {
                let text = text
                    .strip_prefix('\u{feff}')
                    .map(str::to_string)
                    .unwrap_or(text);
                let id = sources.add(path.to_path_buf(), text);
                Ok((sources, id))
            }
            Err(_) => Err(Failure::one(
                Diagnostic::error(
                    codes::INVALID_DOCUMENT,
                    format!("{} is not UTF-8 text", path.display()),
                )
                .with_path(path)
                .help("give a JSON or YAML document"),
                sources,
            )),
        },
        Err(e) => Err(Failure::one(
            Diagnostic::error(
                crate::diagnostic::codes::IO,
                format!("cannot read {}: {e}", path.display()),
            )
            .with_path(path)
            .help("check that the file exists and is readable"),
            sources,
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_documented() {
        let diagnostics = include_str!("../../docs/diagnostics.md");
        let import = include_str!("../../docs/import.md");
        for code in super::codes::ALL {
            assert!(
                diagnostics.contains(&format!("`{code}`")),
                "{code} not in docs/diagnostics.md"
            );
            assert!(
                import.contains(&format!("`{code}`")),
                "{code} not in docs/import.md"
            );
        }
    }

    #[test]
    fn offsets_of_lines_and_columns() {
        let t = "ab\ncdé\nx";
        assert_eq!(super::offset_of(t, 1, 1), 0);
        assert_eq!(super::offset_of(t, 2, 3), 5);
        assert_eq!(super::offset_of(t, 3, 1), 8);
        assert_eq!(super::offset_of(t, 9, 1), t.len());
    }
}
