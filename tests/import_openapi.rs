//! `rbk import openapi` over real public documents (tests/fixtures/import/,
//! sources and licences in its README): every import is already formatted,
//! checks with 0 errors and has one method per operation; a generated
//! Petstore method is called against an in-process server and its typed
//! outputs are compared; bad documents are coded errors at the place.

mod run_support;

use std::path::{Path, PathBuf};

use rbk::import::openapi::{Options, import};
use run_support::{Dir, Reply, Server, rbk_env};

const DIR: &str = "tests/fixtures/import/openapi";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(name)
}

/// Operations in a document, counted independently of the importer.
fn operation_count(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("fixture");
    let doc: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).expect("JSON")
    } else {
        // serde_norway into serde_json's tree; keys become strings.
        let y: serde_norway::Value = serde_norway::from_str(&text)
            .or_else(|_| {
                serde_norway::from_str(
                    &text
                        .replace("-9223372036854776000", "0")
                        .replace("9223372036854776000", "0"),
                )
            })
            .expect("YAML");
        serde_json::to_value(y).expect("as JSON")
    };
    doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| {
            ["get", "put", "post", "delete", "options", "head", "patch"]
                .iter()
                .filter(|v| item.get(**v).is_some())
                .count()
        })
        .sum()
}

/// Formatted, checked with 0 errors; the number of methods.
fn assert_valid(text: &str, path: &Path) -> usize {
    assert_eq!(
        rbk::syntax::format::format_source(text).as_deref(),
        Some(text),
        "rbk fmt would change the import"
    );
    let checked = rbk::check::check(rbk::load::load_source(path, text.to_string()));
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    checked.program.methods.len()
}

fn import_ok(path: &Path, opts: &Options) -> rbk::import::Imported {
    import(path, opts).unwrap_or_else(|f| panic!("{:#?}", f.diagnostics))
}

#[test]
fn every_fixture_imports_formatted_checked_one_method_per_operation() {
    for name in [
        "petstore.yaml",
        "twilio_api_v2010.json",
        "openai.yaml",
        "multi/api.yaml",
        "edge.yaml",
    ] {
        let path = fixture(name);
        let imported = import_ok(&path, &Options::default());
        let methods = assert_valid(&imported.text, &path.with_extension("rbk"));
        let ops = operation_count(&path);
        assert_eq!(methods, ops, "{name}: methods against operations");
        assert_eq!(imported.methods, ops, "{name}");
    }
}

#[test]
fn the_large_documents_have_hundreds_of_operations() {
    assert_eq!(operation_count(&fixture("twilio_api_v2010.json")), 197);
    assert_eq!(operation_count(&fixture("openai.yaml")), 288);
}

#[test]
fn filters_select_by_tag_and_operation() {
    let path = fixture("petstore.yaml");
    let by_tag = import_ok(
        &path,
        &Options {
            tags: vec!["store".into()],
            ..Default::default()
        },
    );
    assert_eq!(assert_valid(&by_tag.text, &path), 4);
    assert!(by_tag.text.contains("method swagger_petstore.place_order("));
    let by_op = import_ok(
        &path,
        &Options {
            operations: vec!["getPetById".into(), "delete_user".into()],
            integration: Some("pets".into()),
            ..Default::default()
        },
    );
    assert_eq!(assert_valid(&by_op.text, &path), 2);
    assert!(
        by_op
            .text
            .contains("method pets.get_pet_by_id(\n  ## ID of pet to return\n  pet_id: int,\n)"),
        "{}",
        by_op.text
    );
    let none = import(
        &path,
        &Options {
            tags: vec!["nope".into()],
            ..Default::default()
        },
    );
    let f = none.expect_err("nothing selected is an error");
    assert_eq!(f.diagnostics[0].code, "rbk::import::nothing_selected");
}

#[test]
fn the_multi_file_document_resolves_refs_auth_servers_and_shapes() {
    let path = fixture("multi/api.yaml");
    let t = import_ok(&path, &Options::default()).text;
    // Servers as instances, variables at their defaults.
    assert!(
        t.contains("instance production {\n  url = \"https://eu.inventory.example.com/v2\"\n}"),
        "{t}"
    );
    assert!(t.contains("instance sandbox"), "{t}");
    // oauth2 client credentials with the requirement's scopes; secret placeholder.
    assert!(t.contains("grant = client_credentials"), "{t}");
    assert!(
        t.contains("client_secret = secret(\"INVENTORY_CLIENT_SECRET\")"),
        "{t}"
    );
    assert!(t.contains("scope = \"items.read\""), "{t}");
    // A parameter from another file, with its default; explode=false joined.
    assert!(t.contains("limit: int = 50,"), "{t}");
    assert!(t.contains("ids = join(ids, \",\")"), "{t}");
    // Cookie parameters are warned about, not dropped silently.
    assert!(
        t.contains("# rbk import: cookie parameter `session`"),
        "{t}"
    );
    // A cursor page, an allOf body across files, a reserved word renamed.
    assert!(
        t.contains("paginate cursor {\n    param = \"cursor\"\n    next = $.next_cursor\n  }"),
        "{t}"
    );
    assert!(t.contains("price: float = 9.5,"), "{t}");
    assert!(t.contains("in: in_,"), "{t}");
    // Outputs typed, optional ones with `?`; `status` renamed.
    assert!(t.contains("id: int = $.id"), "{t}");
    assert!(t.contains("price: float? = $.price"), "{t}");
    assert!(t.contains("tags: [string]? = $.tags"), "{t}");
    assert!(t.contains("status_: string? = $.status"), "{t}");
    // A stable fallback name, a path parameter renamed, `security: []`.
    assert!(
        t.contains("method inventory.get_items_by_item_id(item_id: int)"),
        "{t}"
    );
    assert!(
        t.contains("DELETE \"/items/{item_id}\"\n  auth none\n  expect 204"),
        "{t}"
    );
    // An operation that is itself a `$ref` into another file.
    assert!(
        t.contains("method inventory.get_health() {\n  GET \"/health\"\n  auth none\n  expect 200\n  output {\n    healthy: bool? = $.healthy\n  }\n}"),
        "{t}"
    );
}

#[test]
fn a_petstore_method_is_called_and_its_typed_outputs_match() {
    let server = Server::start(|req, _| match (req.method.as_str(), req.path()) {
        ("GET", "/api/v3/pet/10") => Reply::json(serde_json::json!({
            "id": 10, "name": "doggie",
            "category": {"id": 1, "name": "Dogs"},
            "photoUrls": ["https://img.example/d.png"],
            "tags": [{"id": 0, "name": "good"}],
            "status": "available"
        })),
        ("POST", "/api/v3/pet") => {
            let mut pet = req.json();
            pet["id"] = serde_json::json!(11);
            Reply::json(pet)
        }
        ("GET", "/api/v3/pet/13") => Reply::json(serde_json::json!({
            "id": "thirteen", "name": "typo", "photoUrls": []
        })),
        _ => Reply::status(404),
    });
    let dir = Dir::new();
    let text = import_ok(&fixture("petstore.yaml"), &Options::default()).text;
    let file = dir.write(
        "petstore.rbk",
        text.replace(
            "https://petstore3.swagger.io/api/v3",
            &format!("{}/api/v3", server.url),
        )
        .as_bytes(),
    );
    let f = file.to_str().expect("utf-8");
    let env = [("SWAGGER_PETSTORE_API_KEY", "pet-key-1")];

    let o = rbk_env(
        &[
            "call",
            f,
            "swagger_petstore.get_pet_by_id",
            "--arg",
            "pet_id=10",
        ],
        &env,
    );
    let out = o.ok();
    assert_eq!(out["id"], 10, "{o}");
    assert_eq!(out["name"], "doggie");
    assert_eq!(
        out["photo_urls"],
        serde_json::json!(["https://img.example/d.png"])
    );
    assert_eq!(out["status_"], "available");
    assert_eq!(out["category"]["name"], "Dogs");
    let reqs = server.requests();
    assert_eq!(
        reqs[0].header("api_key"),
        Some("pet-key-1"),
        "the api_key auth block"
    );

    let o = rbk_env(
        &[
            "call",
            f,
            "swagger_petstore.add_pet",
            "--arg",
            "name=Rex",
            "--arg",
            "photo_urls=[\"a.png\"]",
            "--arg",
            "status_=pending",
        ],
        &env,
    );
    let out = o.ok();
    assert_eq!(out["id"], 11, "{o}");
    assert_eq!(out["name"], "Rex");
    assert_eq!(out["status_"], "pending");
    let sent = server.requests()[1].json();
    assert_eq!(sent["name"], "Rex");
    assert_eq!(sent["photoUrls"], serde_json::json!(["a.png"]));
    // Optional members that were not given are left out, not sent as null.
    let keys: Vec<&String> = sent.as_object().expect("a JSON object").keys().collect();
    assert_eq!(keys, ["name", "photoUrls", "status"], "{sent}");

    // The outputs are typed: a text id fails the call, naming the output.
    let o = rbk_env(
        &[
            "call",
            f,
            "swagger_petstore.get_pet_by_id",
            "--arg",
            "pet_id=13",
        ],
        &env,
    );
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("rbk::output::type"), "{o}");
    // Undocumented statuses are not successes (`expect 200`).
    let o = rbk_env(
        &[
            "call",
            f,
            "swagger_petstore.get_pet_by_id",
            "--arg",
            "pet_id=12",
        ],
        &env,
    );
    assert_eq!(o.code, Some(1), "{o}");
}

fn cli_error(name: &str) -> run_support::Out {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import/bad")
        .join(name);
    rbk_env(&["import", "openapi", p.to_str().expect("utf-8")], &[])
}

#[test]
fn bad_documents_are_coded_errors_naming_the_place() {
    for (name, code, at) in [
        (
            "invalid.json",
            "rbk::import::invalid_document",
            "invalid.json:6:3",
        ),
        (
            "invalid.yaml",
            "rbk::import::invalid_document",
            "invalid.yaml:10:1",
        ),
        (
            "unresolved_ref.yaml",
            "rbk::import::unresolved_ref",
            "unresolved_ref.yaml:15:24",
        ),
        (
            "swagger2.json",
            "rbk::import::unsupported_version",
            "swagger2.json:2:15",
        ),
        (
            "openapi4.yaml",
            "rbk::import::unsupported_version",
            "openapi4.yaml:1:10",
        ),
    ] {
        let o = cli_error(name);
        assert_eq!(o.code, Some(2), "{name}: {o}");
        assert!(o.stderr.contains(code), "{name}: {o}");
        assert!(o.stderr.contains(at), "{name}: {o}");
        assert!(o.stdout.is_empty(), "{name}: {o}");
    }
    let o = cli_error("unresolved_ref.yaml");
    assert!(o.stderr.contains("#/components/schemas/Pets"), "{o}");
    assert!(o.stderr.contains("#/paths/~1pets/get/responses/200"), "{o}");
}

#[test]
fn a_missing_file_and_a_missing_referenced_file_are_errors() {
    let o = cli_error("does-not-exist.yaml");
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("rbk::io"), "{o}");
    let dir = Dir::new();
    let p = dir.write(
        "api.json",
        br##"{"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"$ref": "gone.yaml#/R"}}}}}}"##,
    );
    let o = rbk_env(&["import", "openapi", p.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("rbk::import::unresolved_ref"), "{o}");
    assert!(o.stderr.contains("api.json:2:"), "{o}");
}

#[test]
fn the_cli_writes_a_file_that_rbk_check_and_fmt_accept() {
    let dir = Dir::new();
    let out = dir.file("openai.rbk");
    let o = rbk_env(
        &[
            "import",
            "openapi",
            fixture("openai.yaml").to_str().expect("utf-8"),
            "--integration",
            "openai",
            "-o",
            out.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{o}");
    assert!(o.stderr.contains("imported 288 methods"), "{o}");
    let check = rbk_env(&["check", out.to_str().expect("utf-8")], &[]);
    assert_eq!(check.code, Some(0), "{check}");
    assert!(check.stdout.contains("0 errors"), "{check}");
    let fmt = rbk_env(&["fmt", "--check", out.to_str().expect("utf-8")], &[]);
    assert_eq!(fmt.code, Some(0), "{fmt}");
}

#[test]
fn truncated_and_mangled_documents_never_panic() {
    let dir = Dir::new();
    for name in ["petstore.yaml", "multi/api.yaml"] {
        let text = std::fs::read_to_string(fixture(name)).expect("fixture");
        let ext = if name.ends_with(".json") {
            "json"
        } else {
            "yaml"
        };
        for (i, cut) in (0..text.len()).step_by(97).enumerate() {
            let mut cut = cut;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            for (j, variant) in [
                text[..cut].to_string(),
                format!("{}{}", &text[..cut], &text[(cut + 13).min(text.len())..]),
                text.replacen("$ref", "$ref: \"#/nope\"\n  x", i % 5),
            ]
            .into_iter()
            .enumerate()
            {
                let p = dir.write(&format!("t{i}_{j}.{ext}"), variant.as_bytes());
                // Ok or a coded error; a panic fails the test.
                if let Err(f) = import(&p, &Options::default()) {
                    assert!(
                        f.diagnostics.iter().all(|d| d.code.starts_with("rbk::")),
                        "{:?}",
                        f.diagnostics
                    );
                }
            }
        }
    }
}

/// The fenced block of `lang` after byte `from` in `doc`, and where it ends.
fn block(doc: &str, lang: &str, from: usize) -> (String, usize) {
    let open = format!("```{lang}\n");
    let start = doc[from..].find(&open).expect("block") + from + open.len();
    let end = doc[start..].find("\n```").expect("block end") + start;
    (doc[start..end].to_string(), end)
}

#[test]
fn the_worked_examples_in_docs_import_md_are_what_rbk_writes() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/import.md"))
        .expect("docs/import.md");
    let dir = Dir::new();
    // OpenAPI.
    let at = doc.find("## OpenAPI").expect("section");
    let (spec, end) = block(&doc, "yaml", at);
    let (want, _) = block(&doc, "rbk", end);
    let p = dir.write("tickets.yaml", format!("{spec}\n").as_bytes());
    let got = import_ok(&p, &Options::default()).text;
    assert_eq!(got.trim_end(), want, "docs/import.md's OpenAPI example");
    // Postman.
    let at = doc.find("## Postman").expect("section");
    let (coll, end) = block(&doc, "json", at);
    let (want, _) = block(&doc, "rbk", end);
    let p = dir.write("desk.postman_collection.json", coll.as_bytes());
    let got = rbk::import::postman::import(&p, &Default::default())
        .unwrap_or_else(|f| panic!("{:?}", f.diagnostics))
        .text;
    assert_eq!(got.trim_end(), want, "docs/import.md's Postman example");
    // curl: the command as the shell passes it.
    let at = doc.find("## curl").expect("section");
    let (want, _) = block(&doc, "rbk", at);
    let line = "curl -u \"$TWILIO_SID:$TWILIO_TOKEN\" \\\n     https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json \\\n     --data-urlencode \"To=+15551234567\" \\\n     --data-urlencode \"Body=Printer on fire\" \\\n     -d From=%2B15557654321";
    assert!(
        doc.contains(&line.replace("curl -u", "  'curl -u")),
        "the command in the doc changed"
    );
    let got = rbk::import::curl::import(
        line,
        &rbk::import::curl::Options {
            integration: Some("twilio".into()),
            name: Some("send_sms".into()),
        },
    )
    .unwrap_or_else(|f| panic!("{:?}", f.diagnostics))
    .text;
    assert_eq!(got.trim_end(), want, "docs/import.md's curl example");
}

#[test]
fn what_rbk_cannot_express_is_a_comment_not_a_silent_drop() {
    let t = import_ok(&fixture("edge.yaml"), &Options::default()).text;
    for line in [
        "# rbk import: server URL `/v1` is relative; http://localhost is assumed",
        "# rbk import: TRACE /a{b}c is not imported: rbk does not send TRACE requests",
        "# rbk import: query parameter `filter` uses style deepObject",
        "# rbk import: path parameter `b` is not declared; it is taken as a string",
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
    // Lists in paths and headers are joined; an optional one is text.
    assert!(
        t.contains("GET \"/things/{join(ids, \",\")}/{in_}\""),
        "{t}"
    );
    assert!(t.contains("\"X-Req\" = join(x_req, \",\")"), "{t}");
    assert!(t.contains("x_tags: string? = null,"), "{t}");
    // Odd names: quoted keys and JSONPath members, reserved words renamed.
    assert!(t.contains("\"weird name!\" = weird_name"), "{t}");
    assert!(t.contains("body = body_"), "{t}");
    assert!(t.contains("odd_key: string? = $[\"odd-key\"]"), "{t}");
    assert!(
        t.contains("paginate next_url = $[\"@odata.nextLink\"]"),
        "{t}"
    );
    assert!(t.contains("ok_: bool? = $.ok"), "{t}");
    // Optional JSON members not given are left out by `compact`, unless a
    // required member may be null (compact would leave it out too).
    assert!(
        t.contains("body json compact({\n    title: title,\n    note: note,\n  })"),
        "{t}"
    );
    assert!(
        t.contains("# rbk import: a required member may be null, so optional members not given are sent as null too"),
        "{t}"
    );
    assert!(
        t.contains("body json {\n    assignee: assignee,\n    title: title,\n  }"),
        "{t}"
    );
    // A text body, and `2XX` leaves the default expect.
    assert!(t.contains("body text content as \"text/plain\"\n}"), "{t}");
}

#[test]
fn refs_may_not_read_files_outside_the_documents_directory() {
    let outer = Dir::new();
    outer.write("secret.yaml", b"key: hunter2-very-secret\n");
    let spec = outer.write(
        "spec/api.yaml",
        b"openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {$ref: '../secret.yaml#/key'}\n",
    );
    let o = rbk_env(&["import", "openapi", spec.to_str().expect("utf-8")], &[]);
    assert_eq!(o.code, Some(2), "{o}");
    assert!(o.stderr.contains("rbk::import::unresolved_ref"), "{o}");
    assert!(o.stderr.contains("outside the document"), "{o}");
    assert!(!o.stderr.contains("hunter2"), "{o}");
    assert!(o.stderr.contains("api.yaml:7:"), "{o}");
}
