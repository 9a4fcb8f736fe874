//! `sign_hmac`, `sign_x509` and `jwt_assertion`: the real binary against an
//! in-process server that records what it receives; every signature is
//! checked by independent implementations (the openssl CLI, Python's
//! `hmac`, `cryptography` and PyJWT). Keys and certificates are made by the
//! openssl CLI in a temporary directory.
//!
//! In CI (`CI` set) a missing openssl or Python module fails the test; on a
//! developer machine without them the test returns early.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;

const HMAC_KEY: &str = "hk-5ecr3t-Q9w7e";
const JWT_SECRET: &str = "jwt-5ecr3t-Z8x6c-long-enough-for-hs256";
const PFX_PASS: &str = "pfx-5ecr3t-P4s5";
const BODY: &str = "{\"ticket\":42,\"note\":\"caf\u{e9} \u{2713}\"}";

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    tokens_issued: Mutex<u32>,
}

type Shared = Arc<Recorder>;

async fn handle(
    State(rec): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, String); 2], String) {
    let seen = Seen {
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let auth = seen.header("authorization").unwrap_or_default();
    rec.seen.lock().unwrap().push(seen);
    let json = |status: StatusCode, body: String| {
        (
            status,
            [
                ("content-type", "application/json".to_string()),
                ("x-rbk-test", "1".to_string()),
            ],
            body,
        )
    };
    let redirect_with = |status: StatusCode, to: String| {
        (
            status,
            [("location", to), ("content-type", "text/plain".to_string())],
            String::new(),
        )
    };
    let redirect = |to: String| {
        (
            StatusCode::FOUND,
            [("location", to), ("content-type", "text/plain".to_string())],
            String::new(),
        )
    };
    match uri.path() {
        "/token" => {
            let mut n = rec.tokens_issued.lock().unwrap();
            *n += 1;
            json(
                StatusCode::OK,
                format!(
                    r#"{{"access_token":"at-{n}-5ecr3t-tok","token_type":"Bearer","expires_in":3600}}"#
                ),
            )
        }
        "/token-html" => (
            StatusCode::OK,
            [
                ("content-type", "text/html".to_string()),
                ("x-rbk-test", "1".to_string()),
            ],
            "<html><body>Sign in</body></html>".into(),
        ),
        // A JSON-style JWT login: bearer JWT in, `token`/`expiresIn` out.
        "/token-json" => json(
            StatusCode::OK,
            r#"{"token":"jt-5ecr3t-tok","expiresIn":3600}"#.into(),
        ),
        "/token-noat" => json(StatusCode::OK, r#"{"result":"x","scope":"a"}"#.into()),
        // The first token is refused once: rbk must fetch a new one.
        "/guarded" if auth == "Bearer at-1-5ecr3t-tok" => {
            json(StatusCode::UNAUTHORIZED, "{}".into())
        }
        "/redir-same" => redirect("/landed".into()),
        "/redir-307" => redirect_with(StatusCode::TEMPORARY_REDIRECT, "/landed-307".into()),
        "/redir-303" => redirect_with(StatusCode::SEE_OTHER, "/landed-303".into()),
        "/redir-loop" => redirect("/redir-loop".into()),
        // `?to=URL`: a redirect to another origin.
        "/redir-away" => redirect(
            percent_encoding::percent_decode_str(
                uri.query().unwrap_or("").trim_start_matches("to="),
            )
            .decode_utf8_lossy()
            .into_owned(),
        ),
        _ => json(StatusCode::OK, r#"{"ok":true}"#.into()),
    }
}

fn start_server() -> (SocketAddr, Shared) {
    let rec: Shared = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let state = rec.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new().fallback(any(handle)).with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), rec)
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
        "this test needs `{program} {}` (run `bash .ci/run`, or source .ci/setup-auth-sign.sh first)",
        args.join(" ")
    );
}

fn tools() {
    need("openssl", &["version"]);
    need("python3", &["-c", "import hmac, jwt, cryptography"]);
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rbk-auth-sign-{name}-{}-{}",
        std::process::id(),
        fastrand_u64()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// An RSA key, a self-signed certificate and a PFX of both.
fn make_cert(dir: &Path) {
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rbk-signer",
        ])
        .current_dir(dir));
    run(Command::new("openssl")
        .args(["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"])
        .current_dir(dir));
    run(Command::new("openssl")
        .args([
            "pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-out", "cert.pfx",
            "-passout",
        ])
        .arg(format!("pass:{PFX_PASS}"))
        .current_dir(dir));
}

fn rbk(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RBK_T_HMAC", HMAC_KEY)
        .env("RBK_T_JWT", JWT_SECRET)
        .env("RBK_T_PFX", PFX_PASS)
        .output()
        .expect("rbk runs")
}

fn rbk_ok(dir: &Path, args: &[&str]) -> Output {
    let o = rbk(dir, args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "rbk {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn python(dir: &Path, script: &str, args: &[&str]) -> String {
    std::fs::write(dir.join("check.py"), script).unwrap();
    let o = run(Command::new("python3")
        .arg("check.py")
        .args(args)
        .current_dir(dir));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn seen(rec: &Shared, path: &str) -> Vec<Seen> {
    rec.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == path)
        .cloned()
        .collect()
}

// ---------------------------------------------------------------- sign_hmac

fn hmac_program(addr: SocketAddr) -> String {
    format!(
        r#"
instance local {{ url = "http://{addr}" }}

integration h256 {{
  base_url = "{{instance.url}}"
  auth sign_hmac {{
    key = secret("RBK_T_HMAC")
    header = "X-Partner-Signature"
    prefix = "sha256="
    timestamp_header = "X-Partner-Timestamp"
  }}
}}

integration h512 {{
  base_url = "{{instance.url}}"
  auth sign_hmac {{
    key = secret("RBK_T_HMAC")
    algorithm = sha512
    encoding = base64
  }}
}}

integration h1 {{
  base_url = "{{instance.url}}"
  auth sign_hmac {{
    key = secret("RBK_T_HMAC")
    algorithm = sha1
    encoding = hex
    header = "X-Hub-Signature"
    prefix = "sha1="
  }}
}}

method h256.send(text: string) {{
  POST "/h256"
  body text text as "application/json"
}}

method h512.send(text: string) {{
  PUT "/h512"
  body text text as "application/json"
}}

method h1.send(text: string) {{
  POST "/h1"
  body text text as "application/json"
}}

method h1.empty() {{
  GET "/h1-empty"
}}

runbook main(text: string) {{
  step a = h256.send(text: text)
  step b = h512.send(text: text)
  step c = h1.send(text: text)
  step d = h1.empty()
}}
"#
    )
}

const PY_HMAC: &str = r#"
import hmac, hashlib, base64, sys
key, alg, enc, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
data = open(path, "rb").read()
mac = hmac.new(key.encode(), data, getattr(hashlib, alg)).digest()
print(mac.hex() if enc == "hex" else base64.b64encode(mac).decode())
"#;

/// `openssl dgst -hmac` of a file, in hex.
fn openssl_hmac(dir: &Path, alg: &str, file: &str) -> String {
    let o = run(Command::new("openssl")
        .args(["dgst", &format!("-{alg}"), "-hmac", HMAC_KEY, "-r", file])
        .current_dir(dir));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn sign_hmac_signatures_verify_with_openssl_and_python() {
    tools();
    let (addr, rec) = start_server();
    let dir = tempdir("hmac");
    std::fs::write(dir.join("h.rbk"), hmac_program(addr)).unwrap();
    let arg = format!("text={BODY}");
    rbk_ok(&dir, &["run", "h.rbk", "main", "--arg", &arg]);

    // sha256, hex, prefix, timestamp: signs "TIMESTAMP.BODY".
    let a = &seen(&rec, "/h256")[0];
    assert_eq!(a.body, BODY.as_bytes());
    let ts = a.header("x-partner-timestamp").expect("timestamp header");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t: u64 = ts.parse().expect("Unix seconds");
    assert!(t <= now && now - t < 60, "timestamp {t} vs now {now}");
    let mut signed = ts.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&a.body);
    std::fs::write(dir.join("a.bin"), &signed).unwrap();
    let sig = a.header("x-partner-signature").expect("signature header");
    let want = openssl_hmac(&dir, "sha256", "a.bin");
    assert_eq!(sig, format!("sha256={want}"));
    let py = python(&dir, PY_HMAC, &[HMAC_KEY, "sha256", "hex", "a.bin"]);
    assert_eq!(sig, format!("sha256={py}"));

    // sha512, base64, default header, no prefix: signs the body alone.
    let b = &seen(&rec, "/h512")[0];
    std::fs::write(dir.join("b.bin"), &b.body).unwrap();
    let sig = b.header("x-signature").expect("X-Signature");
    let py = python(&dir, PY_HMAC, &[HMAC_KEY, "sha512", "base64", "b.bin"]);
    assert_eq!(sig, py);
    let hex = openssl_hmac(&dir, "sha512", "b.bin");
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sig.as_bytes())
        .unwrap();
    let raw_hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(raw_hex, hex);

    // sha1, hex.
    let c = &seen(&rec, "/h1")[0];
    std::fs::write(dir.join("c.bin"), &c.body).unwrap();
    let sig = c.header("x-hub-signature").expect("X-Hub-Signature");
    assert_eq!(sig, format!("sha1={}", openssl_hmac(&dir, "sha1", "c.bin")));
    let py = python(&dir, PY_HMAC, &[HMAC_KEY, "sha1", "hex", "c.bin"]);
    assert_eq!(sig, format!("sha1={py}"));

    // No body: the HMAC of the empty string.
    let d = &seen(&rec, "/h1-empty")[0];
    assert!(d.body.is_empty());
    std::fs::write(dir.join("d.bin"), b"").unwrap();
    assert_eq!(
        d.header("x-hub-signature").unwrap(),
        format!("sha1={}", openssl_hmac(&dir, "sha1", "d.bin"))
    );
}

#[test]
fn signature_headers_do_not_follow_a_redirect_to_another_origin() {
    let (addr, rec) = start_server();
    let (other, other_rec) = start_server();
    let dir = tempdir("redirect");
    let program = format!(
        r#"
instance local {{ url = "http://{addr}" }}

integration h {{
  base_url = "{{instance.url}}"
  auth sign_hmac {{ key = secret("RBK_T_HMAC") }}
}}

method h.same() {{
  GET "/redir-same"
}}

method h.away() {{
  GET "/redir-away"
  query {{ to = "http://{other}/away" }}
  expect [200..299, 302]
}}

runbook main() {{
  step a = h.same()
  step b = h.away()
  return {{ away: b.status }}
}}
"#
    );
    std::fs::write(dir.join("r.rbk"), program).unwrap();
    let o = rbk_ok(&dir, &["run", "r.rbk", "main"]);
    // Same origin: followed, signed.
    let landed = seen(&rec, "/landed");
    assert_eq!(landed.len(), 1);
    assert!(landed[0].header("x-signature").is_some());
    // Another origin: not followed; the 302 is the method's answer.
    assert!(other_rec.seen.lock().unwrap().is_empty());
    assert!(String::from_utf8_lossy(&o.stdout).contains("302"));
}

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn each_redirect_hop_is_signed_for_its_own_origin_only() {
    tools();
    let (addr, rec) = start_server();
    let (other, other_rec) = start_server();
    let dir = tempdir("hops");
    let program = format!(
        r#"
instance local {{ url = "http://{addr}" }}

integration h {{
  base_url = "{{instance.url}}"
  headers {{
    "X-Trace" = "trace-1"
    "X-Api-Token" = secret("RBK_T_HMAC")
  }}
  auth sign_hmac {{ key = secret("RBK_T_HMAC") }}
}}

method h.keep(text: string) {{
  POST "/redir-307"
  body text text as "application/json"
}}

method h.see_other(text: string) {{
  POST "/redir-303"
  body text text as "application/json"
}}

method h.away() {{
  GET "/redir-away"
  query {{ to = "http://{other}/away" }}
}}

method h.forever() {{
  GET "/redir-loop"
}}

runbook main(text: string) {{
  step a = h.keep(text: text)
  step b = h.see_other(text: text)
  step c = h.away()
  return {{ away: c.status }}
}}
"#
    );
    std::fs::write(dir.join("r.rbk"), program).unwrap();
    let o = rbk_ok(
        &dir,
        &["run", "r.rbk", "main", "--arg", &format!("text={BODY}")],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\"away\": 200"), "{out}");
    // 307: the same POST and body again, signed afresh over that body.
    let first = seen(&rec, "/redir-307");
    let landed = seen(&rec, "/landed-307");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].body, BODY.as_bytes());
    std::fs::write(dir.join("body-307"), &landed[0].body).unwrap();
    let expected = openssl_hmac(&dir, "sha256", "body-307");
    assert_eq!(landed[0].header("x-signature"), Some(expected.clone()));
    assert_eq!(first[0].header("x-signature"), Some(expected));
    // 303: a GET without a body, whose signature is over the empty body.
    let landed = seen(&rec, "/landed-303");
    assert_eq!(landed.len(), 1);
    assert!(landed[0].body.is_empty());
    assert_eq!(landed[0].header("content-type"), None);
    std::fs::write(dir.join("empty"), b"").unwrap();
    let empty = python(&dir, PY_HMAC, &[HMAC_KEY, "sha256", "hex", "empty"]);
    assert_eq!(landed[0].header("x-signature"), Some(empty));
    assert_eq!(landed[0].header("x-trace").as_deref(), Some("trace-1"));
    // Another origin: followed, with neither the signature nor the header
    // that holds a secret; the plain header stays.
    let away = other_rec.seen.lock().unwrap().clone();
    assert_eq!(away.len(), 1, "{away:?}");
    assert_eq!(away[0].path, "/away");
    assert_eq!(away[0].header("x-signature"), None);
    assert_eq!(away[0].header("x-api-token"), None);
    assert_eq!(away[0].header("x-trace").as_deref(), Some("trace-1"));
    // A redirect loop stops after 10 hops with a clear error.
    let o = rbk(&dir, &["call", "r.rbk", "h.forever"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("too many redirects"), "{err}");
    assert_eq!(seen(&rec, "/redir-loop").len(), 11);
    assert!(!err.contains(HMAC_KEY));
}

// ---------------------------------------------------------------- sign_x509

fn x509_program(addr: SocketAddr) -> String {
    format!(
        r#"
instance local {{ url = "http://{addr}" }}

integration pkcs1 {{
  base_url = "{{instance.url}}"
  auth sign_x509 {{
    certificate = pem(cert: file("cert.pem"), key: file("key.pem"))
    thumbprint_header = "X-Cert-Thumbprint"
  }}
}}

integration pss {{
  base_url = "{{instance.url}}"
  auth sign_x509 {{
    certificate = pfx(bytes("cert.pfx"), password: secret("RBK_T_PFX"))
    algorithm = rsa_pss_sha256
    header = "X-Ledger-Signature"
    encoding = hex
  }}
}}

method pkcs1.send(text: string) {{
  POST "/pkcs1"
  body text text as "application/json"
}}

method pss.send(text: string) {{
  POST "/pss"
  body text text as "application/json"
}}

runbook main(text: string) {{
  step a = pkcs1.send(text: text)
  step b = pss.send(text: text)
}}
"#
    )
}

const PY_X509: &str = r#"
import sys, base64
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
cert = x509.load_pem_x509_certificate(open("cert.pem", "rb").read())
data = open(sys.argv[2], "rb").read()
sig = open(sys.argv[3], "rb").read()
if sys.argv[1] == "pkcs1":
    pad = padding.PKCS1v15()
else:
    pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
cert.public_key().verify(sig, data, pad, hashes.SHA256())
print("verified", cert.fingerprint(hashes.SHA1()).hex().upper())
"#;

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn sign_x509_signatures_verify_with_openssl_and_python() {
    tools();
    let (addr, rec) = start_server();
    let dir = tempdir("x509");
    make_cert(&dir);
    std::fs::write(dir.join("x.rbk"), x509_program(addr)).unwrap();
    let arg = format!("text={BODY}");
    rbk_ok(&dir, &["run", "x.rbk", "main", "--arg", &arg]);
    use base64::Engine as _;

    // PKCS#1 v1.5, base64, the SHA-1 thumbprint in upper-case hex.
    let a = &seen(&rec, "/pkcs1")[0];
    std::fs::write(dir.join("a.bin"), &a.body).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(a.header("x-signature").expect("X-Signature"))
        .unwrap();
    std::fs::write(dir.join("a.sig"), &sig).unwrap();
    let o = run(Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "a.sig",
            "a.bin",
        ])
        .current_dir(&dir));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Verified OK"));
    let py = python(&dir, PY_X509, &["pkcs1", "a.bin", "a.sig"]);
    let fp = run(Command::new("openssl")
        .args(["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"])
        .current_dir(&dir));
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap().replace(':', "");
    assert_eq!(a.header("x-cert-thumbprint").as_deref(), Some(fp.as_str()));
    assert_eq!(py, format!("verified {fp}"));

    // PSS (salt 32 = SHA-256 length, MGF1-SHA-256) from the PFX, hex.
    let b = &seen(&rec, "/pss")[0];
    std::fs::write(dir.join("b.bin"), &b.body).unwrap();
    let hex = b.header("x-ledger-signature").expect("X-Ledger-Signature");
    let sig: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(sig.len(), 256);
    std::fs::write(dir.join("b.sig"), &sig).unwrap();
    let o = run(Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
            "-signature",
            "b.sig",
            "b.bin",
        ])
        .current_dir(&dir));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Verified OK"));
    python(&dir, PY_X509, &["pss", "b.bin", "b.sig"]);
    // PKCS#1 v1.5 must not verify as PSS (the algorithms really differ).
    let o = Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "a.sig",
            "-sigopt",
            "rsa_padding_mode:pss",
            "a.bin",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
}

// ------------------------------------------------------------ jwt_assertion

fn jwt_program(addr: SocketAddr, token_path: &str) -> String {
    format!(
        r#"
instance local {{ url = "http://{addr}" }}

integration hs {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = HS256
    key = secret("RBK_T_JWT")
    key_id = "hs-key-1"
    token_url = "{{instance.url}}{token_path}"
    issuer = "rbk-hs@example.test"
    subject = "user@example.test"
    scope = "read write"
    lifetime = 10m
    claims {{
      tenant = "acme"
      level = 3
    }}
  }}
}}

integration rs {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = RS256
    key = file("key.pem")
    token_url = "{{instance.url}}{token_path}"
    issuer = "rbk-rs@example.test"
    audience = "https://oauth2.example.test/token"
  }}
}}

integration ps {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = PS256
    key = pfx(bytes("cert.pfx"), password: secret("RBK_T_PFX"))
    token_url = "{{instance.url}}{token_path}"
    issuer = "rbk-ps@example.test"
    header = "X-Access-Token"
    prefix = ""
  }}
}}

integration direct {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = RS256
    key = pem(cert: file("cert.pem"), key: file("key.pem"))
    audience = "https://api.example.test"
    issuer = "rbk-direct"
    request = direct
  }}
}}

integration jsonx {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = RS256
    key = file("key.pem")
    token_url = "{{instance.url}}/token-json"
    issuer = "rbk-json"
    scope = "tickets"
    request = json
  }}
}}

method hs.get() {{
  GET "/hs"
}}

method hs.guarded() {{
  GET "/guarded"
}}

method rs.get() {{
  GET "/rs"
}}

method ps.get() {{
  GET "/ps"
}}

method direct.get() {{
  GET "/direct"
}}

method jsonx.get() {{
  GET "/jsonx"
}}

runbook main() {{
  step a = hs.get()
  step b = hs.get()
  step c = rs.get()
  step d = ps.get()
  step e = direct.get()
  step f = jsonx.get()
  step g = jsonx.get()
}}

runbook guarded() {{
  step a = hs.guarded()
  step b = hs.guarded()
}}

runbook one() {{
  step a = hs.get()
}}

runbook fan_out() {{
  for i in [1, 2, 3, 4, 5, 6, 7, 8] parallel 8 {{
    step a = hs.get()
  }}
}}
"#
    )
}

/// Verifies a JWT with PyJWT and prints `{"header":..., "claims":...}`.
const PY_JWT: &str = r#"
import sys, json, jwt
token, alg, keyfile, aud = sys.argv[1:5]
key = open(keyfile).read() if alg != "HS256" else keyfile
if alg != "HS256":
    from cryptography import x509
    if "CERTIFICATE" in key:
        key = x509.load_pem_x509_certificate(key.encode()).public_key()
claims = jwt.decode(token, key, algorithms=[alg], audience=aud,
                    options={"require": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]})
print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}))
"#;

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn verify_jwt(dir: &Path, token: &str, alg: &str, key: &str, aud: &str) -> serde_json::Value {
    let out = python(dir, PY_JWT, &[token, alg, key, aud]);
    serde_json::from_str(&out).unwrap()
}

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn jwt_assertion_tokens_verify_with_pyjwt_and_are_reused() {
    tools();
    let (addr, rec) = start_server();
    let dir = tempdir("jwt");
    make_cert(&dir);
    std::fs::write(dir.join("j.rbk"), jwt_program(addr, "/token")).unwrap();
    rbk_ok(&dir, &["run", "j.rbk", "main"]);
    let token_url = format!("http://{addr}/token");

    // Three exchanges: hs (reused by its second step), rs, ps.
    let tokens = seen(&rec, "/token");
    assert_eq!(tokens.len(), 3, "{tokens:#?}");
    for t in &tokens {
        assert_eq!(
            t.header("content-type").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            form_field(&t.body, "grant_type").as_deref(),
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        );
    }

    // HS256 with kid, scope, lifetime and extra claims.
    let hs = &tokens[0];
    assert_eq!(form_field(&hs.body, "scope").as_deref(), Some("read write"));
    let jwt = form_field(&hs.body, "assertion").unwrap();
    let v = verify_jwt(&dir, &jwt, "HS256", JWT_SECRET, &token_url);
    assert_eq!(v["header"]["kid"], "hs-key-1");
    assert_eq!(v["header"]["alg"], "HS256");
    let c = &v["claims"];
    assert_eq!(c["iss"], "rbk-hs@example.test");
    assert_eq!(c["sub"], "user@example.test");
    assert_eq!(c["aud"], token_url.as_str());
    assert_eq!(c["tenant"], "acme");
    assert_eq!(c["level"], 3);
    let iat = c["iat"].as_u64().unwrap();
    assert_eq!(c["nbf"].as_u64().unwrap(), iat);
    assert_eq!(c["exp"].as_u64().unwrap(), iat + 600);
    assert_eq!(c["jti"].as_str().unwrap().len(), 36);
    for s in seen(&rec, "/hs") {
        assert_eq!(
            s.header("authorization").as_deref(),
            Some("Bearer at-1-5ecr3t-tok")
        );
    }
    assert_eq!(seen(&rec, "/hs").len(), 2);

    // RS256 with a PEM key; audience given; subject defaults to issuer.
    let jwt = form_field(&tokens[1].body, "assertion").unwrap();
    let v = verify_jwt(
        &dir,
        &jwt,
        "RS256",
        "pub.pem",
        "https://oauth2.example.test/token",
    );
    assert_eq!(v["claims"]["sub"], "rbk-rs@example.test");
    assert_eq!(
        v["claims"]["exp"].as_u64().unwrap() - v["claims"]["iat"].as_u64().unwrap(),
        300
    );
    assert!(v["header"].get("kid").is_none());
    assert_eq!(
        seen(&rec, "/rs")[0].header("authorization").as_deref(),
        Some("Bearer at-2-5ecr3t-tok")
    );

    // PS256 with a PFX: kid = thumbprint, x5t and x5t#S256; custom header.
    let jwt = form_field(&tokens[2].body, "assertion").unwrap();
    let v = verify_jwt(&dir, &jwt, "PS256", "cert.pem", &token_url);
    let fp = run(Command::new("openssl")
        .args(["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"])
        .current_dir(&dir));
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap().replace(':', "");
    assert_eq!(v["header"]["kid"], fp.as_str());
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw: Vec<u8> = (0..fp.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&fp[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(v["header"]["x5t"], b64.encode(&raw).as_str());
    let fp256 = run(Command::new("openssl")
        .args([
            "x509",
            "-in",
            "cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ])
        .current_dir(&dir));
    let fp256 = String::from_utf8_lossy(&fp256.stdout);
    let fp256 = fp256.trim().rsplit('=').next().unwrap().replace(':', "");
    let raw256: Vec<u8> = (0..fp256.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&fp256[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(v["header"]["x5t#S256"], b64.encode(&raw256).as_str());
    let ps = &seen(&rec, "/ps")[0];
    assert_eq!(
        ps.header("x-access-token").as_deref(),
        Some("at-3-5ecr3t-tok")
    );
    assert!(ps.header("authorization").is_none());

    // request = direct: the JWT itself is the bearer token, no exchange.
    let d = &seen(&rec, "/direct")[0];
    let bearer = d.header("authorization").unwrap();
    let jwt = bearer.strip_prefix("Bearer ").unwrap();
    let v = verify_jwt(&dir, jwt, "RS256", "cert.pem", "https://api.example.test");
    assert_eq!(v["claims"]["iss"], "rbk-direct");

    // request = json: the JWT as a bearer header with a JSON body, once;
    // the token from the answer is reused by the second step.
    let tj = seen(&rec, "/token-json");
    assert_eq!(tj.len(), 1, "{tj:#?}");
    assert_eq!(
        tj[0].header("content-type").as_deref(),
        Some("application/json")
    );
    let jwt = tj[0]
        .header("authorization")
        .and_then(|b| b.strip_prefix("Bearer ").map(str::to_string))
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&tj[0].body).unwrap();
    assert_eq!(
        body["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(body["assertion"], jwt.as_str());
    assert_eq!(body["scope"], "tickets");
    let v = verify_jwt(
        &dir,
        &jwt,
        "RS256",
        "pub.pem",
        &format!("http://{addr}/token-json"),
    );
    assert_eq!(v["claims"]["iss"], "rbk-json");
    let calls = seen(&rec, "/jsonx");
    assert_eq!(calls.len(), 2);
    for c in calls {
        assert_eq!(
            c.header("authorization").as_deref(),
            Some("Bearer jt-5ecr3t-tok")
        );
    }
}

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn parallel_steps_share_one_jwt_assertion_token() {
    tools();
    let (addr, rec) = start_server();
    let dir = tempdir("jwtpar");
    std::fs::write(dir.join("j.rbk"), jwt_program(addr, "/token")).unwrap();
    make_cert(&dir);
    let o = rbk_ok(&dir, &["run", "j.rbk", "fan_out", "-v"]);
    // -v traces the one token request: a line, no bodies.
    let err = String::from_utf8_lossy(&o.stderr);
    let line = format!(
        "token: integration `hs`: auth jwt_assertion (jwt-bearer): POST http://{addr}/token → 200 ("
    );
    assert_eq!(err.matches(&line).count(), 1, "{err}");
    assert_eq!(
        seen(&rec, "/token").len(),
        1,
        "one token for 8 parallel steps"
    );
    let calls = seen(&rec, "/hs");
    assert_eq!(calls.len(), 8);
    assert!(
        calls
            .iter()
            .all(|c| c.header("authorization").as_deref() == Some("Bearer at-1-5ecr3t-tok"))
    );
}

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn jwt_assertion_refetches_once_after_a_401() {
    tools();
    let (addr, rec) = start_server();
    let dir = tempdir("jwt401");
    std::fs::write(dir.join("j.rbk"), jwt_program(addr, "/token")).unwrap();
    make_cert(&dir);
    rbk_ok(&dir, &["run", "j.rbk", "guarded"]);
    // Token 1 refused once, token 2 fetched, the request resent once; the
    // second step reuses token 2.
    assert_eq!(seen(&rec, "/token").len(), 2);
    let g = seen(&rec, "/guarded");
    let auths: Vec<_> = g
        .iter()
        .map(|s| s.header("authorization").unwrap())
        .collect();
    assert_eq!(
        auths,
        [
            "Bearer at-1-5ecr3t-tok",
            "Bearer at-2-5ecr3t-tok",
            "Bearer at-2-5ecr3t-tok"
        ]
    );
}

#[test]
fn jwt_assertion_token_endpoint_errors_are_clear() {
    let (addr, _rec) = start_server();
    let dir = tempdir("jwterr");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for (path, want) in [
        ("/token-html", "answered HTTP 200 with an HTML page"),
        ("/token-noat", "has no `access_token` (it has: "),
        ("CLOSED", "cannot reach `token_url`"),
    ] {
        let program = jwt_program(addr, path)
            .replace("{instance.url}CLOSED", &format!("http://{closed}/token"));
        std::fs::write(dir.join("j.rbk"), program).unwrap();
        let o = rbk(&dir, &["run", "j.rbk", "one"]);
        // Joined across the report's line breaks.
        let stderr = String::from_utf8_lossy(&o.stderr)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr.contains(want), "{path}: {stderr}");
        assert!(
            stderr.contains("integration `hs`: auth jwt_assertion"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains(JWT_SECRET), "{stderr}");
    }
}

// ------------------------------------------------------------------ secrets

#[test]
#[ignore = "needs openssl and python3 with PyJWT and cryptography: installed by .ci/run"]
fn signing_keys_and_tokens_never_reach_any_output() {
    tools();
    let (addr, _rec) = start_server();
    let dir = tempdir("secrets");
    make_cert(&dir);
    std::fs::write(dir.join("j.rbk"), jwt_program(addr, "/token")).unwrap();
    std::fs::write(dir.join("h.rbk"), hmac_program(addr)).unwrap();
    std::fs::write(dir.join("x.rbk"), x509_program(addr)).unwrap();
    let key_pem = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    let key_line = key_pem.lines().nth(3).unwrap().to_string();
    let planted = [
        HMAC_KEY.to_string(),
        JWT_SECRET.to_string(),
        PFX_PASS.to_string(),
        "5ecr3t-tok".to_string(),
        key_line,
        // The start of every signed JWT header.
        "eyJ0eXAiOiJKV1Qi".to_string(),
        "eyJhbGciOi".to_string(),
    ];
    let arg = format!("text={BODY}");
    let mut runs: Vec<Vec<&str>> = Vec::new();
    let files = [("j.rbk", "1"), ("h.rbk", "2"), ("x.rbk", "3")];
    let names: Vec<(String, String)> = files
        .iter()
        .map(|(_, n)| (format!("c{n}.json"), format!("json=r{n}.json")))
        .collect();
    for ((file, _), (c, r)) in files.iter().zip(&names) {
        let mut real = vec!["run", file, "main", "-vv", "--record", c, "--report", r];
        let mut dry = vec!["run", file, "main", "--dry-run", "-vv"];
        if *file != "j.rbk" {
            real.extend(["--arg", &arg]);
            dry.extend(["--arg", &arg]);
        }
        runs.push(real);
        runs.push(dry);
    }
    for args in runs {
        let o = rbk_ok(&dir, &args);
        for (what, text) in [
            ("stdout", String::from_utf8_lossy(&o.stdout)),
            ("stderr", String::from_utf8_lossy(&o.stderr)),
        ] {
            for s in &planted {
                assert!(
                    !text.contains(s.as_str()),
                    "{args:?} {what} leaks `{s}`:\n{text}"
                );
            }
        }
    }
    for f in [
        "c1.json", "r1.json", "c2.json", "r2.json", "c3.json", "r3.json",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.len() > 100, "{f} is nearly empty");
        for s in &planted {
            assert!(!text.contains(s.as_str()), "{f} leaks `{s}`:\n{text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
