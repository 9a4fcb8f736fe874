//! The one place imported definitions become rbk source text. The three
//! importers fill in the plain structs below; [`Program::render`] writes
//! them out and `super::finish` runs the text through the project's own
//! parser and formatter, so that `rbk fmt` leaves the result unchanged.

use std::collections::HashSet;
use std::fmt::Write;

/// Words that cannot name a parameter, instance or integration.
use crate::syntax::RESERVED;

/// Names a parameter should not take: inside outputs they mean the
/// response (docs/language.md §3), and `instance` is the built-in record.
const AVOID_PARAM: &[&str] = &["status", "body", "json", "header", "instance"];

/// Names every step result already has (`rbk::reserved_output`).
const RESERVED_OUTPUT: &[&str] = &["ok", "status", "headers", "body", "error", "elapsed"];

/// A whole generated file.
#[derive(Debug, Default)]
pub struct Program {
    /// `#` lines at the top of the file (where it came from).
    pub header: Vec<String>,
    pub instances: Vec<Instance>,
    pub integrations: Vec<Integration>,
    /// Methods, in order; a `section` starts a commented group.
    pub methods: Vec<Method>,
}

#[derive(Debug)]
pub struct Instance {
    pub name: String,
    pub doc: Vec<String>,
    pub url: String,
}

#[derive(Debug, Default)]
pub struct Integration {
    pub name: String,
    pub doc: Vec<String>,
    /// `#` warning lines written inside the block.
    pub warnings: Vec<String>,
    /// rbk string-literal *content* (may hold `{instance.url}`).
    pub base_url: String,
    pub version: Option<String>,
    pub headers: Vec<(String, Expr)>,
    pub auth: Option<Auth>,
    pub insecure: bool,
    pub timeout: Option<String>,
}

/// An expression, already written as rbk text.
pub type Expr = String;

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    ApiKey {
        name: String,
        value: Expr,
        in_query: bool,
    },
    Bearer {
        token: Expr,
        /// `None` for the default `Authorization`.
        header: Option<String>,
        /// `None` for the default `Bearer`.
        prefix: Option<String>,
    },
    Basic {
        username: Expr,
        password: Expr,
    },
    OAuth2 {
        /// `(key, value)` lines in order, already rbk text.
        fields: Vec<(String, Expr)>,
    },
}

#[derive(Debug, Default)]
pub struct Method {
    pub integration: String,
    pub name: String,
    /// `#` lines written above the method (a folder heading, say).
    pub section: Vec<String>,
    pub doc: Vec<String>,
    /// `#` warning lines written at the top of the method body.
    pub warnings: Vec<String>,
    pub params: Vec<Param>,
    pub verb: String,
    /// rbk string-literal content of the path, `{param}` placeholders kept.
    pub path: String,
    pub query: Vec<Entry>,
    pub headers: Vec<Entry>,
    /// `Some(auth)` overrides the integration's.
    pub auth: Option<Auth>,
    pub timeout: Option<String>,
    pub body: Option<Body>,
    pub expect: Vec<String>,
    pub paginate: Option<String>,
    pub outputs: Vec<Output>,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub ty: String,
    pub default: Option<Expr>,
    pub doc: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: Expr,
    pub doc: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(Expr),
    Form(Vec<Entry>),
    Multipart(Vec<Entry>),
    Text { value: Expr, content_type: String },
    Bytes { path: String, content_type: String },
}

#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub ty: Option<String>,
    pub expr: Expr,
    pub doc: Vec<String>,
}

// ---------------------------------------------------------------- names

/// `getPetById`, `Get pet by ID`, `x-rate-limit` → `get_pet_by_id`,
/// `get_pet_by_id`, `x_rate_limit`. May be empty.
pub fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() {
                let prev = i.checked_sub(1).map(|j| chars[j]);
                let next = chars.get(i + 1).copied();
                let boundary = match prev {
                    Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                    Some(p) if p.is_ascii_uppercase() => {
                        next.is_some_and(|n| n.is_ascii_lowercase())
                    }
                    _ => false,
                };
                if boundary && !out.ends_with('_') && !out.is_empty() {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// A valid rbk name from any text: snake case, never empty, never starting
/// with a digit, never reserved (`fallback` when nothing is left).
pub fn ident(s: &str, fallback: &str) -> String {
    let mut n = snake(s);
    if n.is_empty() {
        n = fallback.to_string();
    }
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n = format!("_{n}");
    }
    if RESERVED.contains(&n.as_str()) {
        n.push('_');
    }
    n
}

/// A parameter name (also avoiding `status`, `body`, `json`, `header`).
pub fn param_ident(s: &str) -> String {
    let mut n = ident(s, "value");
    if AVOID_PARAM.contains(&n.as_str()) {
        n.push('_');
    }
    n
}

/// An output name (avoiding the six names every step result has).
pub fn output_ident(s: &str) -> String {
    let mut n = ident(s, "value");
    if RESERVED_OUTPUT.contains(&n.as_str()) {
        n.push('_');
    }
    n
}

/// Hands out names unique within one scope: `x`, `x_2`, `x_3`...
#[derive(Debug, Default)]
pub struct Names(HashSet<String>);

impl Names {
    pub fn unique(&mut self, base: &str) -> String {
        let mut n = base.to_string();
        let mut i = 2;
        while self.0.contains(&n) {
            n = format!("{base}_{i}");
            i += 1;
        }
        self.0.insert(n.clone());
        n
    }

    pub fn taken(&self, n: &str) -> bool {
        self.0.contains(n)
    }
}

/// Whether `s` may be written bare as a block key or object key.
pub fn is_bare_key(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A block or object key: bare when it can be, else a string.
pub fn key(s: &str) -> String {
    if is_bare_key(s) {
        s.to_string()
    } else {
        string(s)
    }
}

/// A JSONPath member step: `.name` or `["odd name"]`.
pub fn jsonpath_member(s: &str) -> String {
    if is_bare_key(s) {
        format!(".{s}")
    } else {
        let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        format!("[{quoted}]")
    }
}

/// Escapes text for the inside of an rbk string literal: no interpolation.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:X}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A plain rbk string literal holding exactly `s`.
pub fn string(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// A `secret("NAME")` call.
pub fn secret(name: &str) -> String {
    format!("secret({})", string(name))
}

/// An environment-variable name: `PETSTORE_API_KEY`.
pub fn env_name(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .map(|p| snake(p).to_ascii_uppercase())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if joined.is_empty() {
        "RBK_SECRET".to_string()
    } else if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// A JSON value as an rbk literal (objects keep their key order).
pub fn json_literal(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => number_literal(n),
        serde_json::Value::String(s) => string(s),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(json_literal).collect();
            format!("[{}]", parts.join(", "))
        }
        serde_json::Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", key(k), json_literal(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A number as rbk writes it: an integer, or a float with a point or
/// exponent (a leading `-` is the unary minus, which is fine).
pub fn number_literal(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => {
            let s = format!("{f:?}");
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        _ => "0".into(),
    }
}

/// Documentation text as `##` lines: blank lines collapse, at most `max`
/// lines, each trimmed.
pub fn doc_lines(text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = clean_comment(line.trim_end());
        if line.trim().is_empty() {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    if out.len() > max {
        out.truncate(max);
        while out.last().is_some_and(|l| l.is_empty()) {
            out.pop();
        }
        if let Some(last) = out.last_mut() {
            last.push_str(" …");
        }
    }
    out
}

/// Comment text on one line, without control characters.
pub fn clean_comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------- rendering

impl Program {
    pub fn render(&self) -> String {
        let mut o = String::new();
        for h in &self.header {
            let _ = writeln!(o, "# {}", clean_comment(h));
        }
        if !self.header.is_empty() {
            o.push('\n');
        }
        for i in &self.instances {
            docs(&mut o, &i.doc, "");
            let _ = writeln!(
                o,
                "instance {} {{\n  url = {}\n}}\n",
                i.name,
                string(&i.url)
            );
        }
        for i in &self.integrations {
            i.render(&mut o);
            o.push('\n');
        }
        for m in &self.methods {
            for s in &m.section {
                let _ = writeln!(o, "# {}", clean_comment(s));
            }
            if !m.section.is_empty() {
                o.push('\n');
            }
            m.render(&mut o);
            o.push('\n');
        }
        o
    }
}

fn docs(o: &mut String, lines: &[String], indent: &str) {
    for l in lines {
        if l.is_empty() {
            let _ = writeln!(o, "{indent}##");
        } else {
            let _ = writeln!(o, "{indent}## {}", clean_comment(l));
        }
    }
}

fn warnings(o: &mut String, lines: &[String], indent: &str) {
    for l in lines {
        let _ = writeln!(o, "{indent}# rbk import: {}", clean_comment(l));
    }
}

fn entries(o: &mut String, name: &str, list: &[Entry], indent: &str) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(o, "{indent}{name} {{");
    let inner = format!("{indent}  ");
    for e in list {
        docs(o, &e.doc, &inner);
        let _ = writeln!(o, "{inner}{} = {}", key(&e.key), e.value);
    }
    let _ = writeln!(o, "{indent}}}");
}

impl Auth {
    fn render(&self, o: &mut String, indent: &str) {
        let i2 = format!("{indent}  ");
        match self {
            Auth::None => {
                let _ = writeln!(o, "{indent}auth none");
            }
            Auth::ApiKey {
                name,
                value,
                in_query,
            } => {
                let _ = writeln!(
                    o,
                    "{indent}auth api_key {{\n{i2}name = {}\n{i2}value = {value}\n{i2}in = {}\n{indent}}}",
                    string(name),
                    if *in_query { "query" } else { "header" }
                );
            }
            Auth::Bearer {
                token,
                header,
                prefix,
            } => {
                let _ = writeln!(o, "{indent}auth bearer {{\n{i2}token = {token}");
                if let Some(h) = header {
                    let _ = writeln!(o, "{i2}header = {}", string(h));
                }
                if let Some(p) = prefix {
                    let _ = writeln!(o, "{i2}prefix = {}", string(p));
                }
                let _ = writeln!(o, "{indent}}}");
            }
            Auth::Basic { username, password } => {
                let _ = writeln!(
                    o,
                    "{indent}auth basic {{\n{i2}username = {username}\n{i2}password = {password}\n{indent}}}"
                );
            }
            Auth::OAuth2 { fields } => {
                let _ = writeln!(o, "{indent}auth oauth2 {{");
                for (k, v) in fields {
                    let _ = writeln!(o, "{i2}{k} = {v}");
                }
                let _ = writeln!(o, "{indent}}}");
            }
        }
    }
}

impl Integration {
    fn render(&self, o: &mut String) {
        docs(o, &self.doc, "");
        let _ = writeln!(o, "integration {} {{", self.name);
        warnings(o, &self.warnings, "  ");
        let _ = writeln!(o, "  base_url = \"{}\"", self.base_url);
        if let Some(v) = &self.version {
            let _ = writeln!(o, "  version = {}", string(v));
        }
        if let Some(t) = &self.timeout {
            let _ = writeln!(o, "  timeout = {t}");
        }
        if !self.headers.is_empty() {
            let _ = writeln!(o, "  headers {{");
            for (k, v) in &self.headers {
                let _ = writeln!(o, "    {} = {v}", key(k));
            }
            let _ = writeln!(o, "  }}");
        }
        if let Some(a) = &self.auth {
            a.render(o, "  ");
        }
        if self.insecure {
            let _ = writeln!(
                o,
                "  # curl -k: certificate verification is off; rbk check warns about it\n  tls {{\n    insecure = true\n  }}"
            );
        }
        let _ = writeln!(o, "}}");
    }
}

impl Method {
    fn render(&self, o: &mut String) {
        docs(o, &self.doc, "");
        let _ = write!(o, "method {}.{}(", self.integration, self.name);
        if !self.params.is_empty() {
            o.push('\n');
            for p in &self.params {
                docs(o, &p.doc, "  ");
                match &p.default {
                    Some(d) => {
                        let _ = writeln!(o, "  {}: {} = {d},", p.name, p.ty);
                    }
                    None => {
                        let _ = writeln!(o, "  {}: {},", p.name, p.ty);
                    }
                }
            }
        }
        let _ = writeln!(o, ") {{");
        warnings(o, &self.warnings, "  ");
        let _ = writeln!(o, "  {} \"{}\"", self.verb, self.path);
        entries(o, "query", &self.query, "  ");
        entries(o, "headers", &self.headers, "  ");
        if let Some(a) = &self.auth {
            a.render(o, "  ");
        }
        if let Some(t) = &self.timeout {
            let _ = writeln!(o, "  timeout = {t}");
        }
        match &self.body {
            None => {}
            Some(Body::Json(e)) => {
                let _ = writeln!(o, "  body json {e}");
            }
            Some(Body::Form(list)) => entries(o, "body form", list, "  "),
            Some(Body::Multipart(list)) => entries(o, "body multipart", list, "  "),
            Some(Body::Text {
                value,
                content_type,
            }) => {
                let _ = writeln!(o, "  body text {value} as {}", string(content_type));
            }
            Some(Body::Bytes { path, content_type }) => {
                let _ = writeln!(
                    o,
                    "  body bytes({}) as {}",
                    string(path),
                    string(content_type)
                );
            }
        }
        match self.expect.len() {
            0 => {}
            1 => {
                let _ = writeln!(o, "  expect {}", self.expect[0]);
            }
            _ => {
                let _ = writeln!(o, "  expect [{}]", self.expect.join(", "));
            }
        }
        if let Some(p) = &self.paginate {
            let _ = writeln!(o, "  paginate {p}");
        }
        if !self.outputs.is_empty() {
            let _ = writeln!(o, "  output {{");
            for out in &self.outputs {
                docs(o, &out.doc, "    ");
                match &out.ty {
                    Some(t) => {
                        let _ = writeln!(o, "    {}: {t} = {}", out.name, out.expr);
                    }
                    None => {
                        let _ = writeln!(o, "    {} = {}", out.name, out.expr);
                    }
                }
            }
            let _ = writeln!(o, "  }}");
        }
        let _ = writeln!(o, "}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases() {
        assert_eq!(snake("getPetById"), "get_pet_by_id");
        assert_eq!(
            snake("ListIncomingPhoneNumber"),
            "list_incoming_phone_number"
        );
        assert_eq!(snake("getHTTPResponse"), "get_http_response");
        assert_eq!(snake("x-rate-limit"), "x_rate_limit");
        assert_eq!(snake("  Get pet  by ID "), "get_pet_by_id");
        assert_eq!(ident("for", "x"), "for_");
        assert_eq!(ident("2fa", "x"), "_2fa");
        assert_eq!(ident("---", "x"), "x");
        assert_eq!(param_ident("status"), "status_");
        assert_eq!(output_ident("body"), "body_");
    }

    #[test]
    fn strings_escape_interpolation() {
        assert_eq!(string("a{b}\"\\\n"), "\"a{{b}}\\\"\\\\\\n\"");
    }
}
