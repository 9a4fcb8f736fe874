//! `auth oauth2` against real servers: oidc-provider (client_credentials,
//! authorization code, PKCE, refresh tokens, private_key_jwt,
//! client_secret_jwt, introspection) and oauth2-mock-server (password),
//! both started by `.ci/setup-oauth2.sh`. Every token is checked by the
//! server that issued it: the .rbk method calls a protected resource that
//! introspects (oidc-provider) or verifies (mock server JWKS) the token.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

const CC_SECRET: &str = "cc-secret-Planted-7f3a9c1e";
const POST_SECRET: &str = "post-secret-Planted-52be11d0";
const CODE_SECRET: &str = "code-secret-Planted-a81c44f2";
const JWT_SECRET: &str = "client-secret-jwt-Planted-0123456789abcdef0123456789abcdef";
const PASSWORD: &str = "rbk-password-Planted-9d2f";

struct Servers {
    oidc: String,
    mock: String,
    key: String,
}

/// The servers from `.ci/setup-oauth2.sh`; in CI their absence fails the test.
fn servers() -> Option<Servers> {
    match (
        std::env::var("RBK_OIDC_URL"),
        std::env::var("RBK_MOCK_OAUTH_URL"),
        std::env::var("RBK_OIDC_CLIENT_KEY"),
    ) {
        (Ok(oidc), Ok(mock), Ok(key)) => Some(Servers { oidc, mock, key }),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("RBK_OIDC_URL / RBK_MOCK_OAUTH_URL are not set: source .ci/setup-oauth2.sh");
            }
            eprintln!("skipped: the OAuth2 servers are not running (source .ci/setup-oauth2.sh)");
            None
        }
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "rbk-oauth2-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn tokens_file(&self) -> String {
        std::fs::read_to_string(self.cache().join("tokens.json")).unwrap_or_default()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rbk_cmd(dir: &Dir, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rbk"));
    c.args(args)
        .current_dir(&dir.0)
        .env("RBK_CACHE_DIR", dir.cache())
        .env("RBK_NO_BROWSER", "1")
        .env("NO_COLOR", "1")
        .env("CC_SECRET", CC_SECRET)
        .env("POST_SECRET", POST_SECRET)
        .env("CODE_SECRET", CODE_SECRET)
        .env("JWT_SECRET", JWT_SECRET)
        .env("USER_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    c
}

fn rbk(dir: &Dir, args: &[&str]) -> Output {
    rbk_cmd(dir, args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Calls `idp.check` and returns its outputs.
fn check(dir: &Dir, file: &Path, extra: &[&str]) -> Json {
    let mut args = vec!["call", file.to_str().unwrap(), "idp.check"];
    args.extend_from_slice(extra);
    let o = rbk(dir, &args);
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "rbk failed:\nstdout: {out}\nstderr: {err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A program whose `idp.check` calls the protected resource with `auth`.
fn program(s: &Servers, auth: &str, resource: &str) -> String {
    format!(
        r#"
instance local {{ url = "{oidc}" }}
instance other {{ url = "{oidc}" }}

integration idp {{
  base_url = "{{instance.url}}"
  auth oauth2 {{
{auth}
  }}
}}

method idp.check() {{
  GET "{resource}"
  output {{
    active: bool = $.active
    sub: string = $.sub
  }}
}}

runbook main() {{
  step r = idp.check()
  return r.active
}}
"#,
        oidc = s.oidc
    )
}

fn get_json(url: &str) -> Json {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let body = reqwest::get(url).await.unwrap().text().await.unwrap();
        serde_json::from_str::<Json>(&body).unwrap()
    })
}

fn grants(s: &Servers, client: &str, grant: &str) -> u64 {
    get_json(&format!("{}/rbk/stats", s.oidc))["grants"][client][grant]
        .as_u64()
        .unwrap_or(0)
}

fn assert_no_secrets(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            s.len() < 8 || !text.contains(s),
            "{what} shows a secret ({s}):\n{text}"
        );
    }
}

fn cached_values(dir: &Dir) -> Vec<String> {
    let j: Json = serde_json::from_str(&dir.tokens_file()).unwrap_or(Json::Null);
    let mut v = Vec::new();
    for e in j["tokens"].as_array().cloned().unwrap_or_default() {
        for f in ["access_token", "refresh_token"] {
            if let Some(t) = e["token"][f].as_str() {
                v.push(t.to_string());
            }
        }
    }
    v
}

#[test]
fn client_credentials_basic_is_cached_listed_and_cleared() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("cc");
    let file = dir.write(
        "cc.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk-cc"
    client_secret = secret("CC_SECRET")
    scope = "api:read""#,
            "/rbk/resource",
        ),
    );
    let before = grants(&s, "rbk-cc", "client_credentials");
    let out = check(&dir, &file, &[]);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(grants(&s, "rbk-cc", "client_credentials"), before + 1);
    // The cache file: owner-only, and reused by the next run.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir.cache().join("tokens.json")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let out = check(&dir, &file, &[]);
    assert_eq!(out["active"], true);
    assert_eq!(
        grants(&s, "rbk-cc", "client_credentials"),
        before + 1,
        "the cached token is reused"
    );
    // rbk tokens list: what, never the value.
    let o = rbk(&dir, &["tokens", "list"]);
    let (list, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        list.contains("idp")
            && list.contains("rbk-cc")
            && list.contains("client_credentials")
            && list.contains("api:read"),
        "{list}"
    );
    let mut secrets = cached_values(&dir);
    assert!(!secrets.is_empty());
    secrets.push(CC_SECRET.into());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets("rbk tokens list", &format!("{list}{err}"), &secrets);
    // Clearing another integration keeps it; clearing idp removes it.
    let (out, _) = text(&rbk(&dir, &["tokens", "clear", "elsewhere"]));
    assert!(out.contains("cleared 0"), "{out}");
    let (out, _) = text(&rbk(&dir, &["tokens", "clear", "idp"]));
    assert!(out.contains("cleared 1"), "{out}");
    let (list, _) = text(&rbk(&dir, &["tokens", "list"]));
    assert!(list.contains("no cached tokens"), "{list}");
    check(&dir, &file, &[]);
    assert_eq!(
        grants(&s, "rbk-cc", "client_credentials"),
        before + 2,
        "cleared: fetched again"
    );
}

#[test]
fn client_auth_body_sends_the_secret_as_form_fields() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("post");
    // rbk-cc-post is registered with client_secret_post only.
    let file = dir.write(
        "post.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk-cc-post"
    client_secret = secret("POST_SECRET")
    client_auth = body"#,
            "/rbk/resource",
        ),
    );
    assert_eq!(check(&dir, &file, &[])["active"], true);
}

#[test]
fn a_401_refetches_the_token_and_resends_once() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("401");
    let name = format!("r401-{}", fastrand::u32(..));
    let file = dir.write(
        "r.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk-cc-401"
    client_secret = secret("CC_SECRET")"#,
            &format!("/rbk/resource?name={name}&reject_first={name}"),
        ),
    );
    let before = grants(&s, "rbk-cc-401", "client_credentials");
    let out = check(&dir, &file, &[]);
    assert_eq!(out["active"], true);
    let stats = get_json(&format!("{}/rbk/stats", s.oidc));
    assert_eq!(stats["resource"][&name], 2, "exactly one resend: {stats}");
    assert_eq!(grants(&s, "rbk-cc-401", "client_credentials"), before + 2);
}

#[test]
fn secrets_never_appear_in_output_reports_or_cassettes() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("secrets");
    let file = dir.write(
        "s.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk-cc-secrets"
    client_secret = secret("CC_SECRET")"#,
            "/rbk/resource",
        ),
    );
    let f = file.to_str().unwrap();
    let o = rbk(
        &dir,
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
    let dry = rbk(&dir, &["run", f, "--dry-run", "-vv"]);
    let (dout, derr) = text(&dry);
    let mut secrets = cached_values(&dir);
    assert!(!secrets.is_empty());
    secrets.push(CC_SECRET.into());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let files = ["report.json", "junit.xml", "c.json"]
        .map(|n| std::fs::read_to_string(dir.0.join(n)).unwrap_or_default())
        .join("\n");
    assert_no_secrets("run -vv", &format!("{out}{err}"), &secrets);
    assert_no_secrets("--dry-run", &format!("{dout}{derr}"), &secrets);
    assert_no_secrets("reports and cassette", &files, &secrets);
    // A refused secret: the server's error, never the secret.
    let dir = Dir::new("secrets-bad");
    let bad = dir.write(
        "bad.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk-cc-secrets"
    client_secret = secret("POST_SECRET")"#,
            "/rbk/resource",
        ),
    );
    let o = rbk(&dir, &["run", bad.to_str().unwrap(), "-vv"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("invalid_client") && err.contains("idp"),
        "{err}"
    );
    assert_no_secrets(
        "an invalid_client error",
        &format!("{out}{err}"),
        &[POST_SECRET, CC_SECRET],
    );
}

#[test]
fn password_grant_against_oauth2_mock_server() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("pw");
    let auth = |pw: &str| {
        format!(
            r#"grant = password
    token_url = "{}/token"
    client_id = "rbk-pw"
    client_secret = secret("CC_SECRET")
    username = "rbk-user"
    password = secret("{pw}")"#,
            s.mock
        )
    };
    let file = dir.write(
        "pw.rbk",
        &program(&s, &auth("USER_PASSWORD"), "/rbk/mock-resource"),
    );
    let out = check(&dir, &file, &[]);
    assert_eq!(out["active"], true, "{out}");
    assert_eq!(out["sub"], "rbk-user");
    let o = rbk(&dir, &["tokens", "list"]);
    let (list, _) = text(&o);
    assert!(
        list.contains("password") && list.contains("yes"),
        "refresh token kept: {list}"
    );
    // A wrong password: the server's answer, not the password.
    let dir2 = Dir::new("pw-bad");
    let bad = dir2.write(
        "bad.rbk",
        &program(&s, &auth("CC_SECRET"), "/rbk/mock-resource"),
    );
    let o = rbk(&dir2, &["call", bad.to_str().unwrap(), "idp.check", "-vv"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("invalid_grant") && err.contains("wrong username or password"),
        "{err}"
    );
    assert_no_secrets(
        "password error",
        &format!("{out}{err}"),
        &[PASSWORD, CC_SECRET],
    );
}

#[test]
fn short_lived_tokens_are_renewed_before_they_expire() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("short");
    // rbk-cc-short tokens live 40 s; rbk renews 30 s ahead.
    let file = dir.write(
        "short.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk-cc-short"
    client_secret = secret("CC_SECRET")"#,
            "/rbk/resource",
        ),
    );
    let before = grants(&s, "rbk-cc-short", "client_credentials");
    check(&dir, &file, &[]);
    check(&dir, &file, &[]);
    assert_eq!(
        grants(&s, "rbk-cc-short", "client_credentials"),
        before + 1,
        "reused within its lifetime"
    );
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(check(&dir, &file, &[])["active"], true);
    assert_eq!(
        grants(&s, "rbk-cc-short", "client_credentials"),
        before + 2,
        "renewed near expiry"
    );
}

#[test]
fn per_instance_credentials_follow_the_instance() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("inst");
    let file = dir.write(
        "inst.rbk",
        &program(
            &s,
            r#"grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "unused"
    client_secret = secret("POST_SECRET")
    per_instance {
      local { client_id = "rbk-cc-inst-a", client_secret = secret("CC_SECRET") }
      other { client_id = "rbk-cc-inst-b", client_secret = secret("CC_SECRET") }
    }"#,
            "/rbk/resource",
        ),
    );
    let a = grants(&s, "rbk-cc-inst-a", "client_credentials");
    let b = grants(&s, "rbk-cc-inst-b", "client_credentials");
    check(&dir, &file, &["--instance", "other"]);
    assert_eq!(grants(&s, "rbk-cc-inst-b", "client_credentials"), b + 1);
    check(&dir, &file, &[]);
    assert_eq!(grants(&s, "rbk-cc-inst-a", "client_credentials"), a + 1);
    let (list, _) = text(&rbk(&dir, &["tokens", "list"]));
    assert!(
        list.contains("rbk-cc-inst-a") && list.contains("rbk-cc-inst-b"),
        "{list}"
    );
}

#[test]
fn client_assertions_private_key_jwt_and_client_secret_jwt() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("assert");
    let pem = std::fs::read_to_string(&s.key).unwrap();
    // A `kid` names a key of the client's JWKS; HS256 keys have none.
    for (client, alg, key, kid) in [
        (
            "rbk-pkjwt",
            "RS256",
            "secret(\"CLIENT_KEY\")",
            "key_id = \"rbk-test-key\"",
        ),
        (
            "rbk-pkjwt-ps",
            "PS256",
            "secret(\"CLIENT_KEY\")",
            "key_id = \"rbk-test-key\"",
        ),
        ("rbk-csjwt", "HS256", "secret(\"JWT_SECRET\")", ""),
    ] {
        let file = dir.write(
            &format!("{client}.rbk"),
            &program(
                &s,
                &format!(
                    r#"grant = client_credentials
    token_url = "{{instance.url}}/token"
    client_id = "{client}"
    client_assertion {{
      algorithm = {alg}
      key = {key}
      {kid}
    }}"#
                ),
                "/rbk/resource",
            ),
        );
        let before = grants(&s, client, "client_credentials");
        let o = rbk_cmd(&dir, &["call", file.to_str().unwrap(), "idp.check", "-vv"])
            .env("CLIENT_KEY", &pem)
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{client}: {out}{err}");
        assert!(out.contains("\"active\": true"), "{client}: {out}");
        assert_eq!(grants(&s, client, "client_credentials"), before + 1);
        assert_no_secrets(client, &format!("{out}{err}"), &[JWT_SECRET, "PRIVATE KEY"]);
    }
}

/// Follows oidc-provider's redirects (login and consent are approved by
/// the test server) with a cookie jar, ending at rbk's loopback listener.
fn authorize(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut jar: Vec<(String, String)> = Vec::new();
        let mut next = reqwest::Url::parse(url).unwrap();
        for _ in 0..12 {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let resp = client
                .get(next.clone())
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            for sc in resp.headers().get_all("set-cookie") {
                let sc = sc.to_str().unwrap_or("");
                if let Some((k, v)) = sc.split(';').next().and_then(|kv| kv.split_once('=')) {
                    jar.retain(|(n, _)| n != k.trim());
                    jar.push((k.trim().to_string(), v.to_string()));
                }
            }
            let status = resp.status();
            if next.path() == "/callback" {
                assert!(status.is_success(), "rbk's listener answered {status}");
                return;
            }
            assert!(
                status.is_redirection(),
                "{next}: {status}: {}",
                resp.text().await.unwrap_or_default()
            );
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            next = next.join(&loc).unwrap();
        }
        panic!("too many redirects");
    });
}

/// Runs `idp.check` with a code grant, authorizing when rbk asks.
fn code_run(dir: &Dir, file: &Path, extra: &[&str]) -> (Output, bool) {
    let mut args = vec!["call", file.to_str().unwrap(), "idp.check"];
    args.extend_from_slice(extra);
    let mut child = rbk_cmd(dir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.trim_start().starts_with("http") && line.contains("state=") {
                let _ = tx.send(line.trim().to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut asked = false;
    if let Ok(url) = rx.recv_timeout(Duration::from_secs(20)) {
        asked = true;
        authorize(&url);
    }
    let mut out = child.wait_with_output().unwrap();
    out.stderr = reader.join().unwrap().into_bytes();
    (out, asked)
}

#[test]
fn authorization_code_then_refresh_token() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("code");
    // rbk-code-short: 40 s tokens, with refresh tokens.
    let file = dir.write(
        "code.rbk",
        &program(
            &s,
            r#"grant = authorization_code
    auth_url = "{instance.url}/auth"
    token_url = "{instance.url}/token"
    redirect_url = "http://127.0.0.1:18793/callback"
    client_id = "rbk-code-short"
    client_secret = secret("CODE_SECRET")
    scope = "openid api:read""#,
            "/rbk/resource",
        ),
    );
    let (o, asked) = code_run(&dir, &file, &["--no-browser"]);
    let (out, err) = text(&o);
    assert!(asked, "no authorization URL printed: {err}");
    assert!(o.status.success(), "{out}{err}");
    let j: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(j["active"], true);
    assert_eq!(j["sub"], "rbk-user");
    let mut secrets = cached_values(&dir);
    secrets.push(CODE_SECRET.into());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets("code flow", &format!("{out}{err}"), &secrets);
    // Near expiry: the refresh token, no browser.
    std::thread::sleep(Duration::from_secs(11));
    let before = grants(&s, "rbk-code-short", "refresh_token");
    let (o, asked) = code_run(&dir, &file, &[]);
    let (out, err) = text(&o);
    assert!(!asked, "asked to authorize again: {err}");
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("\"active\": true"), "{out}");
    assert_eq!(grants(&s, "rbk-code-short", "refresh_token"), before + 1);
}

#[test]
fn authorization_code_pkce_public_client() {
    let Some(s) = servers() else { return };
    let dir = Dir::new("pkce");
    let file = dir.write(
        "pkce.rbk",
        &program(
            &s,
            r#"grant = authorization_code_pkce
    auth_url = "{instance.url}/auth"
    token_url = "{instance.url}/token"
    redirect_url = "http://127.0.0.1:18792/callback"
    client_id = "rbk-pkce"
    scope = "openid""#,
            "/rbk/resource",
        ),
    );
    let (o, asked) = code_run(&dir, &file, &[]);
    let (out, err) = text(&o);
    assert!(asked, "{err}");
    assert!(o.status.success(), "{out}{err}");
    assert!(err.contains("code_challenge_method=S256"), "{err}");
    assert!(out.contains("\"active\": true"), "{out}");
}

fn bad_token_url(s: &Servers, url: &str) -> (Output, String) {
    let dir = Dir::new("bad");
    let file = dir.write(
        "bad.rbk",
        &program(
            s,
            &format!(
                r#"grant = client_credentials
    token_url = "{url}"
    client_id = "rbk-cc"
    client_secret = secret("CC_SECRET")"#
            ),
            "/rbk/resource",
        ),
    );
    let o = rbk(&dir, &["run", file.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("integration `idp`") && err.contains("token_url"),
        "{err}"
    );
    assert_no_secrets("error", &format!("{out}{err}"), &[CC_SECRET]);
    (o, err)
}

#[test]
fn bad_token_endpoints_are_clear_errors() {
    let Some(s) = servers() else { return };
    let (_, err) = bad_token_url(&s, &format!("{}/rbk/html-token", s.oidc));
    assert!(err.contains("HTML page"), "{err}");
    let (_, err) = bad_token_url(&s, &format!("{}/rbk/no-access-token", s.oidc));
    assert!(
        err.contains("no `access_token`") && err.contains("expires_in"),
        "{err}"
    );
    let (_, err) = bad_token_url(&s, "http://127.0.0.1:9/token");
    assert!(err.contains("cannot reach"), "{err}");
}

#[test]
fn a_corrupt_cache_file_is_a_warning() {
    let dir = Dir::new("corrupt");
    std::fs::create_dir_all(dir.cache()).unwrap();
    std::fs::write(dir.cache().join("tokens.json"), "{not json").unwrap();
    let o = rbk(&dir, &["tokens", "list"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(
        err.contains("tokens.json") && err.contains("corrupt"),
        "{err}"
    );
    assert!(out.contains("no cached tokens"), "{out}");
    let o = rbk(&dir, &["tokens", "clear"]);
    assert!(o.status.success());
    let (_, err) = text(&rbk(&dir, &["tokens", "list"]));
    assert!(err.is_empty(), "rewritten: {err}");
}
