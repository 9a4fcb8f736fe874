//! SIGINT, SIGTERM and SIGHUP stop `rbk run`: the in-flight request is
//! dropped, the reports and the cassette of what ran are written (and
//! valid), one line goes to stderr, and the exit code is 128 + the signal.

#![cfg(unix)]

mod run_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use run_support::*;

const PROGRAM: &str = r#"
instance local { url = "@URL@" }

integration api {
  base_url = "{instance.url}"
  timeout = 120s
}

method api.first() {
  GET "/first"
  expect 200
  output { n: int = $.n }
}

method api.second() {
  GET "/second"
  expect 200
  output { n: int = $.n }
}

runbook main() {
  step first = api.first()
  step second = api.second()
  return { n: first.n + second.n }
}
"#;

fn stopped_by(signal: &str, code: i32) {
    // The first step is answered at once; the second hangs.
    let server = Server::start(|r, _| {
        let reply = Reply::json(serde_json::json!({ "n": 1 }));
        if r.path() == "/second" {
            reply.after(Duration::from_secs(120))
        } else {
            reply
        }
    });
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &server.url);
    let (junit, json, cassette) = (dir.file("r.xml"), dir.file("r.json"), dir.file("c.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbk"))
        .arg("run")
        .arg(&file)
        .arg("main")
        .arg("--report")
        .arg(format!("junit={}", junit.display()))
        .arg("--report")
        .arg(format!("json={}", json.display()))
        .arg("--record")
        .arg(&cassette)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rbk starts");
    // The first step is done once the second request has arrived.
    let started = Instant::now();
    while server.count() < 2 {
        if started.elapsed() > Duration::from_secs(30) || child.try_wait().ok().flatten().is_some()
        {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the second request never came ({} requests)\n{}",
                server.count(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal}");
    let waited = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if waited.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("rbk did not stop within 20s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "SIG{signal} exits {code} (status {:?}):\n{stderr}",
        out.status
    );
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("interrupted"))
        .collect();
    assert_eq!(said.len(), 1, "one line says so:\n{stderr}");
    assert!(said[0].contains(&format!("SIG{signal}")), "{stderr}");
    assert!(out.stdout.is_empty(), "no result on stdout");

    // JUnit: well formed, the finished step, the interruption.
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    let tags = xml_tags(&xml);
    let cases: Vec<&String> = tags.iter().filter(|t| t.starts_with("testcase")).collect();
    assert!(
        cases
            .iter()
            .any(|t| t.contains("name=\"first (api.first)\"") && t.ends_with('/')),
        "the finished step passed:\n{xml}"
    );
    assert!(
        !cases.iter().any(|t| t.contains("second")),
        "the unfinished step is no testcase:\n{xml}"
    );
    assert!(
        cases.iter().any(|t| t.contains("name=\"interrupted\"")),
        "{xml}"
    );
    assert!(
        tags.iter()
            .any(|t| t.starts_with("error") && t.contains(&format!("SIG{signal}"))),
        "the run is marked interrupted:\n{xml}"
    );
    assert!(
        tags.iter().any(|t| t.starts_with("error")
            && xml_attr(t, "type").as_deref() == Some("rbk::interrupted")),
        "the interruption has its code:\n{xml}"
    );
    let suite = tags
        .iter()
        .find(|t| t.starts_with("testsuite "))
        .expect("a testsuite");
    assert_eq!(
        xml_attr(suite, "tests"),
        Some(cases.len().to_string()),
        "{xml}"
    );
    assert_eq!(xml_attr(suite, "errors").as_deref(), Some("1"), "{xml}");

    // The JSON report: interrupted, the first step and its exchange.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report is written"))
            .expect("the JSON report is JSON");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["interrupted"], format!("SIG{signal}"), "{report}");
    assert_eq!(report["code"], "rbk::interrupted", "{report}");
    assert_eq!(report["steps"][0]["step"], "first", "{report}");
    assert_eq!(report["steps"][0]["ok"], true, "{report}");
    let ex = &report["exchanges"][0];
    assert!(
        ex["request"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/first")),
        "{report}"
    );
    assert_eq!(ex["response"]["status"], 200, "{report}");

    // The cassette: the first exchange, replayable JSON.
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cassette).expect("the cassette is written"))
            .expect("the cassette is JSON");
    let first = &c["interactions"][0];
    assert!(
        first["request"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/first")),
        "{c}"
    );
    assert_eq!(first["response"]["status"], 200, "{c}");
    assert_eq!(first["response"]["body"], "{\"n\":1}", "{c}");

    // No temporary file is left beside the outputs.
    let mut names: Vec<String> = std::fs::read_dir(&dir.path)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["c.json", "main.rbk", "r.json", "r.xml"]);
}

#[test]
fn sigterm_stops_the_run_exit_143() {
    stopped_by("TERM", 143);
}

#[test]
fn sigint_stops_the_run_exit_130() {
    stopped_by("INT", 130);
}

#[test]
fn sighup_stops_the_run_exit_129() {
    stopped_by("HUP", 129);
}

const BROWSER: &str = r#"
instance local { url = "@URL@" }

integration idp {
  base_url = "{instance.url}"
  auth oauth2 {
    grant = authorization_code_pkce
    auth_url = "{instance.url}/auth"
    token_url = "{instance.url}/token"
    redirect_url = "http://127.0.0.1:@PORT@/callback"
    client_id = "rbk-test"
  }
}

method idp.me() {
  GET "/me"
  output { sub: string = $.sub }
}

runbook main() {
  step me = idp.me()
  return { sub: me.sub }
}
"#;

/// A run waiting for a browser's redirect (blocking work on another
/// thread, for minutes) still stops at once.
#[test]
fn a_signal_stops_a_run_waiting_for_the_browser() {
    use std::io::BufRead;
    let server = Server::start(|_, _| Reply::status(500));
    let port = closed_port();
    let dir = Dir::new();
    let file = dir.program(&BROWSER.replace("@PORT@", &port.to_string()), &server.url);
    let junit = dir.file("r.xml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbk"))
        .arg("run")
        .arg(&file)
        .arg("--no-browser")
        .arg("--report")
        .arg(format!("junit={}", junit.display()))
        .env("NO_COLOR", "1")
        .env("RBK_CACHE_DIR", dir.file("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rbk starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !said
        .iter()
        .any(|l: &String| l.contains("waiting for the redirect"))
    {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => said.push(line),
            Err(_) if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() => {
                let _ = child.kill();
                panic!("rbk never waited for the browser:\n{}", said.join("\n"));
            }
            Err(_) => {}
        }
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let waited = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if waited.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("rbk did not stop within 10s of SIGTERM while waiting for the browser");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = child.wait().expect("status");
    assert_eq!(status.code(), Some(143), "{status:?}");
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        said.iter().any(|l| l.contains("interrupted by SIGTERM")),
        "{}",
        said.join("\n")
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let tags = xml_tags(&xml);
    assert!(
        tags.iter()
            .any(|t| t.starts_with("error") && t.contains("SIGTERM")),
        "{xml}"
    );
}
