//! `auth jwt_assertion` (`request = form`, the RFC 7523 JWT bearer grant)
//! against Authlib's `JWTBearerGrant`, started by `.ci/setup-jwt-bearer.sh`
//! (`.ci/jwt_bearer/server.py`). Authlib checks every assertion rbk signs
//! (signature, `alg` and `kid` against the client's key, `iss sub aud exp
//! nbf iat jti`) and its `ResourceProtector` checks every token rbk sends:
//! the .rbk method calls the server's protected `/resource`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

mod auth_support;
use auth_support::{Dir, assert_no_secrets, get_json, text};

/// The shared secret of the HS256 clients (`server.py` has the same).
const HS_SECRET: &str = "jwt-bearer-hs-secret-Planted-4c1d9e7a0b2f";
const WRONG_SECRET: &str = "jwt-bearer-wrong-secret-Planted-77e01b5c93d4";

struct Server {
    url: String,
    /// The RSA private key (PEM text) of rbk-jwt-rs and rbk-jwt-ps.
    key_pem: String,
    /// A certificate for that key (PEM text).
    cert_pem: String,
}

/// The server from `.ci/setup-jwt-bearer.sh`; its absence fails the test
/// (the tests that need it are ignored unless asked for).
fn server() -> Server {
    match (
        std::env::var("RBK_JWT_BEARER_URL"),
        std::env::var("RBK_JWT_BEARER_KEY"),
        std::env::var("RBK_JWT_BEARER_CERT"),
    ) {
        (Ok(url), Ok(key), Ok(cert)) => Server {
            url,
            key_pem: std::fs::read_to_string(&key).unwrap_or_else(|e| panic!("{key}: {e}")),
            cert_pem: std::fs::read_to_string(&cert).unwrap_or_else(|e| panic!("{cert}: {e}")),
        },
        _ => panic!(
            "this test needs the Authlib JWT bearer server: RBK_JWT_BEARER_URL / RBK_JWT_BEARER_KEY / RBK_JWT_BEARER_CERT are not set (run `bash .ci/run`, or source .ci/setup-jwt-bearer.sh first)"
        ),
    }
}

impl Server {
    fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    fn stats(&self) -> Json {
        get_json(&format!("{}/stats", self.url))
    }

    /// Tokens Authlib issued for subject `sub`.
    fn grants(&self, sub: &str) -> u64 {
        self.stats()["grants_by_sub"][sub].as_u64().unwrap_or(0)
    }

    /// Token requests of subject `sub` that Authlib refused with `error`.
    fn refused(&self, sub: &str, error: &str) -> u64 {
        self.stats()["refused_by_sub"][sub][error]
            .as_u64()
            .unwrap_or(0)
    }

    /// Secrets that must never be shown: the shared secrets, the private
    /// key (whole, and each line of its base64 body).
    fn secrets(&self) -> Vec<String> {
        let mut v = vec![
            HS_SECRET.to_string(),
            WRONG_SECRET.to_string(),
            self.key_pem.trim().to_string(),
        ];
        v.extend(
            self.key_pem
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_string),
        );
        v
    }
}

/// A subject of its own for one test (`rbk-user/TAG`), so that the
/// server's counters for it are the test's alone.
fn user(tag: &str) -> String {
    format!(
        "rbk-user/{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    )
}

fn rbk(dir: &Dir, s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(args)
        .current_dir(&dir.0)
        .env("RBK_CACHE_DIR", dir.cache())
        .env("NO_COLOR", "1")
        .env("JWT_HS_SECRET", HS_SECRET)
        .env("JWT_WRONG_SECRET", WRONG_SECRET)
        .env("JWT_RS_KEY", &s.key_pem)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Calls `idp.check` and returns its outputs.
fn check(dir: &Dir, s: &Server, file: &Path) -> Json {
    let o = rbk(dir, s, &["call", file.to_str().unwrap(), "idp.check"]);
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "rbk failed:\nstdout: {out}\nstderr: {err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A program whose `idp.check` calls the protected resource with
/// `auth jwt_assertion { token_url = ".../token" <auth> }`.
fn program(s: &Server, auth: &str, resource: &str) -> String {
    format!(
        r#"
instance local {{ url = "{url}" }}

integration idp {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    token_url = "{{instance.url}}/token"
{auth}
  }}
}}

method idp.check() {{
  GET "{resource}"
  output {{
    active: bool = $.active
    client_id: string = $.client_id
    sub: string = $.sub
    scope: string = $.scope
  }}
}}

runbook main() {{
  step r = idp.check()
  return r.client_id
}}
"#,
        url = s.url
    )
}

/// No secret, and no JWT at all (a signed assertion, or any JWT, starts
/// with the base64 of `{"`).
fn assert_no_secrets_or_jwt(what: &str, text: &str, secrets: &[String]) {
    assert_no_secrets(what, text, secrets);
    assert!(!text.contains("eyJ"), "{what} shows a JWT:\n{text}");
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn hs256_token_is_accepted_cached_reused_and_listed() {
    let s = server();
    let dir = Dir::new("hs");
    let file = dir.write(
        "hs.rbk",
        &program(
            &s,
            r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-hs"
    scope = "api:read""#,
            "/resource",
        ),
    );
    // The default subject is the issuer.
    let before = s.grants("rbk-jwt-hs");
    let out = check(&dir, &s, &file);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(out["client_id"], "rbk-jwt-hs", "{out}");
    assert_eq!(out["sub"], "rbk-jwt-hs", "{out}");
    assert_eq!(out["scope"], "api:read", "{out}");
    assert_eq!(s.grants("rbk-jwt-hs"), before + 1, "one token issued");
    let tokens = dir.cached_tokens();
    assert_eq!(tokens.len(), 1, "{}", dir.tokens_file());
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir.cache().join("tokens.json")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The next run sends the cached token: Authlib still accepts it and
    // issues none (counted on a subject of this test's own).
    let sub = user("hs-cache");
    let file = dir.write(
        "hs-user.rbk",
        &program(
            &s,
            &format!(
                r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-hs"
    subject = "{sub}"
    scope = "api:read api:write""#
            ),
            "/resource",
        ),
    );
    let out = check(&dir, &s, &file);
    assert_eq!(out["sub"], sub.as_str(), "{out}");
    assert_eq!(out["scope"], "api:read api:write", "{out}");
    assert_eq!(s.grants(&sub), 1);
    let ok_before = s.stats()["resource_ok"]["rbk-jwt-hs"].as_u64().unwrap();
    let out = check(&dir, &s, &file);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(out["sub"], sub.as_str(), "{out}");
    assert_eq!(s.grants(&sub), 1, "the cached token is reused");
    assert!(s.stats()["resource_ok"]["rbk-jwt-hs"].as_u64().unwrap() > ok_before);
    assert_eq!(dir.cached_tokens().len(), 2, "{}", dir.tokens_file());
    // rbk tokens list: what, never the value.
    let o = rbk(&dir, &s, &["tokens", "list"]);
    let (list, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        list.contains("idp")
            && list.contains("jwt_bearer")
            && list.contains("rbk-jwt-hs")
            && list.contains("api:read"),
        "{list}"
    );
    let mut secrets = s.secrets();
    secrets.extend(dir.cached_tokens());
    assert_no_secrets_or_jwt("rbk tokens list", &format!("{list}{err}"), &secrets);
    // Cleared: the next run asks Authlib again.
    let (out, _) = text(&rbk(&dir, &s, &["tokens", "clear", "idp"]));
    assert!(out.contains("cleared 2"), "{out}");
    check(&dir, &s, &file);
    assert_eq!(s.grants(&sub), 2, "cleared: a new token");
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn rs256_key_from_a_secret_pem_is_accepted() {
    let s = server();
    let dir = Dir::new("rs");
    let sub = user("rs");
    let file = dir.write(
        "rs.rbk",
        &program(
            &s,
            &format!(
                r#"    algorithm = RS256
    key = secret("JWT_RS_KEY")
    issuer = "rbk-jwt-rs"
    subject = "{sub}""#
            ),
            "/resource",
        ),
    );
    let out = check(&dir, &s, &file);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(out["client_id"], "rbk-jwt-rs", "{out}");
    assert_eq!(out["sub"], sub.as_str(), "{out}");
    assert_eq!(out["scope"], "", "{out}");
    assert_eq!(s.grants(&sub), 1);
    check(&dir, &s, &file);
    assert_eq!(s.grants(&sub), 1, "the cached token is reused");
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn ps256_with_a_certificate_file_sends_its_thumbprint_as_kid() {
    let s = server();
    let dir = Dir::new("ps");
    // The server finds rbk-jwt-ps's key among two by `kid`, the
    // certificate's thumbprint, and accepts only PS256 with it.
    dir.write("cert.pem", &s.cert_pem);
    let sub = user("ps");
    let file = dir.write(
        "ps.rbk",
        &program(
            &s,
            &format!(
                r#"    algorithm = PS256
    key = pem(cert: file("cert.pem"), key: secret("JWT_RS_KEY"))
    issuer = "rbk-jwt-ps"
    subject = "{sub}"
    lifetime = 2m"#
            ),
            "/resource",
        ),
    );
    let out = check(&dir, &s, &file);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(out["client_id"], "rbk-jwt-ps", "{out}");
    assert_eq!(out["sub"], sub.as_str(), "{out}");
    assert_eq!(s.grants(&sub), 1);
    // The same key and `kid` signing RS256 are refused: the server's key
    // for that `kid` is for PS256 only.
    let rs = dir.write(
        "ps-as-rs.rbk",
        &program(
            &s,
            &format!(
                r#"    algorithm = RS256
    key = pem(cert: file("cert.pem"), key: secret("JWT_RS_KEY"))
    issuer = "rbk-jwt-ps"
    subject = "{sub}""#
            ),
            "/resource",
        ),
    );
    let fresh = Dir::new("ps-as-rs");
    let o = rbk(&fresh, &s, &["call", rs.to_str().unwrap(), "idp.check"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        flat(&err).contains("HTTP 400: invalid_grant: No key for kid"),
        "{err}"
    );
    assert_eq!(s.refused(&sub, "invalid_grant"), 1);
    assert_eq!(s.grants(&sub), 1);
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn a_401_refetches_the_token_once_and_resends_once() {
    let s = server();
    let dir = Dir::new("401");
    let sub = user("401");
    let auth = format!(
        r#"    algorithm = RS256
    key = secret("JWT_RS_KEY")
    issuer = "rbk-jwt-rs"
    subject = "{sub}""#
    );
    let warm = dir.write("warm.rbk", &program(&s, &auth, "/resource"));
    check(&dir, &s, &warm);
    assert_eq!(s.grants(&sub), 1);
    let first = dir.cached_tokens();
    // The server revokes the cached token at the first call for `name`:
    // Authlib answers 401, rbk gets a new token and resends once.
    let name = format!("r401-{}", fastrand::u32(..));
    let file = dir.write(
        "r.rbk",
        &program(
            &s,
            &auth,
            &format!("/resource?name={name}&reject_first={name}"),
        ),
    );
    let out = check(&dir, &s, &file);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(out["sub"], sub.as_str(), "{out}");
    assert_eq!(s.stats()["resource"][&name], 2, "exactly one resend");
    assert_eq!(s.grants(&sub), 2, "exactly one new token");
    let second = dir.cached_tokens();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second, "the refused token is replaced in the cache");
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn short_lived_tokens_are_renewed_before_they_expire() {
    let s = server();
    let dir = Dir::new("short");
    // rbk-jwt-short tokens live 40 s; rbk renews 30 s ahead.
    let sub = user("short");
    let file = dir.write(
        "short.rbk",
        &program(
            &s,
            &format!(
                r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-short"
    subject = "{sub}""#
            ),
            "/resource",
        ),
    );
    check(&dir, &s, &file);
    check(&dir, &s, &file);
    assert_eq!(s.grants(&sub), 1, "reused within its lifetime");
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(check(&dir, &s, &file)["active"], true);
    assert_eq!(s.grants(&sub), 2, "renewed 30 s before it expires");
}

/// rbk's error report wraps long lines and frames them with `│`: the
/// report's text on one line.
fn flat(report: &str) -> String {
    report
        .lines()
        .map(|l| l.trim().trim_start_matches(['│', '×']).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `idp.check` with `auth`, expecting Authlib to refuse the
/// assertion; returns stderr on one line.
fn refused(s: &Server, auth: &str) -> String {
    let dir = Dir::new("refused");
    let file = dir.write("bad.rbk", &program(s, auth, "/resource"));
    let o = rbk(
        &dir,
        s,
        &["call", file.to_str().unwrap(), "idp.check", "-vv"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(!err.contains("panicked"), "{err}");
    let err = flat(&err);
    assert!(
        err.contains("integration `idp`")
            && err.contains("auth jwt_assertion")
            && err.contains(&format!("`token_url` ({})", s.token_url()))
            && err.contains("refused the assertion, HTTP 400"),
        "{err}"
    );
    assert_no_secrets_or_jwt("a refused assertion", &format!("{out}{err}"), &s.secrets());
    assert!(dir.cached_tokens().is_empty(), "{}", dir.tokens_file());
    err
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn refused_assertions_are_clear_errors() {
    let s = server();
    // The wrong shared secret: Authlib's signature check fails.
    let sub = user("wrong-key");
    let err = refused(
        &s,
        &format!(
            r#"    algorithm = HS256
    key = secret("JWT_WRONG_SECRET")
    issuer = "rbk-jwt-hs"
    subject = "{sub}""#
        ),
    );
    assert!(err.contains("HTTP 400: invalid_grant"), "{err}");
    assert_eq!(s.refused(&sub, "invalid_grant"), 1);
    assert_eq!(s.grants(&sub), 0);
    // Another audience than the token URL.
    let sub = user("aud");
    let err = refused(
        &s,
        &format!(
            r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-hs"
    subject = "{sub}"
    audience = "https://login.example.com/token""#
        ),
    );
    assert!(err.contains("invalid_grant: Invalid claim: 'aud'"), "{err}");
    // A subject the server does not know.
    let err = refused(
        &s,
        r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-hs"
    subject = "mallory""#,
    );
    assert!(
        err.contains("invalid_grant: Invalid 'sub' value in assertion"),
        "{err}"
    );
    // An issuer the server does not know.
    let err = refused(
        &s,
        r#"    algorithm = RS256
    key = secret("JWT_RS_KEY")
    issuer = "rbk-jwt-unknown""#,
    );
    assert!(
        err.contains("invalid_grant: The client does not exist"),
        "{err}"
    );
    // A scope the server does not have.
    let err = refused(
        &s,
        r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-hs"
    scope = "admin""#,
    );
    assert!(err.contains("invalid_scope"), "{err}");
}

#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn secrets_never_appear_in_output_reports_cassettes_or_the_token_list() {
    let s = server();
    let dir = Dir::new("secrets");
    dir.write("cert.pem", &s.cert_pem);
    // Two integrations: HS256 (shared secret) and PS256 (private key).
    let hs = user("secrets-hs");
    let ps = user("secrets-ps");
    let file = dir.write(
        "s.rbk",
        &format!(
            r#"
instance local {{ url = "{url}" }}

integration hs {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    token_url = "{{instance.url}}/token"
    issuer = "rbk-jwt-hs"
    subject = "{hs}"
  }}
}}

integration ps {{
  base_url = "{{instance.url}}"
  auth jwt_assertion {{
    algorithm = PS256
    key = pem(cert: file("cert.pem"), key: secret("JWT_RS_KEY"))
    token_url = "{{instance.url}}/token"
    issuer = "rbk-jwt-ps"
    subject = "{ps}"
  }}
}}

method hs.check() {{
  GET "/resource?echo=1"
  output {{
    sub: string = $.sub
    token: string = $.token
  }}
}}

method ps.check() {{
  GET "/resource?echo=1"
  output {{
    sub: string = $.sub
    token: string = $.token
  }}
}}

runbook main() {{
  step a = hs.check()
  step b = ps.check()
  return {{ hs: a.sub, ps: b.sub, hs_token: a.token, ps_token: b.token }}
}}
"#,
            url = s.url
        ),
    );
    let f = file.to_str().unwrap();
    // A dry run before any token: no token request.
    let o = rbk(&dir, &s, &["run", f, "--dry-run", "-vv"]);
    let (dry0, derr0) = text(&o);
    assert!(o.status.success(), "{dry0}{derr0}");
    assert!(
        derr0.contains("would send")
            && derr0.contains(&format!(
                "Authorization: Bearer <token from {}/token>",
                s.url
            )),
        "{derr0}"
    );
    assert_eq!(
        s.grants(&hs) + s.grants(&ps),
        0,
        "a dry run asked for a token"
    );
    // `?echo=1`: the server repeats the token in its answer, so the token
    // is in response bodies (traced, reported, recorded) and in outputs.
    let o = rbk(
        &dir,
        &s,
        &[
            "run",
            f,
            "-vv",
            "--report",
            "json=report.json",
            "--report",
            "junit=junit.xml",
            "--record",
            "c.json",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let result: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(result["hs"], hs.as_str(), "{out}");
    assert_eq!(result["ps"], ps.as_str(), "{out}");
    assert_eq!(result["hs_token"], "•••", "{out}");
    assert_eq!((s.grants(&hs), s.grants(&ps)), (1, 1));
    assert!(err.contains("\"token\":\"•••\""), "{err}");
    // The next run sends the cached tokens: masked too.
    let o = rbk(&dir, &s, &["run", f, "-vv"]);
    let (out2, err2) = text(&o);
    assert!(o.status.success(), "{out2}{err2}");
    assert!(err2.contains("\"token\":\"•••\""), "{err2}");
    assert_eq!(
        (s.grants(&hs), s.grants(&ps)),
        (1, 1),
        "cached tokens reused"
    );
    // A dry run with valid cached tokens.
    let o = rbk(&dir, &s, &["run", f, "--dry-run", "-vv"]);
    let (dry, derr) = text(&o);
    assert!(o.status.success(), "{dry}{derr}");
    assert!(derr.contains("Authorization: "), "{derr}");
    assert_eq!((s.grants(&hs), s.grants(&ps)), (1, 1), "no new token");
    let o = rbk(&dir, &s, &["tokens", "list"]);
    let (list, lerr) = text(&o);
    assert!(o.status.success(), "{lerr}");
    assert!(
        list.contains("rbk-jwt-ps") && list.contains("rbk-jwt-hs"),
        "{list}"
    );
    let tokens = dir.cached_tokens();
    assert_eq!(tokens.len(), 2, "{}", dir.tokens_file());
    let mut secrets = s.secrets();
    secrets.extend(tokens);
    let files = ["report.json", "junit.xml", "c.json"].map(|n| dir.read(n));
    assert!(
        files[0].contains("/resource?echo=1")
            && files[1].contains("hs.check")
            && files[2].contains("/resource?echo=1"),
        "a report or the cassette is missing: {files:?}"
    );
    assert_no_secrets_or_jwt("run -vv", &format!("{out}{err}"), &secrets);
    assert_no_secrets_or_jwt("run -vv (cached)", &format!("{out2}{err2}"), &secrets);
    assert_no_secrets_or_jwt("--dry-run (no token)", &format!("{dry0}{derr0}"), &secrets);
    assert_no_secrets_or_jwt(
        "--dry-run (cached token)",
        &format!("{dry}{derr}"),
        &secrets,
    );
    assert_no_secrets_or_jwt("reports and cassette", &files.join("\n"), &secrets);
    assert_no_secrets_or_jwt("rbk tokens list", &format!("{list}{lerr}"), &secrets);
}

/// A token is cached per subject (and per extra claims): a file asking for
/// another `subject` with the same integration and issuer gets a token of
/// its own, never the first subject's.
#[test]
#[ignore = "needs the Authlib JWT bearer server: started by .ci/run"]
fn a_token_for_one_subject_is_not_sent_for_another() {
    let s = server();
    let dir = Dir::new("subjects");
    let auth = |sub: &str| {
        format!(
            r#"    algorithm = HS256
    key = secret("JWT_HS_SECRET")
    issuer = "rbk-jwt-hs"
    subject = "{sub}""#
        )
    };
    let (a, b) = (user("subject-a"), user("subject-b"));
    let fa = dir.write("a.rbk", &program(&s, &auth(&a), "/resource"));
    let fb = dir.write("b.rbk", &program(&s, &auth(&b), "/resource"));
    assert_eq!(check(&dir, &s, &fa)["sub"], a.as_str());
    let out = check(&dir, &s, &fb);
    assert_eq!(out["sub"], b.as_str(), "{b} was sent {a}'s token: {out}");
    assert_eq!(s.grants(&b), 1);
}
