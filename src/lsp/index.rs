//! Every name written in a program, with what it names: the one table that
//! hover, go to definition, references, rename and semantic tokens read.
//! Built from the AST by the shared [`Visitor`] walk.

use std::collections::HashSet;

use crate::check::Program;
use crate::syntax::ast::*;
use crate::syntax::visit::{Visitor, walk_block, walk_expr, walk_stmt, walk_stmts};

/// What a parameter belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    Method(String, String),
    Runbook(String),
}

/// A named thing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sym {
    Instance(String),
    Integration(String),
    Method(String, String),
    Runbook(String),
    Param(Owner, String),
    /// An output of a method: (integration, method, output).
    Output(String, String, String),
    /// A step, `let`, `var` or loop variable of a runbook.
    Local(String, String),
    Builtin(String),
}

impl Sym {
    /// The name as written at each occurrence.
    pub fn name(&self) -> &str {
        match self {
            Sym::Instance(n) | Sym::Integration(n) | Sym::Runbook(n) | Sym::Builtin(n) => n,
            Sym::Method(_, n) | Sym::Param(_, n) | Sym::Output(_, _, n) | Sym::Local(_, n) => n,
        }
    }
}

/// One place a name is written.
#[derive(Debug, Clone)]
pub struct Occ {
    pub span: Span,
    pub sym: Sym,
    /// True where the name is defined (declared or bound).
    pub def: bool,
}

/// Every occurrence in a program's files, in source order per file.
#[derive(Debug, Default)]
pub struct Index {
    pub occs: Vec<Occ>,
}

impl Index {
    pub fn build(program: &Program) -> Index {
        let mut b = Builder {
            program,
            occs: Vec::new(),
            locals: HashSet::new(),
            params: HashSet::new(),
            owner: None,
            runbook: None,
            steps: Vec::new(),
        };
        for m in &program.modules {
            for item in &m.items {
                b.item(item);
            }
        }
        let mut occs = b.occs;
        occs.sort_by_key(|o| (o.span.file, o.span.start, o.span.end));
        occs.dedup_by(|a, b| a.span == b.span);
        Index { occs }
    }

    /// The occurrence under a byte offset of a file (the end of a name counts,
    /// so that a cursor just after a word finds it).
    pub fn at(&self, file: FileId, offset: usize) -> Option<&Occ> {
        let offset = offset as u32;
        self.occs
            .iter()
            .filter(|o| o.span.file == file && o.span.start <= offset && offset <= o.span.end)
            .min_by_key(|o| o.span.len())
    }

    /// Where `sym` is defined in this program.
    pub fn definition(&self, sym: &Sym) -> Option<&Occ> {
        self.occs.iter().find(|o| o.def && &o.sym == sym)
    }

    pub fn references<'a>(&'a self, sym: &'a Sym) -> impl Iterator<Item = &'a Occ> + 'a {
        self.occs.iter().filter(move |o| &o.sym == sym)
    }
}

struct Builder<'p> {
    program: &'p Program,
    occs: Vec<Occ>,
    /// Names bound in the runbook being walked.
    locals: HashSet<String>,
    /// Parameter names of the method or runbook being walked.
    params: HashSet<String>,
    owner: Option<Owner>,
    runbook: Option<String>,
    /// Steps of the runbook: name → the method it calls.
    steps: Vec<(String, String, String)>,
}

impl Builder<'_> {
    fn push(&mut self, span: Span, sym: Sym, def: bool) {
        self.occs.push(Occ { span, sym, def });
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(_) => {}
            Item::Instance(i) => {
                self.push(i.name.span, Sym::Instance(i.name.name.clone()), true);
                self.reset(None);
                self.visit_block(&i.body);
            }
            Item::Integration(i) => {
                self.push(i.name.span, Sym::Integration(i.name.name.clone()), true);
                self.reset(None);
                self.visit_block(&i.body);
            }
            Item::Method(m) => {
                let (integ, name) = (m.integration.name.clone(), m.name.name.clone());
                self.push(m.integration.span, Sym::Integration(integ.clone()), false);
                self.push(m.name.span, Sym::Method(integ.clone(), name.clone()), true);
                let owner = Owner::Method(integ.clone(), name.clone());
                self.reset(Some(owner.clone()));
                self.params(&m.params, &owner);
                for mi in &m.items {
                    match mi {
                        MethodItem::Request(r) => self.string(&r.path),
                        MethodItem::Body(b) => match &b.kind {
                            BodyKind::Json(e) => self.visit_expr(e),
                            BodyKind::Form(bl) | BodyKind::Multipart(bl) => self.visit_block(bl),
                            BodyKind::Text {
                                value,
                                content_type,
                            }
                            | BodyKind::Xml {
                                value,
                                content_type,
                            }
                            | BodyKind::Bytes {
                                path: value,
                                content_type,
                            } => {
                                self.visit_expr(value);
                                if let Some(c) = content_type {
                                    self.visit_expr(c);
                                }
                            }
                        },
                        MethodItem::Expect(e) => self.visit_expr(e),
                        MethodItem::Output(o) => {
                            for f in &o.fields {
                                self.push(
                                    f.name.span,
                                    Sym::Output(integ.clone(), name.clone(), f.name.name.clone()),
                                    true,
                                );
                                self.visit_expr(&f.value);
                            }
                        }
                        MethodItem::Paginate(p) => {
                            if let Some(v) = &p.value {
                                self.visit_expr(v);
                            }
                            if let Some(o) = &p.options {
                                self.visit_block(o);
                            }
                        }
                        MethodItem::Entry(e) => {
                            let block = Block {
                                entries: vec![e.clone()],
                                span: e.span,
                            };
                            self.visit_block(&block);
                        }
                    }
                }
            }
            Item::Runbook(rb) => {
                let name = rb.name.name.clone();
                self.push(rb.name.span, Sym::Runbook(name.clone()), true);
                let owner = Owner::Runbook(name.clone());
                self.reset(Some(owner.clone()));
                self.runbook = Some(name);
                self.params(&rb.params, &owner);
                let mut bound = Bound(Vec::new());
                walk_stmts(&mut bound, &rb.body.stmts);
                self.locals = bound.0.into_iter().collect();
                walk_stmts(self, &rb.body.stmts);
            }
        }
    }

    fn reset(&mut self, owner: Option<Owner>) {
        self.owner = owner;
        self.runbook = None;
        self.locals.clear();
        self.params.clear();
        self.steps.clear();
    }

    fn params(&mut self, params: &[Param], owner: &Owner) {
        for p in params {
            self.params.insert(p.name.name.clone());
            self.push(
                p.name.span,
                Sym::Param(owner.clone(), p.name.name.clone()),
                true,
            );
            if let Some(d) = &p.default {
                self.visit_expr(d);
            }
        }
    }

    fn string(&mut self, s: &StringLit) {
        for p in &s.parts {
            if let StrPart::Interp(e) = p {
                self.visit_expr(e);
            }
        }
    }

    fn local(&self, name: &str) -> Option<Sym> {
        if let Some(rb) = &self.runbook
            && self.locals.contains(name)
        {
            return Some(Sym::Local(rb.clone(), name.to_string()));
        }
        if let Some(owner) = &self.owner
            && self.params.contains(name)
        {
            return Some(Sym::Param(owner.clone(), name.to_string()));
        }
        None
    }

    fn call_target(&mut self, call: &Call) {
        match &call.target {
            CallTarget::Method {
                integration,
                method,
            } => {
                self.push(
                    integration.span,
                    Sym::Integration(integration.name.clone()),
                    false,
                );
                self.push(
                    method.span,
                    Sym::Method(integration.name.clone(), method.name.clone()),
                    false,
                );
                let owner = Owner::Method(integration.name.clone(), method.name.clone());
                self.named_args(&call.args, &owner);
            }
            CallTarget::Runbook(rb) => {
                self.push(rb.span, Sym::Runbook(rb.name.clone()), false);
                self.named_args(&call.args, &Owner::Runbook(rb.name.clone()));
            }
        }
    }

    fn named_args(&mut self, args: &[Arg], owner: &Owner) {
        for a in args {
            if let Some(n) = &a.name {
                self.push(n.span, Sym::Param(owner.clone(), n.name.clone()), false);
            }
        }
    }
}

/// The names a runbook body binds.
struct Bound(Vec<String>);

impl Visitor for Bound {
    fn visit_stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Let(l) | StmtKind::Var(l) => self.0.push(l.name.name.clone()),
            StmtKind::Step(st) => self.0.push(st.name.name.clone()),
            StmtKind::For(f) => self.0.push(f.var.name.clone()),
            _ => {}
        }
        walk_stmt(self, s);
    }

    fn visit_expr(&mut self, _: &Expr) {}
}

impl Visitor for Builder<'_> {
    fn visit_stmt(&mut self, s: &Stmt) {
        let rb = self.runbook.clone().unwrap_or_default();
        match &s.kind {
            StmtKind::Let(l) | StmtKind::Var(l) => {
                self.push(l.name.span, Sym::Local(rb, l.name.name.clone()), true);
            }
            StmtKind::Assign(a) => {
                if let Some(sym) = self.local(&a.name.name) {
                    self.push(a.name.span, sym, false);
                }
            }
            StmtKind::Step(st) => {
                self.push(st.name.span, Sym::Local(rb, st.name.name.clone()), true);
                if let CallTarget::Method {
                    integration,
                    method,
                } = &st.call.target
                {
                    self.steps.push((
                        st.name.name.clone(),
                        integration.name.clone(),
                        method.name.clone(),
                    ));
                }
                self.call_target(&st.call);
            }
            StmtKind::For(f) => {
                self.push(f.var.span, Sym::Local(rb, f.var.name.clone()), true);
            }
            _ => {}
        }
        walk_stmt(self, s);
    }

    fn visit_expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Name(id) => {
                if let Some(sym) = self.local(&id.name) {
                    self.push(id.span, sym, false);
                } else if self.program.integrations.contains_key(&id.name) {
                    self.push(id.span, Sym::Integration(id.name.clone()), false);
                }
            }
            ExprKind::Field(base, field) => {
                if let ExprKind::Name(id) = &base.kind
                    && let Some((_, i, m)) = self.steps.iter().rev().find(|(s, _, _)| *s == id.name)
                    && self
                        .program
                        .method(i, m)
                        .is_some_and(|m| has_output(m, &field.name))
                {
                    let sym = Sym::Output(i.clone(), m.clone(), field.name.clone());
                    self.push(field.span, sym, false);
                }
            }
            ExprKind::Call(c) => match &c.method {
                Some(m) => {
                    self.push(c.func.span, Sym::Integration(c.func.name.clone()), false);
                    self.push(
                        m.span,
                        Sym::Method(c.func.name.clone(), m.name.clone()),
                        false,
                    );
                    let owner = Owner::Method(c.func.name.clone(), m.name.clone());
                    self.named_args(&c.args, &owner);
                }
                None => {
                    if crate::builtins::BUILTINS
                        .iter()
                        .any(|b| b.name == c.func.name)
                    {
                        self.push(c.func.span, Sym::Builtin(c.func.name.clone()), false);
                    }
                }
            },
            _ => {}
        }
        walk_expr(self, e);
    }

    fn visit_block(&mut self, b: &Block) {
        walk_block(self, b);
    }
}

pub fn has_output(m: &Method, name: &str) -> bool {
    outputs(m).any(|f| f.name.name == name)
}

/// A method's output fields.
pub fn outputs(m: &Method) -> impl Iterator<Item = &OutputField> {
    m.items
        .iter()
        .filter_map(|i| match i {
            MethodItem::Output(o) => Some(o.fields.iter()),
            _ => None,
        })
        .flatten()
}
