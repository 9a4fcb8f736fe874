//! The canonical formatter: AST (plus the source text, for comments and
//! blank lines) back to text.
//!
//! Style: two-space indentation, one statement or entry per line, one blank
//! line between top-level items (consecutive imports may stay together), at
//! most one blank line kept where the source had some, none at the start or
//! end of a block. Literals are printed from their source text so nothing
//! changes meaning. Small lists, objects, argument lists and simple config
//! blocks stay on one line when they were on one line and fit in 80 columns.
//!
//! Comments: every comment of the module is printed exactly once. A comment
//! that starts a line is printed on its own line above the next node (or
//! before the closing brace of its block); a comment that follows code on
//! its line is printed after that code on the same line. Comments written
//! inside an expression that is printed on one line move to the end of the
//! line that holds it.
//!
//! Whitespace is insignificant in the grammar, so the printer only has to
//! keep the token sequence (commas and explicit parentheses aside) and the
//! adjacency of `##` doc comments to their declarations.

use super::ast::*;
use super::parser::parse;

const WIDTH: usize = 80;
const INDENT: &str = "  ";

/// Formats a parsed module canonically, keeping every comment.
pub fn format_module(module: &Module, src: &str) -> String {
    let mut p = Printer::new(src, &module.comments, false);
    p.module(module);
    p.finish()
}

/// Parses and formats; None when the text has syntax errors.
pub fn format_source(text: &str) -> Option<String> {
    let (module, diags) = parse(FileId(0), text);
    if diags.iter().any(|d| d.is_error()) {
        return None;
    }
    Some(format_module(&module, text))
}

// ---------------------------------------------------------------- precedence

/// Binding power of `not` (between `and` and the comparisons).
const NOT_PREC: u8 = 3;
/// Binding power of postfix `.field` and `[index]`.
const POSTFIX_PREC: u8 = 11;

/// How a sequence of children is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One line when the source had it on one line, it has no comments and
    /// it fits; otherwise one child per line.
    Auto,
    /// One line when there are no comments and it fits (with `reserve`
    /// more columns after it), whatever the source layout.
    Fits { reserve: usize },
    /// Always one child per line (unless empty).
    Multi,
}

/// The punctuation of a sequence.
#[derive(Clone, Copy)]
struct Delims {
    open: &'static str,
    close: &'static str,
    /// `{ a }` rather than `{a}` on one line.
    pad: bool,
    /// Commas after each child when one per line.
    comma: bool,
}

const LIST: Delims = Delims {
    open: "[",
    close: "]",
    pad: false,
    comma: true,
};
const PARENS: Delims = Delims {
    open: "(",
    close: ")",
    pad: false,
    comma: true,
};
const OBJECT: Delims = Delims {
    open: "{",
    close: "}",
    pad: true,
    comma: true,
};
const BRACES: Delims = Delims {
    open: "{",
    close: "}",
    pad: true,
    comma: false,
};

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    /// Which comments have been printed (or are inside printed literals).
    used: Vec<bool>,
    /// Every comment before this index is used.
    next: usize,
    out: String,
    indent: usize,
    /// The output ends with a newline and the indentation is still due.
    at_line_start: bool,
    /// The current line ends with a comment: nothing more may follow on it.
    line_closed: bool,
    /// The source end of the `##` comment that closed the current line.
    closed_by_doc: Option<u32>,
    /// Nothing printed yet in the current block: no blank line due.
    fresh: bool,
    /// The next line must be preceded by a blank line.
    force_blank: bool,
    /// Measuring mode: everything on one line, no comment bookkeeping.
    flat: bool,
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, comments: &'a [Comment], flat: bool) -> Printer<'a> {
        Printer {
            src,
            comments,
            used: if flat {
                Vec::new()
            } else {
                vec![false; comments.len()]
            },
            next: 0,
            out: String::new(),
            indent: 0,
            at_line_start: !flat,
            line_closed: false,
            closed_by_doc: None,
            fresh: true,
            force_blank: false,
            flat,
        }
    }

    fn finish(mut self) -> String {
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    // ------------------------------------------------------------ output

    fn write(&mut self, s: &str) {
        if self.line_closed {
            self.newline();
        }
        if self.at_line_start {
            for _ in 0..self.indent {
                self.out.push_str(INDENT);
            }
            self.at_line_start = false;
        }
        self.out.push_str(s);
    }

    fn newline(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        self.out.push('\n');
        self.at_line_start = true;
        self.line_closed = false;
        self.closed_by_doc = None;
    }

    /// Starts a new line (after a blank one when asked and allowed) for
    /// what starts at `next` in the source.
    fn begin_line(&mut self, blank: bool, next: Option<u32>) {
        // A `##` comment directly above a declaration documents it: when
        // the comment was not directly above this in the source, a blank
        // line keeps it from becoming a doc comment here.
        let doc_break = match (self.closed_by_doc, next) {
            (Some(end), Some(next)) => self.line_closed && !self.adjacent(end, next),
            _ => false,
        };
        if !self.at_line_start || self.line_closed {
            self.newline();
        }
        if (doc_break || ((blank || self.force_blank) && !self.fresh))
            && !self.out.is_empty()
            && !self.out.ends_with("\n\n")
        {
            self.out.push('\n');
        }
        self.force_blank = false;
        self.fresh = false;
    }

    /// Only spaces and at most one newline lie between `end` and `next` in
    /// the source (the parser's rule for a doc comment's attachment).
    fn adjacent(&self, end: u32, next: u32) -> bool {
        self.src
            .get(end as usize..next as usize)
            .is_some_and(|g| g.chars().all(char::is_whitespace) && g.matches('\n').count() <= 1)
    }

    fn line_open(&self) -> bool {
        !self.at_line_start && !self.line_closed
    }

    /// The column the next character would be written at.
    fn column(&self) -> usize {
        if self.at_line_start || self.line_closed {
            return self.indent * INDENT.len();
        }
        let line = match self.out.rfind('\n') {
            Some(i) => &self.out[i + 1..],
            None => &self.out[..],
        };
        line.chars().count()
    }

    fn fits(&self, text: &str) -> bool {
        !text.contains('\n') && self.column() + text.chars().count() <= WIDTH
    }

    /// Renders something on one line, without touching this printer.
    fn measure(&self, f: impl FnOnce(&mut Printer<'a>)) -> String {
        let mut p = Printer::new(self.src, self.comments, true);
        f(&mut p);
        p.out
    }

    // ------------------------------------------------------------ source facts

    fn text(&self, span: Span) -> Option<&'a str> {
        self.src.get(span.range())
    }

    /// The source had this span on one line (true when it is unknown).
    fn one_line(&self, start: u32, end: u32) -> bool {
        self.src
            .get(start as usize..end as usize)
            .is_none_or(|s| !s.contains('\n'))
    }

    /// The source has a blank line right before `pos` (skipping spaces and
    /// commas).
    fn blank_before(&self, pos: u32) -> bool {
        let Some(before) = self.src.get(..pos as usize) else {
            return false;
        };
        let mut newlines = 0;
        for c in before.chars().rev() {
            match c {
                '\n' => newlines += 1,
                ' ' | '\t' | '\r' | ',' | '\u{FEFF}' => {}
                _ => break,
            }
        }
        newlines >= 2
    }

    /// Code precedes this comment on its source line.
    fn is_trailing(&self, c: &Comment) -> bool {
        let start = c.span.start as usize;
        let Some(before) = self.src.get(..start) else {
            return false;
        };
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        before[line_start..]
            .chars()
            .any(|ch| !ch.is_whitespace() && ch != '\u{FEFF}')
    }

    fn has_comments(&self, start: u32, end: u32) -> bool {
        if self.flat {
            return false;
        }
        self.comments[self.next..]
            .iter()
            .zip(&self.used[self.next..])
            .take_while(|(c, _)| c.span.start < end)
            .any(|(c, used)| !used && c.span.start >= start)
    }

    /// Marks the comments inside a literal printed verbatim as printed.
    fn mark_used(&mut self, span: Span) {
        if self.flat {
            return;
        }
        for i in self.next..self.comments.len() {
            let c = &self.comments[i];
            if c.span.start >= span.end {
                break;
            }
            if c.span.start >= span.start {
                self.used[i] = true;
            }
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self.next < self.used.len() && self.used[self.next] {
            self.next += 1;
        }
    }

    // ------------------------------------------------------------ comments

    fn emit_comment(&mut self, i: usize, allow_trailing: bool) {
        let c = &self.comments[i];
        self.used[i] = true;
        if allow_trailing && self.line_open() {
            self.out.push_str("  ");
            self.out.push_str(&c.text);
        } else {
            let blank = self.blank_before(c.span.start);
            self.begin_line(blank, Some(c.span.start));
            self.write(&c.text);
        }
        self.closed_by_doc = c.is_doc().then_some(c.span.end);
        self.line_closed = true;
        self.advance();
    }

    /// Prints the comments that start before `pos`, as leading comments.
    fn flush_before(&mut self, pos: u32) {
        let mut i = self.next;
        while i < self.comments.len() && self.comments[i].span.start < pos {
            if !self.used[i] {
                let trailing = self.is_trailing(&self.comments[i]);
                self.emit_comment(i, trailing);
            }
            i += 1;
        }
    }

    /// Starts a line-level node that begins at `start`.
    fn unit(&mut self, start: u32) {
        self.flush_before(start);
        let blank = self.blank_before(start);
        self.begin_line(blank, Some(start));
    }

    /// The end of a node's code: the parser's spans may run on over
    /// whitespace and comments after it.
    fn real_end(&self, start: u32, end: u32) -> u32 {
        let mut end = end;
        loop {
            let Some(text) = self.src.get(start as usize..end as usize) else {
                return end;
            };
            end = start + text.trim_end().len() as u32;
            let i = self.comments.partition_point(|c| c.span.end < end);
            match self.comments.get(i) {
                Some(c) if c.span.end == end && c.span.start >= start && c.span.start < end => {
                    end = c.span.start;
                }
                _ => return end,
            }
        }
    }

    /// Ends a line-level node that spans `start..end`: comments left inside
    /// it and a comment after it on the same source line go at the line's
    /// end.
    fn trailing(&mut self, start: u32, end: u32) {
        self.trailing_apart(start, end, false);
    }

    /// [`Printer::trailing`]; with `apart`, a comment left inside the node
    /// that goes on its own line is set off by a blank line.
    fn trailing_apart(&mut self, start: u32, end: u32, apart: bool) {
        let end = self.real_end(start, end);
        let mut i = self.next;
        while i < self.comments.len() && self.comments[i].span.start < end {
            if !self.used[i] {
                if apart && !self.line_open() {
                    self.force_blank = true;
                }
                self.emit_comment(i, true);
            }
            i += 1;
        }
        let i = self.next;
        if let Some(c) = self.comments.get(i) {
            let gap = self.src.get(end as usize..c.span.start as usize);
            if !self.used[i] && gap.is_some_and(|g| g.chars().all(|ch| " \t\r,".contains(ch))) {
                self.emit_comment(i, true);
            }
        }
    }

    /// Closes a one-per-line sequence whose source ends at `end`.
    fn close(&mut self, end: u32, closer: &str) {
        self.flush_before(end);
        self.indent = self.indent.saturating_sub(1);
        self.force_blank = false;
        self.begin_line(false, None);
        self.write(closer);
    }

    // ------------------------------------------------------------ sequences

    /// Prints children between delimiters, on one line or one per line.
    /// `region` is the source extent used for the one-line and comment
    /// checks; `end` is where comments stop belonging inside.
    #[allow(clippy::too_many_arguments)]
    fn seq<T>(
        &mut self,
        region: (u32, u32),
        end: u32,
        d: Delims,
        layout: Layout,
        items: &[T],
        range: impl Fn(&T) -> (u32, u32),
        print: impl Fn(&mut Printer<'a>, &T),
    ) {
        let comments = self.has_comments(region.0, region.1.max(end));
        let inline = self.flat
            || (items.is_empty() && !comments)
            || match layout {
                Layout::Multi => false,
                Layout::Fits { reserve } => {
                    !comments && {
                        let text = self.measure(|p| p.seq_inline(d, items, &print));
                        self.fits(&text) && self.column() + text.chars().count() + reserve <= WIDTH
                    }
                }
                Layout::Auto => {
                    !comments && self.one_line(region.0, region.1) && {
                        let text = self.measure(|p| p.seq_inline(d, items, &print));
                        self.fits(&text)
                    }
                }
            };
        if inline {
            self.seq_inline(d, items, &print);
            return;
        }
        self.write(d.open);
        self.indent += 1;
        self.fresh = true;
        for item in items {
            let (start, item_end) = range(item);
            self.unit(start);
            print(self, item);
            if d.comma {
                self.write(",");
            }
            self.trailing(start, item_end);
        }
        self.close(end, d.close);
    }

    fn seq_inline<T>(&mut self, d: Delims, items: &[T], print: &impl Fn(&mut Printer<'a>, &T)) {
        self.write(d.open);
        if items.is_empty() {
            self.write(d.close);
            return;
        }
        if d.pad {
            self.write(" ");
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write(", ");
            }
            print(self, item);
        }
        if d.pad {
            self.write(" ");
        }
        self.write(d.close);
    }

    // ------------------------------------------------------------ items

    fn module(&mut self, m: &Module) {
        self.fresh = true;
        let mut prev: Option<&Item> = None;
        for (n, item) in m.items.iter().enumerate() {
            let span = item.span();
            let imports = matches!(prev, Some(Item::Import(_))) && matches!(item, Item::Import(_));
            // Keep a `##` comment that ends the previous line next to what it
            // documents.
            let first = match self.comments.get(self.next) {
                Some(c) if c.span.start < span.start => c.span.start,
                _ => span.start,
            };
            let doc_above = self.line_closed
                && self
                    .closed_by_doc
                    .is_some_and(|end| self.adjacent(end, first));
            if prev.is_some() && !imports && !doc_above {
                self.force_blank = true;
            }
            self.unit(span.start);
            self.item(item);
            // A comment left inside the item that must go on a line of its
            // own is printed where the next pass will find it: before the
            // next item, and so after the blank line that separates them.
            let next = m.items.get(n + 1);
            let apart = next.is_some_and(|next| {
                !(matches!(item, Item::Import(_)) && matches!(next, Item::Import(_)))
            });
            self.trailing_apart(span.start, span.end, apart);
            prev = Some(item);
        }
        self.flush_before(u32::MAX);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(i) => {
                self.write("import ");
                self.string(&i.path);
            }
            Item::Instance(i) => {
                self.write("instance ");
                self.write(&i.name.name);
                self.write(" ");
                self.block(&i.body);
            }
            Item::Integration(i) => {
                self.write("integration ");
                self.write(&i.name.name);
                self.write(" ");
                self.block(&i.body);
            }
            Item::Method(m) => self.method(m),
            Item::Runbook(r) => {
                self.write("runbook ");
                self.write(&r.name.name);
                self.params(&r.params, r.name.span.end, r.body.span.start);
                self.write(" ");
                self.stmt_block(&r.body);
            }
        }
    }

    fn params(&mut self, params: &[Param], start: u32, end: u32) {
        self.seq(
            (start, end),
            end,
            PARENS,
            // Room for the ` {` that follows.
            Layout::Fits { reserve: 2 },
            params,
            |p| (p.span.start, p.span.end),
            |p, param| {
                p.write(&param.name.name);
                p.write(": ");
                p.type_expr(&param.ty);
                if let Some(d) = &param.default {
                    p.write(" = ");
                    p.expr(d, 0);
                }
            },
        );
    }

    fn type_expr(&mut self, t: &TypeExpr) {
        match t {
            TypeExpr::Named(i) => self.write(&i.name),
            TypeExpr::List(inner, _) => {
                self.write("[");
                self.type_expr(inner);
                self.write("]");
            }
            TypeExpr::Optional(inner, _) => {
                self.type_expr(inner);
                self.write("?");
            }
        }
    }

    /// Where the `{` after `from` is, skipping comments.
    fn open_brace_after(&self, from: u32, fallback: u32) -> u32 {
        let Some(rest) = self.src.get(from as usize..) else {
            return fallback;
        };
        let mut in_comment = false;
        for (i, c) in rest.char_indices() {
            match c {
                '\n' => in_comment = false,
                _ if in_comment => {}
                '#' => in_comment = true,
                '{' => return from + i as u32,
                _ => {}
            }
        }
        fallback
    }

    fn method(&mut self, m: &Method) {
        self.write("method ");
        self.write(&m.integration.name);
        self.write(".");
        self.write(&m.name.name);
        let after = m.params.last().map_or(m.name.span.end, |p| p.span.end);
        let open = self.open_brace_after(after, m.span.end);
        self.params(&m.params, m.name.span.end, open);
        self.write(" ");
        let src = self.src;
        self.seq(
            (open, m.span.end),
            m.span.end,
            BRACES,
            Layout::Multi,
            &m.items,
            move |i| self_range(i, src),
            |p, i| p.method_item(i),
        );
    }

    fn method_item(&mut self, item: &MethodItem) {
        match item {
            MethodItem::Request(r) => {
                self.write(r.verb.as_str());
                self.write(" ");
                self.string(&r.path);
            }
            MethodItem::Body(b) => {
                self.write("body ");
                self.write(b.kind.name());
                match &b.kind {
                    BodyKind::Json(e) => {
                        self.write(" ");
                        self.expr(e, 0);
                    }
                    BodyKind::Form(block) | BodyKind::Multipart(block) => {
                        self.write(" ");
                        self.block(block);
                    }
                    BodyKind::Text {
                        value,
                        content_type,
                    }
                    | BodyKind::Xml {
                        value,
                        content_type,
                    } => {
                        self.write(" ");
                        self.expr(value, 0);
                        self.content_type(content_type.as_ref());
                    }
                    BodyKind::Bytes { path, content_type } => {
                        self.write("(");
                        self.expr(path, 0);
                        self.write(")");
                        self.content_type(content_type.as_ref());
                    }
                }
            }
            MethodItem::Expect(e) => {
                self.write("expect ");
                self.expr(e, 0);
            }
            MethodItem::Output(o) => {
                self.write("output ");
                let open = self.open_brace_after(o.span.start, o.span.end);
                self.seq(
                    (open, o.span.end),
                    o.span.end,
                    BRACES,
                    Layout::Auto,
                    &o.fields,
                    |f| (f.span.start, f.span.end),
                    |p, f| {
                        p.write(&f.name.name);
                        if let Some(t) = &f.ty {
                            p.write(": ");
                            p.type_expr(t);
                        }
                        p.write(" = ");
                        p.expr(&f.value, 0);
                    },
                );
            }
            MethodItem::Paginate(pg) => {
                self.write("paginate ");
                self.write(&pg.kind.name);
                if let Some(v) = &pg.value {
                    self.write(" = ");
                    self.expr(v, 0);
                }
                if let Some(b) = &pg.options {
                    self.write(" ");
                    self.block(b);
                }
            }
            MethodItem::Entry(e) => self.entry(e),
        }
    }

    fn content_type(&mut self, ct: Option<&Expr>) {
        if let Some(ct) = ct {
            self.write(" as ");
            self.expr(ct, 0);
        }
    }

    // ------------------------------------------------------------ blocks

    fn block(&mut self, b: &Block) {
        let simple = b
            .entries
            .iter()
            .all(|e| !matches!(e.value, EntryValue::Block { .. }));
        let layout = if simple { Layout::Auto } else { Layout::Multi };
        self.seq(
            (b.span.start, b.span.end),
            b.span.end,
            BRACES,
            layout,
            &b.entries,
            |e| (e.span.start, e.span.end),
            |p, e| p.entry(e),
        );
    }

    fn entry(&mut self, e: &Entry) {
        self.key(&e.key);
        match &e.value {
            EntryValue::Expr {
                value,
                content_type,
            } => {
                self.write(" = ");
                self.expr(value, 0);
                self.content_type(content_type.as_ref());
            }
            EntryValue::Block { label, block } => {
                if let Some(l) = label {
                    self.write(" ");
                    self.write(&l.name);
                }
                self.write(" ");
                self.block(block);
            }
            EntryValue::Label(l) => {
                self.write(" ");
                self.write(&l.name);
            }
        }
    }

    fn key(&mut self, k: &Key) {
        if !k.quoted {
            self.write(&k.name);
            return;
        }
        match self.text(k.span) {
            Some(raw) if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') => {
                self.verbatim(raw, k.span);
            }
            _ => {
                let quoted = quote(&k.name);
                self.write(&quoted);
            }
        }
    }

    // ------------------------------------------------------------ statements

    fn stmt_block(&mut self, b: &StmtBlock) {
        self.seq(
            (b.span.start, b.span.end),
            b.span.end,
            BRACES,
            Layout::Multi,
            &b.stmts,
            |s| (s.span.start, s.span.end),
            |p, s| p.stmt(s),
        );
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Trigger(t) => {
                self.write("trigger ");
                self.write(&t.kind.name);
                if let Some(v) = &t.value {
                    self.write(" ");
                    self.expr(v, 0);
                }
                if let Some(b) = &t.options {
                    self.write(" ");
                    self.block(b);
                }
            }
            StmtKind::Let(l) | StmtKind::Var(l) => {
                self.write(if matches!(s.kind, StmtKind::Var(_)) {
                    "var "
                } else {
                    "let "
                });
                self.write(&l.name.name);
                if let Some(t) = &l.ty {
                    self.write(": ");
                    self.type_expr(t);
                }
                self.write(" = ");
                self.expr(&l.value, 0);
            }
            StmtKind::Assign(a) => {
                self.write(&a.name.name);
                self.write(" ");
                self.write(a.op.as_str());
                self.write(" ");
                self.expr(&a.value, 0);
            }
            StmtKind::Step(st) => self.step(st, s.span),
            StmtKind::If(i) => self.if_stmt(i),
            StmtKind::For(f) => {
                self.write("for ");
                self.write(&f.var.name);
                self.write(" in ");
                self.expr(&f.iter, 0);
                if let Some(n) = &f.parallel {
                    self.write(" parallel ");
                    self.expr(n, 0);
                }
                self.write(" ");
                self.stmt_block(&f.body);
            }
            StmtKind::Parallel(b) => {
                self.write("parallel ");
                self.stmt_block(b);
            }
            StmtKind::Wait(e) => {
                self.write("wait ");
                self.expr(e, 0);
            }
            StmtKind::Log(e) => {
                self.write("log ");
                self.expr(e, 0);
            }
            StmtKind::Fail(e) => {
                self.write("fail ");
                self.expr(e, 0);
            }
            StmtKind::Return(e) => {
                self.write("return");
                if let Some(e) = e {
                    self.write(" ");
                    self.expr(e, 0);
                }
            }
            StmtKind::Block(b) => self.stmt_block(b),
        }
    }

    fn if_stmt(&mut self, i: &If) {
        self.write("if ");
        self.expr(&i.cond, 0);
        self.write(" ");
        self.stmt_block(&i.then);
        match &i.otherwise {
            None => {}
            Some(Else::If(s)) => {
                self.write(" else ");
                self.stmt(s);
            }
            Some(Else::Block(b)) => {
                self.write(" else ");
                self.stmt_block(b);
            }
        }
    }

    fn step(&mut self, st: &Step, span: Span) {
        self.write("step ");
        self.write(&st.name.name);
        self.write(" = ");
        match &st.call.target {
            CallTarget::Method {
                integration,
                method,
            } => {
                self.write(&integration.name);
                self.write(".");
                self.write(&method.name);
            }
            CallTarget::Runbook(r) => {
                self.write("run ");
                self.write(&r.name);
            }
        }
        self.args(&st.call.args, st.call.span);
        if let Some(u) = &st.until {
            self.write(" until ");
            self.expr(&u.cond, 0);
            self.write(" every ");
            self.expr(&u.every, 0);
            if let Some(m) = &u.max {
                self.write(" max ");
                self.expr(m, 0);
            }
        }
        if let Some(arms) = &st.arms {
            self.write(" else ");
            let from = st.else_span.map_or(span.start, |s| s.start);
            let open = self.open_brace_after(from, span.end);
            self.seq(
                (open, span.end),
                span.end,
                BRACES,
                Layout::Multi,
                arms,
                |a| (a.span.start, a.span.end),
                |p, a| p.arm(a),
            );
        }
    }

    fn arm(&mut self, a: &Arm) {
        for (i, pat) in a.patterns.iter().enumerate() {
            if i > 0 {
                self.write(" | ");
            }
            let text = match pat.kind {
                PatternKind::Status(n) => n.to_string(),
                PatternKind::Range(lo, hi) => format!("{lo}..{hi}"),
                PatternKind::Timeout => "timeout".to_string(),
                PatternKind::Error => "error".to_string(),
                PatternKind::Any => "_".to_string(),
            };
            self.write(&text);
        }
        self.write(" => ");
        self.stmt(&a.body);
    }

    fn args(&mut self, args: &[Arg], span: Span) {
        // The arguments start at the first `(` of the call.
        let open = self
            .text(span)
            .and_then(|t| t.find('('))
            .map_or(span.start, |i| span.start + i as u32);
        // One object or list argument hugs the parentheses, as in
        // `compact({` ... `})`: its own layout decides the lines.
        if let [a] = args
            && a.name.is_none()
            && matches!(a.value.kind, ExprKind::Object(_) | ExprKind::List(_))
            && !self.has_comments(open, a.span.start)
            && !self.has_comments(a.span.end, span.end)
        {
            self.write("(");
            self.expr(&a.value, 0);
            self.write(")");
            return;
        }
        self.seq(
            (open, span.end),
            span.end,
            PARENS,
            Layout::Auto,
            args,
            |a| (a.span.start, a.span.end),
            |p, a| {
                if let Some(n) = &a.name {
                    p.write(&n.name);
                    p.write(": ");
                }
                p.expr(&a.value, 0);
            },
        );
    }

    // ------------------------------------------------------------ expressions

    fn string(&mut self, s: &StringLit) {
        self.verbatim(&s.raw, s.span);
    }

    /// Writes source text as it is (a literal), with the comments inside
    /// it (in `{...}` interpolations). Comments pending before such a
    /// literal are printed first, to keep their order.
    fn verbatim(&mut self, raw: &str, span: Span) {
        if self.has_comments(span.start, span.end) {
            let mut i = self.next;
            while i < self.comments.len() && self.comments[i].span.start < span.start {
                if !self.used[i] {
                    self.emit_comment(i, true);
                }
                i += 1;
            }
        }
        self.write(raw);
        self.mark_used(span);
    }

    /// Prints an expression. `follow` is the binding power of the operator
    /// printed right after it (0 for none), which decides whether a `not`
    /// (that takes everything tighter than `and` to its right) needs
    /// parentheses.
    fn expr(&mut self, e: &Expr, follow: u8) {
        match &e.kind {
            ExprKind::Int { raw, .. }
            | ExprKind::Float { raw, .. }
            | ExprKind::Duration { raw, .. } => self.write(raw),
            ExprKind::Bool(b) => self.write(if *b { "true" } else { "false" }),
            ExprKind::Null => self.write("null"),
            ExprKind::Str(s) => self.string(s),
            ExprKind::JsonPath(t) => self.write(t),
            ExprKind::Name(i) => self.write(&i.name),
            ExprKind::List(items) => self.seq(
                (e.span.start, e.span.end),
                e.span.end,
                LIST,
                Layout::Auto,
                items,
                |x| (x.span.start, x.span.end),
                |p, x| p.expr(x, 0),
            ),
            ExprKind::Object(entries) => self.seq(
                (e.span.start, e.span.end),
                e.span.end,
                OBJECT,
                Layout::Auto,
                entries,
                |x| (x.key.span.start, x.value.span.end),
                |p, x| {
                    p.key(&x.key);
                    p.write(": ");
                    p.expr(&x.value, 0);
                },
            ),
            ExprKind::Field(base, name) => {
                self.postfix_base(base);
                self.write(".");
                self.write(&name.name);
            }
            ExprKind::Index(base, idx) => {
                self.postfix_base(base);
                self.write("[");
                self.expr(idx, 0);
                self.write("]");
            }
            ExprKind::Call(c) => {
                self.write(&c.func.name);
                if let Some(m) = &c.method {
                    self.write(".");
                    self.write(&m.name);
                }
                self.args(&c.args, e.span);
            }
            ExprKind::Unary(UnaryOp::Not, x) => {
                self.write("not ");
                let forced =
                    matches!(&x.kind, ExprKind::Binary(q, ..) if q.precedence() < NOT_PREC);
                self.child(x, forced, follow);
            }
            ExprKind::Unary(UnaryOp::Neg, x) => {
                self.write("-");
                let forced = matches!(x.kind, ExprKind::Binary(..));
                self.child(x, forced, follow);
            }
            ExprKind::Binary(op, l, r) => {
                let p = op.precedence();
                let right_assoc = *op == BinaryOp::Coalesce;
                let lforced = matches!(&l.kind, ExprKind::Binary(q, ..)
                    if q.precedence() < p || (q.precedence() == p && right_assoc));
                let rforced = matches!(&r.kind, ExprKind::Binary(q, ..)
                    if q.precedence() < p || (q.precedence() == p && !right_assoc));
                self.child(l, lforced, p);
                if *op == BinaryOp::Range && tight_range(l) && tight_range(r) {
                    self.write("..");
                } else {
                    self.write(" ");
                    self.write(op.as_str());
                    self.write(" ");
                }
                self.child(r, rforced, follow);
            }
            ExprKind::Paren(x) => {
                self.write("(");
                self.expr(x, 0);
                self.write(")");
            }
        }
    }

    /// A sub-expression, in parentheses when `forced` or when it is a `not`
    /// followed by an operator that binds tighter than `not`.
    fn child(&mut self, x: &Expr, forced: bool, follow: u8) {
        let not = matches!(x.kind, ExprKind::Unary(UnaryOp::Not, _));
        if forced || (not && follow > NOT_PREC) {
            self.write("(");
            self.expr(x, 0);
            self.write(")");
        } else {
            self.expr(x, follow);
        }
    }

    fn postfix_base(&mut self, base: &Expr) {
        let forced = matches!(base.kind, ExprKind::Binary(..) | ExprKind::Unary(..));
        self.child(base, forced, POSTFIX_PREC);
        if matches!(base.kind, ExprKind::JsonPath(_)) {
            // `$.a .b` is a field of a query; `$.a.b` would be one query.
            self.write(" ");
        }
    }
}

/// The source extent of a method item (an `expect` item's span is its
/// expression's, so look back for the keyword).
fn self_range(item: &MethodItem, src: &str) -> (u32, u32) {
    match item {
        MethodItem::Request(r) => (r.span.start, r.span.end),
        MethodItem::Body(b) => (b.span.start, b.span.end),
        MethodItem::Expect(e) => {
            let start = src
                .get(..e.span.start as usize)
                .and_then(|s| s.rfind("expect"))
                .map_or(e.span.start, |i| i as u32);
            (start, e.span.end)
        }
        MethodItem::Output(o) => (o.span.start, o.span.end),
        MethodItem::Paginate(p) => (p.span.start, p.span.end),
        MethodItem::Entry(e) => (e.span.start, e.span.end),
    }
}

/// Operands that read well around a tight `..` (`500..599`, `0..n`).
fn tight_range(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int { .. }
        | ExprKind::Float { .. }
        | ExprKind::Duration { .. }
        | ExprKind::Name(_) => true,
        ExprKind::Unary(UnaryOp::Neg, x) => matches!(
            x.kind,
            ExprKind::Int { .. } | ExprKind::Float { .. } | ExprKind::Duration { .. }
        ),
        _ => false,
    }
}

/// A string literal that reads back as `s` (for keys without source text).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removes `@start..end` spans from a Debug rendering.
    fn strip_spans(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('@') {
            out.push_str(&rest[..at]);
            let tail = &rest[at + 1..];
            let d1 = tail.bytes().take_while(u8::is_ascii_digit).count();
            let after = &tail[d1..];
            let d2 = after
                .strip_prefix("..")
                .map_or(0, |a| a.bytes().take_while(u8::is_ascii_digit).count());
            if d1 > 0 && d2 > 0 {
                rest = &after[2 + d2..];
            } else {
                out.push('@');
                rest = tail;
            }
        }
        out.push_str(rest);
        out
    }

    fn shape(text: &str) -> (String, Vec<String>) {
        let (m, diags) = parse(FileId(0), text);
        assert!(
            !diags.iter().any(|d| d.is_error()),
            "does not parse:\n{text}"
        );
        let comments = m.comments.iter().map(|c| c.text.clone()).collect();
        (strip_spans(&format!("{:?}", m.items)), comments)
    }

    /// Formats, checking round trip, comments and idempotence.
    fn fmt(text: &str) -> String {
        let out = format_source(text).unwrap_or_else(|| panic!("no format for:\n{text}"));
        assert_eq!(shape(text), shape(&out), "changed meaning:\n{out}");
        assert_eq!(
            format_source(&out).as_deref(),
            Some(out.as_str()),
            "not idempotent"
        );
        out
    }

    fn same(text: &str) {
        assert_eq!(fmt(text), text);
    }

    #[test]
    fn syntax_errors_give_none() {
        assert_eq!(format_source("integration {"), None);
        assert_eq!(format_source(""), Some(String::new()));
    }

    #[test]
    fn canonical_spacing_and_blank_lines() {
        let src = "import \"a.rbk\"\nimport   \"b.rbk\"\ninstance prod {url=\"u\"}\n\n\n\ninstance uat{\n\n  url = \"v\"\n\n\n\n  name=\"x\"\n\n}\nintegration i { timeout = 1s }";
        assert_eq!(
            fmt(src),
            "import \"a.rbk\"\nimport \"b.rbk\"\n\ninstance prod { url = \"u\" }\n\ninstance uat {\n  url = \"v\"\n\n  name = \"x\"\n}\n\nintegration i { timeout = 1s }\n"
        );
    }

    #[test]
    fn short_blocks_stay_on_one_line_only_when_they_were() {
        same(
            "integration i {\n  retry { attempts = 3, backoff = 1s }\n  tls {\n    insecure = true\n  }\n}\n",
        );
        // Too long for one line.
        let long = "integration i { retry { attempts = 3, backoff = 500ms, max_backoff = 10s, on = [429, 500..599] } }";
        assert_eq!(
            fmt(long),
            "integration i {\n  retry {\n    attempts = 3\n    backoff = 500ms\n    max_backoff = 10s\n    on = [429, 500..599]\n  }\n}\n"
        );
        // Nested blocks never stay on one line.
        assert_eq!(
            fmt("integration i { auth oauth2 { per_instance { prod { a = 1 } } } }"),
            "integration i {\n  auth oauth2 {\n    per_instance {\n      prod { a = 1 }\n    }\n  }\n}\n"
        );
    }

    #[test]
    fn lists_objects_and_args() {
        same(
            "runbook r() {\n  let a = [1, 2, 3]\n  let b = { \"k\": 1, k2: [true, null] }\n  let c = f(a, b: c)\n}\n",
        );
        assert_eq!(
            fmt("runbook r() { let a = [1,\n 2] let b = {k: 1,\n\n k2: 2} }"),
            "runbook r() {\n  let a = [\n    1,\n    2,\n  ]\n  let b = {\n    k: 1,\n\n    k2: 2,\n  }\n}\n"
        );
        assert_eq!(
            fmt("runbook r() { let a = [] let b = {} let c = f() }"),
            "runbook r() {\n  let a = []\n  let b = {}\n  let c = f()\n}\n"
        );
        let long = format!(
            "runbook r() {{ step s = x.y(a: \"{}\", b: 2) }}",
            "z".repeat(60)
        );
        assert!(fmt(&long).contains("step s = x.y(\n    a: \"zzz"));
    }

    #[test]
    fn comments_in_every_position() {
        same(concat!(
            "# file header\n",
            "\n",
            "## Doc of i\n",
            "integration i {  # after brace\n",
            "  # leading\n",
            "  a = 1  # trailing\n",
            "\n",
            "  ## doc of b\n",
            "  b = [  # after bracket\n",
            "    1,  # one\n",
            "    # before close\n",
            "  ]\n",
            "  # before block close\n",
            "}  # after item\n",
            "\n",
            "runbook r(\n",
            "  ## doc of p\n",
            "  p: int,  # trailing param\n",
            ") {\n",
            "  let x = 1\n",
            "  # end of runbook\n",
            "}\n",
            "# end of file\n",
        ));
    }

    #[test]
    fn comments_inside_expressions_move_to_the_line_end() {
        assert_eq!(
            fmt("runbook r() {\n  let x = a + # why\n    b\n  log x\n}\n"),
            "runbook r() {\n  let x = a + b  # why\n  log x\n}\n"
        );
        // A `##` moved out of an expression must not become a doc comment.
        let out = fmt("integration i {\n  a = 1 + ## not a doc\n    2\n  b = 3\n}\n");
        assert_eq!(
            out,
            "integration i {\n  a = 1 + 2  ## not a doc\n\n  b = 3\n}\n"
        );
    }

    #[test]
    fn doc_comments_stay_attached() {
        same("## one\n## two\nintegration i {\n  ## key doc\n  a = 1\n}\n");
        // A trailing `##` documents the next declaration; keep it adjacent.
        same("integration a {}  ## doc of b\nintegration b {}\n");
        same("integration a {\n  x = 1  ## doc of y\n  y = 2\n}\n");
        same("## detached\n\nintegration a {}\n");
        let (m, _) = parse(
            FileId(0),
            &fmt("method m.n(\n## the p\np: int) { GET \"/\" output {\n## out doc\n x = $.x } }"),
        );
        let Some(Item::Method(method)) = m.items.first() else {
            panic!("no method");
        };
        assert_eq!(method.params[0].doc.as_deref(), Some("the p"));
    }

    #[test]
    fn statements_if_else_arms_parallel() {
        same(concat!(
            "runbook r(a: string, b: int = 3) {\n",
            "  trigger webhook \"/h\" {\n",
            "    verify sign_hmac { key = secret(\"K\") }\n",
            "  }\n",
            "  step s = x.y(id: a) until s.done every 5s max 3 else {\n",
            "    404 | 410 => fail \"gone\"\n",
            "    500..599 | timeout => {\n",
            "      log \"retry\"\n",
            "    }\n",
            "    _ => return\n",
            "  }\n",
            "  if a == \"x\" {\n",
            "    log 1\n",
            "  } else if b > 2 {\n",
            "    log 2\n",
            "  } else {\n",
            "    log 3\n",
            "  }\n",
            "  parallel {\n",
            "    step p = run other(n: 1)\n",
            "    wait 1s\n",
            "  }\n",
            "  for x in xs parallel 4 {}\n",
            "  {\n",
            "    return { ok: true }\n",
            "  }\n",
            "}\n",
        ));
        assert_eq!(
            fmt("runbook r(){if a{log 1}else if b{log 2}else{log 3}}"),
            "runbook r() {\n  if a {\n    log 1\n  } else if b {\n    log 2\n  } else {\n    log 3\n  }\n}\n"
        );
    }

    #[test]
    fn method_items_keep_their_order() {
        same(concat!(
            "method gh.get(login: string, tags: [string]? = null) {\n",
            "  expect 200..299\n",
            "  GET \"/users/{login}\"\n",
            "  query { per_page = 100 }\n",
            "  body bytes(\"x.bin\") as \"application/octet-stream\"\n",
            "  body text \"t\" as \"text/plain\"\n",
            "  auth inherit\n",
            "  output {\n",
            "    login: string = $.login\n",
            "    next = header(\"Link\")\n",
            "  }\n",
            "  paginate cursor { param = \"c\", next = $.meta.next }\n",
            "}\n",
        ));
    }

    #[test]
    fn params_stay_on_one_line_when_they_fit() {
        assert_eq!(
            fmt("runbook r(\n  a: string,\n  b: int = 3\n) {}"),
            "runbook r(a: string, b: int = 3) {}\n"
        );
        let long = "runbook post_summary(ticket_id: int, file_name: string, rows: int, record_id: string) {}";
        assert_eq!(
            fmt(long),
            "runbook post_summary(\n  ticket_id: int,\n  file_name: string,\n  rows: int,\n  record_id: string,\n) {}\n"
        );
    }

    #[test]
    fn literals_print_as_written() {
        same(concat!(
            "runbook r() {\n",
            "  let a = 1.50e3 + 007 + 1.5h\n",
            "  let b = \"esc \\\" \\u{1F600} {{x}} {a + 1}\"\n",
            "  let c = $..items[?(@.price < 10)].name\n",
            "  let t = \"\"\"\n",
            "      keep\n",
            "        this\n",
            "      \"\"\"\n",
            "}\n",
        ));
        same("integration i {\n  headers { \"X-A\" = \"1\", \"q\\\"{{\" = 2 }\n}\n");
    }

    #[test]
    fn precedence_with_and_without_parens() {
        // Explicit parentheses are kept, even redundant ones.
        same(
            "runbook r() {\n  let a = (1 + 2) * 3 - ((4))\n  let b = not (a and b) or c\n  let c = a ?? b ?? c\n  let d = (a ?? b) ?? c\n  let e = -(-x) - -y\n  let f = a == not b\n  let g = (not a).b\n  let h = $.a .b\n}\n",
        );
        // Operators get single spaces; `..` stays tight between simple operands.
        assert_eq!(
            fmt("runbook r() { let a = 1+2*3 let b = x  in  [1]and not y let c = 200 .. 299 }"),
            "runbook r() {\n  let a = 1 + 2 * 3\n  let b = x in [1] and not y\n  let c = 200..299\n}\n"
        );
    }

    #[test]
    fn synthesized_trees_get_minimal_parentheses() {
        let sp = Span::default();
        let name = |n: &str| Expr {
            kind: ExprKind::Name(Ident {
                name: n.into(),
                span: sp,
            }),
            span: sp,
        };
        let bin = |op, l: Expr, r: Expr| Expr {
            kind: ExprKind::Binary(op, Box::new(l), Box::new(r)),
            span: sp,
        };
        let not = |x: Expr| Expr {
            kind: ExprKind::Unary(UnaryOp::Not, Box::new(x)),
            span: sp,
        };
        let print = |e: &Expr| {
            let mut p = Printer::new("", &[], false);
            p.expr(e, 0);
            p.out
        };
        let sum = bin(BinaryOp::Add, name("a"), name("b"));
        assert_eq!(
            print(&bin(BinaryOp::Mul, sum.clone(), name("c"))),
            "(a + b) * c"
        );
        assert_eq!(
            print(&bin(BinaryOp::Sub, name("c"), sum.clone())),
            "c - (a + b)"
        );
        assert_eq!(
            print(&bin(BinaryOp::Add, sum.clone(), name("c"))),
            "a + b + c"
        );
        let co = bin(BinaryOp::Coalesce, name("a"), name("b"));
        assert_eq!(
            print(&bin(BinaryOp::Coalesce, co.clone(), name("c"))),
            "(a ?? b) ?? c"
        );
        assert_eq!(
            print(&bin(BinaryOp::Coalesce, name("c"), co)),
            "c ?? a ?? b"
        );
        assert_eq!(
            print(&bin(BinaryOp::Eq, not(name("a")), name("b"))),
            "(not a) == b"
        );
        assert_eq!(
            print(&bin(BinaryOp::And, not(name("a")), name("b"))),
            "not a and b"
        );
        let eq = bin(BinaryOp::Eq, name("a"), not(name("b")));
        assert_eq!(print(&eq), "a == not b");
        assert_eq!(
            print(&bin(BinaryOp::Eq, eq, name("c"))),
            "a == (not b) == c"
        );
        let or = bin(BinaryOp::Or, name("a"), name("b"));
        assert_eq!(print(&not(or)), "not (a or b)");
        let neg = Expr {
            kind: ExprKind::Unary(UnaryOp::Neg, Box::new(sum)),
            span: sp,
        };
        assert_eq!(print(&neg), "-(a + b)");
        let field = Expr {
            kind: ExprKind::Field(
                Box::new(neg),
                Ident {
                    name: "f".into(),
                    span: sp,
                },
            ),
            span: sp,
        };
        assert_eq!(print(&field), "(-(a + b)).f");
    }

    #[test]
    fn crlf_and_comment_only_files() {
        assert_eq!(
            fmt("integration i {\r\n  a = 1 # c\r\n}\r\n"),
            "integration i {\n  a = 1  # c\n}\n"
        );
        assert_eq!(fmt("# only\n\n\n# comments\n"), "# only\n\n# comments\n");
    }
}
