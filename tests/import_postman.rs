//! `rbk import postman` over a realistic v2.1 collection (folders, nested
//! folders, variables, collection/folder/request auth, every body mode,
//! saved examples): formatted, checked with 0 errors, one method per
//! request, no credential in clear; generated methods called against an
//! in-process server (with its OAuth 2.0 token endpoint) send the bodies
//! Postman would.

mod run_support;

use std::path::{Path, PathBuf};

use rbk::import::postman::{Options, import};
use run_support::{Dir, Reply, Server, rbk_env};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import/postman/service_desk.postman_collection.json")
}

fn count_requests(v: &serde_json::Value) -> usize {
    v["item"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    if i.get("item").is_some() {
                        count_requests(i)
                    } else {
                        usize::from(i.get("request").is_some())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn imported() -> String {
    import(&fixture(), &Options::default())
        .unwrap_or_else(|f| panic!("{:#?}", f.diagnostics))
        .text
}

#[test]
fn the_collection_imports_formatted_and_checked_one_method_per_request() {
    let text = imported();
    assert_eq!(
        rbk::syntax::format::format_source(&text).as_deref(),
        Some(text.as_str()),
        "rbk fmt would change it"
    );
    let path = fixture().with_extension("rbk");
    let checked = rbk::check::check(rbk::load::load_source(&path, text.clone()));
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).expect("fixture")).expect("JSON");
    assert_eq!(checked.program.methods.len(), count_requests(&doc));
    assert_eq!(checked.program.methods.len(), 9);
}

#[test]
fn no_credential_is_copied_in_clear() {
    let text = imported();
    for secret in [
        "cs-9f8e7d6c5b4a",
        "ak-live-5566",
        "eyJhbGciOi.fake.token",
        "desk-client-7731",
    ] {
        assert!(!text.contains(secret), "{secret} in clear:\n{text}");
    }
    assert!(
        text.contains("client_secret = secret(\"SERVICE_DESK_CLIENT_SECRET\")"),
        "{text}"
    );
    assert!(
        text.contains("token = secret(\"SERVICE_DESK_USERS_TOKEN\")"),
        "{text}"
    );
    assert!(
        text.contains("value = secret(\"SERVICE_DESK_DISABLE_USER_API_KEY\")"),
        "{text}"
    );
}

#[test]
fn folders_variables_auth_bodies_and_examples_map_to_rbk() {
    let t = imported();
    // `{{baseUrl}}` is the instance URL; the token URL resolves `{{authUrl}}`.
    assert!(
        t.contains("instance service_desk {\n  url = \"https://desk.acme.example/api/v2\"\n}"),
        "{t}"
    );
    assert!(
        t.contains("token_url = \"https://desk.acme.example/auth/token\""),
        "{t}"
    );
    // Folders as sections, nested ones joined.
    assert!(
        t.contains("# ── Tickets ──\n# Create, read and update tickets."),
        "{t}"
    );
    assert!(t.contains("# ── Users / Admin ──"), "{t}");
    // Variables as parameters with the collection's values; disabled entries left out.
    assert!(t.contains("team_id: string = \"42\","), "{t}");
    assert!(!t.contains("include_closed"), "{t}");
    assert!(!t.contains("X-Debug"), "{t}");
    // Path variables.
    assert!(t.contains("GET \"/tickets/{ticket_id}\""), "{t}");
    // Folder auth, request auth, noauth on another origin.
    assert!(
        t.contains(
            "method service_desk_status_acme.health_check() {\n  GET \"/health\"\n  auth none\n}"
        ),
        "{t}"
    );
    // Bodies of every mode.
    assert!(
        t.contains("details: \"Reported by {reporter} via rbk\","),
        "{t}"
    );
    assert!(t.contains("team_id: int = 42,"), "{t}");
    assert!(
        t.contains("body form {\n    state = \"closed\"\n    note = closing_note\n  }"),
        "{t}"
    );
    assert!(t.contains("file = bytes(\"screenshot.png\")"), "{t}");
    assert!(t.contains("variables: { q: search_text },"), "{t}");
    // Outputs from the 2xx example, typed by its values; `ok` renamed.
    for line in [
        "record_count: int = $.record_count",
        "priority: float = $.priority",
        "tags: [string] = $.tags",
        "open: bool = $.open",
        "ok_: bool = $.ok",
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
    // Scripts are not dropped silently.
    assert!(
        t.contains("# rbk import: this request's scripts are not imported"),
        "{t}"
    );
}

#[test]
fn generated_methods_send_what_the_collection_describes() {
    let server = Server::start(|req, _| match (req.method.as_str(), req.path()) {
        ("POST", "/auth/token") => Reply::json(serde_json::json!({
            "access_token": "issued-token-1", "token_type": "Bearer", "expires_in": 3600
        })),
        ("POST", "/api/v2/tickets") => Reply::json(serde_json::json!({
            "id": 1002, "url": "https://desk.acme.example/tickets/1002"
        }))
        .code(201),
        ("GET", "/api/v2/tickets/1001") => Reply::json(serde_json::json!({
            "id": 1001, "summary": "VPN down", "priority": 2.5, "open": true,
            "tags": ["network"], "assignee": {"login": "sam"}, "status": "new"
        })),
        ("PATCH", "/api/v2/tickets/7") => Reply::status(204),
        _ => Reply::status(404),
    });
    let dir = Dir::new();
    let text = imported().replace("https://desk.acme.example", &server.url);
    let file = dir.write("desk.rbk", text.as_bytes());
    let f = file.to_str().expect("utf-8");
    let cache = dir.file("cache");
    let env = [
        ("SERVICE_DESK_CLIENT_ID", "cid"),
        ("SERVICE_DESK_CLIENT_SECRET", "csecret"),
        ("RBK_CACHE_DIR", cache.to_str().expect("utf-8")),
    ];

    let o = rbk_env(
        &[
            "call",
            f,
            "service_desk.create_ticket",
            "--arg",
            "summary=Printer on fire",
            "--arg",
            "reporter=Ann",
        ],
        &env,
    );
    let out = o.ok();
    assert_eq!(out["id"], 1002, "{o}");
    let reqs = server.requests();
    let create = reqs
        .iter()
        .find(|r| r.path() == "/api/v2/tickets")
        .expect("sent");
    assert_eq!(
        create.header("authorization"),
        Some("Bearer issued-token-1")
    );
    assert_eq!(
        create.json(),
        serde_json::json!({
            "summary": "Printer on fire", "team_id": 42,
            "details": "Reported by Ann via rbk", "priority": 3, "tags": ["imported"]
        })
    );

    let o = rbk_env(&["call", f, "service_desk.get_ticket"], &env);
    let out = o.ok();
    assert_eq!(out["summary"], "VPN down", "{o}");
    assert_eq!(out["priority"], 2.5);
    assert_eq!(out["tags"], serde_json::json!(["network"]));

    let o = rbk_env(
        &[
            "call",
            f,
            "service_desk.close_ticket",
            "--arg",
            "ticket_id=7",
            "--arg",
            "closing_note=fixed it",
        ],
        &env,
    );
    assert_eq!(o.code, Some(0), "{o}");
    let close = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("sent");
    assert_eq!(close.text(), "state=closed&note=fixed+it");
}

#[test]
fn bad_collections_are_coded_errors() {
    let dir = Dir::new();
    let v1 = dir.write(
        "v1.json",
        br#"{"info": {"name": "old", "schema": "https://schema.getpostman.com/json/collection/v1.0.0/collection.json"}, "requests": []}"#,
    );
    let o = rbk_env(&["import", "postman", v1.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("rbk::import::unsupported_version"), "{o}");
    assert!(o.stderr.contains("v1.json:1:"), "{o}");
    let broken = dir.write("broken.json", b"{\"info\": {\"name\": \"x\",}\n}");
    let o = rbk_env(&["import", "postman", broken.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("rbk::import::invalid_document"), "{o}");
    assert!(o.stderr.contains("broken.json:1:"), "{o}");
    let other = dir.write("other.json", b"{\"openapi\": \"3.1.0\"}");
    let o = rbk_env(&["import", "postman", other.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("is not a Postman collection"), "{o}");
}

/// A diagnostic shows the lines around the error, which may be the whole
/// of a minified collection: the credentials in them are masked there.
#[test]
fn diagnostics_do_not_show_credentials() {
    let dir = Dir::new();
    let minified = dir.write(
        "min.json",
        br#"{"info":{"name":"x","schema":"https://schema.getpostman.com/json/collection/v1.0.0/collection.json"},"auth":{"type":"bearer","bearer":[{"key":"token","value":"PLANTED-bearer-1","type":"string"}]},"variable":[{"key":"apiKey","value":"PLANTED-var-2"}],"item":[]}"#,
    );
    let broken = dir.write(
        "broken.json",
        b"{\n  \"info\": {\"name\": \"x\", \"schema\": \"https://schema.getpostman.com/json/collection/v2.1.0/collection.json\"},\n  \"variable\": [\n    {\"key\": \"password\", \"value\": \"PLANTED-pass-3\"},\n    {\"client_secret\": \"PLANTED-secret-4\"},\n  ],\n  \"item\": []\n}\n",
    );
    for (file, code, at) in [
        (&minified, "rbk::import::unsupported_version", "min.json:1:"),
        (&broken, "rbk::import::invalid_document", "broken.json:6:"),
    ] {
        let o = rbk_env(&["import", "postman", file.to_str().expect("utf-8")], &[]);
        assert_eq!(o.code, Some(2), "{o}");
        assert!(o.stderr.contains(code) && o.stderr.contains(at), "{o}");
        // The lines are shown, with stars where the values were.
        assert!(o.stderr.contains("\"****"), "{o}");
        assert!(
            !format!("{}{}", o.stdout, o.stderr).contains("PLANTED"),
            "{o}"
        );
    }
}

#[test]
fn mangled_collections_never_panic() {
    let dir = Dir::new();
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    // Every value of one kind swapped for another shape, and truncations.
    let variants = [
        text.replace("\"item\": [", "\"item\": [{\"item\": 3}, "),
        text.replace("\"request\": {", "\"request\": {\"url\": 7, \"x\": {"),
        text.replace("\"raw\": \"{", "\"raw\": \"{{{{ {{"),
        text.replace("\"value\": \"", "\"value\": [\""),
        text.replace("{{", "{{}}{{"),
        text.replace(":ticketId", ":"),
    ];
    for (i, v) in variants.iter().enumerate() {
        let p = dir.write(&format!("v{i}.json"), v.as_bytes());
        if let Ok(imported) = import(&p, &Options::default()) {
            let checked = rbk::check::check(rbk::load::load_source(&p, imported.text.clone()));
            let errors: Vec<_> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            assert!(
                errors.is_empty(),
                "variant {i}: {errors:#?}\n{}",
                imported.text
            );
        }
    }
    for cut in (0..text.len()).step_by(211) {
        let p = dir.write("cut.json", &text.as_bytes()[..cut]);
        let _ = import(&p, &Options::default());
    }
}

#[test]
fn postmans_own_example_collections_import_and_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/postman");
    for (name, requests) in [
        ("collection-v2.json", 7),
        ("digest.json", 2),
        ("nested-v2-collection.json", 6),
    ] {
        let path = dir.join(name);
        let imported = import(&path, &Options::default())
            .unwrap_or_else(|f| panic!("{name}: {:#?}", f.diagnostics));
        assert_eq!(
            rbk::syntax::format::format_source(&imported.text).as_deref(),
            Some(imported.text.as_str()),
            "{name}: not formatted"
        );
        let checked = rbk::check::check(rbk::load::load_source(&path, imported.text.clone()));
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}\n{}", imported.text);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
        assert_eq!(count_requests(&doc), requests, "{name}");
        assert_eq!(checked.program.methods.len(), requests, "{name}");
    }
    // Digest auth cannot be expressed: said, not dropped.
    let digest = import(&dir.join("digest.json"), &Options::default()).expect("imports");
    assert!(
        digest
            .text
            .contains("# rbk import: Postman `digest` auth cannot be expressed")
    );
}
