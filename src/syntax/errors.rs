//! Turns pest's parse errors into diagnostics in words a user understands:
//! what was expected there, what was found, and how such a thing is written.

use std::collections::BTreeSet;

use pest::error::{Error, ErrorVariant, InputLocation};

use super::parser::detailed::Rule;
use super::span::{FileId, Span};
use crate::diagnostic::{Diagnostic, codes};

pub(crate) fn error_position<R: pest::RuleType>(err: &Error<R>) -> usize {
    match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

pub(crate) fn syntax_error(file: FileId, src: &str, err: &Error<Rule>) -> Diagnostic {
    let pos = error_position(err).min(src.len());
    let mut expected: BTreeSet<String> = BTreeSet::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            if let Some(d) = describe(*r) {
                expected.insert(d.to_string());
            }
        }
    }
    let mut context: Option<Rule> = None;
    if let Some(attempts) = err.parse_attempts() {
        if attempts.max_position == pos {
            for t in attempts.expected_tokens() {
                if let Some(d) = describe_token(&t.to_string()) {
                    expected.insert(d);
                }
            }
        }
        for stack in attempts.call_stacks() {
            let rule = match (stack.deepest.get_rule(), stack.parent) {
                (Some(r), _) if help_for(*r).is_some() => Some(*r),
                (_, Some(p)) if help_for(p).is_some() => Some(p),
                _ => None,
            };
            if context.is_none() {
                context = rule;
            }
        }
    }
    // A string-in-progress explains more than the generic "expected".
    let found = found_at(src, pos);
    let list: Vec<String> = expected.into_iter().collect();
    let line_start = src[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let before = src[line_start..pos].trim_start();
    let in_string = list.iter().any(|e| e.starts_with("more string text"));
    let mut message = if list.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&list))
    };
    let mut list = list;
    let at_line_start = src[line_start..pos].trim().is_empty();
    let word = found.trim_matches('`').to_string();
    let top_keyword = matches!(
        word.as_str(),
        "import" | "instance" | "integration" | "method" | "runbook"
    );
    let open_brace = unclosed_brace(src, pos);
    let mut extra_help: Option<String> = None;
    // Where to point when not at the error position: (start, length).
    let mut at: Option<(usize, usize)> = None;
    let mut secondary: Option<(usize, String)> = None;
    let method_line = src[line_start..].starts_with("method ");
    if in_string {
        message = "this string is not closed".to_string();
        list = vec!["a closing `\"`".to_string()];
    } else if let Some(open) = open_brace.filter(|&open| {
        pos >= src.trim_end().len()
            || (top_keyword && at_line_start)
            || (open < line_start && starts_item(&src[line_start..]))
    }) {
        let (line, _) = line_col(src, open);
        message = format!("expected `}}` to close the block opened on line {line}, found {found}");
        list = vec!["`}`".to_string()];
        secondary = Some((open, "this `{` is never closed".to_string()));
        extra_help = Some(
            "every `{` needs a matching `}`; check the block above for a missing one".to_string(),
        );
        context = None;
    } else if let Some(integ) = before
        .strip_prefix("method ")
        .and_then(|r| r.trim_end().strip_suffix('.'))
        .filter(|r| method_line && r.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        message = format!("expected a method name after `{integ}.`, found {found}");
        list = vec!["a method name".to_string()];
    } else if let Some(integ) = before
        .strip_prefix("method ")
        .map(str::trim_end)
        .filter(|r| {
            method_line
                && found != "`.`"
                && !r.is_empty()
                && r.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
    {
        message = format!("expected `.` and a method name after `method {integ}`, found {found}");
        list = vec!["`.NAME`".to_string()];
        context = Some(Rule::method);
    } else if found == "`\"`"
        && !before.trim_end().is_empty()
        && before.trim_end().chars().all(|c| c.is_ascii_uppercase())
    {
        message = format!("`{}` is not an HTTP verb", before.trim_end());
        list = vec!["GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS".to_string()];
        extra_help = Some("a request line is `VERB \"/path\"` with VERB one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS".to_string());
    } else if let Some((op, word)) = [("&&", "and"), ("||", "or"), ("!", "not")]
        .into_iter()
        .find(|(op, _)| src[pos..].starts_with(op) && !src[pos..].starts_with("!="))
    {
        message = format!("`{op}` is not an operator in rbk; write `{word}`");
        list = vec![format!("`{word}`")];
        extra_help = Some(
            "rbk spells the logical operators as words: `and`, `or`, `not` (e.g. `if a and not b {`)"
                .to_string(),
        );
    } else if let Some(call) = before
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        .then(|| bare_call(src[line_start..].trim_start()))
        .flatten()
    {
        let indent = src[line_start..].len() - src[line_start..].trim_start().len();
        at = Some((line_start + indent, call.len()));
        message = format!("a method call on its own is not a statement: `{call}(...)`");
        list = vec!["a statement".to_string()];
        extra_help = Some(format!(
            "calls are steps: write `step NAME = {call}(...)` and read its outputs as `NAME.field`"
        ));
    } else if let Some((kw, line)) =
        block_without_brace(src, line_start).filter(|_| list.iter().any(|e| e == "`{`"))
    {
        message =
            format!("expected `{{` to open the body of the `{kw}` on line {line}, found {found}");
        list = vec!["`{`".to_string()];
        extra_help = Some(format!(
            "write the body in braces: `{kw} ... {{` on line {line}, then `}}` after it"
        ));
    } else if found == "`=`" && before.ends_with('=') && !before.ends_with("==") {
        message = "`==` compares two values; a comparison alone is not a statement".to_string();
        list = Vec::new();
        extra_help = Some(
            "change a `var` with `NAME = value`; test a value with `if NAME == value { ... }`"
                .to_string(),
        );
    } else if matches!(found.as_str(), "`-`" | "`*`" | "`/`") && src[pos..].get(1..2) == Some("=") {
        let op = &src[pos..pos + 1];
        message = format!("`{op}=` is not an operator");
        extra_help = Some(format!(
            "a `var` changes with `NAME = value` or `NAME += value`; write `NAME = NAME {op} value`"
        ));
    } else if list.iter().any(|e| e == "a name") && RESERVED.contains(&word.as_str()) {
        extra_help = Some(format!("`{word}` is a reserved word; choose another name"));
    } else if let Some(kw) = keyword_typo(&word) {
        extra_help = Some(format!("did you mean `{kw}`?"));
    }
    let (pos, len) = at.unwrap_or((pos, token_len(src, pos)));
    let mut d = Diagnostic::error(codes::SYNTAX, message).at(
        Span::new(file, pos, pos + len),
        if list.is_empty() {
            "not expected here".to_string()
        } else {
            format!("expected {}", join_or(&list))
        },
    );
    if let Some((at, label)) = secondary {
        d = d.also(Span::new(file, at, at + 1), label);
    }
    if let Some(h) = extra_help {
        return d.help(h);
    }
    let help = context
        .and_then(help_for)
        .or_else(|| unclosed_string_help(src, pos));
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

/// Words the grammar reserves (in `ident`, `grammar/rbk.pest`).
pub const RESERVED: &[&str] = &[
    "let", "var", "step", "if", "else", "for", "in", "parallel", "wait", "log", "fail", "return",
    "run", "true", "false", "null", "not", "and", "or", "contains",
];

/// `desk.get_ticket` when `rest` starts with such a call.
fn bare_call(rest: &str) -> Option<&str> {
    let ident_end = |t: &str| {
        t.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(t.len())
    };
    let a = ident_end(rest);
    if a == 0 || !rest[a..].starts_with('.') {
        return None;
    }
    let b = ident_end(&rest[a + 1..]);
    let end = a + 1 + b;
    (b > 0 && rest[end..].trim_start().starts_with('(')).then(|| &rest[..end])
}

/// The keyword and line of an `if`, `else` or `for` on the previous
/// non-blank line that does not end with its `{`.
fn block_without_brace(src: &str, line_start: usize) -> Option<(&'static str, usize)> {
    let before = &src[..line_start];
    let prev_start = before.trim_end().rfind('\n').map(|i| i + 1).unwrap_or(0);
    let prev = before[prev_start..].trim();
    if prev.is_empty() || prev.ends_with('{') {
        return None;
    }
    let body = prev.trim_start_matches('}').trim_start();
    let kw = ["if", "else", "for"]
        .into_iter()
        .find(|k| body == *k || body.starts_with(&format!("{k} ")))?;
    Some((kw, line_col(src, prev_start).0))
}

/// Whether a line starts a top-level item.
fn starts_item(line: &str) -> bool {
    [
        "import ",
        "instance ",
        "integration ",
        "method ",
        "runbook ",
    ]
    .iter()
    .any(|k| line.starts_with(k))
}

/// The last `{` still open at `pos` (strings and comments skipped).
fn unclosed_brace(src: &str, pos: usize) -> Option<usize> {
    let mut stack = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    let end = pos.min(bytes.len());
    while i < end {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => stack.push(i),
            b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop()
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// A misspelt keyword: `runbok`, `stpe`, `els`.
fn keyword_typo(word: &str) -> Option<&'static str> {
    const KEYWORDS: &[&str] = &[
        "import",
        "instance",
        "integration",
        "method",
        "runbook",
        "let",
        "var",
        "step",
        "if",
        "else",
        "for",
        "parallel",
        "wait",
        "log",
        "fail",
        "return",
        "run",
        "until",
        "every",
        "trigger",
        "query",
        "headers",
        "body",
        "expect",
        "output",
        "paginate",
        "auth",
    ];
    if word.len() < 3
        || KEYWORDS.contains(&word)
        || !word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        return None;
    }
    KEYWORDS
        .iter()
        .copied()
        .filter(|k| strsim::damerau_levenshtein(word, k) <= if k.len() > 4 { 2 } else { 1 })
        .min_by_key(|k| strsim::damerau_levenshtein(word, k))
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// What the user wrote at `pos`, for "found ...".
fn found_at(src: &str, pos: usize) -> String {
    let rest = &src[pos..];
    let Some(c) = rest.chars().next() else {
        return "the end of the file".to_string();
    };
    if c == '\n' || c == '\r' {
        return "the end of the line".to_string();
    }
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        return format!("`{word}`");
    }
    format!("`{c}`")
}

fn token_len(src: &str, pos: usize) -> usize {
    let rest = &src[pos..];
    match rest.chars().next() {
        None | Some('\n') | Some('\r') => 0,
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len()),
        Some(c) => c.len_utf8(),
    }
}

fn unclosed_string_help(src: &str, pos: usize) -> Option<&'static str> {
    let line_start = src[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let quotes = src[line_start..pos].matches('"').count();
    if quotes % 2 == 1 {
        Some(
            "a string must close with `\"` on the same line; use `\"\"\"` for text over several lines, and `{{` / `}}` for literal braces",
        )
    } else {
        None
    }
}

/// A rule as words, or `None` for rules not worth naming.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::import => "`import`",
        Rule::instance => "`instance`",
        Rule::integration => "`integration`",
        Rule::method => "`method`",
        Rule::runbook => "`runbook`",
        Rule::ident | Rule::any_ident | Rule::arg_name => "a name",
        Rule::key => "a key",
        Rule::entry => "a setting (`key = value`)",
        Rule::string | Rule::tstring => "a string",
        Rule::str_text | Rule::tstr_text | Rule::escape | Rule::interp | Rule::brace_escape => {
            "more string text or `\"`"
        }
        Rule::expr | Rule::paren | Rule::list | Rule::object | Rule::call_expr => "an expression",
        Rule::int | Rule::pat_status | Rule::pat_range => "a number",
        Rule::float
        | Rule::duration
        | Rule::size
        | Rule::bool_lit
        | Rule::null_lit
        | Rule::jsonpath => "an expression",
        Rule::block => "`{`",
        Rule::stmt_block => "`{`",
        Rule::params => "`(`",
        Rule::param => "a parameter (`name: type`)",
        Rule::type_expr | Rule::list_type => "a type",
        Rule::optional_mark => "`?`",
        Rule::request => "a request line (`GET \"/path\"`)",
        Rule::verb => "an HTTP verb",
        Rule::body_decl => "`body`",
        Rule::expect_decl => "`expect`",
        Rule::output_decl => "`output`",
        Rule::paginate_decl => "`paginate`",
        Rule::output_field => "an output (`name: type = $.path`)",
        Rule::body_json => "`json`",
        Rule::body_form => "`form`",
        Rule::body_multipart => "`multipart`",
        Rule::body_text => "`text`",
        Rule::body_xml => "`xml`",
        Rule::body_bytes => "`bytes`",
        Rule::trigger_stmt
        | Rule::let_stmt
        | Rule::var_stmt
        | Rule::assign_stmt
        | Rule::step_stmt
        | Rule::if_stmt
        | Rule::for_stmt
        | Rule::parallel_stmt
        | Rule::wait_stmt
        | Rule::log_stmt
        | Rule::fail_stmt
        | Rule::return_stmt => "a statement",
        Rule::call | Rule::method_call => "a call (`integration.method(...)`)",
        Rule::run_call => "`run`",
        Rule::args => "`(`",
        Rule::arg => "an argument",
        Rule::until_clause => "`until`",
        Rule::else_clause => "`else`",
        Rule::arm | Rule::pattern => "an else arm (`404 => ...`)",
        Rule::pat_timeout => "`timeout`",
        Rule::pat_error => "`error`",
        Rule::pat_any => "`_`",
        Rule::assign => "`=`",
        Rule::labelled => "a label",
        Rule::content_type => "`as`",
        Rule::field => "`.`",
        Rule::index => "`[`",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_in
        | Rule::op_contains
        | Rule::op_coalesce
        | Rule::op_range
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_rem => "an operator",
        Rule::op_not | Rule::op_neg => "an expression",
        Rule::kw_import => "`import`",
        Rule::kw_instance => "`instance`",
        Rule::kw_integration => "`integration`",
        Rule::kw_method => "`method`",
        Rule::kw_runbook => "`runbook`",
        Rule::kw_as => "`as`",
        Rule::kw_else => "`else`",
        Rule::kw_in => "`in`",
        Rule::kw_every => "`every`",
        Rule::kw_max => "`max`",
        Rule::kw_parallel
        | Rule::kw_let
        | Rule::kw_var
        | Rule::kw_step
        | Rule::kw_if
        | Rule::kw_for
        | Rule::kw_wait
        | Rule::kw_log
        | Rule::kw_fail
        | Rule::kw_return
        | Rule::kw_trigger => "a statement",
        Rule::kw_run => "`run`",
        _ => return None,
    })
}

/// Literal tokens worth naming in "expected ...".
fn describe_token(token: &str) -> Option<String> {
    match token {
        "{" | "}" | "(" | ")" | "[" | "]" | "=" | "+=" | ":" | "," | "." | "=>" | "\""
        | "\"\"\"" | "|" | "?" => Some(format!("`{token}`")),
        _ => None,
    }
}

/// How the construct being parsed is written.
fn help_for(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::method => {
            "a method is declared `method INTEGRATION.NAME(param: type) { GET \"/path\" ... }`"
        }
        Rule::method_body => {
            "a method holds a request line (`GET \"/path\"`), and optionally `query { }`, `headers { }`, `auth ...`, `body ...`, `expect ...`, `timeout = ...`, `retry { }`, `output { }` and `paginate ...`"
        }
        Rule::runbook => "a runbook is declared `runbook NAME(param: type) { ... }`",
        Rule::integration => "an integration is declared `integration NAME { base_url = \"...\" }`",
        Rule::instance => "an instance is declared `instance NAME { url = \"...\" }`",
        Rule::import => "an import is written `import \"path/to/file.rbk\"`",
        Rule::params | Rule::param => {
            "parameters are written `(name: type, other: type = default)`"
        }
        Rule::block | Rule::entry | Rule::assign => {
            "settings are written `key = value`, one per line or separated by commas"
        }
        Rule::step_stmt | Rule::call | Rule::method_call => {
            "a step is written `step NAME = integration.method(arg: value)` or `step NAME = run runbook(arg: value)`"
        }
        Rule::args | Rule::arg => "arguments are written `(name: value, other: value)`",
        Rule::until_clause => "polling is written `until CONDITION every 5s max 20`",
        Rule::else_clause | Rule::arm | Rule::pattern => {
            "else arms are written `404 => fail \"...\"`, `500..599 => ...`, `timeout => ...`, `error => ...` or `_ => ...`"
        }
        Rule::for_stmt => {
            "a loop is written `for NAME in LIST { ... }` or `for NAME in LIST parallel 4 { ... }`"
        }
        Rule::if_stmt => "a condition is written `if CONDITION { ... } else { ... }`",
        Rule::let_stmt => "a binding is written `let NAME = value`",
        Rule::var_stmt => {
            "a variable that changes is written `var NAME = value` (or `var NAME: type = value`)"
        }
        Rule::assign_stmt | Rule::assign_op => {
            "a `var` is changed with `NAME = value` or `NAME += value`"
        }
        Rule::output_decl | Rule::output_field => {
            "outputs are written `name: type = $.json.path`, `code = status` or `link = header(\"Link\")`"
        }
        Rule::paginate_decl => {
            "pagination is written `paginate next_url = $.next`, `paginate link_header`, `paginate cursor { param = \"cursor\", next = $.next }` or `paginate page { param = \"page\" }`"
        }
        Rule::body_decl => {
            "a body is written `body json EXPR`, `body form { }`, `body multipart { }`, `body text EXPR`, `body xml EXPR` or `body bytes(\"file\") as \"type\"`"
        }
        Rule::type_expr => {
            "types are `string`, `int`, `float`, `bool`, `datetime`, `duration`, `json`, `secret`, `[T]` and `T?`"
        }
        Rule::object | Rule::obj_entry => "objects are written `{ \"key\": value, other: value }`",
        Rule::string | Rule::tstring => {
            "a string must close with `\"` on the same line; use `\"\"\"` for text over several lines, and `{{` / `}}` for literal braces"
        }
        _ => return None,
    })
}
