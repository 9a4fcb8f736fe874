//! XML responses and bodies through the real binary, against an in-process
//! server answering SOAP 1.1 and 1.2 envelopes and namespaced documents:
//! `xpath(...)` outputs of every kind, namespaces matched by URI whatever
//! prefix the document uses, a method's prefix over its integration's,
//! missing nodes, malformed XML, and `body xml` escaping with `raw()`.

mod run_support;

use run_support::*;
use serde_json::json;

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

const PROGRAM: &str = r#"
instance local { url = "@URL@" }

integration desk {
  base_url = "{instance.url}"
  xml_namespaces {
    soap = "http://schemas.xmlsoap.org/soap/envelope/"
    t = "urn:example:tickets"
  }
}

# SOAP 1.1, the document's own prefixes (S, tk) differ from the program's.
method desk.tickets() {
  POST "/soap11"
  body xml "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body/></soap:Envelope>"
  output {
    first_title: string = xpath("/soap:Envelope/soap:Body/t:list/t:ticket/t:title")
    titles: [string] = xpath("//t:ticket/t:title")
    ids: [int] = xpath("//t:ticket/@id")
    first_id: int = xpath("//t:ticket/@id")
    count: int = xpath("count(//t:ticket)")
    hours: float = xpath("sum(//t:ticket/t:hours)")
    urgent: bool = xpath("//t:ticket[@id='8']/t:urgent = 'true'")
    second: string = xpath("string(//t:ticket[2]/t:title)")
    lang = xpath("string(//t:ticket[1]/@xml:lang)")
    untyped = xpath("count(//t:ticket) > 1")
    note: string? = xpath("//t:ticket[1]/t:note")
  }
}

# SOAP 1.2: the method's `soap` names the 1.2 envelope, over the integration's.
method desk.tickets12() {
  POST "/soap12"
  xml_namespaces { soap = "http://www.w3.org/2003/05/soap-envelope" }
  body xml "<x/>"
  output {
    count: int = xpath("count(/soap:Envelope/soap:Body/t:list/t:ticket)")
    fault: string? = xpath("/soap:Envelope/soap:Body/soap:Fault/soap:Reason/soap:Text")
  }
}

# The same SOAP 1.2 document read with the integration's (1.1) `soap`: no match.
method desk.tickets12_as_11() {
  POST "/soap12"
  body xml "<x/>"
  output { count: int = xpath("count(/soap:Envelope/soap:Body/t:list/t:ticket)") }
}

method desk.required(path: string) {
  GET "/{path}"
  output { title: string = xpath("//t:ticket[@id='404']/t:title") }
}

method desk.optional(path: string) {
  GET "/{path}"
  output {
    title: string? = xpath("//t:ticket[@id='404']/t:title")
    titles: [string] = xpath("//t:ticket[@id='404']/t:title")
  }
}

method desk.create(title: string, note: string, fragment: string) {
  POST "/create"
  body xml "<t:create xmlns:t=\"urn:example:tickets\" note=\"{note}\"><t:title>{title}</t:title>{raw(fragment)}</t:create>"
  output { id: int = xpath("/t:created/@id") }
}

# Pages of XML: the next page's URL read with xpath too.
method desk.pages() {
  GET "/page/1"
  paginate next_url = xpath("/t:page/t:next")
  output { ids: [int] = xpath("/t:page/t:ticket/@id") }
}

runbook pages() {
  for page in desk.pages() {
    let ids = join(page.ids, ",")
    log "ids {ids}"
  }
}

runbook all() {
  step a = desk.tickets()
  step b = desk.tickets12()
  step c = desk.tickets12_as_11()
  return {
    first_title: a.first_title,
    titles: a.titles,
    ids: a.ids,
    first_id: a.first_id,
    count: a.count,
    hours: a.hours,
    urgent: a.urgent,
    second: a.second,
    lang: a.lang,
    untyped: a.untyped,
    note: a.note,
    count12: b.count,
    fault: b.fault,
    count12_as_11: c.count,
  }
}

runbook required(path: string) {
  step s = desk.required(path: path)
  return { title: s.title }
}

runbook optional(path: string) {
  step s = desk.optional(path: path)
  return { title: s.title, titles: s.titles }
}

runbook create(title: string, note: string, fragment: string) {
  step s = desk.create(title: title, note: note, fragment: fragment)
  return { id: s.id }
}
"#;

/// A SOAP 1.1 response: prefixes `S` and `tk`, a default namespace on a
/// prefixed element, CDATA, an entity, a comment.
fn soap11() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<S:Envelope xmlns:S="{SOAP11}" xmlns="urn:example:tickets">
  <S:Header/>
  <S:Body>
    <!-- the list -->
    <list>
      <ticket id="7" xml:lang="en"><title>Printer &amp; fax</title><hours>1.5</hours><urgent>false</urgent></ticket>
      <tk:ticket xmlns:tk="urn:example:tickets" id="8"><tk:title><![CDATA[VPN <down>]]></tk:title><tk:hours>2</tk:hours><tk:urgent>true</tk:urgent></tk:ticket>
    </list>
  </S:Body>
</S:Envelope>"#
    )
}

/// A SOAP 1.2 response with the ticket namespace as the default namespace.
fn soap12() -> String {
    format!(
        r#"<env:Envelope xmlns:env="{SOAP12}"><env:Body><list xmlns="urn:example:tickets"><ticket id="1"/><ticket id="2"/><ticket id="3"/></list></env:Body></env:Envelope>"#
    )
}

fn xml(s: &str) -> Reply {
    Reply::text(s).header("content-type", "text/xml; charset=utf-8")
}

fn server() -> Server {
    Server::start(|r, _| match r.path() {
        "/soap11" => xml(&soap11()),
        "/soap12" => xml(&soap12()),
        "/good" => xml(&soap11()),
        "/malformed" => xml("<list><ticket id=\"1\"></list>"),
        "/json" => Reply::json(json!({ "ticket": 1 })),
        "/deep" => xml(&format!("{}{}", "<a>".repeat(5000), "</a>".repeat(5000))),
        "/doctype" => xml(
            "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><l>&b;</l>",
        ),
        "/page/1" => xml(&format!(
            r#"<p:page xmlns:p="urn:example:tickets"><p:ticket id="1"/><p:ticket id="2"/><p:next>{}/page/2</p:next></p:page>"#,
            r.header("host")
                .map(|h| format!("http://{h}"))
                .unwrap_or_default()
        )),
        "/page/2" => xml(r#"<page xmlns="urn:example:tickets"><ticket id="3"/></page>"#),
        "/create" => xml(r#"<created xmlns="urn:example:tickets" id="99"/>"#),
        _ => Reply::status(404),
    })
}

#[test]
fn scalars_lists_attributes_functions_and_namespaces() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let v = run(&file, "all", &[]).ok();
    assert_eq!(
        v,
        json!({
            "first_title": "Printer & fax",
            "titles": ["Printer & fax", "VPN <down>"],
            "ids": [7, 8],
            "first_id": 7,
            "count": 2,
            "hours": 3.5,
            "urgent": true,
            "second": "VPN <down>",
            "lang": "en",
            "untyped": true,
            "note": null,
            "count12": 3,
            "fault": null,
            "count12_as_11": 0,
        })
    );
    // The request bodies went out as written, as XML by default.
    let reqs = s.requests();
    assert_eq!(reqs[0].header("content-type"), Some("application/xml"));
}

#[test]
fn a_missing_node_fails_a_required_output_naming_the_expression() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let out = run(&file, "required", &["path=good"]);
    let err = out.failed();
    assert!(err.contains("output `title`"), "{out}");
    assert!(
        err.contains(r#"xpath("//t:ticket[@id='404']/t:title")"#),
        "{out}"
    );
    assert!(err.contains("expected string, found null"), "{out}");
    // Optional: null; a list: empty.
    let v = run(&file, "optional", &["path=good"]).ok();
    assert_eq!(v, json!({ "title": null, "titles": [] }));
}

#[test]
fn a_body_that_is_not_xml_fails_the_step_cleanly() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    for (path, why) in [
        ("malformed", "the body is not XML"),
        ("json", "the body is not XML"),
        ("doctype", "the body is not XML"),
        ("deep", "nested more than"),
    ] {
        let out = run(&file, "optional", &[&format!("path={path}")]);
        let err = out.failed();
        assert!(err.contains(why), "{path}: {out}");
        assert!(err.contains("output `title`"), "{path}: {out}");
        assert!(!err.contains("panicked"), "{path}: {out}");
    }
}

#[test]
fn body_xml_escapes_interpolations_except_raw() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let v = run(
        &file,
        "create",
        &[
            r#"title=<b>Tom & "Jerry's"</b>"#,
            r#"note=a"b'c<d>&e"#,
            "fragment=<t:tag>x&amp;y</t:tag>",
        ],
    )
    .ok();
    assert_eq!(v, json!({ "id": 99 }));
    let reqs = s.requests();
    let body = reqs.last().map(|r| r.text()).unwrap_or_default();
    assert_eq!(
        body,
        "<t:create xmlns:t=\"urn:example:tickets\" note=\"a&quot;b&apos;c&lt;d&gt;&amp;e\">\
         <t:title>&lt;b&gt;Tom &amp; &quot;Jerry&apos;s&quot;&lt;/b&gt;</t:title>\
         <t:tag>x&amp;y</t:tag></t:create>"
    );
    // What was sent is XML, and reads back as what was given.
    let doc = roxmltree::Document::parse(&body).expect("the sent body is XML");
    let root = doc.root_element();
    assert_eq!(root.attribute("note"), Some(r#"a"b'c<d>&e"#));
    let title = root
        .children()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text());
    assert_eq!(title, Some(r#"<b>Tom & "Jerry's"</b>"#));
}

#[test]
fn check_refuses_bad_xpath_undeclared_prefixes_and_stray_raw() {
    let dir = Dir::new();
    let src = r#"
instance local { url = "http://127.0.0.1:1" }
integration x {
  base_url = "{instance.url}"
  xml_namespaces { a = "urn:a" }
}
method x.m(v: string) {
  POST "/"
  xml_namespaces {
    b = "urn:b"
    xmlns = "urn:c"
    e = "{v}"
  }
  body xml "<r>{raw(v)}</r>"
  output {
    ok1 = xpath("/a:r/b:s")
    bad = xpath("/a:r/[")
    undeclared = xpath("/c:r")
  }
}
method x.n(v: string) {
  POST "/"
  body text "{raw(v)}"
  output { other = xpath("/b:r") }
}
runbook r() {
  let s = xpath("/a")
}
"#;
    let file = dir.write("main.rbk", src.as_bytes());
    let f = file.to_string_lossy().into_owned();
    let out = rbk(&["check", &f, "--format", "json"]);
    assert_eq!(out.code, Some(1), "{out}");
    let text = out.stdout.clone() + &out.stderr;
    let count = |code: &str| text.matches(code).count();
    assert!(count("rbk::invalid_xpath") >= 3, "{out}");
    assert!(text.contains("`c`"), "{out}");
    // `b` is declared by x.m only, not for x.n.
    assert!(text.contains("prefix `b` is not declared"), "{out}");
    assert!(!text.contains("prefix `a` is not declared"), "{out}");
    assert!(count("rbk::misplaced_raw") >= 1, "{out}");
    assert!(
        text.contains("`xmlns` cannot be a namespace prefix"),
        "{out}"
    );
    assert!(
        text.contains("the namespace of prefix `e` must be a plain string"),
        "{out}"
    );
    assert!(count("rbk::misplaced_response_value") >= 1, "{out}");
}

#[test]
fn pages_follow_a_next_url_read_with_xpath() {
    let s = server();
    let dir = Dir::new();
    let file = dir.program(PROGRAM, &s.url);
    let out = run(&file, "pages", &[]);
    out.ok();
    assert!(out.stderr.contains("ids 1,2"), "{out}");
    assert!(out.stderr.contains("ids 3"), "{out}");
    let paths: Vec<String> = s.requests().iter().map(|r| r.path().to_string()).collect();
    assert_eq!(paths, ["/page/1", "/page/2"]);
}
