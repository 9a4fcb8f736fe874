//! Methods: the request line and its path placeholders, bodies, expect,
//! outputs and pagination.

use std::collections::HashMap;

use super::Cx;
use super::expr::{BindKind, Binding, Ctx, Scope, Vars};
use super::resolve::did_you_mean;
use super::settings::{Field, Kind, RETRY, SETTING_CODES, f, req};
use super::types::{RESULT_FIELDS, T, Ty, assignable, resolve_type};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

const METHOD_ENTRIES: &[Field] = &[
    f("query", Kind::Map),
    f("headers", Kind::Map),
    f("auth", Kind::Custom),
    f("timeout", Kind::Duration),
    f("retry", Kind::Block(RETRY)),
    f(
        "max_response",
        Kind::IntIn(1, super::settings::MAX_RESPONSE_LIMIT),
    ),
    f("xml_namespaces", Kind::Map),
    // `rbk serve`: whether an interrupted request may be sent again.
    f("idempotent", Kind::Bool),
    f("idempotency_key", Kind::Str),
];

const PAGINATE_KINDS: &[&str] = &["next_url", "link_header", "cursor", "page"];

/// The declared outputs of a method and their types (json when untyped
/// and not otherwise known).
pub(crate) fn method_outputs(m: &Method) -> Vec<(String, Ty)> {
    let mut out = Vec::new();
    for item in &m.items {
        if let MethodItem::Output(block) = item {
            for field in &block.fields {
                let ty = match &field.ty {
                    Some(t) => resolve_type(t).map(|t| t.ty).unwrap_or(Ty::Any),
                    None => natural_type(&field.value),
                };
                out.push((field.name.name.clone(), ty));
            }
        }
    }
    out
}

/// The names of a method's outputs declared `secret`.
pub(crate) fn secret_outputs(m: &Method) -> Vec<String> {
    let mut out = Vec::new();
    for item in &m.items {
        if let MethodItem::Output(block) = item {
            for field in &block.fields {
                if let Some(t) = &field.ty
                    && resolve_type(t).is_ok_and(|t| t.secret)
                {
                    out.push(field.name.name.clone());
                }
            }
        }
    }
    out
}

/// The type of an untyped output, from its value's shape.
fn natural_type(e: &Expr) -> Ty {
    match &e.kind {
        ExprKind::Name(id) if id.name == "status" => Ty::Int,
        ExprKind::Name(id) if id.name == "body" => Ty::Str,
        ExprKind::Call(c) if c.func.name == "header" && c.method.is_none() => {
            Ty::Optional(Box::new(Ty::Str))
        }
        ExprKind::Int { .. } => Ty::Int,
        ExprKind::Str(_) => Ty::Str,
        ExprKind::Bool(_) => Ty::Bool,
        _ => Ty::Json,
    }
}

/// The parameters of a method or runbook as typed bindings.
pub(crate) fn param_vars(cx: &mut Cx, params: &[Param], ctx: Ctx) -> Vars {
    let mut vars = Vars::new();
    let empty = Vars::new();
    for p in params {
        let ty = match resolve_type(&p.ty) {
            Ok(t) => t,
            Err(id) => {
                cx.unknown_type(id);
                T::any()
            }
        };
        if let Some(first) = vars.get(&p.name.name) {
            cx.report(super::resolve::duplicate("parameters", &p.name, first.span));
            continue;
        }
        if let Some(d) = &p.default {
            let scope = Scope {
                vars: &empty,
                ctx: if ctx == Ctx::Runbook {
                    Ctx::Config
                } else {
                    ctx
                },
                declared: None,
            };
            let dt = cx.expr(d, &scope);
            cx.expect_type(d.span, &ty.ty, &dt);
        }
        vars.insert(
            p.name.name.clone(),
            Binding {
                ty,
                span: p.name.span,
                kind: BindKind::Param,
            },
        );
    }
    vars
}

impl Cx<'_> {
    pub(crate) fn unknown_type(&mut self, id: &Ident) {
        let help = did_you_mean(&id.name, super::types::TYPE_NAMES, "types");
        self.report(
            Diagnostic::error(
                codes::UNKNOWN_TYPE,
                format!("there is no type `{}`", id.name),
            )
            .at(id.span, "unknown type")
            .help(format!("{help} (lists are `[T]` and optional values `T?`)")),
        );
    }

    pub(super) fn check_method(&mut self, m: &Method) {
        if !self.program.integrations.contains_key(&m.integration.name) {
            let help = did_you_mean(
                &m.integration.name,
                self.program.integrations.keys().map(String::as_str),
                "integration",
            );
            self.report(
                Diagnostic::error(
                    codes::UNKNOWN_INTEGRATION,
                    format!("there is no integration `{}`", m.integration.name),
                )
                .at(m.integration.span, "unknown integration")
                .help(help),
            );
        }
        self.enter_method_xml(m);
        let vars = param_vars(self, &m.params, Ctx::Method);
        let scope = Scope {
            vars: &vars,
            ctx: Ctx::Method,
            declared: None,
        };
        let out_scope = Scope {
            vars: &vars,
            ctx: Ctx::Output,
            declared: None,
        };
        let mut request: Option<&Request> = None;
        let mut body: Option<&Body> = None;
        let mut expect: Option<Span> = None;
        let mut paginate: Option<Span> = None;
        let mut outputs: HashMap<&str, Span> = HashMap::new();
        let mut entries: HashMap<&str, Span> = HashMap::new();
        for item in &m.items {
            match item {
                MethodItem::Request(r) => {
                    if let Some(first) = request {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                "a method makes one request, but this one has two request lines",
                            )
                            .at(r.span, "second request line")
                            .also(first.span, "first request line")
                            .help("declare another method for the second request"),
                        );
                        continue;
                    }
                    request = Some(r);
                    self.check_path(&r.path, &vars, &scope);
                }
                MethodItem::Body(b) => {
                    if let Some(first) = body {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                "a request has one body, but this method declares two",
                            )
                            .at(b.span, "second body")
                            .also(first.span, "first body")
                            .help("keep one `body`"),
                        );
                        continue;
                    }
                    body = Some(b);
                    self.check_body(b, &scope);
                }
                MethodItem::Expect(e) => {
                    if let Some(first) = expect {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                "`expect` is given twice",
                            )
                            .at(e.span, "second `expect`")
                            .also(first, "first `expect`")
                            .help("list every accepted status in one `expect [...]`"),
                        );
                    }
                    expect = Some(e.span);
                    self.check_statuses(e, &scope);
                }
                MethodItem::Output(block) => {
                    for field in &block.fields {
                        if let Some(first) = outputs.insert(&field.name.name, field.name.span) {
                            self.report(super::resolve::duplicate("output", &field.name, first));
                        }
                        if RESULT_FIELDS.contains(&field.name.name.as_str()) {
                            self.report(
                                Diagnostic::error(
                                    codes::RESERVED_OUTPUT,
                                    format!("an output cannot be called `{}`", field.name.name),
                                )
                                .at(field.name.span, "every step result already has this field")
                                .help(format!(
                                    "rename it, e.g. `{}_value`; step results always have {}",
                                    field.name.name,
                                    RESULT_FIELDS.join(", ")
                                )),
                            );
                        }
                        let vt = self.expr(&field.value, &out_scope);
                        if let Some(t) = &field.ty {
                            match resolve_type(t) {
                                Ok(declared) => {
                                    if !assignable(&vt.ty, &declared.ty) {
                                        self.mismatch(
                                            field.value.span,
                                            &super::expr::article(&declared.ty.to_string()),
                                            &vt,
                                        );
                                    }
                                }
                                Err(id) => self.unknown_type(id),
                            }
                        }
                    }
                }
                MethodItem::Paginate(p) => {
                    if let Some(first) = paginate {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                "`paginate` is given twice",
                            )
                            .at(p.span, "second `paginate`")
                            .also(first, "first `paginate`")
                            .help("a method paginates one way"),
                        );
                    }
                    paginate = Some(p.span);
                    self.check_paginate(p, &out_scope);
                }
                MethodItem::Entry(e) => {
                    if let Some(first) = entries.insert(&e.key.name, e.key.span) {
                        self.duplicate_key(e, first);
                        continue;
                    }
                    match METHOD_ENTRIES.iter().find(|f| f.name == e.key.name) {
                        Some(f) if f.name == "auth" => self.check_auth_entry(e, &scope, true),
                        Some(f) => self.check_value(e, f.kind, &scope, SETTING_CODES),
                        None => {
                            let what = format!("method `{}.{}`", m.integration.name, m.name.name);
                            let mut fields = METHOD_ENTRIES.to_vec();
                            fields.extend([
                                f("body", Kind::Any),
                                f("expect", Kind::Any),
                                f("output", Kind::Any),
                                f("paginate", Kind::Any),
                            ]);
                            self.unknown_key(e, &fields, codes::UNKNOWN_SETTING, &what);
                        }
                    }
                }
            }
        }
        match request {
            None => self.report(
                Diagnostic::error(
                    codes::MISSING_REQUEST,
                    format!(
                        "method `{}.{}` has no request line",
                        m.integration.name, m.name.name
                    ),
                )
                .at(m.name.span, "what does this method send?")
                .help("add a line such as `GET \"/path/{param}\"` (GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)"),
            ),
            Some(r) => {
                if let (Some(b), Verb::Get | Verb::Head) = (body, r.verb) {
                    self.report(
                        Diagnostic::error(
                            codes::BODY_NOT_ALLOWED,
                            format!("a {} request cannot have a body", r.verb.as_str()),
                        )
                        .at(b.span, "body here")
                        .also(r.verb_span, format!("this is a {} request", r.verb.as_str()))
                        .help("send the values as `query { ... }`, or use POST/PUT/PATCH"),
                    );
                }
            }
        }
    }

    /// Every `{name}` in a request path must be a parameter (or `instance`).
    fn check_path(&mut self, path: &StringLit, vars: &Vars, scope: &Scope) {
        for part in &path.parts {
            let StrPart::Interp(e) = part else { continue };
            let root = root_name(e);
            match root {
                Some(id) if !vars.contains_key(&id.name) && id.name != "instance" => {
                    let help = match super::suggest(&id.name, vars.keys().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if vars.is_empty() => {
                            format!("declare it: `({}: string)` after the method name", id.name)
                        }
                        None => format!(
                            "the parameters are: {}; add `{}: string` to them",
                            {
                                let mut v: Vec<&str> = vars.keys().map(String::as_str).collect();
                                v.sort();
                                v.join(", ")
                            },
                            id.name
                        ),
                    };
                    self.report(
                        Diagnostic::error(
                            codes::PATH_PLACEHOLDER,
                            format!("path placeholder `{{{}}}` is not a parameter", id.name),
                        )
                        .at(id.span, "not a parameter of this method")
                        .help(help),
                    );
                }
                _ => {
                    self.expr(e, scope);
                }
            }
        }
    }

    fn check_body(&mut self, b: &Body, scope: &Scope) {
        match &b.kind {
            BodyKind::Json(e) => {
                self.expr(e, scope);
            }
            BodyKind::Form(block) | BodyKind::Multipart(block) => {
                let multipart = matches!(b.kind, BodyKind::Multipart(_));
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for e in &block.entries {
                    if let Some(first) = seen.insert(&e.key.name, e.key.span) {
                        self.duplicate_key(e, first);
                    }
                    match &e.value {
                        EntryValue::Expr {
                            value,
                            content_type,
                        } => {
                            let t = self.expr(value, scope);
                            if matches!(t.ty, Ty::Bytes) && !multipart {
                                self.mismatch(
                                    value.span,
                                    "text (files go in `body multipart`)",
                                    &t,
                                );
                            }
                            if let Some(ct) = content_type {
                                if multipart {
                                    let ct_t = self.expr(ct, scope);
                                    self.expect_type(ct.span, &Ty::Str, &ct_t);
                                } else {
                                    self.report(
                                        Diagnostic::error(
                                            codes::INVALID_SETTING,
                                            "`as` sets a part's content type, which only multipart bodies take",
                                        )
                                        .at(ct.span, "not allowed in a form body")
                                        .help("remove `as ...`, or use `body multipart { ... }`"),
                                    );
                                }
                            }
                        }
                        _ => self.report(
                            Diagnostic::error(
                                codes::INVALID_SETTING,
                                format!("`{}` must be `{} = value`", e.key.name, e.key.name),
                            )
                            .at(e.span, "not a value")
                            .help("form and multipart bodies hold `name = value` pairs"),
                        ),
                    }
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
                let t = if matches!(b.kind, BodyKind::Xml { .. }) {
                    self.xml_body(value, scope)
                } else {
                    self.expr(value, scope)
                };
                self.expect_type(value.span, &Ty::Str, &t);
                if let Some(ct) = content_type {
                    let ct_t = self.expr(ct, scope);
                    self.expect_type(ct.span, &Ty::Str, &ct_t);
                }
            }
            BodyKind::Bytes { path, content_type } => {
                let t = self.expr(path, scope);
                self.expect_type(path.span, &Ty::Str, &t);
                if let ExprKind::Str(s) = &path.kind
                    && let Some(rel) = s.as_plain()
                {
                    self.check_program_file(&rel, path.span);
                }
                if let Some(ct) = content_type {
                    let ct_t = self.expr(ct, scope);
                    self.expect_type(ct.span, &Ty::Str, &ct_t);
                }
            }
        }
    }

    fn check_paginate(&mut self, p: &Paginate, scope: &Scope) {
        let kind = p.kind.name.as_str();
        if !PAGINATE_KINDS.contains(&kind) {
            let help = match super::suggest(kind, PAGINATE_KINDS.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? pagination is one of: {}",
                    PAGINATE_KINDS.join(", ")
                ),
                None => format!("pagination is one of: {}", PAGINATE_KINDS.join(", ")),
            };
            self.report(
                Diagnostic::error(
                    codes::INVALID_SETTING,
                    format!("there is no pagination `{kind}`"),
                )
                .at(p.kind.span, "unknown pagination")
                .help(help),
            );
            return;
        }
        const MAX: Field = f("max_pages", Kind::IntIn(1, 1_000_000));
        const CURSOR: &[Field] = &[req("param", Kind::Str), req("next", Kind::Any), MAX];
        const PAGE: &[Field] = &[
            req("param", Kind::Str),
            f("size_param", Kind::Str),
            f("size", Kind::IntIn(1, 1_000_000)),
            f("start", Kind::Int),
            MAX,
        ];
        const ONLY_MAX: &[Field] = &[MAX];
        let fields: &[Field] = match kind {
            "cursor" => CURSOR,
            "page" => PAGE,
            _ => ONLY_MAX,
        };
        match (&p.value, kind) {
            (None, "next_url") => self.report(
                Diagnostic::error(
                    codes::MISSING_SETTING,
                    "`paginate next_url` needs the next page's URL",
                )
                .at(p.span, "expected `= $.path.to.next`")
                .help("write `paginate next_url = $.links.next`"),
            ),
            (Some(v), "next_url") => {
                self.expr(v, scope);
            }
            (Some(v), _) => self.report(
                Diagnostic::error(
                    codes::INVALID_SETTING,
                    format!("`paginate {kind}` takes no `= value`"),
                )
                .at(v.span, "not used")
                .help(format!(
                    "settings go in a block: `paginate {kind} {{ ... }}`"
                )),
            ),
            (None, _) => {}
        }
        let empty = Block {
            entries: Vec::new(),
            span: p.kind.span,
        };
        let options = p.options.as_ref().unwrap_or(&empty);
        let what = format!("`paginate {kind}`");
        self.check_block(options, fields, scope, SETTING_CODES, &what, p.kind.span);
    }
}

/// The variable at the root of `a.b[0]`.
fn root_name(e: &Expr) -> Option<&Ident> {
    match &e.kind {
        ExprKind::Name(id) => Some(id),
        ExprKind::Field(b, _) | ExprKind::Index(b, _) => root_name(b),
        _ => None,
    }
}
