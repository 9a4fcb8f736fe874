//! `trigger webhook` and `trigger schedule`: where they stand, their
//! settings, and the cron expression (checked by croner).

use super::Cx;
use super::expr::{Ctx, Scope};
use super::flow::*;
use super::types::Ty;
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
                    for e in &opts.entries {
                        if e.key.name == "verify" {
                            self.check_auth_entry(e, &scope, false);
                        } else {
                            self.unknown_key(
                                e,
                                &[super::settings::f("verify", super::settings::Kind::Any)],
                                codes::UNKNOWN_SETTING,
                                "a webhook trigger",
                            );
                        }
                    }
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
                    self.report(
                        Diagnostic::error(
                            codes::UNKNOWN_SETTING,
                            "a schedule trigger takes no settings",
                        )
                        .at(o.span, "not used")
                        .help("remove the block"),
                    );
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
