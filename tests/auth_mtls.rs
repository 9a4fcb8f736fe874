//! `auth mtls` against Debian's nginx with `ssl_verify_client on` and a CA
//! made by the openssl CLI in the test: PEM and PFX identities are
//! accepted; no certificate, a certificate from another CA, a wrong PFX
//! password and a PEM that is not a key fail with clear errors.
//!
//! Each test starts its own nginx on a free 127.0.0.1 port and stops it at
//! the end. In CI (`CI` set) a missing nginx or openssl fails the test; on
//! a developer machine without them the test returns early.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PFX_PASS: &str = "pfx-5ecr3t-M7n8";

fn nginx_path() -> String {
    std::env::var("RBK_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into())
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

fn tempdir(name: &str) -> PathBuf {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("rbk-mtls-{name}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA; a server certificate for 127.0.0.1; a client certificate from
/// the CA (PEM and PFX); a client certificate from another CA.
fn make_pki(dir: &Path) {
    let ossl = "openssl";
    run(
        dir,
        &[
            ossl,
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
            "/CN=rbk test CA",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ca, ext) in [
        ("server", "ca", "server.ext"),
        ("client", "ca", "client.ext"),
        ("other", "", "client.ext"),
    ] {
        run(
            dir,
            &[
                ossl,
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN=rbk-{name}"),
            ],
        );
        if ca.is_empty() {
            run(
                dir,
                &[
                    ossl,
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-signkey",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                ],
            );
        } else {
            run(
                dir,
                &[
                    ossl,
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                ],
            );
        }
    }
    run(
        dir,
        &[
            ossl,
            "pkcs12",
            "-export",
            "-in",
            "client.pem",
            "-inkey",
            "client.key",
            "-out",
            "client.pfx",
            "-passout",
            &format!("pass:{PFX_PASS}"),
        ],
    );
}

/// nginx in the foreground, one process, killed on drop.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &Path, verify_client: bool) -> Nginx {
    let port = free_port();
    let d = dir.display();
    let verify = if verify_client {
        format!("ssl_client_certificate {d}/ca.pem;\n      ssl_verify_client on;")
    } else {
        String::new()
    };
    let conf = format!(
        r#"
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    {verify}
    location / {{
      default_type application/json;
      return 200 '{{"ok":true,"client":"$ssl_client_s_dn","verify":"$ssl_client_verify"}}';
    }}
  }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx_path())
        .args(["-e", &format!("{d}/error.log"), "-p", &format!("{d}"), "-c"])
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, port };
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

fn program(port: u16) -> String {
    format!(
        r#"
instance local {{ url = "https://127.0.0.1:{port}" }}

integration pem_ok {{
  base_url = "{{instance.url}}"
  tls {{ ca_cert = file("ca.pem") }}
  auth mtls {{ certificate = pem(cert: file("client.pem"), key: file("client.key")) }}
}}

integration pfx_ok {{
  base_url = "{{instance.url}}"
  tls {{ ca_cert = file("ca.pem") }}
  auth mtls {{ certificate = pfx(bytes("client.pfx"), password: secret("RBK_T_PFX")) }}
}}

integration nocert {{
  base_url = "{{instance.url}}"
  tls {{ ca_cert = file("ca.pem") }}
}}

integration wrong {{
  base_url = "{{instance.url}}"
  tls {{ ca_cert = file("ca.pem") }}
  auth mtls {{ certificate = pem(cert: file("other.pem"), key: file("other.key")) }}
}}

integration badpass {{
  base_url = "{{instance.url}}"
  tls {{ ca_cert = file("ca.pem") }}
  auth mtls {{ certificate = pfx(bytes("client.pfx"), password: secret("RBK_T_WRONG")) }}
}}

integration notkey {{
  base_url = "{{instance.url}}"
  tls {{ ca_cert = file("ca.pem") }}
  auth mtls {{ certificate = pem(cert: file("client.pem"), key: file("client.pem")) }}
}}

method pem_ok.who() {{
  GET "/"
  output {{ client: string = $.client }}
}}
method pfx_ok.who() {{
  GET "/"
  output {{ client: string = $.client }}
}}
method nocert.who() {{
  GET "/"
}}
method nocert.own() {{
  GET "/"
  auth mtls {{ certificate = pem(cert: file("client.pem"), key: file("client.key")) }}
  output {{ client: string = $.client }}
}}
method pem_ok.anon() {{
  GET "/"
  auth none
}}
method pem_ok.with_token() {{
  GET "/"
  auth bearer {{ token = secret("RBK_T_PFX") }}
  output {{ client: string = $.client }}
}}
method wrong.who() {{
  GET "/"
}}
method badpass.who() {{
  GET "/"
}}
method notkey.who() {{
  GET "/"
}}

runbook good() {{
  step a = pem_ok.who()
  step b = pfx_ok.who()
  return {{ a: a.client, b: b.client }}
}}
runbook nocert() {{
  step a = nocert.who()
}}
runbook wrong() {{
  step a = wrong.who()
}}
runbook badpass() {{
  step a = badpass.who()
}}
runbook notkey() {{
  step a = notkey.who()
}}
runbook own() {{
  step a = nocert.own()
  step b = pem_ok.who()
  step c = pem_ok.with_token()
  return {{ a: a.client, b: b.client, c: c.client }}
}}
runbook anon() {{
  step a = pem_ok.anon()
}}
"#
    )
}

fn rbk(dir: &Path, runbook: &str) -> (Option<i32>, String, String) {
    rbk_with(dir, runbook, &[])
}

fn rbk_with(dir: &Path, runbook: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(["run", "m.rbk", runbook, "-vv"])
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RBK_T_PFX", PFX_PASS)
        .env("RBK_T_WRONG", "not-the-password")
        .output()
        .expect("rbk runs");
    let flat = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (o.status.code(), flat(&o.stdout), flat(&o.stderr))
}

#[test]
#[ignore = "needs openssl and nginx: installed by .ci/run"]
fn mtls_with_pem_and_pfx_against_nginx() {
    need("openssl", &["version"]);
    need(&nginx_path(), &["-v"]);
    let dir = tempdir("good");
    make_pki(&dir);
    let nginx = start_nginx(&dir, true);
    std::fs::write(dir.join("m.rbk"), program(nginx.port)).unwrap();

    let (code, out, err) = rbk(&dir, "good");
    assert_eq!(code, Some(0), "{out}\n{err}");
    // nginx saw the client certificate from the PEM and from the PFX.
    assert_eq!(out.matches("CN=rbk-client").count(), 2, "{out}");

    // Without a certificate nginx answers 400 and the step fails.
    let (code, out, err) = rbk(&dir, "nocert");
    assert_ne!(code, Some(0));
    assert!(err.contains("400"), "{out}\n{err}");

    // A certificate from another CA: refused by nginx.
    let (code, out, err) = rbk(&dir, "wrong");
    assert_ne!(code, Some(0));
    assert!(err.contains("400"), "{out}\n{err}");
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(
        log.contains("client SSL certificate verify error")
            || log.contains("client sent no required SSL certificate"),
        "{log}"
    );

    // Wrong PFX password: named integration and field, no password shown.
    let (code, _, err) = rbk(&dir, "badpass");
    assert_ne!(code, Some(0));
    assert!(err.contains("integration `badpass`"), "{err}");
    assert!(err.contains("auth mtls: certificate"), "{err}");
    assert!(err.contains("wrong password"), "{err}");
    assert!(
        !err.contains(PFX_PASS) && !err.contains("not-the-password"),
        "{err}"
    );

    // A method's own `auth mtls` presents its certificate on an
    // integration without one; `auth none` presents none on one with it.
    // A method's own bearer token goes over the integration's mTLS.
    let (code, out, err) = rbk(&dir, "own");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(out.matches("CN=rbk-client").count(), 3, "{out}");
    let (code, out, err) = rbk(&dir, "anon");
    assert_ne!(code, Some(0));
    assert!(err.contains("400"), "{out}\n{err}");

    // The PFX password and the private key reach no output: stdout and
    // stderr under -vv, a dry run, the JSON report, the cassette.
    let key = std::fs::read_to_string(dir.join("client.key")).unwrap();
    let key_line = key
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 40)
        .unwrap()
        .to_string();
    let (code, out, err) = rbk_with(
        &dir,
        "good",
        &["--report", "json=report.json", "--record", "cassette.json"],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let (_, dry_out, dry_err) = rbk_with(&dir, "good", &["--dry-run"]);
    let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let cassette = std::fs::read_to_string(dir.join("cassette.json")).unwrap();
    assert!(cassette.contains("CN=rbk-client"), "{cassette}");
    for (what, text) in [
        ("stdout", &out),
        ("stderr", &err),
        ("dry-run", &dry_out),
        ("dry-run stderr", &dry_err),
        ("report", &report),
        ("cassette", &cassette),
    ] {
        assert!(!text.contains(PFX_PASS), "{what}: {text}");
        assert!(!text.contains(&key_line), "{what}: {text}");
        assert!(!text.contains("PRIVATE KEY"), "{what}: {text}");
    }

    // A PEM `key:` that holds a certificate.
    let (code, _, err) = rbk(&dir, "notkey");
    assert_ne!(code, Some(0));
    assert!(err.contains("integration `notkey`"), "{err}");
    assert!(err.contains("auth mtls: certificate: key:"), "{err}");
    assert!(err.contains("no private key"), "{err}");
    drop(nginx);
    let _ = std::fs::remove_dir_all(&dir);
}
