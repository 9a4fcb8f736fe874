//! The line editor's helper: completion, highlighting, multi-line input.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::syntax::highlight::{Class, classify, is_incomplete};

/// What completion may offer; refreshed after every input.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub integrations: Vec<String>,
    /// (integration, method, parameter names)
    pub methods: Vec<(String, String, Vec<String>)>,
    pub runbooks: Vec<(String, Vec<String>)>,
    /// Bound variables with the fields a `.` after them may take.
    pub vars: Vec<(String, Vec<String>)>,
}

pub const COMMANDS: &[&str] = &[
    ":help",
    ":methods",
    ":vars",
    ":instance",
    ":dry",
    ":verbose",
    ":tokens",
    ":reveal",
    ":reload",
    ":run",
    ":quit",
];

pub struct ReplHelper {
    pub names: Rc<RefCell<Names>>,
    pub color: bool,
}

impl ReplHelper {
    /// Candidates for the word that ends at `pos`: (start, candidates).
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let names = self.names.borrow();
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == ':'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let mut out: Vec<String> = Vec::new();
        if word.starts_with(':') && start == 0 {
            out.extend(
                COMMANDS
                    .iter()
                    .filter(|c| c.starts_with(word))
                    .map(|c| c.to_string()),
            );
            return (start, out);
        }
        if let Some((head, tail)) = word.split_once('.') {
            for (i, m, _) in &names.methods {
                if i == head && m.starts_with(tail) {
                    out.push(format!("{i}.{m}("));
                }
            }
            for (v, fields) in &names.vars {
                if v == head {
                    out.extend(
                        fields
                            .iter()
                            .filter(|f| f.starts_with(tail))
                            .map(|f| format!("{v}.{f}")),
                    );
                }
            }
            return (start, out);
        }
        // Inside `integ.method(` or `run book(`: parameter names.
        if let Some(call) = open_call(before) {
            let params: Option<&Vec<String>> = match call.split_once('.') {
                Some((i, m)) => names
                    .methods
                    .iter()
                    .find(|(ii, mm, _)| ii == i && mm == m)
                    .map(|(_, _, p)| p),
                None => names
                    .runbooks
                    .iter()
                    .find(|(r, _)| *r == call)
                    .map(|(_, p)| p),
            };
            if let Some(ps) = params {
                out.extend(
                    ps.iter()
                        .filter(|p| p.starts_with(word))
                        .map(|p| format!("{p}: ")),
                );
            }
        }
        if before[..start].trim_end().ends_with("run") {
            out.extend(
                names
                    .runbooks
                    .iter()
                    .filter(|(r, _)| r.starts_with(word))
                    .map(|(r, _)| format!("{r}(")),
            );
        }
        out.extend(
            names
                .integrations
                .iter()
                .filter(|i| i.starts_with(word) && !word.is_empty())
                .map(|i| format!("{i}.")),
        );
        out.extend(
            names
                .vars
                .iter()
                .filter(|(v, _)| v.starts_with(word) && !word.is_empty())
                .map(|(v, _)| v.clone()),
        );
        for kw in ["let ", "var ", "step "] {
            if start == 0 && !word.is_empty() && kw.starts_with(word) {
                out.push(kw.to_string());
            }
        }
        out.sort();
        out.dedup();
        (start, out)
    }
}

/// The `integ.method` or runbook of the innermost unclosed `(` before the cursor.
fn open_call(before: &str) -> Option<String> {
    let mut depth = 0i32;
    for (i, c) in before.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 0 => {
                let head = &before[..i];
                let start = head
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                    .map(|j| j + 1)
                    .unwrap_or(0);
                let name = &head[start..];
                return if name.is_empty() {
                    None
                } else {
                    Some(name.to_string())
                };
            }
            '(' => depth -= 1,
            _ => {}
        }
    }
    None
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, c) = self.candidates(line, pos);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len() + 32);
        for (class, text) in classify(line) {
            let code = match class {
                Class::Keyword => "\x1b[35m",
                Class::String => "\x1b[32m",
                Class::Number => "\x1b[36m",
                Class::JsonPath => "\x1b[33m",
                Class::Comment => "\x1b[90m",
                _ => "",
            };
            if code.is_empty() {
                out.push_str(text);
            } else {
                out.push_str(code);
                out.push_str(text);
                out.push_str("\x1b[0m");
            }
        }
        Cow::Owned(out)
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        if is_incomplete(ctx.input()) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ReplHelper {
        let names = Names {
            integrations: vec!["github".into(), "halo".into()],
            methods: vec![
                (
                    "github".into(),
                    "get_user".into(),
                    vec!["login".into(), "per_page".into()],
                ),
                ("github".into(), "list_repos".into(), vec!["org".into()]),
            ],
            runbooks: vec![("onboard".into(), vec!["login".into()])],
            vars: vec![("user".into(), vec!["login".into(), "ok".into()])],
        };
        ReplHelper {
            names: Rc::new(RefCell::new(names)),
            color: false,
        }
    }

    #[test]
    fn completes_methods_params_vars_and_commands() {
        let h = helper();
        assert_eq!(h.candidates("github.ge", 9).1, vec!["github.get_user("]);
        assert_eq!(h.candidates("git", 3).1, vec!["github."]);
        let line = "github.get_user(lo";
        assert_eq!(h.candidates(line, line.len()).1, vec!["login: "]);
        let line = "github.get_user(login: \"x\", per";
        assert_eq!(h.candidates(line, line.len()).1, vec!["per_page: "]);
        assert_eq!(h.candidates("user.l", 6).1, vec!["user.login"]);
        assert_eq!(h.candidates(":me", 3).1, vec![":methods"]);
        assert_eq!(h.candidates("run onb", 7).1, vec!["onboard("]);
        assert_eq!(h.candidates("va", 2).1, vec!["var "]);
    }
}
