//! The built-in functions: their signatures, and the typing of their calls.

use super::Cx;
use super::expr::{Ctx, Scope, article};
use super::resolve::did_you_mean;
use super::types::{T, Ty, assignable};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

use crate::builtins::{BUILTINS, Builtin, P};
pub use crate::builtins::{names, signature};

impl Cx<'_> {
    pub(crate) fn builtin(&mut self, call: &CallExpr, span: Span, scope: &Scope) -> T {
        let name = call.func.name.as_str();
        let Some(f) = BUILTINS.iter().find(|f| f.name == name) else {
            let help = if self.program.runbooks.contains_key(name) {
                format!("`{name}` is a runbook; run it in a step: `step x = run {name}(...)`")
            } else {
                did_you_mean(name, names().collect::<Vec<_>>(), "built-in functions")
            };
            self.report(
                Diagnostic::error(
                    codes::UNKNOWN_FUNCTION,
                    format!("there is no function `{name}`"),
                )
                .at(call.func.span, "unknown function")
                .help(help),
            );
            for a in &call.args {
                self.expr(&a.value, scope);
            }
            return T::any();
        };
        if name == "header" && scope.ctx != Ctx::Output {
            self.report(
                Diagnostic::error(
                    codes::MISPLACED_RESPONSE_VALUE,
                    "`header(...)` is only available in a method's `output` block",
                )
                .at(span, "not inside `output { ... }`")
                .help("declare an output such as `link = header(\"Link\")` and read it as `step_name.link`"),
            );
        }
        if name == "xpath" {
            self.check_xpath(call, span, scope);
        }
        if name == "raw" {
            self.check_raw(span);
        }
        let mut positional = Vec::new();
        let mut secret = false;
        let mut types = Vec::new();
        for a in &call.args {
            let t = self.expr(&a.value, scope);
            secret |= t.secret;
            match &a.name {
                None => positional.push((t.clone(), a.value.span)),
                Some(n) => match f.named.iter().find(|(k, _, _)| *k == n.name) {
                    Some((_, kind, _)) => self.builtin_arg(f, *kind, &t, a.value.span),
                    None => {
                        let help = if f.named.is_empty() {
                            format!("`{}` takes positional arguments: {}", f.name, f.signature)
                        } else {
                            did_you_mean(&n.name, f.named.iter().map(|(k, _, _)| *k), "parameters")
                        };
                        self.report(
                            Diagnostic::error(
                                codes::UNKNOWN_ARGUMENT,
                                format!("`{}` has no parameter `{}`", f.name, n.name),
                            )
                            .at(n.span, "unknown parameter")
                            .help(help),
                        );
                    }
                },
            }
            types.push(t);
        }
        for (k, _, required) in f.named {
            if *required
                && !call
                    .args
                    .iter()
                    .any(|a| a.name.as_ref().is_some_and(|n| n.name == *k))
            {
                self.report(
                    Diagnostic::error(
                        codes::MISSING_ARGUMENT,
                        format!("`{}` needs the argument `{k}`", f.name),
                    )
                    .at(span, format!("`{k}` missing"))
                    .help(f.signature),
                );
            }
        }
        if positional.len() < f.required || positional.len() > f.params.len() {
            let expected = if f.required == f.params.len() {
                format!("{}", f.required)
            } else {
                format!("{} to {}", f.required, f.params.len())
            };
            self.report(
                Diagnostic::error(
                    codes::WRONG_ARITY,
                    format!(
                        "`{}` takes {expected} argument{}, but {} {} given",
                        f.name,
                        if f.params.len() == 1 { "" } else { "s" },
                        positional.len(),
                        if positional.len() == 1 { "was" } else { "were" }
                    ),
                )
                .at(span, "called here")
                .help(f.signature),
            );
        } else {
            for ((t, s), kind) in positional.iter().zip(f.params) {
                self.builtin_arg(f, *kind, t, *s);
            }
        }
        let first = positional
            .first()
            .map(|(t, _)| t.ty.clone())
            .unwrap_or(Ty::Any);
        let ty = match name {
            "env" | "file" | "uuid" | "lower" | "upper" | "trim" | "join" | "replace"
            | "base64" | "base64_decode" | "url_encode" | "to_json" | "string" | "format_time"
            | "raw" => Ty::Str,
            "secret" => return T::secret(Ty::Str, true),
            "bytes" => Ty::Bytes,
            "now" | "datetime" => Ty::Datetime,
            "len" => {
                if !matches!(
                    first.strip_optional(),
                    Ty::Str | Ty::List(_) | Ty::Json | Ty::Any
                ) && let Some((t, s)) = positional.first()
                {
                    self.mismatch(*s, "a string, list or json value", t);
                }
                return T::new(Ty::Int);
            }
            "compact" => match first.strip_optional() {
                Ty::List(item) => Ty::List(Box::new(item.strip_optional().clone())),
                Ty::Json | Ty::Any | Ty::Null => Ty::Json,
                _ => {
                    if let Some((t, s)) = positional.first() {
                        self.mismatch(*s, "an object or a list", t);
                    }
                    Ty::Json
                }
            },
            "split" => Ty::List(Box::new(Ty::Str)),
            "parse_json" | "jsonpath" | "xpath" => Ty::Json,
            "int" => Ty::Int,
            "bool" => Ty::Bool,
            "float" => Ty::Float,
            "range" => Ty::List(Box::new(Ty::Int)),
            "header" => Ty::Optional(Box::new(Ty::Str)),
            "pfx" | "pem" => Ty::Certificate,
            _ => Ty::Any,
        };
        if name == "file" || name == "bytes" {
            self.check_file_exists(call);
        }
        T::secret(ty, secret)
    }

    fn builtin_arg(&mut self, f: &Builtin, kind: P, t: &T, span: Span) {
        let ok = match kind {
            P::Any => true,
            P::Str => assignable(&t.ty, &Ty::Str),
            P::Int => assignable(&t.ty, &Ty::Int),
            P::Datetime => assignable(&t.ty, &Ty::Datetime),
            P::Bytes => assignable(&t.ty, &Ty::Bytes),
            P::Data => assignable(&t.ty, &Ty::Str) || assignable(&t.ty, &Ty::Bytes),
            P::List => matches!(t.ty, Ty::List(_) | Ty::Json | Ty::Any),
        };
        if !ok {
            let expected = match kind {
                P::Str => "a string",
                P::Int => "an int",
                P::Datetime => "a datetime",
                P::Bytes => "bytes (from `bytes(\"file\")`)",
                P::Data => "a string or bytes",
                P::List => "a list",
                P::Any => "a value",
            };
            self.report(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    format!("`{}` expects {expected} here, found {t}", f.name),
                )
                .at(span, format!("this is {}", article(&t.to_string())))
                .help(f.signature),
            );
        }
    }

    /// A literal path given to file()/bytes() must exist, relative to the
    /// file, and be one the file root lets the run read.
    fn check_file_exists(&mut self, call: &CallExpr) {
        let Some(arg) = call.args.first() else { return };
        let ExprKind::Str(s) = &arg.value.kind else {
            return;
        };
        let Some(rel) = s.as_plain() else { return };
        self.check_program_file(&rel, arg.value.span);
    }
}
