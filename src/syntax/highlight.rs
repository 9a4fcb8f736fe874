//! Token classes for highlighting, from the grammar's own rules, and the
//! "is this input finished?" test the REPL uses for multi-line input.

use pest::Parser as _;

use super::parser::{RbkParser, Rule};

/// What a piece of text is, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Keyword,
    String,
    Number,
    Name,
    JsonPath,
    Comment,
    Punct,
    Space,
}

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
    "in",
    "parallel",
    "wait",
    "log",
    "fail",
    "return",
    "run",
    "until",
    "every",
    "max",
    "true",
    "false",
    "null",
    "not",
    "and",
    "or",
    "contains",
    "trigger",
    "auth",
    "body",
    "expect",
    "output",
    "paginate",
    "query",
    "headers",
];

/// Splits `text` into classified pieces that cover it exactly.
pub fn classify(text: &str) -> Vec<(Class, &str)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let (class, len) = token(rest);
        let len = len.max(rest.chars().next().map(char::len_utf8).unwrap_or(1));
        out.push((class, &text[pos..pos + len]));
        pos += len;
    }
    out
}

fn token(rest: &str) -> (Class, usize) {
    let first = rest.chars().next().unwrap_or(' ');
    if first.is_whitespace() {
        let n = rest
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        return (Class::Space, n);
    }
    if first == '#' {
        return (Class::Comment, rest.find('\n').unwrap_or(rest.len()));
    }
    // Only a `"""` string spans lines; every other token ends on its line.
    // Bounding the text matters: pest indexes the lines of all it is given,
    // which made highlighting a whole file quadratic.
    let end = match rest.strip_prefix("\"\"\"") {
        Some(body) => body.find("\"\"\"").map(|i| i + 6).unwrap_or(rest.len()),
        None => rest.find('\n').unwrap_or(rest.len()),
    };
    let rest = &rest[..end];
    // Only the rules that can start with this character are tried.
    let rules: &[(Rule, Class)] = match first {
        '"' => &[
            (Rule::tstring, Class::String),
            (Rule::string, Class::String),
        ],
        '$' => &[(Rule::jsonpath, Class::JsonPath)],
        '0'..='9' => &[
            (Rule::duration, Class::Number),
            (Rule::size, Class::Number),
            (Rule::float, Class::Number),
            (Rule::int, Class::Number),
        ],
        'a'..='z' | 'A'..='Z' | '_' => &[(Rule::any_ident, Class::Name)],
        _ => &[],
    };
    for &(rule, class) in rules {
        if let Ok(mut pairs) = RbkParser::parse(rule, rest)
            && let Some(p) = pairs.next()
        {
            let len = p.as_span().end();
            if len > 0 {
                let class = if class == Class::Name && KEYWORDS.contains(&p.as_str()) {
                    Class::Keyword
                } else {
                    class
                };
                return (class, len);
            }
        }
    }
    if first == '"' {
        // An unclosed string colours to the end of the line.
        return (Class::String, rest.find('\n').unwrap_or(rest.len()));
    }
    (Class::Punct, first.len_utf8())
}

/// True when the input still has an open bracket, string or `"""`.
pub fn is_incomplete(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c2) in chars.by_ref() {
                    if c2 == '\n' {
                        break;
                    }
                }
            }
            '"' if text[i..].starts_with("\"\"\"") => {
                chars.next();
                chars.next();
                match text[i + 3..].find("\"\"\"") {
                    Some(end) => {
                        let stop = i + 3 + end + 3;
                        while chars.peek().is_some_and(|(j, _)| *j < stop) {
                            chars.next();
                        }
                    }
                    None => return true,
                }
            }
            '"' => {
                let mut closed = false;
                while let Some((_, c2)) = chars.next() {
                    match c2 {
                        '\\' => {
                            chars.next();
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => break,
                        _ => {}
                    }
                }
                if !closed {
                    return true;
                }
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_the_text() {
        let t = r#"let x = gh.get(login: "o{ct}o", n: 5s) # hi"#;
        let parts = classify(t);
        let joined: String = parts.iter().map(|(_, s)| *s).collect();
        assert_eq!(joined, t);
        assert_eq!(parts[0], (Class::Keyword, "let"));
        assert!(parts.contains(&(Class::String, "\"o{ct}o\"")));
        assert!(parts.contains(&(Class::Number, "5s")));
        assert!(parts.contains(&(Class::Comment, "# hi")));
    }

    #[test]
    fn a_triple_quoted_string_spans_lines_and_other_tokens_do_not() {
        let t = "let x = \"\"\"\n  a {y}\n\"\"\" # c\nlog $.a[*] 5s\n\"open\nnext";
        let parts = classify(t);
        let joined: String = parts.iter().map(|(_, s)| *s).collect();
        assert_eq!(joined, t);
        assert!(parts.contains(&(Class::String, "\"\"\"\n  a {y}\n\"\"\"")));
        assert!(parts.contains(&(Class::JsonPath, "$.a[*]")));
        assert!(parts.contains(&(Class::Number, "5s")));
        // An unclosed string ends with its line.
        assert!(parts.contains(&(Class::String, "\"open")));
        assert!(parts.contains(&(Class::Name, "next")));
    }

    #[test]
    fn open_brackets_and_strings_are_incomplete() {
        assert!(is_incomplete("gh.get(login: \"x\","));
        assert!(is_incomplete("let x = \"abc"));
        assert!(is_incomplete("let x = \"\"\"\nline"));
        assert!(!is_incomplete("gh.get(login: \"(x\")"));
        assert!(!is_incomplete("let x = 1 # ("));
    }
}
