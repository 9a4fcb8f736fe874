//! The real binary on the real examples: check, fmt --check, graph.

use std::path::Path;
use std::process::{Command, Output};

fn rbk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the rbk binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn examples_check_clean_with_warnings_denied() {
    let o = rbk(&["check", "examples/", "--deny-warnings"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("0 errors, 0 warnings"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn examples_are_at_least_six_and_all_checked() {
    let o = rbk(&["check", "examples/", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert!(v["files"].as_u64().unwrap_or(0) >= 6, "{v}");
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 0);
}

#[test]
fn examples_are_formatted() {
    let o = rbk(&["fmt", "--check", "examples/"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn json_format_reports_code_and_position() {
    let dir = tempdir();
    let file = dir.join("bad.rbk");
    std::fs::write(
        &file,
        "integration api { base_url = \"http://x\" }\nrunbook r() {\n  step a = api.nope()\n}\n",
    )
    .unwrap();
    let o = rbk(&["check", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "rbk::unknown_method");
    assert_eq!(d["line"], 3);
    assert_eq!(d["column"], 16);
    assert_eq!(d["severity"], "error");
}

#[test]
fn missing_path_is_a_usage_error() {
    let o = rbk(&["check", "does/not/exist.rbk"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bad_arguments_are_a_usage_error() {
    let o = rbk(&["check", "--format", "yaml", "examples/"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn graph_mermaid_snapshot() {
    let o = rbk(&["graph", "examples/export_poll.rbk", "nightly_sla_export"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = stdout(&o);
    assert!(text.starts_with("flowchart TD\n"));
    insta::assert_snapshot!("graph_export_poll_mermaid", text);
}

#[test]
fn graph_dot_matches_its_snapshot() {
    let o = rbk(&[
        "graph",
        "examples/export_poll.rbk",
        "nightly_sla_export",
        "--format",
        "dot",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let dot = stdout(&o);
    insta::assert_snapshot!("graph_export_poll_dot", dot);
}

#[test]
#[ignore = "needs graphviz `dot`: installed by .ci/run"]
fn graph_dot_renders_with_graphviz() {
    let o = rbk(&[
        "graph",
        "examples/export_poll.rbk",
        "nightly_sla_export",
        "--format",
        "dot",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let dot = stdout(&o);
    assert!(
        Command::new("dot").arg("-V").output().is_ok(),
        "this test needs graphviz `dot` (run `bash .ci/run`, which installs it)"
    );
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn graph_shows_var_and_assignments() {
    let o = rbk(&["graph", "examples/ticket_digest.rbk", "morning_digest"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for want in [
        "(\"var open = 0\")",
        "(\"open += 1\")",
        "(\"critical += 1\")",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    let o = rbk(&[
        "graph",
        "examples/ticket_digest.rbk",
        "morning_digest",
        "--format",
        "dot",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let dot = stdout(&o);
    for want in ["label=\"var open = 0\"", "label=\"waited_hours += age\""] {
        assert!(dot.contains(want), "{want} in:\n{dot}");
    }
}

#[test]
fn graph_unknown_runbook_suggests() {
    let o = rbk(&["graph", "examples/export_poll.rbk", "nightly_sla_exprt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `nightly_sla_export`"));
}

#[test]
fn every_example_runbook_graphs() {
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rbk") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("runbook ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let o = rbk(&["graph", path.to_str().unwrap(), &name]);
                assert_eq!(o.status.code(), Some(0), "{} {name}", path.display());
            }
        }
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rbk-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Path::new(&dir).exists());
    dir
}

/// The mermaid output renders with the real mermaid CLI (.ci/run installs
/// it and sets RBK_MMDC).
#[test]
#[ignore = "needs the mermaid CLI (RBK_MMDC) and chromium: installed by .ci/run"]
fn graph_mermaid_renders_with_mermaid_cli() {
    let Some(mmdc) = std::env::var_os("RBK_MMDC") else {
        panic!(
            "this test needs the mermaid CLI: RBK_MMDC is not set (run `bash .ci/run`, which installs it)"
        );
    };
    let dir = tempdir();
    for (file, runbook) in [
        ("examples/export_poll.rbk", "nightly_sla_export"),
        ("examples/github.rbk", "audit_branch_protection"),
    ] {
        let o = rbk(&["graph", file, runbook]);
        if o.status.code() != Some(0) {
            continue;
        }
        let input = dir.join(format!("{runbook}.mmd"));
        let output = dir.join(format!("{runbook}.svg"));
        std::fs::write(&input, &o.stdout).unwrap();
        let mut cmd = Command::new(&mmdc);
        cmd.arg("-i").arg(&input).arg("-o").arg(&output);
        if let Some(cfg) = std::env::var_os("RBK_MMDC_CONFIG") {
            cmd.arg("-p").arg(cfg);
        }
        let out = cmd.output().expect("mmdc runs");
        assert!(
            out.status.success(),
            "{file} {runbook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = std::fs::read_to_string(&output).unwrap();
        assert!(
            svg.contains("<svg") && !svg.contains("Syntax error"),
            "{svg:.300}"
        );
    }
}

/// The README's main command: the quickstart runs offline from its cassette.
#[test]
fn quickstart_replays_offline() {
    let o = rbk(&[
        "run",
        "examples/quickstart.rbk",
        "--replay",
        "examples/quickstart.cassette.json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json result");
    assert_eq!(v["service"], "Email");
    assert_eq!(v["incidents"], 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("log: Email is degraded"));
    // A request the cassette never saw fails loudly, naming it.
    let o = rbk(&[
        "run",
        "examples/quickstart.rbk",
        "--arg",
        "service=vpn",
        "--replay",
        "examples/quickstart.cassette.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no recorded answer for GET http://127.0.0.1:8080/services/vpn"),
        "{err}"
    );
}

/// A request that got no response is recorded too, and replays as the same
/// failure (matched by the same `error` arm).
#[test]
fn cassettes_record_and_replay_transport_failures() {
    let dir = tempdir();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    std::fs::write(
        dir.join("down.rbk"),
        "integration api { base_url = \"http://127.0.0.1:9\" }\n\
         method api.ping() {\n  GET \"/ping\"\n}\n\
         runbook main() {\n  step p = api.ping() else {\n    error => log \"unreachable\"\n  }\n  return { reached: p.ok }\n}\n",
    )
    .unwrap();
    let file = dir.join("down.rbk");
    let cassette = dir.join("down.cassette.json");
    let rec = rbk(&[
        "run",
        file.to_str().unwrap(),
        "--record",
        cassette.to_str().unwrap(),
    ]);
    assert_eq!(
        rec.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(text.contains("\"failure\""), "{text}");
    let rep = rbk(&[
        "run",
        file.to_str().unwrap(),
        "--replay",
        cassette.to_str().unwrap(),
    ]);
    assert_eq!(
        rep.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    assert_eq!(rec.stdout, rep.stdout);
    assert!(String::from_utf8_lossy(&rep.stderr).contains("log: unreachable"));
}

/// A replay answers without a network: OAuth2 auth does not ask its token
/// endpoint (here unreachable) for a token first.
#[test]
fn replay_needs_no_token_endpoint() {
    let dir = tempdir();
    std::fs::write(
        dir.join("o.rbk"),
        "integration api {\n  base_url = \"http://127.0.0.1:9/api\"\n  auth oauth2 {\n    grant = client_credentials\n    token_url = \"http://127.0.0.1:9/token\"\n    client_id = \"id\"\n    client_secret = secret(\"RBK_T_OAUTH_SECRET\")\n  }\n}\n\
         method api.me() {\n  GET \"/me\"\n  output { name: string = $.name }\n}\n\
         runbook main() {\n  step m = api.me()\n  return { name: m.name }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("o.cassette.json"),
        r#"{"version":1,"interactions":[{"request":{"method":"GET","url":"http://127.0.0.1:9/api/me","headers":[],"body":""},"response":{"status":200,"headers":[["content-type","application/json"]],"body":"{\"name\":\"replayed\"}"}}]}"#,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(["run", "o.rbk", "--replay", "o.cassette.json"])
        .current_dir(&dir)
        .env("RBK_T_OAUTH_SECRET", "s3cr3t-value")
        .env("RBK_CACHE_DIR", dir.join("cache"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "replayed");
}

/// The deepest programs the parser accepts, run by the command itself, also
/// where `ulimit -s` is far below the usual 8 MiB: rbk works on a thread
/// with a stack of its own (src/main.rs).
#[test]
fn deepest_accepted_programs_run_whatever_the_stack_limit() {
    let depth = rbk::syntax::parser::MAX_NESTING - 3;
    let dir = tempdir();
    let expr = dir.join("deep_expr.rbk");
    std::fs::write(
        &expr,
        format!(
            "runbook main() {{\n  let v = {}1{}\n  return {{ v: v }}\n}}\n",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
    )
    .unwrap();
    let blocks = dir.join("deep_blocks.rbk");
    std::fs::write(
        &blocks,
        format!(
            "runbook main() {{\n  var v = 0\n  {}v = 1{}\n  return {{ v: v }}\n}}\n",
            "if true { ".repeat(depth),
            " }".repeat(depth)
        ),
    )
    .unwrap();
    for file in [&expr, &blocks] {
        // No `ulimit`: the limit the tests run with (8 MiB here and in CI).
        for limit in ["", "ulimit -s 512 && "] {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("{limit}exec \"$0\" run \"$1\""))
                .arg(env!("CARGO_BIN_EXE_rbk"))
                .arg(file)
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{} with `{limit}`: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout(&out).contains("\"v\": 1"), "{}", stdout(&out));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runaway_recursion_and_self_wrapping_values_stop_with_their_codes() {
    let dir = tempdir();
    let rec = dir.join("rec.rbk");
    std::fs::write(
        &rec,
        "runbook walk(n: int) {\n  if n > 0 {\n    step r = run walk(n: n - 1)\n  }\n  return { n: n }\n}\n",
    )
    .unwrap();
    let wrap = dir.join("wrap.rbk");
    std::fs::write(
        &wrap,
        "runbook main(n: int) {\n  var x: json = {}\n  for i in range(n) {\n    x = { a: x }\n  }\n  return { x: x }\n}\n",
    )
    .unwrap();
    let run = |file: &Path, arg: &str| rbk(&["run", file.to_str().unwrap(), "--arg", arg]);
    // 100 nested `run`s are allowed; the 101st fails with its code, and
    // the message says the repeated failure once.
    let out = run(&rec, "n=100");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&rec, "n=100000");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let (progress, report) = err
        .split_once("rbk::limit::run_depth")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        report.matches("step `r` (run walk) failed").count(),
        1,
        "{err}"
    );
    // Progress names a level by its count, not by 99 repeated names.
    assert!(progress.contains("✗ walk ×99 > r run walk"), "{err}");
    assert!(!progress.contains("walk > walk"), "{err}");
    // A value nests up to 100 levels (`{ x: x }` around 98 wrappings of
    // `{}`); wrapping it once more stops the run
    // where it happens (printing it would have taken gigabytes).
    let out = run(&wrap, "n=98");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&wrap, "n=1000000");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rbk::limit::value_depth"), "{err}");
    assert!(err.contains("x = { a: x }"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
