//! Text to AST: runs the pest grammar and converts its pairs into
//! [`ast`](super::ast) nodes. Never panics on any input: a pair of an
//! unexpected shape becomes an internal-error diagnostic.

use std::cell::RefCell;
use std::sync::LazyLock;

use pest::Parser as _;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::errors;
use crate::diagnostic::{Diagnostic, codes};

/// The parser of files, REPL input and expressions: `grammar/rbk.pest`
/// with the rules of `grammar/fast.pest`. The builder below works on its
/// pairs.
mod fast {
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/rbk.pest"]
    #[grammar = "../grammar/fast.pest"]
    pub(crate) struct RbkParser;
}

/// The parser whose errors become syntax-error messages
/// (`src/syntax/errors.rs`): `grammar/rbk.pest` with the rules of
/// `grammar/detailed.pest`, which try every operator after every operand
/// so that pest records them. It accepts the same language as [`fast`]
/// (tested in `equivalence`); it only runs on text the fast parser refused.
pub(crate) mod detailed {
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/rbk.pest"]
    #[grammar = "../grammar/detailed.pest"]
    pub(crate) struct RbkParser;
}

pub(crate) use fast::{RbkParser, Rule};

/// How many broken items one file may report before parsing gives up.
const MAX_SYNTAX_ERRORS: usize = 20;

/// Parses one file. Always returns a module (with every item that parsed)
/// and the diagnostics found; syntax errors in one top-level item do not
/// hide errors in the others.
pub fn parse(file: FileId, text: &str) -> (Module, Vec<Diagnostic>) {
    if let Some(at) = too_deep(text) {
        let d = Diagnostic::error(
            codes::SYNTAX,
            format!("brackets are nested more than {MAX_NESTING} deep"),
        )
        .at(Span::new(file, at, at + 1), "nested too deep")
        .help("split the expression or block into smaller parts with `let`");
        return (
            Module {
                file,
                items: Vec::new(),
                comments: Vec::new(),
            },
            vec![d],
        );
    }
    let mut diags = Vec::new();
    let mut working: Option<String> = None;
    for _ in 0..MAX_SYNTAX_ERRORS {
        let src = working.as_deref().unwrap_or(text);
        match RbkParser::parse(Rule::program, src) {
            Ok(pairs) => {
                let (module, mut more) = build_module(file, src, pairs);
                diags.append(&mut more);
                return (module, diags);
            }
            Err(fast) => {
                let err = detailed(detailed::Rule::program, src, &fast);
                let pos = errors::error_position(&err);
                let d = errors::syntax_error(file, src, &err);
                // One error per unclosed `{`: the items after it would each
                // report the same brace again.
                let repeated = !d.secondary.is_empty()
                    && diags.iter().any(|e: &Diagnostic| {
                        e.secondary
                            .iter()
                            .map(|l| l.span)
                            .eq(d.secondary.iter().map(|l| l.span))
                    });
                if !repeated {
                    diags.push(d);
                }
                // Blank out the broken top-level item (keeping offsets and
                // newlines) and parse again to find the next problem.
                let (start, end) = item_bounds(src, pos);
                let mut blanked = String::with_capacity(src.len());
                blanked.push_str(&src[..start]);
                blanked.extend(src[start..end].chars().map(|c| match c {
                    '\n' => "\n".to_string(),
                    c => " ".repeat(c.len_utf8()),
                }));
                blanked.push_str(&src[end..]);
                if start == end || blanked == src {
                    break;
                }
                working = Some(blanked);
            }
        }
    }
    (
        Module {
            file,
            items: Vec::new(),
            comments: Vec::new(),
        },
        diags,
    )
}

/// One line (or several) of REPL input. Built once per input, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ReplInput {
    Stmt(Stmt),
    Expr(Expr),
}

/// Parses REPL input: `let x = ...`, `step s = integ.method(...)`, or an
/// expression (a bare method call is an expression here).
pub fn parse_repl(file: FileId, text: &str) -> Result<ReplInput, Box<Diagnostic>> {
    if let Some(at) = too_deep(text) {
        return Err(Box::new(
            Diagnostic::error(
                codes::SYNTAX,
                format!("brackets are nested more than {MAX_NESTING} deep"),
            )
            .at(Span::new(file, at, at + 1), "nested too deep"),
        ));
    }
    let mut pairs = RbkParser::parse(Rule::repl_input, text).map_err(|e| {
        let e = detailed(detailed::Rule::repl_input, text, &e);
        Box::new(errors::syntax_error(file, text, &e))
    })?;
    let b = Builder::new(file, text);
    let Some(top) = pairs.next() else {
        return Err(Box::new(internal(file, 0)));
    };
    let Some(inner) = top
        .into_inner()
        .find(|p| !is_trivia(p.as_rule()) && p.as_rule() != Rule::EOI)
    else {
        return Err(Box::new(internal(file, 0)));
    };
    let result = if inner.as_rule() == Rule::expr {
        b.expr(inner).map(ReplInput::Expr)
    } else {
        b.stmt(inner).map(ReplInput::Stmt)
    };
    let mut diags = b.diags.into_inner();
    match result {
        Ok(r) if diags.is_empty() => Ok(r),
        Ok(_) => Err(Box::new(diags.remove(0))),
        Err(Internal(at)) => Err(Box::new(internal(file, at))),
    }
}

/// How deep `(`, `[` and `{` may nest; deeper input is refused before
/// parsing, so that no input can exhaust the stack.
pub const MAX_NESTING: usize = 200;

/// The offset where nesting first exceeds [`MAX_NESTING`], if it does.
fn too_deep(src: &str) -> Option<usize> {
    // Brackets inside strings count too (an interpolation may nest), which
    // only over-counts strings full of literal brackets.
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'#' if !in_string => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses a single expression (used by tests and the REPL).
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Box<Diagnostic>> {
    if let Some(at) = too_deep(text) {
        return Err(Box::new(
            Diagnostic::error(
                codes::SYNTAX,
                format!("brackets are nested more than {MAX_NESTING} deep"),
            )
            .at(Span::new(file, at, at + 1), "nested too deep"),
        ));
    }
    let mut pairs = RbkParser::parse(Rule::expr_only, text).map_err(|e| {
        let e = detailed(detailed::Rule::expr_only, text, &e);
        Box::new(errors::syntax_error(file, text, &e))
    })?;
    let b = Builder::new(file, text);
    let pair = pairs
        .next()
        .and_then(|p| p.into_inner().find(|p| p.as_rule() == Rule::expr));
    let result = match pair {
        Some(p) => b.expr(p),
        None => Err(Internal(0)),
    };
    let mut diags = b.diags.into_inner();
    match result {
        Ok(e) if diags.is_empty() => Ok(e),
        Ok(_) => Err(Box::new(diags.remove(0))),
        Err(Internal(at)) => Err(Box::new(internal(file, at))),
    }
}

/// Parses again, with the detailed grammar and pest's error detail (the
/// expected tokens, for the message). Detail doubles the cost of a parse,
/// so only a failed parse pays it; the lock keeps one thread's detailed
/// parse from being switched off by another's.
fn detailed(
    rule: detailed::Rule,
    src: &str,
    fast: &pest::error::Error<Rule>,
) -> pest::error::Error<detailed::Rule> {
    static DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = DETAIL.lock().unwrap_or_else(|e| e.into_inner());
    pest::set_error_detail(true);
    let r = detailed::RbkParser::parse(rule, src).err();
    pest::set_error_detail(false);
    // The two grammars accept the same language, so the detailed parse
    // fails too; should it not, the fast parse's position still makes a
    // message ("unexpected ...").
    r.unwrap_or_else(|| {
        let pos = errors::error_position(fast).min(src.len());
        pest::error::Error::new_from_pos(
            pest::error::ErrorVariant::CustomError {
                message: String::new(),
            },
            pest::Position::new(src, pos).unwrap_or_else(|| pest::Position::from_start(src)),
        )
    })
}

/// The byte range of the top-level item around `pos`: from the last line
/// that starts with a top-level keyword at or before `pos`, to the next one.
fn item_bounds(src: &str, pos: usize) -> (usize, usize) {
    let starts = item_line_starts(src);
    let start = starts
        .iter()
        .rev()
        .find(|&&s| s <= pos)
        .copied()
        .unwrap_or(0);
    let end = starts
        .iter()
        .find(|&&s| s > pos)
        .copied()
        .unwrap_or(src.len());
    (start, end)
}

fn item_line_starts(src: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let word: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if matches!(
            word.as_str(),
            "import" | "instance" | "integration" | "method" | "runbook"
        ) {
            out.push(offset);
        }
        offset += line.len();
    }
    out
}

// ---------------------------------------------------------------- building

/// A pair had an unexpected shape; the offset is where.
#[derive(Debug)]
struct Internal(usize);

type R<T> = Result<T, Internal>;

fn internal(file: FileId, at: usize) -> Diagnostic {
    Diagnostic::error(
        codes::SYNTAX,
        "internal parser error: unexpected syntax tree shape",
    )
    .at(Span::new(file, at, at), "here")
    .help("this is a bug in rbk; please report it with the file that caused it")
}

fn build_module(file: FileId, src: &str, mut pairs: Pairs<'_, Rule>) -> (Module, Vec<Diagnostic>) {
    let b = Builder::new(file, src);
    let mut items = Vec::new();
    let mut comments = Vec::new();
    if let Some(program) = pairs.next() {
        for p in program.clone().into_inner().flatten() {
            if p.as_rule() == Rule::comment {
                comments.push(Comment {
                    text: p.as_str().trim_end().to_string(),
                    span: b.span(&p),
                });
            }
        }
        comments.sort_by_key(|c| c.span.start);
        comments.dedup_by_key(|c| c.span.start);
        *b.comments.borrow_mut() = comments.clone();
        for p in program.into_inner().filter(|p| !is_trivia(p.as_rule())) {
            if p.as_rule() == Rule::EOI {
                continue;
            }
            match b.item(p) {
                Ok(item) => items.push(item),
                Err(Internal(at)) => b.diags.borrow_mut().push(internal(file, at)),
            }
        }
    }
    (
        Module {
            file,
            items,
            comments,
        },
        b.diags.into_inner(),
    )
}

/// The parts of an expression as the limit on chained operators counts
/// them: a call is one part, with the comments between its name and its
/// `(` (the detailed grammar's `call_expr`; the fast one gives a name and
/// a `call_tail`).
fn parts(expr: &Pair<'_, Rule>) -> usize {
    let (mut n, mut comments) = (0, 0);
    for c in expr.clone().into_inner() {
        match c.as_rule() {
            Rule::comment => comments += 1,
            Rule::call_tail => comments = 0,
            _ => {
                n += 1 + comments;
                comments = 0;
            }
        }
    }
    n + comments
}

fn is_trivia(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::comment
            | Rule::kw_import
            | Rule::kw_instance
            | Rule::kw_integration
            | Rule::kw_method
            | Rule::kw_runbook
            | Rule::kw_as
            | Rule::kw_body
            | Rule::kw_json
            | Rule::kw_form
            | Rule::kw_multipart
            | Rule::kw_text
            | Rule::kw_xml
            | Rule::kw_bytes
            | Rule::kw_expect
            | Rule::kw_output
            | Rule::kw_paginate
            | Rule::kw_trigger
            | Rule::kw_let
            | Rule::kw_var
            | Rule::kw_step
            | Rule::kw_if
            | Rule::kw_for
            | Rule::kw_in
            | Rule::kw_parallel
            | Rule::kw_wait
            | Rule::kw_log
            | Rule::kw_fail
            | Rule::kw_return
            | Rule::kw_run
            | Rule::kw_until
            | Rule::kw_every
            | Rule::kw_max
            | Rule::kw_max_pages
    )
}

/// The children of a pair, trivia skipped, with shape checks.
type NonTrivia<'i> = std::iter::Filter<Pairs<'i, Rule>, fn(&Pair<'i, Rule>) -> bool>;

struct Kids<'i> {
    inner: std::iter::Peekable<NonTrivia<'i>>,
    end: usize,
}

fn not_trivia(p: &Pair<'_, Rule>) -> bool {
    !is_trivia(p.as_rule())
}

impl<'i> Kids<'i> {
    fn of(pair: &Pair<'i, Rule>) -> Kids<'i> {
        let filter: fn(&Pair<'i, Rule>) -> bool = not_trivia;
        Kids {
            inner: pair.clone().into_inner().filter(filter).peekable(),
            end: pair.as_span().end(),
        }
    }

    fn next(&mut self) -> R<Pair<'i, Rule>> {
        self.inner.next().ok_or(Internal(self.end))
    }

    fn expect(&mut self, rule: Rule) -> R<Pair<'i, Rule>> {
        let p = self.next()?;
        if p.as_rule() == rule {
            Ok(p)
        } else {
            Err(Internal(p.as_span().start()))
        }
    }

    fn peek(&mut self) -> Option<Rule> {
        self.inner.peek().map(|p| p.as_rule())
    }

    fn opt(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        if self.peek() == Some(rule) {
            self.inner.next()
        } else {
            None
        }
    }

    fn rest(self) -> impl Iterator<Item = Pair<'i, Rule>> {
        self.inner
    }
}

/// Keeps `else` as a child we can see: it is a keyword but marks structure.
fn is_else(p: &Pair<'_, Rule>) -> bool {
    p.as_rule() == Rule::kw_else
}

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left))
        .op(Op::infix(Rule::op_in, Assoc::Left) | Op::infix(Rule::op_contains, Assoc::Left))
        .op(Op::infix(Rule::op_coalesce, Assoc::Right))
        .op(Op::infix(Rule::op_range, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_rem, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
        .op(Op::postfix(Rule::field) | Op::postfix(Rule::index) | Op::postfix(Rule::call_tail))
});

struct Builder<'s> {
    file: FileId,
    src: &'s str,
    comments: RefCell<Vec<Comment>>,
    diags: RefCell<Vec<Diagnostic>>,
    /// How deep statements nest here (`else if` chains count), bounded so
    /// that no input can exhaust the stack of what walks the tree later.
    depth: std::cell::Cell<usize>,
}

/// The most statements that may nest, and operators one expression may chain.
const MAX_STMT_DEPTH: usize = 300;
const MAX_OPERATORS: usize = 2_000;

impl<'s> Builder<'s> {
    fn new(file: FileId, src: &'s str) -> Builder<'s> {
        Builder {
            file,
            src,
            comments: RefCell::new(Vec::new()),
            diags: RefCell::new(Vec::new()),
            depth: std::cell::Cell::new(0),
        }
    }

    /// Reports input nested or chained beyond the limits (once per file).
    fn too_complex(&self, span: Span, what: &str) {
        if self
            .diags
            .borrow()
            .iter()
            .any(|d| d.message.contains("too deeply"))
        {
            return;
        }
        self.error(
            Diagnostic::error(codes::SYNTAX, format!("{what} too deeply"))
                .at(span, "here")
                .help("split it into smaller parts, e.g. with `let`"),
        );
    }

    /// The pair's span without the whitespace and comments that pest's
    /// implicit skipping may have swallowed at its end.
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let mut end = s.end();
        for last in p.clone().into_inner().rev() {
            if last.as_rule() == Rule::comment && last.as_span().end() >= end {
                end = last.as_span().start();
            } else {
                break;
            }
        }
        let trimmed = self
            .src
            .get(s.start()..end)
            .map(str::trim_end)
            .map(str::len);
        Span::new(
            self.file,
            s.start(),
            s.start() + trimmed.unwrap_or(end - s.start()),
        )
    }

    fn error(&self, d: Diagnostic) {
        self.diags.borrow_mut().push(d);
    }

    /// The `##` lines directly above `start`, joined, without the markers.
    fn doc_before(&self, start: usize) -> Option<String> {
        let comments = self.comments.borrow();
        let mut lines = Vec::new();
        let mut boundary = start;
        let idx = comments.partition_point(|c| (c.span.end as usize) <= start);
        for c in comments[..idx].iter().rev() {
            let gap = self.src.get(c.span.end as usize..boundary).unwrap_or("x");
            if !gap.chars().all(char::is_whitespace) || gap.matches('\n').count() > 1 {
                break;
            }
            if !c.is_doc() {
                break;
            }
            let text = c.text.trim_start_matches("##");
            lines.push(text.strip_prefix(' ').unwrap_or(text).to_string());
            boundary = c.span.start as usize;
        }
        if lines.is_empty() {
            None
        } else {
            lines.reverse();
            Some(lines.join("\n"))
        }
    }

    fn ident(&self, p: Pair<'_, Rule>) -> R<Ident> {
        match p.as_rule() {
            Rule::ident | Rule::any_ident | Rule::arg_name => Ok(Ident {
                name: p.as_str().trim().to_string(),
                span: self.span(&p),
            }),
            _ => Err(Internal(p.as_span().start())),
        }
    }

    // ------------------------------------------------------------ items

    fn item(&self, p: Pair<'_, Rule>) -> R<Item> {
        let span = self.span(&p);
        let doc = self.doc_before(span.start as usize);
        let mut k = Kids::of(&p);
        Ok(match p.as_rule() {
            Rule::import => Item::Import(Import {
                path: self.string(k.expect(Rule::string)?)?,
                span,
            }),
            Rule::instance => Item::Instance(Instance {
                name: self.ident(k.expect(Rule::ident)?)?,
                body: self.block(k.expect(Rule::block)?)?,
                doc,
                span,
            }),
            Rule::integration => Item::Integration(Integration {
                name: self.ident(k.expect(Rule::ident)?)?,
                body: self.block(k.expect(Rule::block)?)?,
                doc,
                span,
            }),
            Rule::method => {
                let integration = self.ident(k.expect(Rule::ident)?)?;
                let name = self.ident(k.expect(Rule::any_ident)?)?;
                let params = self.params(k.expect(Rule::params)?)?;
                let body = k.expect(Rule::method_body)?;
                let mut items = Vec::new();
                for item in Kids::of(&body).rest() {
                    items.push(self.method_item(item)?);
                }
                Item::Method(Method {
                    integration,
                    name,
                    params,
                    items,
                    doc,
                    span,
                })
            }
            Rule::runbook => Item::Runbook(Runbook {
                name: self.ident(k.expect(Rule::ident)?)?,
                params: self.params(k.expect(Rule::params)?)?,
                body: self.stmt_block(k.expect(Rule::stmt_block)?)?,
                doc,
                span,
            }),
            _ => return Err(Internal(span.start as usize)),
        })
    }

    fn block(&self, p: Pair<'_, Rule>) -> R<Block> {
        let span = self.span(&p);
        let mut entries = Vec::new();
        for e in Kids::of(&p).rest() {
            entries.push(self.entry(e)?);
        }
        Ok(Block { entries, span })
    }

    fn entry(&self, p: Pair<'_, Rule>) -> R<Entry> {
        let span = self.span(&p);
        let doc = self.doc_before(span.start as usize);
        let mut k = Kids::of(&p);
        let key = self.key(k.expect(Rule::key)?)?;
        let v = k.next()?;
        let value = match v.as_rule() {
            Rule::assign => {
                let mut a = Kids::of(&v);
                let value = self.expr(a.expect(Rule::expr)?)?;
                let content_type = match a.opt(Rule::content_type) {
                    Some(ct) => Some(self.content_type(ct)?),
                    None => None,
                };
                EntryValue::Expr {
                    value,
                    content_type,
                }
            }
            Rule::labelled => {
                let mut l = Kids::of(&v);
                let label = self.ident(l.expect(Rule::any_ident)?)?;
                match l.opt(Rule::block) {
                    Some(b) => EntryValue::Block {
                        label: Some(label),
                        block: self.block(b)?,
                    },
                    None => EntryValue::Label(label),
                }
            }
            Rule::block => EntryValue::Block {
                label: None,
                block: self.block(v)?,
            },
            _ => return Err(Internal(v.as_span().start())),
        };
        Ok(Entry {
            key,
            value,
            doc,
            span,
        })
    }

    fn key(&self, p: Pair<'_, Rule>) -> R<Key> {
        let span = self.span(&p);
        let inner = Kids::of(&p).next()?;
        match inner.as_rule() {
            Rule::any_ident => Ok(Key {
                name: inner.as_str().to_string(),
                quoted: false,
                span,
            }),
            Rule::string => {
                let s = self.string(inner)?;
                let name = match s.as_plain() {
                    Some(n) => n,
                    None => {
                        self.error(
                            Diagnostic::error(
                                codes::INVALID_LITERAL,
                                "a key cannot interpolate values",
                            )
                            .at(span, "this key has `{...}` in it")
                            .help("write the key as plain text, or use `{{` for a literal brace"),
                        );
                        s.raw.clone()
                    }
                };
                Ok(Key {
                    name,
                    quoted: true,
                    span,
                })
            }
            _ => Err(Internal(span.start as usize)),
        }
    }

    fn content_type(&self, p: Pair<'_, Rule>) -> R<Expr> {
        self.expr(Kids::of(&p).expect(Rule::expr)?)
    }

    fn params(&self, p: Pair<'_, Rule>) -> R<Vec<Param>> {
        let mut out = Vec::new();
        for param in Kids::of(&p).rest() {
            let span = self.span(&param);
            let doc = self.doc_before(span.start as usize);
            let mut k = Kids::of(&param);
            let name = self.ident(k.expect(Rule::ident)?)?;
            let ty = self.type_expr(k.expect(Rule::type_expr)?)?;
            let default = match k.opt(Rule::expr) {
                Some(e) => Some(self.expr(e)?),
                None => None,
            };
            out.push(Param {
                name,
                ty,
                default,
                doc,
                span,
            });
        }
        Ok(out)
    }

    fn type_expr(&self, p: Pair<'_, Rule>) -> R<TypeExpr> {
        let span = self.span(&p);
        let mut k = Kids::of(&p);
        let base = k.next()?;
        let inner = match base.as_rule() {
            Rule::any_ident => TypeExpr::Named(self.ident(base)?),
            Rule::list_type => {
                let s = self.span(&base);
                let elem = self.type_expr(Kids::of(&base).expect(Rule::type_expr)?)?;
                TypeExpr::List(Box::new(elem), s)
            }
            _ => return Err(Internal(span.start as usize)),
        };
        Ok(if k.opt(Rule::optional_mark).is_some() {
            TypeExpr::Optional(Box::new(inner), span)
        } else {
            inner
        })
    }

    // ------------------------------------------------------------ methods

    fn method_item(&self, p: Pair<'_, Rule>) -> R<MethodItem> {
        let span = self.span(&p);
        let mut k = Kids::of(&p);
        Ok(match p.as_rule() {
            Rule::request => {
                let verb = k.expect(Rule::verb)?;
                let verb_span = self.span(&verb);
                let verb = Verb::parse(verb.as_str()).ok_or(Internal(span.start as usize))?;
                MethodItem::Request(Request {
                    verb,
                    verb_span,
                    path: self.string(k.expect(Rule::string)?)?,
                    span,
                })
            }
            Rule::body_decl => {
                let b = k.next()?;
                let mut bk = Kids::of(&b);
                let kind = match b.as_rule() {
                    Rule::body_json => BodyKind::Json(self.expr(bk.expect(Rule::expr)?)?),
                    Rule::body_form => BodyKind::Form(self.block(bk.expect(Rule::block)?)?),
                    Rule::body_multipart => {
                        BodyKind::Multipart(self.block(bk.expect(Rule::block)?)?)
                    }
                    Rule::body_text | Rule::body_xml | Rule::body_bytes => {
                        let value = self.expr(bk.expect(Rule::expr)?)?;
                        let content_type = match bk.opt(Rule::content_type) {
                            Some(ct) => Some(self.content_type(ct)?),
                            None => None,
                        };
                        match b.as_rule() {
                            Rule::body_text => BodyKind::Text {
                                value,
                                content_type,
                            },
                            Rule::body_xml => BodyKind::Xml {
                                value,
                                content_type,
                            },
                            _ => BodyKind::Bytes {
                                path: value,
                                content_type,
                            },
                        }
                    }
                    _ => return Err(Internal(span.start as usize)),
                };
                MethodItem::Body(Body { kind, span })
            }
            Rule::expect_decl => MethodItem::Expect(self.expr(k.expect(Rule::expr)?)?),
            Rule::output_decl => {
                let mut fields = Vec::new();
                for f in k.rest() {
                    let fspan = self.span(&f);
                    let doc = self.doc_before(fspan.start as usize);
                    let mut fk = Kids::of(&f);
                    let name = self.ident(fk.expect(Rule::any_ident)?)?;
                    let ty = match fk.opt(Rule::type_expr) {
                        Some(t) => Some(self.type_expr(t)?),
                        None => None,
                    };
                    let value = self.expr(fk.expect(Rule::expr)?)?;
                    fields.push(OutputField {
                        name,
                        ty,
                        value,
                        doc,
                        span: fspan,
                    });
                }
                MethodItem::Output(OutputBlock { fields, span })
            }
            Rule::paginate_decl => {
                let kind = self.ident(k.expect(Rule::any_ident)?)?;
                let value = match k.opt(Rule::expr) {
                    Some(e) => Some(self.expr(e)?),
                    None => None,
                };
                let mut options = match k.opt(Rule::block) {
                    Some(b) => Some(self.block(b)?),
                    None => None,
                };
                if let Some(mp) = k.opt(Rule::max_pages) {
                    // Folded into the options block, where the checker and
                    // the formatter look for it.
                    let mspan = self.span(&mp);
                    let value = self.expr(Kids::of(&mp).expect(Rule::expr)?)?;
                    let key_span = Span::new(
                        self.file,
                        mspan.start as usize,
                        mspan.start as usize + "max_pages".len(),
                    );
                    let entry = Entry {
                        key: Key {
                            name: "max_pages".into(),
                            quoted: false,
                            span: key_span,
                        },
                        value: EntryValue::Expr {
                            value,
                            content_type: None,
                        },
                        doc: None,
                        span: mspan,
                    };
                    match &mut options {
                        Some(b) => b.entries.push(entry),
                        None => {
                            options = Some(Block {
                                entries: vec![entry],
                                span: mspan,
                            })
                        }
                    }
                }
                MethodItem::Paginate(Paginate {
                    kind,
                    value,
                    options,
                    span,
                })
            }
            Rule::entry => MethodItem::Entry(self.entry(p)?),
            _ => return Err(Internal(span.start as usize)),
        })
    }

    // ------------------------------------------------------------ statements

    fn stmt_block(&self, p: Pair<'_, Rule>) -> R<StmtBlock> {
        let span = self.span(&p);
        let mut stmts = Vec::new();
        for s in Kids::of(&p).rest() {
            stmts.push(self.stmt(s)?);
        }
        Ok(StmtBlock { stmts, span })
    }

    fn stmt(&self, p: Pair<'_, Rule>) -> R<Stmt> {
        let span = self.span(&p);
        if self.depth.get() >= MAX_STMT_DEPTH {
            self.too_complex(span, "statements are nested");
            return Ok(Stmt {
                kind: StmtKind::Block(StmtBlock {
                    stmts: Vec::new(),
                    span,
                }),
                span,
            });
        }
        self.depth.set(self.depth.get() + 1);
        let r = self.stmt_inner(p, span);
        self.depth.set(self.depth.get() - 1);
        r
    }

    fn stmt_inner(&self, p: Pair<'_, Rule>, span: Span) -> R<Stmt> {
        let rule = p.as_rule();
        let kind = match rule {
            Rule::stmt_block => StmtKind::Block(self.stmt_block(p)?),
            Rule::trigger_stmt => {
                let mut k = Kids::of(&p);
                let kind = self.ident(k.expect(Rule::any_ident)?)?;
                let value = match k.opt(Rule::expr) {
                    Some(e) => Some(self.expr(e)?),
                    None => None,
                };
                let options = match k.opt(Rule::block) {
                    Some(b) => Some(self.block(b)?),
                    None => None,
                };
                StmtKind::Trigger(Trigger {
                    kind,
                    value,
                    options,
                })
            }
            Rule::let_stmt | Rule::var_stmt => {
                let mut k = Kids::of(&p);
                let name = self.ident(k.expect(Rule::ident)?)?;
                let ty = match k.opt(Rule::type_expr) {
                    Some(t) => Some(self.type_expr(t)?),
                    None => None,
                };
                let value = self.expr(k.expect(Rule::expr)?)?;
                let l = Let { name, ty, value };
                if rule == Rule::var_stmt {
                    StmtKind::Var(l)
                } else {
                    StmtKind::Let(l)
                }
            }
            Rule::assign_stmt => {
                let mut k = Kids::of(&p);
                let name = self.ident(k.expect(Rule::ident)?)?;
                let op_pair = k.expect(Rule::assign_op)?;
                let op_span = self.span(&op_pair);
                let op = if op_pair.as_str() == "+=" {
                    AssignOp::Add
                } else {
                    AssignOp::Set
                };
                let value = self.expr(k.expect(Rule::expr)?)?;
                StmtKind::Assign(Assign {
                    name,
                    op,
                    op_span,
                    value,
                })
            }
            Rule::step_stmt => StmtKind::Step(self.step(p)?),
            Rule::if_stmt => StmtKind::If(self.if_stmt(p)?),
            Rule::for_stmt => {
                let mut k = Kids::of(&p);
                let var = self.ident(k.expect(Rule::ident)?)?;
                let iter = self.expr(k.expect(Rule::expr)?)?;
                let parallel = match k.opt(Rule::expr) {
                    Some(e) => Some(self.expr(e)?),
                    None => None,
                };
                let body = self.stmt_block(k.expect(Rule::stmt_block)?)?;
                StmtKind::For(For {
                    var,
                    iter,
                    parallel,
                    body,
                })
            }
            Rule::parallel_stmt => {
                StmtKind::Parallel(self.stmt_block(Kids::of(&p).expect(Rule::stmt_block)?)?)
            }
            Rule::wait_stmt | Rule::log_stmt | Rule::fail_stmt => {
                let e = self.expr(Kids::of(&p).expect(Rule::expr)?)?;
                match rule {
                    Rule::wait_stmt => StmtKind::Wait(e),
                    Rule::log_stmt => StmtKind::Log(e),
                    _ => StmtKind::Fail(e),
                }
            }
            Rule::return_stmt => {
                let mut k = Kids::of(&p);
                StmtKind::Return(match k.opt(Rule::expr) {
                    Some(e) => Some(self.expr(e)?),
                    None => None,
                })
            }
            _ => return Err(Internal(span.start as usize)),
        };
        Ok(Stmt { kind, span })
    }

    fn step(&self, p: Pair<'_, Rule>) -> R<Step> {
        let mut k = Kids::of(&p);
        let name = self.ident(k.expect(Rule::ident)?)?;
        let call = self.call(k.expect(Rule::call)?)?;
        let until = match k.opt(Rule::until_clause) {
            Some(u) => {
                let uspan = self.span(&u);
                let mut uk = Kids::of(&u);
                let cond = self.expr(uk.expect(Rule::expr)?)?;
                let every = self.expr(uk.expect(Rule::expr)?)?;
                let max = match uk.opt(Rule::expr) {
                    Some(e) => Some(self.expr(e)?),
                    None => None,
                };
                Some(Until {
                    cond,
                    every,
                    max,
                    span: uspan,
                })
            }
            None => None,
        };
        let (arms, else_span) = match k.opt(Rule::else_clause) {
            Some(e) => {
                let mut arms = Vec::new();
                let mut else_span = None;
                for a in e.clone().into_inner() {
                    if is_else(&a) {
                        else_span = Some(self.span(&a));
                    } else if a.as_rule() == Rule::arm {
                        arms.push(self.arm(a)?);
                    }
                }
                (Some(arms), else_span.or(Some(self.span(&e))))
            }
            None => (None, None),
        };
        Ok(Step {
            name,
            call,
            until,
            arms,
            else_span,
        })
    }

    fn arm(&self, p: Pair<'_, Rule>) -> R<Arm> {
        let span = self.span(&p);
        let mut patterns = Vec::new();
        let mut body = None;
        for c in Kids::of(&p).rest() {
            if c.as_rule() == Rule::pattern {
                patterns.push(self.pattern(c)?);
            } else {
                body = Some(self.stmt(c)?);
            }
        }
        Ok(Arm {
            patterns,
            body: Box::new(body.ok_or(Internal(span.end as usize))?),
            span,
        })
    }

    fn pattern(&self, p: Pair<'_, Rule>) -> R<Pattern> {
        let span = self.span(&p);
        let inner = Kids::of(&p).next()?;
        let kind = match inner.as_rule() {
            Rule::pat_status => {
                PatternKind::Status(self.int_value(Kids::of(&inner).expect(Rule::int)?))
            }
            Rule::pat_range => {
                let mut k = Kids::of(&inner);
                let a = self.int_value(k.expect(Rule::int)?);
                let b = self.int_value(k.expect(Rule::int)?);
                PatternKind::Range(a, b)
            }
            Rule::pat_timeout => PatternKind::Timeout,
            Rule::pat_error => PatternKind::Error,
            Rule::pat_any => PatternKind::Any,
            _ => return Err(Internal(span.start as usize)),
        };
        Ok(Pattern { kind, span })
    }

    fn if_stmt(&self, p: Pair<'_, Rule>) -> R<If> {
        let mut cond = None;
        let mut then = None;
        let mut otherwise = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::expr => cond = Some(self.expr(c)?),
                Rule::stmt_block if then.is_none() => then = Some(self.stmt_block(c)?),
                Rule::stmt_block => otherwise = Some(Else::Block(self.stmt_block(c)?)),
                Rule::if_stmt => otherwise = Some(Else::If(Box::new(self.stmt(c)?))),
                _ => {}
            }
        }
        let cond = cond.ok_or(Internal(0))?;
        let then = then.ok_or(Internal(cond.span.end as usize))?;
        Ok(If {
            cond,
            then,
            otherwise,
        })
    }

    fn call(&self, p: Pair<'_, Rule>) -> R<Call> {
        let span = self.span(&p);
        let inner = Kids::of(&p).next()?;
        let mut k = Kids::of(&inner);
        let target = match inner.as_rule() {
            Rule::run_call => CallTarget::Runbook(self.ident(k.expect(Rule::ident)?)?),
            Rule::method_call => CallTarget::Method {
                integration: self.ident(k.expect(Rule::ident)?)?,
                method: self.ident(k.expect(Rule::any_ident)?)?,
            },
            _ => return Err(Internal(span.start as usize)),
        };
        let args = self.args(k.expect(Rule::args)?)?;
        Ok(Call { target, args, span })
    }

    fn args(&self, p: Pair<'_, Rule>) -> R<Vec<Arg>> {
        let mut out = Vec::new();
        for a in Kids::of(&p).rest() {
            let span = self.span(&a);
            let mut k = Kids::of(&a);
            let name = match k.opt(Rule::arg_name) {
                Some(n) => Some(self.ident(Kids::of(&n).expect(Rule::any_ident)?)?),
                None => None,
            };
            let value = self.expr(k.expect(Rule::expr)?)?;
            out.push(Arg { name, value, span });
        }
        Ok(out)
    }

    // ------------------------------------------------------------ expressions

    fn expr(&self, p: Pair<'_, Rule>) -> R<Expr> {
        if p.as_rule() != Rule::expr {
            return Err(Internal(p.as_span().start()));
        }
        let span = self.span(&p);
        if (p.clone().into_inner().len() > MAX_OPERATORS * 2 && parts(&p) > MAX_OPERATORS * 2)
            || self.depth.get() >= MAX_STMT_DEPTH
        {
            self.too_complex(span, "an expression is chained or nested");
            return Ok(Expr {
                kind: ExprKind::Null,
                span,
            });
        }
        self.depth.set(self.depth.get() + 1);
        let r = self.expr_inner(p);
        self.depth.set(self.depth.get() - 1);
        r
    }

    fn expr_inner(&self, p: Pair<'_, Rule>) -> R<Expr> {
        // Most expressions are a single operand: build it without the
        // Pratt parser (which would return the same).
        let mut kids = p.clone().into_inner().filter(not_trivia);
        match (kids.next(), kids.next(), kids.next()) {
            (Some(only), None, _) if !matches!(only.as_rule(), Rule::op_not | Rule::op_neg) => {
                return self.primary(only);
            }
            // `name(args)` or `name.method(args)` alone.
            (Some(name), Some(tail), None)
                if name.as_rule() == Rule::ident && tail.as_rule() == Rule::call_tail =>
            {
                let func = self.ident(name)?;
                return self.call_expr(func, tail);
            }
            _ => {}
        }
        PRATT
            .map_primary(|prim| self.primary(prim))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = self.span(&op).to(rhs.span);
                let op = match op.as_rule() {
                    Rule::op_not => UnaryOp::Not,
                    _ => UnaryOp::Neg,
                };
                Ok(Expr {
                    kind: ExprKind::Unary(op, Box::new(rhs)),
                    span,
                })
            })
            .map_postfix(|lhs, op| {
                let lhs = lhs?;
                if op.as_rule() == Rule::call_tail {
                    // The grammar puts a `call_tail` only right after a name.
                    return match lhs.kind {
                        ExprKind::Name(func) => self.call_expr(func, op),
                        _ => Err(Internal(op.as_span().start())),
                    };
                }
                let span = lhs.span.to(self.span(&op));
                let kind = match op.as_rule() {
                    Rule::field => {
                        let name = self.ident(Kids::of(&op).expect(Rule::any_ident)?)?;
                        ExprKind::Field(Box::new(lhs), name)
                    }
                    _ => {
                        let idx = self.expr(Kids::of(&op).expect(Rule::expr)?)?;
                        ExprKind::Index(Box::new(lhs), Box::new(idx))
                    }
                };
                Ok(Expr { kind, span })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let span = lhs.span.to(rhs.span);
                let op = match op.as_rule() {
                    Rule::op_or => BinaryOp::Or,
                    Rule::op_and => BinaryOp::And,
                    Rule::op_eq => BinaryOp::Eq,
                    Rule::op_ne => BinaryOp::Ne,
                    Rule::op_lt => BinaryOp::Lt,
                    Rule::op_le => BinaryOp::Le,
                    Rule::op_gt => BinaryOp::Gt,
                    Rule::op_ge => BinaryOp::Ge,
                    Rule::op_in => BinaryOp::In,
                    Rule::op_contains => BinaryOp::Contains,
                    Rule::op_coalesce => BinaryOp::Coalesce,
                    Rule::op_range => BinaryOp::Range,
                    Rule::op_add => BinaryOp::Add,
                    Rule::op_sub => BinaryOp::Sub,
                    Rule::op_mul => BinaryOp::Mul,
                    Rule::op_div => BinaryOp::Div,
                    Rule::op_rem => BinaryOp::Rem,
                    _ => return Err(Internal(op.as_span().start())),
                };
                Ok(Expr {
                    kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                    span,
                })
            })
            .parse(p.into_inner().filter(|p| !is_trivia(p.as_rule())))
    }

    fn primary(&self, p: Pair<'_, Rule>) -> R<Expr> {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::paren => ExprKind::Paren(Box::new(self.expr(Kids::of(&p).expect(Rule::expr)?)?)),
            Rule::jsonpath => ExprKind::JsonPath(p.as_str().to_string()),
            Rule::duration => ExprKind::Duration {
                millis: self.duration_value(&p),
                raw: p.as_str().to_string(),
            },
            Rule::float => {
                let raw = p.as_str();
                let value = match raw.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    _ => {
                        self.error(
                            Diagnostic::error(codes::INVALID_LITERAL, "this number is too large")
                                .at(span, "not a finite 64-bit float")
                                .help("floats go up to about 1.8e308"),
                        );
                        0.0
                    }
                };
                ExprKind::Float {
                    value,
                    raw: raw.to_string(),
                }
            }
            Rule::int => ExprKind::Int {
                value: self.int_value(p.clone()),
                raw: p.as_str().to_string(),
            },
            // `64MiB`: an int, in bytes, that keeps its written form.
            Rule::size => ExprKind::Int {
                value: match crate::units::parse_size(p.as_str()) {
                    Ok(n) if n <= i64::MAX as u64 => n as i64,
                    _ => {
                        self.error(
                            Diagnostic::error(codes::INVALID_LITERAL, "this size is too large")
                                .at(span, "does not fit in a 64-bit integer")
                                .help("write a smaller size, e.g. `1GiB`"),
                        );
                        0
                    }
                },
                raw: p.as_str().to_string(),
            },
            Rule::string | Rule::tstring => ExprKind::Str(self.string(p)?),
            Rule::bool_lit => ExprKind::Bool(p.as_str() == "true"),
            Rule::null_lit => ExprKind::Null,
            Rule::list => {
                let mut items = Vec::new();
                for e in Kids::of(&p).rest() {
                    items.push(self.expr(e)?);
                }
                ExprKind::List(items)
            }
            Rule::object => {
                let mut entries = Vec::new();
                for e in Kids::of(&p).rest() {
                    let mut k = Kids::of(&e);
                    let kp = k.next()?;
                    let kspan = self.span(&kp);
                    let key = match kp.as_rule() {
                        Rule::any_ident => Key {
                            name: kp.as_str().to_string(),
                            quoted: false,
                            span: kspan,
                        },
                        Rule::string => {
                            let s = self.string(kp)?;
                            Key {
                                name: s.as_plain().unwrap_or_else(|| {
                                    self.error(
                                        Diagnostic::error(
                                            codes::INVALID_LITERAL,
                                            "an object key cannot interpolate values",
                                        )
                                        .at(kspan, "this key has `{...}` in it")
                                        .help("write the key as plain text"),
                                    );
                                    s.raw.clone()
                                }),
                                quoted: true,
                                span: kspan,
                            }
                        }
                        _ => return Err(Internal(kspan.start as usize)),
                    };
                    let value = self.expr(k.expect(Rule::expr)?)?;
                    entries.push(ObjectEntry { key, value });
                }
                ExprKind::Object(entries)
            }
            Rule::ident => ExprKind::Name(self.ident(p)?),
            _ => return Err(Internal(span.start as usize)),
        };
        Ok(Expr { kind, span })
    }

    /// `func(args)` or `func.method(args)`: the name, then its
    /// `call_tail` (`.method` and the arguments).
    fn call_expr(&self, func: Ident, tail: Pair<'_, Rule>) -> R<Expr> {
        let span = func.span.to(self.span(&tail));
        let mut k = Kids::of(&tail);
        let method = match k.opt(Rule::any_ident) {
            Some(m) => Some(self.ident(m)?),
            None => None,
        };
        let args = self.args(k.expect(Rule::args)?)?;
        Ok(Expr {
            kind: ExprKind::Call(CallExpr { func, method, args }),
            span,
        })
    }

    fn int_value(&self, p: Pair<'_, Rule>) -> i64 {
        match p.as_str().parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                self.error(
                    Diagnostic::error(codes::INVALID_LITERAL, "this integer is too large")
                        .at(self.span(&p), "does not fit in a 64-bit integer")
                        .help("integers range from -9223372036854775808 to 9223372036854775807"),
                );
                0
            }
        }
    }

    fn duration_value(&self, p: &Pair<'_, Rule>) -> u64 {
        let raw = p.as_str();
        let split = raw
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(raw.len());
        let (num, unit) = raw.split_at(split);
        let factor: f64 = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => 86_400_000.0,
        };
        let millis = num.parse::<f64>().unwrap_or(f64::INFINITY) * factor;
        if !millis.is_finite() || millis > 1e15 {
            self.error(
                Diagnostic::error(codes::INVALID_LITERAL, "this duration is too long")
                    .at(self.span(p), "out of range")
                    .help("durations may be at most about 30,000 years"),
            );
            return 0;
        }
        millis.round() as u64
    }

    fn string(&self, p: Pair<'_, Rule>) -> R<StringLit> {
        let span = self.span(&p);
        let triple = p.as_rule() == Rule::tstring;
        let mut parts: Vec<StrPart> = Vec::new();
        let push_text = |parts: &mut Vec<StrPart>, t: &str| {
            if let Some(StrPart::Text(last)) = parts.last_mut() {
                last.push_str(t);
            } else {
                parts.push(StrPart::Text(t.to_string()));
            }
        };
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::str_text | Rule::tstr_text => push_text(&mut parts, c.as_str()),
                Rule::brace_escape => push_text(&mut parts, &c.as_str()[..1]),
                Rule::escape => {
                    let s = c.as_str();
                    let ch = match &s[1..] {
                        "n" => Some('\n'),
                        "t" => Some('\t'),
                        "r" => Some('\r'),
                        "0" => Some('\0'),
                        "\"" => Some('"'),
                        "\\" => Some('\\'),
                        "{" => Some('{'),
                        "}" => Some('}'),
                        u => u
                            .strip_prefix("u{")
                            .and_then(|h| h.strip_suffix('}'))
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .and_then(char::from_u32),
                    };
                    match ch {
                        Some(ch) => push_text(&mut parts, ch.encode_utf8(&mut [0; 4])),
                        None => self.error(
                            Diagnostic::error(codes::INVALID_LITERAL, "invalid escape")
                                .at(self.span(&c), "not a Unicode scalar value")
                                .help("`\\u{...}` takes 1 to 6 hex digits naming a character, e.g. `\\u{1F600}`"),
                        ),
                    }
                }
                Rule::interp => {
                    let e = self.expr(Kids::of(&c).expect(Rule::expr)?)?;
                    parts.push(StrPart::Interp(e));
                }
                _ => {}
            }
        }
        if triple {
            dedent(&mut parts);
        }
        Ok(StringLit {
            parts,
            raw: p.as_str().to_string(),
            span,
        })
    }
}

/// Triple-quoted strings: drop the newline right after the opening quotes,
/// and the indentation of the closing quotes' line from every line.
fn dedent(parts: &mut Vec<StrPart>) {
    if let Some(StrPart::Text(first)) = parts.first_mut()
        && let Some(rest) = first
            .strip_prefix("\r\n")
            .or_else(|| first.strip_prefix('\n'))
    {
        *first = rest.to_string();
    }
    let mut indent = String::new();
    if let Some(StrPart::Text(last)) = parts.last_mut()
        && let Some(nl) = last.rfind('\n')
    {
        let tail = &last[nl + 1..];
        if tail.chars().all(|c| c == ' ' || c == '\t') {
            indent = tail.to_string();
            let cut = if last[..nl].ends_with('\r') {
                nl - 1
            } else {
                nl
            };
            last.truncate(cut);
        }
    }
    if indent.is_empty() {
        return;
    }
    let n = parts.len();
    for (i, part) in parts.iter_mut().enumerate() {
        if let StrPart::Text(t) = part {
            let mut out = String::with_capacity(t.len());
            for (j, line) in t.split('\n').enumerate() {
                if j > 0 {
                    out.push('\n');
                }
                // The first line of a part follows an interpolation, except
                // in the very first part.
                if j > 0 || i == 0 {
                    out.push_str(line.strip_prefix(indent.as_str()).unwrap_or(line));
                } else {
                    out.push_str(line);
                }
            }
            *t = out;
        }
        let _ = n;
    }
    parts.retain(|p| !matches!(p, StrPart::Text(t) if t.is_empty()));
}

#[cfg(test)]
mod equivalence;
