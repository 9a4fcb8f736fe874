//! rbk against small hostile servers on 127.0.0.1: secrets echoed back in
//! every encoding, bodies without end, control characters meant for the
//! terminal or the CI log, redirects to other origins, values that would
//! change a request's path.

mod run_support;

use std::time::Duration;

use run_support::{Dir, Reply, Server, rbk, rbk_env};

/// Diagnostic text without its frame: words joined by single spaces.
fn flat(s: &str) -> String {
    s.replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ------------------------------------------------------------ secrets

/// A random secret: printable ASCII, sometimes with non-ASCII characters.
fn random_secret(rng: &mut fastrand::Rng, ascii_only: bool) -> String {
    const EXTRA: [char; 6] = ['é', 'ß', '日', '€', '😀', 'ü'];
    let len = rng.usize(12..28);
    let mut s: String = (0..len)
        .map(|_| {
            if !ascii_only && rng.u8(0..10) == 0 {
                EXTRA[rng.usize(0..EXTRA.len())]
            } else {
                rng.u8(0x20..0x7f) as char
            }
        })
        .collect();
    // Header values are trimmed by HTTP: keep the ends visible.
    if ascii_only {
        s = format!("h{}h", s.trim());
    }
    s
}

/// The forms a secret may take in an output: every encoding rbk writes
/// (from its own encoders) and the usual re-encodings of servers.
fn forms(secret: &str) -> Vec<String> {
    let mut v: Vec<String> = rbk::runtime::http::wire_encodings(secret)
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    let all = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    v.push(all.clone());
    v.push(lower_hex(&all));
    v.push(
        secret
            .encode_utf16()
            .map(|u| match u {
                0x20..=0x7e if u != 0x22 && u != 0x5c => (u as u8 as char).to_string(),
                _ => format!("\\u{u:04x}"),
            })
            .collect(),
    );
    v.retain(|f| f.chars().count() >= 3);
    v
}

fn lower_hex(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

/// Answers 403 with everything it received: the request target as sent,
/// every header, the raw body, and a JSON copy; the secret header comes
/// back as a response header too.
fn echo_server() -> Server {
    Server::start(|req, _| {
        let mut text = format!("{} {}\n", req.method, req.target);
        for (k, v) in &req.headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push_str(&req.text());
        text.push('\n');
        text.push_str(
            &serde_json::json!({
                "target": req.target,
                "headers": req.headers,
                "body": req.text(),
            })
            .to_string(),
        );
        Reply::text(&text)
            .code(403)
            .header("x-echo", req.header("x-sec").unwrap_or("-"))
    })
}

const ECHO_PROGRAM: &str = r#"
integration api {
  base_url = "@URL@"
  auth api_key { name = "api_key", value = secret("RBK_S_KEY"), in = query }
}

method api.everywhere(p: secret, q: secret, h: secret, b: secret) {
  POST "/fail/{p}"
  query { q = q }
  headers { "X-Sec" = h }
  body json { "v": b, "w": "in {b} text" }
}

method api.form(b: secret) {
  POST "/fail/form"
  body form { v = b }
}

method api.multi(b: secret) {
  POST "/fail/multi"
  body multipart { v = b }
}

runbook main() {
  step a = api.everywhere(p: secret("RBK_S_PATH"), q: secret("RBK_S_QUERY"), h: secret("RBK_S_HEADER"), b: secret("RBK_S_BODY")) else {
    _ => log "everywhere failed: {a.error}"
  }
  step f = api.form(b: secret("RBK_S_BODY")) else {
    _ => log "form failed: {f.error}"
  }
  step m = api.multi(b: secret("RBK_S_BODY")) else {
    _ => log "multipart failed: {m.error}"
  }
  step last = api.everywhere(p: secret("RBK_S_PATH"), q: secret("RBK_S_QUERY"), h: secret("RBK_S_HEADER"), b: secret("RBK_S_BODY"))
}
"#;

const REPL_SCRIPT: &str = r#":verbose on
step a = api.everywhere(p: secret("RBK_S_PATH"), q: secret("RBK_S_QUERY"), h: secret("RBK_S_HEADER"), b: secret("RBK_S_BODY"))
a.error
a.body
a.headers
step f = api.form(b: secret("RBK_S_BODY"))
step m = api.multi(b: secret("RBK_S_BODY"))
:vars
"#;

/// The REPL on `program`, fed `script` through a pipe: stdout and stderr.
fn repl(program: &str, env: &[(&str, &str)], script: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(["repl", program])
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the REPL starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).expect("script written");
    }
    let out = child.wait_with_output().expect("the REPL ends");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// One case: random secrets in a path segment, a query value, an `api_key`
/// query, a header, JSON, form and multipart bodies, all echoed back by a
/// failing server; none may appear in any form in stdout, stderr (`-vv`),
/// the default error, the JSON and JUnit reports, the cassette or a dry run.
fn echo_case(server: &Server, dir: &Dir, rng: &mut fastrand::Rng) {
    let secrets = [
        ("RBK_S_KEY", random_secret(rng, false)),
        ("RBK_S_PATH", random_secret(rng, false)),
        ("RBK_S_QUERY", random_secret(rng, false)),
        ("RBK_S_HEADER", random_secret(rng, true)),
        ("RBK_S_BODY", random_secret(rng, false)),
    ];
    let env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let program = dir.program(ECHO_PROGRAM, &server.url);
    let p = program.to_string_lossy().to_string();
    let json = dir.file("report.json");
    let junit = dir.file("report.xml");
    let cassette = dir.file("cassette.json");
    let before = server.count();
    let run = rbk_env(
        &[
            "run",
            &p,
            "-vv",
            "--report",
            &format!("json={}", json.display()),
            "--report",
            &format!("junit={}", junit.display()),
            "--record",
            &cassette.to_string_lossy(),
        ],
        &env,
    );
    assert_eq!(run.code, Some(1), "the last step fails the run:\n{run}");
    assert_eq!(server.count() - before, 4, "four requests sent:\n{run}");
    let dry = rbk_env(&["run", &p, "--dry-run", "-vv"], &env);
    assert_eq!(dry.code, Some(0), "{dry}");
    let repl = repl(&p, &env, REPL_SCRIPT);
    assert!(repl.contains("403"), "the REPL sent the requests:\n{repl}");
    let mut outputs = vec![
        ("stdout".to_string(), run.stdout.clone()),
        ("stderr -vv".to_string(), run.stderr.clone()),
        ("dry run".to_string(), dry.stderr.clone() + &dry.stdout),
        ("REPL".to_string(), repl),
    ];
    for f in [&json, &junit, &cassette] {
        outputs.push((
            f.display().to_string(),
            std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())),
        ));
    }
    assert!(run.stderr.contains("everywhere failed"), "{run}");
    for (name, secret) in &secrets {
        for form in forms(secret) {
            for (what, text) in &outputs {
                assert!(
                    !text.contains(&form),
                    "{what} holds {name}={secret:?} as {form:?}:\n{text}"
                );
            }
        }
    }
}

#[test]
fn random_secrets_never_reach_any_output_in_any_encoding() {
    let cases: usize = std::env::var("RBK_HOSTILE_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200);
    let seed = std::env::var("RBK_HOSTILE_SEED")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("seed {seed} (RBK_HOSTILE_SEED), {cases} cases (RBK_HOSTILE_CASES)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = echo_server();
    let dir = Dir::new();
    for _ in 0..cases {
        echo_case(&server, &dir, &mut rng);
    }
}

/// The secrets most likely to slip past a list of known encodings.
#[test]
fn awkward_secrets_are_masked_everywhere() {
    let server = echo_server();
    let dir = Dir::new();
    for s in [
        "a~b c*d/e+f%g",
        "~~~~~~~~~~~~",
        "pa ss/wo~rd*!'()",
        "%41%42%43&amp;x",
        "é😀 ~/+*",
    ] {
        let mut rng = fastrand::Rng::with_seed(1);
        // Every secret of the case is this one.
        let env = [
            ("RBK_S_KEY", s),
            ("RBK_S_PATH", s),
            ("RBK_S_QUERY", s),
            ("RBK_S_BODY", s),
        ];
        let header = random_secret(&mut rng, true);
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("RBK_S_HEADER", &header));
        let program = dir.program(ECHO_PROGRAM, &server.url);
        let p = program.to_string_lossy().to_string();
        let run = rbk_env(&["run", &p, "-vv"], &env);
        assert_eq!(run.code, Some(1), "{run}");
        for form in forms(s) {
            assert!(
                !run.stderr.contains(&form) && !run.stdout.contains(&form),
                "{s:?} leaks as {form:?}:\n{run}"
            );
        }
    }
}

/// A secret that straddles the 200-character cut of the body preview in
/// the default error does not leak its first part.
#[test]
fn a_secret_at_the_cut_of_the_body_preview_is_masked_whole() {
    const SECRET: &str = "straddle-5ecr3t-XYZ";
    let server = Server::start(|_, _| {
        let mut body = "x".repeat(190);
        body.push_str(SECRET);
        Reply::text(&body).code(500)
    });
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.get(k: secret) {
  GET "/x"
  headers { "X-K" = k }
}
runbook main() { step s = api.get(k: secret("RBK_S")) }
"#,
        &server.url,
    );
    let run = rbk_env(&["run", &program.to_string_lossy()], &[("RBK_S", SECRET)]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains("the body was"), "{run}");
    assert!(!run.stderr.contains("straddle"), "{run}");
}

// ------------------------------------------------------------ paths

#[test]
fn dot_segments_from_values_are_refused_not_resolved() {
    let server = Server::start(|_, _| Reply::status(204));
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@/base" }
method api.remove(team: string, user: string) {
  DELETE "/teams/{team}/members/{user}"
  expect 204
}
runbook main(team: string, user: string) { step r = api.remove(team: team, user: user) }
"#,
        &server.url,
    );
    let p = program.to_string_lossy().to_string();
    for (team, user) in [("..", ".."), ("a", "."), ("..", "x")] {
        for extra in [&[][..], &["--dry-run"][..]] {
            let mut args = vec![
                "run".to_string(),
                p.clone(),
                "--arg".into(),
                format!("team={team}"),
                "--arg".into(),
                format!("user={user}"),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = rbk(&args);
            assert_eq!(run.code, Some(1), "{team}/{user} {extra:?}:\n{run}");
            assert!(
                flat(&run.stderr).contains("change the request's path"),
                "{run}"
            );
        }
    }
    assert_eq!(server.count(), 0, "nothing was sent");
    // Dots inside a segment are an ordinary value.
    let run = rbk(&["run", &p, "--arg", "team=a.b", "--arg", "user=..."]);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(server.requests()[0].target, "/base/teams/a.b/members/...");
    // A value that merely looks encoded is encoded again: sent as itself.
    let run = rbk(&["run", &p, "--arg", "team=%2e%2E", "--arg", "user=.%2E"]);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(
        server.requests()[1].target,
        "/base/teams/%252e%252E/members/.%252E"
    );
}

/// `-v`, the dry run, the JSON report and the cassette show the URL byte
/// for byte as the server received it.
#[test]
fn the_url_shown_is_the_url_sent() {
    let server = Server::start(|_, _| Reply::json(serde_json::json!({})));
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@/b ase" }
method api.get(v: string) {
  GET "/x y/{v}/<z>|^"
  query { q = v }
}
runbook main(v: string) { step r = api.get(v: v) }
"#,
        &server.url,
    );
    let p = program.to_string_lossy().to_string();
    let report = dir.file("r.json");
    let cassette = dir.file("c.json");
    let run = rbk(&[
        "run",
        &p,
        "--arg",
        "v=a~b c/é",
        "-v",
        "--report",
        &format!("json={}", report.display()),
        "--record",
        &cassette.to_string_lossy(),
    ]);
    assert_eq!(run.code, Some(0), "{run}");
    let sent = format!("{}{}", server.url, server.requests()[0].target);
    assert!(
        run.stderr.contains(&format!("GET {sent} ")),
        "-v shows {sent}:\n{run}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["exchanges"][0]["request"]["url"], sent.as_str());
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cassette).unwrap()).unwrap();
    assert_eq!(c["interactions"][0]["request"]["url"], sent.as_str());
    let dry = rbk(&["run", &p, "--arg", "v=a~b c/é", "--dry-run"]);
    assert!(dry.stderr.contains(&format!("GET {sent}")), "{dry}");
}

// ------------------------------------------------------------ limits

#[test]
fn response_bodies_over_the_limit_fail_the_step() {
    let server = Server::start(|req, _| {
        let n = if req.path() == "/big" { 3 << 20 } else { 10 };
        Reply::text(&"z".repeat(n))
    });
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.big() {
  GET "/big"
  max_response = 1MiB
}
method api.small() { GET "/small" }
runbook main() {
  step s = api.small()
  step b = api.big() else {
    error => fail "too big: {b.error}"
  }
}
"#,
        &server.url,
    );
    let p = program.to_string_lossy().to_string();
    let run = rbk(&["run", &p]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains("too big"), "{run}");
    assert!(
        flat(&run.stderr).contains("over the limit of 1 MiB"),
        "{run}"
    );
    assert_eq!(server.count(), 2, "not retried:\n{run}");
    // The command-line default applies where the program sets none.
    let run = rbk(&["run", &p, "--max-response", "5"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        flat(&run.stderr).contains("over the limit of 5 bytes"),
        "{run}"
    );
    let bad = rbk(&["run", &p, "--max-response", "lots"]);
    assert_eq!(bad.code, Some(2), "{bad}");
}

#[test]
fn out_of_range_settings_are_check_errors() {
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api {
  base_url = "http://127.0.0.1:1"
  rate { requests = 4294967296, per = 1s, concurrency = 0 }
  retry { attempts = -1 }
  max_response = 0
}
"#,
        "",
    );
    let run = rbk(&["check", &program.to_string_lossy(), "--format", "json"]);
    assert_eq!(run.code, Some(1), "{run}");
    let n = run.stdout.matches("rbk::invalid_setting").count();
    assert_eq!(
        n, 4,
        "requests, concurrency, attempts, max_response:\n{run}"
    );
}

#[test]
fn a_tiny_rate_period_does_not_divide_by_zero() {
    let server = Server::start(|_, _| Reply::status(200));
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api {
  base_url = "@URL@"
  rate { requests = 1000000000, per = 1ms }
}
method api.get() { GET "/" }
runbook main() {
  for i in range(0, 3) { step s = api.get() }
}
"#,
        &server.url,
    );
    let run = rbk(&["run", &program.to_string_lossy()]);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(server.count(), 3);
}

#[test]
fn parallel_is_capped_by_the_file_descriptor_limit() {
    let server = Server::start(|_, _| Reply::status(200).after(Duration::from_millis(20)));
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.get(i: int) { GET "/{i}" }
runbook main() {
  for i in range(0, 400) parallel 100000 { step s = api.get(i: i) }
  return { n: len(s) }
}
"#,
        &server.url,
    );
    let cmd = format!(
        "ulimit -n 128 && exec '{}' run '{}'",
        env!("CARGO_BIN_EXE_rbk"),
        program.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("NO_COLOR", "1")
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("400"));
    assert!(
        server.max_in_flight() <= 32,
        "at most (128 - 64) / 2 at once, saw {}",
        server.max_in_flight()
    );
}

// ------------------------------------------------------------ terminal

const HOSTILE_TEXT: &str = "ok\r\n::error title=pwned::owned\x1b]0;retitled\x07\x1b[2J\u{202e}";

#[test]
fn control_characters_from_servers_are_shown_escaped() {
    let server = Server::start(|req, _| {
        let r = Reply::json(serde_json::json!({ "note": HOSTILE_TEXT }));
        if req.path() == "/fail" {
            r.code(500)
        } else {
            r
        }
    });
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.get() {
  GET "/ok"
  output { note: string = $.note }
}
method api.fail() { GET "/fail" }
runbook main() {
  step g = api.get()
  log "note: {g.note}"
  step f = api.fail()
}
"#,
        &server.url,
    );
    let run = rbk(&["run", &program.to_string_lossy(), "-vv"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains("\\x1b]0;retitled"), "{run}");
    for bad in ['\x1b', '\x07', '\r', '\u{202e}'] {
        assert!(!run.stderr.contains(bad), "{bad:?} printed raw:\n{run}");
    }
    for line in run.stderr.lines().chain(run.stdout.lines()) {
        assert!(
            !line.trim_start().starts_with("::"),
            "workflow command: {line}"
        );
    }
}

// ------------------------------------------------------------ requests

#[test]
fn header_values_with_line_breaks_are_refused_naming_the_header() {
    let server = Server::start(|_, _| Reply::status(200));
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.get(v: string) {
  GET "/"
  headers { "X-Custom" = v }
}
method api.up(t: string) {
  POST "/"
  body multipart { f = "data" as t }
}
runbook one(v: string) { step s = api.get(v: v) }
runbook two(t: string) { step s = api.up(t: t) }
"#,
        &server.url,
    );
    let p = program.to_string_lossy().to_string();
    let run = rbk(&["run", &p, "one", "--arg", "v=a\r\nX-Injected: 1"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains("`X-Custom`"), "{run}");
    assert!(
        !run.stderr.contains("X-Injected"),
        "the value is not shown:\n{run}"
    );
    let run = rbk(&["run", &p, "two", "--arg", "t=text/plain\r\nX-Injected: 1"]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        flat(&run.stderr).contains("content type of part `f`"),
        "{run}"
    );
    assert_eq!(server.count(), 0);
}

#[test]
fn secrets_and_env_values_do_not_follow_a_redirect_to_another_origin() {
    let other = Server::start(|_, _| Reply::status(200));
    let target = format!("{}/landed", other.url);
    let first = Server::start(move |req, _| {
        let code = if req.path() == "/post" { 307 } else { 302 };
        Reply::status(code).header("location", &target)
    });
    let dir = Dir::new();
    let program = dir.program(
        r#"
integration api { base_url = "@URL@" }
method api.get() {
  GET "/get"
  headers {
    "X-Env" = env("RBK_ENV_VALUE")
    "X-Plain" = "plain"
  }
}
method api.post() {
  POST "/post"
  body form { password = secret("RBK_SECRET_VALUE") }
}
runbook get() { step s = api.get() }
runbook post() { step s = api.post() }
"#,
        &first.url,
    );
    let p = program.to_string_lossy().to_string();
    let env = [
        ("RBK_ENV_VALUE", "env-value-1234"),
        ("RBK_SECRET_VALUE", "secret-value-5678"),
    ];
    let run = rbk_env(&["run", &p, "get"], &env);
    assert_eq!(run.code, Some(0), "{run}");
    let got = other.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-plain"), Some("plain"));
    assert_eq!(
        got[0].header("x-env"),
        None,
        "env() value sent cross-origin"
    );
    let run = rbk_env(&["run", &p, "post"], &env);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(flat(&run.stderr).contains("another origin"), "{run}");
    assert_eq!(other.count(), 1, "the secret body was not resent");
    assert!(!run.stderr.contains("secret-value"), "{run}");
}

/// A program under review (a pull request checked in CI) cannot make
/// `rbk check` print escape sequences or workflow commands.
#[test]
fn a_hostile_program_cannot_drive_the_terminal_through_check() {
    let dir = Dir::new();
    let program = dir.write(
        "evil.rbk",
        "integration a {\n  base_url = \"http://x\"\n  timout = \"\x1b]0;pwned\x07\r\n::error::owned\"\n}\n# \x1b[2J \u{202e}\nrunbook r() { log \"\x1b[31m\" \n fail x\x1b }\n"
            .as_bytes(),
    );
    let p = program.to_string_lossy().to_string();
    for format in ["human", "github", "json"] {
        let o = rbk(&["check", &p, "--format", format]);
        assert_eq!(o.code, Some(1), "{format}:\n{o}");
        let all = o.stdout.clone() + &o.stderr;
        for bad in ['\x1b', '\x07', '\r', '\u{202e}'] {
            assert!(!all.contains(bad), "{format}: {bad:?} printed raw:\n{all}");
        }
        for line in all.lines() {
            assert!(
                !line.starts_with("::error::") && !line.starts_with("::error title=x"),
                "{format}: {line}"
            );
        }
    }
}
