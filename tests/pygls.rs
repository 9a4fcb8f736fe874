//! A second LSP client, independent of ours: pygls (PyPI), whose lsprotocol
//! types check every response against the protocol's schema, drives
//! `rbk lsp` through `tests/pygls/check_server.py`. `.ci/setup-pygls.sh`
//! installs it; without it the test is ignored.

use std::path::PathBuf;
use std::process::Command;

const LIB: &str = r#"## The ticket system.
integration tickets {
  base_url = "https://tickets.example"
}

## Reads one ticket.
method tickets.get(id: int) {
  GET "/tickets/{id}"
  output {
    title: string = $.title
  }
}
"#;

const MAIN: &str = r#"import "lib.rbk"

runbook close(number: int) {
  step ticket = tickets.get(id: number)
  log "😀 é {ticket.title}"
  log "{numbr}"
}
"#;

#[test]
#[ignore = "needs pygls (PyPI); .ci/setup-pygls.sh installs it"]
fn pygls_client_gets_well_formed_answers() {
    let dir = tempfile::Builder::new()
        .prefix("rbk-pygls")
        .tempdir()
        .expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::write(root.join("rbk.toml"), "").expect("write");
    std::fs::write(root.join("lib.rbk"), LIB).expect("write");
    std::fs::write(root.join("main.rbk"), MAIN).expect("write");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pygls/check_server.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_rbk"))
        .arg(&root)
        .output()
        .expect("python3");
    let got = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the pygls client failed:\n{got}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = got.lines().collect();
    for want in [
        "server rbk",
        "encoding utf-16",
        "diagnostic 5 8 rbk::unknown_name `numbr` is not defined here",
        "hover step ticket: result of tickets.get { title: string, ok, status, headers, body, error, elapsed }",
        "hover-range 4 13 19",
        "definition lib.rbk 6 15",
        "references 2",
        "rename-files 2",
        "signature method tickets.get(id: int) -> { title: string }",
        "symbols lib.rbk close",
        "formatting-edits 0",
        "highlights 3 2",
        "workspace-symbols tickets.get",
        "code-action Replace with `number`",
        "after-edit 0",
        "done",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in:\n{got}");
    }
    let completion = lines
        .iter()
        .find(|l| l.starts_with("completion "))
        .expect("completion");
    assert!(
        completion.contains(" title") && completion.contains(" ok"),
        "{completion}"
    );
}
