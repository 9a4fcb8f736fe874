//! `kill -9` of `rbk serve` at each point of a run, then a restart: the
//! journal decides what is sent again. Real processes, real HTTP, a mock
//! API that counts what it receives and can hold a request open while the
//! server is killed.

mod serve_support;

use std::time::{Duration, Instant};

use serde_json::json;
use serve_support::*;

const PROGRAM: &str = r#"
integration api { base_url = env("API_URL") }
method api.get_block(id: int) {
  GET "/block/get/{id}"
  output { name: string = $.name }
}
method api.post_block(id: int) {
  POST "/block/post/{id}"
  body json { id: id }
  output { id: int = $.id }
}
method api.post_keyed(id: int) {
  POST "/block/keyed/{id}"
  idempotency_key = "Idempotency-Key"
  body json { id: id }
  output { id: int = $.id }
}
method api.post_declared(id: int) {
  POST "/block/declared/{id}"
  idempotent = true
  body json { id: id }
}
method api.create(id: int, at: string) {
  POST "/create/{id}"
  body json { id: id, at: at }
  output { echo: string = $.echo }
}
method api.get_item(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}

runbook idem(id: int) {
  trigger webhook "/hooks/idem" { args { id = $.id } }
  step a = api.get_block(id: id)
  return { name: a.name }
}

runbook nonidem(id: int) {
  trigger webhook "/hooks/nonidem" { args { id = $.id } }
  step a = api.post_block(id: id) else {
    error => return { failed: true, why: a.error }
  }
  return { failed: false }
}

runbook keyed(id: int) {
  trigger webhook "/hooks/keyed" { args { id = $.id } }
  step a = api.post_keyed(id: id)
}

runbook declared(id: int) {
  trigger webhook "/hooks/declared" { args { id = $.id } }
  step a = api.post_declared(id: id)
}

runbook after(id: int) {
  trigger webhook "/hooks/after" { args { id = $.id } }
  let t = now()
  let u = uuid()
  step c = api.create(id: id, at: "{t}|{u}")
  step g = api.get_block(id: id)
  return { sent: "{t}|{u}", echo: c.echo }
}

runbook fan(base: int) {
  trigger webhook "/hooks/fan" { args { base = $.base } }
  for i in range(3) parallel 3 {
    step p = api.post_keyed(id: base + i)
  }
}

runbook polls(id: int) {
  trigger webhook "/hooks/poll" { args { id = $.id } }
  step s = api.get_item(id: id) until s.name == "never" every 100ms max 20 else {
    timeout => return { gave_up: true }
  }
}

runbook waits(id: int) {
  trigger webhook "/hooks/wait" { args { id = $.id } }
  step c = api.create(id: id, at: "x")
  wait 6s
  step i = api.get_item(id: id)
}
"#;

fn setup() -> (Mock, Serve, Http) {
    let mock = Mock::start();
    let serve = Serve::new(PROGRAM, &[("API_URL", &mock.url)]);
    (mock, serve, Http::new())
}

fn hook(http: &Http, serve: &Serve, path: &str, body: serde_json::Value) -> i64 {
    let a = http.post_json(&serve.url(path), &body);
    assert_eq!(a.status, 202, "{}", a.text);
    a.json()["run"].as_i64().unwrap()
}

#[test]
fn idempotent_get_cut_off_in_flight_is_sent_again() {
    let (mock, mut serve, http) = setup();
    serve.start();
    mock.block(true);
    let id = hook(&http, &serve, "/hooks/idem", json!({"id": 1}));
    mock.wait_for("GET", "/block/get/1", 1);
    serve.kill9();
    mock.block(false);
    serve.start();
    let run = wait_state(
        &http,
        &serve,
        id,
        &["succeeded", "failed", "needs_attention"],
    );
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(mock.count("GET", "/block/get/1"), 2, "resent once");
    let attempt = &run["steps"][0]["attempts"][0];
    assert_eq!(attempt["sends"], 2, "{run}");
}

#[test]
fn non_idempotent_post_cut_off_needs_attention_then_retry_or_fail() {
    let (mock, mut serve, http) = setup();
    serve.start();
    mock.block(true);
    let a = hook(&http, &serve, "/hooks/nonidem", json!({"id": 2}));
    mock.wait_for("POST", "/block/post/2", 1);
    let b = hook(&http, &serve, "/hooks/nonidem", json!({"id": 3}));
    mock.wait_for("POST", "/block/post/3", 1);
    serve.kill9();
    mock.block(false);
    serve.start();
    for id in [a, b] {
        let run = wait_state(
            &http,
            &serve,
            id,
            &["needs_attention", "succeeded", "failed"],
        );
        assert_eq!(run["state"], "needs_attention", "{run}");
        assert!(
            run["attention"]
                .as_str()
                .unwrap()
                .contains("not idempotent"),
            "{run}"
        );
    }
    // Never resent on its own.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(mock.count("POST", "/block/post/2"), 1);
    assert_eq!(mock.count("POST", "/block/post/3"), 1);
    // `rbk runs` shows it and resolves it; the API resolves the other.
    let (code, out, _) = serve.runs(&["list", "--status", "needs_attention"]);
    assert_eq!(code, 0);
    assert!(out.contains("needs_attention"), "{out}");
    let (code, out, err) = serve.runs(&["resolve", &a.to_string(), "retry"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = http.post_json(
        &serve.url(&format!("/api/runs/{b}/resolve")),
        &json!({"action": "fail"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let run_a = wait_state(&http, &serve, a, &["succeeded", "failed"]);
    assert_eq!(run_a["state"], "succeeded", "{run_a}");
    assert_eq!(run_a["result"]["failed"], false);
    assert_eq!(mock.count("POST", "/block/post/2"), 2, "retry sends again");
    let run_b = wait_state(&http, &serve, b, &["succeeded", "failed"]);
    // `fail`: the step fails with `interrupted`, and its else arm runs.
    assert_eq!(run_b["state"], "succeeded", "{run_b}");
    assert_eq!(run_b["result"]["failed"], true, "{run_b}");
    assert!(
        run_b["result"]["why"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{run_b}"
    );
    assert_eq!(mock.count("POST", "/block/post/3"), 1, "fail sends nothing");
    // Resolving a run that does not need attention is refused.
    let (code, _, err) = serve.runs(&["resolve", &a.to_string(), "retry"]);
    assert_eq!(code, 1);
    assert!(err.contains("rbk::serve::not_needs_attention"), "{err}");
}

#[test]
fn idempotency_keyed_post_is_resent_with_the_same_key() {
    let (mock, mut serve, http) = setup();
    serve.start();
    mock.block(true);
    let id = hook(&http, &serve, "/hooks/keyed", json!({"id": 4}));
    mock.wait_for("POST", "/block/keyed/4", 1);
    serve.kill9();
    mock.block(false);
    serve.start();
    let run = wait_state(
        &http,
        &serve,
        id,
        &["succeeded", "failed", "needs_attention"],
    );
    assert_eq!(run["state"], "succeeded", "{run}");
    let keys: Vec<String> = mock
        .seen()
        .iter()
        .filter(|r| r.path == "/block/keyed/4")
        .map(|r| r.header("idempotency-key").unwrap_or("").to_string())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(!keys[0].is_empty());
    assert_eq!(keys[0], keys[1], "the same key both times");
}

#[test]
fn method_declared_idempotent_is_resent() {
    let (mock, mut serve, http) = setup();
    serve.start();
    mock.block(true);
    let id = hook(&http, &serve, "/hooks/declared", json!({"id": 5}));
    mock.wait_for("POST", "/block/declared/5", 1);
    serve.kill9();
    mock.block(false);
    serve.start();
    let run = wait_state(
        &http,
        &serve,
        id,
        &["succeeded", "failed", "needs_attention"],
    );
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(mock.count("POST", "/block/declared/5"), 2);
}

#[test]
fn completed_request_is_never_resent_and_values_are_journaled() {
    let (mock, mut serve, http) = setup();
    serve.start();
    mock.block(true);
    let id = hook(&http, &serve, "/hooks/after", json!({"id": 6}));
    mock.wait_for("GET", "/block/get/6", 1);
    serve.kill9();
    mock.block(false);
    serve.start();
    let run = wait_state(
        &http,
        &serve,
        id,
        &["succeeded", "failed", "needs_attention"],
    );
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(
        mock.count("POST", "/create/6"),
        1,
        "the completed POST is not resent"
    );
    assert_eq!(mock.count("GET", "/block/get/6"), 2);
    // now() and uuid() kept their first values: what the runbook returns
    // after the restart is what it sent before the kill.
    let sent = mock
        .seen()
        .into_iter()
        .find(|r| r.path == "/create/6")
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(run["result"]["sent"], body["at"], "{run}");
    assert_eq!(run["result"]["echo"], sent.body.as_str());
}

#[test]
fn a_wait_keeps_its_deadline_across_a_kill() {
    let (mock, mut serve, http) = setup();
    serve.start();
    let t0 = Instant::now();
    let id = hook(&http, &serve, "/hooks/wait", json!({"id": 8}));
    mock.wait_for("POST", "/create/8", 1);
    std::thread::sleep(Duration::from_millis(1000));
    // Killed during the wait, before the next step's intent.
    serve.kill9();
    assert_eq!(mock.count("GET", "/items/8"), 0);
    serve.start();
    let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
    let took = t0.elapsed();
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(mock.count("POST", "/create/8"), 1);
    assert_eq!(mock.count("GET", "/items/8"), 1);
    assert!(took >= Duration::from_secs(6), "waited {took:?}");
    // A fresh wait from the restart would end after 7 s or more.
    assert!(
        took < Duration::from_millis(6900),
        "the deadline moved: {took:?}"
    );
}

#[test]
fn hundreds_of_concurrent_webhooks_with_a_kill_lose_none() {
    let (mock, mut serve, http) = setup();
    serve.extra = vec!["--max-runs".into(), "32".into()];
    serve.start();
    let n = 300;
    let url = serve.url("/hooks/idem");
    let client = http.client.clone();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(usize, i64)>::new()));
    let sent = {
        let answered = answered.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for i in 0..n {
                    let client = client.clone();
                    let url = url.clone();
                    let answered = answered.clone();
                    tasks.push(tokio::spawn(async move {
                        // Six waves of 50 at once over ~0.25 s, so the
                        // kill lands mid-burst.
                        tokio::time::sleep(Duration::from_millis(50 * (i / 50) as u64)).await;
                        let r = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(json!({"id": 1000 + i}).to_string())
                            .send()
                            .await;
                        if let Ok(r) = r
                            && r.status().as_u16() == 202
                            && let Ok(t) = r.text().await
                            && let Ok(j) = serde_json::from_str::<serde_json::Value>(&t)
                            && let Some(id) = j["run"].as_i64()
                        {
                            answered.lock().unwrap().push((i, id));
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        })
    };
    // Kill once some have been answered and others are still arriving.
    let until = Instant::now() + Duration::from_secs(30);
    while answered.lock().unwrap().len() < n / 3 {
        assert!(Instant::now() < until, "too slow: {}", serve.logs());
        std::thread::sleep(Duration::from_millis(2));
    }
    serve.kill9();
    sent.join().unwrap();
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= n / 3 && answered.len() < n,
        "{}",
        answered.len()
    );
    serve.start();
    for (i, id) in &answered {
        let run = wait_state(
            &http,
            &serve,
            *id,
            &["succeeded", "failed", "needs_attention"],
        );
        assert_eq!(run["state"], "succeeded", "{run}");
        assert_eq!(run["args"]["id"], 1000 + *i as i64);
        assert!(
            mock.count("GET", &format!("/block/get/{}", 1000 + i)) >= 1,
            "run {id} made its call"
        );
    }
}

#[test]
fn keyed_posts_of_a_parallel_loop_are_resent_each_with_its_own_key() {
    let (mock, mut serve, http) = setup();
    serve.start();
    mock.block(true);
    let id = hook(&http, &serve, "/hooks/fan", json!({"base": 40}));
    for n in 40..43 {
        mock.wait_for("POST", &format!("/block/keyed/{n}"), 1);
    }
    serve.kill9();
    mock.block(false);
    serve.start();
    let run = wait_state(
        &http,
        &serve,
        id,
        &["succeeded", "failed", "needs_attention"],
    );
    assert_eq!(run["state"], "succeeded", "{run}");
    let mut firsts = Vec::new();
    for n in 40..43 {
        let keys: Vec<String> = mock
            .seen()
            .iter()
            .filter(|r| r.path == format!("/block/keyed/{n}"))
            .map(|r| r.header("idempotency-key").unwrap().to_string())
            .collect();
        assert_eq!(keys.len(), 2, "item {n}: {keys:?}");
        assert_eq!(keys[0], keys[1], "item {n} kept its key");
        firsts.push(keys[0].clone());
    }
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts.len(), 3, "each item has its own key");
}

#[test]
fn a_polling_step_continues_with_its_next_attempt() {
    let (mock, mut serve, http) = setup();
    serve.start();
    let id = hook(&http, &serve, "/hooks/poll", json!({"id": 31}));
    mock.wait_for("GET", "/items/31", 5);
    serve.kill9();
    let before = mock.count("GET", "/items/31");
    serve.start();
    let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["result"]["gave_up"], true, "{run}");
    // 20 calls in all (one more if a call was cut off in flight), not a
    // fresh 20 after the restart.
    let total = mock.count("GET", "/items/31");
    assert!(
        (20..=21).contains(&total),
        "{total} calls ({before} before the kill)"
    );
    assert!(before >= 5);
}
