//! XML responses and bodies: `xpath("...")` outputs (XPath 1.0, by
//! sxd-xpath over an sxd-document tree) and `body xml "..."` strings whose
//! interpolated values are escaped unless written `{raw(x)}`.
//!
//! A response body is parsed once, on the first `xpath` output that reads
//! it, and the tree is kept (per thread: sxd's tree cannot move between
//! threads) for the other outputs of the same response; the next response
//! parsed on that thread, or dropping the response, frees it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use sxd_xpath::{Factory, XPath};

use super::Context;
use super::eval::{EvalError, Vars, eval};
use super::value::Value;
use crate::syntax::ast::*;

/// The namespace the `xml` prefix always names.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Documents nested deeper than this are refused (building sxd's tree
/// slows down with the depth; real documents stay far below).
pub const MAX_DEPTH: usize = 512;

/// Elements with more attributes than this are refused (sxd's attribute
/// setter is linear in the element's attributes).
pub const MAX_ATTRIBUTES: usize = 1024;

/// Setting an element's attributes costs the square of their number; the
/// elements with more than [`WIDE`] attributes may spend this much in all,
/// so that many wide elements cannot make the copy take minutes.
const WIDE_BUDGET: usize = 4_000_000;
const WIDE: usize = 64;

/// Prefix → namespace URI, as the program declares them.
pub type Namespaces = Vec<(String, String)>;

/// Compiles an XPath 1.0 expression.
pub fn compile(query: &str) -> Result<XPath, String> {
    match Factory::new().build(query) {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err("the expression is empty".into()),
        Err(e) => Err(words(&format!("{e:?}"))),
    }
}

/// sxd-xpath's error names (`TrailingSlash`, `UnexpectedToken(..)`) as
/// words: "trailing slash", "unexpected token ..".
fn words(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The namespace prefixes an XPath expression uses (`soap` in
/// `/soap:Envelope`, `t` in `@t:id` or `t:*`), outside string literals;
/// axis names (`child::`) are not prefixes.
pub fn prefixes(query: &str) -> Vec<String> {
    let chars: Vec<char> = query.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            i += 1;
            continue;
        }
        if is_name_start(c) {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            // Any `name:` but an axis (`name::`) counts: finding too many
            // is safe, missing one is not.
            let name: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&':') && chars.get(i + 1) != Some(&':') && !out.contains(&name)
            {
                out.push(name);
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Generous: every non-ASCII character may be part of a name.
fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || matches!(c, '-' | '.')
}

/// Whether `p` can be a namespace prefix (an XML NCName).
pub fn valid_prefix(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The namespaces an `xpath` output at `span` sees: the integration's
/// `xml_namespaces`, then its method's (a method's prefix wins).
pub fn namespaces_at(cx: &Context, span: Span) -> Namespaces {
    let Some(m) = cx
        .program
        .all_methods()
        .find(|m| m.span.file == span.file && m.span.start <= span.start && span.end <= m.span.end)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(integ) = cx.program.integration(&m.integration.name)
        && let Some(e) = integ.body.get("xml_namespaces")
    {
        add_namespaces(&mut out, e);
    }
    for item in &m.items {
        if let MethodItem::Entry(e) = item
            && e.key.name == "xml_namespaces"
        {
            add_namespaces(&mut out, e);
        }
    }
    out
}

/// Adds `prefix = "uri"` pairs, replacing a prefix given before.
pub fn add_namespaces(out: &mut Namespaces, e: &Entry) {
    let EntryValue::Block { block, .. } = &e.value else {
        return;
    };
    for en in &block.entries {
        if let EntryValue::Expr { value, .. } = &en.value
            && let ExprKind::Str(s) = &value.kind
            && let Some(uri) = s.as_plain()
        {
            out.retain(|(p, _)| *p != en.key.name);
            out.push((en.key.name.clone(), uri));
        }
    }
}

/// Whether the output at `span` is declared as a list (`[T]` or `[T]?`):
/// a node-set then gives every node, not the first.
pub fn wants_list(cx: &Context, span: Span) -> bool {
    cx.program
        .all_methods()
        .filter(|m| m.span.file == span.file)
        .flat_map(|m| m.items.iter())
        .filter_map(|i| match i {
            MethodItem::Output(o) => Some(o),
            _ => None,
        })
        .flat_map(|o| o.fields.iter())
        .find(|f| f.value.span == span)
        .and_then(|f| f.ty.as_ref())
        .and_then(|t| crate::check::types::resolve_type(t).ok())
        .is_some_and(|t| matches!(t.ty.strip_optional(), crate::check::types::Ty::List(_)))
}

/// A parsed body, or why it is not XML.
type Parsed = Rc<Result<sxd_document::Package, String>>;

thread_local! {
    /// The tree of the last response read on this thread, by response id.
    static TREE: RefCell<Option<(u64, Parsed)>> = const { RefCell::new(None) };
    /// Compiled expressions: a loop evaluates the same few outputs often.
    static COMPILED: RefCell<HashMap<String, Rc<XPath>>> = RefCell::new(HashMap::new());
}

/// Frees the tree of response `id` if this thread holds it.
pub fn forget(id: u64) {
    let _ = TREE.try_with(|t| {
        if let Ok(mut t) = t.try_borrow_mut()
            && t.as_ref().is_some_and(|(held, _)| *held == id)
        {
            *t = None;
        }
    });
}

fn tree(id: u64, body: &[u8]) -> Parsed {
    if let Some(p) = TREE.with(|t| {
        t.borrow()
            .as_ref()
            .filter(|(held, _)| *held == id)
            .map(|(_, p)| p.clone())
    }) {
        return p;
    }
    // Free the previous tree before building the next.
    TREE.with(|t| *t.borrow_mut() = None);
    let parsed = Rc::new(parse(body));
    TREE.with(|t| *t.borrow_mut() = Some((id, parsed.clone())));
    parsed
}

/// Parses a body as XML (roxmltree: namespaces resolved as XML 1.0 says,
/// no DTD, linear time) and builds the tree sxd-xpath queries; the error
/// says why it is not XML.
pub fn parse(body: &[u8]) -> Result<sxd_document::Package, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "the body is not XML: it is not UTF-8 text (byte {})",
            e.valid_up_to()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let preview: String = text.chars().take(60).collect();
        format!(
            "the body is not XML ({e}): {:?}",
            crate::text::printable(&preview)
        )
    })?;
    to_sxd(&doc)
}

/// The parent a node is appended to while building the sxd tree.
#[derive(Clone, Copy)]
enum Parent<'d> {
    Root(sxd_document::dom::Root<'d>),
    Element(sxd_document::dom::Element<'d>),
}

/// Copies a parsed document into an sxd-document tree, iteratively (no
/// recursion on the document's depth), with every element and attribute
/// named by namespace URI and local name.
fn to_sxd(doc: &roxmltree::Document) -> Result<sxd_document::Package, String> {
    let package = sxd_document::Package::new();
    {
        let d = package.as_document();
        let mut stack: Vec<(roxmltree::Node, Parent, usize)> = doc
            .root()
            .children()
            .rev()
            .map(|n| (n, Parent::Root(d.root()), 1))
            .collect();
        let mut wide_cost: usize = 0;
        while let Some((node, parent, depth)) = stack.pop() {
            let child: Option<sxd_document::dom::ChildOfElement> = match node.node_type() {
                roxmltree::NodeType::Element => {
                    if depth > MAX_DEPTH {
                        return Err(format!(
                            "the body is not XML rbk reads: elements are nested more than {MAX_DEPTH} deep"
                        ));
                    }
                    let tag = node.tag_name();
                    let el = d.create_element(sxd_document::QName::with_namespace_uri(
                        tag.namespace(),
                        tag.name(),
                    ));
                    let n = node.attributes().len();
                    if n > WIDE {
                        wide_cost = wide_cost.saturating_add(n * n);
                    }
                    if n > MAX_ATTRIBUTES || wide_cost > WIDE_BUDGET {
                        return Err(format!(
                            "the body is not XML rbk reads: an element has more than {MAX_ATTRIBUTES} attributes, or many elements have more than {WIDE}"
                        ));
                    }
                    for a in node.attributes() {
                        el.set_attribute_value(
                            sxd_document::QName::with_namespace_uri(a.namespace(), a.name()),
                            a.value(),
                        );
                    }
                    for c in node.children().rev() {
                        stack.push((c, Parent::Element(el), depth + 1));
                    }
                    Some(el.into())
                }
                roxmltree::NodeType::Text => node.text().map(|t| d.create_text(t).into()),
                roxmltree::NodeType::Comment => node.text().map(|t| d.create_comment(t).into()),
                roxmltree::NodeType::PI => node
                    .pi()
                    .map(|pi| d.create_processing_instruction(pi.target, pi.value).into()),
                roxmltree::NodeType::Root => None,
            };
            let Some(child) = child else { continue };
            match (parent, child) {
                (Parent::Element(p), c) => p.append_child(c),
                (Parent::Root(r), sxd_document::dom::ChildOfElement::Element(e)) => {
                    r.append_child(e)
                }
                (Parent::Root(r), sxd_document::dom::ChildOfElement::Comment(c)) => {
                    r.append_child(c)
                }
                (Parent::Root(r), sxd_document::dom::ChildOfElement::ProcessingInstruction(p)) => {
                    r.append_child(p)
                }
                // Text outside the root element is only whitespace.
                (Parent::Root(_), sxd_document::dom::ChildOfElement::Text(_)) => {}
            }
        }
    }
    Ok(package)
}

fn compiled(query: &str) -> Result<Rc<XPath>, String> {
    if let Some(x) = COMPILED.with(|c| c.borrow().get(query).cloned()) {
        return Ok(x);
    }
    let x = Rc::new(compile(query)?);
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(query.to_string(), x.clone());
    });
    Ok(x)
}

/// Evaluates `query` on the body of response `id` with the program's
/// namespaces. A node-set gives the text of its nodes: all of them when
/// `list`, else the first (null when there is none).
pub fn xpath(
    id: u64,
    body: &[u8],
    query: &str,
    namespaces: &Namespaces,
    list: bool,
) -> Result<Value, String> {
    let x = compiled(query).map_err(|e| format!("XPath `{query}` is not valid: {e}"))?;
    // sxd-xpath panics on a prefix it does not know: refuse first.
    let mut context = sxd_xpath::Context::new();
    context.set_namespace("xml", XML_NAMESPACE);
    for (p, uri) in namespaces {
        context.set_namespace(p, uri);
    }
    for p in prefixes(query) {
        if p != "xml" && !namespaces.iter().any(|(d, _)| *d == p) {
            return Err(format!(
                "XPath `{query}` uses the prefix `{p}`, which no `xml_namespaces` declares"
            ));
        }
    }
    let parsed = tree(id, body);
    let package = parsed.as_ref().as_ref().map_err(Clone::clone)?;
    let doc = package.as_document();
    let v = x
        .evaluate(&context, doc.root())
        .map_err(|e| format!("XPath `{query}`: {e}"))?;
    Ok(from_xpath(v, list))
}

/// An XPath value as an rbk value: a node-set by its nodes' text (see
/// [`xpath`]), a number as an int when integral, NaN and infinities as null.
pub fn from_xpath(v: sxd_xpath::Value, list: bool) -> Value {
    match v {
        sxd_xpath::Value::Boolean(b) => Value::Bool(b),
        sxd_xpath::Value::String(s) => Value::str(&s),
        sxd_xpath::Value::Number(n) => number(n),
        sxd_xpath::Value::Nodeset(nodes) => {
            let ordered = nodes.document_order();
            if list {
                Value::list(
                    ordered
                        .iter()
                        .map(|n| Value::str(&n.string_value()))
                        .collect(),
                )
            } else {
                ordered
                    .first()
                    .map(|n| Value::str(&n.string_value()))
                    .unwrap_or(Value::Null)
            }
        }
    }
}

fn number(n: f64) -> Value {
    if !n.is_finite() {
        Value::Null
    } else if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::Int(n as i64)
    } else {
        Value::Float(n)
    }
}

/// A `body xml` value: a string literal is built part by part, each
/// interpolated value XML-escaped unless it is written `{raw(x)}`; any
/// other expression (a `file(...)`, a variable) is sent as it is.
pub fn body_text(value: &Expr, vars: &Vars, cx: &Context) -> Result<Value, EvalError> {
    let ExprKind::Str(s) = &value.kind else {
        return eval(value, vars, cx, None);
    };
    let mut out = String::new();
    let mut secret = false;
    for part in &s.parts {
        match part {
            StrPart::Text(t) => out.push_str(t),
            StrPart::Interp(e) => {
                let (inner, escape) = match raw_argument(e) {
                    Some(arg) => (arg, false),
                    None => (e, true),
                };
                let v = eval(inner, vars, cx, None)?;
                let text = v.to_text();
                if v.is_secret() {
                    secret = true;
                    cx.redactor.register(&text);
                }
                if escape {
                    out.push_str(&crate::text::xml_escape(&text));
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
    Ok(Value::str(&out).taint(secret))
}

/// The argument of a `raw(x)` call.
pub fn raw_argument(e: &Expr) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Call(c) if c.func.name == "raw" && c.method.is_none() && c.args.len() == 1 => {
            c.args.first().map(|a| &a.value)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">
  <env:Body>
    <r:tickets xmlns:r="urn:desk" xmlns="urn:desk">
      <ticket id="7"><title>Printer &amp; fax</title><hours>1.5</hours></ticket>
      <ticket id="8"><title>VPN</title><hours>2</hours></ticket>
    </r:tickets>
  </env:Body>
</env:Envelope>"#;

    fn ns() -> Namespaces {
        vec![
            ("s".into(), "http://www.w3.org/2003/05/soap-envelope".into()),
            ("d".into(), "urn:desk".into()),
        ]
    }

    fn run(id: u64, q: &str, list: bool) -> Result<Value, String> {
        xpath(id, DOC.as_bytes(), q, &ns(), list)
    }

    #[test]
    fn node_sets_become_text_first_or_all() {
        let q = "/s:Envelope/s:Body/d:tickets/d:ticket/d:title";
        assert_eq!(run(1, q, false).unwrap(), Value::str("Printer & fax"));
        assert_eq!(
            run(1, q, true).unwrap(),
            Value::list(vec![Value::str("Printer & fax"), Value::str("VPN")])
        );
        assert_eq!(
            run(1, "//d:ticket/@id", true).unwrap(),
            Value::list(vec![Value::str("7"), Value::str("8")])
        );
        assert_eq!(run(1, "//d:nothing", false).unwrap(), Value::Null);
        assert_eq!(run(1, "//d:nothing", true).unwrap(), Value::list(vec![]));
        // Unprefixed names are in no namespace (XPath 1.0): no match.
        assert_eq!(run(1, "//ticket", false).unwrap(), Value::Null);
    }

    #[test]
    fn numbers_booleans_and_strings() {
        assert_eq!(run(2, "count(//d:ticket)", false).unwrap(), Value::Int(2));
        assert_eq!(run(2, "sum(//d:hours)", false).unwrap(), Value::Float(3.5));
        assert_eq!(run(2, "number(//d:title)", false).unwrap(), Value::Null);
        assert_eq!(
            run(2, "//d:ticket[@id='8']/d:title = 'VPN'", false).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            run(2, "string(//d:ticket[2]/@id)", false).unwrap(),
            Value::str("8")
        );
        // Converted to the declared type like a JSONPath result.
        let ids = run(2, "//d:ticket/@id", true).unwrap();
        let ty = crate::check::types::Ty::List(Box::new(crate::check::types::Ty::Int));
        assert_eq!(
            super::super::outputs::convert(ids, &ty, false).unwrap(),
            Value::list(vec![Value::Int(7), Value::Int(8)])
        );
    }

    #[test]
    fn undeclared_prefix_and_bad_documents_are_errors_not_panics() {
        let e = run(3, "//x:ticket", false).unwrap_err();
        assert!(e.contains("`x`"), "{e}");
        let e = xpath(4, b"<a><b></a>", "/a", &ns(), false).unwrap_err();
        assert!(e.starts_with("the body is not XML"), "{e}");
        let e = xpath(5, b"\xff\xfe<a/>", "/a", &ns(), false).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        let deep = format!("{}{}", "<a>".repeat(600), "</a>".repeat(600));
        let e = xpath(6, deep.as_bytes(), "/a", &ns(), false).unwrap_err();
        assert!(e.contains("nested more than"), "{e}");
        // Many elements of 100 attributes each.
        let row: String = (0..100).map(|i| format!(" a{i}='x'")).collect();
        let wide = format!("<r>{}</r>", format!("<e{row}/>").repeat(500));
        let e = xpath(17, wide.as_bytes(), "/r", &ns(), false).unwrap_err();
        assert!(e.contains("attributes"), "{e}");
        let fine = format!("<r>{}</r>", format!("<e{row}/>").repeat(300));
        assert_eq!(
            xpath(18, fine.as_bytes(), "count(/r/e/@*)", &ns(), false).unwrap(),
            Value::Int(30_000)
        );
        let attrs: String = (0..2000).map(|i| format!(" a{i}='x'")).collect();
        let e = xpath(7, format!("<r{attrs}/>").as_bytes(), "/r", &ns(), false).unwrap_err();
        assert!(e.contains("attributes"), "{e}");
        let e = xpath(8, b"<a/>", "/a/[", &ns(), false).unwrap_err();
        assert!(e.contains("not valid"), "{e}");
        // Comments and CDATA holding `<` do not count as elements.
        let ok = format!(
            "<r><![CDATA[{}]]><!--{}--></r>",
            "<a>".repeat(900),
            "<b>".repeat(900)
        );
        assert_eq!(
            xpath(9, ok.as_bytes(), "count(/r)", &ns(), false).unwrap(),
            Value::Int(1)
        );
    }

    #[test]
    fn hostile_documents_fail_cleanly() {
        // Far deeper than the limit: no stack overflow, a clean error.
        let deep = format!("{}{}", "<a>".repeat(1_000_000), "</a>".repeat(1_000_000));
        let e = xpath(10, deep.as_bytes(), "/a", &ns(), false).unwrap_err();
        assert!(e.contains("nested more than"), "{e}");
        // Entity expansion needs a DTD, which is refused.
        let laughs = "<!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><l>&b;</l>";
        let e = xpath(11, laughs.as_bytes(), "/l", &ns(), false).unwrap_err();
        assert!(e.starts_with("the body is not XML"), "{e}");
        for bad in [
            "",
            "   ",
            "{\"json\": 1}",
            "<a>",
            "<a></b>",
            "<a x='1' x='2'/>",
            "<p:a/>",
        ] {
            let e = xpath(12, bad.as_bytes(), "/a", &ns(), false).unwrap_err();
            assert!(e.starts_with("the body is not XML"), "{bad:?}: {e}");
        }
        // An encoding declaration other than UTF-8 is fine when the bytes are.
        let latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>x</a>";
        assert_eq!(
            xpath(13, latin.as_bytes(), "string(/a)", &ns(), false).unwrap(),
            Value::str("x")
        );
        // A byte order mark is skipped.
        assert_eq!(
            xpath(
                14,
                "\u{feff}<a>y</a>".as_bytes(),
                "string(/a)",
                &ns(),
                false
            )
            .unwrap(),
            Value::str("y")
        );
    }

    #[test]
    fn a_large_document_is_read_in_one_pass() {
        let items: String = (0..200_000)
            .map(|i| format!("<d:ticket id=\"{i}\"><d:title>t{i}</d:title></d:ticket>"))
            .collect();
        let doc = format!("<d:list xmlns:d=\"urn:desk\">{items}</d:list>");
        let started = std::time::Instant::now();
        assert_eq!(
            xpath(15, doc.as_bytes(), "count(/d:list/d:ticket)", &ns(), false).unwrap(),
            Value::Int(200_000)
        );
        let ids = xpath(15, doc.as_bytes(), "/d:list/d:ticket/@id", &ns(), true).unwrap();
        assert!(matches!(ids, Value::List(ref l) if l.len() == 200_000));
        eprintln!("{} bytes: {:?}", doc.len(), started.elapsed());
    }

    /// Random expressions from XPath's pieces (undeclared prefixes
    /// included, on which sxd-xpath itself would panic) give a value or an
    /// error, never a panic.
    #[test]
    fn random_expressions_never_panic() {
        const PIECES: &[&str] = &[
            "/",
            "//",
            "d:",
            "x:",
            "s:",
            ":",
            "*",
            "@",
            "[",
            "]",
            "(",
            ")",
            "1",
            ".",
            "..",
            "'q'",
            "\"",
            "=",
            "!=",
            "<",
            "and",
            "or",
            "div",
            "mod",
            "-",
            "|",
            ",",
            "$v",
            "::",
            "child",
            "count(",
            "string(",
            "substring(",
            "translate(",
            "concat(",
            "text()",
            "node()",
            "last()",
            "position()",
            "sum(",
            " ",
            "1.5",
            "NaN",
            "number(",
            "round(",
            "lang(",
            "id(",
            "name(",
            "local-name(",
            "namespace-uri(",
            "ancestor::",
            "namespace::",
            "following::",
            "preceding::",
            "comment()",
            "ticket",
            "title",
            "e",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let q: String = (0..rng.usize(1..10))
                .map(|_| PIECES[rng.usize(..PIECES.len())])
                .collect();
            let _ = run(16, &q, rng.bool());
        }
    }

    #[test]
    fn prefixes_are_found_outside_literals_and_axes() {
        assert_eq!(
            prefixes("/soap:Envelope/child::t:x[@a:id='p:q']/t:*"),
            vec!["soap", "t", "a"]
        );
        assert!(prefixes("count(//x) + 1").is_empty());
        assert_eq!(prefixes("/\u{2070}:a | /é:b"), vec!["\u{2070}", "é"]);
        assert!(valid_prefix("soap") && valid_prefix("s-1") && !valid_prefix("1s"));
    }

    #[test]
    fn one_parse_per_response() {
        let first = tree(42, DOC.as_bytes());
        let again = tree(42, b"<different/>");
        assert!(Rc::ptr_eq(&first, &again));
        forget(42);
        let fresh = tree(42, b"<different/>");
        assert!(!Rc::ptr_eq(&first, &fresh));
    }
}
