//! The parser through the library API: shapes, exact positions, recovery.

use rbk::syntax::ast::*;
use rbk::syntax::span::FileId;
use rbk::syntax::{parse, parse_expr};

fn expr(text: &str) -> Expr {
    parse_expr(FileId(0), text).unwrap_or_else(|d| panic!("{text}: {}", d.message))
}

/// Prints an expression fully parenthesised, to test precedence.
fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.as_str(), show(b)),
        ExprKind::Unary(UnaryOp::Not, a) => format!("(not {})", show(a)),
        ExprKind::Unary(UnaryOp::Neg, a) => format!("(-{})", show(a)),
        ExprKind::Name(id) => id.name.clone(),
        ExprKind::Int { value, .. } => value.to_string(),
        ExprKind::Field(b, f) => format!("{}.{}", show(b), f.name),
        ExprKind::Index(b, i) => format!("{}[{}]", show(b), show(i)),
        ExprKind::Paren(inner) => format!("[{}]", show(inner)),
        ExprKind::Str(s) => format!("{:?}", s.as_plain().unwrap_or_default()),
        ExprKind::Call(c) => format!("{}(..)", c.func.name),
        other => format!("{other:?}"),
    }
}

#[test]
fn precedence_follows_the_table() {
    let cases = [
        ("a or b and c", "(a or (b and c))"),
        ("not a == b", "(not (a == b))"),
        ("a == b and c != d", "((a == b) and (c != d))"),
        ("x in xs == true", "((x in xs) == Bool(true))"),
        ("a ?? b == c", "((a ?? b) == c)"),
        ("a ?? b ?? c", "(a ?? (b ?? c))"),
        ("1 + 2 * 3 - 4", "((1 + (2 * 3)) - 4)"),
        ("-a.b[0] * 2", "((-a.b[0]) * 2)"),
        (
            "s contains \"x\" or n > 1",
            "((s contains \"x\") or (n > 1))",
        ),
        ("(a or b) and c", "([(a or b)] and c)"),
        ("status in 200..299", "(status in (200 .. 299))"),
    ];
    for (text, want) in cases {
        assert_eq!(show(&expr(text)), want, "{text}");
    }
}

#[test]
fn literals() {
    match expr("250ms").kind {
        ExprKind::Duration { millis, .. } => assert_eq!(millis, 250),
        k => panic!("{k:?}"),
    }
    match expr("1.5h").kind {
        ExprKind::Duration { millis, .. } => assert_eq!(millis, 5_400_000),
        k => panic!("{k:?}"),
    }
    match expr("1e-3").kind {
        ExprKind::Float { value, .. } => assert!((value - 0.001).abs() < 1e-12),
        k => panic!("{k:?}"),
    }
    assert!(matches!(expr("null").kind, ExprKind::Null));
    match expr("$.items[?@.price < 10].name").kind {
        ExprKind::JsonPath(p) => assert_eq!(p, "$.items[?@.price < 10].name"),
        k => panic!("{k:?}"),
    }
}

#[test]
fn strings_escape_and_interpolate() {
    let e = expr(r#""Hi {name}, {{literal}} \u{1F600}\t\"q\"""#);
    let ExprKind::Str(s) = e.kind else { panic!() };
    assert_eq!(s.parts.len(), 3);
    assert!(matches!(&s.parts[0], StrPart::Text(t) if t == "Hi "));
    assert!(matches!(&s.parts[1], StrPart::Interp(_)));
    assert!(matches!(&s.parts[2], StrPart::Text(t) if t == ", {literal} 😀\t\"q\""));
}

#[test]
fn triple_quoted_strings_dedent() {
    let e = expr("\"\"\"\n    line one\n      indented {x}\n    \"\"\"");
    let ExprKind::Str(s) = e.kind else { panic!() };
    assert!(matches!(&s.parts[0], StrPart::Text(t) if t == "line one\n  indented "));
    assert_eq!(s.parts.len(), 2);
}

#[test]
fn integer_overflow_is_a_diagnostic_not_a_panic() {
    let (_, diags) = parse(FileId(0), "runbook r() { let x = 99999999999999999999 }");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, "rbk::invalid_literal");
    let span = diags[0].primary.as_ref().unwrap().span;
    assert_eq!((span.start, span.end), (22, 42));
}

#[test]
fn syntax_error_position_and_words() {
    let src = "integration api {\n  base_url = \"x\"\n  timeout 5s\n}\n";
    let (_, diags) = parse(FileId(0), src);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d.code, "rbk::syntax");
    let span = d.primary.as_ref().unwrap().span;
    assert_eq!(&src[span.start as usize..span.end as usize], "5s");
    assert!(d.message.contains("`=`"), "{}", d.message);
    assert!(
        !d.message.contains("assign"),
        "pest rule names leak: {}",
        d.message
    );
}

#[test]
fn one_error_per_broken_item_and_the_rest_still_parse() {
    let src = "runbook a() { let = 1 }\n\nintegration ok { base_url = \"x\" }\n\nrunbook b() { step x = }\n\nrunbook c() { log 1 }\n";
    let (module, diags) = parse(FileId(0), src);
    assert_eq!(diags.len(), 2, "{diags:?}");
    let names: Vec<String> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Integration(x) => x.name.name.clone(),
            Item::Runbook(x) => x.name.name.clone(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(names, ["ok", "c"]);
}

#[test]
fn doc_comments_attach_to_what_follows() {
    let src = "## Our API\n## second line\nintegration api {\n  ## the root\n  base_url = \"x\"\n}\n# plain\nmethod api.m(\n  ## the id\n  id: int) {\n  GET \"/{id}\"\n  output {\n    ## its name\n    name: string = $.name\n  }\n}\n";
    let (module, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Integration(i) = &module.items[0] else {
        panic!()
    };
    assert_eq!(i.doc.as_deref(), Some("Our API\nsecond line"));
    assert_eq!(i.body.entries[0].doc.as_deref(), Some("the root"));
    let Item::Method(m) = &module.items[1] else {
        panic!()
    };
    assert_eq!(m.doc, None);
    assert_eq!(m.params[0].doc.as_deref(), Some("the id"));
    let MethodItem::Output(o) = &m.items[1] else {
        panic!()
    };
    assert_eq!(o.fields[0].doc.as_deref(), Some("its name"));
    assert_eq!(module.comments.len(), 6);
}

#[test]
fn keywords_are_not_names() {
    let (_, diags) = parse(FileId(0), "runbook r() { let if = 1 }");
    assert_eq!(diags.len(), 1);
    let (_, diags) = parse(FileId(0), "runbook r() { let iffy = 1 log iffy }");
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn step_with_until_and_arms() {
    let src = "runbook r() {\n  step p = a.b(id: 1) until p.done every 5s max 20 else {\n    404 | 410 => fail \"gone\"\n    500..599 => log \"x\"\n    timeout => { wait 1s }\n    _ => fail \"other\"\n  }\n}\n";
    let (module, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Runbook(rb) = &module.items[0] else {
        panic!()
    };
    let StmtKind::Step(st) = &rb.body.stmts[0].kind else {
        panic!()
    };
    assert!(st.until.as_ref().is_some_and(|u| u.max.is_some()));
    let arms = st.arms.as_ref().unwrap();
    assert_eq!(arms.len(), 4);
    assert_eq!(arms[0].patterns.len(), 2);
    assert_eq!(arms[1].patterns[0].kind, PatternKind::Range(500, 599));
    assert_eq!(arms[3].patterns[0].kind, PatternKind::Any);
}

#[test]
fn an_unclosed_brace_is_one_error_and_sizes_are_ints() {
    let text = "integration a { base_url = \"http://x\" }\nmethod a.b() {\n  GET \"/\"\n\nrunbook one() {\n  log \"x\"\n}\n\nrunbook two() {\n  log \"y\"\n}\n";
    let (_, diags) = parse(FileId(0), text);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0].message.contains("opened on line 2"),
        "{}",
        diags[0].message
    );
    for (raw, bytes) in [("512KB", 512 << 10), ("64MiB", 64 << 20), ("1GB", 1 << 30)] {
        match expr(raw).kind {
            ExprKind::Int { value, raw: r } => assert_eq!((value, r.as_str()), (bytes, raw)),
            other => panic!("{raw}: {other:?}"),
        }
    }
}

#[test]
fn var_and_assignments() {
    let src = "runbook r() {\n  var n: int = 1\n  n += 2\n  n = n * 3\n}\n";
    let (module, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Runbook(rb) = &module.items[0] else {
        panic!()
    };
    let StmtKind::Var(v) = &rb.body.stmts[0].kind else {
        panic!("{:?}", rb.body.stmts[0].kind)
    };
    assert_eq!(v.name.name, "n");
    assert_eq!(v.ty.as_ref().map(|t| t.to_string()).as_deref(), Some("int"));
    let StmtKind::Assign(a) = &rb.body.stmts[1].kind else {
        panic!("{:?}", rb.body.stmts[1].kind)
    };
    assert_eq!(a.op, AssignOp::Add);
    assert_eq!(&src[a.op_span.range()], "+=");
    assert_eq!(&src[rb.body.stmts[1].span.range()], "n += 2");
    let StmtKind::Assign(a) = &rb.body.stmts[2].kind else {
        panic!("{:?}", rb.body.stmts[2].kind)
    };
    assert_eq!(a.op, AssignOp::Set);
    assert_eq!(&src[a.value.span.range()], "n * 3");
}

#[test]
fn var_is_reserved_and_comparisons_are_not_statements() {
    let (_, diags) = parse(FileId(0), "runbook r() { let var = 1 }");
    assert_eq!(diags.len(), 1);
    assert!(
        diags[0]
            .help
            .as_deref()
            .is_some_and(|h| h.contains("reserved")),
        "{diags:?}"
    );
    let (_, diags) = parse(FileId(0), "runbook r() {\n  var x = 1\n  x == 2\n}");
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("`==`"), "{diags:?}");
    let (_, diags) = parse(FileId(0), "runbook r() {\n  var x = 1\n  x -= 2\n}");
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("`-=`"), "{diags:?}");
    // An arm may assign.
    let (_, diags) = parse(
        FileId(0),
        "runbook r() {\n  var x = 1\n  step s = a.b() else {\n    404 => x = 2\n    _ => x += 1\n  }\n}",
    );
    assert!(diags.is_empty(), "{diags:?}");
}
