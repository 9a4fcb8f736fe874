//! `auth oauth2` against real servers: oidc-provider (client_credentials,
//! authorization code, PKCE, refresh tokens, private_key_jwt,
//! client_secret_jwt, introspection) and oauth2-mock-server (password),
//! both started by `.ci/setup-oauth2.sh`. Every token is checked by the
//! server that issued it: the .rbk method calls a protected resource that
//! introspects (oidc-provider) or verifies (mock server JWKS) the token.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

mod auth_support;
use auth_support::{Dir, assert_no_secrets, get_json, text};

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

/// The servers from `.ci/setup-oauth2.sh`; their absence fails the test
/// (the tests that need them are ignored unless asked for).
fn servers() -> Servers {
    match (
        std::env::var("RBK_OIDC_URL"),
        std::env::var("RBK_MOCK_OAUTH_URL"),
        std::env::var("RBK_OIDC_CLIENT_KEY"),
    ) {
        (Ok(oidc), Ok(mock), Ok(key)) => Servers { oidc, mock, key },
        _ => panic!(
            "this test needs the OAuth2 servers (oidc-provider, oauth2-mock-server): RBK_OIDC_URL / RBK_MOCK_OAUTH_URL / RBK_OIDC_CLIENT_KEY are not set (run `bash .ci/run`, or source .ci/setup-oauth2.sh first)"
        ),
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

fn grants(s: &Servers, client: &str, grant: &str) -> u64 {
    get_json(&format!("{}/rbk/stats", s.oidc))["grants"][client][grant]
        .as_u64()
        .unwrap_or(0)
}

/// How many times the login or consent form was submitted.
fn interactions(s: &Servers, prompt: &str) -> u64 {
    get_json(&format!("{}/rbk/stats", s.oidc))["interactions"][prompt]
        .as_u64()
        .unwrap_or(0)
}

#[test]
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn client_credentials_basic_is_cached_listed_and_cleared() {
    let s = servers();
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
    let mut secrets = dir.cached_tokens();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn client_auth_body_sends_the_secret_as_form_fields() {
    let s = servers();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn a_401_refetches_the_token_and_resends_once() {
    let s = servers();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn secrets_never_appear_in_output_reports_or_cassettes() {
    let s = servers();
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
    // -v traces the token request itself: one line, no bodies.
    let token_line = format!(
        "token: integration `idp`: auth oauth2 (client_credentials): POST {}/token → 200 (",
        s.oidc
    );
    assert_eq!(err.matches(&token_line).count(), 1, "{err}");
    let dry = rbk(&dir, &["run", f, "--dry-run", "-vv"]);
    let (dout, derr) = text(&dry);
    let mut secrets = dir.cached_tokens();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn password_grant_against_oauth2_mock_server() {
    let s = servers();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn short_lived_tokens_are_renewed_before_they_expire() {
    let s = servers();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn per_instance_credentials_follow_the_instance() {
    let s = servers();
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn client_assertions_private_key_jwt_and_client_secret_jwt() {
    let s = servers();
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

const USER_PASSWORD: &str = "user-password-Planted-e6c03b71";

/// What the browser did on the way to rbk's loopback listener.
#[derive(Debug, Default)]
struct Visit {
    /// The `prompt` of each HTML form submitted, in order.
    forms: Vec<String>,
    /// rbk's listener answer (status, body).
    landed: Option<(u16, String)>,
}

/// The value of `name="..."` in one HTML tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')?;
    Some(tag[at..at + end].replace("&amp;", "&"))
}

/// The first `<form>` of a page: its action and fields (hidden values
/// kept, `login`/`password` filled in as a user would).
fn fill_form(html: &str, login: &str, password: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let end = html[start..].find("</form>")? + start;
    let form = &html[start..end];
    let action = attr(&form[..form.find('>')?], "action")?;
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        let value = match name.as_str() {
            "login" => login.to_string(),
            "password" => password.to_string(),
            _ => attr(tag, "value").unwrap_or_default(),
        };
        fields.push((name, value));
    }
    Some((action, fields))
}

/// Acts as the user's browser: follows oidc-provider's redirects with a
/// cookie jar, fills in and submits its login form and its consent form
/// (or, with `decline`, follows the page's Cancel link), and ends at rbk's
/// loopback listener.
fn browse(url: &str, password: &str, decline: bool) -> Visit {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut visit = Visit::default();
        let mut jar: Vec<(String, String)> = Vec::new();
        let mut next = reqwest::Url::parse(url).unwrap();
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let req = match form.take() {
                Some(fields) => client.post(next.clone()).form(&fields),
                None => client.get(next.clone()),
            };
            let resp = req.header("cookie", cookie).send().await.unwrap();
            for sc in resp.headers().get_all("set-cookie") {
                let sc = sc.to_str().unwrap_or("");
                if let Some((k, v)) = sc.split(';').next().and_then(|kv| kv.split_once('=')) {
                    jar.retain(|(n, _)| n != k.trim());
                    jar.push((k.trim().to_string(), v.to_string()));
                }
            }
            let status = resp.status();
            if next.path() == "/callback" {
                visit.landed = Some((status.as_u16(), resp.text().await.unwrap_or_default()));
                return visit;
            }
            if status.is_redirection() {
                let loc = resp.headers()["location"].to_str().unwrap().to_string();
                next = next.join(&loc).unwrap();
                continue;
            }
            let html = resp.text().await.unwrap_or_default();
            assert!(status.is_success(), "{next}: {status}: {html}");
            let (action, fields) = fill_form(&html, "rbk-user", password)
                .unwrap_or_else(|| panic!("{next}: no form in the page: {html}"));
            let prompt = fields
                .iter()
                .find(|(k, _)| k == "prompt")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if decline && prompt == "consent" {
                let cancel = html
                    .split("<a ")
                    .find(|a| a.contains("Cancel"))
                    .and_then(|a| attr(a, "href"))
                    .unwrap_or_else(|| panic!("no Cancel link: {html}"));
                visit.forms.push("cancel".into());
                next = next.join(&cancel).unwrap();
                continue;
            }
            visit.forms.push(prompt);
            next = next.join(&action).unwrap();
            form = Some(fields);
        }
        panic!("the login never reached rbk's listener: {visit:?}");
    })
}

/// How rbk hands the authorization URL to the user.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Via {
    /// Printed on stderr only (`--no-browser` / `RBK_NO_BROWSER`).
    Printed,
    /// Opened with `$BROWSER` (a script that writes the URL to a file).
    Browser,
}

/// Runs `idp.check` with a code grant; when rbk asks for authorization,
/// logs in as `rbk-user` (with `password`) and consents, or declines.
fn code_flow(
    dir: &Dir,
    file: &Path,
    extra: &[&str],
    via: Via,
    password: &str,
    decline: bool,
) -> (Output, Option<Visit>) {
    let mut args = vec!["call", file.to_str().unwrap(), "idp.check"];
    args.extend_from_slice(extra);
    let mut cmd = rbk_cmd(dir, &args);
    let opened = dir.0.join("opened.url");
    let _ = std::fs::remove_file(&opened);
    if via == Via::Browser {
        let script = dir.write(
            "browser.sh",
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
                opened.display()
            ),
        );
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        cmd.env_remove("RBK_NO_BROWSER").env("BROWSER", &script);
    }
    let mut child = cmd
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
    let mut visit = None;
    if let Ok(printed) = rx.recv_timeout(Duration::from_secs(20)) {
        let url = match via {
            Via::Printed => printed,
            Via::Browser => {
                // The browser must have been given the very URL printed.
                let mut url = String::new();
                for _ in 0..200 {
                    if let Ok(u) = std::fs::read_to_string(&opened) {
                        url = u.trim().to_string();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                assert_eq!(url, printed, "the browser was not opened on the URL");
                url
            }
        };
        visit = Some(browse(&url, password, decline));
    }
    let mut out = child.wait_with_output().unwrap();
    out.stderr = reader.join().unwrap().into_bytes();
    if via == Via::Printed {
        assert!(!opened.exists(), "a browser was opened");
    }
    (out, visit)
}

fn code_run(dir: &Dir, file: &Path, extra: &[&str]) -> (Output, Option<Visit>) {
    code_flow(dir, file, extra, Via::Printed, USER_PASSWORD, false)
}

/// The authorization-code program for client `client` on loopback `port`.
fn code_program(s: &Servers, grant: &str, client: &str, port: u16, secret: bool) -> String {
    let secret = if secret {
        "\n    client_secret = secret(\"CODE_SECRET\")"
    } else {
        ""
    };
    program(
        s,
        &format!(
            r#"grant = {grant}
    auth_url = "{{instance.url}}/auth"
    token_url = "{{instance.url}}/token"
    redirect_url = "http://127.0.0.1:{port}/callback"
    client_id = "{client}"{secret}
    scope = "openid api:read""#
        ),
        "/rbk/resource",
    )
}

/// Logged in and consented through the server's own forms; rbk's
/// listener answered the browser with its success page.
fn assert_logged_in(visit: &Option<Visit>, err: &str) {
    let v = visit
        .as_ref()
        .unwrap_or_else(|| panic!("no authorization URL printed: {err}"));
    assert_eq!(v.forms, ["login", "consent"], "{v:?}");
    let (status, page) = v.landed.clone().expect("never reached rbk");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("rbk received the authorization"), "{page}");
}

#[test]
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn authorization_code_then_refresh_token() {
    let s = servers();
    let dir = Dir::new("code");
    // rbk-code-short: 40 s tokens, with refresh tokens.
    let file = dir.write(
        "code.rbk",
        &code_program(&s, "authorization_code", "rbk-code-short", 18793, true),
    );
    let before = interactions(&s, "login");
    let (o, visit) = code_run(&dir, &file, &["--no-browser"]);
    let (out, err) = text(&o);
    assert_logged_in(&visit, &err);
    assert_eq!(interactions(&s, "login"), before + 1);
    assert!(o.status.success(), "{out}{err}");
    let j: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(j["active"], true);
    assert_eq!(j["sub"], "rbk-user");
    let mut secrets = dir.cached_tokens();
    secrets.push(CODE_SECRET.into());
    secrets.push(USER_PASSWORD.into());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets("code flow", &format!("{out}{err}"), &secrets);
    // Near expiry: the refresh token, no browser.
    std::thread::sleep(Duration::from_secs(11));
    let before = grants(&s, "rbk-code-short", "refresh_token");
    let (o, visit) = code_run(&dir, &file, &[]);
    let (out, err) = text(&o);
    assert!(visit.is_none(), "asked to authorize again: {err}");
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("\"active\": true"), "{out}");
    assert_eq!(grants(&s, "rbk-code-short", "refresh_token"), before + 1);
}

#[test]
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn authorization_code_pkce_opens_the_browser() {
    let s = servers();
    let dir = Dir::new("pkce");
    let file = dir.write(
        "pkce.rbk",
        &code_program(&s, "authorization_code_pkce", "rbk-pkce", 18792, false),
    );
    let (o, visit) = code_flow(&dir, &file, &[], Via::Browser, USER_PASSWORD, false);
    let (out, err) = text(&o);
    assert_logged_in(&visit, &err);
    assert!(o.status.success(), "{out}{err}");
    assert!(err.contains("code_challenge_method=S256"), "{err}");
    assert!(out.contains("\"active\": true"), "{out}");
    assert!(!err.contains("could not open a browser"), "{err}");
}

#[test]
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn a_refused_refresh_token_leads_to_a_new_authorization() {
    let s = servers();
    let dir = Dir::new("refused");
    let file = dir.write(
        "code.rbk",
        &code_program(&s, "authorization_code", "rbk-code", 18791, true),
    );
    let (o, visit) = code_run(&dir, &file, &["--no-browser"]);
    let (out, err) = text(&o);
    assert_logged_in(&visit, &err);
    assert!(o.status.success(), "{out}{err}");
    // The access token has expired and the server no longer knows the
    // refresh token (as after a revocation).
    let path = dir.cache().join("tokens.json");
    let mut cache: Json = serde_json::from_str(&dir.tokens_file()).unwrap();
    let token = &mut cache["tokens"][0]["token"];
    assert!(token["refresh_token"].is_string(), "{cache}");
    token["refresh_token"] = "revoked-refresh-token-0000".into();
    token["expires_at"] = 1.into();
    std::fs::write(&path, cache.to_string()).unwrap();
    let before = grants(&s, "rbk-code", "authorization_code");
    let (o, visit) = code_run(&dir, &file, &["--no-browser"]);
    let (out, err) = text(&o);
    assert!(
        err.contains("the refresh token was not accepted") && err.contains("invalid_grant"),
        "{err}"
    );
    assert_logged_in(&visit, &err);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("\"active\": true"), "{out}");
    assert_eq!(grants(&s, "rbk-code", "authorization_code"), before + 1);
    assert!(!err.contains("revoked-refresh-token-0000"), "{err}");
}

#[test]
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn declined_consent_is_a_clear_error() {
    let s = servers();
    let dir = Dir::new("declined");
    let file = dir.write(
        "code.rbk",
        &code_program(&s, "authorization_code", "rbk-code-decline", 18794, true),
    );
    let (o, visit) = code_flow(
        &dir,
        &file,
        &["--no-browser"],
        Via::Printed,
        USER_PASSWORD,
        true,
    );
    let (out, err) = text(&o);
    let v = visit.unwrap_or_else(|| panic!("not asked: {err}"));
    assert_eq!(v.forms, ["login", "cancel"], "{v:?}");
    assert_eq!(v.landed.as_ref().map(|l| l.0), Some(400), "{v:?}");
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("integration `idp`") && err.contains("access_denied"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(dir.tokens_file().is_empty() || !dir.tokens_file().contains("access_token"));
}

#[test]
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn a_redirect_with_a_wrong_state_is_refused() {
    let s = servers();
    let dir = Dir::new("state");
    let file = dir.write(
        "code.rbk",
        &code_program(&s, "authorization_code", "rbk-code", 18795, true),
    );
    let mut child = rbk_cmd(&dir, &["call", file.to_str().unwrap(), "idp.check"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut seen = String::new();
    for line in lines.by_ref() {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("state=") {
            break;
        }
    }
    assert!(seen.contains("state="), "{seen}");
    // Another page (or an attacker) sends a code with a forged state.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::get("http://127.0.0.1:18795/callback?code=forged-code&state=forged-state")
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 400);
    let rest: Vec<String> = lines.collect();
    let o = child.wait_with_output().unwrap();
    let err = format!("{seen}{}", rest.join("\n"));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("`state` does not match"), "{err}");
    assert!(!err.contains("forged-code"), "{err}");
    assert!(!dir.tokens_file().contains("access_token"));
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
#[ignore = "needs the OAuth2 servers (oidc-provider, oauth2-mock-server): started by .ci/run"]
fn bad_token_endpoints_are_clear_errors() {
    let s = servers();
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
