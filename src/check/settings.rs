//! Configuration blocks: which keys each block takes, of which kind, and
//! which are required. Instances and integrations are checked here.

use std::collections::HashMap;
use std::rc::Rc;

use super::Cx;
use super::expr::{Ctx, Scope, Vars, article};
use super::types::{Record, T, Ty, assignable};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

/// The kind of value a setting takes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A string (secrets allowed).
    Str,
    Int,
    /// An int that a literal must keep within these bounds (inclusive).
    IntIn(i64, i64),
    Bool,
    Duration,
    /// One of these bare words (or the same as a string).
    Enum(&'static [&'static str]),
    /// A status, a range, or a list of them: `200`, `500..599`, `[429, 500..599]`.
    Statuses,
    /// `pem(...)` or `pfx(...)`.
    Cert,
    /// A string key, or a certificate.
    KeyOrCert,
    /// A block of free `key = value` pairs (headers, query, extra, claims).
    Map,
    /// A nested block with its own settings.
    Block(&'static [Field]),
    /// Anything (instance fields).
    Any,
    /// A list of HTTP verbs: `[GET, POST]` or `["GET", "POST"]`.
    Verbs,
    /// A list of origins: `["https://files.example.com"]`.
    Origins,
    /// Checked by its own code (`auth`, `per_instance`).
    Custom,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub(crate) const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

pub(crate) const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

pub(crate) const RETRY: &[Field] = &[
    f("attempts", Kind::IntIn(1, 100)),
    f("backoff", Kind::Duration),
    f("max_backoff", Kind::Duration),
    f("on", Kind::Statuses),
    f("methods", Kind::Verbs),
];

const RATE: &[Field] = &[
    f("requests", Kind::IntIn(1, 1_000_000_000)),
    f("per", Kind::Duration),
    f("concurrency", Kind::IntIn(1, 10_000)),
];

/// The largest `max_response`: 1 TiB.
pub(crate) const MAX_RESPONSE_LIMIT: i64 = 1 << 40;

const PROXY: &[Field] = &[
    req("url", Kind::Str),
    f("ca_cert", Kind::Str),
    f("username", Kind::Str),
    f("password", Kind::Str),
];

const TLS: &[Field] = &[f("ca_cert", Kind::Str), f("insecure", Kind::Bool)];

const INTEGRATION: &[Field] = &[
    req("base_url", Kind::Str),
    f("version", Kind::Str),
    f("notes", Kind::Str),
    f("timeout", Kind::Duration),
    f("headers", Kind::Map),
    f("retry", Kind::Block(RETRY)),
    f("rate", Kind::Block(RATE)),
    f("max_response", Kind::IntIn(1, MAX_RESPONSE_LIMIT)),
    f("trusted_origins", Kind::Origins),
    f("proxy", Kind::Block(PROXY)),
    f("tls", Kind::Block(TLS)),
    f("xml_namespaces", Kind::Map),
    f("idempotency_key", Kind::Str),
    // `auth KIND { ... }` is checked by the auth module.
    f("auth", Kind::Custom),
];

/// What the problems of a block are reported as.
#[derive(Clone, Copy)]
pub(crate) struct Codes {
    pub unknown: &'static str,
    pub missing: &'static str,
}

pub(crate) const SETTING_CODES: Codes = Codes {
    unknown: codes::UNKNOWN_SETTING,
    missing: codes::MISSING_SETTING,
};

/// The `instance` record: `name`, `url` and every field each instance sets
/// (a field only some instances set may be null).
pub(crate) fn instance_type(program: &super::Program) -> T {
    let instances: Vec<&Instance> = program.all_instances().collect();
    let mut fields: Vec<(String, Ty)> = vec![("name".into(), Ty::Str), ("url".into(), Ty::Str)];
    let mut counts: HashMap<String, usize> = HashMap::new();
    for inst in &instances {
        for e in &inst.body.entries {
            if e.key.name != "url" && e.key.name != "name" {
                *counts.entry(e.key.name.clone()).or_default() += 1;
            }
        }
    }
    let mut names: Vec<_> = counts.into_iter().collect();
    names.sort();
    for (name, n) in names {
        let ty = if n == instances.len() {
            Ty::Json
        } else {
            Ty::Json.optional()
        };
        fields.push((name, ty));
    }
    T::new(Ty::Record(Rc::new(Record {
        name: "instance".into(),
        fields,
        open: false,
    })))
}

impl Cx<'_> {
    pub(super) fn check_instance(&mut self, inst: &Instance) {
        let vars = Vars::new();
        let scope = Scope {
            vars: &vars,
            ctx: Ctx::Config,
            declared: None,
        };
        const INSTANCE: &[Field] = &[req("url", Kind::Str)];
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for e in &inst.body.entries {
            if let Some(first) = seen.insert(&e.key.name, e.key.span) {
                self.duplicate_key(e, first);
            }
            match e.key.name.as_str() {
                "url" => self.check_value(e, INSTANCE[0].kind, &scope, SETTING_CODES),
                _ => match &e.value {
                    EntryValue::Expr { value, .. } => {
                        if let ExprKind::Name(id) = &value.kind
                            && id.name == "instance"
                        {
                            continue;
                        }
                        self.expr(value, &scope);
                    }
                    _ => self.report(
                        Diagnostic::error(
                            codes::INVALID_SETTING,
                            format!(
                                "instance field `{}` must be `{} = value`",
                                e.key.name, e.key.name
                            ),
                        )
                        .at(e.span, "not a value")
                        .help("instance fields are plain values, e.g. `region = \"eu\"`"),
                    ),
                },
            }
        }
        if inst.body.get("url").is_none() {
            self.report(
                Diagnostic::error(
                    codes::MISSING_SETTING,
                    format!("instance `{}` has no `url`", inst.name.name),
                )
                .at(inst.name.span, "`url` missing")
                .help("write `instance NAME { url = \"https://...\" }`; `{instance.url}` is where its methods go"),
            );
        }
    }

    pub(super) fn check_integration(&mut self, integ: &Integration) {
        let vars = Vars::new();
        let scope = Scope {
            vars: &vars,
            ctx: Ctx::Config,
            declared: None,
        };
        let what = format!("integration `{}`", integ.name.name);
        self.check_block(
            &integ.body,
            INTEGRATION,
            &scope,
            SETTING_CODES,
            &what,
            integ.name.span,
        );
        if let Some(auth) = integ.body.get("auth") {
            self.check_auth_entry(auth, &scope, false);
        }
        if let Some(e) = integ.body.get("xml_namespaces") {
            self.check_xml_namespaces(e);
        }
        if let Some(tls) = integ.body.get("tls")
            && let EntryValue::Block { block, .. } = &tls.value
            && let Some(e) = block.get("insecure")
            && let EntryValue::Expr { value, .. } = &e.value
            && matches!(value.kind, ExprKind::Bool(true))
        {
            self.report(
                                Diagnostic::warning(
                                    codes::INSECURE_TLS,
                                    format!("{what} does not verify TLS certificates"),
                                )
                                .at(e.span, "certificate verification is off")
                                .help("anyone on the network path can read and change this traffic; give the server's CA with `tls { ca_cert = file(\"ca.pem\") }` instead"),
                            );
        }
    }

    /// Checks the entries of a block against its fields: unknown keys,
    /// repeated keys, value kinds and required keys.
    pub(crate) fn check_block(
        &mut self,
        block: &Block,
        fields: &[Field],
        scope: &Scope,
        codes: Codes,
        what: &str,
        anchor: Span,
    ) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for e in &block.entries {
            if let Some(first) = seen.insert(&e.key.name, e.key.span) {
                self.duplicate_key(e, first);
                continue;
            }
            match fields.iter().find(|fl| fl.name == e.key.name) {
                Some(Field {
                    kind: Kind::Custom, ..
                }) => {}
                Some(fl) => self.check_value(e, fl.kind, scope, codes),
                None => self.unknown_key(e, fields, codes.unknown, what),
            }
        }
        for fl in fields.iter().filter(|fl| fl.required) {
            if !seen.contains_key(fl.name) {
                self.report(
                    Diagnostic::error(codes.missing, format!("{what} needs `{}`", fl.name))
                        .at(anchor, format!("`{}` missing", fl.name))
                        .help(format!("add `{}`", example(fl))),
                );
            }
        }
    }

    pub(crate) fn duplicate_key(&mut self, e: &Entry, first: Span) {
        self.report(
            Diagnostic::error(
                codes::DUPLICATE_DEFINITION,
                format!("`{}` is set twice", e.key.name),
            )
            .at(e.key.span, "set again here")
            .also(first, "first set here")
            .help("remove one of them"),
        );
    }

    pub(crate) fn unknown_key(
        &mut self,
        e: &Entry,
        fields: &[Field],
        code: &'static str,
        what: &str,
    ) {
        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
        let help = match super::suggest(&e.key.name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? {what} takes: {}", names.join(", ")),
            None if names.is_empty() => format!("{what} takes no settings"),
            None => format!("{what} takes: {}", names.join(", ")),
        };
        self.report(
            Diagnostic::error(code, format!("{what} has no setting `{}`", e.key.name))
                .at(e.key.span, "unknown setting")
                .help(help),
        );
    }

    /// Checks one entry's value against the kind its key takes.
    pub(crate) fn check_value(&mut self, e: &Entry, kind: Kind, scope: &Scope, codes: Codes) {
        match (kind, &e.value) {
            (Kind::Map, EntryValue::Block { label: None, block }) => {
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for inner in &block.entries {
                    if let Some(first) = seen.insert(&inner.key.name, inner.key.span) {
                        self.duplicate_key(inner, first);
                    }
                    match &inner.value {
                        EntryValue::Expr {
                            value,
                            content_type,
                        } => {
                            let t = self.expr(value, scope);
                            if matches!(
                                t.ty,
                                Ty::Step(_) | Ty::Record(_) | Ty::Bytes | Ty::Certificate
                            ) {
                                self.mismatch(value.span, "a text, number, bool or json value", &t);
                            }
                            if let Some(ct) = content_type {
                                self.report(
                                    Diagnostic::error(
                                        codes::INVALID_SETTING,
                                        "`as` sets a content type, which only multipart parts take",
                                    )
                                    .at(ct.span, "not allowed here")
                                    .help("remove `as ...`"),
                                );
                            }
                        }
                        _ => self.report(
                            Diagnostic::error(
                                codes::INVALID_SETTING,
                                format!(
                                    "`{}` in `{}` must be `{} = value`",
                                    inner.key.name, e.key.name, inner.key.name
                                ),
                            )
                            .at(inner.span, "not a value")
                            .help(format!("`{}` holds plain `name = value` pairs", e.key.name)),
                        ),
                    }
                }
            }
            (Kind::Block(fields), EntryValue::Block { label: None, block }) => {
                let what = format!("`{}`", e.key.name);
                self.check_block(block, fields, scope, codes, &what, e.key.span);
            }
            (Kind::Map | Kind::Block(_), _) => {
                self.report(
                    Diagnostic::error(
                        codes::INVALID_SETTING,
                        format!("`{}` is a block", e.key.name),
                    )
                    .at(e.span, "expected `{ ... }`")
                    .help(format!("write `{} {{ key = value }}`", e.key.name)),
                );
            }
            (
                kind,
                EntryValue::Expr {
                    value,
                    content_type,
                },
            ) => {
                if let Some(ct) = content_type {
                    self.report(
                        Diagnostic::error(
                            codes::INVALID_SETTING,
                            "`as` sets a content type, which only multipart parts take",
                        )
                        .at(ct.span, "not allowed here")
                        .help("remove `as ...`"),
                    );
                }
                self.check_kind(&e.key.name, value, kind, scope);
            }
            (_, _) => {
                self.report(
                    Diagnostic::error(
                        codes::INVALID_SETTING,
                        format!("`{}` takes a value", e.key.name),
                    )
                    .at(e.span, "expected `= value`")
                    .help(format!("write `{} = ...`", e.key.name)),
                );
            }
        }
    }

    pub(crate) fn check_kind(&mut self, key: &str, value: &Expr, kind: Kind, scope: &Scope) {
        match kind {
            Kind::Enum(options) => {
                let word = match &value.kind {
                    ExprKind::Name(id) => Some(id.name.clone()),
                    ExprKind::Str(s) => s.as_plain(),
                    _ => None,
                };
                match word {
                    Some(w) if options.contains(&w.as_str()) => {}
                    Some(w) => {
                        let help = match super::suggest(&w, options.iter().copied()) {
                            Some(s) => format!(
                                "did you mean `{s}`? `{key}` is one of: {}",
                                options.join(", ")
                            ),
                            None => format!("`{key}` is one of: {}", options.join(", ")),
                        };
                        self.report(
                            Diagnostic::error(
                                codes::INVALID_SETTING,
                                format!("`{w}` is not a valid `{key}`"),
                            )
                            .at(value.span, "unknown value")
                            .help(help),
                        );
                    }
                    None => self.report(
                        Diagnostic::error(
                            codes::INVALID_SETTING,
                            format!("`{key}` takes one of: {}", options.join(", ")),
                        )
                        .at(value.span, "expected a word")
                        .help(format!("write e.g. `{key} = {}`", options[0])),
                    ),
                }
            }
            Kind::Statuses => self.check_statuses(value, scope),
            Kind::Verbs => {
                let items: Vec<&Expr> = match &value.kind {
                    ExprKind::List(items) => items.iter().collect(),
                    _ => vec![value],
                };
                for item in items {
                    let word = match &item.kind {
                        ExprKind::Name(id) => Some(id.name.clone()),
                        ExprKind::Str(s) => s.as_plain(),
                        _ => None,
                    };
                    if word.is_none_or(|w| Verb::parse(&w).is_none()) {
                        self.report(
                            Diagnostic::error(
                                codes::INVALID_SETTING,
                                format!("`{key}` lists HTTP verbs"),
                            )
                            .at(item.span, "not an HTTP verb")
                            .help("write e.g. `methods = [GET, PUT, POST]` (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)"),
                        );
                    }
                }
            }
            Kind::Origins => {
                let items: Vec<&Expr> = match &value.kind {
                    ExprKind::List(items) => items.iter().collect(),
                    _ => vec![value],
                };
                for item in items {
                    let t = self.expr(item, scope);
                    let bad = match &item.kind {
                        ExprKind::Str(s) => s.as_plain().map(|o| origin_problem(&o)),
                        _ => {
                            (!assignable(&t.ty, &Ty::Str)).then(|| Some("not a string".to_string()))
                        }
                    };
                    if let Some(Some(problem)) = bad {
                        self.report(
                            Diagnostic::error(
                                codes::INVALID_SETTING,
                                format!("`{key}` lists origins: {problem}"),
                            )
                            .at(item.span, "not an origin")
                            .help("write e.g. `trusted_origins = [\"https://files.example.com\"]`: a scheme, a host and an optional port, no path"),
                        );
                    }
                }
                if !matches!(value.kind, ExprKind::List(_)) {
                    self.report(
                        Diagnostic::error(codes::INVALID_SETTING, format!("`{key}` takes a list"))
                            .at(value.span, "not a list")
                            .help(format!("write `{key} = [\"https://files.example.com\"]`")),
                    );
                }
            }
            Kind::Any => {
                self.expr(value, scope);
            }
            Kind::Map | Kind::Block(_) | Kind::Custom => {}
            _ => {
                let t = self.expr(value, scope);
                let (ok, expected) = match kind {
                    Kind::Str => (assignable(&t.ty, &Ty::Str), "a string"),
                    Kind::Int | Kind::IntIn(..) => (assignable(&t.ty, &Ty::Int), "an int"),
                    Kind::Bool => (assignable(&t.ty, &Ty::Bool), "a bool"),
                    Kind::Duration => {
                        (assignable(&t.ty, &Ty::Duration), "a duration such as `30s`")
                    }
                    Kind::Cert => (
                        matches!(t.ty, Ty::Certificate | Ty::Any),
                        "a certificate: `pem(cert: ..., key: ...)` or `pfx(bytes(\"...\"), password: ...)`",
                    ),
                    Kind::KeyOrCert => (
                        matches!(t.ty, Ty::Certificate | Ty::Any) || assignable(&t.ty, &Ty::Str),
                        "a key (a secret or a PEM text) or a certificate",
                    ),
                    _ => (true, ""),
                };
                if let Kind::IntIn(min, max) = kind
                    && let Some(n) = int_literal(value)
                    && !(min..=max).contains(&n)
                {
                    self.report(
                        Diagnostic::error(
                            codes::INVALID_SETTING,
                            format!("`{key}` is {n}, outside {min} to {max}"),
                        )
                        .at(value.span, "out of range")
                        .help(format!("`{key}` takes an int from {min} to {max}")),
                    );
                }
                if !ok {
                    self.report(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            format!("`{key}` takes {expected}, found {t}"),
                        )
                        .at(value.span, format!("this is {}", article(&t.to_string())))
                        .help(format!("`{key}` takes {expected}")),
                    );
                }
            }
        }
    }

    /// `200`, `200..299`, `[200, 204, 300..399]`, each within 100..=599.
    pub(crate) fn check_statuses(&mut self, value: &Expr, scope: &Scope) {
        match &value.kind {
            ExprKind::List(items) => {
                for i in items {
                    self.check_status_item(i, scope);
                }
            }
            _ => self.check_status_item(value, scope),
        }
    }

    fn check_status_item(&mut self, e: &Expr, scope: &Scope) {
        let bad = |s: i64| !(100..=599).contains(&s);
        match &e.kind {
            ExprKind::Int { value, .. } if bad(*value) => self.bad_status(e.span),
            ExprKind::Int { .. } => {}
            ExprKind::Binary(BinaryOp::Range, a, b) => match (&a.kind, &b.kind) {
                (ExprKind::Int { value: x, .. }, ExprKind::Int { value: y, .. }) => {
                    if bad(*x) || bad(*y) || x > y {
                        self.bad_status(e.span);
                    }
                }
                _ => self.bad_status(e.span),
            },
            _ => {
                let t = self.expr(e, scope);
                if !matches!(t.ty, Ty::Int | Ty::Range | Ty::Any) {
                    self.bad_status(e.span);
                }
            }
        }
    }

    fn bad_status(&mut self, span: Span) {
        self.report(
            Diagnostic::error(
                codes::INVALID_PATTERN,
                "expected an HTTP status (100 to 599) or a range of them",
            )
            .at(span, "not a status or status range")
            .help("write e.g. `200`, `200..299` or `[200, 204, 300..399]`; a range's start is not above its end"),
        );
    }
}

fn example(f: &Field) -> String {
    match f.kind {
        Kind::Str => format!("{} = \"...\"", f.name),
        Kind::Int | Kind::IntIn(..) => format!("{} = 1", f.name),
        Kind::Bool => format!("{} = true", f.name),
        Kind::Duration => format!("{} = 30s", f.name),
        Kind::Enum(options) => format!("{} = {}", f.name, options.join(" | ")),
        Kind::Statuses => format!("{} = [200..299]", f.name),
        Kind::Cert => format!(
            "{} = pem(cert: file(\"c.pem\"), key: secret(\"KEY\"))",
            f.name
        ),
        Kind::KeyOrCert => format!("{} = secret(\"KEY\")", f.name),
        Kind::Map | Kind::Block(_) => format!("{} {{ ... }}", f.name),
        Kind::Verbs => format!("{} = [GET, PUT]", f.name),
        Kind::Origins => format!("{} = [\"https://files.example.com\"]", f.name),
        Kind::Any | Kind::Custom => format!("{} = ...", f.name),
    }
}

/// The expected list of a schema, for help texts.
pub(crate) fn field_names(fields: &[Field]) -> String {
    fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

/// Used by instance checks to name the declared instances.
pub(crate) fn instance_names(program: &super::Program) -> Vec<String> {
    program
        .all_instances()
        .map(|i| i.name.name.clone())
        .collect()
}

/// The value of an int literal, `-5` included.
fn int_literal(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int { value, .. } => Some(*value),
        ExprKind::Paren(inner) => int_literal(inner),
        ExprKind::Unary(UnaryOp::Neg, inner) => int_literal(inner).map(|v| v.saturating_neg()),
        _ => None,
    }
}

/// What is wrong with `text` as an origin (`https://host[:port]`), if anything.
fn origin_problem(text: &str) -> Option<String> {
    let Ok(u) = reqwest::Url::parse(text) else {
        return Some(format!("`{text}` is not a URL"));
    };
    if !matches!(u.scheme(), "http" | "https") {
        return Some(format!("`{text}` is not http or https"));
    }
    if u.host_str().is_none() {
        return Some(format!("`{text}` has no host"));
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() || !u.username().is_empty()
    {
        return Some(format!("`{text}` has more than a scheme, host and port"));
    }
    None
}
