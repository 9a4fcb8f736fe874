//! Requests: preparing one from a method and its arguments (pure), and
//! sending it (retries, rate limits, one client per integration).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::eval::{COMPONENT, EvalError, Vars, eval};
use super::retry::RetryPolicy;
use super::value::Value;
use super::{Context, ErrorKind};
use crate::syntax::ast::*;

/// The default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default limit on a response body (`max_response`, `--max-response`).
pub const DEFAULT_MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// A request ready to send: everything evaluated.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: String,
    pub verb: Verb,
    /// The full URL, query string included.
    pub url: String,
    /// `url` parsed, when prepare had it parsed anyway: the HTTP client
    /// takes it instead of parsing the text again (used only while its
    /// text is still `url`'s: a query or auth parameter added since makes
    /// the client parse `url`).
    pub parsed: Option<reqwest::Url>,
    pub headers: Vec<(String, String)>,
    pub body: Option<PreparedBody>,
    pub timeout: Duration,
    /// Accepted statuses, as inclusive ranges.
    pub expect: std::borrow::Cow<'static, [(i64, i64)]>,
    pub retry: RetryPolicy,
    /// The most bytes of response body read; more fails the request.
    pub max_response: u64,
    /// Origins (`https://host:port`) that get the integration's auth and
    /// secret headers besides its `base_url`'s own: `trusted_origins`.
    pub trusted_origins: Arc<Vec<String>>,
    /// True when the URL is an absolute one from a value (`GET "{next}"`)
    /// on an origin that is neither the base URL's nor trusted: it is sent
    /// with no auth and no header holding a `secret()` or `env()` value.
    pub foreign: bool,
}

#[derive(Debug, Clone)]
pub struct PreparedBody {
    pub content_type: std::borrow::Cow<'static, str>,
    /// Shared, not copied, by every try and by the HTTP client.
    pub bytes: bytes::Bytes,
}

impl Prepared {
    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value));
    }

    pub fn add_query(&mut self, name: &str, value: &str) {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!("{}{sep}{}", self.url, query_pair(name, value));
    }

    pub fn accepts(&self, status: u16) -> bool {
        let s = status as i64;
        self.expect.iter().any(|(a, b)| (*a..=*b).contains(&s))
    }
}

/// `name=value` for a query string: the one query encoder (RFC 3986
/// unreserved characters kept, every other byte `%XX`, a space `%20`), used
/// for `query { }`, `api_key` in the query and pagination parameters alike.
pub fn query_pair(name: &str, value: &str) -> String {
    format!(
        "{}={}",
        percent_encoding::utf8_percent_encode(name, COMPONENT),
        percent_encoding::utf8_percent_encode(value, COMPONENT)
    )
}

/// The parameters of a method bound to the call's arguments and defaults.
pub fn bind_params(
    m: &Method,
    args: Vec<(Option<String>, Value)>,
    cx: &Context,
) -> Result<Vars, EvalError> {
    bind(&m.params, args, cx, m.name.span)
}

pub fn bind(
    params: &[Param],
    args: Vec<(Option<String>, Value)>,
    cx: &Context,
    span: Span,
) -> Result<Vars, EvalError> {
    let mut vars = Vars::new();
    for (i, (name, v)) in args.into_iter().enumerate() {
        let key = match name {
            Some(n) => n,
            None => match params.get(i) {
                Some(p) => p.name.name.clone(),
                None => return Err(EvalError::new(span, "too many arguments")),
            },
        };
        vars.insert(key, v);
    }
    for p in params {
        if vars.contains_key(&p.name.name) {
            continue;
        }
        match &p.default {
            Some(d) => {
                let v = eval(d, &Vars::new(), cx, None)?;
                vars.insert(p.name.name.clone(), v);
            }
            None if matches!(p.ty, TypeExpr::Optional(..)) => {
                vars.insert(p.name.name.clone(), Value::Null);
            }
            None => {
                return Err(EvalError::new(
                    p.span,
                    format!("missing argument `{}`", p.name.name),
                ));
            }
        }
    }
    Ok(vars)
}

/// Evaluates everything a request needs. Pure: no I/O but reading files
/// named by `file()`/`bytes()`.
pub fn prepare(
    cx: &Context,
    integ: &Integration,
    m: &Method,
    vars: &Vars,
) -> Result<Prepared, EvalError> {
    let no_vars = Vars::new();
    let text_of = |e: &Expr, vars: &Vars| -> Result<String, EvalError> {
        let v = eval(e, vars, cx, None)?;
        if v.is_secret() {
            cx.redactor.register(&v.to_text());
        }
        Ok(v.to_text())
    };
    let known = known_base(integ, cx, || {
        Ok(match integ.body.get("base_url").map(|e| &e.value) {
            Some(EntryValue::Expr { value, .. }) => text_of(value, &no_vars)?,
            _ => String::new(),
        })
    })?;
    let base = known.base.as_str();
    let request = m
        .items
        .iter()
        .find_map(|i| match i {
            MethodItem::Request(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| EvalError::new(m.name.span, "the method has no request line"))?;
    let mut path = String::new();
    // The path with every placeholder as NUL: which segments hold a value.
    let mut template = String::new();
    let mut absolute = false;
    for (i, part) in request.path.parts.iter().enumerate() {
        match part {
            StrPart::Text(t) => {
                path.push_str(t);
                template.push_str(t);
            }
            StrPart::Interp(e) => {
                let v = eval(e, vars, cx, None)?;
                if v.is_secret() {
                    cx.redactor.register(&v.to_text());
                }
                // A path that starts with an absolute http(s) URL goes there:
                // the value is inserted as it is (`GET "{next}"`).
                if i == 0
                    && let Some(url) = absolute_url(&v.to_text())
                {
                    absolute = true;
                    path.push_str(&url);
                    template.push_str(&url);
                    continue;
                }
                template.push('\0');
                if matches!(v.reveal(), Value::Unknown) {
                    // A dry run's value from a step that did not run: shown
                    // as `…`, not as its percent-encoding.
                    path.push('…');
                } else {
                    path.push_str(
                        &percent_encoding::utf8_percent_encode(&v.to_text(), COMPONENT).to_string(),
                    );
                }
            }
        }
    }
    check_dot_segments(&path, &template, request.path.span)
        .map_err(|e| e.with_kind(ErrorKind::PathSegment))?;
    let joined = match known.url.as_ref() {
        Some(b) if !absolute && !cx.dry_run => join_path(b, &path),
        _ => None,
    };
    let (url, parsed) = match joined {
        Some(u) => (u.as_str().to_string(), Some(u)),
        None => (
            canonical_url(&join_url(base, &path), cx.dry_run)
                .map_err(|e| EvalError::new(request.path.span, cx.redactor.mask(&e)))?,
            None,
        ),
    };
    let trusted_origins = known.trusted.clone();
    let foreign = absolute && origin_of(&url).is_none_or(|o| !trusted_origins.contains(&o));
    let mut prepared = Prepared {
        method: m.name.name.clone(),
        verb: request.verb,
        url,
        parsed,
        headers: Vec::new(),
        body: None,
        timeout: DEFAULT_TIMEOUT,
        expect: std::borrow::Cow::Borrowed(&[(200, 299)]),
        retry: RetryPolicy::default(),
        max_response: cx.max_response,
        trusted_origins,
        foreign,
    };
    // Integration defaults first, then the method's own settings.
    for e in &integ.body.entries {
        match e.key.name.as_str() {
            "headers" => add_headers(&mut prepared, e, &no_vars, cx)?,
            "timeout" => {
                prepared.timeout = duration_of(e, &no_vars, cx)?.unwrap_or(DEFAULT_TIMEOUT)
            }
            "retry" => {
                if let EntryValue::Block { block, .. } = &e.value {
                    prepared.retry = RetryPolicy::from_block(block, &no_vars, cx)?;
                }
            }
            "max_response" => {
                if let Some(n) = size_of(e, &no_vars, cx)? {
                    prepared.max_response = n;
                }
            }
            _ => {}
        }
    }
    for item in &m.items {
        match item {
            MethodItem::Entry(e) => match e.key.name.as_str() {
                "headers" => add_headers(&mut prepared, e, vars, cx)?,
                "query" => {
                    if let EntryValue::Block { block, .. } = &e.value {
                        for q in &block.entries {
                            if let EntryValue::Expr { value, .. } = &q.value {
                                let v = eval(value, vars, cx, None)?;
                                add_query_value(&mut prepared, &q.key.name, &v, cx);
                            }
                        }
                    }
                }
                "timeout" => {
                    if let Some(d) = duration_of(e, vars, cx)? {
                        prepared.timeout = d;
                    }
                }
                "retry" => {
                    if let EntryValue::Block { block, .. } = &e.value {
                        prepared.retry = RetryPolicy::from_block(block, vars, cx)?;
                    }
                }
                "max_response" => {
                    if let Some(n) = size_of(e, vars, cx)? {
                        prepared.max_response = n;
                    }
                }
                _ => {}
            },
            MethodItem::Expect(e) => {
                let v = eval(e, vars, cx, None)?;
                prepared.expect = statuses(&v).into();
            }
            MethodItem::Body(b) => prepared.body = Some(body(b, vars, cx)?),
            _ => {}
        }
    }
    Ok(prepared)
}

/// A placeholder's value is one path segment: a segment made of values that
/// reads `.` or `..` would be resolved away by the URL parser (which, by the
/// URL standard, treats `%2E%2E` as `..` too), sending the request to
/// another resource, so it is refused.
fn check_dot_segments(path: &str, template: &str, span: Span) -> Result<(), EvalError> {
    let cut = |p: &str| -> usize { p.find(['?', '#']).unwrap_or(p.len()) };
    let segs = path[..cut(path)].split('/');
    let tmpl = template[..cut(template)].split('/');
    for (seg, t) in segs.zip(tmpl) {
        if !t.contains('\0') {
            continue;
        }
        let dots = dots_of(seg);
        if matches!(dots, Some(1 | 2)) {
            let dots = ".".repeat(dots.unwrap_or(0));
            return Err(EvalError::new(
                span,
                format!(
                    "a path segment built from a value is `{seg}`: sent, it would be resolved as `{dots}` and change the request's path, so rbk does not send it (check the value before the step, or pass it as a query parameter)"
                ),
            ));
        }
    }
    Ok(())
}

/// How many dots `seg` is when `%2e` (any case) is read as a dot: `None`
/// when it holds anything else.
fn dots_of(seg: &str) -> Option<usize> {
    let mut rest = seg.as_bytes();
    let mut n = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && rest[2] | 0x20 == b'e' {
            rest = &rest[3..];
        } else {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// The URL as the HTTP client will send it (parsed and serialized by the
/// URL standard), so that traces, dry runs, reports and cassettes show the
/// very bytes sent. A dry run keeps `…` (a value not known yet) readable.
pub fn canonical_url(url: &str, dry_run: bool) -> Result<String, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "`{url}` is not an http or https URL (its scheme is `{}`)",
            u.scheme()
        ));
    }
    let s = String::from(u);
    Ok(if dry_run {
        s.replace("%E2%80%A6", "…")
    } else {
        s
    })
}

/// What rbk keeps of an integration's base URL, worked out once per run
/// (per integration and base text): the parsed URL that paths are joined
/// to, and the origins that get the integration's credentials.
pub struct KnownBase {
    integration: String,
    base: String,
    url: Option<reqwest::Url>,
    trusted: Arc<Vec<String>>,
    /// The base URL's expression gives the same text every time (it calls
    /// neither `now()`, `uuid()`, `file()` nor `bytes()`): it is not
    /// evaluated again.
    constant: bool,
}

/// The integration's base URL: `text` evaluates its expression, unless an
/// earlier request of the run already did and it is constant.
fn known_base(
    integ: &Integration,
    cx: &Context,
    text: impl FnOnce() -> Result<String, EvalError>,
) -> Result<Arc<KnownBase>, EvalError> {
    let find = |pred: &dyn Fn(&KnownBase) -> bool| {
        cx.bases
            .lock()
            .ok()
            .and_then(|l| l.iter().find(|k| pred(k)).cloned())
    };
    let name = integ.name.name.as_str();
    if let Some(k) = find(&|k| k.constant && k.integration == name) {
        return Ok(k);
    }
    let base = text()?;
    if let Some(k) = find(&|k| k.integration == name && k.base == base) {
        return Ok(k);
    }
    let url = reqwest::Url::parse(&base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .filter(|u| u.query().is_none() && u.fragment().is_none());
    let constant = match integ.body.get("base_url").map(|e| &e.value) {
        Some(EntryValue::Expr { value, .. }) => !calls_impure(value),
        _ => true,
    };
    let known = Arc::new(KnownBase {
        integration: name.to_string(),
        trusted: Arc::new(trusted_origins(integ, &base, cx)?),
        base,
        url,
        constant,
    });
    if let Ok(mut l) = cx.bases.lock() {
        l.push(known.clone());
    }
    Ok(known)
}

/// True when `e` calls a function whose value may change from call to call
/// with the same arguments: the clock, a random id, a file's contents
/// (`rbk serve` keeps one context for as long as it runs).
fn calls_impure(e: &Expr) -> bool {
    use crate::syntax::visit::{Visitor, walk_expr};
    struct Impure(bool);
    impl Visitor for Impure {
        fn visit_expr(&mut self, e: &Expr) {
            if let ExprKind::Call(c) = &e.kind
                && c.method.is_none()
                && matches!(c.func.name.as_str(), "now" | "uuid" | "file" | "bytes")
            {
                self.0 = true;
            }
            walk_expr(self, e);
        }
    }
    let mut v = Impure(false);
    v.visit_expr(e);
    v.0
}

/// `base` + `path` as the URL parser would read the whole text, without
/// parsing the scheme and host again: the path is joined as an absolute
/// path reference. `None` (the caller parses the whole text) when the joined
/// path could be read as anything else (`//host`, `/\host`).
fn join_path(base: &reqwest::Url, path: &str) -> Option<reqwest::Url> {
    let joined = join_url(base.path(), path);
    let mut chars = joined.chars();
    if chars.next() != Some('/') || matches!(chars.next(), Some('/' | '\\')) {
        return None;
    }
    if joined.contains(['\t', '\n', '\r']) {
        return None;
    }
    base.join(&joined).ok()
}

/// `value` as an absolute http(s) URL, when it is one.
fn absolute_url(value: &str) -> Option<String> {
    let v = value.trim();
    let lower = v.get(..8).unwrap_or(v).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    reqwest::Url::parse(v).ok().map(String::from)
}

/// `https://host:port` of a URL: its origin, port always written.
pub fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?
    ))
}

/// The base URL's origin and the integration's `trusted_origins`.
fn trusted_origins(
    integ: &Integration,
    base: &str,
    cx: &Context,
) -> Result<Vec<String>, EvalError> {
    let mut out: Vec<String> = origin_of(base).into_iter().collect();
    if let Some(EntryValue::Expr { value, .. }) =
        integ.body.get("trusted_origins").map(|e| &e.value)
        && let Value::List(items) = eval(value, &Vars::new(), cx, None)?.reveal()
    {
        out.extend(items.iter().filter_map(|i| origin_of(&i.to_text())));
    }
    Ok(out)
}

fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_string();
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    let b = base.trim_end_matches('/');
    if path.starts_with('/') {
        format!("{b}{path}")
    } else {
        format!("{b}/{path}")
    }
}

fn add_headers(p: &mut Prepared, e: &Entry, vars: &Vars, cx: &Context) -> Result<(), EvalError> {
    if let EntryValue::Block { block, .. } = &e.value {
        for h in &block.entries {
            if let EntryValue::Expr { value, .. } = &h.value {
                let v = eval(value, vars, cx, None)?;
                if v.is_null() {
                    continue;
                }
                if v.is_secret() {
                    cx.redactor.register(&v.to_text());
                }
                let text = v.to_text();
                check_header(&h.key.name, &text).map_err(|m| EvalError::new(value.span, m))?;
                p.set_header(&h.key.name, text);
            }
        }
    }
    Ok(())
}

fn add_query_value(p: &mut Prepared, key: &str, v: &Value, cx: &Context) {
    match v.reveal() {
        Value::Null => {}
        Value::List(items) => {
            for i in items.iter() {
                add_query_value(p, key, i, cx);
            }
        }
        Value::Unknown => {
            let sep = if p.url.contains('?') { '&' } else { '?' };
            p.url = format!(
                "{}{sep}{}=…",
                p.url,
                percent_encoding::utf8_percent_encode(key, COMPONENT)
            );
        }
        other => {
            if v.is_secret() {
                cx.redactor.register(&other.to_text());
            }
            p.add_query(key, &other.to_text());
        }
    }
}

fn size_of(e: &Entry, vars: &Vars, cx: &Context) -> Result<Option<u64>, EvalError> {
    if let EntryValue::Expr { value, .. } = &e.value
        && let Value::Int(n) = eval(value, vars, cx, None)?.reveal()
    {
        return Ok(Some((*n).max(1) as u64));
    }
    Ok(None)
}

fn duration_of(e: &Entry, vars: &Vars, cx: &Context) -> Result<Option<Duration>, EvalError> {
    if let EntryValue::Expr { value, .. } = &e.value
        && let Value::Duration(d) = eval(value, vars, cx, None)?.reveal()
    {
        return Ok(Some(*d));
    }
    Ok(None)
}

/// `200`, `200..299`, `[200, 300..399]` as inclusive ranges.
pub fn statuses(v: &Value) -> Vec<(i64, i64)> {
    match v.reveal() {
        Value::Int(s) => vec![(*s, *s)],
        Value::Range(a, b) => vec![(*a, *b)],
        Value::List(items) => items.iter().flat_map(statuses).collect(),
        _ => vec![(200, 299)],
    }
}

fn body(b: &Body, vars: &Vars, cx: &Context) -> Result<PreparedBody, EvalError> {
    let reveal = |v: &Value| {
        if v.is_secret() {
            cx.redactor.register(&v.to_text());
        }
    };
    let ct = |e: &Option<Expr>, default: &str| -> Result<String, EvalError> {
        match e {
            Some(e) => Ok(eval(e, vars, cx, None)?.to_text()),
            None => Ok(default.to_string()),
        }
    };
    Ok(match &b.kind {
        BodyKind::Json(e) => {
            let v = eval(e, vars, cx, None)?;
            register_all(&v, cx);
            let bytes = json_body(&v).map_err(|err| EvalError::new(e.span, err.to_string()))?;
            PreparedBody {
                content_type: "application/json".into(),
                bytes: bytes.into(),
            }
        }
        BodyKind::Form(block) => {
            let mut ser = Vec::new();
            for en in &block.entries {
                if let EntryValue::Expr { value, .. } = &en.value {
                    let v = eval(value, vars, cx, None)?;
                    register_all(&v, cx);
                    let items: Vec<Value> = match v.reveal() {
                        Value::Null => Vec::new(),
                        Value::List(l) => l.to_vec(),
                        _ => vec![v.clone()],
                    };
                    for i in items {
                        ser.push(format!(
                            "{}={}",
                            form_encode(&en.key.name),
                            form_encode(&i.to_text())
                        ));
                    }
                }
            }
            PreparedBody {
                content_type: "application/x-www-form-urlencoded".into(),
                bytes: ser.join("&").into_bytes().into(),
            }
        }
        BodyKind::Multipart(block) => {
            let boundary = format!("rbk-{}", uuid::Uuid::new_v4().simple());
            let mut out: Vec<u8> = Vec::new();
            for en in &block.entries {
                let EntryValue::Expr {
                    value,
                    content_type,
                } = &en.value
                else {
                    continue;
                };
                let v = eval(value, vars, cx, None)?;
                register_all(&v, cx);
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let name = part_param(&en.key.name);
                let part_ct = |e: &Option<Expr>, default: &str| -> Result<String, EvalError> {
                    let t = ct(e, default)?;
                    if t.chars().any(|c| c.is_control()) {
                        return Err(EvalError::new(
                            e.as_ref().map(|e| e.span).unwrap_or(en.key.span),
                            format!(
                                "the content type of part `{}` holds a line break or another control character",
                                en.key.name
                            ),
                        ));
                    }
                    Ok(t)
                };
                match v.reveal() {
                    Value::Bytes(data) => {
                        let filename = file_name_of(value).unwrap_or_else(|| name.clone());
                        let ct = part_ct(content_type, "application/octet-stream")?;
                        out.extend_from_slice(
                            format!(
                                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\nContent-Type: {ct}\r\n\r\n",
                                part_param(&filename)
                            )
                            .as_bytes(),
                        );
                        out.extend_from_slice(data);
                    }
                    other => {
                        out.extend_from_slice(
                            format!("Content-Disposition: form-data; name=\"{name}\"\r\n")
                                .as_bytes(),
                        );
                        if content_type.is_some() {
                            let ct = part_ct(content_type, "")?;
                            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
                        }
                        out.extend_from_slice(b"\r\n");
                        out.extend_from_slice(other.to_text().as_bytes());
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            PreparedBody {
                content_type: format!("multipart/form-data; boundary={boundary}").into(),
                bytes: out.into(),
            }
        }
        BodyKind::Text {
            value,
            content_type,
        }
        | BodyKind::Xml {
            value,
            content_type,
        } => {
            let v = if matches!(b.kind, BodyKind::Xml { .. }) {
                super::xml::body_text(value, vars, cx)?
            } else {
                eval(value, vars, cx, None)?
            };
            reveal(&v);
            let default = if matches!(b.kind, BodyKind::Xml { .. }) {
                "application/xml"
            } else {
                "text/plain; charset=utf-8"
            };
            PreparedBody {
                content_type: ct(content_type, default)?.into(),
                bytes: v.to_text().into_bytes().into(),
            }
        }
        BodyKind::Bytes { path, content_type } => {
            let rel = eval(path, vars, cx, None)?.to_text();
            let base = cx
                .program
                .sources
                .get(path.span.file)
                .path
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default();
            let full = base.join(&rel);
            let bytes = cx.files.read(&full).map_err(|r| {
                if r.is_io_error() {
                    EvalError::new(path.span, r.to_string())
                } else {
                    EvalError::new(path.span, format!("bytes body refused: {r}; {}", r.help()))
                        .with_kind(ErrorKind::FileRefused)
                }
            })?;
            PreparedBody {
                content_type: ct(content_type, "application/octet-stream")?.into(),
                bytes: bytes.into(),
            }
        }
    })
}

/// A multipart `name` or `filename` parameter: quotes and line breaks
/// percent-encoded (as browsers do), so a value cannot end the header.
fn part_param(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A header name and value that HTTP allows; the error names the header,
/// never the value (it may be a secret).
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("`{name}` is not a valid HTTP header name"));
    }
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "the value of header `{name}` is not a valid HTTP header value: it holds a line break or another control character"
        ));
    }
    Ok(())
}

/// A JSON body. A dry run's value not known yet (from a step that did not
/// run) is written as a bare `…`, which no JSON value can be mistaken for
/// (`null` would read as a null that will be sent).
fn json_body(v: &Value) -> Result<Vec<u8>, serde_json::Error> {
    const MARK: &str = "\u{1}rbk-unknown\u{1}";
    fn mark(v: &Value) -> Value {
        match v {
            Value::Unknown => Value::str(MARK),
            Value::List(items) => Value::list(items.iter().map(mark).collect()),
            Value::Object(fields) => {
                Value::object(fields.iter().map(|(k, v)| (k.clone(), mark(v))).collect())
            }
            Value::Secret(inner) if matches!(**inner, Value::List(_) | Value::Object(_)) => {
                mark(inner).taint(true)
            }
            other => other.clone(),
        }
    }
    if !contains_unknown(v) {
        return serde_json::to_vec(&super::value::Ordered(v, true));
    }
    let text = serde_json::to_string(&super::value::Ordered(&mark(v), true))?;
    let quoted = serde_json::to_string(MARK)?;
    Ok(text.replace(&quoted, "…").into_bytes())
}

fn contains_unknown(v: &Value) -> bool {
    match v {
        Value::Unknown => true,
        Value::List(items) => items.iter().any(contains_unknown),
        Value::Object(fields) => fields.iter().any(|(_, v)| contains_unknown(v)),
        Value::Secret(inner) => contains_unknown(inner),
        _ => false,
    }
}

fn file_name_of(e: &Expr) -> Option<String> {
    if let ExprKind::Call(c) = &e.kind
        && c.func.name == "bytes"
        && let Some(a) = c.args.first()
        && let ExprKind::Str(s) = &a.value.kind
    {
        let p = s.as_plain()?;
        return std::path::Path::new(&p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
    }
    None
}

fn register_all(v: &Value, cx: &Context) {
    match v {
        Value::Secret(inner) => cx.redactor.register(&inner.to_text()),
        Value::List(items) => items.iter().for_each(|i| register_all(i, cx)),
        Value::Object(fields) => fields.iter().for_each(|(_, i)| register_all(i, cx)),
        _ => {}
    }
}

/// Every form in which rbk itself writes a value onto the wire, each by the
/// very encoder that builds requests: a path segment or query value, a form
/// field, a JSON string, an XML text, a multipart part (as is). The
/// redactor's tests prove that a secret is masked in each of them.
pub fn wire_encodings(s: &str) -> Vec<(&'static str, String)> {
    vec![
        ("raw", s.to_string()),
        (
            "path segment / query value",
            percent_encoding::utf8_percent_encode(s, COMPONENT).to_string(),
        ),
        ("form field", form_encode(s)),
        (
            "JSON string",
            serde_json::to_string(s)
                .ok()
                .and_then(|j| Some(j.strip_prefix('"')?.strip_suffix('"')?.to_string()))
                .unwrap_or_default(),
        ),
        ("XML text", crate::text::xml_escape(s)),
    ]
}

/// `application/x-www-form-urlencoded` encoding of one name or value (by
/// the `form_urlencoded` crate: space as `+`, `*-._` and alphanumerics
/// kept, every other byte `%XX`).
pub(crate) fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------- sending

/// Why a request did not give a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Timeout(String),
    /// The kind says which: connect, TLS, redirect or another.
    Error(ErrorKind, String),
    /// rbk stopped the exchange itself (a body over `max_response`): an
    /// error for the program's `else` arms, never retried.
    Refused(ErrorKind, String),
}

impl Transport {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Transport::Timeout(_) => ErrorKind::HttpTimeout,
            Transport::Error(k, _) | Transport::Refused(k, _) => *k,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Transport::Timeout(m) | Transport::Error(_, m) | Transport::Refused(_, m) => m,
        }
    }
}

/// Words of rustls's errors: a certificate, an alert, the handshake, a
/// peer that does not speak TLS (a plain HTTP server on an https URL).
fn tls_words(lower: &str) -> bool {
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "fatal alert",
        "peer ",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// The kind of a transport error from its text (a cassette keeps only
/// the text of a recorded failure).
pub fn kind_of_message(msg: &str) -> ErrorKind {
    let m = msg.to_ascii_lowercase();
    if tls_words(&m) {
        ErrorKind::HttpTls
    } else if m.contains("redirect") {
        ErrorKind::HttpRedirect
    } else if m.contains("over the limit") {
        ErrorKind::LimitResponseSize
    } else if m.contains("connect")
        || m.contains("refused")
        || m.contains("dns")
        || m.contains("resolve")
    {
        ErrorKind::HttpConnect
    } else {
        ErrorKind::Http
    }
}

/// One client per integration (its TLS and proxy settings), and its limits.
#[derive(Default)]
pub struct Pool {
    clients: Mutex<HashMap<String, reqwest::Client>>,
    limits: Mutex<HashMap<String, Arc<Limit>>>,
}

/// `rate { requests, per, concurrency }` of one integration.
pub struct Limit {
    pub concurrency: Option<Arc<Semaphore>>,
    bucket: Option<tokio::sync::Mutex<Bucket>>,
    /// `requests` per `per`, as declared.
    pub rate: Option<(u64, Duration)>,
    /// `concurrency`, as declared.
    pub slots: Option<u64>,
}

struct Bucket {
    capacity: f64,
    tokens: f64,
    per_token: Duration,
    last: Instant,
}

impl Limit {
    pub fn new(requests: Option<u64>, per: Option<Duration>, concurrency: Option<u64>) -> Limit {
        let bucket = match (requests, per) {
            (Some(r), Some(p)) if r > 0 && !p.is_zero() => {
                let per_token = p.div_f64(r as f64);
                (!per_token.is_zero()).then(|| {
                    tokio::sync::Mutex::new(Bucket {
                        capacity: r as f64,
                        tokens: r as f64,
                        per_token,
                        last: Instant::now(),
                    })
                })
            }
            _ => None,
        };
        let rate = match (requests, per) {
            (Some(r), Some(p)) if bucket.is_some() => Some((r, p)),
            _ => None,
        };
        let slots = concurrency.filter(|c| *c > 0).map(|c| c.min(10_000));
        Limit {
            concurrency: slots.map(|c| Arc::new(Semaphore::new(c as usize))),
            bucket,
            rate,
            slots,
        }
    }

    /// Waits for a token of the bucket.
    pub async fn take(&self) {
        let Some(bucket) = &self.bucket else { return };
        loop {
            let wait = {
                let mut b = bucket.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(b.last).as_secs_f64() / b.per_token.as_secs_f64();
                b.tokens = (b.tokens + refill).min(b.capacity);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                b.per_token.mul_f64(1.0 - b.tokens)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

impl Pool {
    /// The client for a method of an integration, built once: the
    /// integration's, or its own when the method's auth changes the client
    /// certificate (`auth mtls { ... }` of its own, or no certificate).
    pub fn client(
        &self,
        cx: &Context,
        integ: &Integration,
        method: &str,
    ) -> Result<reqwest::Client, String> {
        let identity = super::client::identity_of(cx, integ, method);
        let key: std::borrow::Cow<'_, str> = match &identity {
            super::client::Identity::Integration => integ.name.name.as_str().into(),
            super::client::Identity::None => format!("{}.-", integ.name.name).into(),
            super::client::Identity::Method(_) => format!("{}.{method}", integ.name.name).into(),
        };
        if let Ok(map) = self.clients.lock()
            && let Some(c) = map.get(key.as_ref())
        {
            return Ok(c.clone());
        }
        let client = super::client::build(cx, integ, identity)?;
        if let Ok(mut map) = self.clients.lock() {
            map.insert(key.into_owned(), client.clone());
        }
        Ok(client)
    }

    pub fn limit(&self, cx: &Context, integ: &Integration) -> Arc<Limit> {
        let Ok(mut map) = self.limits.lock() else {
            return Arc::new(Limit::new(None, None, None));
        };
        if let Some(l) = map.get(integ.name.name.as_str()) {
            return l.clone();
        }
        map.entry(integ.name.name.clone())
            .or_insert_with(|| {
                let mut requests = None;
                let mut per = None;
                let mut concurrency = None;
                if let Some(EntryValue::Block { block, .. }) =
                    integ.body.get("rate").map(|e| &e.value)
                {
                    for e in &block.entries {
                        if let EntryValue::Expr { value, .. } = &e.value {
                            let v = eval(value, &Vars::new(), cx, None).unwrap_or(Value::Null);
                            match (e.key.name.as_str(), v.reveal()) {
                                ("requests", Value::Int(n)) if *n > 0 => requests = Some(*n as u64),
                                ("per", Value::Duration(d)) => per = Some(*d),
                                ("concurrency", Value::Int(n)) if *n > 0 => {
                                    concurrency = Some(*n as u64)
                                }
                                _ => {}
                            }
                        }
                    }
                }
                Arc::new(Limit::new(
                    requests,
                    per.or(Some(Duration::from_secs(1)))
                        .filter(|_| requests.is_some()),
                    concurrency,
                ))
            })
            .clone()
    }
}

/// Sends once: status, headers and body, or why there was no response.
pub async fn send_once(
    client: &reqwest::Client,
    p: &Prepared,
) -> Result<super::outputs::Response, Transport> {
    let method = reqwest::Method::from_bytes(p.verb.as_str().as_bytes())
        .map_err(|e| Transport::Error(ErrorKind::Http, e.to_string()))?;
    let mut req = match &p.parsed {
        Some(u) if u.as_str() == p.url => client.request(method, u.clone()),
        _ => client.request(method, &p.url),
    }
    .timeout(p.timeout);
    for (k, v) in &p.headers {
        let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) else {
            return Err(Transport::Refused(
                ErrorKind::Http,
                check_header(k, v)
                    .err()
                    .unwrap_or_else(|| format!("header `{k}` is not valid")),
            ));
        };
        req = req.header(name, value);
    }
    if let Some(b) = &p.body {
        if !p
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", b.content_type.as_ref());
        }
        req = req.body(b.bytes.clone());
    }
    let mut resp = req.send().await.map_err(classify)?;
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    let limit = p.max_response;
    let too_large = |n: &str| {
        Transport::Refused(
            ErrorKind::LimitResponseSize,
            format!(
                "the response body is {n}, over the limit of {} (raise `max_response` on the method or integration, or --max-response)",
                crate::units::format_size(limit)
            ),
        )
    };
    if let Some(len) = resp.content_length()
        && len > limit
    {
        return Err(too_large(&format!(
            "{} (Content-Length)",
            crate::units::format_size(len)
        )));
    }
    // Read chunk by chunk: never more than the limit in memory.
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large("larger"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(super::outputs::Response::from_wire(status, headers, body))
}

fn classify(e: reqwest::Error) -> Transport {
    // The error chain carries the useful part (connection refused, DNS...).
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        source = s.source();
    }
    if e.is_timeout() {
        Transport::Timeout(msg)
    } else {
        let kind = if is_tls(&e) {
            ErrorKind::HttpTls
        } else if e.is_redirect() {
            ErrorKind::HttpRedirect
        } else if e.is_connect() {
            ErrorKind::HttpConnect
        } else {
            ErrorKind::Http
        };
        Transport::Error(kind, msg)
    }
}

/// True when the error chain holds a TLS error (a certificate, the
/// handshake): rustls's errors name them.
fn is_tls(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if tls_words(&text) {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Joining a path to the parsed base URL gives the very URL that
        /// parsing the whole text gives, or declines (and the whole text is
        /// parsed).
        #[test]
        fn joining_to_the_parsed_base_is_parsing_the_whole_text(
            base in prop_oneof![
                Just("http://127.0.0.1:8089".to_string()),
                Just("https://api.example.com/v2/".to_string()),
                Just("http://EXAMPLE.com:80/a%20b".to_string()),
                Just("https://xn--bcher-kva.example/ä/".to_string()),
            ],
            path in "[a-z/\\\\.%?#:@ ä\t]{0,12}",
        ) {
            let b = reqwest::Url::parse(&base).unwrap();
            if let Some(joined) = join_path(&b, &path) {
                prop_assert_eq!(Ok(String::from(joined)), canonical_url(&join_url(&base, &path), false));
            }
        }
    }

    #[test]
    fn dot_segments_are_counted_with_their_encodings() {
        for (seg, dots) in [
            (".", Some(1)),
            ("..", Some(2)),
            ("%2e", Some(1)),
            ("%2E.", Some(2)),
            (".%2e", Some(2)),
            ("...", Some(3)),
            ("", Some(0)),
            ("a", None),
            ("%2", None),
            ("%2f", None),
            ("..a", None),
        ] {
            assert_eq!(dots_of(seg), dots, "{seg:?}");
        }
    }

    /// A base URL that reads a file is read again for every request (the
    /// file may change while `rbk serve` runs); a plain one is kept.
    #[test]
    fn a_base_url_that_can_change_is_evaluated_again() {
        let dir = std::env::temp_dir().join(format!("rbk-base-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("rbk.toml"), "").expect("write");
        std::fs::write(dir.join("host.txt"), "one.example").expect("write");
        let text = r#"
integration f {
  base_url = "http://{file("host.txt")}"
  auth none
}
integration c {
  base_url = "http://{env("HOST")}"
  auth none
}
method f.get() {
  GET "/x"
}
method c.get() {
  GET "/x"
}
"#;
        let loaded = crate::load::load_source(&dir.join("t.rbk"), text.to_string());
        let checked = crate::check::check(loaded);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let program = Arc::new(checked.program);
        let env = [("HOST".to_string(), "c1.example".to_string())]
            .into_iter()
            .collect();
        let cx = Context::new(program.clone(), None, env, false).expect("context");
        let url = |cx: &Context, i: &str| {
            let integ = program.integration(i).expect("integration");
            let m = program.method(i, "get").expect("method");
            prepare(cx, integ, m, &Vars::new()).expect("prepared").url
        };
        assert_eq!(url(&cx, "f"), "http://one.example/x");
        std::fs::write(dir.join("host.txt"), "two.example").expect("write");
        assert_eq!(url(&cx, "f"), "http://two.example/x");
        assert_eq!(url(&cx, "c"), "http://c1.example/x");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_that_could_name_another_host_are_parsed_whole() {
        let b = reqwest::Url::parse("http://127.0.0.1:8089").unwrap();
        assert_eq!(join_path(&b, "//evil.example/x"), None);
        assert_eq!(join_path(&b, "/\\evil.example/x"), None);
        assert_eq!(
            join_path(&b, "/items/1?q=a b")
                .as_ref()
                .map(reqwest::Url::as_str),
            Some("http://127.0.0.1:8089/items/1?q=a%20b")
        );
    }
}
