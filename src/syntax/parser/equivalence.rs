//! The fast grammar (`grammar/fast.pest`) and the detailed one
//! (`grammar/detailed.pest`, whose errors become the messages) must accept
//! the same text, and give the same pairs except for how a call is grouped
//! (`call_expr` there, a name and its `call_tail` here). Checked on every
//! `.rbk` file of the repository, on broken variants of each, and on
//! generated expressions and statements.

use pest::Parser as _;
use proptest::prelude::*;

use super::{detailed, fast};

/// Which entry point: the fast parser's rule and the detailed parser's.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Program,
    Expr,
    Repl,
}

impl Entry {
    fn rules(self) -> (fast::Rule, detailed::Rule) {
        match self {
            Entry::Program => (fast::Rule::program, detailed::Rule::program),
            Entry::Expr => (fast::Rule::expr_only, detailed::Rule::expr_only),
            Entry::Repl => (fast::Rule::repl_input, detailed::Rule::repl_input),
        }
    }
}

/// Every pair, in order, as (rule name, start, end), without the call
/// grouping rules.
fn flat<R: pest::RuleType>(pairs: pest::iterators::Pairs<'_, R>) -> Vec<(String, usize, usize)> {
    pairs
        .flatten()
        .map(|p| {
            (
                format!("{:?}", p.as_rule()),
                p.as_span().start(),
                p.as_span().end(),
            )
        })
        .filter(|(r, _, _)| r != "call_expr" && r != "call_tail")
        .collect()
}

/// `Err` with a description when the two parsers disagree on `text`.
fn agree(entry: Entry, text: &str) -> Result<(), String> {
    let (f, d) = entry.rules();
    match (
        fast::RbkParser::parse(f, text),
        detailed::RbkParser::parse(d, text),
    ) {
        (Ok(a), Ok(b)) => {
            let (a, b) = (flat(a), flat(b));
            if a == b {
                Ok(())
            } else {
                let at = a.iter().zip(&b).position(|(x, y)| x != y);
                Err(format!(
                    "{entry:?}: different pairs for {text:?}: first difference at {at:?}: {:?} / {:?}",
                    at.and_then(|i| a.get(i)),
                    at.and_then(|i| b.get(i)),
                ))
            }
        }
        (Err(_), Err(_)) => Ok(()),
        (a, b) => Err(format!(
            "{entry:?}: fast parser {}, detailed parser {} on {text:?}",
            if a.is_ok() { "accepts" } else { "refuses" },
            if b.is_ok() { "accepts" } else { "refuses" },
        )),
    }
}

fn rbk_files() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["examples", "tests"] {
        for e in walkdir::WalkDir::new(root.join(dir)).into_iter().flatten() {
            if e.path().extension().is_some_and(|x| x == "rbk")
                && let Ok(text) = std::fs::read_to_string(e.path())
            {
                out.push((e.path().to_path_buf(), text));
            }
        }
    }
    out.sort();
    out
}

/// Text the variants insert: operators, brackets, names, keywords.
const INSERTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    ".",
    "..",
    ",",
    ":",
    "=",
    "==",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    ">=",
    "!",
    "!=",
    "??",
    "?",
    " and ",
    " or ",
    "not ",
    " in ",
    " contains ",
    "x",
    "f(",
    "a.b(",
    "(1)",
    " ",
    "\n",
    "# c\n",
    "$",
    "1",
    "2s",
    "let ",
    "step ",
    "run ",
    "=>",
    "\t",
    "\r\n",
    "\u{feff}",
    "\u{b}",
    "\u{c}",
    "{{",
    "}}",
    "\\n",
    "\\",
];

#[test]
fn every_rbk_file_and_broken_variants_parse_alike() {
    let files = rbk_files();
    assert!(files.len() > 50, "found only {} .rbk files", files.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, text) in &files {
        if let Err(e) = agree(Entry::Program, text) {
            failures.push(format!("{}: {e}", path.display()));
        }
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let stride = (cuts.len() / 30).max(1);
        for (k, &i) in cuts.iter().enumerate().step_by(stride) {
            let next = text[i..].chars().next().map_or(0, char::len_utf8);
            let mut variants = vec![
                text[..i].to_string(),
                format!("{}{}", &text[..i], &text[i + next..]),
            ];
            for (j, ins) in INSERTS.iter().enumerate() {
                if (j + k) % 4 == 0 {
                    variants.push(format!("{}{ins}{}", &text[..i], &text[i..]));
                }
            }
            for v in &variants {
                checked += 1;
                if let Err(e) = agree(Entry::Program, v) {
                    failures.push(format!("{} @{i}: {e}", path.display()));
                }
            }
        }
        // Each line alone, as REPL input and as an expression.
        for line in text.lines().take(200) {
            for entry in [Entry::Repl, Entry::Expr] {
                checked += 1;
                if let Err(e) = agree(entry, line.trim()) {
                    failures.push(format!("{}: {e}", path.display()));
                }
            }
        }
    }
    assert!(checked > 10_000, "only {checked} variants");
    eprintln!("{checked} texts parsed alike");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Pieces of expressions and statements, glued in any order.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b",
        "f",
        "x.y",
        ".",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        " ",
        "\n",
        "# c\n",
        "1",
        "2.5",
        "3s",
        "4KiB",
        "\"s\"",
        "\"{a}\"",
        "\"\"\"t\"\"\"",
        "$.a",
        "true",
        "null",
        "not",
        "-",
        "+",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "in",
        "contains",
        "??",
        "..",
        "=",
        "+=",
        "let",
        "var",
        "step",
        "run",
        "log",
        "if",
        "else",
        "for",
        "return",
        "=>",
        "|",
        "_",
        "404",
        "timeout",
        "\t",
        "\r\n",
        "\u{feff}",
        "\u{b}",
        "\u{c}",
        "#",
        "\"",
        "{{",
        "}}",
        "\\n",
        "\"a{{b}}\\t{x}\"",
    ])
}

fn glued() -> impl Strategy<Value = String> {
    prop::collection::vec((piece(), prop::bool::ANY), 1..14).prop_map(|ps| {
        ps.into_iter()
            .map(|(p, space)| {
                if space {
                    format!("{p} ")
                } else {
                    p.to_string()
                }
            })
            .collect()
    })
}

/// Well-formed expressions, with spaces, newlines and comments where the
/// language allows them (between a name and its `(`, around operators).
fn expression() -> impl Strategy<Value = String> {
    let gap = prop::sample::select(vec!["", " ", "\n  ", " # note\n "]);
    let leaf = prop::sample::select(vec![
        "a",
        "b_1",
        "nothing",
        "iffy",
        "contains_x",
        "1",
        "2.5e3",
        "3s",
        "4KiB",
        "\"s\"",
        "\"a{b}c\"",
        "\"\"\"\n  t\n  \"\"\"",
        "$.a[0].b",
        "true",
        "null",
        "[]",
        "{}",
    ])
    .prop_map(str::to_string);
    leaf.prop_recursive(4, 32, 3, move |inner| {
        let op = prop::sample::select(vec![
            "or", "and", "==", "!=", "<=", ">=", "<", ">", "in", "contains", "??", "..", "+", "-",
            "*", "/", "%",
        ]);
        prop_oneof![
            (inner.clone(), gap.clone(), op, gap.clone(), inner.clone())
                .prop_map(|(a, g1, op, g2, b)| format!("{a}{g1} {op} {g2}{b}")),
            (
                prop::sample::select(vec!["not ", "-", "not\n"]),
                inner.clone()
            )
                .prop_map(|(p, a)| format!("{p}{a}")),
            (
                prop::sample::select(vec!["f", "ab.c"]),
                gap.clone(),
                inner.clone()
            )
                .prop_map(|(f, g, a)| format!("{f}{g}({a}, k: {a})")),
            (inner.clone(), gap.clone()).prop_map(|(a, g)| format!("({a}){g}.x[{a}]")),
            inner.clone().prop_map(|a| format!("[{a}, {a},]")),
            inner.prop_map(|a| format!("{{ k: {a}, \"q\": {a} }}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn generated_text_parses_alike(text in glued()) {
        for entry in [Entry::Expr, Entry::Repl] {
            prop_assert!(agree(entry, &text).is_ok(), "{}", agree(entry, &text).unwrap_err());
        }
        let program = format!("runbook r() {{\n  log {text}\n  let v = {text}\n  {text}\n}}\n");
        prop_assert!(agree(Entry::Program, &program).is_ok(), "{}", agree(Entry::Program, &program).unwrap_err());
    }
    #[test]
    fn well_formed_expressions_parse_alike(e in expression()) {
        let (f, _) = Entry::Expr.rules();
        prop_assert!(fast::RbkParser::parse(f, &e).is_ok(), "not parsed: {e:?}");
        prop_assert!(agree(Entry::Expr, &e).is_ok(), "{}", agree(Entry::Expr, &e).unwrap_err());
        let program = format!("runbook r() {{\n  let v = {e}\n  log {e} + 1\n}}\n");
        prop_assert!(agree(Entry::Program, &program).is_ok(), "{}", agree(Entry::Program, &program).unwrap_err());
    }
}

/// The limit on chained operators counts a call as one part, as it did
/// when the grammar made one pair of it: 1,400 calls with comments before
/// their `(` make 2,799 parts (five pairs each in the fast grammar).
#[test]
fn the_operator_limit_counts_a_call_as_one_part() {
    use crate::syntax::span::FileId;
    let calls = vec!["f # why\n(1)"; 1_400].join(" + ");
    let e = super::parse_expr(FileId(0), &calls);
    assert!(e.is_ok(), "{:?}", e.err().map(|d| d.message));
    // Past the limit it is still refused: 2,001 operators.
    let names = vec!["a"; 2_002].join(" + ");
    let e = super::parse_expr(FileId(0), &names);
    let message = e.err().map(|d| d.message);
    assert_eq!(
        message.as_deref(),
        Some("an expression is chained or nested too deeply")
    );
}
