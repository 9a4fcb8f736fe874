//! Typing of expressions, in a scope that knows which names are bound.

use std::collections::HashMap;

use super::Cx;
use super::resolve::did_you_mean;
use super::types::{RESULT_FIELDS, T, Ty, assignable, result_field, unify};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

/// Where an expression sits, which decides the names it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// Instance and integration settings: `instance`, built-ins.
    Config,
    /// A method's request: its parameters too.
    Method,
    /// A method's outputs and pagination: `$`, `status`, `header()`, `body`, `json`.
    Output,
    /// A runbook body.
    Runbook,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binding {
    pub ty: T,
    pub span: Span,
    /// What bound the name, which decides whether it may be assigned.
    pub kind: BindKind,
}

/// What bound a name: only a `var` may be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindKind {
    Let,
    Var,
    Param,
    Step,
    Loop,
    /// Bound by different statements on different paths.
    Mixed,
}

pub(crate) type Vars = HashMap<String, Binding>;

/// Why a name defined in the runbook is not bound at a given point.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub span: Span,
    pub is_step: bool,
    pub loop_var: bool,
}

pub(crate) struct Scope<'a> {
    pub vars: &'a Vars,
    pub ctx: Ctx,
    /// Everything declared anywhere in the runbook, for "not bound here".
    pub declared: Option<&'a HashMap<String, Declared>>,
}

impl Cx<'_> {
    /// The type of `e`; every problem is reported, and `Any` is returned
    /// where the type is unknown so that nothing is reported twice.
    pub(crate) fn expr(&mut self, e: &Expr, scope: &Scope) -> T {
        let t = self.expr_type(e, scope);
        if let Some(types) = &mut self.types {
            types.push((e.span, t.clone()));
        }
        t
    }

    fn expr_type(&mut self, e: &Expr, scope: &Scope) -> T {
        match &e.kind {
            ExprKind::Int { .. } => T::new(Ty::Int),
            ExprKind::Float { .. } => T::new(Ty::Float),
            ExprKind::Bool(_) => T::new(Ty::Bool),
            ExprKind::Null => T::new(Ty::Null),
            ExprKind::Duration { .. } => T::new(Ty::Duration),
            ExprKind::Str(s) => self.string(s, scope),
            ExprKind::Paren(inner) => self.expr(inner, scope),
            ExprKind::List(items) => {
                let mut elem = Ty::Any;
                let mut secret = false;
                for (i, item) in items.iter().enumerate() {
                    let t = self.expr(item, scope);
                    secret |= t.secret;
                    elem = if i == 0 { t.ty } else { unify(&elem, &t.ty) };
                }
                T::secret(Ty::List(Box::new(elem)), secret)
            }
            ExprKind::Object(entries) => {
                let mut secret = false;
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for entry in entries {
                    if let Some(first) = seen.insert(&entry.key.name, entry.key.span) {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                format!("key `{}` appears twice in this object", entry.key.name),
                            )
                            .at(entry.key.span, "repeated here")
                            .also(first, "first here")
                            .help("each key of an object is written once"),
                        );
                    }
                    secret |= self.expr(&entry.value, scope).secret;
                }
                T::secret(Ty::Json, secret)
            }
            ExprKind::JsonPath(path) => {
                if scope.ctx != Ctx::Output {
                    self.misplaced(e.span, "`$` (a JSONPath query on the response)");
                } else if !jsonpath_is_valid(path) {
                    self.report(
                        Diagnostic::error(
                            codes::INVALID_JSONPATH,
                            format!("`{path}` is not a valid JSONPath query"),
                        )
                        .at(e.span, jsonpath_hint(path))
                        .help("JSONPath follows RFC 9535, e.g. `$.items[0].name`, `$.items[*].id`, `$..id`, `$[\"odd key\"]`"),
                    );
                }
                T::new(Ty::Json)
            }
            ExprKind::Name(id) => self.name(id, scope),
            ExprKind::Field(base, field) => {
                let bt = self.expr(base, scope);
                let t = self.field(&bt.ty, base, field);
                T::secret(t.ty, t.secret || bt.secret)
            }
            ExprKind::Index(base, idx) => {
                let bt = self.expr(base, scope);
                let it = self.expr(idx, scope);
                let ty = match bt.ty.strip_optional() {
                    Ty::Any => Ty::Any,
                    Ty::Json => {
                        if !matches!(it.ty, Ty::Int | Ty::Str | Ty::Json | Ty::Any) {
                            self.mismatch(idx.span, "an int or a string", &it);
                        }
                        Ty::Json
                    }
                    Ty::List(elem) => {
                        if !matches!(it.ty, Ty::Int | Ty::Json | Ty::Any) {
                            self.mismatch(idx.span, "an int", &it);
                        }
                        (**elem).clone()
                    }
                    Ty::Record(_) | Ty::Step(_) => {
                        self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                format!("a {} cannot be indexed", bt.ty),
                            )
                            .at(e.span, "indexed here")
                            .help("read its fields with `.name`"),
                        );
                        Ty::Any
                    }
                    _ => {
                        self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                format!("a {} cannot be indexed", bt.ty),
                            )
                            .at(base.span, format!("this is a {}", bt.ty))
                            .help("only lists and json values can be indexed with `[...]`"),
                        );
                        Ty::Any
                    }
                };
                T::secret(ty, bt.secret)
            }
            ExprKind::Call(call) => {
                if let Some(method) = &call.method {
                    self.report(
                        Diagnostic::error(
                            codes::MISPLACED_CALL,
                            format!(
                                "`{}.{}` is a method call, which only a step can make",
                                call.func.name, method.name
                            ),
                        )
                        .at(e.span, "method called inside an expression")
                        .help(format!(
                            "write `step result = {}.{}(...)` and use `result.<output>`; `for page in {}.{}(...)` iterates a paginated method",
                            call.func.name, method.name, call.func.name, method.name
                        )),
                    );
                    for a in &call.args {
                        self.expr(&a.value, scope);
                    }
                    return T::any();
                }
                self.builtin(call, e.span, scope)
            }
            ExprKind::Unary(op, inner) => {
                let t = self.expr(inner, scope);
                match op {
                    UnaryOp::Not => {
                        if !matches!(t.ty, Ty::Bool | Ty::Json | Ty::Any) {
                            self.mismatch(inner.span, "a bool", &t);
                        }
                        T::secret(Ty::Bool, t.secret)
                    }
                    UnaryOp::Neg => {
                        if !matches!(t.ty, Ty::Int | Ty::Float | Ty::Json | Ty::Any) {
                            self.mismatch(inner.span, "a number", &t);
                        }
                        t
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span, scope),
        }
    }

    fn string(&mut self, s: &StringLit, scope: &Scope) -> T {
        let mut secret = false;
        for part in &s.parts {
            if let StrPart::Interp(e) = part {
                secret |= self.expr(e, scope).secret;
            }
        }
        T::secret(Ty::Str, secret)
    }

    fn misplaced(&mut self, span: Span, what: &str) {
        self.report(
            Diagnostic::error(
                codes::MISPLACED_RESPONSE_VALUE,
                format!("{what} is only available in a method's `output` block"),
            )
            .at(span, "not inside `output { ... }`")
            .help("declare an output such as `id: int = $.id` on the method, then read it as `step_name.id`"),
        );
    }

    pub(crate) fn mismatch(&mut self, span: Span, expected: &str, found: &T) {
        self.report(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                format!("expected {expected}, found {found}"),
            )
            .at(span, format!("this is {}", article(&found.to_string())))
            .help(conversion_help(expected, &found.ty)),
        );
    }

    /// Reports unless `found` may be used where `expected` is wanted.
    pub(crate) fn expect_type(&mut self, span: Span, expected: &Ty, found: &T) {
        if !assignable(&found.ty, expected) {
            self.mismatch(span, &article(&expected.to_string()), found);
        }
    }

    fn name(&mut self, id: &Ident, scope: &Scope) -> T {
        if let Some(b) = scope.vars.get(&id.name) {
            return b.ty.clone();
        }
        match id.name.as_str() {
            "instance" => return self.instance_ty.clone(),
            "status" | "body" | "json" => {
                if scope.ctx == Ctx::Output {
                    return T::new(match id.name.as_str() {
                        "status" => Ty::Int,
                        "body" => Ty::Str,
                        _ => Ty::Json,
                    });
                }
                if scope.declared.is_none_or(|d| !d.contains_key(&id.name)) {
                    self.misplaced(id.span, &format!("`{}`", id.name));
                    return T::any();
                }
            }
            _ => {}
        }
        if let Some(decl) = scope.declared.and_then(|d| d.get(&id.name)) {
            let (code, what) = if decl.is_step {
                (codes::UNBOUND_STEP, "step")
            } else {
                (codes::UNBOUND_VARIABLE, "variable")
            };
            let later = decl.span.file == id.span.file && decl.span.start > id.span.start;
            let (label, help) = if later {
                (
                    "bound only later, here",
                    format!(
                        "`{}` does not exist yet at this point; move the read below it",
                        id.name
                    ),
                )
            } else if decl.loop_var {
                (
                    "the loop variable, which exists only inside its loop",
                    "read it inside the loop's body".to_string(),
                )
            } else if decl.is_step {
                (
                    "bound here, on a path that does not always reach the read",
                    "a step is bound after the statement that runs it, on the paths through it; a step in an `if`, an arm or another `parallel` branch may not have run here".to_string(),
                )
            } else {
                (
                    "bound here, on a path that does not always reach the read",
                    "bind the variable on every path that reaches this point, e.g. with a `let` before the `if`".to_string(),
                )
            };
            self.report(
                Diagnostic::error(code, format!("{what} `{}` may not be bound here", id.name))
                    .at(id.span, "read here")
                    .also(decl.span, label)
                    .help(help),
            );
            return T::any();
        }
        let mut candidates: Vec<&str> = scope.vars.keys().map(String::as_str).collect();
        candidates.push("instance");
        if scope.ctx == Ctx::Output {
            candidates.extend(["status", "body", "json"]);
        }
        let help = did_you_mean(&id.name, candidates.iter().copied(), "names in scope");
        let mut d = Diagnostic::error(
            codes::UNKNOWN_NAME,
            format!("`{}` is not defined here", id.name),
        )
        .at(id.span, "unknown name")
        .help(help);
        if self.program.integrations.contains_key(&id.name) {
            d = d.help(format!(
                "`{}` is an integration; call its methods in a step: `step x = {}.method(...)`",
                id.name, id.name
            ));
        }
        self.report(d);
        T::any()
    }

    fn field(&mut self, base_ty: &Ty, base: &Expr, field: &Ident) -> T {
        match base_ty {
            Ty::Any => T::any(),
            Ty::Json => T::new(Ty::Json),
            Ty::Optional(inner) if matches!(**inner, Ty::Json) => T::new(Ty::Json),
            Ty::Record(r) => {
                if let Some((_, t)) = r.fields.iter().find(|(n, _)| *n == field.name) {
                    return T::new(t.clone());
                }
                if r.open {
                    return T::new(Ty::Json);
                }
                let help = did_you_mean(
                    &field.name,
                    r.fields.iter().map(|(n, _)| n.as_str()),
                    "fields",
                );
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        format!("{} has no field `{}`", r.name, field.name),
                    )
                    .at(field.span, "unknown field")
                    .help(help),
                );
                T::any()
            }
            Ty::Step(s) => {
                if let Some(t) = result_field(&field.name) {
                    return T::new(t);
                }
                if let Some((_, t)) = s.outputs.iter().find(|(n, _)| *n == field.name) {
                    if !s.succeeded {
                        let mut d = Diagnostic::error(
                            codes::UNBOUND_OUTPUT,
                            format!(
                                "`{}.{}` is read where step `{}` may have failed",
                                s.step, field.name, s.step
                            ),
                        )
                        .at(base.span.to(field.span), "may be unset here");
                        if let Some(arm) = s.unset_by {
                            d = d.also(
                                arm,
                                "this else arm lets the runbook continue after a failure",
                            );
                        }
                        self.report(d.help(format!(
                            "make the arm `fail` or `return`, or test `{}.ok` and read the output only inside `if {}.ok {{ ... }}`",
                            s.step, s.step
                        )));
                        return T::any();
                    }
                    return T::secret(t.clone(), s.secrets.contains(&field.name));
                }
                if s.open {
                    return T::new(Ty::Json);
                }
                let names: Vec<&str> = s
                    .outputs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .chain(RESULT_FIELDS)
                    .collect();
                let help = did_you_mean(&field.name, names.iter().copied(), "outputs");
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        format!("{} has no output `{}`", s.target, field.name),
                    )
                    .at(field.span, "unknown output")
                    .help(help),
                );
                T::any()
            }
            Ty::List(elem) if matches!(**elem, Ty::Step(_)) => {
                self.report(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        format!("`.{}` is read from a list of step results", field.name),
                    )
                    .at(field.span, "this step ran once per item of a loop")
                    .help("after a `for`, the step is the list of per-item results: use `len(name)`, `name[0].field`, or loop over it"),
                );
                T::any()
            }
            Ty::Optional(_) => {
                self.report(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        format!("`.{}` is read from a value that may be null", field.name),
                    )
                    .at(
                        base.span,
                        format!("this is {}", article(&base_ty.to_string())),
                    )
                    .help("give a default first: `(value ?? fallback).field`"),
                );
                T::any()
            }
            other => {
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_FIELD,
                        format!("{} has no field `{}`", article(&other.to_string()), field.name),
                    )
                    .at(field.span, "no such field")
                    .help("fields are read from json values, step results, `instance` and the results of `run`"),
                );
                T::any()
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &Expr, b: &Expr, span: Span, scope: &Scope) -> T {
        let ta = self.expr(a, scope);
        let tb = self.expr(b, scope);
        let secret = ta.secret || tb.secret;
        let (x, y) = (&ta.ty, &tb.ty);
        let dynamic = x.is_dynamic() || y.is_dynamic();
        let ty = match op {
            BinaryOp::And | BinaryOp::Or => {
                for (t, e) in [(&ta, a), (&tb, b)] {
                    if !matches!(t.ty, Ty::Bool | Ty::Json | Ty::Any) {
                        self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                format!("`{}` needs bool operands, found {}", op.as_str(), t),
                            )
                            .at(e.span, format!("this is {}", article(&t.to_string())))
                            .help("compare it to get a bool, e.g. `x != \"\"` or `len(xs) > 0`"),
                        );
                    }
                }
                Ty::Bool
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                if !dynamic && !comparable(x, y) {
                    self.report(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            format!("{} and {} are never equal", ta, tb),
                        )
                        .at(span, "this comparison is always the same")
                        .also(a.span, format!("{ta}"))
                        .also(b.span, format!("{tb}"))
                        .help("convert one side first, e.g. `string(x)` or `int(x)`"),
                    );
                }
                Ty::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ok = dynamic
                    || (x.is_numeric() && y.is_numeric())
                    || (x == y && matches!(x, Ty::Str | Ty::Datetime | Ty::Duration));
                if !ok {
                    self.report(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            format!("cannot order {} and {}", ta, tb),
                        )
                        .at(span, "compared here")
                        .help("`<`, `<=`, `>`, `>=` compare two numbers, strings, datetimes or durations"),
                    );
                }
                Ty::Bool
            }
            BinaryOp::In | BinaryOp::Contains => {
                let (item, coll, ie, ce) = if op == BinaryOp::In {
                    (&ta, &tb, a, b)
                } else {
                    (&tb, &ta, b, a)
                };
                match coll.ty.strip_optional() {
                    Ty::Any | Ty::Json => {}
                    Ty::List(elem) => {
                        if !item.ty.is_dynamic()
                            && !elem.is_dynamic()
                            && !comparable(&item.ty, elem)
                        {
                            self.mismatch(ie.span, &article(&elem.to_string()), item);
                        }
                    }
                    Ty::Str => {
                        if !matches!(item.ty, Ty::Str | Ty::Json | Ty::Any) {
                            self.mismatch(ie.span, "a string", item);
                        }
                    }
                    Ty::Range => {
                        if !matches!(item.ty, Ty::Int | Ty::Json | Ty::Any) {
                            self.mismatch(ie.span, "an int", item);
                        }
                    }
                    _ => {
                        self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                format!("`{}` needs a list, string or range, found {}", op.as_str(), coll),
                            )
                            .at(ce.span, format!("this is {}", article(&coll.to_string())))
                            .help("`x in list`, `list contains x`, `text contains \"sub\"`, `status in 200..299`"),
                        );
                    }
                }
                Ty::Bool
            }
            BinaryOp::Coalesce => match x {
                Ty::Optional(inner) => {
                    if !assignable(y, inner) && !assignable(y, x) {
                        self.mismatch(b.span, &article(&inner.to_string()), &tb);
                    }
                    unify(inner, y)
                }
                Ty::Null => y.clone(),
                Ty::Json | Ty::Any => {
                    if y.is_dynamic() {
                        x.clone()
                    } else {
                        y.clone()
                    }
                }
                _ => x.clone(),
            },
            BinaryOp::Range => {
                for (t, e) in [(&ta, a), (&tb, b)] {
                    if !matches!(t.ty, Ty::Int | Ty::Json | Ty::Any) {
                        self.mismatch(e.span, "an int", t);
                    }
                }
                Ty::Range
            }
            BinaryOp::Add => match (x, y) {
                _ if dynamic => {
                    if x.is_any() || y.is_any() {
                        Ty::Any
                    } else {
                        Ty::Json
                    }
                }
                (Ty::Int, Ty::Int) => Ty::Int,
                (a2, b2) if a2.is_numeric() && b2.is_numeric() => Ty::Float,
                (Ty::Str, Ty::Str) => Ty::Str,
                (Ty::List(p), Ty::List(q)) => Ty::List(Box::new(unify(p, q))),
                (Ty::Datetime, Ty::Duration) | (Ty::Duration, Ty::Datetime) => Ty::Datetime,
                (Ty::Duration, Ty::Duration) => Ty::Duration,
                _ => self.bad_arith(op, &ta, &tb, span),
            },
            BinaryOp::Sub => match (x, y) {
                _ if dynamic => Ty::Json,
                (Ty::Int, Ty::Int) => Ty::Int,
                (a2, b2) if a2.is_numeric() && b2.is_numeric() => Ty::Float,
                (Ty::Datetime, Ty::Duration) => Ty::Datetime,
                (Ty::Datetime, Ty::Datetime) => Ty::Duration,
                (Ty::Duration, Ty::Duration) => Ty::Duration,
                _ => self.bad_arith(op, &ta, &tb, span),
            },
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match (x, y) {
                _ if dynamic => Ty::Json,
                (Ty::Int, Ty::Int) => Ty::Int,
                (a2, b2) if a2.is_numeric() && b2.is_numeric() => Ty::Float,
                (Ty::Duration, n) if n.is_numeric() && op != BinaryOp::Rem => Ty::Duration,
                (n, Ty::Duration) if n.is_numeric() && op == BinaryOp::Mul => Ty::Duration,
                _ => self.bad_arith(op, &ta, &tb, span),
            },
        };
        T::secret(ty, secret)
    }

    fn bad_arith(&mut self, op: BinaryOp, a: &T, b: &T, span: Span) -> Ty {
        self.report(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                format!("cannot apply `{}` to {} and {}", op.as_str(), a, b),
            )
            .at(span, "here")
            .help("`+` adds numbers, joins strings and lists, and adds a duration to a datetime; use `string(x)` or interpolation `\"{x}\"` to build text"),
        );
        Ty::Any
    }
}

/// Whether `==` between the two types can ever be true.
fn comparable(a: &Ty, b: &Ty) -> bool {
    let (a, b) = (a.strip_optional(), b.strip_optional());
    a == b
        || (a.is_numeric() && b.is_numeric())
        || matches!(a, Ty::Null | Ty::Any | Ty::Json)
        || matches!(b, Ty::Null | Ty::Any | Ty::Json)
        || matches!((a, b), (Ty::List(_), Ty::List(_)))
}

pub(crate) fn article(s: &str) -> String {
    let vowel = s
        .chars()
        .next()
        .is_some_and(|c| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u'));
    if s.starts_with('[') || s.starts_with("result") || s.starts_with("null") {
        s.to_string()
    } else if vowel {
        format!("an {s}")
    } else {
        format!("a {s}")
    }
}

fn conversion_help(expected: &str, found: &Ty) -> String {
    let target = expected
        .trim_start_matches("an ")
        .trim_start_matches("a ")
        .trim_end_matches('?');
    match (target, found) {
        ("string", _) => "convert with `string(x)` or interpolate: `\"{x}\"`".into(),
        ("int", Ty::Str | Ty::Float) => "convert with `int(x)`".into(),
        ("float", Ty::Str) => "convert with `float(x)`".into(),
        ("datetime", Ty::Str) => "parse it with `datetime(x)`".into(),
        ("bool", Ty::Optional(_)) => "give a default: `x ?? false`".into(),
        (_, Ty::Optional(_)) => "the value may be null; give a default with `x ?? fallback`".into(),
        _ => format!("this place needs {expected}"),
    }
}

fn jsonpath_hint(path: &str) -> String {
    let bytes: Vec<char> = path.chars().collect();
    for (i, c) in bytes.iter().enumerate() {
        if *c == '['
            && let Some(next) = bytes.get(i + 1)
            && (next.is_alphabetic() || *next == '_')
        {
            return "names in brackets are quoted: `$.users['id']` or `$.users[\"id\"]`".into();
        }
    }
    if path.ends_with('.') {
        return "the query ends with `.`; name a member after it".into();
    }
    "not a valid RFC 9535 query".into()
}

/// Whether jsonpath-rust accepts `path` (RFC 9535). Remembered per thread
/// (the answer depends only on the text): each parse costs about as much
/// as parsing a line of rbk, and a program, checked again on every
/// keystroke, repeats the same paths.
fn jsonpath_is_valid(path: &str) -> bool {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<String, bool>> = RefCell::new(HashMap::new());
    }
    if let Some(known) = SEEN.with(|m| m.borrow().get(path).copied()) {
        return known;
    }
    let valid = jsonpath_rust::parser::parse_json_path(path).is_ok();
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        // Bounded: an editor sends every half-typed path.
        if m.len() >= 4096 {
            m.clear();
        }
        m.insert(path.to_string(), valid);
    });
    valid
}
