//! What rbk sends, as an in-process server receives it: every body kind
//! byte for byte, path and query encoding, header merging and auth.

mod run_support;

use run_support::*;
use serde_json::json;

fn echo() -> Server {
    Server::start(|_, _| Reply::json(json!({ "ok": true })))
}

const BODIES: &str = r#"
instance local { url = "@URL@" }

integration api {
  base_url = "{instance.url}/v1"
  auth none
}

method api.send_json(name: string, n: int) {
  POST "/json"
  body json { name: name, n: n, tags: ["a", "b"], nested: { ok: true, none: null }, f: 1.5 }
}

method api.send_patch(title: string? = null, assignee: string? = null, tags: [string?] = []) {
  PATCH "/patch"
  body json compact({ title: title, assignee: assignee, tags: compact(tags), kept: { none: null } })
}

method api.send_form(to: string, tags: [string]) {
  POST "/form"
  body form {
    To = to
    "odd key" = "a&b=c+d/é"
    tag = tags
    skipped = null
    n = 3
  }
}

method api.send_multipart(note: string) {
  POST "/multipart"
  body multipart {
    f = bytes("a.bin") as "application/pdf"
    note = note
    typed = "{{\"x\":1}}" as "application/json"
  }
}

method api.send_text(content: string) {
  PUT "/text"
  body text content as "text/csv"
}

method api.send_plain(content: string) {
  PUT "/plain"
  body text content
}

method api.send_xml(id: string) {
  POST "/xml"
  body xml "<SetState><Id>{id}</Id></SetState>"
}

method api.send_bytes() {
  PUT "/bytes"
  body bytes("x.bin") as "application/octet-stream"
}

method api.send_gzip() {
  PUT "/gzip"
  body bytes("x.bin") as "application/gzip"
}

method api.created(code: int) {
  POST "/status/{code}"
  body json {}
  expect 201
}

method api.listed(code: int) {
  DELETE "/status/{code}"
  expect [200, 204, 300..399]
}

runbook json_body(name: string, n: int) {
  step s = api.send_json(name: name, n: n)
}

runbook patch_bodies() {
  step a = api.send_patch(title: "Printer", tags: ["x", null, "y"])
  step b = api.send_patch(assignee: "ann")
}

runbook form_body() {
  step s = api.send_form(to: "+44 7700 900123", tags: ["x y", "z"])
}

runbook multipart_body() {
  step s = api.send_multipart(note: "hello, world")
}

runbook text_bodies() {
  step a = api.send_text(content: "id,name\n1,\"Ann\"\n")
  step b = api.send_plain(content: "plain ☃")
  step c = api.send_xml(id: "CI-7 & co")
}

runbook bytes_bodies() {
  step a = api.send_bytes()
  step b = api.send_gzip()
}
"#;

fn binary_payload() -> Vec<u8> {
    // Every byte value, including NUL, CR, LF and invalid UTF-8.
    (0u8..=255)
        .chain([0xff, 0xfe, 0x00, b'\r', b'\n'])
        .collect()
}

fn setup(server: &Server) -> (Dir, std::path::PathBuf) {
    let dir = Dir::new();
    dir.write("a.bin", &binary_payload());
    dir.write("x.bin", &binary_payload());
    let file = dir.program(BODIES, &server.url);
    (dir, file)
}

#[test]
fn json_body_is_sent_as_json() {
    let server = echo();
    let (_dir, file) = setup(&server);
    run(&file, "json_body", &["name=Zoë \"Q\"", "n=-42"]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/v1/json");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.text(),
        r#"{"name":"Zoë \"Q\"","n":-42,"tags":["a","b"],"nested":{"ok":true,"none":null},"f":1.5}"#
    );
    assert_eq!(
        r.header("content-length").map(str::to_string),
        Some(r.body.len().to_string())
    );
}

#[test]
fn compact_leaves_null_members_and_items_out_of_a_json_body() {
    let server = echo();
    let (_dir, file) = setup(&server);
    run(&file, "patch_bodies", &[]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    // One level only: the nested object keeps its null member.
    assert_eq!(
        reqs[0].text(),
        r#"{"title":"Printer","tags":["x","y"],"kept":{"none":null}}"#
    );
    assert_eq!(
        reqs[1].text(),
        r#"{"assignee":"ann","tags":[],"kept":{"none":null}}"#
    );
}

#[test]
fn form_body_is_urlencoded_and_lists_repeat() {
    let server = echo();
    let (_dir, file) = setup(&server);
    run(&file, "form_body", &[]).ok();
    let r = &server.requests()[0];
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.text(),
        "To=%2B44+7700+900123&odd+key=a%26b%3Dc%2Bd%2F%C3%A9&tag=x+y&tag=z&n=3"
    );
    assert_eq!(
        decode_pairs(&r.text()),
        vec![
            ("To".to_string(), "+44 7700 900123".to_string()),
            ("odd key".into(), "a&b=c+d/é".into()),
            ("tag".into(), "x y".into()),
            ("tag".into(), "z".into()),
            ("n".into(), "3".into()),
        ]
    );
}

#[test]
fn multipart_body_has_file_and_text_parts() {
    let server = echo();
    let (_dir, file) = setup(&server);
    run(&file, "multipart_body", &[]).ok();
    let r = &server.requests()[0];
    let ct = r.header("content-type").expect("content-type").to_string();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let parts = multipart_parts(&ct, &r.body);
    assert_eq!(parts.len(), 3, "{}", r.text());
    let header = |p: &Part, k: &str| {
        p.0.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        header(&parts[0], "content-disposition"),
        r#"form-data; name="f"; filename="a.bin""#
    );
    assert_eq!(header(&parts[0], "content-type"), "application/pdf");
    assert_eq!(parts[0].1, binary_payload());
    assert_eq!(
        header(&parts[1], "content-disposition"),
        r#"form-data; name="note""#
    );
    assert_eq!(parts[1].1, b"hello, world");
    assert_eq!(header(&parts[1], "content-type"), "");
    assert_eq!(
        header(&parts[2], "content-disposition"),
        r#"form-data; name="typed""#
    );
    assert_eq!(header(&parts[2], "content-type"), "application/json");
    assert_eq!(parts[2].1, br#"{"x":1}"#);
}

#[test]
fn text_and_xml_bodies_carry_their_content_types() {
    let server = echo();
    let (_dir, file) = setup(&server);
    run(&file, "text_bodies", &[]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "PUT");
    assert_eq!(reqs[0].header("content-type"), Some("text/csv"));
    assert_eq!(reqs[0].body, b"id,name\n1,\"Ann\"\n");
    assert_eq!(
        reqs[1].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reqs[1].body, "plain ☃".as_bytes());
    assert_eq!(reqs[2].header("content-type"), Some("application/xml"));
    assert_eq!(
        reqs[2].text(),
        "<SetState><Id>CI-7 &amp; co</Id></SetState>",
        "an interpolated value is XML-escaped (raw() would insert it as it is)"
    );
}

#[test]
fn bytes_bodies_are_sent_byte_for_byte() {
    let server = echo();
    let (_dir, file) = setup(&server);
    run(&file, "bytes_bodies", &[]).ok();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reqs[0].body, binary_payload());
    assert_eq!(reqs[1].header("content-type"), Some("application/gzip"));
    assert_eq!(reqs[1].body, binary_payload());
}

const PARAMS: &str = r#"
instance local { url = "@URL@" }

integration api {
  base_url = "{instance.url}/base/"
  headers {
    "User-Agent" = "rbk-tests"
    "X-Common" = "integration"
    Accept = "text/plain"
  }
}

method api.get(name: string, id: int) {
  GET "/items/{name}/sub/{id}"
}

method api.search(q: string, tags: [string], limit: int?, flag: bool, missing: string? = null) {
  GET "/search"
  query {
    q = q
    tag = tags
    limit = limit
    flag = flag
    missing = missing
    "odd key&" = "a=b"
  }
  headers {
    accept = "application/json"
    "x-common" = "method"
    "X-Only-Method" = "yes {q}"
    "X-Null" = null
  }
}

runbook paths(name: string) {
  step s = api.get(name: name, id: 7)
}

runbook queries() {
  step s = api.search(q: "a b&c=d/é?#", tags: ["x", "y z"], limit: null, flag: true)
}
"#;

#[test]
fn path_params_are_percent_encoded() {
    let server = echo();
    let dir = Dir::new();
    let file = dir.program(PARAMS, &server.url);
    run(&file, "paths", &["name=a b/c?d#e%f ☃"]).ok();
    let r = &server.requests()[0];
    assert_eq!(
        r.target,
        "/base/items/a%20b%2Fc%3Fd%23e%25f%20%E2%98%83/sub/7"
    );
    // The decoded segment is the original value.
    let seg = r.path().split('/').nth(3).unwrap_or_default();
    assert_eq!(decode(seg), "a b/c?d#e%f ☃");
}

#[test]
fn query_params_repeat_lists_omit_null_and_encode() {
    let server = echo();
    let dir = Dir::new();
    let file = dir.program(PARAMS, &server.url);
    run(&file, "queries", &[]).ok();
    let r = &server.requests()[0];
    assert_eq!(r.path(), "/base/search");
    assert_eq!(
        r.query(),
        vec![
            ("q".to_string(), "a b&c=d/é?#".to_string()),
            ("tag".into(), "x".into()),
            ("tag".into(), "y z".into()),
            ("flag".into(), "true".into()),
            ("odd key&".into(), "a=b".into()),
        ]
    );
    assert!(!r.raw_query().contains("limit"), "{}", r.target);
    assert!(!r.raw_query().contains("missing"), "{}", r.target);
    // Reserved characters never appear raw inside a value.
    assert!(
        r.raw_query()
            .starts_with("q=a%20b%26c%3Dd%2F%C3%A9%3F%23&tag=x&tag=y%20z"),
        "{}",
        r.target
    );
}

#[test]
fn method_headers_override_integration_headers_case_insensitively() {
    let server = echo();
    let dir = Dir::new();
    let file = dir.program(PARAMS, &server.url);
    run(&file, "queries", &[]).ok();
    let r = &server.requests()[0];
    assert_eq!(r.headers_named("accept"), vec!["application/json"]);
    assert_eq!(r.headers_named("x-common"), vec!["method"]);
    assert_eq!(r.headers_named("user-agent"), vec!["rbk-tests"]);
    assert_eq!(r.header("x-only-method"), Some("yes a b&c=d/é?#"));
    assert_eq!(r.header("x-null"), None);
    // The path params request got the integration's headers alone.
    run(&file, "paths", &["name=n"]).ok();
    let r = &server.requests()[1];
    assert_eq!(r.headers_named("accept"), vec!["text/plain"]);
    assert_eq!(r.headers_named("x-common"), vec!["integration"]);
}

const AUTH: &str = r#"
instance local { url = "@URL@" }

integration open {
  base_url = "{instance.url}"
  auth none
}

integration keyed {
  base_url = "{instance.url}"
  auth api_key { name = "X-Api-Key", value = secret("RBK_T_KEY") }
}

integration keyed_query {
  base_url = "{instance.url}"
  auth api_key { name = "api key", value = secret("RBK_T_KEY"), in = query }
}

integration tokened {
  base_url = "{instance.url}"
  auth bearer { token = secret("RBK_T_TOKEN") }
}

integration custom_bearer {
  base_url = "{instance.url}"
  auth bearer { token = secret("RBK_T_TOKEN"), header = "X-Token", prefix = "" }
}

integration login {
  base_url = "{instance.url}"
  auth basic { username = "ann", password = secret("RBK_T_PASS") }
}

method open.get() { GET "/none" }
method keyed.get() { GET "/key" }
method keyed_query.get() {
  GET "/keyq"
  query { a = "1" }
}
method tokened.get() { GET "/bearer" }
method tokened.get_open() {
  GET "/bearer-none"
  auth none
}
method custom_bearer.get() { GET "/custom" }
method login.get() { GET "/basic" }

runbook main() {
  step a = open.get()
  step b = keyed.get()
  step c = keyed_query.get()
  step d = tokened.get()
  step e = tokened.get_open()
  step f = custom_bearer.get()
  step g = login.get()
}
"#;

#[test]
fn auth_kinds_send_their_headers() {
    let server = echo();
    let dir = Dir::new();
    let file = dir.program(AUTH, &server.url);
    let out = rbk_env(
        &["run", file.to_str().unwrap_or_default(), "main", "-vv"],
        &[
            ("RBK_T_KEY", "k3y/+&"),
            ("RBK_T_TOKEN", "t0ken"),
            ("RBK_T_PASS", "p@ss:wörd"),
        ],
    );
    out.ok();
    let reqs = server.requests();
    let by_path = |p: &str| {
        reqs.iter()
            .find(|r| r.path() == p)
            .unwrap_or_else(|| panic!("no request to {p}"))
    };
    let none = by_path("/none");
    assert_eq!(none.header("authorization"), None);
    assert_eq!(none.header("x-api-key"), None);
    assert_eq!(by_path("/key").header("x-api-key"), Some("k3y/+&"));
    assert_eq!(by_path("/key").header("authorization"), None);
    let q = by_path("/keyq");
    assert_eq!(
        q.query(),
        vec![
            ("a".to_string(), "1".to_string()),
            ("api key".into(), "k3y/+&".into())
        ]
    );
    assert_eq!(q.header("x-api-key"), None);
    assert_eq!(
        by_path("/bearer").header("authorization"),
        Some("Bearer t0ken")
    );
    assert_eq!(by_path("/bearer-none").header("authorization"), None);
    let custom = by_path("/custom");
    assert_eq!(custom.header("x-token"), Some("t0ken"));
    assert_eq!(custom.header("authorization"), None);
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ann:p@ss:wörd")
    );
    assert_eq!(
        by_path("/basic").header("authorization"),
        Some(expected.as_str())
    );
    // -vv traces requests; no credential appears in them.
    for secret in ["k3y", "t0ken", "p@ss", &expected[6..]] {
        assert!(!out.stderr.contains(secret), "{secret} leaked:\n{out}");
    }
}

#[test]
fn expect_decides_success() {
    let server = Server::start(|r, _| {
        let code: u16 = r
            .path()
            .trim_start_matches("/v1/status/")
            .parse()
            .unwrap_or(500);
        Reply::text("x").code(code)
    });
    let (_dir, file) = setup(&server);
    assert_eq!(
        call(&file, "api.created", &["code=201"]).ok()["status"],
        201
    );
    let out = call(&file, "api.created", &["code=200"]);
    assert!(
        out.failed()
            .contains("status 200 is not one of the expected 201"),
        "{out}"
    );
    for ok in [200, 204, 300, 304, 399] {
        let out = call(&file, "api.listed", &[&format!("code={ok}")]);
        assert_eq!(out.code, Some(0), "{ok}: {out}");
    }
    for bad in [201, 400, 404] {
        let out = call(&file, "api.listed", &[&format!("code={bad}")]);
        assert!(
            out.failed()
                .contains(&format!("status {bad} is not one of the expected 200,")),
            "{bad}: {out}"
        );
    }
    assert_eq!(server.requests()[2].method, "DELETE");
}

const REDIRECTS: &str = r#"
instance local { url = "@URL@" }

integration api {
  base_url = "{instance.url}"
  auth bearer { token = secret("RBK_T_REDIR") }
}

method api.moved(to: string) {
  GET "/moved"
  query { to = to }
  output { where: string = $.where }
}

method api.typed() {
  POST "/typed"
  headers { "content-type" = "application/vnd.api+json" }
  body json { a: 1 }
}
"#;

#[test]
fn redirects_are_followed_without_credentials_to_another_host() {
    let other = Server::start(|_, _| Reply::json(json!({ "where": "other" })));
    let server = Server::start(|r, _| match r.path() {
        "/moved" => Reply::status(302).header("Location", &r.query_value("to").unwrap_or_default()),
        _ => Reply::json(json!({ "where": "same" })),
    });
    let dir = Dir::new();
    let file = dir.program(REDIRECTS, &server.url);
    let f = file.to_string_lossy().into_owned();
    let env = [("RBK_T_REDIR", "redir-token")];
    let out = rbk_env(&["call", &f, "api.moved", "--arg", "to=/landing"], &env);
    assert_eq!(out.ok()["where"], "same");
    let landing = &server.requests()[1];
    assert_eq!(landing.path(), "/landing");
    assert_eq!(landing.header("authorization"), Some("Bearer redir-token"));
    let to = format!("to={}/elsewhere", other.url);
    let out = rbk_env(&["call", &f, "api.moved", "--arg", &to], &env);
    assert_eq!(out.ok()["where"], "other");
    let r = &other.requests()[0];
    assert_eq!(r.path(), "/elsewhere");
    assert_eq!(
        r.header("authorization"),
        None,
        "no credentials to another host"
    );
}

#[test]
fn redirect_hops_are_recorded_and_replayed() {
    let other = Server::start(|_, _| Reply::json(json!({ "where": "other" })));
    let server = Server::start(|r, _| match r.path() {
        "/moved" => Reply::status(302).header("Location", &r.query_value("to").unwrap_or_default()),
        "/expected" => Reply::status(301).header("Location", "/landing"),
        _ => Reply::json(json!({ "where": "same" })),
    });
    let dir = Dir::new();
    let file = dir.program(REDIRECTS, &server.url);
    let f = file.to_string_lossy().into_owned();
    let cassette = dir.file("c.json").to_string_lossy().into_owned();
    let env = [("RBK_T_REDIR", "redir-token")];
    let to = format!("to={}/elsewhere", other.url);
    let args = ["call", &f, "api.moved", "--arg", &to];
    let mut rec = args.to_vec();
    rec.extend_from_slice(&["--record", &cassette]);
    let recorded = rbk_env(&rec, &env);
    assert_eq!(recorded.ok()["where"], "other");
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cassette).unwrap()).unwrap();
    let hops = c["interactions"].as_array().unwrap();
    assert_eq!(hops.len(), 2, "one interaction per hop: {c}");
    assert_eq!(hops[0]["response"]["status"], 302, "{c}");
    server.stop();
    other.stop();
    let mut rep = args.to_vec();
    rep.extend_from_slice(&["--replay", &cassette]);
    let replayed = rbk_env(&rep, &env);
    assert_eq!(replayed.code, Some(0), "{replayed}");
    assert_eq!(replayed.stdout, recorded.stdout);
}

#[test]
fn an_expected_redirect_is_the_answer() {
    let server = Server::start(|r, _| match r.path() {
        "/moved" => Reply::status(302).header("Location", "/landing"),
        _ => Reply::json(json!({ "where": "same" })),
    });
    let dir = Dir::new();
    let src = REDIRECTS.replace(
        "  output { where: string = $.where }",
        "  expect [200, 302]\n  output { location: string? = header(\"location\"), code: int = status }",
    );
    let file = dir.program(&src, &server.url);
    let f = file.to_string_lossy().into_owned();
    let out = rbk_env(
        &["call", &f, "api.moved", "--arg", "to=x"],
        &[("RBK_T_REDIR", "redir-token")],
    );
    let v = out.ok();
    assert_eq!(
        (&v["location"], &v["code"]),
        (&json!("/landing"), &json!(302))
    );
    assert_eq!(server.count(), 1, "not followed");
}

#[test]
fn a_content_type_header_on_the_method_wins() {
    let server = echo();
    let dir = Dir::new();
    let file = dir.program(REDIRECTS, &server.url);
    let f = file.to_string_lossy().into_owned();
    let out = rbk_env(&["call", &f, "api.typed"], &[("RBK_T_REDIR", "x")]);
    out.ok();
    let r = &server.requests()[0];
    assert_eq!(
        r.headers_named("content-type"),
        vec!["application/vnd.api+json"]
    );
    assert_eq!(r.text(), r#"{"a":1}"#);
}

const LENIENT_TOKEN: &str = r#"
instance local { url = "@URL@" }

integration api {
  base_url = "{instance.url}"
  auth oauth2 {
    grant = client_credentials
    token_url = "{instance.url}/token"
    client_id = "rbk"
    client_secret = secret("RBK_T_LENIENT")
  }
}

method api.me() {
  GET "/me"
  output { who: string = $.who }
}
"#;

/// Token endpoints that bend RFC 6749: JSON served as text/plain, no
/// `token_type`, `expires_in` as a string. The token is used and cached
/// with its expiry.
#[test]
fn oauth2_accepts_loosely_formatted_token_answers() {
    let server = Server::start(|r, _| match r.path() {
        "/token" => Reply::text(r#"{"access_token":"loose-tok-123","expires_in":"3600"}"#),
        _ if r.header("authorization") == Some("Bearer loose-tok-123") => {
            Reply::json(json!({ "who": "rbk" }))
        }
        _ => Reply::status(401),
    });
    let dir = Dir::new();
    let file = dir.program(LENIENT_TOKEN, &server.url);
    let f = file.to_string_lossy().into_owned();
    let cache = dir.file("cache").to_string_lossy().into_owned();
    let env = [
        ("RBK_T_LENIENT", "lenient-secret"),
        ("RBK_CACHE_DIR", cache.as_str()),
    ];
    let out = rbk_env(&["call", &f, "api.me"], &env);
    assert_eq!(out.ok()["who"], "rbk");
    let tokens: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.file("cache/tokens.json")).expect("cached"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.file(p))
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(
            mode("cache/tokens.json"),
            0o600,
            "the token file is owner-only"
        );
        assert_eq!(mode("cache"), 0o700, "its directory is owner-only");
        let left: Vec<String> = std::fs::read_dir(dir.file("cache"))
            .expect("cache dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["tokens.json"], "no temporary file beside it");
    }
    let t = &tokens["tokens"][0]["token"];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = t["expires_at"].as_u64().expect("an expiry from the string");
    assert!(exp > now + 3500 && exp <= now + 3601, "{t}");
    // A second run reuses it.
    let out = rbk_env(&["call", &f, "api.me"], &env);
    out.ok();
    let token_calls = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/token")
        .count();
    assert_eq!(token_calls, 1);
}

/// No `expires_in`: `default_expiry` gives the token its lifetime; without
/// it the token never expires.
#[test]
fn oauth2_default_expiry_applies_only_without_expires_in() {
    let server = Server::start(|r, _| match r.path() {
        "/token" => Reply::json(json!({ "access_token": "no-exp-tok", "token_type": "Bearer" })),
        _ => Reply::json(json!({ "who": "rbk" })),
    });
    let expiry_of = |src: &str| {
        let dir = Dir::new();
        let file = dir.program(src, &server.url);
        let f = file.to_string_lossy().into_owned();
        let cache = dir.file("cache").to_string_lossy().into_owned();
        let env = [
            ("RBK_T_LENIENT", "lenient-secret"),
            ("RBK_CACHE_DIR", cache.as_str()),
        ];
        rbk_env(&["call", &f, "api.me"], &env).ok();
        let tokens: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.file("cache/tokens.json")).expect("cached"),
        )
        .unwrap();
        tokens["tokens"][0]["token"]["expires_at"].clone()
    };
    assert_eq!(expiry_of(LENIENT_TOKEN), serde_json::Value::Null);
    let with = LENIENT_TOKEN.replace(
        "    client_id = \"rbk\"",
        "    client_id = \"rbk\"\n    default_expiry = 1h",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = expiry_of(&with).as_u64().expect("an expiry");
    assert!(exp > now + 3590 && exp <= now + 3601, "{exp} vs {now}");
}

/// A cassette recorded while the cached token went stale (401, a new token,
/// the resend answered 201) replays without the server: the 401 and the
/// resend are answered in order.
#[test]
fn a_recorded_token_refresh_replays() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let tokens = std::sync::Arc::new(AtomicUsize::new(0));
    let t = tokens.clone();
    let server = Server::start(move |r, _| match r.path() {
        "/token" => {
            let n = t.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::json(json!({ "access_token": format!("tok-{n}"), "expires_in": 3600 }))
        }
        // The first token is already stale on the server.
        _ if r.header("authorization") == Some("Bearer tok-2") => {
            Reply::json(json!({ "who": "rbk" })).code(201)
        }
        _ => Reply::status(401),
    });
    let dir = Dir::new();
    let file = dir.program(LENIENT_TOKEN, &server.url);
    let f = file.to_string_lossy().into_owned();
    let cache = dir.file("cache").to_string_lossy().into_owned();
    let cassette = dir.file("c.json").to_string_lossy().into_owned();
    let env = [
        ("RBK_T_LENIENT", "lenient-secret"),
        ("RBK_CACHE_DIR", cache.as_str()),
    ];
    let out = rbk_env(&["call", &f, "api.me", "--record", &cassette], &env);
    assert_eq!(out.ok()["who"], "rbk");
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        2,
        "a second token after the 401"
    );
    server.stop();
    let out = rbk_env(&["call", &f, "api.me", "--replay", &cassette], &env);
    assert_eq!(out.ok()["status"], 201, "{out}");
}
