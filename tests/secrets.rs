//! Planted secrets never reach stdout, stderr, cassettes or reports — not in
//! `-vv` traces, dry runs, recorded responses that echo them, or errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;

const TOKEN: &str = "tok-5ecr3t-A1x";
const API_KEY: &str = "key-5ecr3t-B2y";
const PASSWORD: &str = "pw-5ecr3t-C3z";
const PIN: &str = "pin-5ecr3t-D4w";
const BODY: &str = "body-5ecr3t-E5v";
const CLIENT: &str = "cli-5ecr3t-F6u";

/// Every planted secret, plus the encodings a request carries them in.
fn planted() -> Vec<String> {
    use base64::Engine as _;
    let mut v: Vec<String> = [TOKEN, API_KEY, PASSWORD, PIN, BODY, CLIENT]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.push(base64::engine::general_purpose::STANDARD.encode(format!("svc:{PASSWORD}")));
    // Distinctive fragments, so that a secret cut in pieces is also caught.
    for s in [TOKEN, API_KEY, PASSWORD, PIN, BODY, CLIENT] {
        v.push(s[..10].to_string());
    }
    v
}

/// Echoes everything it received (headers, query, body) back as JSON, so
/// responses carry the secrets too.
async fn echo(
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, String); 2], String) {
    let hdrs: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
            )
        })
        .collect();
    let status = if uri.path().starts_with("/fail") {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    let out = serde_json::json!({
        "path": uri.path(),
        "query": uri.query(),
        "headers": hdrs,
        "body": String::from_utf8_lossy(&body),
        "name": "echo",
    });
    (
        status,
        [
            ("content-type", "application/json".to_string()),
            (
                "x-echo-auth",
                headers
                    .get("authorization")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
            ),
        ],
        out.to_string(),
    )
}

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
            let app = Router::new().fallback(any(echo));
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn program(addr: SocketAddr) -> String {
    format!(
        r#"
instance local {{ url = "http://{addr}" }}

integration vault {{
  base_url = "{{instance.url}}"
  auth bearer {{ token = secret("RBK_T_TOKEN") }}
}}

integration keyed {{
  base_url = "{{instance.url}}"
  auth api_key {{ name = "api_key", value = secret("RBK_T_KEY"), in = query }}
}}

integration basicauth {{
  base_url = "{{instance.url}}"
  auth basic {{ username = "svc", password = secret("RBK_T_PASSWORD") }}
}}

method vault.store(pin: secret) {{
  POST "/store/{{pin}}"
  headers {{ "X-Client" = secret("RBK_T_CLIENT") }}
  body json {{ "pin": pin, "note": secret("RBK_T_BODY") }}
  output {{
    echoed: json = $.headers
    name: string = $.name
  }}
}}

method keyed.get() {{
  GET "/keyed"
  query {{ extra = secret("RBK_T_BODY") }}
  output {{ query: string? = $.query }}
}}

method basicauth.get() {{
  GET "/basic"
  output {{ auth = header("x-echo-auth") }}
}}

method basicauth.forbidden() {{
  GET "/fail/{{secret("RBK_T_TOKEN")}}"
}}

runbook main(pin: secret) {{
  step s = vault.store(pin: pin)
  step k = keyed.get()
  step b = basicauth.get()
  log "stored as {{s.name}}"
  return {{ name: s.name, query: k.query ?? "", auth: b.auth ?? "" }}
}}

runbook failing() {{
  step f = basicauth.forbidden()
}}
"#
    )
}

fn setup() -> (PathBuf, SocketAddr) {
    let addr = start_server();
    let dir = std::env::temp_dir().join(format!(
        "rbk-secrets-{}-{}",
        std::process::id(),
        addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vault.rbk"), program(addr)).unwrap();
    (dir, addr)
}

fn rbk(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RBK_T_TOKEN", TOKEN)
        .env("RBK_T_KEY", API_KEY)
        .env("RBK_T_PASSWORD", PASSWORD)
        .env("RBK_T_BODY", BODY)
        .env("RBK_T_CLIENT", CLIENT)
        .output()
        .expect("rbk runs")
}

fn assert_clean(what: &str, text: &str) {
    for s in planted() {
        assert!(!text.contains(&s), "{what} leaks `{s}`:\n{text}");
    }
}

#[test]
fn no_secret_in_any_output_of_a_verbose_recorded_reported_run() {
    let (dir, _) = setup();
    let pin_arg = format!("pin={PIN}");
    let o = rbk(
        &dir,
        &[
            "run",
            "vault.rbk",
            "main",
            "--arg",
            &pin_arg,
            "-vv",
            "--record",
            "c.json",
            "--report",
            "json=r.json",
            "--report",
            "junit=r.xml",
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // The run really sent them: the echo came back and was masked.
    assert!(stderr.contains("•••"), "{stderr}");
    assert!(stdout.contains("\"name\": \"echo\""), "{stdout}");
    assert_clean("stdout", &stdout);
    assert_clean("stderr", &stderr);
    for f in ["c.json", "r.json", "r.xml"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.len() > 100, "{f} is nearly empty");
        assert_clean(f, &text);
    }
}

#[test]
fn no_secret_in_a_dry_run() {
    let (dir, _) = setup();
    let pin_arg = format!("pin={PIN}");
    let o = rbk(
        &dir,
        &[
            "run",
            "vault.rbk",
            "main",
            "--arg",
            &pin_arg,
            "--dry-run",
            "-vv",
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("would send"), "{stderr}");
    assert!(stderr.contains("POST http://"), "{stderr}");
    assert_clean("stderr", &stderr);
    assert_clean("stdout", &String::from_utf8_lossy(&o.stdout));
}

#[test]
fn a_failing_step_masks_its_error() {
    let (dir, _) = setup();
    let o = rbk(
        &dir,
        &[
            "run",
            "vault.rbk",
            "failing",
            "-vv",
            "--report",
            "json=f.json",
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    assert!(stderr.contains("/fail/•••"), "{stderr}");
    assert_clean("stderr", &stderr);
    let report = std::fs::read_to_string(dir.join("f.json")).unwrap();
    assert_clean("report", &report);
}

#[test]
fn a_call_masks_its_outputs() {
    let (dir, _) = setup();
    let o = rbk(&dir, &["call", "vault.rbk", "basicauth.get", "-v"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("•••"), "{stdout}");
    assert_clean("stdout", &stdout);
    assert_clean("stderr", &String::from_utf8_lossy(&o.stderr));
}
