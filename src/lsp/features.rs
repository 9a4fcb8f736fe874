//! The requests: each reads a [`View`] of the document (its text and the
//! checked program) and answers in LSP terms.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use lsp_types::*;

use super::index::{Occ, Owner, Sym, outputs};
use super::{Analysis, Server, path_to_uri};
use crate::diagnostic::{self, Severity};
use crate::syntax::ast::{self, Item, Span, StmtKind};
use crate::syntax::highlight::{Class, classify};
use crate::syntax::visit::{Visitor, walk_stmt, walk_stmts};

// ---------------------------------------------------------------- locations

/// The LSP location of a span of the analysed program.
fn location(a: &Analysis, span: Span) -> Option<Location> {
    let uri = match &a.root_uri {
        Some(uri) if span.file == a.root() => uri.clone(),
        _ => path_to_uri(&a.sources().get(span.file).path)?,
    };
    Some(Location::new(uri, range_in(a, span)))
}

fn range_in(a: &Analysis, span: Span) -> Range {
    a.line_index(span.file)
        .range(span.start as usize, span.end as usize)
}

// ---------------------------------------------------------------- diagnostics

/// The program's diagnostics as the editor shows them on the root file.
/// Errors inside imported files are shown on the import that brings them.
pub(super) fn diagnostics(a: &Analysis, _text: &str) -> Vec<Diagnostic> {
    let root = a.root();
    let sources = a.sources();
    let mut out = Vec::new();
    for d in &a.checked.diagnostics {
        let (range, in_root) = match &d.primary {
            Some(p) if p.span.file == root => (range_in(a, p.span), true),
            Some(p) => {
                if !d.is_error() {
                    continue;
                }
                match import_of(a, p.span.file) {
                    Some(span) => (range_in(a, span), false),
                    None => continue,
                }
            }
            None => (Range::default(), true),
        };
        let mut message = d.message.clone();
        if !in_root && let Some(p) = &d.primary {
            let f = sources.get(p.span.file);
            let (line, col) = f.line_col(p.span.start as usize);
            message = format!(
                "in imported file {}:{line}:{col}: {message}",
                f.path.display()
            );
        }
        if let Some(h) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        let mut related: Vec<DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|l| {
                Some(DiagnosticRelatedInformation {
                    location: location(a, l.span)?,
                    message: if l.message.is_empty() {
                        "see here".to_string()
                    } else {
                        l.message.clone()
                    },
                })
            })
            .collect();
        if !in_root
            && let Some(p) = &d.primary
            && let Some(loc) = location(a, p.span)
        {
            related.insert(
                0,
                DiagnosticRelatedInformation {
                    location: loc,
                    message: p.message.clone(),
                },
            );
        }
        out.push(Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            source: Some("rbk".to_string()),
            message,
            related_information: if related.is_empty() {
                None
            } else {
                Some(related)
            },
            data: Some(serde_json::json!({
                "label": d.primary.as_ref().map(|p| p.message.clone()),
                "help": d.help,
            })),
            ..Default::default()
        });
    }
    out
}

/// The import in the root file through which `file` is loaded.
fn import_of(a: &Analysis, file: ast::FileId) -> Option<Span> {
    let program = &a.checked.program;
    let root = program.modules.iter().find(|m| m.file == program.root)?;
    let target = std::fs::canonicalize(&program.sources.get(file).path).ok();
    let base = program
        .sources
        .get(program.root)
        .path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut first = None;
    for item in &root.items {
        if let Item::Import(imp) = item {
            first.get_or_insert(imp.span);
            let resolved = imp
                .path
                .as_plain()
                .and_then(|p| std::fs::canonicalize(base.join(p)).ok());
            if resolved.is_some() && resolved == target {
                return Some(imp.span);
            }
        }
    }
    first
}

// ---------------------------------------------------------------- hover

pub(super) fn hover(s: &mut Server, p: HoverParams) -> Option<Hover> {
    let pos = p.text_document_position_params;
    let v = s.view(&pos.text_document.uri)?;
    let offset = v.offset(pos.position);
    let a = &v.analysis;
    let occ = a.index.at(a.root(), offset)?;
    let text = describe(a, occ)?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(range_in(a, occ.span)),
    })
}

fn doc_text(doc: &Option<String>) -> String {
    match doc {
        Some(d) if !d.trim().is_empty() => format!("\n\n{}", d.trim()),
        _ => String::new(),
    }
}

fn code(sig: &str) -> String {
    format!("```rbk\n{sig}\n```")
}

fn params_text(a: &Analysis, params: &[ast::Param]) -> String {
    params
        .iter()
        .map(|p| param_text(a, p))
        .collect::<Vec<_>>()
        .join(", ")
}

fn param_text(a: &Analysis, p: &ast::Param) -> String {
    match &p.default {
        Some(d) => format!(
            "{}: {} = {}",
            p.name.name,
            p.ty,
            a.sources().snippet(d.span)
        ),
        None => format!("{}: {}", p.name.name, p.ty),
    }
}

/// A method's outputs as `name: type` (the name alone when untyped).
fn output_list(m: &ast::Method) -> Vec<String> {
    outputs(m)
        .map(|f| match &f.ty {
            Some(t) => format!("{}: {t}", f.name.name),
            None => f.name.name.clone(),
        })
        .collect()
}

fn method_sig(a: &Analysis, m: &ast::Method) -> String {
    let outs = output_list(m);
    let mut s = format!(
        "method {}.{}({})",
        m.integration.name,
        m.name.name,
        params_text(a, &m.params)
    );
    if !outs.is_empty() {
        s.push_str(&format!(" -> {{ {} }}", outs.join(", ")));
    }
    s
}

/// The type of an expression at `span`, as the checker found it.
fn type_at(a: &Analysis, span: Span) -> Option<String> {
    a.types
        .iter()
        .rev()
        .find(|(s, _)| *s == span)
        .map(|(_, t)| t.to_string())
}

fn describe(a: &Analysis, occ: &Occ) -> Option<String> {
    let program = &a.checked.program;
    Some(match &occ.sym {
        Sym::Integration(n) => {
            let i = program.integration(n)?;
            let base = i
                .body
                .get("base_url")
                .map(|e| a.sources().snippet(e.span).to_string());
            let methods: Vec<&str> = program
                .methods
                .keys()
                .filter(|(i, _)| i == n)
                .map(|(_, m)| m.as_str())
                .collect();
            let mut s = code(&format!("integration {n}"));
            s.push_str(&doc_text(&i.doc));
            if let Some(b) = base {
                s.push_str(&format!("\n\n`{b}`"));
            }
            if !methods.is_empty() {
                s.push_str(&format!("\n\nmethods: {}", methods.join(", ")));
            }
            s
        }
        Sym::Instance(n) => {
            let i = program.all_instances().find(|i| &i.name.name == n)?;
            format!("{}{}", code(&format!("instance {n}")), doc_text(&i.doc))
        }
        Sym::Method(i, m) => {
            let m = program.method(i, m)?;
            format!("{}{}", code(&method_sig(a, m)), doc_text(&m.doc))
        }
        Sym::Runbook(n) => {
            let rb = program.runbook(n)?;
            format!(
                "{}{}",
                code(&format!("runbook {n}({})", params_text(a, &rb.params))),
                doc_text(&rb.doc)
            )
        }
        Sym::Param(owner, n) => {
            let (params, whose) = match owner {
                Owner::Method(i, m) => (&program.method(i, m)?.params, format!("method {i}.{m}")),
                Owner::Runbook(r) => (&program.runbook(r)?.params, format!("runbook {r}")),
            };
            let p = params.iter().find(|p| &p.name.name == n)?;
            format!(
                "{}\n\nparameter of {whose}{}",
                code(&param_text(a, p)),
                doc_text(&p.doc)
            )
        }
        Sym::Output(i, m, n) => {
            let method = program.method(i, m)?;
            let f = outputs(method).find(|f| &f.name.name == n)?;
            let ty =
                f.ty.as_ref()
                    .map(|t| t.to_string())
                    .or_else(|| type_at(a, f.value.span))
                    .unwrap_or_else(|| "json".to_string());
            format!(
                "{}\n\noutput of {i}.{m}{}",
                code(&format!("{n}: {ty}")),
                doc_text(&f.doc)
            )
        }
        Sym::Local(rb, n) => {
            let (kind, ty) = local_info(a, rb, n, occ);
            code(&format!("{kind} {n}: {ty}"))
        }
        Sym::Builtin(n) => {
            let b = crate::builtins::BUILTINS.iter().find(|b| b.name == n)?;
            format!("{}\n\nbuilt-in function", code(b.signature))
        }
    })
}

/// What bound a local and its type.
fn local_info(a: &Analysis, rb: &str, name: &str, occ: &Occ) -> (&'static str, String) {
    let mut ty = if occ.def { None } else { type_at(a, occ.span) };
    let mut kind = "let";
    if let Some(r) = a.checked.program.runbook(rb) {
        let mut f = FindBinding { name, found: None };
        walk_stmts(&mut f, &r.body.stmts);
        if let Some(b) = f.found {
            match &b.kind {
                StmtKind::Let(l) | StmtKind::Var(l) => {
                    kind = if matches!(b.kind, StmtKind::Var(_)) {
                        "var"
                    } else {
                        "let"
                    };
                    if ty.is_none() {
                        ty =
                            l.ty.as_ref()
                                .map(|t| t.to_string())
                                .or_else(|| type_at(a, l.value.span));
                    }
                }
                StmtKind::Step(st) => {
                    kind = "step";
                    let target = match &st.call.target {
                        ast::CallTarget::Method {
                            integration,
                            method,
                        } => {
                            let outs = a
                                .checked
                                .program
                                .method(&integration.name, &method.name)
                                .map(output_list)
                                .unwrap_or_default();
                            format!(
                                "result of {}.{} {{ {} }}",
                                integration.name,
                                method.name,
                                outs.into_iter()
                                    .chain(crate::check::types::RESULT_FIELDS.map(String::from))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                        ast::CallTarget::Runbook(r) => format!("result of run {}", r.name),
                    };
                    ty = Some(target);
                }
                StmtKind::For(_) => kind = "for",
                _ => {}
            }
        }
    }
    if ty.is_none() {
        // Any read of the name has the type.
        ty = a
            .index
            .references(&occ.sym)
            .filter(|o| !o.def)
            .find_map(|o| type_at(a, o.span));
    }
    (kind, ty.unwrap_or_else(|| "any".to_string()))
}

struct FindBinding<'a> {
    name: &'a str,
    found: Option<ast::Stmt>,
}

impl Visitor for FindBinding<'_> {
    fn visit_stmt(&mut self, s: &ast::Stmt) {
        if self.found.is_some() {
            return;
        }
        let hit = match &s.kind {
            StmtKind::Let(l) | StmtKind::Var(l) => l.name.name == self.name,
            StmtKind::Step(st) => st.name.name == self.name,
            StmtKind::For(f) => f.var.name == self.name,
            _ => false,
        };
        if hit {
            self.found = Some(s.clone());
            return;
        }
        walk_stmt(self, s);
    }

    fn visit_expr(&mut self, _: &ast::Expr) {}
}

// ---------------------------------------------------------------- definition, references, rename

pub(super) fn definition(
    s: &mut Server,
    p: GotoDefinitionParams,
) -> Option<GotoDefinitionResponse> {
    let pos = p.text_document_position_params;
    let v = s.view(&pos.text_document.uri)?;
    let offset = v.offset(pos.position);
    let a = &v.analysis;
    if let Some(file) = imported_at(a, offset) {
        let uri = path_to_uri(&file)?;
        return Some(GotoDefinitionResponse::Scalar(Location::new(
            uri,
            Range::default(),
        )));
    }
    let occ = a.index.at(a.root(), offset)?;
    let def = a.index.definition(&occ.sym)?;
    Some(GotoDefinitionResponse::Scalar(location(a, def.span)?))
}

/// The file an `import` names, when `offset` is on its path.
fn imported_at(a: &Analysis, offset: usize) -> Option<PathBuf> {
    let program = &a.checked.program;
    let root = program.modules.iter().find(|m| m.file == program.root)?;
    let offset = offset as u32;
    root.items.iter().find_map(|item| match item {
        Item::Import(imp) if imp.path.span.start <= offset && offset <= imp.path.span.end => {
            let base = program.sources.get(program.root).path.parent()?;
            let path = base.join(imp.path.as_plain()?);
            path.is_file().then_some(path)
        }
        _ => None,
    })
}

/// Where a symbol is defined: canonical path and byte offset.
fn def_key(a: &Analysis, sym: &Sym) -> Option<(PathBuf, u32)> {
    let d = a.index.definition(sym)?;
    let path = &a.sources().get(d.span.file).path;
    Some((
        std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
        d.span.start,
    ))
}

/// Every occurrence of the symbol under the cursor, across the programs
/// that share its definition: (uri, range, is definition).
fn occurrences(s: &mut Server, pos: &TextDocumentPositionParams) -> Option<(Sym, Vec<Location>)> {
    let v = s.view(&pos.text_document.uri)?;
    let offset = v.offset(pos.position);
    let a = v.analysis.clone();
    let sym = a.index.at(a.root(), offset)?.sym.clone();
    let key = def_key(&a, &sym);
    let mut programs = vec![a];
    programs.extend(s.all_programs());
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for prog in &programs {
        if key.is_some() && def_key(prog, &sym) != key {
            continue;
        }
        for o in prog.index.references(&sym) {
            let Some(loc) = location(prog, o.span) else {
                continue;
            };
            if seen.insert((loc.uri.as_str().to_string(), loc.range.start, loc.range.end)) {
                out.push((o.def, loc));
            }
        }
    }
    out.sort_by(|a, b| {
        (
            a.1.uri.as_str(),
            a.1.range.start.line,
            a.1.range.start.character,
        )
            .cmp(&(
                b.1.uri.as_str(),
                b.1.range.start.line,
                b.1.range.start.character,
            ))
    });
    Some((sym, out.into_iter().map(|(_, l)| l).collect()))
}

pub(super) fn references(s: &mut Server, p: ReferenceParams) -> Option<Vec<Location>> {
    let pos = p.text_document_position;
    let (sym, locs) = occurrences(s, &pos)?;
    if p.context.include_declaration {
        return Some(locs);
    }
    // Leave the definition out.
    let v = s.view(&pos.text_document.uri)?;
    let a = &v.analysis;
    let def = a.index.definition(&sym).and_then(|d| location(a, d.span));
    Some(
        locs.into_iter()
            .filter(|l| Some(l) != def.as_ref())
            .collect(),
    )
}

/// The other places in this file that name what is under the cursor.
pub(super) fn highlights(
    s: &mut Server,
    p: DocumentHighlightParams,
) -> Option<Vec<DocumentHighlight>> {
    let pos = p.text_document_position_params;
    let v = s.view(&pos.text_document.uri)?;
    let offset = v.offset(pos.position);
    let a = &v.analysis;
    let sym = &a.index.at(a.root(), offset)?.sym;
    Some(
        a.index
            .references(sym)
            .filter(|o| o.span.file == a.root())
            .map(|o| DocumentHighlight {
                range: range_in(a, o.span),
                kind: Some(if o.def {
                    DocumentHighlightKind::WRITE
                } else {
                    DocumentHighlightKind::READ
                }),
            })
            .collect(),
    )
}

pub(super) fn prepare_rename(
    s: &mut Server,
    p: TextDocumentPositionParams,
) -> Option<PrepareRenameResponse> {
    let v = s.view(&p.text_document.uri)?;
    let offset = v.offset(p.position);
    let a = &v.analysis;
    let occ = a.index.at(a.root(), offset)?;
    if matches!(occ.sym, Sym::Builtin(_)) {
        return None;
    }
    Some(PrepareRenameResponse::RangeWithPlaceholder {
        range: range_in(a, occ.span),
        placeholder: occ.sym.name().to_string(),
    })
}

const RESERVED: &[&str] = &[
    "import",
    "instance",
    "integration",
    "method",
    "runbook",
    "let",
    "var",
    "step",
    "if",
    "else",
    "for",
    "in",
    "parallel",
    "wait",
    "log",
    "fail",
    "return",
    "run",
    "until",
    "every",
    "max",
    "true",
    "false",
    "null",
    "not",
    "and",
    "or",
    "contains",
    "trigger",
];

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

/// Why renaming `sym` to `new` would make two things of one name.
fn clash(a: &Analysis, sym: &Sym, new: &str) -> Option<String> {
    let program = &a.checked.program;
    let taken = match sym {
        Sym::Integration(_) => program.integrations.contains_key(new),
        Sym::Instance(_) => program.all_instances().any(|i| i.name.name == new),
        Sym::Method(i, _) => program.method(i, new).is_some(),
        Sym::Runbook(_) => program.runbooks.contains_key(new),
        Sym::Output(i, m, _) => program
            .method(i, m)
            .is_some_and(|m| outputs(m).any(|f| f.name.name == new)),
        Sym::Param(Owner::Method(i, m), _) => program
            .method(i, m)
            .is_some_and(|m| m.params.iter().any(|p| p.name.name == new)),
        Sym::Param(Owner::Runbook(rb), _) | Sym::Local(rb, _) => {
            let param = Sym::Param(Owner::Runbook(rb.clone()), new.to_string());
            let local = Sym::Local(rb.clone(), new.to_string());
            a.index
                .occs
                .iter()
                .any(|o| o.def && (o.sym == param || o.sym == local))
        }
        Sym::Builtin(_) => false,
    };
    taken.then(|| format!("`{new}` is already defined there; pick another name"))
}

// `WorkspaceEdit::changes` is keyed by `Uri`, whose parsed form clippy
// takes for interior mutability; the key is never changed once inserted.
#[allow(clippy::mutable_key_type)]
pub(super) fn rename(s: &mut Server, p: RenameParams) -> Result<Option<WorkspaceEdit>, String> {
    if !is_identifier(&p.new_name) {
        return Err(format!(
            "`{}` is not a name: use letters, digits and `_`, not starting with a digit, and not a keyword",
            p.new_name
        ));
    }
    let Some((sym, locs)) = occurrences(s, &p.text_document_position) else {
        return Ok(None);
    };
    if matches!(sym, Sym::Builtin(_)) {
        return Err("built-in functions cannot be renamed".to_string());
    }
    if let Some(v) = s.view(&p.text_document_position.text_document.uri)
        && let Some(clash) = clash(&v.analysis, &sym, &p.new_name)
    {
        return Err(clash);
    }
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for l in locs {
        changes.entry(l.uri).or_default().push(TextEdit {
            range: l.range,
            new_text: p.new_name.clone(),
        });
    }
    Ok(Some(WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }))
}

// ---------------------------------------------------------------- completion

const TOP_KEYWORDS: &[&str] = &["import", "instance", "integration", "method", "runbook"];
const STMT_KEYWORDS: &[&str] = &[
    "let", "var", "step", "if", "for", "parallel", "wait", "log", "fail", "return", "trigger",
];
/// What may start a line directly inside a method's braces.
const METHOD_KEYWORDS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "headers", "query", "body",
    "expect", "output", "paginate", "auth", "timeout", "retry",
];

/// The keyword of the top-level item the text ends in (`runbook`,
/// `method`, `integration`, `instance`), read from the last line that
/// starts with one.
fn enclosing_item(text: &str) -> Option<&'static str> {
    let mut found = None;
    for line in text.split('\n') {
        for kw in ["runbook", "method", "integration", "instance"] {
            if line.starts_with(kw) && line[kw.len()..].starts_with([' ', '\t']) {
                found = Some(kw);
            }
        }
    }
    found
}

/// The identifier that ends at the end of `s`, and where it starts.
fn word_before(s: &str) -> (&str, usize) {
    let start = s
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    (&s[start..], start)
}

/// The innermost bracket `open` that is not closed before the end of `s`
/// (strings and comments skipped roughly), as a byte offset.
fn open_bracket(s: &str, open: char, close: char) -> Option<usize> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut in_str = false;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '#' => {
                for (_, c2) in chars.by_ref() {
                    if c2 == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => stack.push((c, i)),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    let (c, i) = *stack.last()?;
    (c == open && close != c).then_some(i)
}

/// The words of `text` (runs of letters, digits and `_`) with their byte offsets.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let word = c.is_alphanumeric() || c == '_';
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// The names bound before the cursor in the runbook or method around it,
/// read from the text (which may not parse yet).
fn locals_before(text: &str) -> Vec<(String, &'static str)> {
    // The item starts at the last line that begins with `runbook`/`method`.
    let start = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(0))
        .filter(|&i| {
            let line = &text[i..];
            line.starts_with("runbook ") || line.starts_with("method ")
        })
        .max()
        .unwrap_or(text.len());
    let body = &text[start..];
    let words = words(body);
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let header_end = body.find('{').unwrap_or(body.len());
    for (k, (at, w)) in words.iter().enumerate() {
        let next = words.get(k + 1).map(|(_, n)| *n);
        let kind = match *w {
            "let" => "let",
            "var" => "var",
            "step" => "step",
            "for" => "for",
            _ => {
                // A parameter in the header: `name:`.
                if *at < header_end && k >= 2 && body[at + w.len()..].trim_start().starts_with(':')
                {
                    out.push((w.to_string(), "param"));
                }
                continue;
            }
        };
        if let Some(n) = next
            && !out.iter().any(|(o, _)| o == n)
        {
            out.push((n.to_string(), kind));
        }
    }
    out
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        ..Default::default()
    }
}

pub(super) fn completion(s: &mut Server, p: CompletionParams) -> Option<CompletionResponse> {
    let pos = p.text_document_position;
    let v = s.view(&pos.text_document.uri)?;
    let offset = v.offset(pos.position);
    let before = &v.text[..offset.min(v.text.len())];
    let line = &before[before.rfind('\n').map(|i| i + 1).unwrap_or(0)..];
    let a = v.good.clone().unwrap_or_else(|| v.analysis.clone());
    let program = &a.checked.program;
    let (word, wstart) = word_before(line);
    let head = line[..wstart].trim_end();
    let mut items: Vec<CompletionItem> = Vec::new();

    // `auth KIND`
    if head.ends_with("auth") && head[..head.len() - 4].trim().is_empty() {
        for k in crate::check::auth_kinds() {
            items.push(item(
                k,
                CompletionItemKind::ENUM_MEMBER,
                Some("auth kind".into()),
            ));
        }
        return Some(CompletionResponse::Array(items));
    }
    // Fields inside `auth KIND { ... }`.
    if let Some(open) = open_bracket(before, '{', '}') {
        let header = before[..open].trim_end();
        let (kind, kstart) = word_before(header);
        if header[..kstart].trim_end().ends_with("auth") && line[..wstart].trim().is_empty() {
            for (f, required) in crate::check::auth_fields(kind) {
                let mut it = item(
                    f,
                    CompletionItemKind::FIELD,
                    Some(format!(
                        "auth {kind} {}",
                        if required { "(required)" } else { "(optional)" }
                    )),
                );
                it.insert_text = Some(format!("{f} = "));
                items.push(it);
            }
            return Some(CompletionResponse::Array(items));
        }
    }
    // `NAME.` : methods, outputs, result fields.
    if let Some(stem) = line[..wstart].strip_suffix('.') {
        let (name, _) = word_before(stem);
        if program.integrations.contains_key(name) {
            for ((i, m), _) in program.methods.iter().filter(|((i, _), _)| i == name) {
                let method = program.method(i, m)?;
                let mut it = item(m, CompletionItemKind::METHOD, Some(method_sig(&a, method)));
                it.documentation = method.doc.clone().map(Documentation::String);
                items.push(it);
            }
        } else if let Some((i, m)) = step_target(before, name) {
            if let Some(method) = program.method(&i, &m) {
                for f in outputs(method) {
                    let mut it = item(
                        &f.name.name,
                        CompletionItemKind::FIELD,
                        Some(format!("output of {i}.{m}")),
                    );
                    it.documentation = f.doc.clone().map(Documentation::String);
                    items.push(it);
                }
            }
            for r in crate::check::types::RESULT_FIELDS {
                items.push(item(
                    r,
                    CompletionItemKind::PROPERTY,
                    Some("step result".into()),
                ));
            }
        } else if name == "instance"
            && let crate::check::types::Ty::Record(r) = &crate::check::instance_type(program).ty
        {
            for (f, t) in &r.fields {
                items.push(item(f, CompletionItemKind::FIELD, Some(t.to_string())));
            }
        }
        return Some(CompletionResponse::Array(items));
    }
    // `step x = ` : integrations, `integration.method`, `run`.
    if is_step_rhs(head) {
        for i in program.integrations.keys() {
            items.push(item(
                i,
                CompletionItemKind::MODULE,
                Some("integration".into()),
            ));
        }
        for (i, m) in program.methods.keys() {
            let method = program.method(i, m)?;
            let mut it = item(
                &format!("{i}.{m}"),
                CompletionItemKind::METHOD,
                Some(method_sig(&a, method)),
            );
            it.insert_text = Some(format!("{i}.{m}("));
            items.push(it);
        }
        items.push(item("run", CompletionItemKind::KEYWORD, None));
        return Some(CompletionResponse::Array(items));
    }
    // `run ` : runbooks.
    if head.ends_with("run") && word_before(head).0 == "run" {
        for n in program.runbooks.keys() {
            items.push(item(
                n,
                CompletionItemKind::FUNCTION,
                Some("runbook".into()),
            ));
        }
        return Some(CompletionResponse::Array(items));
    }
    // Parameter names inside a call.
    if let Some(open) = open_bracket(before, '(', ')') {
        let after = before[open + 1..].trim_end();
        let at_arg_start = after.is_empty() || after.ends_with(',');
        let at_arg_start = at_arg_start
            && before[..offset - word.len()].trim_end()
                == before[..open + 1 + after.len()].trim_end();
        if at_arg_start && let Some(sig) = callee(&a, &before[..open]) {
            for (name, label) in sig.params {
                let mut it = item(&name, CompletionItemKind::VARIABLE, Some(label));
                it.insert_text = Some(format!("{name}: "));
                it.sort_text = Some(format!("0{name}"));
                items.push(it);
            }
        }
    }
    // Keywords where a statement or an item starts.
    if head.is_empty() || head.ends_with('{') || head.ends_with('}') {
        // Outside every brace: where items start.
        let top = brace_depth(before) <= 0;
        let in_method = enclosing_item(before) == Some("method") && brace_depth(before) == 1;
        let kws = if top {
            TOP_KEYWORDS
        } else if in_method {
            METHOD_KEYWORDS
        } else {
            STMT_KEYWORDS
        };
        for k in kws {
            items.push(item(k, CompletionItemKind::KEYWORD, None));
        }
        if top {
            return Some(CompletionResponse::Array(items));
        }
    }
    // Names in scope, built-ins, integrations.
    for (n, kind) in locals_before(before) {
        items.push(item(
            &n,
            CompletionItemKind::VARIABLE,
            Some(kind.to_string()),
        ));
    }
    for b in crate::builtins::BUILTINS {
        let mut it = item(
            b.name,
            CompletionItemKind::FUNCTION,
            Some(b.signature.into()),
        );
        it.insert_text = Some(format!("{}(", b.name));
        items.push(it);
    }
    for i in program.integrations.keys() {
        items.push(item(
            i,
            CompletionItemKind::MODULE,
            Some("integration".into()),
        ));
    }
    items.push(item(
        "instance",
        CompletionItemKind::VARIABLE,
        Some("the instance".into()),
    ));
    Some(CompletionResponse::Array(items))
}

fn brace_depth(s: &str) -> i64 {
    let mut depth = 0i64;
    let mut in_str = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '#' => {
                for c2 in chars.by_ref() {
                    if c2 == '\n' {
                        break;
                    }
                }
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// True when `head` is `step NAME =`.
fn is_step_rhs(head: &str) -> bool {
    let Some(h) = head.strip_suffix('=') else {
        return false;
    };
    let (name, start) = word_before(h.trim_end());
    !name.is_empty()
        && h.trim_end()[..start].trim_end().ends_with("step")
        && word_before(h.trim_end()[..start].trim_end()).0 == "step"
}

/// The method a step named `name` calls, read from the text before.
fn step_target(before: &str, name: &str) -> Option<(String, String)> {
    let pat = format!("step {name}");
    let at = before.rfind(&pat)?;
    let rest = before[at + pat.len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let end = rest.find('(')?;
    let (i, m) = rest[..end].trim().split_once('.')?;
    Some((i.to_string(), m.to_string()))
}

/// A callable's label and its parameters (name, label).
struct Sig {
    label: String,
    params: Vec<(String, String)>,
    doc: Option<String>,
}

/// What is called by the text that ends just before an opening `(`.
fn callee(a: &Analysis, head: &str) -> Option<Sig> {
    let program = &a.checked.program;
    let head = head.trim_end();
    let (name, start) = word_before(head);
    let lead = &head[..start];
    if let Some(stem) = lead.strip_suffix('.') {
        let (integ, _) = word_before(stem);
        let m = program.method(integ, name)?;
        return Some(Sig {
            label: method_sig(a, m),
            params: m
                .params
                .iter()
                .map(|p| (p.name.name.clone(), param_text(a, p)))
                .collect(),
            doc: m.doc.clone(),
        });
    }
    if lead.trim_end().ends_with("run") {
        let rb = program.runbook(name)?;
        return Some(Sig {
            label: format!("runbook {name}({})", params_text(a, &rb.params)),
            params: rb
                .params
                .iter()
                .map(|p| (p.name.name.clone(), param_text(a, p)))
                .collect(),
            doc: rb.doc.clone(),
        });
    }
    let b = crate::builtins::BUILTINS.iter().find(|b| b.name == name)?;
    // The parameters as the signature writes them.
    let inner = b
        .signature
        .split_once('(')
        .and_then(|(_, r)| r.rsplit_once(')'))
        .map(|(p, _)| p)
        .unwrap_or("");
    let params = inner
        .split(", ")
        .filter(|p| !p.is_empty())
        .map(|p| {
            (
                p.split(':').next().unwrap_or(p).trim().to_string(),
                p.to_string(),
            )
        })
        .collect();
    Some(Sig {
        label: b.signature.to_string(),
        params,
        doc: None,
    })
}

// ---------------------------------------------------------------- signature help

pub(super) fn signature_help(s: &mut Server, p: SignatureHelpParams) -> Option<SignatureHelp> {
    let pos = p.text_document_position_params;
    let v = s.view(&pos.text_document.uri)?;
    let offset = v.offset(pos.position);
    let before = &v.text[..offset.min(v.text.len())];
    let open = open_bracket(before, '(', ')')?;
    let a = v.good.clone().unwrap_or_else(|| v.analysis.clone());
    let sig = callee(&a, &before[..open])?;
    // Commas at the call's own depth.
    let mut depth = 0i64;
    let mut active = 0u32;
    let mut in_str = false;
    for c in before[open + 1..].chars() {
        match c {
            '"' => in_str = !in_str,
            _ if in_str => {}
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => active += 1,
            _ => {}
        }
    }
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label: sig.label.clone(),
            documentation: sig.doc.map(Documentation::String),
            parameters: Some(
                sig.params
                    .iter()
                    .map(|(_, l)| ParameterInformation {
                        label: ParameterLabel::Simple(l.clone()),
                        documentation: None,
                    })
                    .collect(),
            ),
            active_parameter: Some(active),
        }],
        active_signature: Some(0),
        active_parameter: Some(active),
    })
}

// ---------------------------------------------------------------- symbols

pub(super) fn symbols(s: &mut Server, p: DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
    let v = s.view(&p.text_document.uri)?;
    let a = &v.analysis;
    let module = a
        .checked
        .program
        .modules
        .iter()
        .find(|m| m.file == a.root())?;
    let r = |span: Span| range_in(a, span);
    #[allow(deprecated)]
    let sym = |name: String,
               detail: Option<String>,
               kind: SymbolKind,
               span: Span,
               sel: Span,
               children: Vec<DocumentSymbol>| DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        // Clients reject a selection outside its range.
        range: r(if sel.file == span.file {
            span.to(sel)
        } else {
            span
        }),
        selection_range: r(sel),
        children: if children.is_empty() {
            None
        } else {
            Some(children)
        },
    };
    let params = |ps: &[ast::Param]| -> Vec<DocumentSymbol> {
        ps.iter()
            .map(|p| {
                sym(
                    p.name.name.clone(),
                    Some(p.ty.to_string()),
                    SymbolKind::VARIABLE,
                    p.span,
                    p.name.span,
                    Vec::new(),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    for item in &module.items {
        match item {
            Item::Import(i) => out.push(sym(
                i.path.as_plain().unwrap_or_default(),
                Some("import".into()),
                SymbolKind::FILE,
                i.span,
                i.path.span,
                Vec::new(),
            )),
            Item::Instance(i) => out.push(sym(
                i.name.name.clone(),
                Some("instance".into()),
                SymbolKind::OBJECT,
                i.span,
                i.name.span,
                Vec::new(),
            )),
            Item::Integration(i) => out.push(sym(
                i.name.name.clone(),
                Some("integration".into()),
                SymbolKind::MODULE,
                i.span,
                i.name.span,
                Vec::new(),
            )),
            Item::Method(m) => {
                let mut children = params(&m.params);
                children.extend(outputs(m).map(|f| {
                    sym(
                        f.name.name.clone(),
                        Some("output".into()),
                        SymbolKind::FIELD,
                        f.span,
                        f.name.span,
                        Vec::new(),
                    )
                }));
                out.push(sym(
                    format!("{}.{}", m.integration.name, m.name.name),
                    Some("method".into()),
                    SymbolKind::METHOD,
                    m.span,
                    m.name.span,
                    children,
                ))
            }
            Item::Runbook(rb) => {
                let mut children = params(&rb.params);
                struct Steps<'a>(&'a mut Vec<(String, Span, Span)>);
                impl Visitor for Steps<'_> {
                    fn visit_stmt(&mut self, s: &ast::Stmt) {
                        if let StmtKind::Step(st) = &s.kind {
                            self.0.push((st.name.name.clone(), s.span, st.name.span));
                        }
                        walk_stmt(self, s);
                    }
                    fn visit_expr(&mut self, _: &ast::Expr) {}
                }
                let mut steps = Vec::new();
                walk_stmts(&mut Steps(&mut steps), &rb.body.stmts);
                children.extend(steps.into_iter().map(|(n, span, sel)| {
                    sym(
                        n,
                        Some("step".into()),
                        SymbolKind::EVENT,
                        span,
                        sel,
                        Vec::new(),
                    )
                }));
                out.push(sym(
                    rb.name.name.clone(),
                    Some("runbook".into()),
                    SymbolKind::FUNCTION,
                    rb.span,
                    rb.name.span,
                    children,
                ))
            }
        }
    }
    Some(DocumentSymbolResponse::Nested(out))
}

/// Top-level definitions of every program in the workspace whose name holds
/// the query's characters in order (case ignored).
pub(super) fn workspace_symbols(
    s: &mut Server,
    p: WorkspaceSymbolParams,
) -> Option<WorkspaceSymbolResponse> {
    let query: Vec<char> = p.query.to_lowercase().chars().collect();
    let matches = |name: &str| {
        let mut q = query.iter().peekable();
        for c in name.to_lowercase().chars() {
            if q.peek() == Some(&&c) {
                q.next();
            }
        }
        q.peek().is_none()
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for a in s.all_programs() {
        for o in a.index.occs.iter().filter(|o| o.def) {
            let (name, kind, container) = match &o.sym {
                Sym::Integration(n) => (n.clone(), SymbolKind::MODULE, None),
                Sym::Instance(n) => (n.clone(), SymbolKind::OBJECT, None),
                Sym::Method(i, m) => (format!("{i}.{m}"), SymbolKind::METHOD, Some(i.clone())),
                Sym::Runbook(n) => (n.clone(), SymbolKind::FUNCTION, None),
                _ => continue,
            };
            if !matches(&name) {
                continue;
            }
            let Some(location) = location(&a, o.span) else {
                continue;
            };
            if !seen.insert((location.uri.as_str().to_string(), location.range.start)) {
                continue;
            }
            #[allow(deprecated)]
            out.push(SymbolInformation {
                name,
                kind,
                tags: None,
                deprecated: None,
                location,
                container_name: container,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(WorkspaceSymbolResponse::Flat(out))
}

// ---------------------------------------------------------------- formatting

pub(super) fn formatting(s: &mut Server, p: DocumentFormattingParams) -> Option<Vec<TextEdit>> {
    let v = s.view(&p.text_document.uri)?;
    let formatted = crate::syntax::format::format_source(&v.text)?;
    if formatted == v.text {
        return Some(Vec::new());
    }
    let index = v.line_index();
    Some(vec![TextEdit {
        range: index.range(0, v.text.len()),
        new_text: formatted,
    }])
}

// ---------------------------------------------------------------- code actions

/// The name in a "did you mean `x`?" help.
fn suggestion(text: &str) -> Option<&str> {
    let rest = &text[text.find("did you mean `")? + "did you mean `".len()..];
    Some(&rest[..rest.find('`')?])
}

#[allow(clippy::mutable_key_type)] // as in `rename`
pub(super) fn code_actions(s: &mut Server, p: CodeActionParams) -> Option<CodeActionResponse> {
    let v = s.view(&p.text_document.uri)?;
    let current = diagnostics(&v.analysis, &v.text);
    let mut out = Vec::new();
    for d in current.iter().filter(|d| overlaps(d.range, p.range)) {
        let code = match &d.code {
            Some(NumberOrString::String(c)) => c.as_str(),
            _ => continue,
        };
        let mut edit = None;
        let mut title = String::new();
        let index = v.line_index();
        let written = v
            .text
            .get(index.offset(d.range.start)..index.offset(d.range.end))
            .unwrap_or("");
        // Only where the diagnostic marks exactly the misspelt word.
        let is_word = is_identifier(written) || RESERVED.contains(&written);
        if let Some(s) =
            suggestion(&d.message).filter(|s| is_word && (is_identifier(s) || RESERVED.contains(s)))
        {
            edit = Some(TextEdit {
                range: d.range,
                new_text: s.to_string(),
            });
            title = format!("Replace with `{s}`");
        } else if code == diagnostic::codes::UNBOUNDED_LOOP {
            edit = Some(TextEdit {
                range: Range::new(d.range.end, d.range.end),
                new_text: " max 10".to_string(),
            });
            title = "Add `max 10`".to_string();
        }
        let Some(edit) = edit else { continue };
        let mut changes = HashMap::new();
        changes.insert(v.uri.clone(), vec![edit]);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title,
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    Some(out)
}

fn overlaps(a: Range, b: Range) -> bool {
    a.start <= b.end && b.start <= a.end
}

// ---------------------------------------------------------------- semantic tokens

const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::REGEXP,
    SemanticTokenType::COMMENT,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::METHOD,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::PROPERTY,
];

const MODIFIERS: &[SemanticTokenModifier] = &[
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::DOCUMENTATION,
];

pub(super) fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TOKEN_TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

fn token_type(t: SemanticTokenType) -> u32 {
    TOKEN_TYPES.iter().position(|x| *x == t).unwrap_or(0) as u32
}

pub(super) fn semantic_tokens(
    s: &mut Server,
    p: SemanticTokensParams,
) -> Option<SemanticTokensResult> {
    let v = s.view(&p.text_document.uri)?;
    let data = tokens(&v, 0, v.text.len());
    Some(SemanticTokensResult::Tokens(SemanticTokens {
        result_id: None,
        data,
    }))
}

/// The tokens of the lines a range touches (what an editor shows first).
/// A `"""` string that opens above the range is not seen as one there.
pub(super) fn semantic_tokens_range(
    s: &mut Server,
    p: SemanticTokensRangeParams,
) -> Option<SemanticTokensRangeResult> {
    let v = s.view(&p.text_document.uri)?;
    let index = v.line_index();
    let start = index.offset(Position::new(p.range.start.line, 0));
    let end = index.offset(Position::new(p.range.end.line + 1, 0));
    let data = tokens(&v, start, end.max(start));
    Some(SemanticTokensRangeResult::Tokens(SemanticTokens {
        result_id: None,
        data,
    }))
}

/// Semantic tokens of `v.text[from..to]` (`from` at a line start).
fn tokens(v: &super::View, from: usize, to: usize) -> Vec<SemanticToken> {
    let a = &v.analysis;
    let root = a.root();
    // What the index knows refines plain names.
    let names: BTreeMap<u32, &Occ> = a
        .index
        .occs
        .iter()
        .filter(|o| o.span.file == root)
        .map(|o| (o.span.start, o))
        .collect();
    let index = v.line_index();
    let mut data = Vec::new();
    let (mut last_line, mut last_col) = (0u32, 0u32);
    let mut offset = from;
    for (class, piece) in classify(v.text.get(from..to).unwrap_or("")) {
        let start = offset;
        offset += piece.len();
        let (ty, mut mods) = match class {
            Class::Keyword => (SemanticTokenType::KEYWORD, 0),
            Class::String => (SemanticTokenType::STRING, 0),
            Class::Number => (SemanticTokenType::NUMBER, 0),
            Class::JsonPath => (SemanticTokenType::REGEXP, 0),
            Class::Comment => (
                SemanticTokenType::COMMENT,
                if piece.starts_with("##") { 2 } else { 0 },
            ),
            Class::Name => match names.get(&(start as u32)) {
                Some(o) => (
                    match o.sym {
                        Sym::Integration(_) | Sym::Instance(_) => SemanticTokenType::NAMESPACE,
                        Sym::Method(..) => SemanticTokenType::METHOD,
                        Sym::Runbook(_) | Sym::Builtin(_) => SemanticTokenType::FUNCTION,
                        Sym::Param(..) => SemanticTokenType::PARAMETER,
                        Sym::Output(..) => SemanticTokenType::PROPERTY,
                        Sym::Local(..) => SemanticTokenType::VARIABLE,
                    },
                    u32::from(o.def),
                ),
                None => (SemanticTokenType::VARIABLE, 0),
            },
            Class::Punct | Class::Space => continue,
        };
        // One token per line: a multi-line string or comment is split.
        let mut line_start = start;
        for (k, line) in piece.split('\n').enumerate() {
            if k > 0 {
                mods &= !1;
            }
            let from = line_start;
            line_start += line.len() + 1;
            let len = line.trim_end_matches('\r').encode_utf16().count() as u32;
            if len == 0 {
                continue;
            }
            let pos = index.position(from);
            let delta_line = pos.line - last_line;
            let delta_start = if delta_line == 0 {
                pos.character - last_col
            } else {
                pos.character
            };
            data.push(SemanticToken {
                delta_line,
                delta_start,
                length: len,
                token_type: token_type(ty.clone()),
                token_modifiers_bitset: mods,
            });
            last_line = pos.line;
            last_col = pos.character;
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_are_read_from_text_with_non_ascii() {
        let text = "runbook r(a: int, é: string) {\n  let 😀x = 1\n  let b = \"ü\"\n  step s = i.m()\n  for it in [1] {\n";
        let names: Vec<String> = locals_before(text).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "é", "x", "b", "s", "it"]);
    }

    #[test]
    fn brackets_and_words_before_the_cursor() {
        assert_eq!(word_before("log tickets.ge"), ("ge", 12));
        assert_eq!(word_before("é"), ("é", 0));
        assert_eq!(open_bracket("f(a, \"(\", g(1)", '(', ')'), Some(1));
        assert_eq!(open_bracket("f(a) { x", '(', ')'), None);
        assert!(is_step_rhs("  step x ="));
        assert!(!is_step_rhs("  let x ="));
        assert_eq!(suggestion("nope\nhelp: did you mean `get`?"), Some("get"));
    }
}
