//! `rbk lsp` driven as a child process over stdio, with real JSON-RPC
//! framing: diagnostics, every request kind, edits, imports, UTF-16 columns,
//! and the robustness corpus replayed through the server.

mod fuzz_gen;
mod lsp_support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use lsp_support::*;

const LIB: &str = r#"## The ticket system.
integration tickets {
  base_url = "https://tickets.example"
  auth bearer {
    token = secret("TICKETS_TOKEN")
  }
}

## Reads one ticket.
method tickets.get(
  ## The ticket's number
  id: int,
) {
  GET "/tickets/{id}"
  output {
    ## The ticket's title
    title: string = $.title
    state: string = $.state
  }
}
"#;

const MAIN: &str = r#"import "lib.rbk"

## Closes a ticket.
runbook close_ticket(number: int) {
  let note = "naïve"
  step ticket = tickets.get(id: number)
  log "😀 é {ticket.title} {note}"
  return { title: ticket.title }
}
"#;

/// A workspace (with `rbk.toml`, so that it is the file root) holding files.
fn workspace(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::write(root.join("rbk.toml"), "").expect("write");
    for (name, text) in files {
        std::fs::write(root.join(name), text).expect("write");
    }
    (dir, root)
}

fn messages(diags: &[Value]) -> Vec<String> {
    diags
        .iter()
        .map(|d| format!("{} {}", d["code"].as_str().unwrap_or(""), d["message"]))
        .collect()
}

#[test]
fn clean_program_has_no_diagnostics_and_shuts_down() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    assert_eq!(c.diagnostics(&u, 1), Vec::<Value>::new());
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn diagnostics_carry_code_severity_related_spans_and_help() {
    let text = format!("{LIB}\n## Again.\nmethod tickets.get() {{\n  GET \"/x\"\n}}\n");
    let (_d, root) = workspace(&[("lib.rbk", &text)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("lib.rbk"), &text);
    let diags = c.diagnostics(&u, 1);
    let d = diags
        .iter()
        .find(|d| d["code"] == "rbk::duplicate_definition")
        .unwrap_or_else(|| panic!("{diags:#?}"));
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "rbk");
    // The second `get`, on the line of the second method.
    let second = pos_of(&text, "get", 1, 0);
    assert_eq!(d["range"]["start"]["line"], second.0);
    assert_eq!(d["range"]["start"]["character"], second.1);
    let related = d["relatedInformation"].as_array().expect("related");
    let first = pos_of(&text, "get", 0, 0);
    assert_eq!(related[0]["location"]["uri"], u);
    assert_eq!(related[0]["location"]["range"]["start"]["line"], first.0);
    assert_eq!(related[0]["message"], "first defined here");
    assert!(
        d["message"]
            .as_str()
            .unwrap_or("")
            .contains("\nhelp: rename one of them"),
        "{d}"
    );
}

#[test]
fn an_incremental_edit_is_checked_and_the_did_you_mean_fix_applies() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&u, 1).is_empty());
    // `tickets.get(` → `tickets.gte(`
    let at = pos_of(MAIN, "get(", 0, 0);
    c.edit(&u, 2, at, (at.0, at.1 + 3), "gte");
    let text = MAIN.replace("tickets.get(", "tickets.gte(");
    let diags = c.diagnostics(&u, 2);
    assert_eq!(diags.len(), 1, "{:#?}", messages(&diags));
    let d = &diags[0];
    assert_eq!(d["code"], "rbk::unknown_method");
    assert_eq!(d["range"], range(at, (at.0, at.1 + 3)));
    let actions = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": u },
            "range": d["range"],
            "context": { "diagnostics": [d] },
        }),
    );
    let action = &actions[0];
    assert_eq!(action["title"], "Replace with `get`");
    assert_eq!(action["kind"], "quickfix");
    let edits = action["edit"]["changes"][&u]
        .as_array()
        .expect("edits")
        .clone();
    let fixed = apply_edits(&text, &edits);
    assert_eq!(fixed, MAIN);
    c.replace_all(&u, 3, &fixed);
    assert!(c.diagnostics(&u, 3).is_empty());
}

#[test]
fn a_missing_max_gets_a_fix() {
    let text = MAIN.replace(
        "step ticket = tickets.get(id: number)",
        "step ticket = tickets.get(id: number) until ticket.state == \"closed\" every 5s",
    );
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", &text)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), &text);
    let diags = c.diagnostics(&u, 1);
    let d = diags
        .iter()
        .find(|d| d["code"] == "rbk::unbounded_loop")
        .unwrap_or_else(|| panic!("{diags:#?}"));
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": u }, "range": d["range"], "context": { "diagnostics": [d] } }),
    );
    let edits = actions[0]["edit"]["changes"][&u]
        .as_array()
        .expect("edits")
        .clone();
    let fixed = apply_edits(&text, &edits);
    assert!(fixed.contains("every 5s max 10"), "{fixed}");
    c.replace_all(&u, 2, &fixed);
    assert!(c.diagnostics(&u, 2).is_empty());
}

#[test]
fn a_change_in_an_imported_buffer_rechecks_its_importer() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let main = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&main, 1).is_empty());
    let lib = c.open(&root.join("lib.rbk"), LIB);
    assert!(c.diagnostics(&lib, 1).is_empty());
    // Rename the method in the unsaved lib buffer only.
    let at = pos_of(LIB, "get(", 0, 0);
    c.edit(&lib, 2, at, (at.0, at.1 + 3), "fetch");
    assert!(c.diagnostics(&lib, 2).is_empty());
    let p = c.diagnostics_where(&main, |p| p["diagnostics"] != json!([]));
    let diags = p["diagnostics"].as_array().cloned().unwrap_or_default();
    let d = diags
        .iter()
        .find(|d| d["code"] == "rbk::unknown_method")
        .unwrap_or_else(|| panic!("{:#?}", messages(&diags)));
    assert!(
        d["message"].as_str().unwrap_or("").contains("`fetch`"),
        "{d}"
    );
    // The file on disk is unchanged: the importer read the buffer.
    assert_eq!(
        std::fs::read_to_string(root.join("lib.rbk")).unwrap_or_default(),
        LIB
    );
}

#[test]
fn errors_in_an_imported_file_show_on_the_import() {
    let broken = LIB.replace("id: int,", "id: integer,");
    let (_d, root) = workspace(&[("lib.rbk", &broken), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let diags = c.diagnostics(&u, 1);
    let d = diags
        .iter()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap_or("")
                .contains("in imported file")
        })
        .unwrap_or_else(|| panic!("{:#?}", messages(&diags)));
    assert_eq!(d["range"]["start"]["line"], 0);
    let loc = &d["relatedInformation"][0]["location"];
    assert_eq!(loc["uri"], uri(&root.join("lib.rbk")));
    assert_eq!(
        loc["range"]["start"]["line"],
        pos_of(&broken, "integer", 0, 0).0
    );
}

fn hover_text(c: &mut Client, u: &str, p: (u32, u32)) -> String {
    let h = c.request("textDocument/hover", tdp(u, p));
    h["contents"]["value"].as_str().unwrap_or("").to_string()
}

#[test]
fn hover_shows_signatures_types_and_doc_comments() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let m = hover_text(&mut c, &u, pos_of(MAIN, "get(", 0, 1));
    assert!(
        m.contains("method tickets.get(id: int) -> { title: string, state: string }"),
        "{m}"
    );
    assert!(m.contains("Reads one ticket."), "{m}");
    let i = hover_text(&mut c, &u, pos_of(MAIN, "tickets.", 0, 2));
    assert!(
        i.contains("integration tickets") && i.contains("The ticket system."),
        "{i}"
    );
    let p = hover_text(&mut c, &u, pos_of(MAIN, "id:", 0, 0));
    assert!(
        p.contains("id: int") && p.contains("The ticket's number"),
        "{p}"
    );
    // After an emoji (two UTF-16 units) and an é on the same line.
    let s = hover_text(&mut c, &u, pos_of(MAIN, "ticket.title}", 0, 2));
    assert!(
        s.contains("step ticket: result of tickets.get { title: string, state: string, ok, status"),
        "{s}"
    );
    let o = hover_text(&mut c, &u, pos_of(MAIN, "title}", 0, 1));
    assert!(
        o.contains("title: string") && o.contains("The ticket's title"),
        "{o}"
    );
    let v = hover_text(&mut c, &u, pos_of(MAIN, "note}", 0, 1));
    assert!(v.contains("let note: string"), "{v}");
    let r = hover_text(&mut c, &u, pos_of(MAIN, "close_ticket", 0, 1));
    assert!(
        r.contains("runbook close_ticket(number: int)") && r.contains("Closes a ticket."),
        "{r}"
    );
    let lib = c.open(&root.join("lib.rbk"), LIB);
    let b = hover_text(&mut c, &lib, pos_of(LIB, "secret(", 0, 1));
    assert!(b.contains("secret(name: string) -> secret"), "{b}");
}

#[test]
fn hover_range_is_in_utf16_columns() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let at = pos_of(MAIN, "ticket.title}", 0, 0);
    let h = c.request("textDocument/hover", tdp(&u, (at.0, at.1 + 3)));
    assert_eq!(h["range"], range(at, (at.0, at.1 + 6)));
    // Byte columns would put `ticket` 5 further right than UTF-16 ones.
    let line = MAIN.lines().nth(at.0 as usize).unwrap_or("");
    let bytes = line.find("ticket").unwrap_or(0) as u32;
    assert_eq!(bytes, at.1 + 3);
}

#[test]
fn definition_goes_across_imports() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let d = c.request(
        "textDocument/definition",
        tdp(&u, pos_of(MAIN, "get(", 0, 1)),
    );
    assert_eq!(d["uri"], uri(&root.join("lib.rbk")));
    let at = pos_of(LIB, "get(", 0, 0);
    assert_eq!(d["range"], range(at, (at.0, at.1 + 3)));
    // The path of an import goes to the file.
    let d = c.request(
        "textDocument/definition",
        tdp(&u, pos_of(MAIN, "lib.rbk", 0, 2)),
    );
    assert_eq!(d["uri"], uri(&root.join("lib.rbk")));
    assert_eq!(d["range"], range((0, 0), (0, 0)));
    // A named argument goes to the parameter.
    let d = c.request(
        "textDocument/definition",
        tdp(&u, pos_of(MAIN, "id:", 0, 0)),
    );
    assert_eq!(d["range"]["start"]["line"], pos_of(LIB, "id: int", 0, 0).0);
    // An output read goes to the output.
    let d = c.request(
        "textDocument/definition",
        tdp(&u, pos_of(MAIN, "title}", 0, 0)),
    );
    assert_eq!(
        d["range"]["start"],
        json!({"line": pos_of(LIB, "title:", 0, 0).0, "character": 4})
    );
    // A local goes to its binding.
    let d = c.request(
        "textDocument/definition",
        tdp(&u, pos_of(MAIN, "note}", 0, 0)),
    );
    let at = pos_of(MAIN, "note =", 0, 0);
    assert_eq!(d["range"], range(at, (at.0, at.1 + 4)));
    assert_eq!(d["uri"], u);
}

#[test]
fn references_and_rename_span_files() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let lib = c.open(&root.join("lib.rbk"), LIB);
    // From the definition in lib.rbk: main.rbk (not open) uses it too.
    let p = pos_of(LIB, "get(", 0, 0);
    let refs = c.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": lib }, "position": { "line": p.0, "character": p.1 },
                "context": { "includeDeclaration": true } }),
    );
    let uris: Vec<&str> = refs
        .as_array()
        .expect("refs")
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert_eq!(uris.len(), 2, "{refs:#}");
    assert!(uris.contains(&uri(&root.join("main.rbk")).as_str()));
    let prep = c.request("textDocument/prepareRename", tdp(&lib, p));
    assert_eq!(prep["placeholder"], "get");
    let edit = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": lib }, "position": { "line": p.0, "character": p.1 }, "newName": "fetch" }),
    );
    let main_uri = uri(&root.join("main.rbk"));
    let new_lib = apply_edits(LIB, edit["changes"][&lib].as_array().expect("lib edits"));
    let new_main = apply_edits(
        MAIN,
        edit["changes"][&main_uri].as_array().expect("main edits"),
    );
    assert_eq!(new_lib, LIB.replace("tickets.get(", "tickets.fetch("));
    assert_eq!(new_main, MAIN.replace("tickets.get(", "tickets.fetch("));
    // The renamed program still checks.
    std::fs::write(root.join("lib.rbk"), &new_lib).expect("write");
    c.replace_all(&lib, 2, &new_lib);
    let m = c.open(&root.join("main.rbk"), &new_main);
    assert!(c.diagnostics(&m, 1).is_empty());
}

#[test]
fn rename_locals_params_and_runbooks() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let rename = |c: &mut Client, p: (u32, u32), new: &str| -> String {
        let edit = c.request(
            "textDocument/rename",
            json!({ "textDocument": { "uri": u }, "position": { "line": p.0, "character": p.1 }, "newName": new }),
        );
        apply_edits(MAIN, edit["changes"][&u].as_array().expect("edits"))
    };
    let step = rename(&mut c, pos_of(MAIN, "ticket.title}", 0, 1), "t");
    assert_eq!(
        step,
        MAIN.replace("step ticket", "step t")
            .replace("ticket.title", "t.title")
    );
    let param = rename(&mut c, pos_of(MAIN, "number)", 0, 0), "n");
    assert_eq!(
        param,
        MAIN.replace("number: int", "n: int")
            .replace("id: number", "id: n")
    );
    let rb = rename(&mut c, pos_of(MAIN, "close_ticket", 0, 0), "close");
    assert_eq!(rb, MAIN.replace("close_ticket", "close"));
    // A name already taken in the same scope is refused.
    let p = pos_of(MAIN, "ticket =", 0, 0);
    let taken = c.request_raw(
        "textDocument/rename",
        json!({ "textDocument": { "uri": u }, "position": { "line": p.0, "character": p.1 }, "newName": "note" }),
    );
    assert!(
        taken["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("already defined"),
        "{taken}"
    );
    // A name that is not one is refused with a message.
    let bad = c.request_raw(
        "textDocument/rename",
        json!({ "textDocument": { "uri": u }, "position": { "line": 4, "character": 7 }, "newName": "let" }),
    );
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not a name"),
        "{bad}"
    );
}

fn labels(v: &Value) -> Vec<String> {
    let items = if v.is_array() {
        v.clone()
    } else {
        v["items"].clone()
    };
    items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["label"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Opens `text` with `|` marking the cursor; the completion labels there.
fn complete_at(c: &mut Client, root: &Path, name: &str, version: i64, text: &str) -> Vec<String> {
    let at = text.find('|').expect("cursor");
    let clean = text.replacen('|', "", 1);
    let u = uri(&root.join(name));
    if version == 1 {
        c.open(&root.join(name), &clean);
    } else {
        c.replace_all(&u, version, &clean);
    }
    let p = pos_of(&clean, &clean[at..], 0, 0);
    let p = if clean[at..].is_empty() {
        pos_of(&text.replacen('|', "\u{0}", 1), "\u{0}", 0, 0)
    } else {
        p
    };
    labels(&c.request("textDocument/completion", tdp(&u, p)))
}

#[test]
fn completion_offers_what_fits_the_place() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&u, 1).is_empty());
    let with =
        |cursor_line: &str| MAIN.replace("  return {", &format!("  {cursor_line}\n  return {{"));
    let l = complete_at(&mut c, &root, "main.rbk", 2, &with("step x = |"));
    assert!(
        l.contains(&"tickets.get".into())
            && l.contains(&"tickets".into())
            && l.contains(&"run".into()),
        "{l:?}"
    );
    let l = complete_at(&mut c, &root, "main.rbk", 3, &with("log tickets.|"));
    assert_eq!(l, ["get"]);
    let l = complete_at(&mut c, &root, "main.rbk", 4, &with("log ticket.|"));
    for want in ["title", "state", "ok", "status", "elapsed"] {
        assert!(l.contains(&want.to_string()), "{l:?}");
    }
    let l = complete_at(
        &mut c,
        &root,
        "main.rbk",
        5,
        &with("step y = tickets.get(|"),
    );
    assert!(l.contains(&"id".into()), "{l:?}");
    let l = complete_at(&mut c, &root, "main.rbk", 6, &with("|"));
    for want in ["let", "step", "if", "for", "return"] {
        assert!(l.contains(&want.to_string()), "{l:?}");
    }
    let l = complete_at(&mut c, &root, "main.rbk", 7, &with("log le|"));
    for want in ["len", "note", "ticket", "number"] {
        assert!(l.contains(&want.to_string()), "{want} {l:?}");
    }
    let l = complete_at(&mut c, &root, "main.rbk", 8, &with("step z = run |"));
    assert_eq!(l, ["close_ticket"]);
    let l = complete_at(&mut c, &root, "main.rbk", 9, &format!("{MAIN}\n|"));
    assert!(
        l.contains(&"runbook".into())
            && l.contains(&"integration".into())
            && !l.contains(&"step".into()),
        "{l:?}"
    );
    // auth kinds and their fields.
    let l = complete_at(
        &mut c,
        &root,
        "lib.rbk",
        1,
        &LIB.replace("auth bearer {", "auth |"),
    );
    assert!(
        l.contains(&"bearer".into()) && l.contains(&"oauth2".into()),
        "{l:?}"
    );
    let l = complete_at(
        &mut c,
        &root,
        "lib.rbk",
        2,
        &LIB.replace("    token = ", "    |\n    token = "),
    );
    assert!(
        l.contains(&"token".into()) && l.contains(&"prefix".into()),
        "{l:?}"
    );
    // Inside a method: request lines and method blocks.
    let l = complete_at(
        &mut c,
        &root,
        "lib.rbk",
        3,
        &LIB.replace("  GET \"/tickets/{id}\"", "  GET \"/tickets/{id}\"\n  |"),
    );
    assert!(
        l.contains(&"output".to_string())
            && l.contains(&"POST".to_string())
            && !l.contains(&"step".to_string()),
        "{l:?}"
    );
}

#[test]
fn signature_help_tracks_the_active_parameter() {
    let text = MAIN.replace("  return {", "  let up = split(note, \"a\")\n  return {");
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", &text)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), &text);
    let h = c.request(
        "textDocument/signatureHelp",
        tdp(&u, pos_of(&text, "\"a\")", 0, 0)),
    );
    assert_eq!(
        h["signatures"][0]["label"],
        "split(text: string, sep: string) -> [string]"
    );
    assert_eq!(h["activeParameter"], 1);
    let h = c.request(
        "textDocument/signatureHelp",
        tdp(&u, pos_of(&text, "id: number", 0, 0)),
    );
    assert_eq!(
        h["signatures"][0]["label"],
        "method tickets.get(id: int) -> { title: string, state: string }"
    );
    assert_eq!(h["activeParameter"], 0);
    assert_eq!(h["signatures"][0]["parameters"][0]["label"], "id: int");
}

#[test]
fn document_symbols_outline_the_file() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("lib.rbk"), LIB);
    let s = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": u } }),
    );
    let names: Vec<&str> = s
        .as_array()
        .expect("symbols")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["tickets", "tickets.get"]);
    let method = &s[1];
    assert_eq!(method["kind"], 6);
    let kids: Vec<&str> = method["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(kids, ["id", "title", "state"]);
    assert_eq!(
        method["selectionRange"]["start"],
        json!({ "line": pos_of(LIB, "get(", 0, 0).0, "character": 15 })
    );
    let u = c.open(&root.join("main.rbk"), MAIN);
    let s = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": u } }),
    );
    let rb = &s[1];
    assert_eq!(rb["name"], "close_ticket");
    let kids: Vec<&str> = rb["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(kids, ["number", "ticket"]);
}

#[test]
fn formatting_gives_the_rbk_fmt_output() {
    let messy = "import   \"lib.rbk\"\nrunbook   r(x:int){\nlog   \"é {x}\"\n}\n";
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("m.rbk", messy)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("m.rbk"), messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let formatted = apply_edits(messy, edits.as_array().expect("edits"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(["fmt"])
        .arg(root.join("m.rbk"))
        .output()
        .expect("rbk fmt");
    assert!(out.status.success());
    assert_eq!(
        formatted,
        std::fs::read_to_string(root.join("m.rbk")).unwrap_or_default()
    );
    assert_ne!(formatted, messy);
    // Already formatted: no edits.
    c.replace_all(&u, 2, &formatted);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));
}

#[test]
fn semantic_tokens_follow_the_grammar_and_names() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let t = c.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": u } }),
    );
    let data: Vec<u64> = t["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(data.len() % 5, 0);
    // Decode into (line, col, len, type).
    let mut tokens = Vec::new();
    let (mut line, mut col) = (0, 0);
    for t in data.chunks(5) {
        if t[0] > 0 {
            line += t[0];
            col = t[1];
        } else {
            col += t[1];
        }
        tokens.push((line, col, t[2], t[3]));
    }
    let types = [
        "keyword",
        "string",
        "number",
        "variable",
        "regexp",
        "comment",
        "namespace",
        "method",
        "function",
        "parameter",
        "property",
    ];
    let at = |needle: &str, nth: usize| {
        let p = pos_of(MAIN, needle, nth, 0);
        tokens
            .iter()
            .find(|t| (t.0, t.1) == (p.0 as u64, p.1 as u64))
            .map(|t| (t.2, types[t.3 as usize]))
    };
    assert_eq!(at("import", 0), Some((6, "keyword")));
    assert_eq!(at("\"lib.rbk\"", 0), Some((9, "string")));
    assert_eq!(at("## Closes", 0), Some((19, "comment")));
    assert_eq!(at("tickets", 0), Some((7, "namespace")));
    assert_eq!(at("get", 0), Some((3, "method")));
    assert_eq!(at("number", 0), Some((6, "parameter")));
    // The string with an emoji: its length in UTF-16 units.
    let s = MAIN
        .lines()
        .find(|l| l.contains("😀"))
        .unwrap_or("")
        .trim_start()
        .trim_start_matches("log ");
    assert_eq!(
        at("\"😀", 0),
        Some((s.encode_utf16().count() as u64, "string"))
    );
}

#[test]
fn positions_stay_right_after_edits() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&u, 1).is_empty());
    // Two lines in, and non-ASCII before `note` on its line.
    c.edit(&u, 2, (2, 0), (2, 0), "# ünïcödé 😀\n# two\n");
    let at = pos_of(MAIN, "let note", 0, 0);
    c.edit(&u, 3, (at.0 + 2, 2), (at.0 + 2, 2), "let ß = 1 ");
    let mut text = MAIN.replacen("## Closes", "# ünïcödé 😀\n# two\n## Closes", 1);
    text = text.replacen("  let note", "  let ß = 1 let note", 1);
    // The edit is a syntax error on purpose; the position is exact.
    let diags = c.diagnostics(&u, 3);
    assert!(!diags.is_empty());
    let p = pos_of(&text, "ß", 0, 0);
    assert!(
        diags.iter().any(|d| d["range"]["start"]["line"] == p.0),
        "{diags:#?}"
    );
    // Undo the broken edit; hover reads the shifted positions.
    c.edit(&u, 4, (p.0, p.1 - 4), (p.0, p.1 + 6), "");
    let text = text.replacen("let ß = 1 ", "", 1);
    assert!(c.diagnostics(&u, 4).is_empty());
    let h = hover_text(&mut c, &u, pos_of(&text, "note}", 0, 0));
    assert!(h.contains("let note: string"), "{h}");
}

#[test]
fn unknown_requests_and_bad_params_get_errors_not_crashes() {
    let (_d, root) = workspace(&[("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let r = c.request_raw("textDocument/inlayHint", json!({}));
    assert_eq!(r["error"]["code"], -32601);
    let r = c.request_raw("textDocument/hover", json!({ "nonsense": 1 }));
    assert_eq!(r["error"]["code"], -32602);
    // A document that was never opened and does not exist: no answer, no crash.
    let r = c.request("textDocument/hover", tdp("file:///nowhere/x.rbk", (0, 0)));
    assert_eq!(r, Value::Null);
    assert!(c.alive());
    assert_eq!(c.shutdown(), Some(0));
}

// ---------------------------------------------------------------- robustness

fn seeds() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sub in ["examples", "tests/fixtures/valid"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rbk"))
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(t) = std::fs::read_to_string(&p) {
                out.push((p, t));
            }
        }
    }
    assert!(!out.is_empty());
    out
}

/// The robustness test's generator (token mutations of the examples),
/// replayed through the server as edits, with a request of every kind at
/// random positions after each: every one is answered, the server lives.
#[test]
fn mutated_programs_never_crash_the_server() {
    use fuzz_gen::{INSERTS, Mutation, apply, tokenise};
    let cases: usize = std::env::var("RBK_LSP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seeds = seeds();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut c = Client::start(&root);
    let mut rng = fastrand::Rng::with_seed(11);
    let mut version = 1;
    let target = root.join("lsp_fuzz.rbk");
    let u = c.open(&target, "");
    for case in 0..cases {
        let (_, text) = &seeds[rng.usize(..seeds.len())];
        let mut tokens = tokenise(text);
        for _ in 0..rng.usize(1..8) {
            let m = match rng.u8(..5) {
                0 => Mutation::Delete(rng.usize(..)),
                1 => Mutation::Duplicate(rng.usize(..)),
                2 => Mutation::Swap(rng.usize(..), rng.usize(..)),
                3 => Mutation::Insert(rng.usize(..), rng.usize(..INSERTS.len())),
                _ => Mutation::Truncate(rng.usize(..)),
            };
            apply(&mut tokens, &m);
        }
        let text = tokens.concat();
        version += 1;
        if case % 2 == 0 {
            c.replace_all(&u, version, &text);
        } else {
            // An incremental edit at a random place (as an editor sends).
            let lines = text.lines().count().max(1) as u32;
            let l = rng.u32(..lines);
            c.replace_all(&u, version, &text);
            version += 1;
            c.edit(
                &u,
                version,
                (l, rng.u32(..40)),
                (l + rng.u32(..2), rng.u32(..40)),
                INSERTS[rng.usize(..INSERTS.len())],
            );
        }
        let lines = text.lines().count().max(1) as u32;
        let p = (rng.u32(..lines + 1), rng.u32(..60));
        // Also right after a random character of the text (a `.`, a `(`, a
        // letter of a name...), where completion and hover do most work.
        let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let mut positions = vec![p];
        for _ in 0..2 {
            if let Some(&at) = chars.get(rng.usize(..chars.len().max(1))) {
                let before = &text[..at];
                let line = before.matches('\n').count() as u32;
                let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
                positions.push((line, before[start..].encode_utf16().count() as u32));
            }
        }
        for p in &positions {
            for method in [
                "textDocument/hover",
                "textDocument/definition",
                "textDocument/completion",
                "textDocument/signatureHelp",
                "textDocument/prepareRename",
                "textDocument/documentHighlight",
            ] {
                let r = c.request_raw(method, tdp(&u, *p));
                assert!(
                    r.get("error").is_none(),
                    "case {case}: {method} at {p:?} failed: {r}\n{text}"
                );
            }
        }
        for (method, params) in [
            (
                "textDocument/documentSymbol",
                json!({ "textDocument": { "uri": u } }),
            ),
            (
                "textDocument/semanticTokens/full",
                json!({ "textDocument": { "uri": u } }),
            ),
            (
                "textDocument/semanticTokens/range",
                json!({ "textDocument": { "uri": u }, "range": range((p.0, 0), (p.0 + 3, 0)) }),
            ),
            (
                "textDocument/formatting",
                json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } }),
            ),
            (
                "textDocument/references",
                json!({ "textDocument": { "uri": u }, "position": { "line": p.0, "character": p.1 }, "context": { "includeDeclaration": true } }),
            ),
            (
                "textDocument/codeAction",
                json!({ "textDocument": { "uri": u }, "range": range((0, 0), (lines, 0)), "context": { "diagnostics": [] } }),
            ),
        ] {
            let r = c.request_raw(method, params);
            assert!(
                r.get("error").is_none(),
                "case {case}: {method} failed: {r}\n{text}"
            );
        }
        // Every version's diagnostics arrive (so checking finished).
        c.diagnostics_where(&u, |p| p["version"] == json!(version));
        c.notifications.clear();
        assert!(c.alive(), "case {case}: the server died\n{text}");
    }
    assert_eq!(c.shutdown(), Some(0));
}

// ---------------------------------------------------------------- latency

/// Time from `didChange` to the `publishDiagnostics` of that version, for
/// the program in `RBK_LSP_BENCH` (see docs/performance.md for how the
/// 5,000- and 50,000-line programs are made; without it, an example).
/// Prints min, median and max; asserts only that every edit is answered.
///
/// ```text
/// RBK_LSP_BENCH=/tmp/p5k.rbk cargo test --test lsp -- --ignored --nocapture latency
/// ```
#[test]
#[ignore = "a benchmark: RBK_LSP_BENCH names the program"]
fn latency_from_change_to_diagnostics() {
    let path = std::env::var_os("RBK_LSP_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/export_poll.rbk")
        });
    let text = std::fs::read_to_string(&path).expect("read the program");
    let runs: usize = std::env::var("RBK_LSP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let broken = std::env::var_os("RBK_LSP_BENCH_BROKEN").is_some();
    let debounce: u64 = std::env::var("RBK_LSP_DEBOUNCE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let root = path.parent().expect("dir").to_path_buf();
    let mut c = Client::start_with(&root, json!({ "debounceMs": debounce }));
    let u = c.open(&path, &text);
    let first = c.diagnostics(&u, 1);
    let errors = first.iter().filter(|d| d["severity"] == 1).count();
    assert_eq!(errors, 0, "{:#?}", messages(&first));
    // Type into a line in the middle: a character in, then out again.
    let lines = text.lines().count() as u32;
    let line = lines / 2;
    let mut times = Vec::new();
    for run in 0..runs {
        let version = run as i64 + 2;
        let started = std::time::Instant::now();
        // With RBK_LSP_BENCH_BROKEN set, every other version has a syntax
        // error (a half-typed `let`), as while typing.
        let typed = if broken { "let = " } else { " " };
        if run % 2 == 0 {
            c.edit(&u, version, (line, 0), (line, 0), typed);
        } else {
            c.edit(&u, version, (line, 0), (line, typed.len() as u32), "");
        }
        let d = c.diagnostics(&u, version);
        times.push(started.elapsed());
        let errors = d.iter().filter(|d| d["severity"] == 1).count();
        assert_eq!(errors > 0, broken && run % 2 == 0, "{:#?}", messages(&d));
    }
    times.sort();
    println!(
        "{} lines, debounce {debounce} ms, {runs} edits{}: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        lines,
        if broken {
            " (every other one a syntax error)"
        } else {
            ""
        },
        times[0].as_secs_f64() * 1000.0,
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
    );
}

#[test]
fn renaming_a_method_parameter_edits_its_placeholder_and_the_named_arguments() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let lib = c.open(&root.join("lib.rbk"), LIB);
    // On the `{id}` placeholder of the request path.
    let p = pos_of(LIB, "{id}", 0, 1);
    let edit = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": lib }, "position": { "line": p.0, "character": p.1 }, "newName": "ticket_id" }),
    );
    let main_uri = uri(&root.join("main.rbk"));
    let new_lib = apply_edits(LIB, edit["changes"][&lib].as_array().expect("lib edits"));
    let new_main = apply_edits(
        MAIN,
        edit["changes"][&main_uri].as_array().expect("main edits"),
    );
    assert_eq!(
        new_lib,
        LIB.replace("  id: int,", "  ticket_id: int,")
            .replace("{id}", "{ticket_id}")
    );
    assert_eq!(
        new_main,
        MAIN.replace("(id: number)", "(ticket_id: number)")
    );
}

#[test]
fn a_file_changed_on_disk_rechecks_the_open_files_that_import_it() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let main = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&main, 1).is_empty());
    std::fs::write(
        root.join("lib.rbk"),
        LIB.replace("    state: string = $.state\n", ""),
    )
    .expect("write");
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&root.join("lib.rbk")), "type": 2 }] }),
    );
    // Still clean (main does not read `state`), but re-checked: published again.
    let again = c.diagnostics(&main, 1);
    assert!(again.is_empty());
    std::fs::write(
        root.join("lib.rbk"),
        LIB.replace("title: string", "name: string"),
    )
    .expect("write");
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&root.join("lib.rbk")), "type": 2 }] }),
    );
    let p = c.diagnostics_where(&main, |p| p["diagnostics"] != json!([]));
    let text = format!("{}", p["diagnostics"]);
    assert!(text.contains("title"), "{text}");
}

#[test]
fn changes_wait_for_the_quiet_period_unless_a_request_needs_the_analysis() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start_with(&root, json!({ "debounceMs": 1500 }));
    let u = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&u, 1).is_empty());
    // A change alone: published after the quiet period.
    let at = pos_of(MAIN, "get(", 0, 0);
    let started = std::time::Instant::now();
    c.edit(&u, 2, at, (at.0, at.1 + 3), "gte");
    assert_eq!(c.diagnostics(&u, 2).len(), 1);
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500));
    // A change then a request: the request's analysis is published at once.
    let started = std::time::Instant::now();
    c.edit(&u, 3, at, (at.0, at.1 + 3), "get");
    let _ = c.request("textDocument/hover", tdp(&u, at));
    assert!(c.diagnostics(&u, 3).is_empty());
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

/// Decodes LSP semantic tokens into (line, column, length, type, modifiers).
fn decode_tokens(result: &Value) -> Vec<(u64, u64, u64, u64, u64)> {
    let data: Vec<u64> = result["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(data.len() % 5, 0);
    let mut out = Vec::new();
    let (mut line, mut col) = (0, 0);
    for t in data.chunks(5) {
        if t[0] > 0 {
            line += t[0];
            col = t[1];
        } else {
            col += t[1];
        }
        out.push((line, col, t[2], t[3], t[4]));
    }
    out
}

#[test]
fn semantic_tokens_of_a_range_are_those_of_its_lines() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let full = decode_tokens(&c.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": u } }),
    ));
    let part = decode_tokens(&c.request(
        "textDocument/semanticTokens/range",
        json!({ "textDocument": { "uri": u }, "range": range((4, 3), (6, 0)) }),
    ));
    let want: Vec<_> = full
        .into_iter()
        .filter(|t| (4..=6).contains(&t.0))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(part, want);
}

#[test]
fn document_highlights_mark_the_definition_and_the_reads() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    let h = c.request(
        "textDocument/documentHighlight",
        tdp(&u, pos_of(MAIN, "ticket.title}", 0, 0)),
    );
    let got: Vec<(Value, u64)> = h
        .as_array()
        .expect("highlights")
        .iter()
        .map(|h| (h["range"]["start"].clone(), h["kind"].as_u64().unwrap_or(0)))
        .collect();
    let at = |n: &str, i: usize| {
        let p = pos_of(MAIN, n, i, 0);
        json!({ "line": p.0, "character": p.1 })
    };
    assert_eq!(
        got,
        [
            (at("ticket =", 0), 3),
            (at("ticket.title", 0), 2),
            (at("ticket.title", 1), 2)
        ]
    );
}

#[test]
fn completion_after_instance_offers_the_instance_fields() {
    let lib =
        format!("instance prod {{\n  url = \"https://x.example\"\n  region = \"eu\"\n}}\n\n{LIB}");
    let (_d, root) = workspace(&[("lib.rbk", &lib), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let u = c.open(&root.join("main.rbk"), MAIN);
    assert!(c.diagnostics(&u, 1).is_empty());
    let text = MAIN.replace("  return {", "  log instance.|\n  return {");
    let l = complete_at(&mut c, &root, "main.rbk", 2, &text);
    assert!(
        l.contains(&"region".to_string()) && l.contains(&"name".to_string()),
        "{l:?}"
    );
}

#[test]
fn workspace_symbols_find_definitions_in_unopened_files() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let r = c.request("workspace/symbol", json!({ "query": "tkget" }));
    let got: Vec<(String, String)> = r
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").to_string(),
                s["location"]["uri"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("tickets.get".to_string(), uri(&root.join("lib.rbk")))]
    );
    let all = c.request("workspace/symbol", json!({ "query": "" }));
    let names: Vec<&str> = all
        .as_array()
        .expect("symbols")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["close_ticket", "tickets", "tickets.get"]);
}

#[test]
fn an_untitled_buffer_is_checked_and_answers_with_its_own_uri() {
    let (_d, root) = workspace(&[]);
    let mut c = Client::start(&root);
    let u = "untitled:Untitled-1";
    let text = "runbook r(x: int) {\n  let y = x\n  log y\n  log nope\n}\n";
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": u, "languageId": "rbk", "version": 1, "text": text } }),
    );
    let d = c.diagnostics(u, 1);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["code"], "rbk::unknown_name");
    let def = c.request(
        "textDocument/definition",
        tdp(u, pos_of(text, "y\n  log nope", 0, 0)),
    );
    assert_eq!(def["uri"], u);
    assert_eq!(def["range"], range((1, 6), (1, 7)));
    let edit = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": u }, "position": { "line": 1, "character": 6 }, "newName": "z" }),
    );
    let edits = edit["changes"][u].as_array().expect("edits");
    assert_eq!(apply_edits(text, edits), text.replace("y", "z"));
}

#[test]
fn a_stream_that_is_not_lsp_is_a_clear_input_error() {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rbk"))
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"{\"jsonrpc\": \"2.0\"}\n").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rbk::io") && err.contains("malformed header"),
        "{err}"
    );
    assert!(
        err.contains("help:") && err.contains("Content-Length"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn references_follow_unopened_files_as_they_change_on_disk() {
    let (_d, root) = workspace(&[("lib.rbk", LIB), ("main.rbk", MAIN)]);
    let mut c = Client::start(&root);
    let lib = c.open(&root.join("lib.rbk"), LIB);
    let p = pos_of(LIB, "get(", 0, 0);
    let count = |c: &mut Client| {
        let refs = c.request(
            "textDocument/references",
            json!({ "textDocument": { "uri": lib }, "position": { "line": p.0, "character": p.1 },
                    "context": { "includeDeclaration": true } }),
        );
        refs.as_array().map(Vec::len).unwrap_or(0)
    };
    assert_eq!(count(&mut c), 2);
    assert_eq!(count(&mut c), 2);
    // A second call in main.rbk, written without telling the server.
    let more = MAIN.replace(
        "  return {",
        "  step again = tickets.get(id: 2)\n  return {",
    );
    std::fs::write(root.join("main.rbk"), more).expect("write");
    assert_eq!(count(&mut c), 3);
}
