//! `trigger webhook` and `trigger schedule`: where they stand, their
//! settings, and the cron expression (checked by croner).

use super::Cx;
use super::expr::{Ctx, Scope};
use super::flow::*;
use super::types::{Ty, assignable, resolve_type};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

impl<'p> Cx<'p> {
    pub(super) fn trigger(&mut self, t: &Trigger, span: Span, at_top: bool, state: &State) {
        if !at_top {
            self.report(
                Diagnostic::error(
                    codes::INVALID_SETTING,
                    "a trigger belongs at the top of its runbook",
                )
                .at(span, "trigger after other statements")
                .help("move every `trigger` above the runbook's first statement"),
            );
        }
        let scope = Scope {
            vars: &state.vars,
            ctx: Ctx::Config,
            declared: None,
        };
        match t.kind.name.as_str() {
            "webhook" => {
                match &t.value {
                    Some(v) => {
                        let vt = self.expr(v, &scope);
                        self.expect_type(v.span, &Ty::Str, &vt);
                        if let ExprKind::Str(s) = &v.kind
                            && s.as_plain().is_some_and(|p| !p.starts_with('/'))
                        {
                            self.report(
                                Diagnostic::error(
                                    codes::INVALID_SETTING,
                                    "a webhook path starts with `/`",
                                )
                                .at(v.span, "not a path")
                                .help("write e.g. `trigger webhook \"/hooks/onboard\"`"),
                            );
                        }
                    }
                    None => self.report(
                        Diagnostic::error(codes::MISSING_SETTING, "a webhook trigger needs a path")
                            .at(t.kind.span, "path missing")
                            .help("write `trigger webhook \"/hooks/name\"`"),
                    ),
                }
                if let Some(opts) = &t.options {
                    self.webhook_options(opts, &scope);
                }
            }
            "schedule" => {
                match &t.value {
                    Some(v) => {
                        let problem = match &v.kind {
                            ExprKind::Str(s) => match s.as_plain() {
                                Some(c) => cron_problem(&c),
                                None => Some("it cannot interpolate values".to_string()),
                            },
                            _ => Some("it is not a string".to_string()),
                        };
                        if let Some(problem) = problem {
                            self.report(
                                Diagnostic::error(
                                    codes::INVALID_SETTING,
                                    format!("this is not a valid cron schedule: {problem}"),
                                )
                                .at(v.span, "not a cron expression")
                                .help("five fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or JAN-DEC) day-of-week (0-7 or SUN-SAT), e.g. `\"0 9 * * MON-FRI\"`"),
                            );
                        }
                    }
                    None => self.report(
                        Diagnostic::error(
                            codes::MISSING_SETTING,
                            "a schedule trigger needs a cron expression",
                        )
                        .at(t.kind.span, "schedule missing")
                        .help("write `trigger schedule \"0 9 * * MON-FRI\"`"),
                    ),
                }
                if let Some(o) = &t.options {
                    for e in &o.entries {
                        match e.key.name.as_str() {
                            "args" => self.trigger_args_block(e, &scope),
                            "catch_up" => {
                                let ok = matches!(&e.value, EntryValue::Label(l) if l.name == "none" || l.name == "one")
                                    || matches!(&e.value, EntryValue::Expr { value, .. } if matches!(&value.kind, ExprKind::Name(n) if n.name == "none" || n.name == "one"));
                                if !ok {
                                    self.report(
                                        Diagnostic::error(
                                            codes::INVALID_SETTING,
                                            "`catch_up` is `none` or `one`",
                                        )
                                        .at(e.span, "not a catch-up policy")
                                        .help("write `catch_up = none` to skip missed fire times"),
                                    );
                                }
                            }
                            _ => self.unknown_key(
                                e,
                                &[
                                    super::settings::f("args", super::settings::Kind::Any),
                                    super::settings::f("catch_up", super::settings::Kind::Any),
                                ],
                                codes::UNKNOWN_SETTING,
                                "a schedule trigger",
                            ),
                        }
                    }
                }
            }
            other => {
                let help = match super::suggest(other, ["webhook", "schedule"]) {
                    Some(s) => format!("did you mean `{s}`? triggers are `webhook` and `schedule`"),
                    None => "triggers are `webhook` and `schedule`".to_string(),
                };
                self.report(
                    Diagnostic::error(
                        codes::INVALID_SETTING,
                        format!("there is no trigger `{other}`"),
                    )
                    .at(t.kind.span, "unknown trigger")
                    .help(help),
                );
            }
        }
    }
}

/// What is wrong with a cron expression (five fields, or six with
/// seconds first), by croner: the field at fault named where one is.
///
/// Remembered per thread (the answer depends only on the text): croner
/// takes about 0.1 ms for one expression, and a program, checked again on
/// every keystroke, repeats the same few schedules.
fn cron_problem(c: &str) -> Option<String> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    }
    if let Some(known) = SEEN.with(|m| m.borrow().get(c).cloned()) {
        return known;
    }
    let answer = cron_problem_uncached(c);
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        // Bounded: an editor sends every half-typed expression.
        if m.len() >= 256 {
            m.clear();
        }
        m.insert(c.to_string(), answer.clone());
    });
    answer
}

fn cron_problem_uncached(c: &str) -> Option<String> {
    use croner::parser::{CronParser, Seconds};
    let parser = CronParser::builder().seconds(Seconds::Optional).build();
    let err = match parser.parse(c) {
        Ok(_) => return None,
        Err(e) => e,
    };
    let fields: Vec<&str> = c.split_whitespace().collect();
    let names: &[&str] = match fields.len() {
        5 => &["minute", "hour", "day-of-month", "month", "day-of-week"],
        6 => &[
            "second",
            "minute",
            "hour",
            "day-of-month",
            "month",
            "day-of-week",
        ],
        n => return Some(format!("it has {n} fields, not five")),
    };
    // The field that, replaced by `*`, makes the rest valid is the culprit.
    for (i, field) in fields.iter().enumerate() {
        let mut fixed = fields.clone();
        fixed[i] = "*";
        if parser.parse(&fixed.join(" ")).is_ok() {
            return Some(format!(
                "the {} field `{field}` is out of range or malformed",
                names[i]
            ));
        }
    }
    Some(err.to_string())
}

impl<'p> Cx<'p> {
    /// `verify`, `dedupe`, `args` and `max_body` of a webhook trigger.
    fn webhook_options(&mut self, opts: &Block, scope: &Scope) {
        use super::settings::{Kind, f};
        let request = Scope {
            vars: scope.vars,
            ctx: Ctx::Output,
            declared: None,
        };
        for e in &opts.entries {
            match e.key.name.as_str() {
                "verify" => self.verify_entry(e, scope),
                "args" => self.trigger_args_block(e, &request),
                "dedupe" => match &e.value {
                    EntryValue::Expr { value, .. } => {
                        self.expr(value, &request);
                    }
                    _ => self.report(
                        Diagnostic::error(codes::INVALID_SETTING, "`dedupe` takes a value")
                            .at(e.span, "not a value")
                            .help("write e.g. `dedupe = header(\"X-Delivery\")`"),
                    ),
                },
                "max_body" => self.check_value(
                    e,
                    Kind::IntIn(1, 1 << 30),
                    scope,
                    super::settings::SETTING_CODES,
                ),
                _ => self.unknown_key(
                    e,
                    &[
                        f("verify", Kind::Any),
                        f("dedupe", Kind::Any),
                        f("args", Kind::Any),
                        f("max_body", Kind::Any),
                    ],
                    codes::UNKNOWN_SETTING,
                    "a webhook trigger",
                ),
            }
        }
    }

    /// `verify sign_hmac { ..., max_age = 5m }` or `verify token { header, value }`.
    fn verify_entry(&mut self, e: &Entry, scope: &Scope) {
        use super::settings::{Kind, f, req};
        let (label, block) = match &e.value {
            EntryValue::Block {
                label: Some(l),
                block,
            } => (l, block),
            _ => {
                self.report(
                    Diagnostic::error(codes::INVALID_SETTING, "`verify` needs a kind")
                        .at(e.span, "expected `verify sign_hmac { ... }` or `verify token { ... }`")
                        .help("write `verify sign_hmac { key = secret(\"K\"), header = \"X-Signature\" }`"),
                );
                return;
            }
        };
        match label.name.as_str() {
            "sign_hmac" => {
                let mut rest = block.clone();
                rest.entries.retain(|x| x.key.name != "max_age");
                if let Some(age) = block.get("max_age") {
                    self.check_value(age, Kind::Duration, scope, super::settings::SETTING_CODES);
                }
                self.check_auth(label, Some(&rest), e.key.span, scope, false);
            }
            "token" => {
                const TOKEN: &[super::settings::Field] =
                    &[req("header", Kind::Str), req("value", Kind::Str)];
                self.check_block(
                    block,
                    TOKEN,
                    scope,
                    super::settings::SETTING_CODES,
                    "`verify token`",
                    label.span,
                );
                self.hardcoded(block);
            }
            other => {
                let _ = f;
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_AUTH_KIND,
                        format!("a webhook cannot verify with `{other}`"),
                    )
                    .at(label.span, "not a verification")
                    .help("`verify` takes `sign_hmac { ... }` or `token { header, value }`"),
                );
            }
        }
    }

    /// `args { PARAM = SOURCE }`: the sources' own problems (names, types
    /// of the runbook's parameters are checked by [`Cx::trigger_params`]).
    fn trigger_args_block(&mut self, e: &Entry, scope: &Scope) {
        match &e.value {
            EntryValue::Block { label: None, block } => {
                let _ = scope;
                for inner in &block.entries {
                    if !matches!(inner.value, EntryValue::Expr { .. }) {
                        self.report(
                            Diagnostic::error(codes::INVALID_SETTING, "an argument takes a value")
                                .at(inner.span, "not a value")
                                .help("write `PARAM = SOURCE`, e.g. `ticket_id = $.ticket.id`"),
                        );
                    }
                }
            }
            _ => self.report(
                Diagnostic::error(codes::INVALID_SETTING, "`args` is a block")
                    .at(e.span, "not a block")
                    .help("write `args { ticket_id = $.ticket.id }`"),
            ),
        }
    }

    /// Every trigger of `rb` supplies each parameter without a default,
    /// names only parameters, and gives each a source of a fitting type.
    pub(super) fn trigger_params(&mut self, rb: &Runbook) {
        for s in &rb.body.stmts {
            let StmtKind::Trigger(t) = &s.kind else {
                continue;
            };
            let ctx = if t.kind.name == "webhook" {
                Ctx::Output
            } else {
                Ctx::Config
            };
            let empty = super::expr::Vars::new();
            let scope = Scope {
                vars: &empty,
                ctx,
                declared: None,
            };
            let args = t
                .options
                .as_ref()
                .and_then(|o| o.get("args"))
                .and_then(|e| match &e.value {
                    EntryValue::Block { label: None, block } => Some(block),
                    _ => None,
                });
            let given: Vec<&Entry> = args.map(|b| b.entries.iter().collect()).unwrap_or_default();
            for e in &given {
                let Some(p) = rb.params.iter().find(|p| p.name.name == e.key.name) else {
                    let names: Vec<&str> = rb.params.iter().map(|p| p.name.name.as_str()).collect();
                    self.report(
                        Diagnostic::error(
                            codes::UNKNOWN_ARGUMENT,
                            format!(
                                "runbook `{}` has no parameter `{}`",
                                rb.name.name, e.key.name
                            ),
                        )
                        .at(e.key.span, "unknown parameter")
                        .help(
                            match super::suggest(&e.key.name, names.iter().copied()) {
                                Some(n) => format!("did you mean `{n}`?"),
                                None => format!("the parameters are: {}", names.join(", ")),
                            },
                        ),
                    );
                    continue;
                };
                let (EntryValue::Expr { value, .. }, Ok(want)) = (&e.value, resolve_type(&p.ty))
                else {
                    continue;
                };
                // Sources from the request (JSON, headers, the body) are
                // converted at run time; a literal must fit already.
                let found = self.expr(value, &scope);
                let convertible = matches!(found.ty, Ty::Str | Ty::Json | Ty::Any)
                    || assignable(&found.ty, &want.ty)
                    || matches!(want.ty, Ty::Str | Ty::Json);
                let literal = matches!(
                    value.kind,
                    ExprKind::Int { .. }
                        | ExprKind::Float { .. }
                        | ExprKind::Bool(_)
                        | ExprKind::Str(_)
                );
                if (literal && !assignable(&found.ty, &want.ty) && !matches!(want.ty, Ty::Json))
                    || !convertible
                {
                    self.report(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            format!(
                                "parameter `{}` is {}, and this source gives {}",
                                p.name.name, want.ty, found.ty
                            ),
                        )
                        .at(value.span, "wrong type for this parameter")
                        .help(
                            "give a source of the parameter's type, or change the parameter's type",
                        ),
                    );
                }
            }
            for p in &rb.params {
                let optional = p.default.is_some() || matches!(p.ty, TypeExpr::Optional(..));
                if !optional && !given.iter().any(|e| e.key.name == p.name.name) {
                    self.report(
                        Diagnostic::error(
                            codes::MISSING_ARGUMENT,
                            format!(
                                "this trigger does not supply parameter `{}` of runbook `{}`",
                                p.name.name, rb.name.name
                            ),
                        )
                        .at(t.kind.span, "parameter not supplied")
                        .help(format!(
                            "add `args {{ {} = ... }}` to the trigger, or give the parameter a default",
                            p.name.name
                        )),
                    );
                }
            }
        }
    }
}
