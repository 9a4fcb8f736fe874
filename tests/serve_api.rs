//! The API of `rbk serve` (every route), the bearer token and the page's
//! login cookie, Server-Sent Events, `/metrics`, `rbk runs`, schedules
//! with their catch-up run, and secrets that never reach the API, the
//! page, the logs or the journal file.

mod serve_support;

use std::time::{Duration, Instant};

use serde_json::json;
use serve_support::*;

const PROGRAM: &str = r#"
integration api {
  base_url = env("API_URL")
  auth bearer { token = secret("API_TOKEN") }
}
method api.get_item(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}
method api.block(id: int) {
  GET "/block/{id}"
}
method api.login(password: secret) {
  POST "/token"
  body json { password: password }
  output { token: secret = $.token }
}
method api.use(t: string) {
  GET "/items/1"
  headers { "X-Session" = t }
  output { name: string = $.name }
}

runbook start(n: int, note: string = "none", pause: duration = 1ms, at: datetime? = null) {
  step i = api.get_item(id: n)
  wait pause
  return { name: i.name, note: note, pause: "{pause}", at: at }
}

runbook blocker(n: int) {
  step b = api.block(id: n)
  step i = api.get_item(id: n)
}

runbook secretive(user: string, password: secret) {
  trigger webhook "/hooks/secret" { args { user = $.user, password = $.password } }
  step l = api.login(password: password)
  step u = api.use(t: l.token)
  log "user {user} logged in"
  return { name: u.name }
}
"#;

const API_TOKEN: &str = "api-tok-SECRET-1";
const PASSWORD: &str = "pw-SECRET-2";
const RESPONSE_TOKEN: &str = "tok-SECRET-VALUE-42";
const UI_TOKEN: &str = "ui-token-SECRET-3";

fn setup(token: bool) -> (Mock, Serve, Http) {
    let mock = Mock::start();
    let mut serve = Serve::new(
        PROGRAM,
        &[
            ("API_URL", &mock.url),
            ("API_TOKEN", API_TOKEN),
            ("RBK_UI_TOKEN", UI_TOKEN),
        ],
    );
    serve.extra = vec!["--log-format".into(), "json".into()];
    if token {
        serve
            .extra
            .extend(["--api-token-env".to_string(), "RBK_UI_TOKEN".to_string()]);
    }
    (mock, serve, Http::new())
}

#[test]
fn api_routes_cancel_events_metrics_and_runs_cli() {
    let (mock, mut serve, http) = setup(false);
    serve.start();
    // POST /api/runbooks/{name}/runs: typed, 201; mismatches 422.
    let a = http.post_json(&serve.url("/api/runbooks/start/runs"), &json!({"n": "3"}));
    assert_eq!(a.status, 201, "{}", a.text);
    let first = a.json()["run"].as_i64().unwrap();
    assert_eq!(a.json()["status_url"], format!("/api/runs/{first}"));
    let run = wait_state(&http, &serve, first, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(
        run["result"],
        json!({"name": "widget", "note": "none", "pause": "1ms", "at": null})
    );
    // Durations (milliseconds) and datetimes survive the sealed journal.
    let a = http.post_json(
        &serve.url("/api/runbooks/start/runs"),
        &json!({"n": 2, "pause": 20, "at": "2026-01-02T03:04:05Z"}),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let typed = a.json()["run"].as_i64().unwrap();
    let run = wait_state(&http, &serve, typed, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["result"]["pause"], "20ms", "{run}");
    assert_eq!(run["result"]["at"], "2026-01-02T03:04:05+00:00", "{run}");
    assert_eq!(run["trigger"]["kind"], "api");
    assert_eq!(run["steps"][0]["name"], "i");
    assert_eq!(run["steps"][0]["outputs"]["name"], "widget");
    assert_eq!(run["steps"][0]["attempts"][0]["status"], 200);
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    for bad in [
        json!({"n": "x"}),
        json!({"n": 1, "bogus": 2}),
        json!({}),
        json!([1]),
    ] {
        let a = http.post_json(&serve.url("/api/runbooks/start/runs"), &bad);
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
        assert_eq!(a.json()["error"], "bad_arguments");
    }
    let a = http.post_json(&serve.url("/api/runbooks/nope/runs"), &json!({}));
    assert_eq!(a.status, 404);
    for n in 0..4 {
        let a = http.post_json(
            &serve.url("/api/runbooks/start/runs"),
            &json!({"n": 10 + n}),
        );
        assert_eq!(a.status, 201);
    }
    // Cancel a running run: it ends cancelled and sends nothing more.
    mock.block(true);
    let a = http.post_json(&serve.url("/api/runbooks/blocker/runs"), &json!({"n": 77}));
    let blocked = a.json()["run"].as_i64().unwrap();
    mock.wait_for("GET", "/block/77", 1);
    // Live events of this run, read while it is cancelled.
    let events = {
        let url = serve.url(&format!("/api/runs/{blocked}/events"));
        let client = http.client.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let r = client.get(url).send().await.unwrap();
                assert_eq!(
                    r.headers()["content-type"].to_str().unwrap(),
                    "text/event-stream"
                );
                r.text().await.unwrap()
            })
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let c = http.send(
        http.client
            .post(serve.url(&format!("/api/runs/{blocked}/cancel"))),
    );
    assert_eq!(c.status, 202, "{}", c.text);
    let run = wait_state(
        &http,
        &serve,
        blocked,
        &["cancelled", "succeeded", "failed"],
    );
    assert_eq!(run["state"], "cancelled", "{run}");
    let text = events.join().unwrap();
    assert!(text.contains("event: run_finished"), "{text}");
    assert!(text.contains("cancelled"), "{text}");
    mock.block(false);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        mock.count("GET", "/items/77"),
        0,
        "no request after the cancel"
    );
    let c = http.send(
        http.client
            .post(serve.url(&format!("/api/runs/{blocked}/cancel"))),
    );
    assert_eq!(c.status, 409);
    let c = http.send(http.client.post(serve.url("/api/runs/99999/cancel")));
    assert_eq!(c.status, 404);
    let r = http.post_json(
        &serve.url(&format!("/api/runs/{first}/resolve")),
        &json!({"action": "retry"}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    let r = http.post_json(
        &serve.url(&format!("/api/runs/{first}/resolve")),
        &json!({"action": "maybe"}),
    );
    assert_eq!(r.status, 400);

    // Lists: newest first, filters, pages.
    let all = http.get(&serve.url("/api/runs")).json();
    let ids: Vec<i64> = all["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 7);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert!(all["next_before"].is_null());
    let page = http.get(&serve.url("/api/runs?limit=2")).json();
    assert_eq!(page["runs"].as_array().unwrap().len(), 2);
    let next = page["next_before"].as_i64().unwrap();
    let page2 = http
        .get(&serve.url(&format!("/api/runs?limit=2&before={next}")))
        .json();
    assert!(page2["runs"][0]["id"].as_i64().unwrap() < next);
    let cancelled = http.get(&serve.url("/api/runs?status=cancelled")).json();
    assert_eq!(cancelled["runs"].as_array().unwrap().len(), 1);
    let by_rb = http.get(&serve.url("/api/runs?runbook=blocker")).json();
    assert_eq!(by_rb["runs"].as_array().unwrap().len(), 1);
    assert_eq!(http.get(&serve.url("/api/runs?status=bogus")).status, 400);
    assert_eq!(http.get(&serve.url("/api/runs/424242")).status, 404);
    let none = http.post_json(&serve.url("/api/nothing"), &json!({}));
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"], "not_found");

    // /healthz and /metrics.
    assert_eq!(http.get(&serve.url("/healthz")).status, 200);
    let m = http.get(&serve.url("/metrics")).text;
    assert!(m.contains("rbk_runs{state=\"cancelled\"} 1"), "{m}");
    assert!(m.contains("rbk_queue_depth"), "{m}");
    assert!(m.contains("rbk_request_duration_seconds_bucket"), "{m}");

    // `rbk runs` on the same journal.
    let (code, out, _) = serve.runs(&["list", "--format", "json"]);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 7);
    let (code, out, _) = serve.runs(&["show", &first.to_string()]);
    assert_eq!(code, 0);
    assert!(out.contains("succeeded") && out.contains("GET"), "{out}");
    let (code, _, err) = serve.runs(&["show", "31337"]);
    assert_eq!(code, 1);
    assert!(err.contains("rbk::serve::no_run"), "{err}");
    let (code, _, err) = serve.runs(&["list", "--status", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("rbk::serve::bad_state"), "{err}");
    // A cancel from the command line reaches a running server.
    mock.block(true);
    let a = http.post_json(&serve.url("/api/runbooks/blocker/runs"), &json!({"n": 88}));
    let id = a.json()["run"].as_i64().unwrap();
    mock.wait_for("GET", "/block/88", 1);
    let (code, out, err) = serve.runs(&["cancel", &id.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let run = wait_state(&http, &serve, id, &["cancelled", "succeeded", "failed"]);
    assert_eq!(run["state"], "cancelled");
    mock.block(false);
}

#[test]
fn token_guards_api_metrics_and_page_not_webhooks_or_health() {
    let (_mock, mut serve, http) = setup(true);
    serve.start();
    let a = http.get(&serve.url("/api/runs"));
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "unauthorized");
    assert_eq!(http.get(&serve.url("/metrics")).status, 401);
    let wrong = http.send(
        http.client
            .get(serve.url("/api/runs"))
            .bearer_auth("ui-token-SECRET-4"),
    );
    assert_eq!(wrong.status, 401);
    let ok = http.send(
        http.client
            .get(serve.url("/api/runs"))
            .bearer_auth(UI_TOKEN),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(http.get(&serve.url("/healthz")).status, 200);
    // The page sends a person to the login form, which sets a cookie.
    let page = http.get(&serve.url("/"));
    assert_eq!(page.status, 303);
    assert_eq!(page.headers["location"], "/login");
    let bad = http.send(
        http.client
            .post(serve.url("/login"))
            .form(&[("token", "nope")]),
    );
    assert_eq!(bad.status, 401);
    let login = http.send(
        http.client
            .post(serve.url("/login"))
            .form(&[("token", UI_TOKEN)]),
    );
    assert_eq!(login.status, 303);
    let cookie = login.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = http.send(http.client.get(serve.url("/")).header("cookie", pair));
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<table id=\"runs\""));
    // Webhooks have their own verification, not the token.
    let w = http.post_json(
        &serve.url("/hooks/secret"),
        &json!({"user": "ann", "password": "pw"}),
    );
    assert_eq!(w.status, 202, "{}", w.text);
}

#[test]
fn secrets_never_reach_api_page_logs_or_journal_bytes() {
    let (mock, mut serve, http) = setup(false);
    serve.start();
    let a = http.post_json(
        &serve.url("/hooks/secret"),
        &json!({"user": "ann", "password": PASSWORD}),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    let id = a.json()["run"].as_i64().unwrap();
    let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    // The secrets did their work: the mock got each of them.
    let seen = mock.seen();
    let login = seen.iter().find(|r| r.path == "/token").unwrap();
    assert!(login.body.contains(PASSWORD));
    assert_eq!(
        login.header("authorization"),
        Some(format!("Bearer {API_TOKEN}").as_str())
    );
    let used = seen.iter().find(|r| r.path == "/items/1").unwrap();
    assert_eq!(used.header("x-session"), Some(RESPONSE_TOKEN));
    // Stop cleanly so the WAL is checkpointed or kept: both are read.
    assert_eq!(serve.term(Duration::from_secs(20)).code(), Some(0));
    serve.start();
    let places = [
        (
            "API run",
            http.get(&serve.url(&format!("/api/runs/{id}"))).text,
        ),
        ("API list", http.get(&serve.url("/api/runs")).text),
        ("page", http.get(&serve.url(&format!("/runs/{id}"))).text),
        ("index", http.get(&serve.url("/")).text),
        (
            "runs show",
            serve.runs(&["show", &id.to_string(), "--format", "json"]).1,
        ),
        ("logs", serve.logs()),
    ];
    for (what, text) in &places {
        for secret in [API_TOKEN, PASSWORD, RESPONSE_TOKEN] {
            assert!(!text.contains(secret), "{secret} in the {what}: {text}");
        }
    }
    assert!(
        places[0].1.contains("•••"),
        "masked values are shown as masked"
    );
    assert!(
        serve.logs().contains("\"event\":\"step\""),
        "JSON log lines"
    );
    let bytes = serve.journal_bytes();
    assert!(bytes.len() > 4096);
    for secret in [API_TOKEN, PASSWORD, RESPONSE_TOKEN] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the journal file in clear"
        );
    }
    // The key that seals them is owner-only, beside the journal.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = serve.journal().with_extension("key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

const SCHEDULED: &str = r#"
integration api { base_url = env("API_URL") }
method api.get_item(id: int) { GET "/items/{id}" }
runbook tick(n: int) {
  trigger schedule "* * * * * *" { args { n = 1 } }
  step i = api.get_item(id: n)
}
runbook quiet(n: int) {
  trigger schedule "* * * * * *" { args { n = 2 }, catch_up = none }
  step i = api.get_item(id: n)
}
"#;

fn runs_of(http: &Http, serve: &Serve, rb: &str) -> Vec<serde_json::Value> {
    http.get(&serve.url(&format!("/api/runs?runbook={rb}&limit=500")))
        .json()["runs"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn schedules_fire_once_per_time_and_catch_up_once() {
    let mock = Mock::start();
    let mut serve = Serve::new(SCHEDULED, &[("API_URL", &mock.url)]);
    let http = Http::new();
    serve.start();
    std::thread::sleep(Duration::from_millis(2600));
    let before = runs_of(&http, &serve, "tick").len();
    serve.kill9();
    // Down for three fire times.
    std::thread::sleep(Duration::from_millis(3000));
    serve.start();
    let until = Instant::now() + Duration::from_secs(10);
    let tick = loop {
        let t = runs_of(&http, &serve, "tick");
        if t.iter().any(|r| r["trigger"]["catch_up"] == true) {
            break t;
        }
        assert!(Instant::now() < until, "no catch-up run: {t:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(before >= 2, "fired every second: {before}");
    let catch_ups = tick
        .iter()
        .filter(|r| r["trigger"]["catch_up"] == true)
        .count();
    assert_eq!(catch_ups, 1, "one catch-up run for the missed times");
    let quiet = runs_of(&http, &serve, "quiet");
    assert!(
        quiet.iter().all(|r| r["trigger"]["catch_up"] == false),
        "catch_up = none"
    );
    // Each fire time ran once.
    let mut times: Vec<String> = tick
        .iter()
        .map(|r| r["trigger"]["fire_time"].as_str().unwrap().to_string())
        .collect();
    let n = times.len();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), n, "a fire time ran twice");
    assert_eq!(tick[0]["trigger"]["kind"], "schedule");
}

const LIMITED: &str = r#"
integration api {
  base_url = env("API_URL")
  rate { concurrency = 1 }
}
method api.slow(id: int) { GET "/slow/{id}" }
runbook one(n: int) {
  step s = api.slow(id: n)
}
"#;

#[test]
fn an_integrations_limits_are_shared_by_all_runs() {
    let mock = Mock::start();
    mock.state
        .slow_ms
        .store(150, std::sync::atomic::Ordering::SeqCst);
    let mut serve = Serve::new(LIMITED, &[("API_URL", &mock.url)]);
    let http = Http::new();
    serve.start();
    let ids: Vec<i64> = (0..4)
        .map(|n| {
            http.post_json(&serve.url("/api/runbooks/one/runs"), &json!({"n": n}))
                .json()["run"]
                .as_i64()
                .unwrap()
        })
        .collect();
    for id in ids {
        let run = wait_state(&http, &serve, id, &["succeeded", "failed"]);
        assert_eq!(run["state"], "succeeded", "{run}");
    }
    assert_eq!(mock.count("GET", "/slow/"), 4);
    assert_eq!(
        mock.state
            .max_inflight
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "concurrency = 1 holds across runs"
    );
}

#[test]
fn keep_prunes_finished_runs() {
    let mock = Mock::start();
    let mut serve = Serve::new(LIMITED, &[("API_URL", &mock.url)]);
    let http = Http::new();
    serve.start();
    let id = http
        .post_json(&serve.url("/api/runbooks/one/runs"), &json!({"n": 1}))
        .json()["run"]
        .as_i64()
        .unwrap();
    wait_state(&http, &serve, id, &["succeeded"]);
    serve.term(Duration::from_secs(20));
    serve.start();
    assert_eq!(
        http.get(&serve.url(&format!("/api/runs/{id}"))).status,
        200,
        "kept for 30 days"
    );
    serve.term(Duration::from_secs(20));
    serve.extra = vec!["--keep".into(), "1ms".into()];
    std::thread::sleep(Duration::from_millis(20));
    serve.start();
    let until = Instant::now() + Duration::from_secs(10);
    while http.get(&serve.url(&format!("/api/runs/{id}"))).status != 404 {
        assert!(Instant::now() < until, "not pruned");
        std::thread::sleep(Duration::from_millis(50));
    }
}
