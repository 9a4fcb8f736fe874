//! Every statement and arm kind against a real server: let, if, wait, log,
//! fail, return, run, else arms (status, range, timeout, error, `_`, fall
//! through), polling, `for ... parallel N`, `parallel { }`, --max-steps.

mod run_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use run_support::*;
use serde_json::json;

const PROGRAM: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}" }

integration down { base_url = "http://127.0.0.1:@CLOSED@" }

method api.item(id: int) {
  GET "/items/{id}"
  output {
    id: int = $.id
    name: string = $.name
  }
}

method api.code(code: int) {
  GET "/code/{code}"
}

method api.slow() {
  GET "/slow"
  timeout = 200ms
}

method api.job() {
  GET "/job"
  output { state: string = $.state }
}

method down.ping() {
  GET "/ping"
}

runbook flow(n: int, label: string = "x") {
  let doubled = n * 2
  let msg = "n is {n}"
  log msg
  if n > 10 {
    log "big"
    return { size: "big", doubled: doubled }
  } else if n > 5 {
    log "medium"
    let size = "medium"
    return { size: size, doubled: doubled, label: label }
  } else {
    log "small"
  }
  if n == 0 {
    fail "n must not be zero ({label})"
  }
  return { size: "small", doubled: doubled }
}

runbook bare() {
  log "nothing to return"
}

runbook waits() {
  step a = api.item(id: 1)
  wait 300ms
  step b = api.item(id: 2)
  return { a: a.name, b: b.name }
}

runbook parent(n: int) {
  step sub = run flow(n: n, label: "from parent")
  step failed = run flow(n: 0, label: "inner") else {
    error => log "child failed: {failed.error}"
  }
  return { size: sub.size, doubled: sub.doubled, label: sub.label, child_ok: failed.ok }
}

runbook arms(code: int) {
  step s = api.code(code: code) else {
    404 => { return { arm: "404", status: s.status } }
    500..599 => { return { arm: "5xx", status: s.status } }
    401 | 403 => { return { arm: "auth", status: s.status } }
    _ => { return { arm: "any", status: s.status } }
  }
  return { arm: "none", status: s.status }
}

runbook fall_through(code: int) {
  step s = api.code(code: code) else {
    404 => log "no such thing; carrying on"
  }
  step after = api.item(id: 5)
  return { ok: s.ok, status: s.status, error: s.error, after: after.name }
}

runbook unmatched(code: int) {
  step s = api.code(code: code) else {
    404 => log "not this"
  }
  return { reached: true }
}

runbook timeouts() {
  step s = api.slow() else {
    500..599 => fail "wrong arm"
    error => fail "wrong arm: error"
    timeout => { return { arm: "timeout", ok: s.ok, status: s.status, error: s.error } }
  }
  return { arm: "none" }
}

runbook errors() {
  step s = down.ping() else {
    timeout => fail "wrong arm: timeout"
    404 => fail "wrong arm: 404"
    error => { return { arm: "error", status: s.status, error: s.error } }
  }
  return { arm: "none" }
}

runbook any_arm() {
  step s = down.ping() else {
    _ => log "caught by _"
  }
  return { ok: s.ok }
}

runbook poll(max: int) {
  step p = api.job() until p.state == "done" every 50ms max 5 else {
    timeout => { return { gave_up: true, state: "unknown", error: p.error } }
  }
  return { gave_up: false, state: p.state, waited: p.elapsed >= 100ms }
}

runbook poll_three() {
  step p = api.job() until p.state == "done" every 50ms max 3 else {
    timeout => { return { gave_up: true, error: p.error } }
  }
  return { gave_up: false, state: p.state }
}

runbook fan_out(ids: [int]) {
  for id in ids parallel 3 {
    step it = api.item(id: id)
    log "item {it.id}"
  }
  let names = []
  return { count: len(it), first: it[0].name, last: it[len(it) - 1].id, all: it }
}

runbook fan_out_serial(ids: [int]) {
  for id in ids {
    step it = api.item(id: id)
  }
  return { count: len(it), second: it[1].name }
}

runbook both() {
  parallel {
    step a = api.item(id: 1)
    step b = api.item(id: 2)
    {
      step c = api.item(id: 3)
      log "c is {c.name}"
    }
  }
  return { a: a.name, b: b.name, c: c.name }
}

runbook both_fail() {
  parallel {
    step a = api.item(id: 1)
    step b = api.code(code: 500)
  }
  return { a: a.name }
}

runbook find(ids: [int], want: int) {
  for id in ids {
    step it = api.item(id: id)
    if it.id == want {
      return { found: it.name }
    }
  }
  return { found: null }
}

runbook first_branch() {
  parallel {
    step slow = api.item(id: 1)
    {
      step quick = api.code(code: 200)
      return { winner: "quick" }
    }
  }
  return { winner: "none" }
}

runbook endless() {
  for i in range(1000) {
    let x = i
  }
  return { done: true }
}

runbook huge_range() {
  for i in range(10000000) {
    step s = api.item(id: i)
    if i == 2 {
      return { stopped_at: i }
    }
  }
  return { stopped_at: -1 }
}

runbook ranges(a: int, b: int) {
  var sum = 0
  var count = 0
  for i in range(a, b) {
    sum += i
    count += 1
  }
  var upto = 0
  for i in range(b) {
    upto += 1
  }
  for i in range(a, b) parallel 3 {
    step s = api.item(id: i)
  }
  let ids = range(a, b)
  return { sum: sum, count: count, upto: upto, fetched: len(s), ids: ids }
}

runbook huge_range_parallel() {
  for i in range(10000000) parallel 4 {
    step s = api.item(id: i)
    if i == 2 {
      fail "stop at {i}"
    }
  }
}
"#;

/// Items answer after `delay(id)`; `/code/N` answers N; `/slow` sleeps.
fn server_with(delay: impl Fn(i64) -> u64 + Send + Sync + 'static) -> Server {
    let jobs = Arc::new(AtomicUsize::new(0));
    Server::start(move |r, _| {
        let path = r.path().to_string();
        if let Some(id) = path.strip_prefix("/items/") {
            let id: i64 = id.parse().unwrap_or(-1);
            if id == 13 {
                return Reply::status(500);
            }
            return Reply::json(json!({ "id": id, "name": format!("item-{id}") }))
                .after(Duration::from_millis(delay(id)));
        }
        if let Some(code) = path.strip_prefix("/code/") {
            return Reply::text("answer").code(code.parse().unwrap_or(500));
        }
        match path.as_str() {
            "/slow" => Reply::json(json!({})).after(Duration::from_millis(1500)),
            "/job" => {
                let n = jobs.fetch_add(1, Ordering::SeqCst);
                let state = if n < 2 { "pending" } else { "done" };
                Reply::json(json!({ "state": state }))
            }
            _ => Reply::status(404),
        }
    })
}

fn setup(s: &Server) -> (Dir, std::path::PathBuf) {
    let dir = Dir::new();
    let src = PROGRAM.replace("@CLOSED@", &closed_port().to_string());
    let file = dir.program(&src, &s.url);
    (dir, file)
}

/// `main.rbk:LINE:COL` of the first occurrence of `needle` in the program.
fn position(needle: &str) -> String {
    let src = PROGRAM.trim_start_matches('\n');
    let _ = src;
    let at = PROGRAM.find(needle).expect("needle in program");
    let before = &PROGRAM[..at];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!("main.rbk:{line}:{col}")
}

#[test]
fn let_if_log_and_return() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "flow", &["n=20"]);
    assert_eq!(out.ok(), json!({ "size": "big", "doubled": 40 }));
    assert!(
        out.stderr.contains("n is 20") && out.stderr.contains("big"),
        "{out}"
    );
    assert!(!out.stderr.contains("medium"), "{out}");
    let out = run(&file, "flow", &["n=7", "label=L"]);
    assert_eq!(
        out.ok(),
        json!({ "size": "medium", "doubled": 14, "label": "L" })
    );
    let out = run(&file, "flow", &["n=3"]);
    assert_eq!(out.ok(), json!({ "size": "small", "doubled": 6 }));
    assert!(out.stderr.contains("small"), "{out}");
    // A bare runbook returns `{}`.
    let out = run(&file, "bare", &[]);
    assert_eq!(out.ok(), json!({}));
    assert!(out.stderr.contains("nothing to return"), "{out}");
    assert_eq!(s.count(), 0);
}

#[test]
fn fail_exits_1_with_message_and_position() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "flow", &["n=0", "label=zero"]);
    let err = out.failed();
    assert!(err.contains("n must not be zero (zero)"), "{out}");
    let pos = position("\"n must not be zero");
    assert!(err.contains(&pos), "want {pos}:\n{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn wait_pauses_between_steps() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "waits", &[]);
    assert_eq!(out.ok(), json!({ "a": "item-1", "b": "item-2" }));
    let r = s.requests();
    assert_eq!(r.len(), 2);
    let gap = gap_ms(&r[0], &r[1]);
    assert!((290..1500).contains(&gap), "gap {gap}ms");
}

#[test]
fn run_calls_another_runbook_and_reads_its_fields() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "parent", &["n=8"]);
    assert_eq!(
        out.ok(),
        json!({ "size": "medium", "doubled": 16, "label": "from parent", "child_ok": false })
    );
    assert!(
        out.stderr
            .contains("child failed: n must not be zero (inner)"),
        "{out}"
    );
}

#[test]
fn status_and_range_arms() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    for (code, arm) in [
        (404, "404"),
        (500, "5xx"),
        (503, "5xx"),
        (599, "5xx"),
        (403, "auth"),
        (401, "auth"),
        (400, "any"),
        (302, "any"),
        (200, "none"),
        (204, "none"),
    ] {
        let out = run(&file, "arms", &[&format!("code={code}")]);
        assert_eq!(
            out.ok(),
            json!({ "arm": arm, "status": code }),
            "code {code}"
        );
    }
}

#[test]
fn an_arm_that_falls_through_continues() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "fall_through", &["code=404"]);
    let v = out.ok();
    assert_eq!(v["ok"], false);
    assert_eq!(v["status"], 404);
    assert_eq!(v["after"], "item-5");
    let e = v["error"].as_str().unwrap_or_default();
    assert!(e.contains("404") && e.contains("answer"), "{v}");
    assert!(out.stderr.contains("carrying on"), "{out}");
    assert_eq!(s.count(), 2);
    // No arm matches 500: the runbook fails at the step.
    let out = run(&file, "unmatched", &["code=500"]);
    let err = out.failed();
    assert!(err.contains("step `s`") && err.contains("500"), "{out}");
}

#[test]
fn timeout_arm() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "timeouts", &[]);
    let v = out.ok();
    assert_eq!(v["arm"], "timeout", "{out}");
    assert_eq!(v["ok"], false);
    assert_eq!(v["status"], 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{v}"
    );
    assert!(
        out.took < Duration::from_millis(1400),
        "took {:?}",
        out.took
    );
}

#[test]
fn error_and_any_arms_on_connection_refused() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let v = run(&file, "errors", &[]).ok();
    assert_eq!(v["arm"], "error");
    assert_eq!(v["status"], 0);
    let e = v["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(e.contains("refused") || e.contains("connect"), "{v}");
    let out = run(&file, "any_arm", &[]);
    assert_eq!(out.ok(), json!({ "ok": false }));
    assert!(out.stderr.contains("caught by _"), "{out}");
}

#[test]
fn polling_until_done() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "poll", &["max=5"]);
    assert_eq!(
        out.ok(),
        json!({ "gave_up": false, "state": "done", "waited": true }),
        "elapsed covers every call and wait"
    );
    let r = s.requests();
    assert_eq!(r.len(), 3, "pending, pending, done");
    assert!(gap_ms(&r[0], &r[1]) >= 45, "{}", gap_ms(&r[0], &r[1]));
    assert!(gap_ms(&r[1], &r[2]) >= 45);
}

#[test]
fn polling_gives_up_after_max_as_timeout() {
    // Always pending.
    let s = Server::start(|_, _| Reply::json(json!({ "state": "pending" })));
    let (_d, file) = setup(&s);
    let out = run(&file, "poll_three", &[]);
    let v = out.ok();
    assert_eq!(v["gave_up"], true, "{out}");
    let e = v["error"].as_str().unwrap_or_default();
    assert!(e.contains("p.state == \"done\"") && e.contains('3'), "{v}");
    assert_eq!(s.count(), 3);
}

#[test]
fn for_parallel_bounds_in_flight_and_keeps_order() {
    // Later items answer sooner, so completion order is reversed.
    let s = server_with(|id| 100 + (10 - id as u64) * 10);
    let (_d, file) = setup(&s);
    let ids = "ids=[1,2,3,4,5,6,7,8,9]";
    let out = run(&file, "fan_out", &[ids]);
    let v = out.ok();
    assert_eq!(s.max_in_flight(), 3, "parallel 3");
    assert_eq!(s.count(), 9);
    assert_eq!(v["count"], 9);
    assert_eq!(v["first"], "item-1");
    assert_eq!(v["last"], 9);
    let all: Vec<i64> = v["all"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(all, (1..=9).collect::<Vec<_>>());
    assert_eq!(v["all"][0]["ok"], true);
    assert_eq!(v["all"][0]["status"], 200);
}

#[test]
fn for_without_parallel_is_sequential() {
    let s = server_with(|_| 30);
    let (_d, file) = setup(&s);
    let v = run(&file, "fan_out_serial", &["ids=[4,5,6]"]).ok();
    assert_eq!(v, json!({ "count": 3, "second": "item-5" }));
    assert_eq!(s.max_in_flight(), 1);
}

#[test]
fn a_failing_item_cancels_the_loop() {
    // Item 13 fails at once; the others take 2s.
    let s = server_with(|_| 2000);
    let (_d, file) = setup(&s);
    let out = run(&file, "fan_out", &["ids=[11,13,12,14,15,16,17,18,19,20]"]);
    let err = out.failed();
    assert!(err.contains("step `it`") && err.contains("500"), "{out}");
    assert!(
        out.took < Duration::from_millis(1500),
        "running siblings are cancelled, not awaited: {:?}",
        out.took
    );
    // Give stray requests a moment to arrive, then count.
    std::thread::sleep(Duration::from_millis(100));
    let ids: Vec<String> = s.requests().iter().map(|r| r.target.clone()).collect();
    // 11, 13 and 12 start together (12 may be cancelled before it is
    // sent); nothing after them starts.
    assert!(ids.contains(&"/items/13".to_string()), "{ids:?}");
    assert!(
        ids.len() <= 3
            && ids
                .iter()
                .all(|t| ["/items/11", "/items/12", "/items/13"].contains(&t.as_str())),
        "no item starts after the failure: {ids:?}"
    );
}

#[test]
fn parallel_block_runs_branches_at_once() {
    let s = server_with(|_| 300);
    let (_d, file) = setup(&s);
    let out = run(&file, "both", &[]);
    assert_eq!(
        out.ok(),
        json!({ "a": "item-1", "b": "item-2", "c": "item-3" })
    );
    assert!(out.stderr.contains("c is item-3"), "{out}");
    let r = s.requests();
    assert_eq!(r.len(), 3);
    assert_eq!(s.max_in_flight(), 3);
    let spread = r
        .iter()
        .map(|x| x.at)
        .max()
        .zip(r.iter().map(|x| x.at).min());
    if let Some((hi, lo)) = spread {
        assert!(hi.duration_since(lo) < Duration::from_millis(200));
    }
    assert!(out.took < Duration::from_millis(900), "{:?}", out.took);
}

#[test]
fn a_failing_branch_cancels_the_others() {
    let s = server_with(|_| 2000);
    let (_d, file) = setup(&s);
    let out = run(&file, "both_fail", &[]);
    let err = out.failed();
    assert!(err.contains("step `b`") && err.contains("500"), "{out}");
    assert!(out.took < Duration::from_millis(1500), "{:?}", out.took);
}

#[test]
fn max_steps_stops_a_long_loop() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let f = file.to_string_lossy().into_owned();
    let out = rbk(&["run", &f, "endless", "--max-steps", "20"]);
    let err = out.failed();
    assert!(err.contains("--max-steps 20"), "{out}");
    let out = rbk(&["run", &f, "endless"]);
    assert_eq!(out.ok(), json!({ "done": true }));
}

#[test]
fn a_loop_over_the_largest_range_ends_early() {
    // The largest range: the loop reaches its items one by one (nothing
    // is built for the ten million), so ending it early costs what ran.
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "huge_range", &[]);
    assert_eq!(out.ok(), json!({ "stopped_at": 2 }));
    assert_eq!(s.count(), 3);
    let out = run(&file, "huge_range_parallel", &[]);
    assert!(out.failed().contains("stop at 2"), "{out}");
}

#[test]
fn range_loops_see_every_item_once() {
    // `for i in range(...)` reads its items one by one; each form must give
    // what the list `range()` builds would.
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "ranges", &["a=2", "b=5"]);
    assert_eq!(
        out.ok(),
        json!({ "sum": 9, "count": 3, "upto": 5, "fetched": 3, "ids": [2, 3, 4] })
    );
    assert_eq!(s.count(), 3);
    for (a, b) in [("5", "2"), ("0", "0"), ("-3", "-1")] {
        let out = run(&file, "ranges", &[&format!("a={a}"), &format!("b={b}")]);
        let v = out.ok();
        let n: i64 = b.parse::<i64>().unwrap() - a.parse::<i64>().unwrap();
        assert_eq!(v["count"], json!(n.max(0)), "{a}..{b}: {v}");
        assert_eq!(v["fetched"], json!(n.max(0)), "{a}..{b}: {v}");
        assert_eq!(v["upto"], json!(b.parse::<i64>().unwrap().max(0)), "{v}");
    }
}

#[test]
fn return_inside_a_loop_ends_the_runbook() {
    let s = server_with(|_| 0);
    let (_d, file) = setup(&s);
    let out = run(&file, "find", &["ids=[1,2,3,4]", "want=2"]);
    assert_eq!(out.ok(), json!({ "found": "item-2" }));
    assert_eq!(s.count(), 2, "the loop stops at the return");
    let out = run(&file, "find", &["ids=[1,2]", "want=9"]);
    assert_eq!(out.ok(), json!({ "found": null }));
}

#[test]
fn return_inside_parallel_ends_the_runbook() {
    let s = server_with(|_| 2000);
    let (_d, file) = setup(&s);
    let out = run(&file, "first_branch", &[]);
    assert_eq!(out.ok(), json!({ "winner": "quick" }));
    assert!(out.took < Duration::from_millis(1500), "{:?}", out.took);
}
