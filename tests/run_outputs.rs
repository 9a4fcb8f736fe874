//! Outputs read from real responses: every source, every conversion to a
//! declared type, and every type error (which fails the step, naming the
//! output, the query, the expected type and the value found).

mod run_support;

use run_support::*;
use serde_json::json;

const PROGRAM: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}" }

method api.sources() {
  GET "/sources"
  output {
    deep = $.a.b
    deep_typed: string = $.a.b
    ids: [int] = $.items[*].id
    names = $.items[*].name
    first_id: int = $.items[0].id
    missing: string? = $.nope
    code = status
    code_typed: int = status
    total: int = int(header("X-Total") ?? "0")
    total_raw = header("x-total")
    absent = header("X-Absent")
    raw = body
    parsed = json
    count = len($.items[*])
    greeting = "hi " + $.a.b
  }
}

method api.text() {
  GET "/text"
  output {
    raw: string = body
    code = status
  }
}

method api.as_int(case: string) {
  GET "/v/{case}"
  output { v: int = $.v }
}
method api.as_float(case: string) {
  GET "/v/{case}"
  output { v: float = $.v }
}
method api.as_bool(case: string) {
  GET "/v/{case}"
  output { v: bool = $.v }
}
method api.as_string(case: string) {
  GET "/v/{case}"
  output { v: string = $.v }
}
method api.as_datetime(case: string) {
  GET "/v/{case}"
  output { v: datetime = $.v }
}
method api.as_duration(case: string) {
  GET "/v/{case}"
  output { v: duration = $.v }
}
method api.as_ints(case: string) {
  GET "/v/{case}"
  output { v: [int] = $.v }
}
method api.as_opt(case: string) {
  GET "/v/{case}"
  output { v: int? = $.v }
}
method api.as_json(case: string) {
  GET "/v/{case}"
  output { v: json = $.v }
}

runbook sources() {
  step s = api.sources()
  step t = api.text()
  return {
    deep: s.deep,
    ids: s.ids,
    second: s.ids[1],
    names: s.names,
    first_id: s.first_id,
    missing: s.missing,
    code: s.code,
    total: s.total,
    total_raw: s.total_raw,
    absent: s.absent,
    raw: s.raw,
    parsed_a: s.parsed.a,
    count: s.count,
    greeting: s.greeting,
    text: t.raw,
    header_field: s.headers["x-total"],
    ok: s.ok,
    status: s.status,
  }
}

runbook caught(case: string) {
  step s = api.as_int(case: case) else {
    404 => fail "not this arm"
    _ => log "caught: {s.error}"
  }
  return { ok: s.ok, status: s.status, error: s.error }
}

runbook by_status(case: string) {
  step s = api.as_int(case: case) else {
    200 => log "matched by status"
  }
  return { ok: s.ok, status: s.status }
}

runbook uncaught(case: string) {
  step s = api.as_int(case: case)
  return { v: s.v }
}
"#;

fn value_of(case: &str) -> serde_json::Value {
    match case {
        "int" => json!(42),
        "neg" => json!(-7),
        "intfloat" => json!(3.0),
        "float" => json!(2.5),
        "numstr" => json!("17"),
        "floatstr" => json!("1.25"),
        "badstr" => json!("abc"),
        "true" => json!(true),
        "truestr" => json!("true"),
        "falsestr" => json!("false"),
        "str" => json!("text"),
        "date" => json!("2024-01-31T10:00:00Z"),
        "baddate" => json!("31/01/2024"),
        "ms" => json!(1500),
        "ints" => json!([1, 2, 3]),
        "mixed" => json!([1, "x", 3]),
        "obj" => json!({ "k": [1, { "z": null }] }),
        "null" => json!(null),
        _ => return json!({}),
    }
    .clone()
}

fn server() -> Server {
    Server::start(|r, _| match r.path() {
        "/sources" => Reply::json(json!({
            "a": { "b": "deep value" },
            "items": [{ "id": 10, "name": "x" }, { "id": 20, "name": "y" }],
        }))
        .header("X-Total", "2"),
        "/text" => Reply::text("plain text, not JSON").code(202),
        p => match p.strip_prefix("/v/") {
            Some("missing") => Reply::json(json!({ "other": 1 })),
            Some(case) => Reply::json(json!({ "v": value_of(case) })),
            None => Reply::status(404),
        },
    })
}

#[test]
fn every_output_source() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let v = run(&file, "sources", &[]).ok();
    assert_eq!(
        v,
        json!({
            "deep": "deep value",
            "ids": [10, 20],
            "second": 20,
            "names": ["x", "y"],
            "first_id": 10,
            "missing": null,
            "code": 200,
            "total": 2,
            "total_raw": "2",
            "absent": null,
            "raw": r#"{"a":{"b":"deep value"},"items":[{"id":10,"name":"x"},{"id":20,"name":"y"}]}"#,
            "parsed_a": { "b": "deep value" },
            "count": 2,
            "greeting": "hi deep value",
            "text": "plain text, not JSON",
            "header_field": "2",
            "ok": true,
            "status": 200,
        })
    );
}

#[test]
fn call_prints_outputs_as_json() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let v = call(&file, "api.text", &[]).ok();
    assert_eq!(v["raw"], "plain text, not JSON");
    assert_eq!(v["code"], 202);
    assert_eq!(v["status"], 202);
    let v = call(&file, "api.as_int", &["case=numstr"]).ok();
    assert_eq!(v["v"], 17);
    assert_eq!(
        s.requests().last().map(|r| r.target.clone()),
        Some("/v/numstr".into())
    );
}

#[test]
fn conversions_to_declared_types() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let cases: &[(&str, &str, serde_json::Value)] = &[
        ("api.as_int", "int", json!(42)),
        ("api.as_int", "neg", json!(-7)),
        ("api.as_int", "intfloat", json!(3)),
        ("api.as_int", "numstr", json!(17)),
        ("api.as_float", "float", json!(2.5)),
        ("api.as_float", "int", json!(42.0)),
        ("api.as_float", "floatstr", json!(1.25)),
        ("api.as_bool", "true", json!(true)),
        ("api.as_bool", "truestr", json!(true)),
        ("api.as_bool", "falsestr", json!(false)),
        ("api.as_string", "str", json!("text")),
        (
            "api.as_datetime",
            "date",
            json!("2024-01-31T10:00:00+00:00"),
        ),
        ("api.as_duration", "ms", json!("1500ms")),
        ("api.as_ints", "ints", json!([1, 2, 3])),
        ("api.as_opt", "null", json!(null)),
        ("api.as_opt", "missing", json!(null)),
        ("api.as_opt", "numstr", json!(17)),
        ("api.as_json", "obj", json!({ "k": [1, { "z": null }] })),
        ("api.as_json", "missing", json!(null)),
    ];
    for (method, case, want) in cases {
        let out = call(&file, method, &[&format!("case={case}")]);
        assert_eq!(out.code, Some(0), "{method} {case}:\n{out}");
        assert_eq!(&out.json()["v"], want, "{method} {case}:\n{out}");
    }
}

#[test]
fn type_errors_name_output_query_type_and_value() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let cases: &[(&str, &str, &str, &str)] = &[
        ("api.as_int", "float", "expected int", "2.5"),
        ("api.as_int", "badstr", "expected int", "\"abc\""),
        ("api.as_int", "null", "expected int", "null"),
        ("api.as_int", "missing", "expected int", "null"),
        ("api.as_float", "badstr", "expected float", "\"abc\""),
        ("api.as_bool", "int", "expected bool", "42"),
        ("api.as_string", "int", "expected string", "42"),
        ("api.as_string", "ints", "expected string", "[1,2,3]"),
        ("api.as_datetime", "baddate", "datetime", "31/01/2024"),
        ("api.as_duration", "str", "expected duration", "\"text\""),
        ("api.as_ints", "mixed", "expected int", "\"x\""),
        ("api.as_ints", "int", "expected a list", "42"),
        ("api.as_opt", "badstr", "expected int", "\"abc\""),
    ];
    for (method, case, expected, found) in cases {
        let out = call(&file, method, &[&format!("case={case}")]);
        let err = out.failed();
        assert!(
            err.contains("output `v`"),
            "{method} {case}: no output name\n{out}"
        );
        assert!(err.contains("$.v"), "{method} {case}: no query\n{out}");
        assert!(
            err.contains(expected),
            "{method} {case}: no `{expected}`\n{out}"
        );
        assert!(err.contains(found), "{method} {case}: no `{found}`\n{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
}

#[test]
fn a_type_error_fails_the_runbook_with_the_step() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let out = run(&file, "uncaught", &["case=badstr"]);
    let err = out.failed();
    assert!(err.contains("step `s`"), "{out}");
    assert!(err.contains("GET http://127.0.0.1"), "{out}");
    assert!(
        err.contains("output `v`") && err.contains("expected int"),
        "{out}"
    );
    assert!(err.contains("main.rbk:"), "{out}");
    let v = run(&file, "uncaught", &["case=numstr"]).ok();
    assert_eq!(v, json!({ "v": 17 }));
}

#[test]
fn an_else_arm_catches_a_type_error() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let out = run(&file, "caught", &["case=badstr"]);
    let v = out.ok();
    assert_eq!(v["ok"], false);
    assert_eq!(v["status"], 200);
    let e = v["error"].as_str().unwrap_or_default();
    assert!(
        e.contains("output `v`") && e.contains("expected int"),
        "{v}"
    );
    assert!(out.stderr.contains("caught: output `v`"), "{out}");
    // A status arm matches the status of a response whose outputs failed.
    let out = run(&file, "by_status", &["case=badstr"]);
    assert_eq!(out.ok(), json!({ "ok": false, "status": 200 }));
    assert!(out.stderr.contains("matched by status"), "{out}");
    // Success goes past the arms.
    let v = run(&file, "caught", &["case=int"]).ok();
    assert_eq!(v, json!({ "ok": true, "status": 200, "error": null }));
}
