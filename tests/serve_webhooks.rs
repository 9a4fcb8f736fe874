//! Webhooks of `rbk serve`: every answer code, signatures, dedupe, typed
//! arguments, 422s that store nothing, 429, and 503 while draining on
//! SIGTERM (exit 0). Real processes and real HTTP.

mod serve_support;

use std::time::{Duration, Instant};

use serde_json::json;
use serve_support::*;

const PROGRAM: &str = r#"
integration api { base_url = env("API_URL") }
method api.get_item(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}
method api.block(id: int) {
  GET "/block/{id}"
}

runbook on_ticket(ticket_id: int, summary: string, source: string = "halo") {
  trigger webhook "/hooks/halo/ticket" {
    verify sign_hmac { key = secret("HOOK_KEY"), header = "X-Hub-Signature-256", prefix = "sha256=" }
    dedupe = header("X-Delivery")
    args { ticket_id = $.ticket.id, summary = $.ticket.summary }
    max_body = 2KB
  }
  step i = api.get_item(id: ticket_id)
  return { name: i.name, source: source, summary: summary }
}

runbook stamped(n: int) {
  trigger webhook "/hooks/stamped" {
    verify sign_hmac { key = secret("HOOK_KEY"), header = "X-Sig", timestamp_header = "X-Ts", max_age = 5m }
    args { n = $.n }
  }
  step i = api.get_item(id: n)
}

runbook tokened(n: int) {
  trigger webhook "/hooks/token" {
    verify token { header = "X-Token", value = secret("HOOK_TOKEN") }
    args { n = $.n }
  }
  step i = api.get_item(id: n)
}

runbook open(n: int, flag: bool = false) {
  trigger webhook "/hooks/open" { args { n = $.n, flag = $.flag } }
  step b = api.block(id: n)
  step i = api.get_item(id: n)
  return { flag: flag }
}
"#;

const KEY: &str = "hook-key-Zq81";

fn setup() -> (Mock, Serve, Http) {
    let mock = Mock::start();
    let serve = Serve::new(
        PROGRAM,
        &[
            ("API_URL", &mock.url),
            ("HOOK_KEY", KEY),
            ("HOOK_TOKEN", "tok-Pz90"),
        ],
    );
    (mock, serve, Http::new())
}

fn signed(http: &Http, serve: &Serve, body: &str, delivery: &str) -> Answer {
    http.send(
        http.client
            .post(serve.url("/hooks/halo/ticket"))
            .header("X-Hub-Signature-256", sign(KEY, body))
            .header("X-Delivery", delivery)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
}

fn run_count(http: &Http, serve: &Serve) -> usize {
    http.get(&serve.url("/api/runs?limit=500")).json()["runs"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn signed_webhooks_dedupe_typed_args_and_every_refusal() {
    let (mock, mut serve, http) = setup();
    serve.start();
    // 202 after the commit; the run does its work with typed arguments
    // (the id arrives as a string and becomes an int).
    let body = r#"{"ticket":{"id":"42","summary":"printer on fire"}}"#;
    let a = signed(&http, &serve, body, "d-1");
    assert_eq!(a.status, 202, "{}", a.text);
    let j = a.json();
    let id = j["run"].as_i64().unwrap();
    assert_eq!(j["status_url"], format!("/api/runs/{id}"));
    let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["args"]["ticket_id"], 42);
    assert_eq!(run["result"]["source"], "halo", "a default fills the rest");
    assert_eq!(run["trigger"]["kind"], "webhook");
    assert_eq!(mock.count("GET", "/items/42"), 1);
    // A second delivery with the same id: 200, the first run, nothing new.
    let again = signed(&http, &serve, body, "d-1");
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["run"], id);
    assert_eq!(again.json()["duplicate"], true);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(mock.count("GET", "/items/42"), 1);
    let stored = run_count(&http, &serve);
    assert_eq!(stored, 1);

    // 401: missing, wrong, or made with another key; nothing stored.
    let bad = |sig: Option<String>| {
        let mut r = http
            .client
            .post(serve.url("/hooks/halo/ticket"))
            .header("X-Delivery", "d-x")
            .body(body.to_string());
        if let Some(s) = sig {
            r = r.header("X-Hub-Signature-256", s);
        }
        http.send(r)
    };
    for sig in [
        None,
        Some("sha256=00".to_string()),
        Some(sign("another-key", body)),
        Some(sign(KEY, body).replace("sha256=", "sha1=")),
    ] {
        let a = bad(sig);
        assert_eq!(a.status, 401, "{}", a.text);
        assert_eq!(a.json()["error"], "unauthorized");
        assert!(!a.json()["message"].as_str().unwrap().is_empty());
    }
    // The signature covers the exact bytes: a changed body is refused.
    let tampered = http.send(
        http.client
            .post(serve.url("/hooks/halo/ticket"))
            .header("X-Hub-Signature-256", sign(KEY, body))
            .body(body.replace("42", "43")),
    );
    assert_eq!(tampered.status, 401);

    // 405 for another verb, 404 for an unknown path.
    let a = http.get(&serve.url("/hooks/halo/ticket"));
    assert_eq!(a.status, 405, "{}", a.text);
    assert_eq!(a.headers["allow"], "POST");
    assert_eq!(a.json()["error"], "method_not_allowed");
    let a = http.post_json(&serve.url("/hooks/nope"), &json!({}));
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"], "not_found");

    // 413 from Content-Length, and from a chunked body while reading.
    let big = format!(
        r#"{{"ticket":{{"id":1,"summary":"{}"}}}}"#,
        "x".repeat(4000)
    );
    let a = signed(&http, &serve, &big, "d-big");
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.json()["error"], "body_too_large");
    // `max_body = 2KB` is 2048 bytes: exactly that is taken, one more is not.
    let fit = |len: usize| {
        let head = r#"{"ticket":{"id":1,"summary":""#;
        let pad = len - head.len() - 3;
        format!("{head}{}\"}}}}", "y".repeat(pad))
    };
    assert_eq!(fit(2048).len(), 2048);
    let a = signed(&http, &serve, &fit(2048), "d-2048");
    assert_eq!(a.status, 202, "{}", a.text);
    let a = signed(&http, &serve, &fit(2049), "d-2049");
    assert_eq!(a.status, 413, "{}", a.text);
    let status = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "POST /hooks/halo/ticket HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            sign(KEY, "x")
        )
        .into_bytes();
        for _ in 0..10 {
            req.extend_from_slice(format!("{:x}\r\n", 1000).as_bytes());
            req.extend_from_slice(&[b' '; 1000]);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let _ = c.write_all(&req);
        let mut head = [0u8; 12];
        c.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head[9..12]).into_owned()
    };
    assert_eq!(status, "413", "a chunked body over the limit");

    // 422: arguments that cannot be built, each saying why; nothing stored.
    for (body, param) in [
        (r#"{"ticket":{"summary":"no id"}}"#, "ticket_id"),
        (r#"{"ticket":{"id":"abc","summary":"s"}}"#, "ticket_id"),
        (r#"{"ticket":{"id":1.5,"summary":"s"}}"#, "ticket_id"),
        (r#"{"ticket":{"id":1}}"#, "summary"),
        ("not json", "ticket_id"),
    ] {
        let a = signed(
            &http,
            &serve,
            body,
            &format!("d-422-{param}-{}", body.len()),
        );
        assert_eq!(a.status, 422, "{body}: {}", a.text);
        let j = a.json();
        assert_eq!(j["error"], "bad_arguments", "{j}");
        assert_eq!(j["param"], param, "{j}");
        assert!(!j["message"].as_str().unwrap().is_empty());
    }
    // A 422 stored nothing: not a run, not the delivery id (the same id
    // with good arguments now starts a run). (One run more: the 2048 bytes.)
    assert_eq!(run_count(&http, &serve), stored + 1);
    let a = signed(
        &http,
        &serve,
        r#"{"ticket":{"id":7,"summary":"s"}}"#,
        "d-422-ticket_id-30",
    );
    assert_eq!(a.status, 202, "{}", a.text);
    let journal = String::from_utf8_lossy(&serve.journal_bytes()).into_owned();
    assert!(!journal.contains("no id"), "a 422 body reached the journal");
}

#[test]
fn timestamped_signatures_and_tokens() {
    let (_mock, mut serve, http) = setup();
    serve.start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = r#"{"n": 5}"#;
    let send = |ts: u64, signed_ts: u64| {
        http.send(
            http.client
                .post(serve.url("/hooks/stamped"))
                .header("X-Ts", ts.to_string())
                .header(
                    "X-Sig",
                    sign(KEY, &format!("{signed_ts}.{body}")).replace("sha256=", ""),
                )
                .body(body),
        )
    };
    assert_eq!(send(now, now).status, 202);
    let stale = send(now - 600, now - 600);
    assert_eq!(stale.status, 401, "{}", stale.text);
    assert!(
        stale.json()["message"]
            .as_str()
            .unwrap()
            .contains("max_age")
    );
    assert_eq!(send(now, now - 1).status, 401, "the timestamp is signed");
    let token = |t: &str| {
        http.send(
            http.client
                .post(serve.url("/hooks/token"))
                .header("X-Token", t)
                .body(r#"{"n": 6}"#),
        )
    };
    assert_eq!(token("tok-Pz90").status, 202);
    assert_eq!(token("tok-Pz91").status, 401);
    assert_eq!(token("").status, 401);
}

#[test]
fn a_full_queue_answers_429() {
    let (mock, mut serve, http) = setup();
    serve.extra = vec![
        "--max-runs".into(),
        "1".into(),
        "--max-queued".into(),
        "1".into(),
    ];
    serve.start();
    mock.block(true);
    let open = |n: i64| http.post_json(&serve.url("/hooks/open"), &json!({"n": n}));
    assert_eq!(open(1).status, 202);
    mock.wait_for("GET", "/block/1", 1);
    assert_eq!(open(2).status, 202, "one may wait");
    let full = open(3);
    assert_eq!(full.status, 429, "{}", full.text);
    assert!(full.headers.contains_key("retry-after"));
    assert_eq!(full.json()["error"], "queue_full");
    mock.block(false);
}

#[test]
fn sigterm_drains_answers_503_and_exits_0_then_resumes() {
    let (mock, mut serve, http) = setup();
    serve.extra = vec!["--grace".into(), "20s".into()];
    serve.start();
    mock.block(true);
    let a = http.post_json(&serve.url("/hooks/open"), &json!({"n": 9, "flag": true}));
    assert_eq!(a.status, 202);
    let id = a.json()["run"].as_i64().unwrap();
    mock.wait_for("GET", "/block/9", 1);
    let mut child = serve.term_nowait();
    // While the request is in flight the server drains: webhooks get 503
    // (those that arrive before the signal is handled are accepted).
    let until = Instant::now() + Duration::from_secs(10);
    let mut saw_503 = false;
    let mut accepted = Vec::new();
    let mut refused = 0;
    for k in 0.. {
        assert!(Instant::now() < until, "no 503 while draining");
        let n = 100 + k;
        let r = http.try_send(
            http.client
                .post(serve.url("/hooks/open"))
                .body(format!(r#"{{"n": {n}}}"#)),
        );
        match r {
            Some(r) if r.status == 503 => {
                assert_eq!(r.json()["error"], "draining");
                saw_503 = true;
                refused = n;
                break;
            }
            Some(r) if r.status == 202 => accepted.push(r.json()["run"].as_i64().unwrap()),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_503, "no 503 while draining");
    assert!(
        child.try_wait().unwrap().is_none(),
        "waits for the step in flight"
    );
    mock.block(false);
    let status = {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < until, "did not exit after draining");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(status.code(), Some(0), "{}", serve.logs());
    // Everything journaled; the run continues at the next start, and the
    // request that finished during the drain is not sent again.
    let (code, out, _) = serve.runs(&["show", &id.to_string(), "--format", "json"]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["state"], "queued", "{shown}");
    assert_eq!(shown["steps"][0]["attempts"][0]["status"], 200, "{shown}");
    serve.start();
    let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["result"]["flag"], true);
    assert_eq!(mock.count("GET", "/block/9"), 1);
    assert_eq!(mock.count("GET", "/items/9"), 1);
    assert_eq!(
        mock.count("GET", &format!("/block/{refused}")),
        0,
        "the 503 started nothing"
    );
    for early in accepted {
        let run = wait_state(&http, &serve, early, &["succeeded", "failed"]);
        assert_eq!(
            run["state"], "succeeded",
            "accepted before the drain: {run}"
        );
    }
}

#[test]
fn refuses_to_start_on_check_errors_or_an_open_listen() {
    let bad = Serve::new(
        "runbook r(x: int) {\n  trigger webhook \"/h\" { args { y = 1 } }\n}\n",
        &[],
    );
    let out = bad.command().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("rbk::unknown_argument"), "{err}");
    assert!(err.contains("rbk::missing_argument"), "{err}");
    assert!(err.contains("rbk::serve::check"), "{err}");

    let (mock, serve, _) = setup();
    let _ = mock;
    let mut c = rbk();
    c.arg("serve")
        .arg(&serve.program)
        .args(["--listen", &format!("0.0.0.0:{}", free_port())])
        .env("API_URL", "http://127.0.0.1:1")
        .env("HOOK_KEY", KEY)
        .env("HOOK_TOKEN", "t")
        .current_dir(serve.dir.path());
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rbk::serve::open_listen"), "{err}");
    let out = c
        .args(["--api-token-env", "RBK_TEST_UNSET_TOKEN"])
        .env_remove("RBK_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rbk::serve::api_token"), "{err}");
    // One server per journal.
    let (mock2, mut first, _) = setup();
    first.start();
    // (The same port too: the journal is refused before it would listen.)
    let out = first.command().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rbk::serve::journal_in_use"), "{err}");
    first.kill9();
    drop(mock2);
    // A webhook on a path the API uses.
    let taken = Serve::new(
        "runbook r() {\n  trigger webhook \"/api/runs\"\n  log \"x\"\n}\n",
        &[],
    );
    let out = taken.command().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rbk::serve::reserved_path"), "{err}");
    // A secret the triggers need that is not set: refused, named, masked.
    let out = rbk()
        .arg("serve")
        .arg(&serve.program)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("API_URL", "http://127.0.0.1:1")
        .env_remove("HOOK_KEY")
        .current_dir(serve.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("rbk::serve::trigger") && err.contains("HOOK_KEY"),
        "{err}"
    );
}

#[test]
fn check_reports_trigger_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.rbk");
    std::fs::write(
        &p,
        r#"runbook r(n: int, s: string = "x") {
  trigger webhook "/h" { args { n = "seven", m = 1 }, dedupe = header("X-D"), max_body = 4MB }
  trigger schedule "*/15 * * * *" { args { s = "y" }, catch_up = none }
  trigger schedule "0 9 * * *" { args { n = 1 }, catch_up = sometimes }
  trigger webhook "/g" { verify token { header = "X-T" }, args { n = $.n } }
}
"#,
    )
    .unwrap();
    let out = rbk().arg("check").arg(&p).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // `n = "seven"`: a literal of the wrong type; `m`: no such parameter;
    // the schedule without `n`; a catch-up policy that is not one; the
    // token without its value.
    assert!(text.contains("rbk::type_mismatch"), "{text}");
    assert!(text.contains("runbook `r` has no parameter `m`"), "{text}");
    assert!(text.contains("does not supply parameter `n`"), "{text}");
    assert!(text.contains("`catch_up` is `none` or `one`"), "{text}");
    assert!(text.contains("`verify token` needs `value`"), "{text}");
}

#[test]
fn queued_runs_wait_through_a_drain_and_run_at_the_next_start() {
    let (mock, mut serve, http) = setup();
    serve.extra = vec!["--max-runs".into(), "1".into()];
    serve.start();
    mock.block(true);
    let ids: Vec<i64> = (21..24)
        .map(|n| {
            let a = http.post_json(&serve.url("/hooks/open"), &json!({"n": n}));
            assert_eq!(a.status, 202);
            a.json()["run"].as_i64().unwrap()
        })
        .collect();
    mock.wait_for("GET", "/block/21", 1);
    let mut child = serve.term_nowait();
    std::thread::sleep(Duration::from_millis(300));
    mock.block(false);
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < until, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let (_, out, _) = serve.runs(&["list", "--status", "queued", "--format", "json"]);
    let queued: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(queued["runs"].as_array().unwrap().len(), 3, "{queued}");
    assert_eq!(
        mock.count("GET", "/block/22"),
        0,
        "no run started while draining"
    );
    serve.start();
    for id in ids {
        let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
        assert_eq!(run["state"], "succeeded", "{run}");
    }
    for n in 21..24 {
        assert_eq!(mock.count("GET", &format!("/block/{n}")), 1, "block {n}");
        assert_eq!(mock.count("GET", &format!("/items/{n}")), 1, "items {n}");
    }
}

/// A runbook that runs itself, each level holding a value nested almost as
/// deep as values may go: the workers have the stack for the deepest
/// accepted recursion, and one level more fails the run, not the server.
#[test]
fn a_recursive_runbook_runs_to_the_limit_and_one_level_more_fails_the_run() {
    const DEEP: &str = r#"
runbook walk(n: int) {
  trigger webhook "/hooks/walk" { args { n = $.n } }
  var x: json = {}
  for i in range(98) {
    x = { a: x }
  }
  if n > 0 {
    step r = run walk(n: n - 1)
  }
  return { n: n, x: x }
}
"#;
    // And the deepest statements the parser takes.
    let depth = rbk::syntax::parser::MAX_NESTING - 3;
    let program = format!(
        "{DEEP}\nrunbook nested() {{\n  trigger webhook \"/hooks/nested\" {{ }}\n  var v = 0\n  {}v = 1{}\n  return {{ v: v }}\n}}\n",
        "if true { ".repeat(depth),
        " }".repeat(depth)
    );
    let mut serve = Serve::new(&program, &[]);
    let http = Http::new();
    serve.start();
    let start = |n: i64| {
        let a = http.post_json(&serve.url("/hooks/walk"), &json!({ "n": n }));
        assert_eq!(a.status, 202, "{}", a.text);
        a.json()["run"].as_i64().unwrap()
    };
    // 100 nested `run`s: the deepest allowed.
    let ok = start(100);
    let run = wait_state(&http, &serve, ok, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}\n{}", serve.logs());
    assert_eq!(run["result"]["n"], 100);
    // The result is shown whole.
    let mut x = &run["result"]["x"];
    let mut levels = 0;
    while let Some(inner) = x.get("a") {
        x = inner;
        levels += 1;
    }
    assert_eq!((levels, x), (98, &json!({})), "{run}");
    // One more fails that run with its code; the server goes on.
    let deep = start(101);
    let run = wait_state(&http, &serve, deep, &["succeeded", "failed"]);
    assert_eq!(run["state"], "failed", "{run}");
    assert!(run.to_string().contains("rbk::limit::run_depth"), "{run}");
    assert_eq!(http.get(&serve.url("/healthz")).status, 200);
    let again = start(3);
    let run = wait_state(&http, &serve, again, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    let a = http.post_json(&serve.url("/hooks/nested"), &json!({}));
    assert_eq!(a.status, 202, "{}", a.text);
    let run = wait_state(
        &http,
        &serve,
        a.json()["run"].as_i64().unwrap(),
        &["succeeded", "failed"],
    );
    assert_eq!(run["result"]["v"], 1, "{run}");
}
