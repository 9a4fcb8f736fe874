//! `rbk import curl`: for each documented flag combination, the imported
//! method sends what the real curl sends. Both go to one in-process server
//! that records each request as received; method, path, query, the headers
//! the line sets and the body are compared. The generated text is checked
//! (0 errors), is already formatted, and holds no credential of the line.

mod run_support;

use std::process::Command;

use run_support::{Dir, Reply, Req, Server, multipart_parts, rbk_env};

/// A curl line (after `curl`, with `@URL@` for the server), the secrets
/// the generated program reads, and how bodies are compared.
struct Case {
    args: &'static str,
    secrets: &'static [(&'static str, &'static str)],
    /// Credentials that must not appear in the generated text.
    hidden: &'static [&'static str],
    body: BodyCmp,
    /// Headers compared (lower case), besides Content-Type.
    headers: &'static [&'static str],
}

#[derive(Clone, Copy, PartialEq)]
enum BodyCmp {
    Bytes,
    /// JSON compared as values (rbk writes JSON compactly).
    Json,
    /// Multipart compared part by part (the boundaries differ).
    Multipart,
}

const CASES: &[Case] = &[
    Case {
        args: "@URL@/v1/items",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Bytes,
        headers: &[],
    },
    Case {
        args: "-X DELETE '@URL@/v1/items/42?force=true&reason=dup%20entry'",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Bytes,
        headers: &[],
    },
    Case {
        args: "-H 'Accept: application/vnd.api+json' -H 'X-Trace: abc' -A 'my-agent/1.0' -e https://ref.example.com/ '@URL@/search?q=a+b&page=2'",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Bytes,
        headers: &["accept", "x-trace", "user-agent", "referer"],
    },
    Case {
        args: "-u alice:s3cr3t-pass @URL@/2010-04-01/Accounts/AC123/Messages.json -d To=%2B15551234567 -d From=%2B15557654321 -d 'Body=Hello+there'",
        secrets: &[("ECHO_USERNAME", "alice"), ("ECHO_PASSWORD", "s3cr3t-pass")],
        hidden: &["s3cr3t-pass", "alice"],
        body: BodyCmp::Bytes,
        headers: &["authorization"],
    },
    Case {
        args: "--data-raw 'name=John Doe&note=50%' @URL@/raw",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Bytes,
        headers: &[],
    },
    Case {
        args: "--data-urlencode 'comment=hello world & more' --data-urlencode 'x=ü' @URL@/comments",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Bytes,
        headers: &[],
    },
    Case {
        args: "-X PUT -H 'Content-Type: application/json' -H 'Authorization: Bearer tok-123456' -d '{\"name\":\"Rex\",\"age\":3,\"tags\":[\"a\",\"b\"],\"owner\":{\"id\":7}}' @URL@/pets/9",
        secrets: &[("ECHO_TOKEN", "tok-123456")],
        hidden: &["tok-123456"],
        body: BodyCmp::Bytes,
        headers: &["authorization"],
    },
    Case {
        args: "--json '{ \"title\": \"Printer on fire\", \"priority\": 1.5, \"urgent\": true }' @URL@/tickets",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Json,
        headers: &["accept"],
    },
    Case {
        args: "-H 'X-API-Key: key-abcdef' -H 'Cookie: session=sess-999' -G -d status=open -d limit=5 @URL@/tickets",
        secrets: &[
            ("ECHO_X_API_KEY", "key-abcdef"),
            ("ECHO_COOKIE", "session=sess-999"),
        ],
        hidden: &["key-abcdef", "sess-999"],
        body: BodyCmp::Bytes,
        headers: &["x-api-key", "cookie"],
    },
    Case {
        args: "'@URL@/data?api_key=qk-777&format=csv'",
        secrets: &[("ECHO_API_KEY", "qk-777")],
        hidden: &["qk-777"],
        body: BodyCmp::Bytes,
        headers: &[],
    },
    Case {
        args: "-X PATCH -H 'Content-Type: text/plain; charset=utf-8' --data-binary 'line one' @URL@/notes/1",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Bytes,
        headers: &[],
    },
    Case {
        args: "-F name=report -F 'file=@upload.txt;type=text/plain' @URL@/upload",
        secrets: &[],
        hidden: &[],
        body: BodyCmp::Multipart,
        headers: &[],
    },
    Case {
        args: "--oauth2-bearer oauth-tok-1 -sSL -k -m 5 -I @URL@/health",
        secrets: &[("ECHO_TOKEN", "oauth-tok-1")],
        hidden: &["oauth-tok-1"],
        body: BodyCmp::Bytes,
        headers: &["authorization"],
    },
];

fn curl_request(server: &Server, args: &str, dir: &Dir) -> Req {
    let before = server.count();
    let line = format!(
        "curl -s -o /dev/null {}",
        args.replace("@URL@", &server.url)
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(&dir.path)
        .status()
        .expect("sh runs");
    assert!(status.success(), "curl failed: {line}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), before + 1, "curl sent one request: {line}");
    reqs[before].clone()
}

fn rbk_request(server: &Server, case: &Case, dir: &Dir, n: usize) -> (Req, String) {
    let line = format!("curl {}", case.args.replace("@URL@", &server.url));
    let out = dir.file(&format!("imported{n}.rbk"));
    let o = rbk_env(
        &[
            "import",
            "curl",
            &line,
            "--integration",
            "echo",
            "--name",
            "send",
            "-o",
            out.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "import failed for {line}:\n{o}");
    let text = std::fs::read_to_string(&out).expect("written");
    assert_valid(&text, &out);
    let before = server.count();
    let o = rbk_env(
        &["call", out.to_str().expect("utf-8"), "echo.send"],
        case.secrets,
    );
    assert_eq!(o.code, Some(0), "call failed for {line}:\n{text}\n{o}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), before + 1, "rbk sent one request");
    (reqs[before].clone(), text)
}

/// Formatted (rbk fmt changes nothing) and checked with 0 errors.
fn assert_valid(text: &str, path: &std::path::Path) {
    assert_eq!(
        rbk::syntax::format::format_source(text).as_deref(),
        Some(text),
        "not formatted"
    );
    let checked = rbk::check::check(rbk::load::load_source(path, text.to_string()));
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
}

fn content_type(r: &Req) -> String {
    r.header("content-type").unwrap_or("").to_string()
}

#[test]
#[ignore = "needs the real curl: installed by .ci/setup-curl.sh"]
fn each_flag_combination_sends_what_curl_sends() {
    let server = Server::start(|_, _| Reply::json(serde_json::json!({"ok": true})));
    let dir = Dir::new();
    dir.write("upload.txt", b"hello from a file\n");
    for (n, case) in CASES.iter().enumerate() {
        let want = curl_request(&server, case.args, &dir);
        let (got, text) = rbk_request(&server, case, &dir, n);
        let what = format!("case {n}: curl {}\n--- generated\n{text}", case.args);
        assert_eq!(got.method, want.method, "method, {what}");
        assert_eq!(got.path(), want.path(), "path, {what}");
        assert_eq!(got.raw_query(), want.raw_query(), "query bytes, {what}");
        for h in case.headers {
            assert_eq!(got.header(h), want.header(h), "header {h}, {what}");
        }
        for (k, _) in &want.headers {
            if k.starts_with("x-") {
                assert_eq!(got.header(k), want.header(k), "header {k}, {what}");
            }
        }
        match case.body {
            BodyCmp::Bytes => {
                assert_eq!(
                    content_type(&got),
                    content_type(&want),
                    "content type, {what}"
                );
                assert_eq!(got.text(), want.text(), "body bytes, {what}");
            }
            BodyCmp::Json => {
                assert_eq!(
                    content_type(&got),
                    content_type(&want),
                    "content type, {what}"
                );
                assert!(!want.body.is_empty(), "{what}");
                assert_eq!(got.json(), want.json(), "JSON body, {what}");
            }
            BodyCmp::Multipart => {
                let g = multipart_parts(&content_type(&got), &got.body);
                let w = multipart_parts(&content_type(&want), &want.body);
                assert_eq!(g.len(), w.len(), "parts, {what}");
                for (gp, wp) in g.iter().zip(&w) {
                    let disp = |p: &run_support::Part, k: &str| {
                        p.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
                    };
                    assert_eq!(
                        disp(gp, "content-disposition"),
                        disp(wp, "content-disposition"),
                        "{what}"
                    );
                    assert_eq!(disp(gp, "content-type"), disp(wp, "content-type"), "{what}");
                    assert_eq!(gp.1, wp.1, "part content, {what}");
                }
            }
        }
        for secret in case.hidden {
            assert!(
                !text.contains(secret),
                "credential {secret:?} copied into the generated file:\n{text}"
            );
        }
    }
}

fn import_err(line: &str) -> run_support::Out {
    rbk_env(&["import", "curl", line], &[])
}

#[test]
fn an_unknown_flag_is_a_coded_error_at_the_flag() {
    let o = import_err("curl --frobnicate https://api.example.com/x");
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("rbk::import::curl_unknown_flag"), "{o}");
    assert!(o.stderr.contains("<curl>:1:6"), "{o}");
    assert!(o.stderr.contains("--frobnicate"), "{o}");
    assert!(o.stdout.is_empty(), "{o}");
}

#[test]
fn bad_lines_are_coded_errors() {
    for (line, code, at) in [
        (
            "curl -H 'unterminated https://x.example.com",
            "rbk::import::invalid_curl",
            "missing closing quote",
        ),
        (
            "wget https://x.example.com",
            "rbk::import::invalid_curl",
            "<curl>:1:1",
        ),
        ("curl -X POST", "rbk::import::invalid_curl", "<curl>:1:1"),
        (
            "curl -d @body.txt https://x.example.com",
            "rbk::import::curl_unknown_flag",
            "<curl>:1:6",
        ),
        (
            "curl https://x.example.com -H",
            "rbk::import::invalid_curl",
            "<curl>:1:28",
        ),
    ] {
        let o = import_err(line);
        assert_eq!(o.code, Some(2), "{line}: {o}");
        assert!(o.stderr.contains(code), "{line}: {o}");
        assert!(o.stderr.contains(at), "{line}: {o}");
    }
}

#[test]
fn credentials_become_secret_placeholders() {
    let line = "curl -u 'acct:pa55word' -H 'X-Auth-Token: tkn-42' -H 'Authorization: Bearer brr-1' \
                'https://api.example.com/v1/x?access_token=at-9&page=1' -d 'password=pw-7&user=bob'";
    let imported = rbk::import::curl::import(line, &rbk::import::curl::Options::default())
        .unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    for secret in ["pa55word", "acct", "tkn-42", "brr-1", "at-9", "pw-7"] {
        assert!(
            !imported.text.contains(secret),
            "{secret} in clear:\n{}",
            imported.text
        );
    }
    assert!(
        imported.text.contains("secret(\"EXAMPLE_PASSWORD\")"),
        "{}",
        imported.text
    );
    assert!(
        imported.text.contains("secret(\"EXAMPLE_X_AUTH_TOKEN\")"),
        "{}",
        imported.text
    );
    assert_valid(&imported.text, std::path::Path::new("x.rbk"));
}

#[test]
fn the_command_may_come_on_stdin_with_continuations() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(["import", "curl"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rbk runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"curl -X POST \\\n  https://api.example.com/v2/tickets \\\n  -d title=Hi\n")
        .expect("write");
    let o = child.wait_with_output().expect("rbk ends");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("POST \"/v2/tickets\""), "{text}");
    assert!(text.contains("title = title"), "{text}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn any_line_is_imported_or_a_coded_error(
        words in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("-[a-zA-Z#]{1,4}").expect("regex"),
                proptest::string::string_regex("--[a-z-]{1,12}").expect("regex"),
                proptest::string::string_regex("'[ -~é]{0,12}'").expect("regex"),
                proptest::string::string_regex("https?://[a-z.:0-9@]{0,12}/[ -~]{0,10}").expect("regex"),
                proptest::string::string_regex("[a-zA-Z=&%+@:;{}\"\\\\]{0,10}").expect("regex"),
            ],
            0..8,
        )
    ) {
        let line = format!("curl {}", words.join(" "));
        match rbk::import::curl::import(&line, &rbk::import::curl::Options::default()) {
            Ok(i) => {
                let checked = rbk::check::check(rbk::load::load_source(
                    std::path::Path::new("x.rbk"),
                    i.text.clone(),
                ));
                let errors: Vec<_> = checked
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error() && d.code != "rbk::missing_file")
                    .collect();
                proptest::prop_assert!(errors.is_empty(), "{line}\n{}\n{errors:#?}", i.text);
            }
            Err(f) => proptest::prop_assert!(f.diagnostics[0].code.starts_with("rbk::import::")),
        }
    }
}

#[test]
fn credentials_are_masked_in_error_messages() {
    let o = import_err(
        "curl -u alice:pa55w0rd -H 'Authorization: Bearer tok-98765' \
         'https://u:urlpass@api.example.com/x?api_key=qk-31337' --frobnicate",
    );
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("--frobnicate"), "{o}");
    for secret in ["pa55w0rd", "tok-98765", "urlpass", "qk-31337"] {
        assert!(!o.stderr.contains(secret), "{secret} shown:\n{o}");
    }
    // Same length masking keeps the place exact.
    assert!(o.stderr.contains("<curl>:1:116"), "{o}");
    let o = import_err("curl -u 'alice:pa55w0rd https://x.example.com");
    assert_eq!(o.code, Some(2), "{o}");
    assert!(!o.stderr.contains("pa55w0rd"), "{o}");
}
