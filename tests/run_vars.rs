//! Variables that change (`var`, `=`, `+=`) against a real server: counters
//! in sequential loops over lists and pages, `+=` on each type it takes,
//! changes in `if` branches and `else` arms, vars per run of a runbook, and
//! what `rbk check` refuses or warns about.

mod run_support;

use run_support::*;
use serde_json::json;

const PROGRAM: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}" }

method api.item(id: int) {
  GET "/items/{id}"
  output {
    id: int = $.id
    name: string = $.name
    open: bool = $.open
  }
}

method api.code(code: int) {
  GET "/code/{code}"
}

method api.tickets() {
  GET "/tickets"
  paginate next_url = $.next
  output { titles: [string] = $.items[*].title }
}

runbook count_list(ids: [int]) {
  var count = 0
  var open = 0
  for id in ids {
    count += 1
    step it = api.item(id: id)
    if it.open {
      open = open + 1
    }
  }
  return { count: count, open: open }
}

runbook count_pages() {
  var pages = 0
  var titles: [string] = []
  var seen = 0
  for page in api.tickets() {
    pages += 1
    titles += page.titles
    seen += len(page.titles)
  }
  return { pages: pages, titles: titles, seen: seen }
}

runbook adds() {
  var n = 40
  n += 2
  var f: float = 1
  f += 0.5
  f += 1
  var g: float = 2
  var h = 0.5
  h = 3
  var s = "a"
  s += "b"
  s += "{n}"
  var l: [int] = [1]
  l += [2, 3]
  l += []
  return { n: n, f: f, g: g, h: h, s: s, l: l }
}

runbook branches(flag: bool, code: int) {
  var where = "start"
  var hits = 0
  if flag {
    where = "then"
    hits += 1
  } else if hits == 0 {
    where = "else if"
    hits += 10
  } else {
    where = "else"
  }
  step s = api.code(code: code) else {
    404 => where += "+404"
    _ => {
      where += "+other"
      hits += 100
    }
  }
  return { where: where, hits: hits }
}

runbook nested(rows: [int], cols: [int]) {
  var cells = 0
  var trace = ""
  for r in rows {
    for c in cols {
      cells += 1
    }
    trace += "{r}:{cells};"
  }
  return { cells: cells, trace: trace }
}

runbook child(start: int) {
  var total = start
  total += 1
  return { total: total }
}

runbook per_run() {
  var total = 100
  step a = run child(start: 1)
  step b = run child(start: 5)
  total += 1
  return { a: a.total, b: b.total, total: total }
}

runbook shadow_after(ids: [int]) {
  var count = 0
  var own = 100
  for id in ids {
    count += 1
    var count = 50
    count += id
    for j in [1, 2] {
      own += 1
      let own = 0
    }
  }
  return { count: count, own: own }
}

runbook last_item(ids: [int]) {
  var last = -1
  for id in ids {
    last = id
    if id == 3 {
      return { last: last, early: true }
    }
  }
  return { last: last, early: false }
}
"#;

fn server() -> Server {
    Server::start(|r, _| {
        let path = r.path().to_string();
        if let Some(id) = path.strip_prefix("/items/") {
            let id: i64 = id.parse().unwrap_or(-1);
            return Reply::json(
                json!({ "id": id, "name": format!("item-{id}"), "open": id % 2 == 0 }),
            );
        }
        if let Some(code) = path.strip_prefix("/code/") {
            return Reply::text("answer").code(code.parse().unwrap_or(500));
        }
        if path == "/tickets" {
            return match r.query_value("page").as_deref() {
                None => Reply::json(json!({
                    "items": [{ "title": "a" }, { "title": "b" }],
                    "next": "/tickets?page=2",
                })),
                Some("2") => Reply::json(json!({
                    "items": [{ "title": "c" }],
                    "next": "/tickets?page=3",
                })),
                _ => Reply::json(
                    json!({ "items": [{ "title": "d" }, { "title": "e" }], "next": null }),
                ),
            };
        }
        Reply::status(404)
    })
}

fn setup(s: &Server) -> (Dir, std::path::PathBuf) {
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    (dir, file)
}

#[test]
fn the_program_checks_clean_but_for_the_shadows() {
    let s = server();
    let (_d, file) = setup(&s);
    let f = file.to_string_lossy().into_owned();
    let out = rbk(&["check", &f, "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["errors"], 0, "{out}");
    // Only `shadow_after` hides outer names, on purpose.
    assert_eq!(v["warnings"], 2, "{out}");
    for d in v["diagnostics"].as_array().cloned().unwrap_or_default() {
        assert_eq!(d["code"], "rbk::shadowed_in_loop", "{out}");
    }
}

#[test]
fn a_counter_in_a_sequential_for_over_a_list_is_right_after_the_loop() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "count_list", &["ids=[1,2,3,4,6]"]);
    assert_eq!(out.ok(), json!({ "count": 5, "open": 3 }));
    let out = run(&file, "count_list", &["ids=[]"]);
    assert_eq!(out.ok(), json!({ "count": 0, "open": 0 }));
}

#[test]
fn a_counter_in_a_for_over_pages_is_right_after_the_loop() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "count_pages", &[]);
    assert_eq!(
        out.ok(),
        json!({ "pages": 3, "titles": ["a", "b", "c", "d", "e"], "seen": 5 })
    );
    assert_eq!(s.count(), 3);
}

#[test]
fn plus_equals_adds_ints_and_floats_joins_strings_and_appends_lists() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "adds", &[]);
    assert_eq!(
        out.ok(),
        json!({ "n": 42, "f": 2.5, "g": 2.0, "h": 3.0, "s": "ab42", "l": [1, 2, 3] })
    );
}

#[test]
fn if_branches_and_else_arms_change_a_var() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "branches", &["flag=true", "code=200"]);
    assert_eq!(out.ok(), json!({ "where": "then", "hits": 1 }));
    let out = run(&file, "branches", &["flag=false", "code=200"]);
    assert_eq!(out.ok(), json!({ "where": "else if", "hits": 10 }));
    let out = run(&file, "branches", &["flag=true", "code=404"]);
    assert_eq!(out.ok(), json!({ "where": "then+404", "hits": 1 }));
    let out = run(&file, "branches", &["flag=false", "code=500"]);
    assert_eq!(out.ok(), json!({ "where": "else if+other", "hits": 110 }));
}

#[test]
fn nested_loops_carry_changes_out_of_both() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "nested", &["rows=[0,1,2]", "cols=[7,8]"]);
    // Each outer item sees the cells counted by the items before it.
    assert_eq!(out.ok(), json!({ "cells": 6, "trace": "0:2;1:4;2:6;" }));
}

#[test]
fn a_sub_runbook_has_its_own_vars() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "per_run", &[]);
    assert_eq!(out.ok(), json!({ "a": 2, "b": 6, "total": 101 }));
}

#[test]
fn a_var_changed_then_hidden_in_the_body_keeps_the_change() {
    let s = server();
    let (_d, file) = setup(&s);
    // `count += 1` changes the outer count; the `var count` after it is the
    // item's own, and its changes stay inside the item.
    let out = run(&file, "shadow_after", &["ids=[5,6,7]"]);
    assert_eq!(out.ok(), json!({ "count": 3, "own": 106 }));
}

#[test]
fn a_return_inside_the_loop_sees_the_latest_value() {
    let s = server();
    let (_d, file) = setup(&s);
    let out = run(&file, "last_item", &["ids=[1,2,3,4]"]);
    assert_eq!(out.ok(), json!({ "last": 3, "early": true }));
    let out = run(&file, "last_item", &["ids=[7,8]"]);
    assert_eq!(out.ok(), json!({ "last": 8, "early": false }));
}

fn check_source(src: &str) -> Out {
    let dir = Dir::new();
    let file = dir.program(src, "http://127.0.0.1:1");
    let f = file.to_string_lossy().into_owned();
    let out = rbk(&["check", &f, "--format", "json"]);
    drop(dir);
    out
}

fn codes(out: &Out) -> Vec<(String, String)> {
    out.json()["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn check_rejects_a_parallel_loop_that_assigns_an_outer_var() {
    let src = r#"
runbook main(ids: [int]) {
  var total = 0
  for id in ids parallel 4 {
    total += id
  }
  log "{total}"
}
"#;
    let out = check_source(src);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(
        codes(&out),
        [("rbk::parallel_assign".to_string(), "error".to_string())]
    );
    // The same loop without `parallel` is fine.
    let out = check_source(&src.replace(" parallel 4", ""));
    assert_eq!(out.code, Some(0), "{out}");
    // A var declared inside the parallel body is the item's own.
    let own = r#"
runbook main(ids: [int]) {
  for id in ids parallel 4 {
    var mine = 0
    mine += id
    log "{mine}"
  }
}
"#;
    let out = check_source(own);
    assert_eq!(out.code, Some(0), "{out}");
}

#[test]
fn check_warns_about_a_let_that_shadows_an_outer_name_in_a_loop() {
    let src = r#"
runbook main(ids: [int]) {
  var count = 0
  for id in ids {
    let count = count + 1
    log "{count}"
  }
  log "{count}"
}
"#;
    let out = check_source(src);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        codes(&out),
        [("rbk::shadowed_in_loop".to_string(), "warning".to_string())]
    );
    let help = out.json()["diagnostics"][0]["help"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(help.contains("count += "), "{help}");
    // A new name is fine.
    let out = check_source(&src.replace(
        "let count = count + 1\n    log \"{count}\"",
        "let next = count + 1\n    log \"{next}\"",
    ));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(codes(&out).is_empty(), "{out}");
}

#[test]
fn check_rejects_assigning_a_let_an_undeclared_name_and_another_type() {
    let out = check_source("runbook main() {\n  let n = 1\n  n += 1\n}\n");
    assert_eq!(
        codes(&out),
        [("rbk::assign_immutable".to_string(), "error".to_string())]
    );
    let out = check_source("runbook main() {\n  var n = 1\n  m = 2\n  log \"{n}\"\n}\n");
    assert_eq!(
        codes(&out),
        [("rbk::unknown_name".to_string(), "error".to_string())]
    );
    let out = check_source("runbook main() {\n  var n = 1\n  n = \"one\"\n  log \"{n}\"\n}\n");
    assert_eq!(
        codes(&out),
        [("rbk::type_mismatch".to_string(), "error".to_string())]
    );
    let out = check_source("runbook main() {\n  var n = true\n  n += true\n  log \"{n}\"\n}\n");
    assert_eq!(
        codes(&out),
        [("rbk::type_mismatch".to_string(), "error".to_string())]
    );
}

#[test]
fn a_secret_assigned_to_a_var_taints_it() {
    // Assigned inside a loop, the var is secret after it and in later items.
    let src = r#"
runbook main(ids: [int]) {
  var token = ""
  for id in ids {
    log "before {token}"
    token = secret("RBK_T_VAR_TOKEN")
  }
  log "after {token}"
}
"#;
    let out = check_source(src);
    let leaks: Vec<i64> = out.json()["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|d| d["code"] == "rbk::secret_leak")
        .filter_map(|d| d["line"].as_i64())
        .collect();
    assert_eq!(leaks, [5, 8], "{out}");
}

#[test]
fn check_rejects_assigning_a_name_bound_differently_on_two_paths() {
    let src = "runbook main(c: bool) {\n  var x = 0\n  if c {\n    var x = 1\n  }\n  x += 1\n  log \"{x}\"\n}\n";
    let out = check_source(src);
    assert_eq!(
        codes(&out),
        [("rbk::assign_immutable".to_string(), "error".to_string())]
    );
    // Declared once, assigned on both paths: fine.
    let src = "runbook main(c: bool) {\n  var x = 0\n  if c {\n    x = 1\n  }\n  x += 1\n  log \"{x}\"\n}\n";
    let out = check_source(src);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(codes(&out).is_empty(), "{out}");
}

#[test]
fn a_secret_output_is_a_secret_for_the_checker() {
    // Passed to a `secret` parameter: fine. Logged: a leak warning.
    let src = r#"
integration api {
  base_url = "http://127.0.0.1:1"
  auth none
}

method api.login() {
  POST "/login"
  output {
    token: secret = $.token
  }
}

method api.use(t: secret) {
  GET "/use"
  headers { "X-T" = t }
}

runbook main() {
  step l = api.login()
  step u = api.use(t: l.token)
  log "{l.token}"
}
"#;
    let out = check_source(src);
    assert_eq!(
        codes(&out),
        [("rbk::secret_leak".to_string(), "warning".to_string())],
        "{out}"
    );
}

#[test]
fn compact_types_a_list_without_nulls_and_refuses_a_scalar() {
    let src = "runbook main(xs: [string?]) {\n  var names: [string] = compact(xs)\n  names += [\"z\"]\n  log \"{names}\"\n}\n";
    let out = check_source(src);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(codes(&out).is_empty(), "{out}");
    let out = check_source("runbook main(s: string) {\n  log \"{compact(s)}\"\n}\n");
    assert_eq!(
        codes(&out),
        [("rbk::type_mismatch".to_string(), "error".to_string())]
    );
}
