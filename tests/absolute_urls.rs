//! `GET "{next}"`: a path that starts with a placeholder holding an absolute
//! URL goes to that URL; another origin gets no credentials unless the
//! integration trusts it (`trusted_origins`).

mod run_support;

use run_support::{Dir, Reply, Server, rbk_env};

const PROGRAM: &str = r#"
integration api {
  base_url = "@URL@/v1"
  auth bearer { token = secret("RBK_TOKEN") }
  headers { "X-Env" = env("RBK_ENV_HEADER"), "X-Plain" = "plain" }
  @TRUSTED@
}

method api.follow(next: string) {
  GET "{next}"
  output { where: string = $.where }
}

method api.content(download: string) {
  GET "{download}/content"
}

method api.item(id: string) {
  GET "/items/{id}"
}

runbook follow(next: string) {
  step s = api.follow(next: next)
  return { where: s.where }
}
runbook content(download: string) { step s = api.content(download: download) }
runbook item(id: string) { step s = api.item(id: id) }
"#;

const ENV: [(&str, &str); 2] = [
    ("RBK_TOKEN", "tok-abs-5ecret"),
    ("RBK_ENV_HEADER", "env-abs-value"),
];

fn where_server(name: &'static str) -> Server {
    Server::start(move |_, _| Reply::json(serde_json::json!({ "where": name })))
}

fn program(dir: &Dir, base: &Server, trusted: Option<&Server>) -> String {
    let trusted = match trusted {
        Some(t) => format!("trusted_origins = [\"{}\"]", t.url),
        None => String::new(),
    };
    dir.program(&PROGRAM.replace("@TRUSTED@", &trusted), &base.url)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn an_absolute_url_on_another_origin_gets_no_credentials() {
    let base = where_server("base");
    let other = where_server("other");
    let dir = Dir::new();
    let p = program(&dir, &base, None);
    let next = format!("{}/files/a?sig=1", other.url);
    let run = rbk_env(
        &["run", &p, "follow", "--arg", &format!("next={next}"), "-v"],
        &ENV,
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.json()["where"], "other");
    assert_eq!(base.count(), 0);
    let r = &other.requests()[0];
    assert_eq!(r.target, "/files/a?sig=1", "inserted unencoded");
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("x-env"), None);
    assert_eq!(r.header("x-plain"), Some("plain"));
    assert!(
        run.stderr.contains(&format!("GET {next} ")),
        "-v shows the real URL:\n{run}"
    );
}

#[test]
fn a_trusted_origin_gets_the_integrations_auth() {
    let base = where_server("base");
    let other = where_server("other");
    let dir = Dir::new();
    let p = program(&dir, &base, Some(&other));
    let next = format!("{}/files/a", other.url);
    let run = rbk_env(
        &["run", &p, "follow", "--arg", &format!("next={next}")],
        &ENV,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let r = &other.requests()[0];
    assert_eq!(r.header("authorization"), Some("Bearer tok-abs-5ecret"));
    assert_eq!(r.header("x-env"), Some("env-abs-value"));
}

#[test]
fn an_absolute_url_on_the_base_origin_keeps_its_credentials() {
    let base = where_server("base");
    let dir = Dir::new();
    let p = program(&dir, &base, None);
    let next = format!("{}/elsewhere", base.url);
    let run = rbk_env(
        &["run", &p, "follow", "--arg", &format!("next={next}")],
        &ENV,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let r = &base.requests()[0];
    assert_eq!(r.target, "/elsewhere", "the URL replaces the base path");
    assert_eq!(r.header("authorization"), Some("Bearer tok-abs-5ecret"));
}

#[test]
fn text_after_the_url_is_appended() {
    let base = where_server("base");
    let other = where_server("other");
    let dir = Dir::new();
    let p = program(&dir, &base, None);
    let download = format!("{}/d/42", other.url);
    let run = rbk_env(
        &[
            "run",
            &p,
            "content",
            "--arg",
            &format!("download={download}"),
        ],
        &ENV,
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(other.requests()[0].target, "/d/42/content");
}

#[test]
fn a_url_elsewhere_in_the_path_stays_one_encoded_segment() {
    let base = where_server("base");
    let other = where_server("other");
    let dir = Dir::new();
    let p = program(&dir, &base, None);
    let id = format!("{}/x", other.url);
    let run = rbk_env(&["run", &p, "item", "--arg", &format!("id={id}")], &ENV);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(other.count(), 0);
    let target = &base.requests()[0].target;
    assert!(
        target.starts_with("/v1/items/http%3A%2F%2F127.0.0.1%3A"),
        "{target}"
    );
}

#[test]
fn trusted_origins_must_be_origins() {
    let base = where_server("base");
    let dir = Dir::new();
    let p = dir
        .program(
            &PROGRAM.replace(
                "@TRUSTED@",
                r#"trusted_origins = ["https://files.example.com/path", "ftp://x", "https://ok.example.com:8443"]"#,
            ),
            &base.url,
        )
        .to_string_lossy()
        .into_owned();
    let run = rbk_env(&["check", &p, "--format", "json"], &[]);
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(
        run.stdout.matches("rbk::invalid_setting").count(),
        2,
        "{run}"
    );
}
