//! One walk over the statements and expressions of the AST. A pass that
//! looks for something implements [`Visitor`], overrides the `visit_*`
//! methods for the nodes it cares about, and calls the matching `walk_*`
//! function to go on into the children. Every node kind is listed once,
//! here, so a new kind of statement or expression is handled by every
//! pass the day it is added.

use super::ast::*;

pub trait Visitor {
    fn visit_stmt(&mut self, s: &Stmt) {
        walk_stmt(self, s);
    }

    fn visit_expr(&mut self, e: &Expr) {
        walk_expr(self, e);
    }

    /// A configuration block (a trigger's options).
    fn visit_block(&mut self, b: &Block) {
        walk_block(self, b);
    }
}

/// Visits every statement of `stmts`.
pub fn walk_stmts<V: Visitor + ?Sized>(v: &mut V, stmts: &[Stmt]) {
    for s in stmts {
        v.visit_stmt(s);
    }
}

/// Visits the children of `s`: its expressions and nested statements.
pub fn walk_stmt<V: Visitor + ?Sized>(v: &mut V, s: &Stmt) {
    match &s.kind {
        StmtKind::Trigger(t) => {
            if let Some(e) = &t.value {
                v.visit_expr(e);
            }
            if let Some(b) = &t.options {
                v.visit_block(b);
            }
        }
        StmtKind::Let(l) | StmtKind::Var(l) => v.visit_expr(&l.value),
        StmtKind::Assign(a) => v.visit_expr(&a.value),
        StmtKind::Step(st) => {
            for a in &st.call.args {
                v.visit_expr(&a.value);
            }
            if let Some(u) = &st.until {
                v.visit_expr(&u.cond);
                v.visit_expr(&u.every);
                if let Some(m) = &u.max {
                    v.visit_expr(m);
                }
            }
            for arm in st.arms.iter().flatten() {
                v.visit_stmt(&arm.body);
            }
        }
        StmtKind::If(i) => {
            v.visit_expr(&i.cond);
            walk_stmts(v, &i.then.stmts);
            match &i.otherwise {
                Some(Else::If(s)) => v.visit_stmt(s),
                Some(Else::Block(b)) => walk_stmts(v, &b.stmts),
                None => {}
            }
        }
        StmtKind::For(f) => {
            v.visit_expr(&f.iter);
            if let Some(p) = &f.parallel {
                v.visit_expr(p);
            }
            walk_stmts(v, &f.body.stmts);
        }
        StmtKind::Parallel(b) | StmtKind::Block(b) => walk_stmts(v, &b.stmts),
        StmtKind::Wait(e) | StmtKind::Log(e) | StmtKind::Fail(e) => v.visit_expr(e),
        StmtKind::Return(e) => {
            if let Some(e) = e {
                v.visit_expr(e);
            }
        }
    }
}

/// Visits the sub-expressions of `e`.
pub fn walk_expr<V: Visitor + ?Sized>(v: &mut V, e: &Expr) {
    match &e.kind {
        ExprKind::Field(base, _) => v.visit_expr(base),
        ExprKind::Str(s) => {
            for p in &s.parts {
                if let StrPart::Interp(e) = p {
                    v.visit_expr(e);
                }
            }
        }
        ExprKind::List(items) => {
            for i in items {
                v.visit_expr(i);
            }
        }
        ExprKind::Object(entries) => {
            for o in entries {
                v.visit_expr(&o.value);
            }
        }
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            v.visit_expr(a);
            v.visit_expr(b);
        }
        ExprKind::Call(c) => {
            for a in &c.args {
                v.visit_expr(&a.value);
            }
        }
        ExprKind::Unary(_, a) | ExprKind::Paren(a) => v.visit_expr(a),
        ExprKind::Int { .. }
        | ExprKind::Float { .. }
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Duration { .. }
        | ExprKind::Name(_)
        | ExprKind::JsonPath(_) => {}
    }
}

/// Visits the expressions of a configuration block, nested blocks included.
pub fn walk_block<V: Visitor + ?Sized>(v: &mut V, b: &Block) {
    for entry in &b.entries {
        match &entry.value {
            EntryValue::Expr {
                value,
                content_type,
            } => {
                v.visit_expr(value);
                if let Some(ct) = content_type {
                    v.visit_expr(ct);
                }
            }
            EntryValue::Block { block, .. } => v.visit_block(block),
            EntryValue::Label(_) => {}
        }
    }
}

/// The names of the steps in `stmts`, at any depth, in order (the checker's
/// binding of loop results and the runtime's both read it).
pub fn step_names(stmts: &[Stmt]) -> Vec<String> {
    struct Steps(Vec<String>);
    impl Visitor for Steps {
        fn visit_stmt(&mut self, s: &Stmt) {
            if let StmtKind::Step(st) = &s.kind {
                self.0.push(st.name.name.clone());
            }
            walk_stmt(self, s);
        }
        // Steps are statements: expressions hold none.
        fn visit_expr(&mut self, _: &Expr) {}
    }
    let mut v = Steps(Vec::new());
    walk_stmts(&mut v, stmts);
    v.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;
    use crate::syntax::span::FileId;

    fn runbook(text: &str) -> Runbook {
        let (m, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:?}");
        match m.items.into_iter().next() {
            Some(Item::Runbook(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    const PROGRAM: &str = r#"runbook r(x: int) {
  trigger schedule "0 9 * * *"
  var n = a
  n += b
  step s1 = i.m(p: c) until s1.done every 1s max d else {
    404 => { step s2 = i.m(p: e) }
  }
  if f { step s3 = i.m() } else if g { log "{h}" } else { step s4 = i.m() }
  for it in j parallel k { step s5 = i.m(p: [l, { k: m }]) }
  parallel { step s6 = i.m() }
  wait n2
  fail o.p[q] + -r2
  return { v: (s) }
}
"#;

    #[test]
    fn every_step_is_found_in_order() {
        let rb = runbook(PROGRAM);
        assert_eq!(
            step_names(&rb.body.stmts),
            ["s1", "s2", "s3", "s4", "s5", "s6"]
        );
    }

    #[test]
    fn every_expression_is_visited() {
        struct Names(Vec<String>);
        impl Visitor for Names {
            fn visit_expr(&mut self, e: &Expr) {
                if let ExprKind::Name(id) = &e.kind {
                    self.0.push(id.name.clone());
                }
                walk_expr(self, e);
            }
        }
        let rb = runbook(PROGRAM);
        let mut v = Names(Vec::new());
        walk_stmts(&mut v, &rb.body.stmts);
        let want = [
            "a", "b", "c", "s1", "d", "e", "f", "g", "h", "j", "k", "l", "m", "n2", "o", "q", "r2",
            "s",
        ];
        assert_eq!(v.0, want);
    }
}
