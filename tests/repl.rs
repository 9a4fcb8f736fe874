//! The REPL through a real pseudo-terminal (expectrl) and through a pipe,
//! against an in-process HTTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::HeaderMap;
use axum::routing::get;
use expectrl::session::OsSession;
use expectrl::{ControlCode, Expect, Session};

const TOKEN: &str = "tok-r3pl-5ecret-X9";

fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new()
                .route(
                    "/users/{login}",
                    get(|UrlPath(login): UrlPath<String>, h: HeaderMap| async move {
                        let auth = h
                            .get("authorization")
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                            .unwrap_or_default();
                        axum::Json(serde_json::json!({
                            "login": login,
                            "id": login.len(),
                            "seen_auth": auth,
                        }))
                    }),
                )
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        "late"
                    }),
                );
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn program(addr: SocketAddr) -> String {
    format!(
        r#"instance local {{ url = "http://{addr}" }}

## A directory of users.
integration dir {{
  base_url = "{{instance.url}}"
  auth bearer {{ token = secret("RBK_REPL_TOKEN") }}
}}

## Look up one user.
method dir.get_user(
  ## the user's login
  login: string,
) {{
  GET "/users/{{login}}"
  output {{
    login: string = $.login
    id: int = $.id
    seen_auth: string = $.seen_auth
  }}
}}

method dir.slow() {{
  GET "/slow"
  timeout = 60s
}}
"#
    )
}

struct Fixture {
    dir: PathBuf,
    file: PathBuf,
    addr: SocketAddr,
}

fn fixture(name: &str) -> Fixture {
    let addr = start_server();
    let dir = std::env::temp_dir().join(format!(
        "rbk-repl-{name}-{}-{}",
        std::process::id(),
        addr.port()
    ));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let file = dir.join("dir.rbk");
    std::fs::write(&file, program(addr)).unwrap();
    Fixture { dir, file, addr }
}

fn command(f: &Fixture) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rbk"));
    c.arg("repl")
        .arg(&f.file)
        .current_dir(&f.dir)
        .env("RBK_DATA_DIR", f.dir.join("data"))
        .env("RBK_REPL_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    c
}

fn spawn(f: &Fixture) -> OsSession {
    let mut s = Session::spawn(command(f)).expect("the REPL starts in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(15)));
    s.expect("rbk> ").expect("a prompt");
    s
}

fn piped(f: &Fixture, script: &str) -> (String, String) {
    use std::io::Write;
    let mut child = command(f)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Replaces timings, which differ from run to run.
fn stable(s: &str, addr: SocketAddr) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let mut l = line.replace(&addr.to_string(), "HOST");
        if let Some(i) = l.find(" ms)") {
            let start = l[..i].rfind('(').map(|p| p + 1).unwrap_or(i);
            l.replace_range(start..i, "N");
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[test]
fn piped_script_prints_plain_results() {
    let f = fixture("piped");
    let (out, err) = piped(
        &f,
        "dir.get_user(login: \"octocat\")\nlet who = _.login\nupper(who)\nstep again = dir.get_user(\n  login: who + \"2\"\n)\nagain.id * 10\n:vars\n",
    );
    let expected = r#"→ GET http://HOST/users/octocat
  Authorization: •••
← 200 (N ms)
{
  "id": 7,
  "login": "octocat",
  "seen_auth": "•••"
}
_:
  login: string = "octocat"
  id: int = 7
  seen_auth: string = "•••"
who : string = "octocat"
"OCTOCAT" : string
→ GET http://HOST/users/octocat2
  Authorization: •••
← 200 (N ms)
{
  "id": 8,
  "login": "octocat2",
  "seen_auth": "•••"
}
again:
  login: string = "octocat2"
  id: int = 8
  seen_auth: string = "•••"
80 : int
_: result of dir.get_user = {"id":7,"login":"octocat","ok":true,"seen_auth":"•••","status":200}
again: result of dir.get_user = {"id":8,"login":"octocat2","ok":true,"seen_auth":"•••","status":200}
who: string = octocat
"#;
    assert_eq!(stable(&out, f.addr), expected, "stderr: {err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
}

#[test]
fn a_bad_line_shows_a_diagnostic_and_the_next_line_works() {
    let f = fixture("bad");
    let (out, err) = piped(&f, "dir.get_usr(login: \"x\")\nlen(\"abc\")\n");
    assert!(err.contains("rbk::unknown_method"), "{err}");
    assert!(err.contains("did you mean `get_user`?"), "{err}");
    assert!(out.contains("3 : int"), "{out}");
}

#[test]
fn piped_var_is_declared_changed_and_read_across_inputs() {
    let f = fixture("var");
    let (out, err) = piped(
        &f,
        "var n = 1\nn += 2\nn\nn = n * 10\nn\nvar s = \"a\"\ns += \"b\"\nlet k = 5\nk += 1\ns += 1\nk\n:vars\n",
    );
    let expected = r#"n : int = 1
n : int = 3
3 : int
n : int = 30
30 : int
s : string = "a"
s : string = "ab"
k : int = 5
5 : int
k: int = 5
n: int = 30
s: string = ab
"#;
    assert_eq!(stable(&out, f.addr), expected, "stderr: {err}");
    // A `let` stays fixed; a `var` keeps its type.
    assert!(err.contains("rbk::assign_immutable"), "{err}");
    assert!(err.contains("`var k = ...`"), "{err}");
    assert!(err.contains("rbk::type_mismatch"), "{err}");
}

#[test]
fn pty_call_let_and_multiline() {
    let f = fixture("pty");
    let mut s = spawn(&f);
    s.send_line("dir.get_user(login: \"mona\")").unwrap();
    s.expect("← 200").unwrap();
    s.expect("id: int = 4").unwrap();
    s.expect("rbk> ").unwrap();
    s.send_line("let name = _.login + \"lisa\"").unwrap();
    s.expect("name : string = \"monalisa\"").unwrap();
    s.expect("rbk> ").unwrap();
    // An open bracket continues on the next line.
    s.send_line("dir.get_user(").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.send_line("  login: name)").unwrap();
    s.expect("id: int = 8").unwrap();
    s.expect("rbk> ").unwrap();
    s.send_line(":quit").unwrap();
}

#[test]
fn pty_tab_completes_methods_and_parameters() {
    let f = fixture("tab");
    let mut s = spawn(&f);
    s.send("dir.get_u").unwrap();
    s.send("\t").unwrap();
    s.expect("get_user(").unwrap();
    s.send("lo").unwrap();
    s.send("\t").unwrap();
    s.expect("login: ").unwrap();
    s.send("\"tab\")\r").unwrap();
    s.expect("login: string = \"tab\"").unwrap();
    s.expect("rbk> ").unwrap();
    s.send_line(":quit").unwrap();
}

#[test]
fn pty_history_survives_a_restart() {
    let f = fixture("hist");
    let mut s = spawn(&f);
    s.send_line("len(\"remember-me\")").unwrap();
    s.expect("11 : int").unwrap();
    s.expect("rbk> ").unwrap();
    s.send_line(":quit").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let history = std::fs::read_to_string(f.dir.join("data/history")).unwrap_or_default();
    assert!(history.contains("remember-me"), "{history}");
    let mut s = spawn(&f);
    // Ctrl-P twice: the newest entry is the `:quit` that ended the session.
    s.send("\x10").unwrap();
    s.expect(":quit").unwrap();
    s.send("\x10").unwrap();
    s.expect("remember-me").unwrap();
    s.send("\r").unwrap();
    s.expect("11 : int").unwrap();
    s.send_line(":quit").unwrap();
}

#[test]
fn pty_ctrl_c_cancels_a_slow_request() {
    let f = fixture("ctrlc");
    let mut s = spawn(&f);
    s.send_line("dir.slow()").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.send(ControlCode::EndOfText).unwrap();
    s.expect("cancelled").unwrap();
    s.expect("rbk> ").unwrap();
    s.send_line("len([1, 2])").unwrap();
    s.expect("2 : int").unwrap();
    s.send_line(":quit").unwrap();
}

#[test]
fn pty_reload_picks_up_changes() {
    let f = fixture("reload");
    let mut s = spawn(&f);
    s.send_line(":help dir.ping").unwrap();
    s.expect("nothing is called").unwrap();
    let mut text = program(f.addr);
    text.push_str("\nmethod dir.ping(login: string) {\n  GET \"/users/{login}\"\n  output { id: int = $.id }\n}\n");
    std::fs::write(&f.file, text).unwrap();
    s.send_line(":reload").unwrap();
    s.expect("reloaded").unwrap();
    s.send_line("dir.ping(login: \"abc\")").unwrap();
    s.expect("id: int = 3").unwrap();
    s.send_line(":quit").unwrap();
}

#[test]
fn secrets_show_only_when_revealed() {
    let f = fixture("reveal");
    let (out, err) = piped(
        &f,
        "let t = secret(\"RBK_REPL_TOKEN\")\nt\n\"x{t}\"\n:reveal t\n",
    );
    assert!(out.contains("t : secret = \"•••\""), "{out}");
    assert_eq!(
        out.matches(TOKEN).count(),
        1,
        "only :reveal shows it: {out}"
    );
    assert!(
        out.lines().last().unwrap_or_default().contains(TOKEN),
        "{out}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    let _ = Path::new(&f.dir);
}
