//! Every diagnostic code, through the real binary, on the programs in
//! `tests/fixtures/`.
//!
//! Each `tests/fixtures/invalid/*.rbk` starts with a line
//!
//! ```text
//! # expect: rbk::CODE at LINE:COL
//! # expect: rbk::CODE at LINE:COL in support/other.rbk
//! ```
//!
//! naming the code it must produce and where (1-based line and column of the
//! primary label; `in FILE` when the diagnostic is in another file of the
//! program, relative to the fixture's directory). Its human output is
//! snapshotted in `tests/snapshots/diagnostics__NAME.snap`.
//! `tests/fixtures/invalid/support/` holds imported helpers, not cases.
//! Every `tests/fixtures/valid/*.rbk` must check clean with warnings denied.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rbk::diagnostic::codes;

const INVALID: &str = "tests/fixtures/invalid";
const VALID: &str = "tests/fixtures/valid";

/// Codes reported as warnings: their fixtures exit 0 unless warnings are denied.
const WARNING_CODES: &[&str] = &[
    codes::PER_INSTANCE_INCOMPLETE,
    codes::UNREACHABLE,
    codes::SECRET_LEAK,
    codes::INSECURE_TLS,
    codes::MISSING_FILE,
    codes::HARDCODED_SECRET,
    codes::SHADOWED_IN_LOOP,
];

fn rbk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the rbk binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `.rbk` files directly in `dir` (relative to the crate), sorted.
fn fixtures(dir: &str) -> Vec<PathBuf> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rbk"))
        .map(|p| Path::new(dir).join(p.file_name().expect("file name")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {dir}");
    files
}

fn name(path: &Path) -> String {
    path.file_stem()
        .expect("file stem")
        .to_string_lossy()
        .into_owned()
}

/// What a fixture's `# expect:` line promises.
#[derive(Debug)]
struct Expect {
    code: String,
    line: u64,
    column: u64,
    /// The file the diagnostic is in, relative to the fixture's directory;
    /// `None` for the fixture itself.
    file: Option<String>,
}

fn expectation(path: &Path) -> Expect {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&full).expect("fixture is readable");
    let first = text.lines().next().unwrap_or_default();
    parse_expect(first).unwrap_or_else(|| {
        panic!(
            "{}: the first line must be `# expect: rbk::CODE at LINE:COL [in FILE]`, found {first:?}",
            path.display()
        )
    })
}

fn parse_expect(line: &str) -> Option<Expect> {
    let rest = line.strip_prefix("# expect: ")?;
    let (code, rest) = rest.split_once(" at ")?;
    let (pos, file) = match rest.split_once(" in ") {
        Some((pos, file)) => (pos, Some(file.trim().to_string())),
        None => (rest, None),
    };
    let (line, column) = pos.trim().split_once(':')?;
    Some(Expect {
        code: code.trim().to_string(),
        line: line.parse().ok()?,
        column: column.parse().ok()?,
        file,
    })
}

/// Human output with any absolute path of the crate made stable.
fn stable(text: &str) -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    text.replace(&format!("{dir}/"), "[CRATE]/")
        .replace(dir, "[CRATE]")
}

/// Checks one invalid fixture; returns a description of what is wrong.
fn check_invalid(path: &Path) -> Result<(), String> {
    let p = path.to_str().expect("utf-8 path");
    let expect = expectation(path);
    let o = rbk(&["check", p, "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).map_err(|e| format!("not json ({e}): {}", stdout(&o)))?;
    let diags = v["diagnostics"].as_array().cloned().unwrap_or_default();
    let summary: Vec<String> = diags
        .iter()
        .map(|d| {
            format!(
                "{} {}:{}:{} {}",
                d["code"].as_str().unwrap_or("?"),
                d["file"].as_str().unwrap_or("?"),
                d["line"],
                d["column"],
                d["message"].as_str().unwrap_or("?")
            )
        })
        .collect();

    let warning_only = WARNING_CODES.contains(&expect.code.as_str());
    let want_exit = if warning_only { 0 } else { 1 };
    if o.status.code() != Some(want_exit) {
        return Err(format!(
            "exit code {:?}, expected {want_exit}; diagnostics: {summary:#?}",
            o.status.code()
        ));
    }
    if warning_only && v["errors"] != 0 {
        return Err(format!(
            "a warning fixture must have no errors; diagnostics: {summary:#?}"
        ));
    }

    let want_file = match &expect.file {
        Some(f) => Path::new(p).parent().expect("parent").join(f),
        None => PathBuf::from(p),
    };
    let found = diags.iter().find(|d| {
        d["code"] == expect.code.as_str()
            && d["line"] == expect.line
            && d["column"] == expect.column
            && d["file"]
                .as_str()
                .is_some_and(|f| same_file(Path::new(f), &want_file))
    });
    let Some(d) = found else {
        return Err(format!(
            "no {} at {}:{}:{}; diagnostics: {summary:#?}",
            expect.code,
            want_file.display(),
            expect.line,
            expect.column
        ));
    };
    let severity = if warning_only { "warning" } else { "error" };
    if d["severity"] != severity {
        return Err(format!("{} should be a {severity}: {d}", expect.code));
    }
    if d["message"].as_str().is_none_or(str::is_empty) {
        return Err(format!("empty message: {d}"));
    }
    // Every diagnostic carries help, except some syntax errors (the grammar
    // does not always know which construct it was in).
    if expect.code != codes::SYNTAX && d["help"].as_str().is_none_or(str::is_empty) {
        return Err(format!("no help: {d}"));
    }
    Ok(())
}

/// Whether two paths name the same file (one may go through `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match (root.join(a).canonicalize(), root.join(b).canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[test]
fn invalid_fixtures_report_their_code_at_the_expected_place() {
    let mut failures = Vec::new();
    for path in fixtures(INVALID) {
        if let Err(why) = check_invalid(&path) {
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_fixtures_human_output_snapshots() {
    for path in fixtures(INVALID) {
        let o = rbk(&[
            "check",
            path.to_str().expect("utf-8 path"),
            "--format",
            "human",
        ]);
        let text = stable(&stdout(&o));
        insta::with_settings!({
            description => format!("rbk check {} --format human", path.display()),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name(&path), text);
        });
    }
}

#[test]
fn every_code_has_a_fixture() {
    let covered: BTreeSet<String> = fixtures(INVALID)
        .iter()
        .map(|p| expectation(p).code)
        .collect();
    let known: BTreeSet<&str> = codes::ALL.iter().map(|(c, _)| *c).collect();
    let missing: Vec<&&str> = known.iter().filter(|c| !covered.contains(**c)).collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
    let unknown: Vec<&String> = covered
        .iter()
        .filter(|c| !known.contains(c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "fixtures expect unknown codes: {unknown:?}"
    );
}

#[test]
fn every_code_has_a_fixture_named_after_it() {
    let names: BTreeSet<String> = fixtures(INVALID).iter().map(|p| name(p)).collect();
    for (code, _) in codes::ALL {
        let base = code.strip_prefix("rbk::").expect("codes start with rbk::");
        assert!(names.contains(base), "no tests/fixtures/invalid/{base}.rbk");
    }
}

#[test]
fn valid_fixtures_check_clean_with_warnings_denied() {
    for path in fixtures(VALID) {
        let p = path.to_str().expect("utf-8 path");
        let o = rbk(&["check", p, "--deny-warnings"]);
        assert_eq!(o.status.code(), Some(0), "{p}:\n{}", stdout(&o));
        assert!(
            stdout(&o).contains("0 errors, 0 warnings"),
            "{p}:\n{}",
            stdout(&o)
        );
    }
}

#[test]
fn github_format_annotates_file_line_and_column() {
    let o = rbk(&[
        "check",
        "tests/fixtures/invalid/unknown_method.rbk",
        "--format",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = out.lines().next().expect("one annotation");
    assert!(line.starts_with("::error file="), "{line}");
    assert!(line.contains("line=15"), "{line}");
    assert!(line.contains("col=17"), "{line}");
    assert!(line.contains("title=rbk%3A%3Aunknown_method"), "{line}");
    assert!(line.contains("did you mean `get_ticket`?"), "{line}");
}

#[test]
fn github_format_reports_warnings_as_warnings() {
    let o = rbk(&[
        "check",
        "tests/fixtures/invalid/secret_leak.rbk",
        "--format",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let line = out.lines().next().expect("one annotation");
    assert!(line.starts_with("::warning file="), "{line}");
    assert!(line.contains("line=4"), "{line}");
    assert!(line.contains("col=7"), "{line}");
}

#[test]
fn deny_warnings_fails_a_warning_only_program() {
    let file = "tests/fixtures/invalid/secret_leak.rbk";
    let allowed = rbk(&["check", file]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout(&allowed));
    assert!(
        stdout(&allowed).contains("0 errors, 1 warning"),
        "{}",
        stdout(&allowed)
    );
    let denied = rbk(&["check", file, "--deny-warnings"]);
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));
}

#[test]
fn a_nonexistent_path_is_a_usage_error() {
    let o = rbk(&["check", "tests/fixtures/invalid/no_such_file.rbk"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let o = rbk(&[
        "check",
        "tests/fixtures/invalid/no_such_file.rbk",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert_eq!(v["diagnostics"][0]["code"], codes::IO);
}

#[test]
fn json_output_has_the_documented_shape() {
    let o = rbk(&[
        "check",
        "tests/fixtures/invalid/missing_argument.rbk",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert_eq!(v["files"], 1);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let d = &v["diagnostics"][0];
    for key in [
        "code",
        "severity",
        "message",
        "help",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
    ] {
        assert!(!d[key].is_null(), "missing {key}: {d}");
    }
    assert_eq!(d["related"][0]["message"], "declared here");
}
