//! The mutation generator of the robustness fuzzing (`tests/robustness.rs`),
//! shared with the language server's replay of it (`tests/lsp.rs`).

/// Splits text into runs of whitespace, runs of identifier characters, and
/// single other characters. Concatenating the tokens gives the text back.
pub fn tokenise(text: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Space,
        Word,
        Other,
    }
    let class = |c: char| {
        if c.is_whitespace() {
            Class::Space
        } else if c.is_alphanumeric() || c == '_' {
            Class::Word
        } else {
            Class::Other
        }
    };
    let mut tokens: Vec<String> = Vec::new();
    let mut last = None;
    for c in text.chars() {
        let k = class(c);
        match tokens.last_mut() {
            Some(t) if last == Some(k) && k != Class::Other => t.push(c),
            _ => tokens.push(c.to_string()),
        }
        last = Some(k);
    }
    tokens
}

/// Things worth inserting: punctuation (single and the language's pairs),
/// keywords, and a few tokens that open nested structure.
pub const INSERTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "\"\"\"",
    ",",
    ".",
    "..",
    ":",
    "=",
    "=>",
    "?",
    "??",
    "|",
    "$",
    "#",
    "##",
    "\\",
    "<",
    ">",
    "<=",
    "==",
    "!=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "{{",
    "}}",
    "\n",
    " ",
    "0",
    "-1",
    "99999999999999999999",
    "1.5e308",
    "1e999",
    "5s",
    "0ms",
    "10d",
    "\u{e9}",
    "\u{1F600}",
    "\u{FEFF}",
    "\r",
    "\t",
    "import",
    "instance",
    "integration",
    "method",
    "runbook",
    "let",
    "var",
    "+=",
    "step",
    "if",
    "else",
    "for",
    "in",
    "parallel",
    "wait",
    "log",
    "fail",
    "return",
    "run",
    "true",
    "false",
    "null",
    "not",
    "and",
    "or",
    "contains",
    "until",
    "every",
    "max",
    "auth",
    "output",
    "body",
    "json",
    "form",
    "multipart",
    "text",
    "xml",
    "bytes",
    "as",
    "expect",
    "paginate",
    "trigger",
    "query",
    "headers",
    "GET",
    "POST",
    "HEAD",
    "inherit",
    "none",
    "oauth2",
    "per_instance",
    "timeout",
    "error",
    "_",
    "instance.url",
    "$.a[*]",
    "$[",
    "secret(\"S\")",
    "env(\"E\")",
    "file(\"x\")",
    "\"{x}\"",
    "\"\\u{110000}\"",
    "x",
];

#[derive(Debug, Clone)]
pub enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, usize),
    Truncate(usize),
}

pub fn apply(tokens: &mut Vec<String>, m: &Mutation) {
    let n = tokens.len();
    match *m {
        Mutation::Delete(i) if n > 0 => {
            tokens.remove(i % n);
        }
        Mutation::Duplicate(i) if n > 0 => {
            let t = tokens[i % n].clone();
            tokens.insert(i % n, t);
        }
        Mutation::Swap(a, b) if n > 0 => tokens.swap(a % n, b % n),
        Mutation::Insert(i, what) => tokens.insert(i % (n + 1), INSERTS[what].to_string()),
        Mutation::Truncate(i) => tokens.truncate(i % (n + 1)),
        _ => {}
    }
}
