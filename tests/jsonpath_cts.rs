//! The public JSONPath Compliance Test Suite (RFC 9535), run through both
//! routes by which rbk reads a `$...` output: the full parse of the body,
//! and the lazy walk for singular queries (`Response::prefetch`). The two
//! must give the same answer on every case, and neither may pass fewer
//! cases than the full route did when the lazy route was added (694).

use rbk::runtime::outputs::{Response, query};
use rbk::runtime::value::Value;
use rbk::syntax::ast::Span;

/// How many cases rbk passed through jsonpath-rust before the lazy route.
const PASSED_BEFORE: usize = 694;

#[derive(serde::Deserialize)]
struct Suite {
    tests: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    selector: String,
    #[serde(default)]
    document: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    results: Option<Vec<Vec<serde_json::Value>>>,
    #[serde(default)]
    invalid_selector: bool,
}

/// What rbk answers for a query that matches `nodes`: the one match (or
/// null) for a singular query, else the list.
fn expected(nodes: &[serde_json::Value], singular: bool) -> Value {
    if singular {
        nodes.first().map(Value::from_json).unwrap_or(Value::Null)
    } else {
        Value::list(nodes.iter().map(Value::from_json).collect())
    }
}

#[test]
fn compliance_suite_through_both_routes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jsonpath-cts/cts.json"
    ))
    .unwrap();
    let suite: Suite = serde_json::from_str(&text).unwrap();
    assert_eq!(suite.tests.len(), 703);
    let (mut full_pass, mut lazy_pass, mut lazy_used) = (0, 0, 0);
    let mut disagree = Vec::new();
    for case in &suite.tests {
        let span = Span::default();
        let doc = case.document.clone().unwrap_or(serde_json::Value::Null);
        let body = serde_json::to_vec(&doc).unwrap();
        let full = query(&doc, &case.selector, span);
        // The lazy route exactly as a step's outputs take it.
        let resp = Response::new(200, Vec::new(), body);
        resp.prefetch(&[&case.selector]);
        lazy_used += usize::from(resp.read_lazily(&case.selector));
        let lazy = resp.jsonpath(&case.selector, span);
        match (&full, &lazy) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => {}
            _ => disagree.push(format!("{}: {full:?} / {lazy:?}", case.name)),
        }
        let pass = |r: &Result<Value, rbk::runtime::eval::EvalError>| {
            if case.invalid_selector {
                return r.is_err();
            }
            let Ok(got) = r else { return false };
            let alternatives: Vec<&Vec<serde_json::Value>> = match (&case.result, &case.results) {
                (Some(one), _) => vec![one],
                (None, Some(many)) => many.iter().collect(),
                (None, None) => return false,
            };
            // rbk gives a singular query's one match (or null) and any
            // other query's list; which one the selector is, is decided
            // by jsonpath-rust's parse and tested in `outputs.rs`.
            alternatives
                .iter()
                .any(|a| *got == expected(a, true) || *got == expected(a, false))
        };
        full_pass += usize::from(pass(&full));
        lazy_pass += usize::from(pass(&lazy));
    }
    assert!(
        disagree.is_empty(),
        "the routes disagree:\n{}",
        disagree.join("\n")
    );
    assert!(
        lazy_used >= 70,
        "the lazy route read only {lazy_used} cases"
    );
    assert!(full_pass >= PASSED_BEFORE, "full route: {full_pass} of 703");
    assert!(lazy_pass >= PASSED_BEFORE, "lazy route: {lazy_pass} of 703");
    eprintln!("full route {full_pass}/703, lazy route {lazy_pass}/703 ({lazy_used} read lazily)");
}
