//! Scale-out on PostgreSQL (SERVE.md §6): several `rbk serve` processes
//! (api nodes and workers) sharing one journal in a real PostgreSQL server
//! (Debian's, a fresh cluster per test), a mock API that counts what it
//! receives, `kill -9` of a worker, a restart of the database, ten nodes
//! starting at once, and a schedule with three nodes.
//!
//! They need PostgreSQL's server binaries: `.ci/setup-postgres.sh`
//! installs them; `cargo test -- --include-ignored` runs these tests.

mod serve_support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use serve_support::pg::{PASSWORD, Pg};
use serve_support::*;

const KEY: &str = "5f9d0c4e3b2a1908f7e6d5c4b3a29180ffeeddccbbaa99887766554433221100";

const PROGRAM: &str = r#"
integration api { base_url = env("API_URL") }
method api.get_item(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}
method api.create(id: int) {
  POST "/slow/create/{id}"
  idempotency_key = "Idempotency-Key"
  body json { id: id }
  output { id: int = $.id }
}
method api.plain_post(id: int) {
  POST "/slow/plain/{id}"
  body json { id: id }
  output { id: int = $.id }
}
method api.check(id: int) {
  GET "/slow/check/{id}"
  output { name: string = $.name }
}

runbook order(id: int) {
  trigger webhook "/hooks/order" { args { id = $.id } }
  step a = api.get_item(id: id)
  step b = api.create(id: id)
  step c = api.check(id: id)
  return { name: c.name, created: b.id }
}

runbook plain(id: int) {
  trigger webhook "/hooks/plain" { args { id = $.id } }
  step a = api.check(id: id)
  step b = api.plain_post(id: id)
  step c = api.check(id: id)
  return { created: b.id }
}
"#;

/// One node: `role`, on the shared journal, a short lease.
fn node(pg: &Pg, mock: &Mock, program: &str, role: &str) -> Serve {
    let mut s = Serve::new(program, &[("API_URL", &mock.url), ("RBK_JOURNAL_KEY", KEY)]);
    s.journal_url = Some(pg.url());
    s.extra = vec![
        "--role".into(),
        role.into(),
        "--lease".into(),
        "2s".into(),
        "--max-runs".into(),
        "16".into(),
    ];
    s
}

/// Sends `n` webhooks spread over `nodes`, 16 at a time; the run ids of
/// those answered 202, by payload id. Calls `midway` once half were
/// answered.
fn burst(
    http: &Http,
    nodes: &[String],
    path: &str,
    n: usize,
    midway: impl FnOnce() + Send,
) -> HashMap<i64, i64> {
    let answered = Arc::new(Mutex::new(HashMap::new()));
    let client = http.client.clone();
    let urls: Vec<String> = nodes.iter().map(|u| format!("{u}{path}")).collect();
    std::thread::scope(|s| {
        let a = answered.clone();
        let sender = s.spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let sem = Arc::new(tokio::sync::Semaphore::new(16));
                let mut tasks = Vec::new();
                for i in 0..n {
                    let permit = sem.clone().acquire_owned().await.unwrap();
                    let client = client.clone();
                    let url = urls[i % urls.len()].clone();
                    let a = a.clone();
                    tasks.push(tokio::spawn(async move {
                        let r = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(json!({"id": i}).to_string())
                            .send()
                            .await;
                        if let Ok(r) = r
                            && r.status().as_u16() == 202
                            && let Ok(t) = r.text().await
                            && let Ok(j) = serde_json::from_str::<serde_json::Value>(&t)
                            && let Some(run) = j["run"].as_i64()
                        {
                            a.lock().unwrap().insert(i as i64, run);
                        }
                        drop(permit);
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        let until = Instant::now() + Duration::from_secs(60);
        while answered.lock().unwrap().len() < n / 2 && !sender.is_finished() {
            assert!(Instant::now() < until, "the burst is too slow");
            std::thread::sleep(Duration::from_millis(5));
        }
        midway();
        sender.join().unwrap();
    });
    Arc::try_unwrap(answered).unwrap().into_inner().unwrap()
}

/// Waits until no run is queued or running; the states of all runs.
fn settle(pg: &Pg, within: Duration, logs: impl Fn() -> String) -> HashMap<String, i64> {
    let until = Instant::now() + within;
    loop {
        let open = pg.count("SELECT count(*) FROM rbk_runs WHERE state IN ('queued', 'running')");
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{open} runs never finished:\n{}\n{}",
            pg.sql("SELECT id, state, lease_owner, lease_until - rbk_now_ms() FROM rbk_runs WHERE state IN ('queued', 'running') LIMIT 20"),
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pg.sql("SELECT state, count(*) FROM rbk_runs GROUP BY state")
        .lines()
        .filter_map(|l| {
            let (s, n) = l.split_once('|')?;
            Some((s.to_string(), n.parse().ok()?))
        })
        .collect()
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn webhooks_over_two_api_nodes_and_two_workers_survive_a_worker_kill() {
    let pg = Pg::start();
    let mock = Mock::start();
    mock.state
        .slow_ms
        .store(30, std::sync::atomic::Ordering::SeqCst);
    let http = Http::new();
    let mut api1 = node(&pg, &mock, PROGRAM, "api");
    let mut api2 = node(&pg, &mock, PROGRAM, "api");
    let mut w1 = node(&pg, &mock, PROGRAM, "worker");
    let mut w2 = node(&pg, &mock, PROGRAM, "worker");
    for s in [&mut api1, &mut api2, &mut w1, &mut w2] {
        s.start();
    }
    // A worker takes no webhooks; an api node executes nothing.
    let refused = http.post_json(&w1.url("/hooks/order"), &json!({"id": 1}));
    assert_eq!(refused.status, 404, "{}", refused.text);
    assert_eq!(refused.json()["error"], "worker_node");
    assert_eq!(http.get(&w1.url("/healthz")).status, 200);

    let n = 300;
    let nodes = [api1.url(""), api2.url("")];
    let answered = burst(&http, &nodes, "/hooks/order", n, || {
        // Worker 1 is in the middle of runs: cut it off.
        w1.kill9();
    });
    assert!(
        answered.len() >= n - 5,
        "only {} of {n} accepted",
        answered.len()
    );
    let states = settle(&pg, Duration::from_secs(120), || {
        format!("{}{}{}", w2.logs(), api1.logs(), w1.logs())
    });
    assert_eq!(
        states.get("succeeded").copied().unwrap_or(0),
        answered.len() as i64,
        "every accepted run succeeds: {states:?}\n{}",
        w2.logs()
    );
    assert_eq!(
        states.values().sum::<i64>(),
        answered.len() as i64,
        "{states:?}"
    );
    // Each run reached the API: its POST with one idempotency key (a resend
    // after the kill carries the same key), and nothing for runs not accepted.
    let posts = mock
        .seen()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/slow/create/"))
        .collect::<Vec<_>>();
    let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
    for p in &posts {
        keys.entry(p.path.clone())
            .or_default()
            .insert(p.header("idempotency-key").unwrap_or("").to_string());
    }
    for (i, run) in &answered {
        let k = keys
            .get(&format!("/slow/create/{i}"))
            .unwrap_or_else(|| panic!("run {run} (id {i}) never created its order"));
        assert_eq!(k.len(), 1, "run {run}: one key for every send: {k:?}");
        assert!(!k.iter().next().unwrap().is_empty());
    }
    assert_eq!(
        keys.len(),
        answered.len(),
        "no order for a run that was not accepted"
    );
    // Every node's API shows every run, wherever it ran.
    let (i, run) = answered.iter().next().unwrap();
    for s in [&api1, &api2] {
        let r = http.get(&s.url(&format!("/api/runs/{run}")));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["state"], "succeeded");
        assert_eq!(r.json()["args"]["id"], *i);
    }
    let list = http.get(&api2.url("/api/runs?limit=500")).json();
    assert_eq!(
        list["runs"].as_array().unwrap().len(),
        answered.len(),
        "api node 2 lists the runs api node 1 accepted too"
    );
    // The database password is never printed.
    for s in [&api1, &api2, &w1, &w2] {
        assert!(!s.logs().contains(PASSWORD), "password in a log");
        assert!(s.logs().contains("postgres://rbk:***@"), "{}", s.logs());
    }
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn a_database_restart_mid_run_loses_and_repeats_nothing() {
    let pg = Pg::start();
    let mock = Mock::start();
    mock.state
        .slow_ms
        .store(200, std::sync::atomic::Ordering::SeqCst);
    let http = Http::new();
    let mut a = node(&pg, &mock, PROGRAM, "all");
    a.start();
    let mut runs = Vec::new();
    for i in 0..12 {
        let r = http.post_json(&a.url("/hooks/plain"), &json!({"id": i}));
        assert_eq!(r.status, 202, "{}", r.text);
        runs.push((i, r.json()["run"].as_i64().unwrap()));
    }
    // Runs are in their slow requests: the database goes away, then comes back.
    mock.wait_for("GET", "/slow/check/", 6);
    pg.down();
    // While it is away, a webhook cannot be committed: 503, nothing stored.
    let r = http.post_json(&a.url("/hooks/plain"), &json!({"id": 99}));
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json()["error"], "journal_unavailable");
    std::thread::sleep(Duration::from_millis(1500));
    pg.up();
    let states = settle(&pg, Duration::from_secs(90), || a.logs());
    assert_eq!(
        states.get("succeeded").copied(),
        Some(runs.len() as i64),
        "{states:?}\n{}",
        a.logs()
    );
    for (i, run) in &runs {
        // The plain POST (not idempotent, no key) reached the API once.
        let path = format!("/slow/plain/{i}");
        let sent = mock
            .seen()
            .iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .count();
        assert_eq!(sent, 1, "run {run}: {:?}", mock.seen());
    }
    assert!(!mock.seen().iter().any(|r| r.path == "/slow/plain/99"));
    assert_eq!(pg.count("SELECT count(*) FROM rbk_runs"), runs.len() as i64);
    // Accepting works again.
    let r = http.post_json(&a.url("/hooks/plain"), &json!({"id": 100}));
    assert_eq!(r.status, 202, "{}", r.text);
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn ten_nodes_starting_at_once_migrate_once() {
    let pg = Pg::start();
    let mock = Mock::start();
    let mut nodes: Vec<Serve> = (0..10)
        .map(|i| {
            node(
                &pg,
                &mock,
                PROGRAM,
                if i % 2 == 0 { "api" } else { "worker" },
            )
        })
        .collect();
    // All ten at once (each node's Drop kills it, whatever happens here).
    for s in nodes.iter_mut() {
        let log = std::fs::File::create(s.log_path(0)).unwrap();
        s.starts = 1;
        s.child = Some(
            s.command()
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }
    for (n, s) in nodes.iter_mut().enumerate() {
        let until = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err() {
            if let Some(c) = s.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("node {n} exited ({status}): {}", s.logs());
            }
            assert!(
                Instant::now() < until,
                "node {n} never listened: {}",
                s.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Every version of the repository's migrations, each applied once.
    let versions = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/serve/journal/migrations/postgres"
    ))
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
    })
    .count() as i64;
    assert!(versions >= 2);
    assert_eq!(
        pg.count("SELECT count(*) FROM rbk_migrations WHERE success"),
        versions
    );
    assert!(
        !pg.log().contains("duplicate key"),
        "a migration ran twice: {}",
        pg.log()
    );
    // All of them work on the one schema.
    let http = Http::new();
    let r = http.post_json(&nodes[0].url("/hooks/order"), &json!({"id": 5}));
    assert_eq!(r.status, 202, "{}", r.text);
    let run = r.json()["run"].as_i64().unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let j = http.get(&nodes[2].url(&format!("/api/runs/{run}"))).json();
        if j["state"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < until, "{j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh); waits for a minute boundary"]
fn a_schedule_fires_once_per_fire_time_with_three_nodes() {
    let pg = Pg::start();
    let mock = Mock::start();
    let program = format!(
        "{PROGRAM}\nrunbook tick(id: int = 0) {{\n  trigger schedule \"* * * * *\" {{ args {{ id = 7 }} }}\n  step a = api.get_item(id: id)\n}}\n"
    );
    let mut nodes: Vec<Serve> = ["all", "api", "api"]
        .iter()
        .map(|r| node(&pg, &mock, &program, r))
        .collect();
    for s in &mut nodes {
        s.start();
    }
    // Two fire times pass with three nodes firing.
    let until = Instant::now() + Duration::from_secs(150);
    while pg.count("SELECT count(*) FROM rbk_fires") < 2 {
        assert!(Instant::now() < until, "no fires: {}", nodes[0].logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let every node's timer for the latest minute have fired.
    std::thread::sleep(Duration::from_secs(3));
    let fires = pg.sql("SELECT fire_at FROM rbk_fires ORDER BY fire_at");
    let fire_times: Vec<&str> = fires.lines().collect();
    let runs = pg.count("SELECT count(*) FROM rbk_runs WHERE trigger_kind = 'schedule'");
    assert_eq!(
        runs,
        fire_times.len() as i64,
        "one run per fire time: {fire_times:?}"
    );
    let distinct: HashSet<&str> = fire_times.iter().copied().collect();
    assert_eq!(distinct.len(), fire_times.len());
    settle(&pg, Duration::from_secs(30), || nodes[0].logs());
    assert_eq!(
        pg.count("SELECT count(*) FROM rbk_runs WHERE state = 'succeeded'"),
        runs
    );
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn a_worker_given_sigterm_hands_its_runs_to_another() {
    let pg = Pg::start();
    let mock = Mock::start();
    mock.block(true);
    let program = format!(
        "{PROGRAM}\nmethod api.wait_get(id: int) {{\n  GET \"/block/{{id}}\"\n  output {{ name: string = $.name }}\n}}\nrunbook held(id: int) {{\n  trigger webhook \"/hooks/held\" {{ args {{ id = $.id }} }}\n  step a = api.wait_get(id: id)\n  step b = api.get_item(id: id)\n}}\n"
    );
    let http = Http::new();
    let mut api = node(&pg, &mock, &program, "api");
    let mut w1 = node(&pg, &mock, &program, "worker");
    let mut w2 = node(&pg, &mock, &program, "worker");
    api.start();
    w1.start();
    let mut runs = Vec::new();
    for i in 0..4 {
        let r = http.post_json(&api.url("/hooks/held"), &json!({"id": i}));
        assert_eq!(r.status, 202);
        runs.push(r.json()["run"].as_i64().unwrap());
    }
    mock.wait_for("GET", "/block/", 4);
    // Live events of a run executing on the worker reach the api node.
    let events = {
        let client = http.client.clone();
        let url = api.url(&format!("/api/runs/{}/events", runs[0]));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let mut r = client.get(&url).send().await.unwrap();
                let mut all = String::new();
                let until = Instant::now() + Duration::from_secs(30);
                while Instant::now() < until {
                    match tokio::time::timeout(Duration::from_secs(30), r.chunk()).await {
                        Ok(Ok(Some(c))) => {
                            all.push_str(&String::from_utf8_lossy(&c));
                            if all.contains("run_finished") {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                all
            })
        })
    };
    w2.start();
    std::thread::sleep(Duration::from_millis(300));
    let stopping = w1.term_nowait();
    std::thread::sleep(Duration::from_millis(300));
    // The requests in flight finish; the runs go back to the queue.
    mock.block(false);
    let status = {
        let mut c = stopping;
        let until = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < until, "the worker did not drain");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(status.success(), "{status}: {}", w1.logs());
    settle(&pg, Duration::from_secs(60), || {
        format!("{}{}", w1.logs(), w2.logs())
    });
    for run in &runs {
        let j = http.get(&api.url(&format!("/api/runs/{run}"))).json();
        assert_eq!(j["state"], "succeeded", "{j}");
    }
    // The handed-over runs finished on worker 2.
    assert!(
        w2.logs().contains("succeeded"),
        "worker 2 finished runs: {}",
        w2.logs()
    );
    let seen = events.join().unwrap();
    assert!(seen.contains("run_finished"), "events: {seen}");
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn rbk_runs_reads_the_shared_journal_and_a_node_with_another_key_refuses_to_start() {
    let pg = Pg::start();
    let mock = Mock::start();
    let http = Http::new();
    let mut a = node(&pg, &mock, PROGRAM, "all");
    a.start();
    let r = http.post_json(&a.url("/hooks/order"), &json!({"id": 3}));
    let run = r.json()["run"].as_i64().unwrap();
    wait_state(&http, &a, run, &["succeeded"]);
    let (code, out, err) = a.runs(&["list", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["runs"][0]["id"], run);
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    let (code, out, _) = a.runs(&["show", &run.to_string()]);
    assert_eq!(code, 0);
    assert!(out.contains("succeeded"), "{out}");

    // Another key: sealed values would not open; refused at start.
    let mut b = node(&pg, &mock, PROGRAM, "worker");
    b.env.retain(|(k, _)| k != "RBK_JOURNAL_KEY");
    b.env.push(("RBK_JOURNAL_KEY".into(), "11".repeat(32)));
    let out = b.command().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rbk::serve::journal") && err.contains("same RBK_JOURNAL_KEY"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD));

    // No key at all: the journal keeps its own, which is not this one.
    let mut d = node(&pg, &mock, PROGRAM, "worker");
    d.env.retain(|(k, _)| k != "RBK_JOURNAL_KEY");
    let out = d.command().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rbk::serve::journal_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong password: a clear error, and the password not echoed.
    let mut c = node(&pg, &mock, PROGRAM, "all");
    c.journal_url = Some(pg.url().replace(PASSWORD, "wrong-PASSWORD-x"));
    let out = c.command().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("wrong-PASSWORD-x"), "{err}");
}

#[test]
fn api_and_worker_roles_need_a_shared_journal() {
    let mock = Mock::start();
    let mut s = Serve::new(PROGRAM, &[("API_URL", &mock.url)]);
    s.extra = vec!["--role".into(), "worker".into()];
    let out = s.command().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rbk::serve::role") && err.contains("PostgreSQL"),
        "{err}"
    );
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn an_integrations_rate_holds_across_the_cluster() {
    let pg = Pg::start();
    let mock = Mock::start();
    let program = r#"
integration limited {
  base_url = env("API_URL")
  rate { requests = 4, per = 1s }
}
method limited.get(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}
runbook one(id: int) {
  trigger webhook "/hooks/one" { args { id = $.id } }
  step a = limited.get(id: id)
}
"#;
    let http = Http::new();
    let mut api = node(&pg, &mock, program, "api");
    let mut w1 = node(&pg, &mock, program, "worker");
    let mut w2 = node(&pg, &mock, program, "worker");
    api.start();
    w1.start();
    w2.start();
    let n = 16;
    for i in 0..n {
        let r = http.post_json(&api.url("/hooks/one"), &json!({"id": i}));
        assert_eq!(r.status, 202, "{}", r.text);
    }
    settle(&pg, Duration::from_secs(60), || {
        format!("{}{}", w1.logs(), w2.logs())
    });
    let mut times: Vec<Instant> = mock.seen().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), n);
    times.sort();
    // 4 at once, then one every 250 ms from one bucket for both workers:
    // the last is 3 s after the first (a bucket per worker would be 1.5 s).
    let spread = times[n - 1] - times[0];
    assert!(spread >= Duration::from_millis(2700), "{spread:?}");
    // Both workers took part.
    assert!(w1.logs().contains("succeeded") && w2.logs().contains("succeeded"));
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn nodes_without_a_key_share_the_one_kept_in_the_journal() {
    let pg = Pg::start();
    let mock = Mock::start();
    let http = Http::new();
    // Each node in a directory of its own: no key file to share.
    let mut nodes: Vec<Serve> = ["api", "worker"]
        .iter()
        .map(|r| {
            let mut s = node(&pg, &mock, PROGRAM, r);
            s.env.retain(|(k, _)| k != "RBK_JOURNAL_KEY");
            s
        })
        .collect();
    for s in &mut nodes {
        s.start();
    }
    let r = http.post_json(&nodes[0].url("/hooks/order"), &json!({"id": 42}));
    assert_eq!(r.status, 202, "{}", r.text);
    let run = r.json()["run"].as_i64().unwrap();
    // The worker opened the arguments the api node sealed.
    let j = wait_state(&http, &nodes[0], run, &["succeeded", "failed"]);
    assert_eq!(j["state"], "succeeded", "{j}\n{}", nodes[1].logs());
    assert!(mock.seen().iter().any(|r| r.path == "/items/42"));
    assert!(nodes[0].logs().contains("no RBK_JOURNAL_KEY"));
    assert!(
        !nodes[0].dir.path().join(".rbk").exists(),
        "no key file beside the program"
    );
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn an_integrations_concurrency_holds_across_the_cluster() {
    let pg = Pg::start();
    let mock = Mock::start();
    mock.state
        .slow_ms
        .store(300, std::sync::atomic::Ordering::SeqCst);
    let program = r#"
integration narrow {
  base_url = env("API_URL")
  rate { concurrency = 2 }
}
method narrow.get(id: int) {
  GET "/slow/{id}"
  output { name: string = $.name }
}
runbook one(id: int) {
  trigger webhook "/hooks/one" { args { id = $.id } }
  step a = narrow.get(id: id)
}
"#;
    let http = Http::new();
    let mut api = node(&pg, &mock, program, "api");
    // Two runs at most per worker: both workers run at once, and a limit
    // per worker would let four requests through.
    let mut workers: Vec<Serve> = (0..2)
        .map(|_| {
            let mut w = node(&pg, &mock, program, "worker");
            let at = w.extra.iter().position(|a| a == "--max-runs").unwrap();
            w.extra[at + 1] = "2".into();
            w
        })
        .collect();
    api.start();
    for w in &mut workers {
        w.start();
    }
    for i in 0..8 {
        let r = http.post_json(&api.url("/hooks/one"), &json!({"id": i}));
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let states = settle(&pg, Duration::from_secs(60), || {
        workers.iter().map(|w| w.logs()).collect()
    });
    assert_eq!(states.get("succeeded").copied(), Some(8), "{states:?}");
    let most = mock
        .state
        .max_inflight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        most, 2,
        "at most two requests in flight across both workers"
    );
    for w in &workers {
        assert!(
            w.logs().contains("succeeded"),
            "both workers ran: {}",
            w.logs()
        );
    }
    // Every slot was given back.
    assert_eq!(
        pg.count("SELECT count(*) FROM rbk_slots WHERE owner IS NOT NULL"),
        0
    );
}

#[test]
#[ignore = "needs PostgreSQL's server (.ci/setup-postgres.sh)"]
fn a_delivery_id_starts_one_run_whichever_node_gets_it() {
    let pg = Pg::start();
    let mock = Mock::start();
    let program = format!(
        "{PROGRAM}\nrunbook once(id: int) {{\n  trigger webhook \"/hooks/once\" {{\n    dedupe = header(\"X-Delivery\")\n    args {{ id = $.id }}\n  }}\n  step a = api.get_item(id: id)\n}}\n"
    );
    let http = Http::new();
    let mut a = node(&pg, &mock, &program, "all");
    let mut b = node(&pg, &mock, &program, "api");
    a.start();
    b.start();
    // The same delivery sent to both nodes at once, several times over.
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let sends: Vec<_> = (0..6)
            .map(|i| {
                let url = if i % 2 == 0 {
                    a.url("/hooks/once")
                } else {
                    b.url("/hooks/once")
                };
                let http = &http;
                s.spawn(move || {
                    http.send(
                        http.client
                            .post(url)
                            .header("content-type", "application/json")
                            .header("X-Delivery", "d-1")
                            .body(json!({"id": 7}).to_string()),
                    )
                })
            })
            .collect();
        sends.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let runs: HashSet<i64> = answers
        .iter()
        .map(|r| {
            assert!(
                r.status == 202 || r.status == 200,
                "{} {}",
                r.status,
                r.text
            );
            r.json()["run"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(runs.len(), 1, "one run for one delivery: {runs:?}");
    assert_eq!(answers.iter().filter(|r| r.status == 202).count(), 1);
    settle(&pg, Duration::from_secs(30), || a.logs());
    assert_eq!(pg.count("SELECT count(*) FROM rbk_runs"), 1);
}
