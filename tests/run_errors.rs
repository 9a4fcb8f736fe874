//! Coded run-time errors: each kind's code (and its resolution) on stderr,
//! in the JSON report (`code`) and in JUnit (`<failure type="...">`),
//! against a real server and the real binary.

mod run_support;

use std::time::Duration;

use run_support::*;

const PROGRAM: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}" }

integration down { base_url = "http://127.0.0.1:@CLOSED@" }

method api.ok() { GET "/ok" }

method api.status() { GET "/status" }

method api.slow() {
  GET "/slow"
  timeout = 200ms
}

method api.big() {
  GET "/big"
  max_response = 1MiB
}

method api.missing() {
  GET "/json"
  output { name: string = $.absent }
}

method api.typed() {
  GET "/json"
  output { count: int = $.name }
}

method down.ping() { GET "/ping" }

runbook status() {
  step a = api.ok()
  step s = api.status()
}

runbook timeout() { step t = api.slow() }

runbook refused() { step p = down.ping() }

runbook missing() { step m = api.missing() }

runbook typed() { step t = api.typed() }

runbook big() { step b = api.big() }

runbook failing() {
  step a = api.ok()
  fail "the ticket is closed"
}

runbook unset() {
  let token = secret("RBK_T_ERR_UNSET_SECRET")
  step a = api.ok()
}

runbook endless() {
  var n = 0
  for i in range(1, 1000) {
    n += 1
  }
  return { n: n }
}

runbook handled() {
  step s = api.status() else {
    _ => log "handled"
  }
  return { ok: s.ok }
}
"#;

fn server() -> Server {
    Server::start(|r, _| match r.path() {
        "/ok" => Reply::json(serde_json::json!({ "ok": true })),
        "/status" => Reply::text("down for maintenance").code(503),
        "/slow" => Reply::text("late").after(Duration::from_millis(1500)),
        "/big" => Reply::text(&"x".repeat(2 * 1024 * 1024)),
        "/json" => Reply::json(serde_json::json!({ "name": "ann" })),
        _ => Reply::status(404),
    })
}

/// What one failed run left: its stderr, the JSON report and the JUnit XML.
struct Failed {
    out: Out,
    json: serde_json::Value,
    junit: String,
}

fn run_failing(runbook: &str, extra: &[&str]) -> Failed {
    let s = server();
    let dir = Dir::new();
    let program = PROGRAM
        .replace("@CLOSED@", &closed_port().to_string())
        .replace("@URL@", &s.url);
    let file = dir.write("main.rbk", program.as_bytes());
    let f = file.to_string_lossy().into_owned();
    let jp = dir.file("report.json").to_string_lossy().into_owned();
    let xp = dir.file("report.xml").to_string_lossy().into_owned();
    let json_arg = format!("json={jp}");
    let junit_arg = format!("junit={xp}");
    let mut args = vec![
        "run", &f, runbook, "--report", &json_arg, "--report", &junit_arg,
    ];
    args.extend_from_slice(extra);
    let out = rbk(&args);
    assert_eq!(out.code, Some(1), "expected exit 1:\n{out}");
    let text = std::fs::read_to_string(&jp).expect("the JSON report is written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    let junit = std::fs::read_to_string(&xp).expect("the JUnit report is written");
    Failed { out, json, junit }
}

/// Asserts `code` on stderr (with a help line), as the run's code in the
/// JSON report, and as the type of a JUnit failure.
fn assert_code(f: &Failed, code: &str) {
    let err = &f.out.stderr;
    assert!(err.contains(code), "{code} on stderr:\n{}", f.out);
    assert!(
        !err.contains("rbk::run_failed"),
        "no general code:\n{}",
        f.out
    );
    assert!(err.contains("help:"), "a resolution on stderr:\n{}", f.out);
    assert_eq!(f.json["ok"], false, "{}", f.json);
    assert_eq!(f.json["code"], code, "the run's code:\n{}", f.json);
    let tags = xml_tags(&f.junit);
    let failures: Vec<&String> = tags.iter().filter(|t| t.starts_with("failure")).collect();
    assert!(!failures.is_empty(), "a <failure>:\n{}", f.junit);
    assert!(
        failures
            .iter()
            .any(|t| xml_attr(t, "type").as_deref() == Some(code)),
        "<failure type=\"{code}\">:\n{}",
        f.junit
    );
}

/// The failed step's code in the JSON report.
fn step_code(f: &Failed, step: &str) -> serde_json::Value {
    let steps = f.json["steps"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .find(|s| s["step"] == step)
        .map(|s| s["code"].clone())
        .unwrap_or_else(|| panic!("no step {step} in {}", f.json))
}

#[test]
fn a_status_outside_expect_is_http_status() {
    let f = run_failing("status", &[]);
    assert_code(&f, "rbk::http::status");
    assert_eq!(step_code(&f, "s"), "rbk::http::status", "{}", f.json);
    // The step that succeeded has no code.
    assert_eq!(step_code(&f, "a"), serde_json::Value::Null, "{}", f.json);
    assert!(f.out.stderr.contains("503"), "{}", f.out);
    assert!(
        f.out.stderr.contains("expect"),
        "the help names expect:\n{}",
        f.out
    );
}

#[test]
fn a_timeout_is_http_timeout() {
    let f = run_failing("timeout", &[]);
    assert_code(&f, "rbk::http::timeout");
    assert_eq!(step_code(&f, "t"), "rbk::http::timeout", "{}", f.json);
    assert!(f.out.took < Duration::from_millis(1400), "{:?}", f.out.took);
}

#[test]
fn a_refused_connection_is_http_connect() {
    let f = run_failing("refused", &[]);
    assert_code(&f, "rbk::http::connect");
    assert_eq!(step_code(&f, "p"), "rbk::http::connect", "{}", f.json);
}

#[test]
fn an_absent_output_is_output_missing() {
    let f = run_failing("missing", &[]);
    assert_code(&f, "rbk::output::missing");
    assert_eq!(step_code(&f, "m"), "rbk::output::missing", "{}", f.json);
}

#[test]
fn an_output_of_the_wrong_type_is_output_type() {
    let f = run_failing("typed", &[]);
    assert_code(&f, "rbk::output::type");
    assert_eq!(step_code(&f, "t"), "rbk::output::type", "{}", f.json);
}

#[test]
fn a_body_over_max_response_is_limit_response_size() {
    let f = run_failing("big", &[]);
    assert_code(&f, "rbk::limit::response_size");
    assert_eq!(
        step_code(&f, "b"),
        "rbk::limit::response_size",
        "{}",
        f.json
    );
}

#[test]
fn a_fail_statement_is_runbook_fail() {
    let f = run_failing("failing", &[]);
    assert_code(&f, "rbk::runbook::fail");
    assert!(f.out.stderr.contains("the ticket is closed"), "{}", f.out);
    // The failure no step accounts for is its own testcase.
    assert!(f.junit.contains("name=\"runbook\""), "{}", f.junit);
}

#[test]
fn an_unset_secret_is_secret_unset() {
    let f = run_failing("unset", &[]);
    assert_code(&f, "rbk::secret::unset");
    assert!(
        f.out.stderr.contains("RBK_T_ERR_UNSET_SECRET"),
        "the message names the variable:\n{}",
        f.out
    );
}

#[test]
fn too_many_statements_is_limit_max_steps() {
    let f = run_failing("endless", &["--max-steps", "20"]);
    assert_code(&f, "rbk::limit::max_steps");
}

#[test]
fn a_handled_failure_keeps_its_code_in_the_report() {
    let s = server();
    let dir = Dir::new();
    let program = PROGRAM
        .replace("@CLOSED@", &closed_port().to_string())
        .replace("@URL@", &s.url);
    let file = dir.write("main.rbk", program.as_bytes());
    let f = file.to_string_lossy().into_owned();
    let jp = dir.file("report.json").to_string_lossy().into_owned();
    let out = rbk(&["run", &f, "handled", "--report", &format!("json={jp}")]);
    assert_eq!(out.code, Some(0), "{out}");
    let text = std::fs::read_to_string(&jp).expect("the JSON report is written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["code"], serde_json::Value::Null, "{json}");
    assert_eq!(json["steps"][0]["code"], "rbk::http::status", "{json}");
}

const MORE: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}" }

integration idp {
  base_url = "{instance.url}"
  auth oauth2 {
    grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk"
    client_secret = secret("RBK_T_ERR_CLIENT_SECRET")
  }
}

method api.item(id: string) { GET "/items/{id}" }

method api.loop() { GET "/loop" }

method api.echo(token: string) {
  GET "/status"
  headers { "x-token" = token }
}

method idp.me() { GET "/me" }

runbook segment() { step i = api.item(id: "..") }

runbook redirects() { step l = api.loop() }

runbook token() { step m = idp.me() }

runbook leak() {
  step e = api.echo(token: secret("RBK_T_ERR_SECRET"))
}
"#;

fn more_server() -> Server {
    Server::start(|r, _| match r.path() {
        "/loop" => Reply::status(302).header("location", "/loop"),
        "/token" => Reply::json(serde_json::json!({ "error": "invalid_client" })).code(401),
        // Echoes the token header back in the body of a 503.
        "/status" => {
            Reply::text(&format!("bad token {}", r.header("x-token").unwrap_or(""))).code(503)
        }
        _ => Reply::json(serde_json::json!({ "ok": true })),
    })
}

fn run_more(args_after_file: &[&str], env: &[(&str, &str)]) -> (Out, serde_json::Value) {
    let s = more_server();
    let dir = Dir::new();
    let file = dir.program(MORE, &s.url);
    let f = file.to_string_lossy().into_owned();
    let jp = dir.file("report.json").to_string_lossy().into_owned();
    let json_arg = format!("json={jp}");
    let mut args: Vec<&str> = Vec::new();
    let (cmd, rest) = args_after_file.split_first().expect("a command");
    args.push(cmd);
    args.push(&f);
    args.extend_from_slice(rest);
    args.extend(["--report", &json_arg]);
    let out = rbk_env(&args, env);
    let text = std::fs::read_to_string(&jp)
        .unwrap_or_else(|e| panic!("the JSON report is written ({e}):\n{out}"));
    let json = serde_json::from_str(&text).expect("the report is JSON");
    (out, json)
}

#[test]
fn a_dot_segment_from_a_value_is_path_segment() {
    let (out, json) = run_more(&["run", "segment"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::path::segment"), "{out}");
    assert_eq!(json["code"], "rbk::path::segment", "{json}");
}

#[test]
fn endless_redirects_are_http_redirect() {
    let (out, json) = run_more(&["run", "redirects"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::http::redirect"), "{out}");
    assert_eq!(json["code"], "rbk::http::redirect", "{json}");
    assert_eq!(json["steps"][0]["code"], "rbk::http::redirect", "{json}");
}

#[test]
fn a_refused_token_request_is_auth_token() {
    let (out, json) = run_more(
        &["run", "token"],
        &[("RBK_T_ERR_CLIENT_SECRET", "client-secret-value-1234")],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::auth::token"), "{out}");
    assert_eq!(json["code"], "rbk::auth::token", "{json}");
    assert!(!out.stderr.contains("client-secret-value-1234"), "{out}");
}

#[test]
fn rbk_call_shows_the_code_too() {
    let (out, json) = run_more(&["call", "api.loop"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::http::redirect"), "{out}");
    assert_eq!(json["code"], "rbk::http::redirect", "{json}");
}

#[test]
fn a_secret_stays_masked_in_a_coded_error() {
    let secret = "very-secret-token-5678";
    let (out, json) = run_more(&["run", "leak"], &[("RBK_T_ERR_SECRET", secret)]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::http::status"), "{out}");
    assert!(
        out.stderr.contains("bad token"),
        "the body is shown:\n{out}"
    );
    assert!(!out.stderr.contains(secret), "{out}");
    assert!(!json.to_string().contains(secret), "{json}");
    assert_eq!(json["steps"][0]["code"], "rbk::http::status", "{json}");
}

#[test]
fn https_to_a_server_without_tls_is_http_tls() {
    let s = more_server();
    let dir = Dir::new();
    let url = s.url.replace("http://", "https://");
    let file = dir.program(MORE, &url);
    let f = file.to_string_lossy().into_owned();
    let out = rbk(&["run", &f, "redirects"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::http::tls"), "{out}");
    assert!(!out.stderr.contains("rbk::http::connect"), "{out}");
}

#[test]
fn an_expression_that_cannot_be_evaluated_is_eval() {
    let dir = Dir::new();
    let file = dir.program(
        "runbook main(items: json) {\n  for i in items {\n    log \"x\"\n  }\n}\n",
        "",
    );
    let f = file.to_string_lossy().into_owned();
    let jp = dir.file("report.json").to_string_lossy().into_owned();
    let out = rbk(&[
        "run",
        &f,
        "--arg",
        "items=abc",
        "--report",
        &format!("json={jp}"),
    ]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("rbk::eval"), "{out}");
    let text = std::fs::read_to_string(&jp).expect("the JSON report is written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(json["code"], "rbk::eval", "{json}");
}
