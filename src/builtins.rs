//! The one table of built-in functions: names, parameters and signatures.
//! The checker types calls from it (`check/builtins.rs`) and the evaluator
//! checks calls against it before running them (`runtime/eval.rs`); a test
//! proves that every function in it is evaluated.

/// Loose parameter kinds for built-ins.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum P {
    Str,
    Int,
    Any,
    Datetime,
    List,
    Bytes,
    /// A string or bytes.
    Data,
}

pub struct Builtin {
    pub name: &'static str,
    pub params: &'static [P],
    /// How many leading params are required.
    pub required: usize,
    /// Named arguments the function takes, with kinds (and whether required).
    pub named: &'static [(&'static str, P, bool)],
    pub signature: &'static str,
}

pub const BUILTINS: &[Builtin] = &[
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
    b(
        "compact",
        &[P::Any],
        1,
        "compact(value: json | [T?]) -> json | [T]",
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

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// An argument of the kind, as source text.
    fn arg(kind: P) -> &'static str {
        match kind {
            P::Str | P::Data => "\"x\"",
            P::Int | P::Any => "1",
            P::Datetime => "now()",
            P::List => "[\"a\"]",
            P::Bytes => "bytes(\"x.bin\")",
        }
    }

    /// Every function of the table reaches its own evaluation: none falls
    /// through to "listed but has no evaluation".
    #[test]
    fn every_builtin_in_the_table_is_evaluated() {
        let dir = std::env::temp_dir().join(format!("rbk-builtins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("x.bin"), b"data").expect("write");
        let loaded = crate::load::load_source(&dir.join("t.rbk"), String::new());
        let program = Arc::new(crate::check::check(loaded).program);
        let env = [("x".to_string(), "v".to_string())].into_iter().collect();
        let cx = crate::runtime::Context::new(program, None, env, false).expect("context");
        for f in BUILTINS {
            let mut args: Vec<String> = f.params[..f.required]
                .iter()
                .map(|k| arg(*k).to_string())
                .collect();
            args.extend(
                f.named
                    .iter()
                    .filter(|(_, _, required)| *required)
                    .map(|(n, k, _)| format!("{n}: {}", arg(*k))),
            );
            let text = format!("{}({})", f.name, args.join(", "));
            let e = crate::syntax::parse_expr(crate::syntax::span::FileId(0), &text)
                .unwrap_or_else(|d| panic!("{text}: {}", d.message));
            let r = crate::runtime::eval::eval(&e, &crate::runtime::eval::Vars::new(), &cx, None);
            if let Err(err) = r {
                assert!(
                    !err.message.contains("no evaluation")
                        && !err.message.contains("is called with"),
                    "{text}: {}",
                    err.message
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
