//! The command line around a run: --arg typing, --instance, --dry-run,
//! rbk call, --record/--replay, --report junit/json.

mod run_support;

use run_support::*;
use serde_json::json;

const PROGRAM: &str = r#"
instance prod { url = "@PROD@", tier = "gold" }
instance uat { url = "@UAT@", tier = "tin" }

integration api {
  base_url = "{instance.url}/api"
  headers { "X-Tier" = instance.tier }
  auth bearer { token = secret("RBK_T_CLI_TOKEN") }
}

method api.echo(n: int, flag: bool, tags: [string], name: string) {
  POST "/echo/{name}"
  query { tag = tags }
  body json { n: n, flag: flag }
  output {
    who: string = $.who
    n: int = $.n
  }
}

method api.get(id: int) {
  GET "/items/{id}"
  output { name: string = $.name }
}

runbook typed(n: int, flag: bool, tags: [string], name: string = "default", ratio: float = 0.5, note: string? = null) {
  step e = api.echo(n: n, flag: flag, tags: tags, name: name)
  return { n: n, flag: flag, tags: tags, name: name, ratio: ratio, note: note, who: e.who, echoed: e.n }
}

runbook where() {
  step g = api.get(id: 1)
  return { name: g.name, instance: instance.name }
}

runbook several(ids: [int]) {
  for id in ids {
    step g = api.get(id: id)
  }
  step last = api.get(id: 99) else {
    404 => log "no item 99"
  }
  return { names: len(g), first: g[0].name, missing: last.status }
}

runbook failing() {
  step ok = api.get(id: 1)
  step bad = api.get(id: 500)
  return { never: true }
}

runbook chained() {
  step g = api.get(id: 1)
  step e = api.echo(n: 1, flag: true, tags: [g.name], name: g.name)
}

runbook decide(id: int) {
  step g = api.get(id: id)
  if g.name == "item-1" {
    log "branch: one"
  } else {
    log "branch: other"
  }
  return { name: g.name }
}
"#;

const TOKEN: &str = "tok-SECRET-123";

fn server(label: &'static str) -> Server {
    Server::start(move |r, _| {
        let path = r.path().to_string();
        if let Some(id) = path.strip_prefix("/api/items/") {
            return match id {
                "99" => Reply::json(json!({ "error": "no such item" })).code(404),
                "500" => Reply::json(json!({ "error": "boom" })).code(500),
                _ => Reply::json(json!({ "name": format!("item-{id}"), "from": label })),
            };
        }
        if path.starts_with("/api/echo/") {
            let n = r.json()["n"].as_i64().unwrap_or(-1);
            return Reply::json(json!({ "who": label, "n": n }));
        }
        Reply::status(404)
    })
}

struct Setup {
    prod: Server,
    uat: Server,
    dir: Dir,
    file: String,
}

fn setup() -> Setup {
    let prod = server("prod");
    let uat = server("uat");
    let dir = Dir::new();
    let src = PROGRAM
        .replace("@PROD@", &prod.url)
        .replace("@UAT@", &uat.url);
    let file = dir.program(&src, "").to_string_lossy().into_owned();
    Setup {
        prod,
        uat,
        dir,
        file,
    }
}

fn go(s: &Setup, args: &[&str]) -> Out {
    let mut all = vec!["run", s.file.as_str()];
    all.extend_from_slice(args);
    rbk_env(&all, &[("RBK_T_CLI_TOKEN", TOKEN)])
}

#[test]
fn args_are_typed_by_the_parameters() {
    let s = setup();
    let out = go(
        &s,
        &[
            "typed",
            "--arg",
            "n=-12",
            "--arg",
            "flag=true",
            "--arg",
            r#"tags=["a b","c/d"]"#,
            "--arg",
            "ratio=2",
            "--arg",
            "note=hi",
        ],
    );
    assert_eq!(
        out.ok(),
        json!({
            "n": -12, "flag": true, "tags": ["a b", "c/d"], "name": "default",
            "ratio": 2.0, "note": "hi", "who": "prod", "echoed": -12
        })
    );
    let r = &s.prod.requests()[0];
    assert_eq!(r.text(), r#"{"n":-12,"flag":true}"#);
    assert_eq!(r.path(), "/api/echo/default");
    assert_eq!(r.raw_query(), "tag=a%20b&tag=c%2Fd");
    assert_eq!(r.header("authorization"), Some("Bearer tok-SECRET-123"));
    assert_eq!(r.header("x-tier"), Some("gold"));
}

#[test]
fn bad_args_are_usage_errors() {
    let s = setup();
    let base = ["typed", "--arg", "flag=false", "--arg", "tags=[]"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        go(&s, &a)
    };
    let out = with(&["--arg", "n=twelve"]);
    let err = out.usage();
    assert!(
        err.contains("`twelve` is not an int") && err.contains("`n` is int"),
        "{out}"
    );
    let out = go(
        &s,
        &[
            "typed", "--arg", "n=1", "--arg", "flag=yes", "--arg", "tags=[]",
        ],
    );
    assert!(
        out.usage().contains("`yes` is not `true` or `false`"),
        "{out}"
    );
    let out = go(
        &s,
        &[
            "typed",
            "--arg",
            "n=1",
            "--arg",
            "flag=true",
            "--arg",
            "tags=a,b",
        ],
    );
    assert!(out.usage().contains("not a JSON list"), "{out}");
    let out = go(&s, &["typed", "--arg", "flag=true"]);
    let err = out.usage();
    assert!(
        err.contains("--arg n=<int>") && err.contains("--arg tags=<[string]>"),
        "{out}"
    );
    let out = with(&["--arg", "n=1", "--arg", "nmae=x"]);
    assert!(out.usage().contains("did you mean `name`?"), "{out}");
    let out = with(&["--arg", "n=1", "--arg", "n=2"]);
    assert!(out.usage().contains("given twice"), "{out}");
    let out = with(&["--arg", "n"]);
    assert!(out.usage().contains("--arg name=value"), "{out}");
    let out = go(&s, &["tpyed"]);
    assert!(out.usage().contains("did you mean `typed`?"), "{out}");
    assert_eq!(s.prod.count() + s.uat.count(), 0, "nothing was sent");
}

#[test]
fn instance_switches_the_url() {
    let s = setup();
    let out = go(&s, &["where"]);
    assert_eq!(out.ok(), json!({ "name": "item-1", "instance": "prod" }));
    let out = go(&s, &["where", "--instance", "uat"]);
    assert_eq!(out.ok(), json!({ "name": "item-1", "instance": "uat" }));
    assert_eq!(s.prod.count(), 1);
    assert_eq!(s.uat.count(), 1);
    assert_eq!(s.uat.requests()[0].header("x-tier"), Some("tin"));
    let out = go(&s, &["where", "--instance", "staging"]);
    let err = out.usage();
    assert!(
        err.contains("staging") && err.contains("prod, uat"),
        "{out}"
    );
    assert_eq!(s.prod.count() + s.uat.count(), 2);
}

#[test]
fn dry_run_sends_nothing_and_shows_the_request() {
    let s = setup();
    let out = go(
        &s,
        &[
            "typed",
            "--dry-run",
            "--arg",
            "n=5",
            "--arg",
            "flag=false",
            "--arg",
            r#"tags=["x y"]"#,
            "--arg",
            "name=a/b",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(s.prod.count() + s.uat.count(), 0, "a dry run sends nothing");
    let url = format!("POST {}/api/echo/a%2Fb?tag=x%20y", s.prod.url);
    assert!(out.stderr.contains(&url), "{out}");
    assert!(out.stderr.contains(r#"{"n":5,"flag":false}"#), "{out}");
    assert!(out.stderr.contains("X-Tier: gold"), "{out}");
    assert!(
        out.stderr.to_lowercase().contains("authorization: •••"),
        "{out}"
    );
    assert!(
        !out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN),
        "{out}"
    );
    // Values from steps a dry run did not send show as `…`.
    let out = go(&s, &["chained", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{out}");
    let url = format!("POST {}/api/echo/…?tag=…", s.prod.url);
    assert!(out.stderr.contains(&url), "{out}");
    // A condition on a response shows both branches.
    let out = go(&s, &["decide", "--dry-run", "--arg", "id=1"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("branch: one") && out.stderr.contains("branch: other"),
        "{out}"
    );
    assert_eq!(s.prod.count(), 0);
}

#[test]
fn call_runs_one_method() {
    let s = setup();
    let out = rbk_env(
        &[
            "call",
            &s.file,
            "api.echo",
            "--arg",
            "n=3",
            "--arg",
            "flag=true",
            "--arg",
            "tags=[]",
            "--arg",
            "name=z",
            "--instance",
            "uat",
        ],
        &[("RBK_T_CLI_TOKEN", TOKEN)],
    );
    assert_eq!(out.ok(), json!({ "status": 200, "who": "uat", "n": 3 }));
    assert_eq!(s.uat.count(), 1);
    let out = rbk_env(&["call", &s.file, "api.ech"], &[("RBK_T_CLI_TOKEN", TOKEN)]);
    assert!(out.usage().contains("did you mean `api.echo`?"), "{out}");
    let out = rbk_env(
        &["call", &s.file, "api.get", "--arg", "id=99"],
        &[("RBK_T_CLI_TOKEN", TOKEN)],
    );
    let err = out.failed();
    assert!(
        err.contains("404") && err.contains("/api/items/99"),
        "{out}"
    );
}

#[test]
fn record_then_replay_without_the_server() {
    let Setup {
        prod,
        uat,
        dir,
        file,
    } = setup();
    let cassette = dir.file("c.json").to_string_lossy().into_owned();
    let args = ["several", "--arg", "ids=[1,2,3]"];
    let mut rec: Vec<&str> = vec!["run", &file];
    rec.extend_from_slice(&args);
    rec.extend_from_slice(&["--record", &cassette]);
    let recorded = rbk_env(&rec, &[("RBK_T_CLI_TOKEN", TOKEN)]);
    let v = recorded.ok();
    assert_eq!(v, json!({ "names": 3, "first": "item-1", "missing": 404 }));
    assert_eq!(prod.count(), 4);
    let text = std::fs::read_to_string(&cassette).expect("cassette written");
    assert!(!text.contains(TOKEN), "the token is masked in the cassette");
    let c: serde_json::Value = serde_json::from_str(&text).expect("cassette is JSON");
    assert_eq!(c["interactions"].as_array().map(Vec::len), Some(4));
    prod.stop();
    uat.stop();

    let mut rep: Vec<&str> = vec!["run", &file];
    rep.extend_from_slice(&args);
    rep.extend_from_slice(&["--replay", &cassette]);
    let replayed = rbk_env(&rep, &[("RBK_T_CLI_TOKEN", TOKEN)]);
    assert_eq!(replayed.code, Some(0), "{replayed}");
    assert_eq!(replayed.stdout, recorded.stdout);
    assert!(replayed.stderr.contains("no item 99"), "{replayed}");

    // A request the cassette never saw fails loudly, naming it.
    let other = rbk_env(
        &[
            "run",
            &file,
            "several",
            "--arg",
            "ids=[1,7]",
            "--replay",
            &cassette,
        ],
        &[("RBK_T_CLI_TOKEN", TOKEN)],
    );
    let err = other.failed();
    assert!(
        err.contains("no recorded answer for GET") && err.contains("/api/items/7"),
        "{other}"
    );
}

/// A minimal well-formedness check: tags nest and close, attributes quoted.
fn assert_well_formed(xml: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let j = rest[i..].find('>').expect("tag closes") + i;
        let tag = &rest[i + 1..j];
        rest = &rest[j + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "{xml}");
            continue;
        }
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        assert_eq!(tag.matches('"').count() % 2, 0, "quotes balance in <{tag}>");
        seen.push(tag.to_string());
        if !tag.ends_with('/') {
            stack.push(name.to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?} in {xml}");
    seen
}

#[test]
fn junit_and_json_reports() {
    let s = setup();
    let junit = s.dir.file("r.xml").to_string_lossy().into_owned();
    let jsonp = s.dir.file("r.json").to_string_lossy().into_owned();
    let out = go(
        &s,
        &[
            "failing",
            "--report",
            &format!("junit={junit}"),
            "--report",
            &format!("json={jsonp}"),
        ],
    );
    let err = out.failed();
    assert!(err.contains("step `bad`") && err.contains("500"), "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let tags = assert_well_formed(&xml);
    let cases: Vec<&String> = tags.iter().filter(|t| t.starts_with("testcase")).collect();
    assert_eq!(cases.len(), 2, "one testcase per step:\n{xml}");
    assert!(
        cases[0].contains("name=\"ok (api.get)\"") && cases[0].ends_with('/'),
        "{xml}"
    );
    assert!(cases[1].contains("name=\"bad (api.get)\""), "{xml}");
    let failures: Vec<&String> = tags.iter().filter(|t| t.starts_with("failure")).collect();
    assert_eq!(failures.len(), 1, "{xml}");
    assert!(failures[0].contains("status 500"), "{xml}");
    assert!(
        tags[0].contains("tests=\"2\"") && tags[0].contains("failures=\"1\""),
        "{xml}"
    );
    assert!(!xml.contains(TOKEN));

    let text = std::fs::read_to_string(&jsonp).expect("json report written");
    assert!(!text.contains(TOKEN), "masked");
    let j: serde_json::Value = serde_json::from_str(&text).expect("report is JSON");
    assert_eq!(j["runbook"], "failing");
    assert_eq!(j["ok"], false);
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("step `bad`"),
        "{j}"
    );
    let ex = j["exchanges"].as_array().cloned().unwrap_or_default();
    assert_eq!(ex.len(), 2, "{j}");
    assert_eq!(ex[0]["request"]["method"], "GET");
    assert_eq!(
        ex[0]["request"]["url"],
        format!("{}/api/items/1", s.prod.url)
    );
    assert_eq!(ex[0]["response"]["status"], 200);
    assert_eq!(ex[1]["response"]["status"], 500);
    assert_eq!(ex[1]["step"], "bad");
    for e in &ex {
        assert!(e["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
        assert!(e["started"].as_f64().is_some_and(|t| t > 1.6e9), "{e}");
    }
    let steps = j["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["ok"], false);

    // A successful run: the result is in the JSON report.
    let out = go(&s, &["where", "--report", &format!("json={jsonp}")]);
    out.ok();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jsonp).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(j["ok"], true);
    assert_eq!(j["result"], json!({ "name": "item-1", "instance": "prod" }));
}

/// Progress is quiet when stderr is not a terminal: failed steps, logs and
/// notes only; `-v` brings back a line per step.
#[test]
fn progress_is_quiet_off_a_terminal() {
    let s = setup();
    let out = go(&s, &["several", "--arg", "ids=[1,2]"]);
    out.ok();
    assert!(!out.stderr.contains('✓'), "{out}");
    assert!(out.stderr.contains("✗ last api.get 404"), "{out}");
    assert!(out.stderr.contains("log: no item 99"), "{out}");
    let out = go(&s, &["several", "--arg", "ids=[1,2]", "-v"]);
    out.ok();
    assert_eq!(out.stderr.matches("✓ g api.get 200").count(), 2, "{out}");
}

#[test]
fn dry_runs_and_replays_use_placeholders_for_missing_secrets() {
    let s = setup();
    let p = s.file.clone();
    // No RBK_T_CLI_TOKEN in the environment.
    let dry = rbk(&["run", &p, "where", "--dry-run"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    assert_eq!(
        dry.stderr.matches("secret `RBK_T_CLI_TOKEN`").count(),
        1,
        "said once:\n{dry}"
    );
    assert!(dry.stderr.contains("Authorization: •••"), "{dry}");
    assert!(!dry.stderr.contains("placeholder-for"), "masked:\n{dry}");
    // A real run still stops at the missing secret.
    let real = rbk(&["run", &p, "where"]);
    assert_eq!(real.code, Some(1), "{real}");
    assert!(real.stderr.contains("is not set"), "{real}");
}

#[test]
fn the_env_file_does_not_override_the_environment() {
    let dir = Dir::new();
    let server =
        Server::start(|req, _| Reply::json(json!({ "seen": req.header("x-who").unwrap_or("-") })));
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.get() {
  GET "/"
  headers { "X-Who" = env("RBK_T_WHO") }
  output { seen: string = $.seen }
}
runbook main() {
  step s = api.get()
  return { seen: s.seen }
}
"#,
        &server.url,
    );
    let env_file = dir.write(".env", b"RBK_T_WHO=from-file\nRBK_T_OTHER=x\n");
    let p = program.to_string_lossy().to_string();
    let e = env_file.to_string_lossy().to_string();
    let from_file = rbk(&["run", &p, "--env-file", &e]);
    assert_eq!(from_file.ok()["seen"], "from-file");
    let from_env = rbk_env(&["run", &p, "--env-file", &e], &[("RBK_T_WHO", "from-env")]);
    assert_eq!(from_env.ok()["seen"], "from-env");
}

#[test]
fn a_missing_program_is_one_usage_error_for_every_command() {
    let dir = Dir::new();
    let missing = dir.file("nope.rbk").to_string_lossy().to_string();
    for args in [
        vec!["check", &missing],
        vec!["fmt", "--check", &missing],
        vec!["run", &missing],
        vec!["call", &missing, "a.b"],
        vec!["graph", &missing],
        vec!["repl", &missing],
    ] {
        let o = rbk(&args);
        assert_eq!(o.code, Some(2), "{args:?}:\n{o}");
        // `check` reports on stdout, like every check result.
        let all = o.stdout.clone() + &o.stderr;
        assert_eq!(all.matches("does not exist").count(), 1, "{args:?}:\n{o}");
        assert!(!o.stderr.contains("has errors"), "{args:?}:\n{o}");
    }
}

#[test]
fn graph_picks_the_only_runbook() {
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "http://127.0.0.1:1" }
method api.get() { GET "/" }
runbook only() { step s = api.get() }
"#,
        "",
    );
    let p = program.to_string_lossy().to_string();
    let o = rbk(&["graph", &p]);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(o.stdout.contains("flowchart"), "{o}");
    let two = dir.write(
        "two.rbk",
        br#"
integration api { base_url = "http://127.0.0.1:1" }
method api.get() { GET "/" }
runbook a() { step s = api.get() }
runbook b() { step s = api.get() }
"#,
    );
    let o = rbk(&["graph", &two.to_string_lossy()]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("name one: a, b"), "{o}");
}

#[test]
fn junit_names_are_unique_and_name_sub_runbooks() {
    let server = Server::start(|_, _| Reply::json(json!({ "id": 1 })));
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration desk { base_url = "@URL@" }
method desk.create_ticket(n: int) { POST "/tickets" body json { n: n } }
runbook child() { step s = desk.create_ticket(n: 0) }
runbook main() {
  for n in [1, 2, 3] {
    step t = desk.create_ticket(n: n)
  }
  step c = run child()
}
"#,
        &server.url,
    );
    let junit = dir.file("r.xml");
    let o = rbk(&[
        "run",
        &program.to_string_lossy(),
        "--report",
        &format!("junit={}", junit.display()),
    ]);
    assert_eq!(o.code, Some(0), "{o}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let names: Vec<&str> = xml
        .split("<testcase ")
        .skip(1)
        .filter_map(|t| t.split(" name=\"").nth(1))
        .filter_map(|t| t.split(" (").next())
        .collect();
    assert_eq!(
        names,
        ["t[1]", "t[2]", "t[3]", "child &gt; s", "c"],
        "{xml}"
    );
}

#[test]
fn dry_run_json_bodies_mark_values_not_known_yet() {
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration desk { base_url = "http://127.0.0.1:1" }
method desk.get() {
  GET "/t"
  output { id: int = $.id, tags: [string] = $.tags }
}
method desk.link(id: int, tags: [string], note: string?) {
  POST "/links"
  body json { id: id, tags: tags, note: note, label: "ticket {id}" }
}
runbook main() {
  step t = desk.get()
  step l = desk.link(id: t.id, tags: t.tags, note: null)
}
"#,
        "",
    );
    let o = rbk(&["run", &program.to_string_lossy(), "--dry-run"]);
    assert_eq!(o.code, Some(0), "{o}");
    assert!(
        o.stderr
            .contains(r#"{"id":…,"tags":…,"note":null,"label":"ticket …"}"#),
        "{o}"
    );
}

#[test]
fn a_malformed_env_file_names_the_line_not_its_text() {
    let dir = Dir::new();
    let program = dir.program(
        "integration api { base_url = \"http://127.0.0.1:1\" }\nmethod api.get() { GET \"/\" }\nrunbook main() { step s = api.get() }\n",
        "",
    );
    let env_file = dir.write(
        ".env",
        b"# comment\nexport RBK_T_A=\"quoted value\"\nRBK_T_B='single'\nthis line is not-5ecret-kv\n",
    );
    let o = rbk(&[
        "run",
        &program.to_string_lossy(),
        "--env-file",
        &env_file.to_string_lossy(),
        "--dry-run",
    ]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains(".env:4"), "{o}");
    assert!(
        !o.stderr.contains("5ecret"),
        "the line's text is not shown:\n{o}"
    );
}
