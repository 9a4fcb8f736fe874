//! The built-in functions: their signatures, and the typing of their calls.

use super::Cx;
use super::expr::{Ctx, Scope, article};
use super::resolve::did_you_mean;
use super::types::{T, Ty, assignable};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

/// Loose parameter kinds for built-ins.
#[derive(Clone, Copy, PartialEq)]
enum P {
    Str,
    Int,
    Any,
    Datetime,
    List,
    Bytes,
    /// A string or bytes.
    Data,
}

struct Builtin {
    name: &'static str,
    params: &'static [P],
    /// How many leading params are required.
    required: usize,
    /// Named arguments the function takes, with kinds.
    named: &'static [(&'static str, P, bool)],
    signature: &'static str,
}

const BUILTINS: &[Builtin] = &[
    b(
        "env",
        &[P::Str, P::Str],
        1,
        "env(name: string, default: string) -> string",
    ),
    b("secret", &[P::Str], 1, "secret(name: string) -> secret"),
    b("file", &[P::Str], 1, "file(path: string) -> string"),
    b("bytes", &[P::Str], 1, "bytes(path: string) -> bytes"),
    b("now", &[], 0, "now() -> datetime"),
    b(
        "datetime",
        &[P::Str],
        1,
        "datetime(text: string) -> datetime",
    ),
    b("uuid", &[], 0, "uuid() -> string"),
    b(
        "len",
        &[P::Any],
        1,
        "len(value: string | list | json) -> int",
    ),
    b("lower", &[P::Str], 1, "lower(text: string) -> string"),
    b("upper", &[P::Str], 1, "upper(text: string) -> string"),
    b("trim", &[P::Str], 1, "trim(text: string) -> string"),
    b(
        "split",
        &[P::Str, P::Str],
        2,
        "split(text: string, sep: string) -> [string]",
    ),
    b(
        "join",
        &[P::List, P::Str],
        2,
        "join(items: list, sep: string) -> string",
    ),
    b(
        "replace",
        &[P::Str, P::Str, P::Str],
        3,
        "replace(text: string, from: string, to: string) -> string",
    ),
    b(
        "base64",
        &[P::Data],
        1,
        "base64(value: string | bytes) -> string",
    ),
    b(
        "base64_decode",
        &[P::Str],
        1,
        "base64_decode(text: string) -> string",
    ),
    b(
        "url_encode",
        &[P::Str],
        1,
        "url_encode(text: string) -> string",
    ),
    b("to_json", &[P::Any], 1, "to_json(value) -> string"),
    b(
        "parse_json",
        &[P::Str],
        1,
        "parse_json(text: string) -> json",
    ),
    b(
        "jsonpath",
        &[P::Any, P::Str],
        2,
        "jsonpath(value: json, query: string) -> json",
    ),
    b("int", &[P::Any], 1, "int(value) -> int"),
    b("bool", &[P::Any], 1, "bool(value) -> bool"),
    b("float", &[P::Any], 1, "float(value) -> float"),
    b("string", &[P::Any], 1, "string(value) -> string"),
    b(
        "format_time",
        &[P::Datetime, P::Str],
        2,
        "format_time(time: datetime, format: string) -> string",
    ),
    b(
        "range",
        &[P::Int, P::Int],
        1,
        "range(n: int) or range(from: int, to: int) -> [int]",
    ),
    b(
        "header",
        &[P::Str],
        1,
        "header(name: string) -> string?  (outputs only)",
    ),
    b(
        "xpath",
        &[P::Str],
        1,
        "xpath(expression: string) -> json  (outputs only; XPath 1.0 on the XML body)",
    ),
    b(
        "raw",
        &[P::Any],
        1,
        "raw(value) -> string  (only as `{raw(x)}` in a `body xml` string: inserted unescaped)",
    ),
    Builtin {
        name: "pfx",
        params: &[P::Bytes],
        required: 1,
        named: &[("password", P::Str, false)],
        signature: "pfx(data: bytes, password: secret) -> certificate",
    },
    Builtin {
        name: "pem",
        params: &[],
        required: 0,
        named: &[
            ("cert", P::Str, true),
            ("key", P::Str, true),
            ("password", P::Str, false),
        ],
        signature: "pem(cert: string, key: secret) -> certificate",
    },
];

const fn b(
    name: &'static str,
    params: &'static [P],
    required: usize,
    signature: &'static str,
) -> Builtin {
    Builtin {
        name,
        params,
        required,
        named: &[],
        signature,
    }
}

/// The signature line of a built-in, for help texts and the REPL.
pub fn signature(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.signature)
}

/// Every built-in function name.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|f| f.name)
}

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
