//! Expression evaluation and the built-in functions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The most items `range()` gives.
pub(super) const MAX_RANGE_ITEMS: i64 = 10_000_000;

use base64::Engine as _;

use super::Context;
use super::outputs::Response;
use super::value::{Certificate, Value};
use crate::syntax::ast::*;

/// An expression failed at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub message: String,
    pub span: Span,
    /// What kind of error (`Eval` unless set).
    pub kind: super::ErrorKind,
}

impl EvalError {
    pub fn new(span: Span, message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
            span,
            kind: super::ErrorKind::Eval,
        }
    }

    /// The same error, of this kind.
    pub fn with_kind(mut self, kind: super::ErrorKind) -> EvalError {
        self.kind = kind;
        self
    }
}

pub type Vars = HashMap<String, Value>;

/// A list or object literal may not nest deeper than
/// [`MAX_DEPTH`](super::value::MAX_DEPTH): only a loop that wraps a value
/// in itself gets there, and every walk over values must stay bounded.
fn shallow(v: Value, span: Span) -> Result<Value, EvalError> {
    if v.depth() > super::value::MAX_DEPTH {
        return Err(EvalError::new(
            span,
            format!(
                "this value would nest {} levels deep; values nest at most {} levels",
                v.depth(),
                super::value::MAX_DEPTH
            ),
        )
        .with_kind(super::ErrorKind::LimitDepth));
    }
    Ok(v)
}

type R = Result<Value, EvalError>;

/// Evaluates `e`. `response` is set for a method's outputs.
pub fn eval(e: &Expr, vars: &Vars, cx: &Context, response: Option<&Response>) -> R {
    Evaluator { vars, cx, response }.expr(e)
}

struct Evaluator<'a> {
    vars: &'a Vars,
    cx: &'a Context,
    response: Option<&'a Response>,
}

impl Evaluator<'_> {
    fn expr(&self, e: &Expr) -> R {
        Ok(match &e.kind {
            ExprKind::Int { value, .. } => Value::Int(*value),
            ExprKind::Float { value, .. } => Value::Float(*value),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Null => Value::Null,
            ExprKind::Duration { millis, .. } => Value::Duration(Duration::from_millis(*millis)),
            ExprKind::Str(s) => self.string(s)?,
            ExprKind::Paren(inner) => self.expr(inner)?,
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.expr(i)?);
                }
                shallow(Value::list(out), e.span)?
            }
            ExprKind::Object(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for en in entries {
                    out.push((en.key.name.clone(), self.expr(&en.value)?));
                }
                shallow(Value::object(out), e.span)?
            }
            ExprKind::JsonPath(path) => match self.response {
                Some(r) => r.jsonpath(path, e.span)?,
                None => return Err(EvalError::new(e.span, "`$` is only available in outputs")),
            },
            ExprKind::Name(id) => self.name(id)?,
            ExprKind::Field(base, field) => {
                let b = self.expr(base)?;
                field_of(&b, &field.name, field.span)?
            }
            ExprKind::Index(base, idx) => {
                let b = self.expr(base)?;
                let i = self.expr(idx)?;
                index_of(&b, &i, e.span)?
            }
            ExprKind::Call(call) => self.call(call, e.span)?,
            ExprKind::Unary(op, inner) => {
                let v = self.expr(inner)?;
                let secret = v.is_secret();
                let r = match (op, v.reveal()) {
                    (_, Value::Unknown) => Value::Unknown,
                    (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (UnaryOp::Neg, Value::Int(i)) => Value::Int(
                        i.checked_neg()
                            .ok_or_else(|| EvalError::new(e.span, "integer overflow"))?,
                    ),
                    (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (op, other) => {
                        return Err(EvalError::new(
                            inner.span,
                            format!(
                                "`{}` needs a {}, found {}",
                                if *op == UnaryOp::Not { "not" } else { "-" },
                                if *op == UnaryOp::Not {
                                    "bool"
                                } else {
                                    "number"
                                },
                                other.type_name()
                            ),
                        ));
                    }
                };
                r.taint(secret)
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span)?,
        })
    }

    fn string(&self, s: &StringLit) -> R {
        let mut out = String::new();
        let mut secret = false;
        let mut unknown = false;
        for part in &s.parts {
            match part {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(e) => {
                    let v = self.expr(e)?;
                    if v.is_secret() {
                        secret = true;
                        self.cx.redactor.register(&v.to_text());
                    }
                    if matches!(v, Value::Unknown) {
                        unknown = true;
                    }
                    out.push_str(&v.to_text());
                }
            }
        }
        if unknown && self.cx.dry_run {
            return Ok(Value::str(&out).taint(secret));
        }
        Ok(Value::str(&out).taint(secret))
    }

    fn name(&self, id: &Ident) -> R {
        if let Some(v) = self.vars.get(&id.name) {
            return Ok(v.clone());
        }
        match id.name.as_str() {
            "instance" => Ok(self.cx.instance.clone()),
            "status" | "body" | "json" if self.response.is_some() => {
                let r = self
                    .response
                    .ok_or_else(|| EvalError::new(id.span, "no response"))?;
                Ok(match id.name.as_str() {
                    "status" => Value::Int(r.status as i64),
                    "body" => Value::str(&r.text()),
                    _ => r.json_value(id.span)?,
                })
            }
            _ => Err(EvalError::new(
                id.span,
                format!("`{}` is not bound", id.name),
            )),
        }
    }

    fn binary(&self, op: BinaryOp, a: &Expr, b: &Expr, span: Span) -> R {
        // Short-circuit logic first.
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let x = self.expr(a)?;
            if matches!(x, Value::Unknown) {
                return Ok(Value::Unknown);
            }
            let xb = x.as_bool().ok_or_else(|| {
                EvalError::new(
                    a.span,
                    format!("`{}` needs a bool, found {}", op.as_str(), x.type_name()),
                )
            })?;
            if (op == BinaryOp::And && !xb) || (op == BinaryOp::Or && xb) {
                return Ok(Value::Bool(xb).taint(x.is_secret()));
            }
            let y = self.expr(b)?;
            if matches!(y, Value::Unknown) {
                return Ok(Value::Unknown);
            }
            let yb = y.as_bool().ok_or_else(|| {
                EvalError::new(
                    b.span,
                    format!("`{}` needs a bool, found {}", op.as_str(), y.type_name()),
                )
            })?;
            return Ok(Value::Bool(yb).taint(x.is_secret() || y.is_secret()));
        }
        if op == BinaryOp::Coalesce {
            let x = self.expr(a)?;
            return if x.is_null() { self.expr(b) } else { Ok(x) };
        }
        let x = self.expr(a)?;
        let y = self.expr(b)?;
        if matches!(x, Value::Unknown) || matches!(y, Value::Unknown) {
            return Ok(Value::Unknown);
        }
        let secret = x.is_secret() || y.is_secret();
        let (xv, yv) = (x.reveal(), y.reveal());
        let bad = || {
            EvalError::new(
                span,
                format!(
                    "cannot apply `{}` to {} and {}",
                    op.as_str(),
                    xv.type_name(),
                    yv.type_name()
                ),
            )
        };
        let overflow = || EvalError::new(span, "integer overflow");
        let v = match op {
            BinaryOp::Eq => Value::Bool(equal(xv, yv)),
            BinaryOp::Ne => Value::Bool(!equal(xv, yv)),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ord = compare(xv, yv).ok_or_else(bad)?;
                Value::Bool(match op {
                    BinaryOp::Lt => ord.is_lt(),
                    BinaryOp::Le => ord.is_le(),
                    BinaryOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            BinaryOp::In => Value::Bool(contains(yv, xv).ok_or_else(bad)?),
            BinaryOp::Contains => Value::Bool(contains(xv, yv).ok_or_else(bad)?),
            BinaryOp::Range => match (xv, yv) {
                (Value::Int(p), Value::Int(q)) => Value::Range(*p, *q),
                _ => return Err(bad()),
            },
            BinaryOp::Add => match (xv, yv) {
                (Value::Int(p), Value::Int(q)) => {
                    Value::Int(p.checked_add(*q).ok_or_else(overflow)?)
                }
                (Value::Str(p), Value::Str(q)) => Value::str(&format!("{p}{q}")),
                (Value::List(p), Value::List(q)) => {
                    Value::list(p.iter().chain(q.iter()).cloned().collect())
                }
                (Value::Datetime(d), Value::Duration(t))
                | (Value::Duration(t), Value::Datetime(d)) => {
                    Value::Datetime(*d + chrono::Duration::from_std(*t).map_err(|_| overflow())?)
                }
                (Value::Duration(p), Value::Duration(q)) => Value::Duration(*p + *q),
                (p, q) => match (num(p), num(q)) {
                    (Some(p), Some(q)) => Value::Float(p + q),
                    _ => return Err(bad()),
                },
            },
            BinaryOp::Sub => match (xv, yv) {
                (Value::Int(p), Value::Int(q)) => {
                    Value::Int(p.checked_sub(*q).ok_or_else(overflow)?)
                }
                (Value::Datetime(d), Value::Duration(t)) => {
                    Value::Datetime(*d - chrono::Duration::from_std(*t).map_err(|_| overflow())?)
                }
                (Value::Datetime(p), Value::Datetime(q)) => {
                    Value::Duration((*p - *q).to_std().unwrap_or(Duration::ZERO))
                }
                (Value::Duration(p), Value::Duration(q)) => Value::Duration(p.saturating_sub(*q)),
                (p, q) => match (num(p), num(q)) {
                    (Some(p), Some(q)) => Value::Float(p - q),
                    _ => return Err(bad()),
                },
            },
            BinaryOp::Mul => match (xv, yv) {
                (Value::Int(p), Value::Int(q)) => {
                    Value::Int(p.checked_mul(*q).ok_or_else(overflow)?)
                }
                (Value::Duration(d), n) | (n, Value::Duration(d)) if num(n).is_some() => {
                    Value::Duration(d.mul_f64(num(n).unwrap_or(1.0).max(0.0)))
                }
                (p, q) => match (num(p), num(q)) {
                    (Some(p), Some(q)) => Value::Float(p * q),
                    _ => return Err(bad()),
                },
            },
            BinaryOp::Div | BinaryOp::Rem => match (xv, yv) {
                (Value::Int(_), Value::Int(0)) => {
                    return Err(EvalError::new(span, "division by zero"));
                }
                (Value::Int(p), Value::Int(q)) => Value::Int(if op == BinaryOp::Div {
                    p.checked_div(*q).ok_or_else(overflow)?
                } else {
                    p.checked_rem(*q).ok_or_else(overflow)?
                }),
                (Value::Duration(d), n)
                    if op == BinaryOp::Div && num(n).is_some_and(|n| n > 0.0) =>
                {
                    Value::Duration(d.div_f64(num(n).unwrap_or(1.0)))
                }
                (p, q) => match (num(p), num(q)) {
                    (Some(p), Some(q)) => {
                        Value::Float(if op == BinaryOp::Div { p / q } else { p % q })
                    }
                    _ => return Err(bad()),
                },
            },
            BinaryOp::And | BinaryOp::Or | BinaryOp::Coalesce => Value::Null,
        };
        Ok(v.taint(secret))
    }

    fn call(&self, call: &CallExpr, span: Span) -> R {
        if call.method.is_some() {
            return Err(EvalError::new(span, "methods are called by steps"));
        }
        let mut args = Vec::new();
        let mut named: Vec<(&str, Value)> = Vec::new();
        for a in &call.args {
            let v = self.expr(&a.value)?;
            match &a.name {
                Some(n) => named.push((n.name.as_str(), v)),
                None => args.push(v),
            }
        }
        if args
            .iter()
            .chain(named.iter().map(|(_, v)| v))
            .any(|v| matches!(v, Value::Unknown))
        {
            return Ok(Value::Unknown);
        }
        let secret = args.iter().any(Value::is_secret) || named.iter().any(|(_, v)| v.is_secret());
        let name = call.func.name.as_str();
        let arg = |i: usize| -> Result<&Value, EvalError> {
            args.get(i)
                .map(|v| v.reveal())
                .ok_or_else(|| EvalError::new(span, format!("`{name}` needs more arguments")))
        };
        let text = |i: usize| -> Result<String, EvalError> { Ok(arg(i)?.to_text()) };
        let err = |m: String| EvalError::new(span, m);
        // The one table of built-ins says what exists and how it is called.
        let Some(def) = crate::builtins::find(name) else {
            return Err(err(format!("there is no function `{name}`")));
        };
        if args.len() < def.required || args.len() > def.params.len().max(def.required) {
            return Err(err(format!(
                "`{name}` is called with {} argument(s); it is {}",
                args.len(),
                def.signature
            )));
        }
        let v = match name {
            "env" => {
                let key = text(0)?;
                match self.cx.env.get(&key) {
                    Some(v) => {
                        // Never sent to another origin (redirects).
                        self.cx.redactor.register_sensitive(v);
                        Value::str(v)
                    }
                    None => match args.get(1) {
                        Some(d) => d.clone(),
                        None => {
                            return Err(err(format!(
                                "environment variable `{key}` is not set (give it a default: env(\"{key}\", \"...\"))"
                            ))
                            .with_kind(super::ErrorKind::SecretUnset));
                        }
                    },
                }
            }
            "secret" => {
                let key = text(0)?;
                match self.cx.env.get(&key) {
                    Some(v) => {
                        self.cx.redactor.register(v);
                        return Ok(Value::Secret(Arc::new(Value::str(v))));
                    }
                    // A dry run or a replay sends nothing: a placeholder
                    // will do (CI need not hold real secrets for them).
                    None if self.cx.placeholder_secrets => {
                        let placeholder = format!("placeholder-for-{key}");
                        self.cx.redactor.register(&placeholder);
                        if let Ok(mut used) = self.cx.placeholders.lock()
                            && !used.contains(&key)
                        {
                            used.push(key);
                        }
                        return Ok(Value::Secret(Arc::new(Value::str(&placeholder))));
                    }
                    None => {
                        return Err(err(format!(
                            "secret `{key}` is not set: export {key}=... or put it in the --env-file"
                        ))
                        .with_kind(super::ErrorKind::SecretUnset));
                    }
                }
            }
            "file" | "bytes" => {
                let path = self.path(&text(0)?, span);
                let data = self.cx.files.read(&path).map_err(|r| {
                    if r.is_io_error() {
                        err(r.to_string())
                    } else {
                        err(format!("{name}() refused: {r}; {}", r.help()))
                            .with_kind(super::ErrorKind::FileRefused)
                    }
                })?;
                if name == "file" {
                    Value::str(&String::from_utf8_lossy(&data))
                } else {
                    Value::Bytes(Arc::new(data))
                }
            }
            "now" => Value::Datetime(super::durable::now()),
            "datetime" => {
                let s = text(0)?;
                Value::Datetime(
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map_err(|e| err(format!("`{s}` is not an RFC 3339 datetime: {e}")))?,
                )
            }
            "uuid" => Value::str(&super::durable::uuid()),
            "len" => {
                return Ok(Value::Int(match arg(0)? {
                    Value::Str(s) => s.chars().count() as i64,
                    Value::List(l) => l.len() as i64,
                    Value::Object(o) => o.len() as i64,
                    Value::Bytes(b) => b.len() as i64,
                    Value::Null => 0,
                    other => return Err(err(format!("len() of a {}", other.type_name()))),
                }));
            }
            "lower" => Value::str(&text(0)?.to_lowercase()),
            "upper" => Value::str(&text(0)?.to_uppercase()),
            "trim" => Value::str(text(0)?.trim()),
            "split" => {
                let (s, sep) = (text(0)?, text(1)?);
                if sep.is_empty() {
                    Value::list(s.chars().map(|c| Value::str(&c.to_string())).collect())
                } else {
                    Value::list(s.split(sep.as_str()).map(Value::str).collect())
                }
            }
            "join" => {
                let sep = text(1)?;
                match arg(0)? {
                    Value::List(items) => Value::str(
                        &items
                            .iter()
                            .map(|v| v.to_text())
                            .collect::<Vec<_>>()
                            .join(&sep),
                    ),
                    other => {
                        return Err(err(format!(
                            "join() needs a list, found {}",
                            other.type_name()
                        )));
                    }
                }
            }
            "replace" => Value::str(&text(0)?.replace(&text(1)?, &text(2)?)),
            "base64" => {
                let bytes = match arg(0)? {
                    Value::Bytes(b) => b.to_vec(),
                    v => v.to_text().into_bytes(),
                };
                Value::str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            "base64_decode" => {
                let s = text(0)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()))
                    .map_err(|e| err(format!("not base64: {e}")))?;
                Value::str(&String::from_utf8_lossy(&bytes))
            }
            "url_encode" => {
                Value::str(&percent_encoding::utf8_percent_encode(&text(0)?, COMPONENT).to_string())
            }
            "to_json" => Value::str(
                &serde_json::to_string(&super::value::Ordered(arg(0)?, true))
                    .map_err(|e| err(e.to_string()))?,
            ),
            "parse_json" => {
                let s = text(0)?;
                let j: serde_json::Value =
                    serde_json::from_str(&s).map_err(|e| err(format!("not JSON: {e}")))?;
                Value::from_json(&j)
            }
            // Members and items that are null are left out (one level).
            // They keep their own taint: only a wholly secret argument
            // makes the result wholly secret.
            "compact" => {
                let v = match arg(0)? {
                    Value::Object(fields) => Value::object(
                        fields
                            .iter()
                            .filter(|(_, v)| !matches!(v.reveal(), Value::Null))
                            .cloned()
                            .collect(),
                    ),
                    Value::List(items) => Value::list(
                        items
                            .iter()
                            .filter(|v| !matches!(v.reveal(), Value::Null))
                            .cloned()
                            .collect(),
                    ),
                    Value::Null => Value::Null,
                    other => {
                        return Err(err(format!(
                            "compact() needs an object or a list, found {}",
                            other.type_name()
                        )));
                    }
                };
                return Ok(v.taint(matches!(args.first(), Some(Value::Secret(_)))));
            }
            "jsonpath" => {
                let j = arg(0)?.to_json(true);
                let q = text(1)?;
                super::outputs::query(&j, &q, span)?
            }
            "int" => match arg(0)? {
                Value::Int(i) => Value::Int(*i),
                Value::Float(f) if f.is_finite() => Value::Int(f.trunc() as i64),
                Value::Bool(b) => Value::Int(*b as i64),
                Value::Str(s) => Value::Int(
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| err(format!("`{s}` is not an integer")))?,
                ),
                other => return Err(err(format!("int() of a {}", other.type_name()))),
            },
            "float" => match arg(0)? {
                Value::Int(i) => Value::Float(*i as f64),
                Value::Float(f) => Value::Float(*f),
                Value::Str(s) => Value::Float(
                    s.trim()
                        .parse::<f64>()
                        .map_err(|_| err(format!("`{s}` is not a number")))?,
                ),
                other => return Err(err(format!("float() of a {}", other.type_name()))),
            },
            "string" => Value::str(&text(0)?),
            "bool" => match arg(0)? {
                Value::Bool(b) => Value::Bool(*b),
                Value::Str(s) if s.trim() == "true" => Value::Bool(true),
                Value::Str(s) if s.trim() == "false" => Value::Bool(false),
                other => {
                    return Err(err(format!(
                        "bool() of {}: only true, false, \"true\" and \"false\" convert",
                        other.type_name()
                    )));
                }
            },
            "format_time" => {
                let Value::Datetime(d) = arg(0)? else {
                    return Err(err("format_time() needs a datetime".into()));
                };
                let fmt = text(1)?;
                let items: Vec<_> = chrono::format::StrftimeItems::new(&fmt).collect();
                if items
                    .iter()
                    .any(|i| matches!(i, chrono::format::Item::Error))
                {
                    return Err(err(format!(
                        "`{fmt}` is not a valid time format (strftime, e.g. %Y-%m-%d)"
                    )));
                }
                Value::str(&d.format_with_items(items.into_iter()).to_string())
            }
            "range" => {
                let (from, to) = match (
                    args.first().map(Value::reveal),
                    args.get(1).map(Value::reveal),
                ) {
                    (Some(Value::Int(n)), None) => (0, *n),
                    (Some(Value::Int(a)), Some(Value::Int(b))) => (*a, *b),
                    _ => return Err(err("range() takes ints".into())),
                };
                if to.saturating_sub(from) > MAX_RANGE_ITEMS {
                    return Err(err("range() of more than 10,000,000 items".into()));
                }
                Value::list((from..to).map(Value::Int).collect())
            }
            "header" => match self.response {
                Some(r) => match r.header(&text(0)?) {
                    Some(h) => Value::str(&h),
                    None => Value::Null,
                },
                None => return Err(err("header() is only available in outputs".into())),
            },
            "xpath" => match self.response {
                Some(r) => {
                    let namespaces = super::xml::namespaces_at(self.cx, span);
                    let list = super::xml::wants_list(self.cx, span);
                    r.xpath(&text(0)?, &namespaces, list, span)?
                }
                None => return Err(err("xpath() is only available in outputs".into())),
            },
            // Outside a `body xml` interpolation (which the checker
            // refuses), the value's text.
            "raw" => Value::str(&text(0)?),
            "pfx" => {
                let Value::Bytes(der) = arg(0)? else {
                    return Err(err("pfx() needs bytes(\"file.pfx\")".into()));
                };
                let password = named
                    .iter()
                    .find(|(k, _)| *k == "password")
                    .map(|(_, v)| v.to_text());
                if let Some(p) = &password {
                    self.cx.redactor.register(p);
                }
                Value::Cert(Arc::new(Certificate::Pfx {
                    der: der.to_vec(),
                    password,
                }))
            }
            "pem" => {
                let get = |k: &str| {
                    named
                        .iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| v.to_text())
                };
                let cert = get("cert").ok_or_else(|| err("pem() needs cert:".into()))?;
                let key = get("key").ok_or_else(|| err("pem() needs key:".into()))?;
                self.cx.redactor.register(&key);
                Value::Cert(Arc::new(Certificate::Pem {
                    cert,
                    key,
                    password: get("password"),
                }))
            }
            other => {
                return Err(err(format!(
                    "the built-in `{other}` is listed but has no evaluation (a bug in rbk)"
                )));
            }
        };
        Ok(v.taint(secret))
    }

    /// A path relative to the file the expression is written in.
    fn path(&self, rel: &str, span: Span) -> PathBuf {
        let base = self
            .cx
            .program
            .sources
            .get(span.file)
            .path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        base.join(rel)
    }
}

/// Characters kept as they are in a URL component (RFC 3986 unreserved).
pub const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Value equality: numbers compare by value, secrets by their text.
pub fn equal(a: &Value, b: &Value) -> bool {
    let (a, b) = (a.reveal(), b.reveal());
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| k == k2 && equal(v, v2)))
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Datetime(x), Value::Datetime(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (x, y) => num(x)?.partial_cmp(&num(y)?),
    }
}

fn contains(coll: &Value, item: &Value) -> Option<bool> {
    let item = item.reveal();
    Some(match coll.reveal() {
        Value::List(items) => items.iter().any(|v| equal(v, item)),
        Value::Str(s) => s.contains(item.to_text().as_str()),
        Value::Range(a, b) => match item {
            Value::Int(i) => (*a..=*b).contains(i),
            _ => false,
        },
        Value::Object(fields) => fields.iter().any(|(k, _)| *k == item.to_text()),
        Value::Null => false,
        _ => return None,
    })
}

pub fn field_of(v: &Value, name: &str, span: Span) -> R {
    let secret = v.is_secret();
    let r = match v.reveal() {
        Value::Object(fields) => fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null),
        Value::Step(s) => s.field(name).unwrap_or(Value::Null),
        Value::Null => Value::Null,
        Value::Unknown => Value::Unknown,
        other => {
            return Err(EvalError::new(
                span,
                format!("a {} has no field `{name}`", other.type_name()),
            ));
        }
    };
    Ok(if secret { r.taint(true) } else { r })
}

fn index_of(v: &Value, i: &Value, span: Span) -> R {
    let secret = v.is_secret();
    let r = match (v.reveal(), i.reveal()) {
        (Value::List(items), Value::Int(n)) => {
            let len = items.len() as i64;
            let idx = if *n < 0 { len + n } else { *n };
            if idx < 0 || idx >= len {
                return Err(EvalError::new(
                    span,
                    format!("index {n} is out of range for a list of {len}"),
                ));
            }
            items[idx as usize].clone()
        }
        (Value::Object(_), Value::Str(k)) => field_of(v, k, span)?,
        (Value::Null, _) => Value::Null,
        (Value::Unknown, _) | (_, Value::Unknown) => Value::Unknown,
        (a, b) => {
            return Err(EvalError::new(
                span,
                format!("cannot index a {} with a {}", a.type_name(), b.type_name()),
            ));
        }
    };
    Ok(r.taint(secret))
}
