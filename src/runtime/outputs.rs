//! A received response, and the outputs taken from it: JSONPath queries
//! (RFC 9535), status, headers and body, converted to their declared types.

use std::sync::Arc;
use std::sync::OnceLock;

use super::eval::EvalError;
use super::value::Value;
use crate::check::types::Ty;
use crate::syntax::ast::Span;

/// A response as the runtime sees it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The headers as received; turned into text pairs only when something
    /// reads them all (see [`Response::headers`]): most runs never do.
    wire: Option<reqwest::header::HeaderMap>,
    headers: OnceLock<Vec<(String, String)>>,
    pub body: Vec<u8>,
    json: OnceLock<Result<serde_json::Value, String>>,
    /// Values of singular queries read without parsing the whole body
    /// (see [`Response::prefetch`]).
    lazy: OnceLock<(Arc<LazyQueries>, Vec<Option<serde_json::Value>>)>,
    /// Names this response's parsed XML tree (see `super::xml`).
    id: u64,
}

impl Drop for Response {
    fn drop(&mut self) {
        super::xml::forget(self.id);
    }
}

impl Response {
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
        Response::with_headers(status, None, OnceLock::from(headers), body)
    }

    /// A response with the headers as the HTTP client gave them.
    pub fn from_wire(status: u16, headers: reqwest::header::HeaderMap, body: Vec<u8>) -> Response {
        Response::with_headers(status, Some(headers), OnceLock::new(), body)
    }

    fn with_headers(
        status: u16,
        wire: Option<reqwest::header::HeaderMap>,
        headers: OnceLock<Vec<(String, String)>>,
        body: Vec<u8>,
    ) -> Response {
        Response {
            status,
            wire,
            headers,
            body,
            json: OnceLock::new(),
            lazy: OnceLock::new(),
            id: {
                static NEXT: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(1 << 32);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every header as (lower-case name, value) text, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        self.headers.get_or_init(|| {
            self.wire
                .as_ref()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// The header's value (several values joined with ", "), case-insensitive.
    pub fn header(&self, name: &str) -> Option<String> {
        if self.headers.get().is_none()
            && let Some(wire) = &self.wire
        {
            // Header names are lower case in the map; a name that is not a
            // valid header name is in no response.
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).ok()?;
            let values: Vec<std::borrow::Cow<'_, str>> = wire
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect();
            return (!values.is_empty()).then(|| values.join(", "));
        }
        let values: Vec<&str> = self
            .headers()
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    }

    /// The body parsed as JSON, once.
    pub fn parsed(&self) -> Result<&serde_json::Value, String> {
        self.json
            .get_or_init(|| {
                if self.body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(serde_json::Value::Null);
                }
                serde_json::from_slice(&self.body).map_err(|e| {
                    let text = self.text();
                    let preview: String = text.chars().take(60).collect();
                    format!("the response body is not JSON ({e}): {preview:?}")
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn json_value(&self, span: Span) -> Result<Value, EvalError> {
        let j = self.parsed().map_err(|e| EvalError::new(span, e))?;
        Ok(Value::from_json(j))
    }

    /// Reads the values of the singular queries `paths` from the body in
    /// one walk, without building the whole document, when each of them
    /// can be read that way and the body has not been parsed already. Any
    /// other case (a wildcard, a negative index, a body that is not JSON)
    /// is left to the full parse, whose answers are the same.
    pub fn prefetch(&self, paths: &[&str]) {
        if let Some(q) = LazyQueries::new(paths.iter().map(|p| p.to_string()).collect()) {
            self.prefetch_with(&Arc::new(q));
        }
    }

    /// [`Response::prefetch`] with queries compiled once (per method).
    pub fn prefetch_with(&self, queries: &Arc<LazyQueries>) {
        if self.json.get().is_some() || self.lazy.get().is_some() {
            return;
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if let Ok(found) = queries.plan.extract(&self.body) {
            let _ = self.lazy.set((queries.clone(), found));
        }
    }

    /// What the lazy walk found at `path`, if it read `path`.
    fn lazily(&self, path: &str) -> Option<&Option<serde_json::Value>> {
        let (queries, found) = self.lazy.get()?;
        let i = queries.paths.iter().position(|p| p == path)?;
        found.get(i)
    }

    /// True when `path` was read by [`Response::prefetch`]'s lazy walk.
    pub fn read_lazily(&self, path: &str) -> bool {
        self.lazily(path).is_some()
    }

    pub fn jsonpath(&self, path: &str, span: Span) -> Result<Value, EvalError> {
        if let Some(v) = self.lazily(path) {
            return Ok(v.as_ref().map(Value::from_json).unwrap_or(Value::Null));
        }
        let j = self.parsed().map_err(|e| EvalError::new(span, e))?;
        query(j, path, span)
    }
}

impl Response {
    /// An `xpath(...)` output: the body parsed as XML once, queried with
    /// the namespaces declared for the method; a node-set gives all its
    /// nodes' text when `list`, else the first node's (or null).
    pub fn xpath(
        &self,
        query: &str,
        namespaces: &super::xml::Namespaces,
        list: bool,
        span: Span,
    ) -> Result<Value, EvalError> {
        super::xml::xpath(self.id, &self.body, query, namespaces, list)
            .map_err(|e| EvalError::new(span, e))
    }
}

/// The singular `$...` queries of a method's outputs, compiled for the
/// lazy walk (see [`Response::prefetch`]).
#[derive(Debug)]
pub struct LazyQueries {
    paths: Vec<String>,
    plan: super::lazy_json::Plan,
}

impl LazyQueries {
    /// `None` when there is no query, or one cannot be read lazily (a
    /// wildcard, a filter, a negative index, an invalid query): then every
    /// output takes the full route.
    pub fn new(paths: Vec<String>) -> Option<LazyQueries> {
        if paths.is_empty() {
            return None;
        }
        let mut plans = Vec::with_capacity(paths.len());
        for p in &paths {
            let q = parsed_query(p).ok()?;
            plans.push(super::lazy_json::plan(&q)?);
        }
        Some(LazyQueries {
            paths,
            plan: super::lazy_json::Plan::new(plans),
        })
    }
}

/// Runs a JSONPath query. A singular query (no wildcard, filter, slice,
/// union or descendant) gives its one match or null; any other gives the
/// list of matches.
pub fn query(j: &serde_json::Value, path: &str, span: Span) -> Result<Value, EvalError> {
    let parsed =
        parsed_query(path).map_err(|e| EvalError::new(span, format!("JSONPath `{path}`: {e}")))?;
    let found: Vec<&serde_json::Value> = jsonpath_rust::query::js_path_process(&parsed, j)
        .map_err(|e| EvalError::new(span, format!("JSONPath `{path}`: {e}")))?
        .into_iter()
        .map(|r| r.val())
        .collect();
    if is_singular(&parsed) {
        Ok(found
            .first()
            .map(|v| Value::from_json(v))
            .unwrap_or(Value::Null))
    } else {
        Ok(Value::list(
            found.into_iter().map(Value::from_json).collect(),
        ))
    }
}

thread_local! {
    /// Parsed queries: a loop evaluates the same few outputs many times.
    static PARSED: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<jsonpath_rust::parser::model::JpQuery>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn parsed_query(path: &str) -> Result<std::rc::Rc<jsonpath_rust::parser::model::JpQuery>, String> {
    if let Some(q) = PARSED.with(|c| c.borrow().get(path).cloned()) {
        return Ok(q);
    }
    let q =
        std::rc::Rc::new(jsonpath_rust::parser::parse_json_path(path).map_err(|e| e.to_string())?);
    PARSED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(path.to_string(), q.clone());
    });
    Ok(q)
}

/// A query that names one place (only names and indexes, no wildcard,
/// filter, slice, union or descendant), read from the parsed query.
fn is_singular(q: &jsonpath_rust::parser::model::JpQuery) -> bool {
    use jsonpath_rust::parser::model::{Segment, Selector};
    let one = |s: &Selector| matches!(s, Selector::Name(_) | Selector::Index(_));
    q.segments.iter().all(|seg| match seg {
        Segment::Selector(s) => one(s),
        Segment::Selectors(list) => list.len() == 1 && list.iter().all(one),
        Segment::Descendant(_) => false,
    })
}

/// Converts an output's value to its declared type. Conversions never lose
/// information: a numeric string may become a number, an integral float an
/// int; anything else that does not fit is an error naming both.
pub fn convert(v: Value, ty: &Ty, secret: bool) -> Result<Value, String> {
    let out = convert_ty(v, ty)?;
    Ok(out.taint(secret))
}

fn convert_ty(v: Value, ty: &Ty) -> Result<Value, String> {
    let found = || describe(&v);
    match ty {
        Ty::Any | Ty::Json => Ok(v),
        Ty::Optional(inner) => {
            if v.is_null() {
                Ok(Value::Null)
            } else {
                convert_ty(v, inner)
            }
        }
        _ if v.is_null() => Err(format!("expected {ty}, found null (or nothing)")),
        Ty::Str => match v.reveal() {
            Value::Str(_) => Ok(v),
            _ => Err(format!("expected string, found {}", found())),
        },
        Ty::Int => match v.reveal() {
            Value::Int(_) => Ok(v),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::Int(*f as i64)),
            Value::Str(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("expected int, found {}", found())),
            _ => Err(format!("expected int, found {}", found())),
        },
        Ty::Float => match v.reveal() {
            Value::Int(i) => Ok(Value::Float(*i as f64)),
            Value::Float(_) => Ok(v),
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| format!("expected float, found {}", found())),
            _ => Err(format!("expected float, found {}", found())),
        },
        Ty::Bool => match v.reveal() {
            Value::Bool(_) => Ok(v),
            Value::Str(s) if &**s == "true" => Ok(Value::Bool(true)),
            Value::Str(s) if &**s == "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected bool, found {}", found())),
        },
        Ty::Datetime => match v.reveal() {
            Value::Datetime(_) => Ok(v),
            Value::Str(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(Value::Datetime)
                .map_err(|_| format!("expected an RFC 3339 datetime, found {}", found())),
            _ => Err(format!("expected datetime, found {}", found())),
        },
        Ty::Duration => match v.reveal() {
            Value::Duration(_) => Ok(v),
            Value::Int(ms) if *ms >= 0 => Ok(Value::Duration(std::time::Duration::from_millis(
                *ms as u64,
            ))),
            _ => Err(format!("expected duration, found {}", found())),
        },
        Ty::List(inner) => match v.reveal() {
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(
                        convert_ty(item.clone(), inner).map_err(|e| format!("item {i}: {e}"))?,
                    );
                }
                Ok(Value::list(out))
            }
            _ => Err(format!("expected a list, found {}", found())),
        },
        _ => Ok(v),
    }
}

/// A short description of a value for error messages.
fn describe(v: &Value) -> String {
    if v.is_secret() {
        return "a secret value".into();
    }
    let text = v.to_json(false).to_string();
    let short: String = text.chars().take(60).collect();
    let more = if text.chars().count() > 60 { "…" } else { "" };
    format!("{} {short}{more}", v.type_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_and_plural_queries() {
        let j: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b":[1,2,3]},"n":"x","items":[{"id":1},{"id":2}]}"#)
                .unwrap();
        let s = Span::default();
        assert_eq!(query(&j, "$.n", s).unwrap(), Value::str("x"));
        assert_eq!(query(&j, "$.missing", s).unwrap(), Value::Null);
        assert_eq!(query(&j, "$.a.b[1]", s).unwrap(), Value::Int(2));
        assert_eq!(
            query(&j, "$.items[*].id", s).unwrap(),
            Value::list(vec![Value::Int(1), Value::Int(2)])
        );
        // Quoted names with `*`, `,` or `..` in them are still one place.
        let q: serde_json::Value = serde_json::from_str(r#"{"a*b":1,"c,d":2,"e..f":3}"#).unwrap();
        assert_eq!(query(&q, "$['a*b']", s).unwrap(), Value::Int(1));
        assert_eq!(query(&q, "$['c,d']", s).unwrap(), Value::Int(2));
        assert_eq!(query(&q, "$['e..f']", s).unwrap(), Value::Int(3));
        // Unions, slices, filters and descendants are lists.
        assert!(matches!(
            query(&j, "$.a.b[0,1]", s).unwrap(),
            Value::List(_)
        ));
        assert!(matches!(
            query(&j, "$.a.b[0:2]", s).unwrap(),
            Value::List(_)
        ));
        assert!(matches!(query(&j, "$..id", s).unwrap(), Value::List(_)));
        assert!(matches!(
            query(&j, "$.items[?@.id > 1]", s).unwrap(),
            Value::List(_)
        ));
    }

    #[test]
    fn conversions_are_lossless_or_errors() {
        assert_eq!(
            convert(Value::str("42"), &Ty::Int, false).unwrap(),
            Value::Int(42)
        );
        assert_eq!(
            convert(Value::Float(3.0), &Ty::Int, false).unwrap(),
            Value::Int(3)
        );
        assert!(convert(Value::Float(3.5), &Ty::Int, false).is_err());
        assert!(convert(Value::Int(3), &Ty::Str, false).is_err());
        assert!(convert(Value::Null, &Ty::Str, false).is_err());
        assert_eq!(
            convert(Value::Null, &Ty::Optional(Box::new(Ty::Str)), false).unwrap(),
            Value::Null
        );
        let e = convert(Value::str("abc"), &Ty::Int, false).unwrap_err();
        assert!(e.contains("expected int") && e.contains("abc"), "{e}");
    }
}
