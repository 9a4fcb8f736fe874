//! The web page of `rbk serve` in a real browser: headless Chromium
//! driven through WebDriver (chromedriver, by fantoccini). The runs table
//! lists runs (and a new one appears live), a run page shows the SVG flow
//! chart with each step's state, and the Cancel button cancels a run. A
//! screenshot is kept in `target/artifacts/`.
//!
//! Needs `chromium` and `chromedriver` (Debian's chromium-driver; `.ci/run`
//! installs both): ignored by default, run with `--include-ignored`.

mod serve_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use serve_support::*;

const PROGRAM: &str = r#"
integration api { base_url = env("API_URL") }
method api.get_item(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}
method api.bad_item(id: int) {
  GET "/items/{id}"
  output { n: int = $.name }
}
method api.block(id: int) {
  GET "/block/{id}"
}

runbook check_item(n: int) {
  step first = api.get_item(id: n)
  if n > 100 {
    step second = api.bad_item(id: n)
  }
  step third = api.get_item(id: n)
}

runbook waiter(n: int) {
  step held = api.block(id: n)
  step after = api.get_item(id: n)
}
"#;

struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new(std::env::var("RBK_CHROMEDRIVER").unwrap_or("chromedriver".into()))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver) is needed for this test");
    let until = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child, port)
}

#[test]
#[ignore = "needs chromium and chromedriver (installed by .ci/run)"]
fn page_lists_runs_draws_the_chart_and_cancels_in_a_browser() {
    let mock = Mock::start();
    let mut serve = Serve::new(
        PROGRAM,
        &[("API_URL", &mock.url), ("RBK_UI_TOKEN", "page-token-1")],
    );
    serve.extra = vec!["--api-token-env".into(), "RBK_UI_TOKEN".into()];
    serve.start();
    let http = Http::new();
    let start = |rb: &str, n: i64| {
        let a = http.send(
            http.client
                .post(serve.url(&format!("/api/runbooks/{rb}/runs")))
                .bearer_auth("page-token-1")
                .header("content-type", "application/json")
                .body(json!({"n": n}).to_string()),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        a.json()["run"].as_i64().unwrap()
    };
    let wait = |id: i64, states: &[&str]| {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let j = http
                .send(
                    http.client
                        .get(serve.url(&format!("/api/runs/{id}")))
                        .bearer_auth("page-token-1"),
                )
                .json();
            if states.contains(&j["state"].as_str().unwrap()) {
                return j;
            }
            assert!(Instant::now() < until, "{j}");
            std::thread::sleep(Duration::from_millis(25));
        }
    };
    let good = start("check_item", 1);
    let bad = start("check_item", 500);
    wait(good, &["succeeded"]);
    wait(bad, &["failed"]);
    mock.block(true);
    let held = start("waiter", 2);
    mock.wait_for("GET", "/block/2", 1);

    let driver = chromedriver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = serve.url("");
    let shot = rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("RBK_CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"]
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.1))
            .await
            .expect("a WebDriver session");
        // The page asks for the token first.
        c.goto(&format!("{base}/")).await.unwrap();
        let field = c.wait().for_element(Locator::Css("input[name=token]")).await.unwrap();
        field.send_keys("page-token-1").await.unwrap();
        c.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#runs tbody tr.run")).await.unwrap();
        let rows = c.find_all(Locator::Css("#runs tbody tr.run")).await.unwrap();
        assert_eq!(rows.len(), 3);
        let states: Vec<String> = {
            let mut s = Vec::new();
            for r in &rows {
                s.push(r.attr("data-state").await.unwrap().unwrap());
            }
            s
        };
        assert_eq!(states, ["running", "failed", "succeeded"]);
        // A new run appears without reloading by hand.
        let fresh = tokio::task::block_in_place(|| start("check_item", 3));
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let rows = c.find_all(Locator::Css("#runs tbody tr.run")).await.unwrap();
            if rows.len() == 4 {
                assert_eq!(rows[0].attr("data-id").await.unwrap().unwrap(), fresh.to_string());
                break;
            }
            assert!(Instant::now() < until, "the new run did not appear live");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The failed run's chart: each step node coloured by its state.
        c.goto(&format!("{base}/runs/{bad}")).await.unwrap();
        c.wait().for_element(Locator::Css("svg#chart")).await.unwrap();
        let state_of = |step: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Css(&format!("svg#chart g[data-step={step}]")))
                    .await
                    .unwrap()
                    .attr("data-state")
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        assert_eq!(state_of("first").await, "succeeded");
        assert_eq!(state_of("second").await, "failed");
        assert_eq!(state_of("third").await, "pending");
        let text = c.find(Locator::Css("#timeline")).await.unwrap().text().await.unwrap();
        assert!(text.contains("GET"), "{text}");
        // The held run: Cancel, and the page shows it cancelled.
        c.goto(&format!("{base}/runs/{held}")).await.unwrap();
        assert_eq!(state_of("held").await, "running");
        let shot = c.screenshot().await.unwrap();
        c.find(Locator::Css("button#cancel")).await.unwrap().click().await.unwrap();
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let s = c
                .find(Locator::Css("#run-state"))
                .await
                .ok()
                .map(|e| async move { e.text().await.unwrap_or_default() });
            let s = match s {
                Some(f) => f.await,
                None => String::new(),
            };
            if s == "cancelled" {
                break;
            }
            assert!(Instant::now() < until, "the run page never showed cancelled ({s})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c.close().await.unwrap();
        shot
    });
    assert_eq!(wait(held, &["cancelled"])["state"], "cancelled");
    mock.block(false);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        mock.count("GET", "/items/2"),
        0,
        "nothing sent after the cancel"
    );
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("serve-page.png"), &shot).unwrap();
}
