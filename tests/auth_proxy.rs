//! `proxy { url, username, password }` through Debian's tinyproxy with
//! BasicAuth: plain HTTP (to an in-process server) and HTTPS via CONNECT
//! (to nginx with a test CA) both pass, tinyproxy's log shows both, and a
//! wrong proxy password is refused.
//!
//! Each test starts its own tinyproxy and nginx on free 127.0.0.1 ports and
//! stops them at the end. In CI (`CI` set) a missing tool fails the test; on
//! a developer machine without them the test returns early.

use base64::Engine;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::any;

const PROXY_PASS: &str = "px-5ecr3t-K2j3";

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

/// A test needs this program; its absence fails the test (the tests that
/// need it are ignored unless asked for).
fn need(program: &str, args: &[&str]) {
    let ok = Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `{program}` (run `bash .ci/run`, or source .ci/setup-auth-sign.sh first)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(dir: &Path, args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16, log: &Path) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "nothing listens on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA and a server certificate for 127.0.0.1, then nginx serving TLS.
fn start_nginx(dir: &Path) -> (Killed, u16) {
    let o = "openssl";
    run(
        dir,
        &[
            o,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rbk proxy test CA",
        ],
    );
    run(
        dir,
        &[
            o,
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(
        dir,
        &[
            o,
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    let port = free_port();
    let d = dir.display();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let conf = format!(
        r#"
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {d}/nginx-access.log;
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    location / {{
      default_type application/json;
      return 200 '{{"tls":"$ssl_protocol","via":"$http_via"}}';
    }}
  }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(tool("RBK_NGINX", "/usr/sbin/nginx"))
        .args([
            "-e",
            &format!("{d}/nginx-error.log"),
            "-p",
            &format!("{d}"),
            "-c",
        ])
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let k = Killed(child);
    wait_listening(port, &dir.join("nginx-error.log"));
    (k, port)
}

fn start_tinyproxy(dir: &Path) -> (Killed, u16) {
    let port = free_port();
    let d = dir.display();
    // No ConnectPort line: CONNECT to any port is allowed.
    let conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\n\
         BasicAuth rbkuser {PROXY_PASS}\nLogFile \"{d}/tinyproxy.log\"\nLogLevel Info\n\
         PidFile \"{d}/tinyproxy.pid\"\nMaxClients 20\n"
    );
    std::fs::write(dir.join("tinyproxy.conf"), conf).unwrap();
    let child = Command::new(tool("RBK_TINYPROXY", "/usr/bin/tinyproxy"))
        .args(["-d", "-c"])
        .arg(dir.join("tinyproxy.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tinyproxy starts");
    let k = Killed(child);
    wait_listening(port, &dir.join("tinyproxy.log"));
    (k, port)
}

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

async fn record(State(seen): State<Seen>, headers: HeaderMap) -> &'static str {
    seen.lock().unwrap().push(headers);
    "{\"plain\":true}"
}

fn start_server() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let state = seen.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            let app = Router::new().fallback(any(record)).with_state(state);
            axum::serve(l, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), seen)
}

fn program(proxy: u16, plain: SocketAddr, tls: u16, password: &str) -> String {
    format!(
        r#"
instance local {{ url = "http://{plain}" }}

integration plain {{
  base_url = "http://{plain}"
  proxy {{ url = "http://127.0.0.1:{proxy}", username = "rbkuser", password = secret("{password}") }}
}}

integration secure {{
  base_url = "https://127.0.0.1:{tls}"
  tls {{ ca_cert = file("ca.pem") }}
  proxy {{ url = "http://127.0.0.1:{proxy}", username = "rbkuser", password = secret("{password}") }}
}}

method plain.get() {{
  GET "/through-proxy"
  output {{ plain: bool = $.plain }}
}}

method secure.get() {{
  GET "/over-connect"
  output {{ tls: string = $.tls }}
}}

runbook main() {{
  step a = plain.get()
  step b = secure.get()
  return {{ plain: a.plain, tls: b.tls }}
}}

runbook plain_only() {{
  step a = plain.get()
}}
"#
    )
}

fn tempdir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rbk-proxy-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs openssl, nginx and tinyproxy: installed by .ci/run"]
fn http_and_https_connect_through_tinyproxy_with_basic_auth() {
    let tinyproxy = tool("RBK_TINYPROXY", "/usr/bin/tinyproxy");
    let nginx = tool("RBK_NGINX", "/usr/sbin/nginx");
    need("openssl", &["version"]);
    need(&nginx, &["-v"]);
    need(&tinyproxy, &["-v"]);
    let dir = tempdir();
    let (_nginx, tls_port) = start_nginx(&dir);
    let (_proxy, proxy_port) = start_tinyproxy(&dir);
    let (plain, seen) = start_server();
    std::fs::write(
        dir.join("p.rbk"),
        program(proxy_port, plain, tls_port, "RBK_T_PROXY"),
    )
    .unwrap();
    let rbk = |runbook: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rbk"))
            .args(["run", "p.rbk", runbook, "-vv"])
            .args(extra)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("RBK_T_PROXY", PROXY_PASS)
            .env("RBK_T_BAD", "not-the-proxy-password")
            .output()
            .expect("rbk runs")
    };
    let o = rbk(
        "main",
        &["--report", "json=report.json", "--record", "c.json"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("TLSv1."), "{out}");
    // The proxy password (plain or as its Basic credentials) reaches no
    // output: -vv, the report, the cassette, a dry run.
    let dry = rbk("main", &["--dry-run"]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("rbkuser:{PROXY_PASS}"));
    for (what, text) in [
        ("stdout", out.to_string()),
        ("stderr", err.to_string()),
        (
            "report",
            std::fs::read_to_string(dir.join("report.json")).unwrap(),
        ),
        (
            "cassette",
            std::fs::read_to_string(dir.join("c.json")).unwrap(),
        ),
        ("dry-run", String::from_utf8_lossy(&dry.stdout).into_owned()),
        (
            "dry-run stderr",
            String::from_utf8_lossy(&dry.stderr).into_owned(),
        ),
    ] {
        assert!(!text.contains(PROXY_PASS), "{what}: {text}");
        assert!(!text.contains(&basic), "{what}: {text}");
    }

    // The plain request went through tinyproxy (it adds Via), and the
    // proxy credentials did not reach the server.
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let via = got[0]
        .get("via")
        .map(|v| v.to_str().unwrap_or("").to_string());
    assert!(via.unwrap_or_default().contains("tinyproxy"), "{got:?}");
    assert!(got[0].get("proxy-authorization").is_none());

    let log = std::fs::read_to_string(dir.join("tinyproxy.log")).unwrap();
    assert!(
        log.contains(&format!("GET http://{plain}/through-proxy")),
        "{log}"
    );
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{tls_port}")),
        "{log}"
    );
    let access = std::fs::read_to_string(dir.join("nginx-access.log")).unwrap();
    assert!(access.contains("GET /over-connect"), "{access}");

    // A wrong proxy password: refused by the proxy (tinyproxy 1.11 answers
    // 401 with its own page rather than 407), nothing reaches the server.
    std::fs::write(
        dir.join("p.rbk"),
        program(proxy_port, plain, tls_port, "RBK_T_BAD"),
    )
    .unwrap();
    let o = rbk("plain_only", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err.contains("407") || (err.contains("401") && err.contains("tinyproxy")),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
