//! Pagination, retries and rate limits against a real server: what was
//! requested, in what order, and when.

mod run_support;

use std::time::Duration;

use run_support::*;
use serde_json::json;

const PAGES: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}/api" }

method api.by_url() {
  GET "/next"
  query { filter = "a b" }
  paginate next_url = $.next
  output { ids: [int] = $.items[*].id }
}

method api.by_url_capped() {
  GET "/forever"
  paginate next_url = $.next { max_pages = 3 }
  output { ids: [int] = $.items[*].id }
}

method api.by_link() {
  GET "/link"
  paginate link_header
  output { ids: [int] = $.items[*].id }
}

method api.by_cursor(team: string) {
  GET "/cursor"
  query { team = team }
  paginate cursor {
    param = "cursor"
    next = $.next_cursor
  }
  output { ids: [int] = $.items[*].id }
}

method api.by_page() {
  GET "/page"
  paginate page {
    param = "page"
    size_param = "per_page"
    size = 2
  }
  output { ids: [int] = $.items[*].id }
}

method api.by_page_capped() {
  GET "/fullpages"
  paginate page {
    param = "p"
    size_param = "n"
    size = 2
    max_pages = 2
  }
  output { ids: [int] = $.items[*].id }
}

method api.plain() {
  GET "/next"
  paginate next_url = $.next
  output { ids: [int] = $.items[*].id }
}

integration keyed {
  base_url = "{instance.url}/api"
  auth api_key { name = "key", value = secret("RBK_T_PAGE_KEY"), in = query }
}

method keyed.by_cursor() {
  GET "/cursor"
  paginate cursor { param = "cursor", next = $.next_cursor }
  output { ids: [int] = $.items[*].id }
}

method keyed.by_url() {
  GET "/next"
  paginate next_url = $.next
  output { ids: [int] = $.items[*].id }
}

runbook keyed_pages() {
  for page in keyed.by_cursor() {
    log "cursor page: {join(page.ids, ",")}"
  }
  for page in keyed.by_url() {
    log "url page: {join(page.ids, ",")}"
  }
}

runbook next_url() {
  for page in api.by_url() {
    log "page {page.status}: {join(page.ids, ",")}"
  }
}

runbook capped() {
  for page in api.by_url_capped() {
    log "got {join(page.ids, ",")}"
  }
}

runbook link() {
  for page in api.by_link() {
    log "page: {join(page.ids, ",")}"
  }
}

runbook cursor() {
  for page in api.by_cursor(team: "ops & dev") {
    log "page: {join(page.ids, ",")}"
  }
}

runbook page() {
  for page in api.by_page() {
    log "page: {join(page.ids, ",")}"
  }
}

runbook page_capped() {
  for page in api.by_page_capped() {
    log "page: {join(page.ids, ",")}"
  }
}

runbook first_page_only() {
  step p = api.plain()
  return { ids: p.ids }
}
"#;

fn page_server() -> Server {
    Server::start(|r, _| {
        let q = |k: &str| r.query_value(k);
        match r.path() {
            // Absolute, then origin-relative, then none.
            "/api/next" => match q("page").as_deref() {
                None => Reply::json(json!({
                    "items": [{ "id": 1 }, { "id": 2 }],
                    "next": format!("http://{}/api/next?page=2&filter=a%20b", r.header("host").unwrap_or_default()),
                })),
                Some("2") => Reply::json(json!({
                    "items": [{ "id": 3 }],
                    "next": "/api/next?page=3",
                })),
                _ => Reply::json(json!({ "items": [{ "id": 4 }], "next": null })),
            },
            "/api/forever" => {
                let n: u32 = q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                Reply::json(json!({
                    "items": [{ "id": n }],
                    "next": format!("/api/forever?page={}", n + 1),
                }))
            }
            "/api/link" => {
                let n: u32 = q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let host = r.header("host").unwrap_or_default().to_string();
                let mut reply = Reply::json(json!({ "items": [{ "id": n * 10 }] }));
                let last = format!("<http://{host}/api/link?page=3>; rel=\"last\"");
                if n < 3 {
                    reply = reply.header(
                        "Link",
                        &format!(
                            "{last}, <http://{host}/api/link?page={}>; rel=\"next\"",
                            n + 1
                        ),
                    );
                } else {
                    reply = reply.header("Link", &last);
                }
                reply
            }
            "/api/cursor" => match q("cursor").as_deref() {
                None => Reply::json(json!({ "items": [{ "id": 1 }], "next_cursor": "c/2+x" })),
                Some("c/2+x") => {
                    Reply::json(json!({ "items": [{ "id": 2 }], "next_cursor": "c3" }))
                }
                Some("c3") => Reply::json(json!({ "items": [{ "id": 3 }], "next_cursor": "" })),
                Some(_) => Reply::status(400),
            },
            "/api/page" => {
                let items = match q("page").as_deref() {
                    Some("1") => json!([{ "id": 1 }, { "id": 2 }]),
                    Some("2") => json!([{ "id": 3 }, { "id": 4 }]),
                    Some("3") => json!([{ "id": 5 }]),
                    _ => return Reply::status(400),
                };
                Reply::json(json!({ "items": items }))
            }
            "/api/fullpages" => Reply::json(json!({ "items": [{ "id": 1 }, { "id": 2 }] })),
            _ => Reply::status(404),
        }
    })
}

fn logs(out: &Out) -> Vec<String> {
    out.stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("log: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn paginate_next_url() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    let out = run(&file, "next_url", &[]);
    out.ok();
    assert_eq!(logs(&out), ["page 200: 1,2", "page 200: 3", "page 200: 4"]);
    let targets: Vec<String> = s.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        [
            "/api/next?filter=a%20b",
            "/api/next?page=2&filter=a%20b",
            "/api/next?page=3"
        ]
    );
}

#[test]
fn paginate_stops_at_max_pages_and_says_so() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    let out = run(&file, "capped", &[]);
    out.ok();
    assert_eq!(logs(&out), ["got 1", "got 2", "got 3"]);
    assert_eq!(s.count(), 3);
    assert!(
        out.stderr.contains("max_pages"),
        "truncation is visible:\n{out}"
    );
}

#[test]
fn paginate_link_header() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    let out = run(&file, "link", &[]);
    out.ok();
    assert_eq!(logs(&out), ["page: 10", "page: 20", "page: 30"]);
    assert_eq!(s.count(), 3);
}

#[test]
fn paginate_cursor() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    let out = run(&file, "cursor", &[]);
    out.ok();
    assert_eq!(logs(&out), ["page: 1", "page: 2", "page: 3"]);
    let r = s.requests();
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0].query(),
        [("team".to_string(), "ops & dev".to_string())]
    );
    assert_eq!(
        r[1].query(),
        [
            ("team".to_string(), "ops & dev".to_string()),
            ("cursor".into(), "c/2+x".into())
        ]
    );
    assert_eq!(r[2].query_value("cursor").as_deref(), Some("c3"));
}

#[test]
fn paginate_page_numbers() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    let out = run(&file, "page", &[]);
    out.ok();
    assert_eq!(logs(&out), ["page: 1,2", "page: 3,4", "page: 5"]);
    let r = s.requests();
    assert_eq!(r.len(), 3, "a short page is the last");
    for (i, req) in r.iter().enumerate() {
        assert_eq!(req.query_value("page"), Some((i + 1).to_string()));
        assert_eq!(req.query_value("per_page").as_deref(), Some("2"));
    }
    let out = run(&file, "page_capped", &[]);
    out.ok();
    assert_eq!(logs(&out), ["page: 1,2", "page: 1,2"]);
    let r: Vec<_> = s.requests().into_iter().skip(3).collect();
    assert_eq!(r.len(), 2);
    let mut q = r[1].query();
    q.sort();
    assert_eq!(
        q,
        [("n".to_string(), "2".to_string()), ("p".into(), "2".into())]
    );
}

#[test]
fn query_auth_is_sent_once_on_every_page() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    let f = file.to_string_lossy().into_owned();
    let out = rbk_env(&["run", &f, "keyed_pages"], &[("RBK_T_PAGE_KEY", "s3cret")]);
    out.ok();
    assert_eq!(logs(&out).len(), 6, "{out}");
    let r = s.requests();
    assert_eq!(r.len(), 6);
    for req in &r {
        let keys: Vec<_> = req
            .query()
            .into_iter()
            .filter(|(k, _)| k == "key")
            .collect();
        assert_eq!(
            keys,
            [("key".to_string(), "s3cret".to_string())],
            "{}",
            req.target
        );
    }
    assert!(!out.stderr.contains("s3cret"), "{out}");
}

#[test]
fn a_step_fetches_the_first_page_only() {
    let s = page_server();
    let dir = Dir::new();
    let file = dir.program(PAGES, &s.url);
    assert_eq!(
        run(&file, "first_page_only", &[]).ok(),
        json!({ "ids": [1, 2] })
    );
    assert_eq!(s.count(), 1);
}

const RETRY: &str = r#"
instance local { url = "@URL@" }

integration api {
  base_url = "{instance.url}"
  retry { attempts = 3, backoff = 100ms, on = [503] }
}

integration limited {
  base_url = "{instance.url}"
  rate { requests = 5, per = 1s }
}

integration narrow {
  base_url = "{instance.url}"
  rate { concurrency = 2 }
}

method api.get(case: string) {
  GET "/r/{case}"
  output { n: int = $.n }
}

method api.post(case: string) {
  POST "/r/{case}"
  body json { case: case }
  output { n: int = $.n }
}

method api.post_retried(case: string) {
  POST "/r/{case}"
  body json { case: case }
  retry { attempts = 2, backoff = 50ms, on = [503], methods = [POST] }
  output { n: int = $.n }
}

method api.capped(case: string) {
  GET "/r/{case}"
  retry { attempts = 2, backoff = 50ms, max_backoff = 200ms, on = [503] }
  output { n: int = $.n }
}

method api.sleepy(case: string) {
  GET "/r/{case}"
  timeout = 300ms
  retry { attempts = 2, backoff = 10ms }
  output { n: int = $.n }
}

method limited.get(i: int) { GET "/l/{i}" }
method narrow.get(i: int) { GET "/c/{i}" }

runbook get(case: string) {
  step s = api.get(case: case) else {
    503 => { return { failed: s.status } }
  }
  return { n: s.n }
}

runbook post(case: string) {
  step s = api.post(case: case) else {
    _ => { return { failed: s.status } }
  }
  return { n: s.n }
}

runbook post_retried(case: string) {
  step s = api.post_retried(case: case)
  return { n: s.n }
}

runbook capped(case: string) {
  step s = api.capped(case: case)
  return { n: s.n }
}

runbook sleepy(case: string) {
  step s = api.sleepy(case: case)
  return { n: s.n }
}

runbook rate(n: int) {
  for i in range(n) parallel 10 {
    step s = limited.get(i: i)
  }
  return { count: len(s) }
}

runbook narrow(n: int) {
  for i in range(n) parallel 10 {
    step s = narrow.get(i: i)
  }
  return { count: len(s) }
}
"#;

/// `/r/CASE`: the first `fails` answers are 503 (with `retry_after`).
fn retry_server() -> Server {
    Server::start(|r, n| {
        let case = r.path().trim_start_matches("/r/").to_string();
        let fail = |after: Option<String>| {
            let mut reply = Reply::json(json!({ "error": "busy" })).code(503);
            if let Some(a) = after {
                reply = reply.header("Retry-After", &a);
            }
            reply
        };
        match case.as_str() {
            "after1" if n == 0 => fail(Some("1".into())),
            "date" if n == 0 => fail(Some(httpdate::fmt_http_date(
                std::time::SystemTime::now() + Duration::from_secs(2),
            ))),
            "long" if n == 0 => fail(Some("5".into())),
            "twice" if n < 2 => fail(None),
            "always" => fail(None),
            "once" if n == 0 => fail(None),
            "sleepy" if n == 0 => Reply::json(json!({ "n": n })).after(Duration::from_millis(1500)),
            _ if r.path().starts_with("/l/") || r.path().starts_with("/c/") => {
                Reply::json(json!({})).after(Duration::from_millis(100))
            }
            _ => Reply::json(json!({ "n": n })),
        }
    })
}

#[test]
fn retry_honours_retry_after_seconds() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "get", &["case=after1"]);
    assert_eq!(out.ok(), json!({ "n": 1 }));
    let r = s.requests();
    assert_eq!(r.len(), 2);
    let gap = gap_ms(&r[0], &r[1]);
    assert!((950..2500).contains(&gap), "Retry-After: 1 → {gap}ms");
}

#[test]
fn retry_honours_retry_after_http_date() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "get", &["case=date"]);
    assert_eq!(out.ok(), json!({ "n": 1 }));
    let r = s.requests();
    assert_eq!(r.len(), 2);
    // The date has one-second resolution: 1 to 2 seconds.
    let gap = gap_ms(&r[0], &r[1]);
    assert!(
        (900..2600).contains(&gap),
        "HTTP-date Retry-After → {gap}ms"
    );
}

#[test]
fn retry_after_is_capped_by_max_backoff() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "capped", &["case=long"]);
    assert_eq!(out.ok(), json!({ "n": 1 }));
    let r = s.requests();
    assert_eq!(r.len(), 2);
    let gap = gap_ms(&r[0], &r[1]);
    assert!(
        gap < 900,
        "Retry-After: 5 with max_backoff = 200ms → {gap}ms"
    );
}

#[test]
fn retry_backs_off_and_gives_up_after_attempts() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    assert_eq!(run(&file, "get", &["case=twice"]).ok(), json!({ "n": 2 }));
    assert_eq!(s.count(), 3);
    let out = run(&file, "get", &["case=always"]);
    assert_eq!(out.ok(), json!({ "failed": 503 }));
    assert_eq!(s.count(), 6, "3 attempts in all");
}

#[test]
fn post_is_not_retried_unless_listed() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "post", &["case=once"]);
    assert_eq!(out.ok(), json!({ "failed": 503 }));
    assert_eq!(s.count(), 1, "POST is not idempotent");
    let s = retry_server();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "post_retried", &["case=once"]);
    assert_eq!(out.ok(), json!({ "n": 1 }));
    let r = s.requests();
    assert_eq!(r.len(), 2);
    assert!(
        r.iter()
            .all(|x| x.method == "POST" && x.text() == r#"{"case":"once"}"#)
    );
}

#[test]
fn rate_limit_spreads_requests() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "rate", &["n=10"]);
    assert_eq!(out.ok(), json!({ "count": 10 }));
    let r = s.requests();
    assert_eq!(r.len(), 10);
    let first = r.iter().map(|x| x.at).min();
    let last = r.iter().map(|x| x.at).max();
    if let (Some(a), Some(b)) = (first, last) {
        let spread = b.duration_since(a);
        assert!(
            spread >= Duration::from_millis(900) && spread < Duration::from_millis(2500),
            "5 per second: 10 requests over {spread:?}"
        );
    }
    // The first five go at once (the bucket starts full).
    let a = r[0].at;
    let early = r
        .iter()
        .filter(|x| x.at.duration_since(a) < Duration::from_millis(150))
        .count();
    assert_eq!(early, 5, "a burst of `requests`");
}

#[test]
fn concurrency_bounds_requests_in_flight() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "narrow", &["n=8"]);
    assert_eq!(out.ok(), json!({ "count": 8 }));
    assert_eq!(s.count(), 8);
    assert_eq!(s.max_in_flight(), 2);
}

#[test]
fn a_timeout_is_retried() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let out = run(&file, "sleepy", &["case=sleepy"]);
    assert_eq!(out.ok(), json!({ "n": 1 }));
    assert_eq!(s.count(), 2);
    assert!(out.took < Duration::from_millis(1400), "{:?}", out.took);
}

#[test]
fn replay_answers_retries_as_recorded() {
    let s = retry_server();
    let dir = Dir::new();
    let file = dir.program(RETRY, &s.url);
    let f = file.to_string_lossy().into_owned();
    let cassette = dir.file("retries.json").to_string_lossy().into_owned();
    let recorded = rbk(&[
        "run",
        &f,
        "get",
        "--arg",
        "case=twice",
        "--record",
        &cassette,
    ]);
    assert_eq!(recorded.ok(), json!({ "n": 2 }));
    assert_eq!(s.count(), 3);
    s.stop();
    let replayed = rbk(&[
        "run",
        &f,
        "get",
        "--arg",
        "case=twice",
        "--replay",
        &cassette,
    ]);
    assert_eq!(replayed.code, Some(0), "{replayed}");
    assert_eq!(replayed.stdout, recorded.stdout);
}
