//! The triggers of the loaded programs, read once at start from the
//! checked AST: webhook paths with their verification, dedupe and
//! argument sources; schedules with their cron expressions.

use std::time::Duration;

use crate::check::types::resolve_type;
use crate::runtime::auth::Auth;
use crate::runtime::eval::{Vars, eval};
use crate::runtime::outputs::{Response, convert};
use crate::runtime::value::Value;
use crate::runtime::{Context, Runtime};
use crate::syntax::ast::*;

/// How a webhook's sender proves itself.
pub enum Verify {
    None,
    Hmac {
        auth: crate::runtime::auth::sign_hmac::SignHmac,
        max_age: Option<Duration>,
    },
    Token {
        header: String,
        value: String,
    },
}

pub struct Webhook {
    pub path: String,
    pub runbook: String,
    pub program: usize,
    pub verify: Verify,
    pub dedupe: Option<Expr>,
    pub args: Vec<(String, Expr)>,
    pub max_body: u64,
}

pub struct Schedule {
    /// Unique per runbook and trigger: `runbook#N CRON`.
    pub key: String,
    pub cron: croner::Cron,
    pub runbook: String,
    pub program: usize,
    pub args: Vec<(String, Expr)>,
    pub catch_up: bool,
}

/// The default `max_body`: 1 MiB.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;

fn args_of(opts: Option<&Block>) -> Vec<(String, Expr)> {
    let Some(EntryValue::Block { block, .. }) = opts.and_then(|o| o.get("args")).map(|e| &e.value)
    else {
        return Vec::new();
    };
    block
        .entries
        .iter()
        .filter_map(|e| match &e.value {
            EntryValue::Expr { value, .. } => Some((e.key.name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

/// Reads every trigger of runbook `rb`; an error names what could not be
/// evaluated (a secret that is not set, say).
pub fn read(
    rb: &Runbook,
    program: usize,
    cx: &Context,
    hooks: &mut Vec<Webhook>,
    schedules: &mut Vec<Schedule>,
) -> Result<(), String> {
    for (n, s) in rb.body.stmts.iter().enumerate() {
        let StmtKind::Trigger(t) = &s.kind else {
            continue;
        };
        let path = match &t.value {
            Some(v) => eval(v, &Vars::new(), cx, None)
                .map_err(|e| format!("runbook `{}`: {}", rb.name.name, e.message))?
                .to_text(),
            None => continue,
        };
        let opts = t.options.as_ref();
        match t.kind.name.as_str() {
            "webhook" => {
                let verify = match opts.and_then(|o| o.get("verify")).map(|e| &e.value) {
                    Some(EntryValue::Block {
                        label: Some(kind),
                        block,
                    }) if kind.name == "token" => {
                        let field = |k: &str| -> Result<String, String> {
                            match block.get(k).map(|e| &e.value) {
                                Some(EntryValue::Expr { value, .. }) => {
                                    let v = eval(value, &Vars::new(), cx, None)
                                        .map_err(|e| format!("webhook {path}: {}", e.message))?;
                                    Ok(v.to_text())
                                }
                                _ => Err(format!("webhook `verify token` needs `{k}`")),
                            }
                        };
                        let value = field("value")?;
                        cx.redactor.register(&value);
                        Verify::Token {
                            header: field("header")?,
                            value,
                        }
                    }
                    Some(EntryValue::Block {
                        label: Some(kind),
                        block,
                    }) => {
                        let mut rest = block.clone();
                        rest.entries.retain(|e| e.key.name != "max_age");
                        let max_age = match block.get("max_age").map(|e| &e.value) {
                            Some(EntryValue::Expr { value, .. }) => {
                                match eval(value, &Vars::new(), cx, None)
                                    .map_err(|e| e.message)?
                                    .reveal()
                                {
                                    Value::Duration(d) => Some(*d),
                                    _ => return Err("`max_age` is a duration".into()),
                                }
                            }
                            _ => None,
                        };
                        match Auth::verifier(cx, kind, &rest)
                            .map_err(|e| format!("webhook {path}: {}", e.message))?
                        {
                            Auth::SignHmac(auth) => Verify::Hmac { auth, max_age },
                            _ => {
                                return Err(format!(
                                    "webhook {path}: `verify` takes `sign_hmac` or `token`"
                                ));
                            }
                        }
                    }
                    _ => Verify::None,
                };
                let dedupe = match opts.and_then(|o| o.get("dedupe")).map(|e| &e.value) {
                    Some(EntryValue::Expr { value, .. }) => Some(value.clone()),
                    _ => None,
                };
                let max_body = match opts.and_then(|o| o.get("max_body")).map(|e| &e.value) {
                    Some(EntryValue::Expr { value, .. }) => {
                        match eval(value, &Vars::new(), cx, None)
                            .map_err(|e| e.message)?
                            .reveal()
                        {
                            Value::Int(n) if *n > 0 => *n as u64,
                            _ => return Err("`max_body` is a size such as `4MB`".into()),
                        }
                    }
                    _ => DEFAULT_MAX_BODY,
                };
                hooks.push(Webhook {
                    path,
                    runbook: rb.name.name.clone(),
                    program,
                    verify,
                    dedupe,
                    args: args_of(opts),
                    max_body,
                });
            }
            "schedule" => {
                let cron = croner::parser::CronParser::builder()
                    .seconds(croner::parser::Seconds::Optional)
                    .build()
                    .parse(&path)
                    .map_err(|e| format!("schedule `{path}`: {e}"))?;
                let catch_up = !matches!(
                    opts.and_then(|o| o.get("catch_up")).map(|e| &e.value),
                    Some(EntryValue::Label(l)) if l.name == "none"
                ) && !matches!(
                    opts.and_then(|o| o.get("catch_up")).map(|e| &e.value),
                    Some(EntryValue::Expr { value, .. }) if matches!(&value.kind, ExprKind::Name(n) if n.name == "none")
                );
                schedules.push(Schedule {
                    key: format!("{}#{n} {path}", rb.name.name),
                    cron,
                    runbook: rb.name.name.clone(),
                    program,
                    args: args_of(opts),
                    catch_up,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why arguments could not be built: the parameter and the reason.
#[derive(Debug, Clone)]
pub struct ArgError {
    pub param: Option<String>,
    pub message: String,
}

/// The runbook's arguments from `sources` evaluated against `request`
/// (a webhook's body and headers; none for a schedule), each converted
/// to its parameter's type. Parameters not given keep their defaults.
pub fn build_args(
    rt: &Runtime,
    rb: &Runbook,
    sources: &[(String, Expr)],
    request: Option<&Response>,
) -> Result<Vec<(String, Value)>, ArgError> {
    let mut out = Vec::new();
    for (name, expr) in sources {
        let v = eval(expr, &Vars::new(), &rt.cx, request).map_err(|e| ArgError {
            param: Some(name.clone()),
            message: rt.mask(&e.message),
        })?;
        // A source that finds nothing leaves a parameter with a default
        // (or an optional one) to its default.
        let defaulted = rb.params.iter().any(|p| {
            p.name.name == *name && (p.default.is_some() || matches!(p.ty, TypeExpr::Optional(..)))
        });
        if v.is_null() && defaulted {
            continue;
        }
        out.push((name.clone(), v));
    }
    typed_args(rt, rb, out)
}

/// Converts `(name, value)` pairs to the runbook's parameter types:
/// unknown names, missing required parameters and values that do not
/// convert are errors. Secret-typed values are tainted and registered.
pub fn typed_args(
    rt: &Runtime,
    rb: &Runbook,
    given: Vec<(String, Value)>,
) -> Result<Vec<(String, Value)>, ArgError> {
    let mut out = Vec::new();
    for (name, v) in given {
        let Some(p) = rb.params.iter().find(|p| p.name.name == name) else {
            return Err(ArgError {
                param: Some(name.clone()),
                message: format!("runbook `{}` has no parameter `{name}`", rb.name.name),
            });
        };
        let t = resolve_type(&p.ty).map_err(|id| ArgError {
            param: Some(name.clone()),
            message: format!("unknown type `{}`", id.name),
        })?;
        let v = convert(v, &t.ty, t.secret).map_err(|e| ArgError {
            param: Some(name.clone()),
            message: format!("parameter `{name}`: {}", rt.mask(&e)),
        })?;
        if v.is_secret() {
            rt.cx.redactor.register(&v.to_text());
        }
        out.push((name, v));
    }
    for p in &rb.params {
        let optional = p.default.is_some() || matches!(p.ty, TypeExpr::Optional(..));
        if !optional && !out.iter().any(|(n, _)| *n == p.name.name) {
            return Err(ArgError {
                param: Some(p.name.name.clone()),
                message: format!("parameter `{}` is required and was not given", p.name.name),
            });
        }
    }
    Ok(out)
}

/// The arguments as JSON: `reveal` for the sealed copy, masked for show.
pub fn args_json(args: &[(String, Value)], reveal: bool) -> serde_json::Value {
    serde_json::Value::Object(
        args.iter()
            .map(|(k, v)| {
                // A duration is kept as milliseconds, which convert back.
                let j = match v.reveal() {
                    Value::Duration(d) if reveal => serde_json::json!(d.as_millis() as u64),
                    _ => v.to_json(reveal),
                };
                (k.clone(), j)
            })
            .collect(),
    )
}

/// The sealed arguments back as values of the parameters' types.
pub fn args_from_json(
    rt: &Runtime,
    rb: &Runbook,
    j: &serde_json::Value,
) -> Result<Vec<(String, Value)>, ArgError> {
    let given: Vec<(String, Value)> = j
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect()
        })
        .unwrap_or_default();
    typed_args(rt, rb, given)
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_body_sizes_are_binary() {
        // SERVE.md §7: K, M and G are powers of 1024, as for every size.
        assert_eq!(crate::units::parse_size("4MB"), Ok(4 << 20));
        assert_eq!(crate::units::parse_size("512KB"), Ok(512 << 10));
        assert_eq!(crate::units::parse_size("1GiB"), Ok(1 << 30));
    }
}
