//! Robustness: `rbk` must never panic, whatever text it is given, and every
//! diagnostic it reports must point inside the text it came from.
//!
//! Two kinds of input are fed through `load_source` + `check` (and the
//! diagnostics through every renderer):
//!
//! * random bytes, random Unicode strings and random "token soup" built from
//!   the language's own keywords and punctuation;
//! * the programs in `examples/` (and `tests/fixtures/` when present),
//!   tokenised roughly and mutated several times per case: a token deleted,
//!   duplicated, swapped with another, a punctuation character or keyword
//!   inserted, the text truncated.
//!
//! The total number of random cases is `RBK_FUZZ_CASES` (default 100,000),
//! shared between the `#[test]`s below so that the test harness runs them in
//! parallel. `RBK_FUZZ_CASES=1000000 cargo test --test robustness` runs a
//! longer campaign; a failure is shrunk to a minimal input by proptest.
//! The default 100,000 take about 2 minutes of CPU in the test profile
//! (`opt-level = 1`), about 1 to 4 minutes of wall time on 2 cores depending on
//! the load; see `docs/performance.md`.
//!
//! The deterministic regression cases at the end cover deep nesting, which
//! recursive-descent code would turn into a stack overflow (an abort, not a
//! panic proptest could catch).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use rbk::diagnostic::{self, Diagnostic, codes};

mod fuzz_gen;
use fuzz_gen::{INSERTS, Mutation, apply, tokenise};
use rbk::syntax::span::SourceMap;

// ---------------------------------------------------------------- the property

/// Loads `text` as if it were the file `path`, checks it, renders every
/// diagnostic, and asserts that each one points inside its file's text.
fn run(path: &Path, text: String) -> Result<(), TestCaseError> {
    let loaded = rbk::load::load_source(path, text);
    let checked = rbk::check::check(loaded);
    let sources = &checked.program.sources;
    for d in &checked.diagnostics {
        assert_spans_inside(d, sources)?;
    }
    // Rendering is what the CLI does with every diagnostic; it must not panic.
    let _ = diagnostic::render_human(&checked.diagnostics, sources, false);
    for d in &checked.diagnostics {
        let _ = diagnostic::to_json(d, sources);
        let _ = diagnostic::to_github(d, sources);
    }
    Ok(())
}

fn assert_spans_inside(d: &Diagnostic, sources: &SourceMap) -> Result<(), TestCaseError> {
    let Some(primary) = &d.primary else {
        prop_assert!(
            d.code == codes::IO && d.path.is_some(),
            "diagnostic without a primary label: {d:?}"
        );
        return Ok(());
    };
    let files = sources.files().count();
    for label in std::iter::once(primary).chain(&d.secondary) {
        let span = label.span;
        prop_assert!(
            (span.file.0 as usize) < files,
            "label in unknown file {:?}: {d:?}",
            span.file
        );
        let text = &sources.get(span.file).text;
        prop_assert!(
            span.start <= span.end && span.end as usize <= text.len(),
            "label {span:?} outside its file ({} bytes): {d:?}",
            text.len()
        );
        prop_assert!(
            text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize),
            "label {span:?} splits a UTF-8 character: {d:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- configuration

/// Total random cases over all the property tests.
fn total_cases() -> u32 {
    std::env::var("RBK_FUZZ_CASES")
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(100_000)
}

/// A proptest configuration running `share` of the total cases.
fn config(share: f64) -> Config {
    Config {
        cases: ((total_cases() as f64 * share).ceil() as u32).max(1),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // Shrinking a mutated 10 kB program is slow; this is plenty to get
        // a small counter-example.
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path next to the examples, so that imports of a random text resolve
/// against the examples' directory.
fn fake_path() -> PathBuf {
    manifest_dir().join("examples").join("fuzz.rbk")
}

// ---------------------------------------------------------------- corpus

struct Seed {
    path: PathBuf,
    tokens: Vec<String>,
}

/// Every `.rbk` under `examples/`, then every one under `tests/fixtures/`,
/// tokenised.
static SEEDS: LazyLock<Vec<Seed>> = LazyLock::new(|| {
    let mut paths = Vec::new();
    for dir in ["examples", "tests/fixtures"] {
        let mut found = Vec::new();
        collect_rbk(&manifest_dir().join(dir), &mut found);
        found.sort();
        paths.append(&mut found);
    }
    let seeds: Vec<Seed> = paths
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            Some(Seed {
                tokens: tokenise(&text),
                path,
            })
        })
        .collect();
    assert!(!seeds.is_empty(), "no .rbk files found under examples/");
    seeds
});

fn collect_rbk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rbk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rbk") {
            out.push(path);
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>;
    prop_oneof![
        3 => i().prop_map(Mutation::Delete),
        2 => i().prop_map(Mutation::Duplicate),
        2 => (i(), i()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        3 => (i(), 0..INSERTS.len()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        1 => i().prop_map(Mutation::Truncate),
    ]
}

/// How many seeds come from `examples/` (they come first in [`SEEDS`]).
static EXAMPLES: LazyLock<usize> = LazyLock::new(|| {
    let dir = manifest_dir().join("examples");
    SEEDS
        .iter()
        .filter(|s| s.path.starts_with(&dir))
        .count()
        .max(1)
});

/// A seed program and the mutations to make to it. Half the cases start
/// from a (large, realistic) example, half from any seed, so the many small
/// fixtures do not crowd the examples out.
fn mutated() -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    let seed = prop_oneof![0..*EXAMPLES, 0..SEEDS.len()];
    (seed, prop::collection::vec(mutation(), 1..8))
}

fn run_mutated(seed: usize, mutations: &[Mutation]) -> Result<(), TestCaseError> {
    let seed = &SEEDS[seed];
    let mut tokens = seed.tokens.clone();
    for m in mutations {
        apply(&mut tokens, m);
    }
    run(&seed.path, tokens.concat())
}

/// Random sequences of the language's own tokens: more of them get past the
/// parser's first few characters than random text does.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => prop::sample::select(INSERTS).prop_map(str::to_string),
        1 => "[a-z_][a-z0-9_]{0,6}",
        1 => "\"[a-z{} ]{0,8}\"",
        1 => "[0-9]{1,4}",
    ];
    prop::collection::vec((token, prop::sample::select(&[" ", "", "\n"][..])), 0..120).prop_map(
        |v| {
            v.into_iter()
                .flat_map(|(t, s)| [t, s.to_string()])
                .collect()
        },
    )
}

// ---------------------------------------------------------------- property tests
// The shares add up to 1.0 of RBK_FUZZ_CASES. Mutated programs are the most
// productive (and the slowest) cases, so they get most of the budget, split
// over three tests to use every core.

proptest! {
    #![proptest_config(config(0.05))]
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        run(&fake_path(), String::from_utf8_lossy(&bytes).into_owned())?;
    }
}

proptest! {
    #![proptest_config(config(0.05))]
    #[test]
    fn random_unicode_never_panics(text in any::<String>()) {
        run(&fake_path(), text)?;
    }
}

proptest! {
    #![proptest_config(config(0.15))]
    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        run(&fake_path(), text)?;
    }
}

proptest! {
    #![proptest_config(config(0.25))]
    #[test]
    fn mutated_examples_never_panic_1((seed, muts) in mutated()) {
        run_mutated(seed, &muts)?;
    }
}

proptest! {
    #![proptest_config(config(0.25))]
    #[test]
    fn mutated_examples_never_panic_2((seed, muts) in mutated()) {
        run_mutated(seed, &muts)?;
    }
}

proptest! {
    #![proptest_config(config(0.25))]
    #[test]
    fn mutated_examples_never_panic_3((seed, muts) in mutated()) {
        run_mutated(seed, &muts)?;
    }
}

// ---------------------------------------------------------------- regressions

/// Runs one input on a thread with the stack the CLI's main thread has
/// (8 MiB), so a stack overflow shows as a crash of this test binary.
fn run_deep(text: String) {
    run_with_stack(text, 8 * 1024 * 1024);
}

fn run_with_stack(text: String, stack: usize) {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            run(&fake_path(), text).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

fn in_runbook(expr: &str) -> String {
    format!("runbook r(b: bool, l: [int], x: json) {{\n  let v = {expr}\n  log \"{{v}}\"\n}}\n")
}

/// Programs nested `depth` levels deep, one per construct that nests.
fn nested_statements(depth: usize) -> Vec<String> {
    let stmts = |open: &str| {
        format!(
            "runbook r(b: bool, l: [int]) {{ {} log \"x\" {} }}",
            open.repeat(depth),
            "}".repeat(depth)
        )
    };
    vec![
        format!("runbook r() {}{}", "{".repeat(depth), "}".repeat(depth)),
        stmts("if b { "),
        stmts("for i in l { "),
        stmts("parallel { "),
        format!(
            "integration a {{ base_url = \"http://x\" }}\nmethod a.b() {{ GET \"/\" }}\n\
             runbook r() {{ {}log 1{} }}",
            "step s = a.b() else { 404 => ".repeat(depth),
            " }".repeat(depth)
        ),
    ]
}

fn nested_expressions(depth: usize) -> Vec<String> {
    let wrap = |open: &str, close: &str| {
        in_runbook(&format!("{}1{}", open.repeat(depth), close.repeat(depth)))
    };
    vec![
        wrap("(", ")"),
        wrap("[", "]"),
        wrap("{a: ", "}"),
        wrap("\"{", "}\""),
        format!(
            "integration i {{ {} b = 1 {} }}",
            "a { ".repeat(depth),
            "}".repeat(depth)
        ),
        format!(
            "runbook r(x: {}int{}) {{ }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    ]
}

fn operator_chains(length: usize) -> Vec<String> {
    vec![
        in_runbook(&format!("1{}", " + 1".repeat(length))),
        in_runbook(&format!("null{}", " ?? null".repeat(length))),
        in_runbook(&format!("{}true", "not ".repeat(length))),
        in_runbook(&format!("{}1", "-".repeat(length))),
        in_runbook(&format!("x{}", ".a".repeat(length))),
        in_runbook(&format!("x{}", "[0]".repeat(length))),
    ]
}

#[test]
fn moderate_nesting_checks() {
    let else_ifs = format!(
        "runbook r(b: bool) {{ if b {{ }} {} }}",
        "else if b { } ".repeat(500)
    );
    for text in nested_statements(100)
        .into_iter()
        .chain([else_ifs])
        .chain(nested_expressions(200))
        .chain(operator_chains(500))
    {
        run_deep(text);
    }
}

/// Nesting just inside the parser's limit must fit the 2 MiB stack of a
/// test thread (or of a thread an embedder spawns with the default size).
#[test]
fn nesting_at_the_limit_fits_two_mib() {
    let depth = rbk::syntax::parser::MAX_NESTING - 2;
    for text in nested_statements(depth)
        .into_iter()
        .chain(nested_expressions(depth))
    {
        run_with_stack(text, 2 * 1024 * 1024);
    }
}

/// Far too deep: the parser's nesting guard refuses it before pest runs
/// (rbk uses pest 2.8, which does not probe the native stack itself).
#[test]
fn extreme_nesting_is_refused() {
    for open in ["(", "[", "{", "{a: ", "if b { ", "\"{"] {
        run_deep(in_runbook(&open.repeat(100_000)));
        run_deep(open.repeat(100_000));
    }
    run_deep(in_runbook(&format!(
        "{}1{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    )));
}

#[test]
fn unclosed_nesting() {
    for open in ["(", "[", "{", "\"{", "if b { "] {
        run_deep(in_runbook(&open.repeat(10_000)));
        run_deep(open.repeat(10_000));
    }
}

/// `src/syntax/parser.rs` refuses input whose brackets nest deeper than
/// `MAX_NESTING` before parsing it, so these end in a syntax error.
#[test]
fn deep_statement_nesting() {
    for text in nested_statements(10_000) {
        run_deep(text);
    }
}

#[test]
fn deep_expression_nesting() {
    for text in nested_expressions(10_000) {
        run_deep(text);
    }
}

// The three tests below overflow the stack today (an abort, which takes the
// whole test binary down), because the nesting guard in
// `src/syntax/parser.rs` (`too_deep`, which counts brackets) does not see
// this nesting:
//
// * brackets inside a string's `{...}` interpolation, and lines of a `"""`
//   string that start with `#`, are not counted; the AST builder overflows;
// * `else if` chains nest without brackets; the AST builder overflows at
//   about 2,000 of them (8 MiB stack);
// * operator chains nest without brackets: `not`/`-` chains overflow the
//   Pratt parser at about 10,000, `+`/`??` chains the checker
//   (`Cx::expr`/`Cx::binary`) at 10,000, `.a`/`[0]` chains at 30,000.
//
// `pest::set_call_limit` cannot stop these: it is a budget for the whole
// parse, not a depth, and each of these inputs needs fewer calls (70,000 to
// 470,000) than a 1,000-line program (245,000). They are ignored until the
// parser bounds them; run them with
// `cargo test --test robustness -- --ignored`.

#[test]
fn deep_nesting_inside_interpolation() {
    // `too_deep` counts only `{`/`}` inside a string, so the parentheses
    // of an interpolated expression go uncounted.
    run_deep(in_runbook(&format!(
        "\"{{{}1{}}}\"",
        "(".repeat(10_000),
        ")".repeat(10_000)
    )));
    // It also reads `"""` as an empty string and a one-line string, so a
    // `#` at the start of the next line of the text hides the rest of it.
    run_deep(in_runbook(&format!(
        "\"\"\"\n  # {{{}1{}}}\n  \"\"\"",
        "[".repeat(10_000),
        "]".repeat(10_000)
    )));
}

#[test]
fn long_else_if_chain() {
    run_deep(format!(
        "runbook r(b: bool) {{ if b {{ }} {} }}",
        "else if b { } ".repeat(10_000)
    ));
}

#[test]
fn long_operator_chains() {
    for text in operator_chains(30_000) {
        run_deep(text);
    }
}

#[test]
fn long_flat_programs() {
    // Many items and many errors: the parser's error recovery gives up
    // after a bounded number of errors instead of re-parsing forever.
    run_deep("runbook r( {\n".repeat(10_000));
    run_deep("x\n".repeat(10_000));
    run_deep(format!("runbook r() {{ {} }}", "log 1\n".repeat(10_000)));
    run_deep(format!("runbook r() {{ {} }}", "let ".repeat(10_000)));
    run_deep(format!(
        "runbook r() {{ var x = 0\n{} log x }}",
        "x += 1\n".repeat(10_000)
    ));
    run_deep(format!("runbook r() {{ {} }}", "x = ".repeat(10_000)));
}

#[test]
fn edge_cases() {
    for text in [
        "",
        "\u{FEFF}",
        "\"",
        "\"\"\"",
        "#",
        "##",
        "\r\n\r",
        "import \"\"",
        "import \".\"",
        "import \"common\"",
        "import \"fuzz.rbk\"",
        "import \"common/halo.rbk\"\nimport \"common/halo.rbk\"",
        "import \"{x}\"",
        "runbook r() { let x = \"\\u{110000}\" }",
        "runbook r() { let x = \"\\u{D800}\" }",
        "runbook r() { let x = \"\\u{}\" }",
        "runbook r() { let x = 99999999999999999999999 }",
        "runbook r() { let x = -9223372036854775808 }",
        "runbook r() { let x = 1e999 }",
        "runbook r() { wait 99999999999999999999d }",
        "runbook r() { wait 999999999999999d }",
        "runbook r() { wait 1.5e400s }",
        "runbook r() { let x = $ }",
        "runbook r() { let x = $[ }",
        "runbook r() { let x = range(9223372036854775807) }",
        "method a.b() { GET \"/{\" }",
        "method a.b() { GET \"/{}\" output { x = $[?@.a == 1] } }",
        "integration a { base_url = \"x\" }\nmethod a.b() { GET \"/\" output { x: [[[int?]?]?]? = $..[*] } }",
        "integration a { base_url = \"x\" retry { on = [599..100, 99999999999] } }",
        "runbook r() { step s = a.b() else { 999999999999 => fail \"x\" 1..0 => fail \"y\" } }",
        "runbook r() { step s = r() }",
        "runbook r() { step s = run r() }",
        "runbook \u{e9}() {}",
        "runbook r() { var }",
        "runbook r() { var x }",
        "runbook r() { x += }",
        "runbook r() { x = = 1 }",
        "runbook r() { x =+ 1 }",
        "runbook r() { var x = 1 x += x x = x }",
        "runbook r() { var x: [int] = [] for i in [1] parallel 2 { x += [i] } }",
        "runbook r() { var x = null x = 1 x += null }",
        "runbook r(l: [int]) { var n = 0 for i in l { n += i let n = 2 n = 3 } }",
        "instance \u{e9} { url = \"\u{1F600}\" }",
    ] {
        run_deep(text.to_string());
    }
}
