//! Runbooks: statements in order, with definite binding. A name is bound at
//! a point only if every path to that point binds it; a step's outputs are
//! readable only where every path ran the step and it succeeded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::Cx;
use super::expr::{BindKind, Binding, Ctx, Declared, Scope, Vars, article};
use super::methods::{method_outputs, param_vars};
use super::resolve::duplicate;
use super::types::{StepTy, T, Ty, assignable, resolve_type};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

/// The facts at one point of a runbook.
#[derive(Debug, Clone)]
pub(super) struct State {
    pub(super) vars: Vars,
    /// False when every path to here has failed or returned.
    live: bool,
}

/// Per-runbook context.
struct Flow {
    declared: HashMap<String, Declared>,
    /// The type each step has when it succeeds, by name.
    steps: RefCell<HashMap<String, Rc<StepTy>>>,
    /// The loops and `parallel` blocks around the statement being checked,
    /// innermost last.
    frames: RefCell<Vec<Frame>>,
}

/// A loop body or a `parallel` block being checked.
struct Frame {
    /// Its items or branches run at once.
    parallel: bool,
    /// A `for` loop (not a `parallel { }` block).
    is_for: bool,
    /// What to point at: `parallel N`, the loop head, or `parallel`.
    span: Span,
    /// The bindings visible where it starts.
    outer: Vars,
    /// The steps of a loop body: lists of the items' results after it.
    results: Vec<String>,
}

impl<'p> Cx<'p> {
    pub(super) fn check_runbook(&mut self, rb: &Runbook) {
        let vars = param_vars(self, &rb.params, Ctx::Runbook);
        let mut declared = HashMap::new();
        self.collect_decls(&rb.body, &vars, &mut declared);
        let flow = Flow {
            declared,
            steps: RefCell::new(HashMap::new()),
            frames: RefCell::new(Vec::new()),
        };
        let state = State { vars, live: true };
        self.block(&rb.body, state, &flow, true);
        self.trigger_params(rb);
    }

    /// One REPL statement over the session's bindings; returns them updated.
    pub(crate) fn repl_stmt(&mut self, s: &Stmt, vars: Vars) -> Vars {
        let flow = Flow {
            declared: HashMap::new(),
            steps: RefCell::new(HashMap::new()),
            frames: RefCell::new(Vec::new()),
        };
        let end = self.stmt(
            s,
            State {
                vars: vars.clone(),
                live: true,
            },
            &flow,
        );
        if end.live { end.vars } else { vars }
    }

    /// Records every let and step of the body; step names must be unique.
    fn collect_decls(
        &mut self,
        block: &StmtBlock,
        params: &Vars,
        out: &mut HashMap<String, Declared>,
    ) {
        for s in &block.stmts {
            self.collect_stmt(s, params, out);
        }
    }

    fn collect_stmt(&mut self, s: &Stmt, params: &Vars, out: &mut HashMap<String, Declared>) {
        match &s.kind {
            StmtKind::Let(l) | StmtKind::Var(l) => {
                if let Some(d) = out.get(&l.name.name) {
                    if d.is_step {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                format!("`{}` is already the name of a step", l.name.name),
                            )
                            .at(l.name.span, "`let` of a step's name")
                            .also(d.span, "the step")
                            .help("give the variable another name; a step's name always means its result"),
                        );
                    }
                } else {
                    out.insert(
                        l.name.name.clone(),
                        Declared {
                            span: l.name.span,
                            is_step: false,
                            loop_var: false,
                        },
                    );
                }
            }
            StmtKind::Step(st) => {
                if let Some(d) = out.get(&st.name.name) {
                    if d.is_step {
                        self.report(duplicate("step", &st.name, d.span));
                    } else {
                        self.report(
                            Diagnostic::error(
                                codes::DUPLICATE_DEFINITION,
                                format!("step `{}` has the name of a variable", st.name.name),
                            )
                            .at(st.name.span, "step named here")
                            .also(d.span, "variable bound here")
                            .help("give the step another name"),
                        );
                    }
                } else if let Some(p) = params.get(&st.name.name) {
                    self.report(
                        Diagnostic::error(
                            codes::DUPLICATE_DEFINITION,
                            format!("step `{}` has the name of a parameter", st.name.name),
                        )
                        .at(st.name.span, "step named here")
                        .also(p.span, "parameter declared here")
                        .help("give the step another name"),
                    );
                } else {
                    out.insert(
                        st.name.name.clone(),
                        Declared {
                            span: st.name.span,
                            is_step: true,
                            loop_var: false,
                        },
                    );
                }
                if let Some(arms) = &st.arms {
                    for a in arms {
                        self.collect_stmt(&a.body, params, out);
                    }
                }
            }
            StmtKind::If(i) => {
                self.collect_decls(&i.then, params, out);
                match &i.otherwise {
                    Some(Else::Block(b)) => self.collect_decls(b, params, out),
                    Some(Else::If(s)) => self.collect_stmt(s, params, out),
                    None => {}
                }
            }
            StmtKind::For(f) => {
                out.entry(f.var.name.clone()).or_insert(Declared {
                    span: f.var.span,
                    is_step: false,
                    loop_var: true,
                });
                self.collect_decls(&f.body, params, out);
            }
            StmtKind::Parallel(b) | StmtKind::Block(b) => self.collect_decls(b, params, out),
            _ => {}
        }
    }

    fn block(&mut self, block: &StmtBlock, mut state: State, flow: &Flow, top: bool) -> State {
        for (i, s) in block.stmts.iter().enumerate() {
            if !state.live {
                let first = &block.stmts[i];
                let last = &block.stmts[block.stmts.len() - 1];
                self.report(
                    Diagnostic::warning(codes::UNREACHABLE, "this code can never run")
                        .at(first.span.to(last.span), "unreachable")
                        .help("every path before it has already failed or returned; remove it, or move the `fail`/`return` into a condition"),
                );
                break;
            }
            if let StmtKind::Trigger(t) = &s.kind {
                let before_any = block.stmts[..i]
                    .iter()
                    .all(|p| matches!(p.kind, StmtKind::Trigger(_)));
                self.trigger(t, s.span, top && before_any, &state);
                continue;
            }
            state = self.stmt(s, state, flow);
        }
        state
    }

    fn stmt(&mut self, s: &Stmt, state: State, flow: &Flow) -> State {
        match &s.kind {
            StmtKind::Trigger(t) => {
                self.trigger(t, s.span, false, &state);
                state
            }
            StmtKind::Let(l) | StmtKind::Var(l) => {
                let is_var = matches!(s.kind, StmtKind::Var(_));
                let t = self.eval(&l.value, &state, flow);
                let ty = match &l.ty {
                    Some(te) => match resolve_type(te) {
                        Ok(declared) => {
                            self.expect_type(l.value.span, &declared.ty, &t);
                            if declared.secret && !t.secret && !t.ty.is_dynamic() {
                                self.not_secret(l.value.span, &l.name.name, te.span());
                            }
                            T::secret(declared.ty, declared.secret || t.secret)
                        }
                        Err(id) => {
                            self.unknown_type(id);
                            T::any()
                        }
                    },
                    None => t,
                };
                self.shadow_in_loop(&l.name, is_var, &state, flow);
                let mut state = state;
                state.vars.insert(
                    l.name.name.clone(),
                    Binding {
                        ty,
                        span: l.name.span,
                        kind: if is_var { BindKind::Var } else { BindKind::Let },
                    },
                );
                state
            }
            StmtKind::Assign(a) => {
                let t = self.eval(&a.value, &state, flow);
                self.assign(a, t, state, flow)
            }
            StmtKind::Step(st) => self.step(st, state, flow),
            StmtKind::If(i) => self.if_stmt(i, state, flow),
            StmtKind::For(f) => self.for_stmt(f, state, flow),
            StmtKind::Parallel(b) => {
                let start = s.span.start as usize;
                flow.frames.borrow_mut().push(Frame {
                    parallel: true,
                    is_for: false,
                    span: Span::new(s.span.file, start, start + "parallel".len()),
                    outer: state.vars.clone(),
                    results: Vec::new(),
                });
                let mut out = state.clone();
                for branch in &b.stmts {
                    let end = self.stmt(branch, state.clone(), flow);
                    if !end.live {
                        out.live = false;
                    }
                    for (k, v) in end.vars {
                        if state.vars.get(&k) != Some(&v) {
                            out.vars.insert(k, v);
                        }
                    }
                }
                flow.frames.borrow_mut().pop();
                out
            }
            StmtKind::Block(b) => self.block(b, state, flow, false),
            StmtKind::Wait(e) => {
                let t = self.eval(e, &state, flow);
                self.expect_type(e.span, &Ty::Duration, &t);
                state
            }
            StmtKind::Log(e) => {
                let t = self.eval(e, &state, flow);
                self.leak(t.secret, e.span, "log");
                state
            }
            StmtKind::Fail(e) => {
                let t = self.eval(e, &state, flow);
                self.leak(t.secret, e.span, "fail");
                State {
                    live: false,
                    ..state
                }
            }
            StmtKind::Return(v) => {
                if let Some(e) = v {
                    match &e.kind {
                        ExprKind::Object(entries) => {
                            for entry in entries {
                                let t = self.eval(&entry.value, &state, flow);
                                self.leak(t.secret, entry.value.span, "return");
                            }
                        }
                        _ => {
                            let t = self.eval(e, &state, flow);
                            self.leak(t.secret, e.span, "return");
                        }
                    }
                }
                State {
                    live: false,
                    ..state
                }
            }
        }
    }

    /// A `let` or `var` in a loop body that hides a name from outside the
    /// loop: it is new for each item, so the outer one never changes.
    fn shadow_in_loop(&mut self, name: &Ident, is_var: bool, state: &State, flow: &Flow) {
        let n = &name.name;
        let (outer_span, outer_kind) = {
            let frames = flow.frames.borrow();
            let Some(frame) = frames.iter().rev().find(|f| f.is_for) else {
                return;
            };
            let Some(outer) = frame.outer.get(n) else {
                return;
            };
            if state.vars.get(n).map(|b| b.span) != Some(outer.span) {
                return;
            }
            (outer.span, outer.kind)
        };
        let word = if is_var { "var" } else { "let" };
        let help = if outer_kind == BindKind::Var {
            format!(
                "to change the outer `{n}`, assign it without `{word}`: `{n} = ...` or `{n} += ...`; otherwise give this one another name"
            )
        } else {
            format!(
                "to change a value across the items, declare it before the loop with `var {n} = ...` and assign it inside with `{n} = ...` or `{n} += ...`; otherwise give this one another name"
            )
        };
        let mut d = Diagnostic::warning(
            codes::SHADOWED_IN_LOOP,
            format!(
                "this `{word}` makes a new `{n}` for each item; it does not change the outer `{n}`"
            ),
        )
        .at(name.span, format!("a new `{n}`, gone after each item"))
        .help(help);
        if outer_span != Span::default() {
            d = d.also(
                outer_span,
                format!("the outer `{n}`, which the loop leaves unchanged"),
            );
        }
        self.report(d);
    }

    /// `NAME = EXPR` and `NAME += EXPR`: only a `var` may change, never
    /// from inside parallel work, and never to another type.
    fn assign(&mut self, a: &Assign, t: T, mut state: State, flow: &Flow) -> State {
        let n = &a.name.name;
        let Some(b) = state.vars.get(n).cloned() else {
            if flow.declared.contains_key(n) {
                // Declared on another path or later: reported as a read is.
                let read = Expr {
                    kind: ExprKind::Name(a.name.clone()),
                    span: a.name.span,
                };
                self.eval(&read, &state, flow);
            } else {
                let vars: Vec<&str> = state
                    .vars
                    .iter()
                    .filter(|(_, b)| b.kind == BindKind::Var)
                    .map(|(k, _)| k.as_str())
                    .collect();
                let help = match super::suggest(n, vars) {
                    Some(s) => format!("did you mean `{s}`? or declare it first: `var {n} = ...`"),
                    None => format!("declare it first: `var {n} = ...`"),
                };
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        format!("`{n}` is assigned, but no variable has this name here"),
                    )
                    .at(a.name.span, "not declared")
                    .help(help),
                );
            }
            return state;
        };
        if b.kind != BindKind::Var {
            let (what, label, help) = match b.kind {
                BindKind::Param => (
                    "a parameter, which never changes".to_string(),
                    "the parameter",
                    format!("copy it into a variable and change that: `var current = {n}`"),
                ),
                BindKind::Step => (
                    "the result of a step".to_string(),
                    "the step",
                    "a step's name always means its result; keep what you need in a `var` with another name".to_string(),
                ),
                BindKind::Loop => (
                    "the loop variable, which is each item in turn".to_string(),
                    "the loop variable",
                    "keep what you need in a `var` declared before the loop, and assign that".to_string(),
                ),
                BindKind::Mixed => (
                    "bound by different statements on different paths".to_string(),
                    "one of them",
                    format!("declare it once, before the branches: `var {n} = ...`, and assign it in them"),
                ),
                BindKind::Let | BindKind::Var => (
                    "a `let`, which never changes".to_string(),
                    "declared with `let` here",
                    format!("declare it with `var` to change it later: `var {n} = ...`"),
                ),
            };
            let mut d = Diagnostic::error(
                codes::ASSIGN_IMMUTABLE,
                format!("`{n}` cannot be assigned: it is {what}"),
            )
            .at(a.name.span, "assigned here")
            .help(help);
            if b.span != Span::default() {
                d = d.also(b.span, label);
            }
            self.report(d);
            return state;
        }
        let race = flow
            .frames
            .borrow()
            .iter()
            .rev()
            .find(|f| f.parallel && f.outer.get(n).is_some_and(|o| o.span == b.span))
            .map(|f| (f.span, f.is_for, f.results.first().cloned()));
        if let Some((at, is_for, result)) = race {
            let d = if is_for {
                Diagnostic::error(
                    codes::PARALLEL_ASSIGN,
                    format!("`{n}` is changed inside `for ... parallel`, where the items run at once"),
                )
                .at(a.name.span, "items would race to change it")
                .also(at, "items run in parallel")
                .help(match result {
                    Some(r) => format!(
                        "use the loop's result list instead: after the loop `{r}` is the list of every item's result, so change `{n}` from it there (`for r in {r} {{ ... }}`); or drop `parallel` so that the items run in order"
                    ),
                    None => format!(
                        "use the loop's result list instead: after the loop each step of its body is the list of every item's result, so change `{n}` from it there; or drop `parallel` so that the items run in order"
                    ),
                })
            } else {
                Diagnostic::error(
                    codes::PARALLEL_ASSIGN,
                    format!("`{n}` is changed inside a `parallel` branch, where the branches run at once"),
                )
                .at(a.name.span, "branches would race to change it")
                .also(at, "branches run in parallel")
                .help(format!(
                    "let each branch run its step, and change `{n}` after the block from the steps' results"
                ))
            };
            self.report(d);
            return state;
        }
        let target = &b.ty.ty;
        let value = self.program.sources.snippet(a.value.span);
        let value = if value.len() <= 40 && !value.contains('\n') {
            value.to_string()
        } else {
            "...".to_string()
        };
        let problem = match a.op {
            AssignOp::Set if !assignable(&t.ty, target) => Some((
                format!(
                    "`{n}` holds {}, so it cannot take {}",
                    held(target),
                    article(&t.to_string())
                ),
                if *target == Ty::Null {
                    format!("declare the type it will hold: `var {n}: string? = null`")
                } else {
                    "the type of a `var` never changes; convert the value (`string(x)`, `int(x)`), or use another variable".to_string()
                },
            )),
            AssignOp::Add if !add_fits(target, &t.ty) => Some((
                format!(
                    "`+=` cannot add {} to `{n}`, which holds {}",
                    article(&t.to_string()),
                    held(target)
                ),
                match (target, &t.ty) {
                    (Ty::List(e), v) if assignable(v, e) => {
                        format!("append a one-item list: `{n} += [{value}]`")
                    }
                    (Ty::Int, Ty::Float) => format!(
                        "adding a float would make `{n}` a float; declare it `var {n}: float = ...`"
                    ),
                    (Ty::Str, _) => {
                        format!("join text by interpolating the value: `{n} += \"{{{value}}}\"`")
                    }
                    _ => {
                        "`+=` adds numbers, joins strings and appends a list to a list".to_string()
                    }
                },
            )),
            _ => None,
        };
        if let Some((message, help)) = problem {
            let mut d = Diagnostic::error(codes::TYPE_MISMATCH, message)
                .at(a.value.span, format!("this is {}", article(&t.to_string())))
                .help(help);
            if b.span != Span::default() {
                d = d.also(b.span, format!("declared as {} here", held(target)));
            }
            self.report(d);
        }
        if t.secret
            && let Some(bound) = state.vars.get_mut(n)
        {
            bound.ty.secret = true;
        }
        state
    }

    fn eval(&mut self, e: &Expr, state: &State, flow: &Flow) -> T {
        let scope = Scope {
            vars: &state.vars,
            ctx: Ctx::Runbook,
            declared: Some(&flow.declared),
        };
        self.expr(e, &scope)
    }

    pub(super) fn not_secret(&mut self, span: Span, name: &str, declared: Span) {
        self.report(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                format!("`{name}` is a secret, but this value is not"),
            )
            .at(span, "plain text, written in the file")
            .also(declared, "declared `secret` here")
            .help("read it with `secret(\"NAME\")` so that it never sits in the file and is masked wherever it is printed"),
        );
    }

    fn leak(&mut self, secret: bool, span: Span, what: &str) {
        if !secret {
            return;
        }
        let place = match what {
            "log" => "a log line",
            "fail" => "a failure message",
            _ => "the runbook's result",
        };
        self.report(
            Diagnostic::warning(
                codes::SECRET_LEAK,
                format!("a secret flows into {place}"),
            )
            .at(span, "this value is derived from `secret(...)`")
            .help("rbk masks it as `•••` when it prints, so the text would be useless; leave the secret out"),
        );
    }

    fn condition(&mut self, e: &Expr, state: &State, flow: &Flow) {
        let t = self.eval(e, state, flow);
        if !matches!(t.ty, Ty::Bool | Ty::Any) {
            let help = match &t.ty {
                Ty::Optional(inner) if **inner == Ty::Bool => {
                    "give a default: `(x ?? false)`".to_string()
                }
                Ty::Optional(_) => "test for a value: `x != null`".to_string(),
                Ty::Str => "compare it: `x != \"\"` or `x == \"...\"`".to_string(),
                Ty::Int | Ty::Float => "compare it: `x > 0`".to_string(),
                Ty::List(_) => "test its length: `len(x) > 0`".to_string(),
                Ty::Step(_) => "test whether it succeeded: `x.ok`".to_string(),
                Ty::Json => {
                    "say what is meant: `bool(x)` for a JSON true/false, or a comparison such as `x != null`".to_string()
                }
                _ => "a condition is a bool, e.g. a comparison".to_string(),
            };
            self.report(
                Diagnostic::error(
                    codes::CONDITION_NOT_BOOL,
                    format!("a condition must be a bool, found {t}"),
                )
                .at(
                    e.span,
                    format!("this is {}", super::expr::article(&t.to_string())),
                )
                .help(help),
            );
        }
    }

    fn if_stmt(&mut self, i: &If, state: State, flow: &Flow) -> State {
        self.condition(&i.cond, &state, flow);
        // `if x.ok { ... }`: inside, step x succeeded; `if not x.ok` narrows the else.
        let mut then_state = state.clone();
        let mut else_state = state.clone();
        narrow(&i.cond, &mut then_state, &mut else_state);
        let then = self.block(&i.then, then_state, flow, false);
        let otherwise = match &i.otherwise {
            Some(Else::Block(b)) => self.block(b, else_state, flow, false),
            Some(Else::If(s)) => self.stmt(s, else_state, flow),
            None => else_state,
        };
        merge(then, otherwise)
    }

    fn step(&mut self, st: &Step, state: State, flow: &Flow) -> State {
        let scope = Scope {
            vars: &state.vars,
            ctx: Ctx::Runbook,
            declared: Some(&flow.declared),
        };
        let ty = self.call(&st.call, &st.name, &scope);
        flow.steps
            .borrow_mut()
            .insert(st.name.name.clone(), ty.clone());
        let bind = |state: &State, succeeded: bool, unset_by: Option<Span>| -> State {
            let mut s = state.clone();
            let mut t = (*ty).clone();
            t.succeeded = succeeded;
            t.unset_by = unset_by;
            s.vars.insert(
                st.name.name.clone(),
                Binding {
                    ty: T::new(Ty::Step(Rc::new(t))),
                    span: st.name.span,
                    kind: BindKind::Step,
                },
            );
            s
        };
        if let Some(u) = &st.until {
            let polling = bind(&state, true, None);
            self.condition(&u.cond, &polling, flow);
            let every = self.eval(&u.every, &state, flow);
            self.expect_type(u.every.span, &Ty::Duration, &every);
            match &u.max {
                Some(m) => {
                    let mt = self.eval(m, &state, flow);
                    self.expect_type(m.span, &Ty::Int, &mt);
                    if let ExprKind::Int { value, .. } = m.kind
                        && value < 1 {
                            self.report(
                                Diagnostic::error(codes::INVALID_SETTING, "`max` must be at least 1")
                                    .at(m.span, "no attempt would be made")
                                    .help("`max` is the most times the step runs"),
                            );
                        }
                }
                None => self.report(
                    Diagnostic::error(codes::UNBOUNDED_LOOP, "this polling loop has no bound")
                        .at(u.span, "`until` without `max`")
                        .help("add `max N` so the step runs at most N times, e.g. `until done every 5s max 20`"),
                ),
            }
        }
        let success = bind(&state, true, None);
        let Some(arms) = &st.arms else {
            return success;
        };
        let mut out = success;
        let mut catch_all: Option<Span> = None;
        for arm in arms {
            if let Some(prev) = catch_all {
                self.report(
                    Diagnostic::warning(codes::UNREACHABLE, "this arm can never match")
                        .at(arm.span, "unreachable arm")
                        .also(prev, "`_` above already matches every failure")
                        .help("put `_` last"),
                );
            }
            for p in &arm.patterns {
                self.pattern(p);
                if p.kind == PatternKind::Any {
                    catch_all = Some(p.span);
                }
            }
            let failed = bind(&state, false, None);
            let end = self.stmt(&arm.body, failed, flow);
            let end = if end.live {
                // The step's outputs are unset after this arm.
                let mut e = end;
                if let Some(b) = e.vars.get_mut(&st.name.name)
                    && let Ty::Step(s) = &b.ty.ty
                {
                    let mut s2 = (**s).clone();
                    s2.succeeded = false;
                    s2.unset_by = Some(arm.span);
                    b.ty = T::new(Ty::Step(Rc::new(s2)));
                }
                e
            } else {
                end
            };
            out = merge(out, end);
        }
        out
    }

    fn pattern(&mut self, p: &Pattern) {
        let bad = |s: i64| !(100..=599).contains(&s);
        let wrong = match p.kind {
            PatternKind::Status(s) => bad(s),
            PatternKind::Range(a, b) => bad(a) || bad(b) || a > b,
            _ => false,
        };
        if wrong {
            self.report(
                Diagnostic::error(
                    codes::INVALID_PATTERN,
                    "an arm matches an HTTP status (100 to 599) or a range of them",
                )
                .at(p.span, "not a status or status range")
                .help("write e.g. `404 =>`, `500..599 =>`, `timeout =>`, `error =>` or `_ =>`"),
            );
        }
    }

    fn for_stmt(&mut self, f: &For, state: State, flow: &Flow) -> State {
        let item = match &f.iter.kind {
            ExprKind::Call(CallExpr {
                func,
                method: Some(method),
                args,
            }) => {
                let scope = Scope {
                    vars: &state.vars,
                    ctx: Ctx::Runbook,
                    declared: Some(&flow.declared),
                };
                let target = format!("{}.{}", func.name, method.name);
                match self.resolve_method(func, method) {
                    Some(m) => {
                        self.check_args(&m.params, args, f.iter.span, &target, &scope);
                        if !m.items.iter().any(|i| matches!(i, MethodItem::Paginate(_))) {
                            self.report(
                                Diagnostic::error(
                                    codes::MISPLACED_CALL,
                                    format!("`{target}` does not paginate, so there are no pages to loop over"),
                                )
                                .at(f.iter.span, "not a paginated method")
                                .also(m.name.span, "declared without `paginate`")
                                .help("call it in a step (`step page = ...`), or add `paginate ...` to the method"),
                            );
                        }
                        T::new(Ty::Step(Rc::new(StepTy {
                            step: f.var.name.clone(),
                            target,
                            outputs: method_outputs(m),
                            secrets: super::methods::secret_outputs(m),
                            succeeded: true,
                            open: false,
                            unset_by: None,
                        })))
                    }
                    None => {
                        self.args_only(args, &scope);
                        T::any()
                    }
                }
            }
            _ => {
                let t = self.eval(&f.iter, &state, flow);
                match &t.ty {
                    Ty::List(elem) => T::secret((**elem).clone(), t.secret),
                    Ty::Json | Ty::Any => T::secret(t.ty.clone(), t.secret),
                    Ty::Range => T::new(Ty::Int),
                    _ => {
                        self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                format!("`for` loops over a list, found {t}"),
                            )
                            .at(f.iter.span, format!("this is {}", super::expr::article(&t.to_string())))
                            .help("loop over a list (`[json]` output, `split(...)`, `range(n)`) or a paginated method call"),
                        );
                        T::any()
                    }
                }
            }
        };
        if let Some(p) = &f.parallel {
            let t = self.eval(p, &state, flow);
            self.expect_type(p.span, &Ty::Int, &t);
            if let ExprKind::Int { value, .. } = p.kind
                && value < 1
            {
                self.report(
                    Diagnostic::error(codes::INVALID_SETTING, "`parallel` must be at least 1")
                        .at(p.span, "no item would run")
                        .help("`parallel N` runs up to N items at once"),
                );
            }
        }
        let mut inner = state.clone();
        inner.vars.insert(
            f.var.name.clone(),
            Binding {
                ty: item,
                span: f.var.span,
                kind: BindKind::Loop,
            },
        );
        flow.frames.borrow_mut().push(Frame {
            parallel: f.parallel.is_some(),
            is_for: true,
            span: match &f.parallel {
                Some(p) => p.span,
                None => f.var.span.to(f.iter.span),
            },
            outer: state.vars.clone(),
            results: {
                let mut names = Vec::new();
                collect_step_names(&f.body, &mut names);
                names
            },
        });
        let mark = self.diags.len();
        let mut end = self.block(&f.body, inner.clone(), flow, false);
        // An outer `var` that one item taints with a secret is tainted for
        // the items after it: check the body again from there.
        let tainted: Vec<String> = state
            .vars
            .iter()
            .filter(|(k, b)| {
                b.kind == BindKind::Var
                    && !b.ty.secret
                    && end
                        .vars
                        .get(*k)
                        .is_some_and(|e| e.span == b.span && e.ty.secret)
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !tainted.is_empty() {
            self.diags.truncate(mark);
            for k in &tainted {
                if let Some(b) = inner.vars.get_mut(k) {
                    b.ty.secret = true;
                }
            }
            end = self.block(&f.body, inner, flow, false);
        }
        flow.frames.borrow_mut().pop();
        // After the loop each step of the body is the list of its results,
        // and each outer `var` holds what the last item wrote.
        let mut after = state;
        for k in &tainted {
            if let Some(b) = after.vars.get_mut(k) {
                b.ty.secret = true;
            }
        }
        let mut names = Vec::new();
        collect_step_names(&f.body, &mut names);
        for name in names {
            let ty = match end.vars.get(&name).map(|b| &b.ty.ty) {
                Some(Ty::Step(s)) if end.live => Ty::Step(s.clone()),
                _ => match flow.steps.borrow().get(&name) {
                    Some(s) => {
                        let mut s2 = (**s).clone();
                        s2.succeeded = false;
                        Ty::Step(Rc::new(s2))
                    }
                    None => Ty::Any,
                },
            };
            let span = flow
                .declared
                .get(&name)
                .map(|d| d.span)
                .unwrap_or(f.var.span);
            after.vars.insert(
                name,
                Binding {
                    ty: T::new(Ty::List(Box::new(ty))),
                    span,
                    kind: BindKind::Step,
                },
            );
        }
        after
    }
}

/// What a condition proves: `x.ok` (alone, or in a conjunction) means step
/// `x` succeeded where it holds; `not x.ok` means so where it fails.
fn narrow(cond: &Expr, when_true: &mut State, when_false: &mut State) {
    match &cond.kind {
        ExprKind::Paren(inner) => narrow(inner, when_true, when_false),
        ExprKind::Field(base, field) if field.name == "ok" => {
            if let ExprKind::Name(id) = &base.kind {
                mark_succeeded(when_true, &id.name);
            }
        }
        ExprKind::Binary(BinaryOp::Eq, a, b) if matches!(b.kind, ExprKind::Bool(true)) => {
            narrow(a, when_true, when_false)
        }
        ExprKind::Binary(BinaryOp::And, a, b) => {
            let mut ignore = when_false.clone();
            narrow(a, when_true, &mut ignore);
            narrow(b, when_true, &mut ignore);
        }
        ExprKind::Binary(BinaryOp::Or, a, b) => {
            let mut ignore = when_true.clone();
            narrow(a, &mut ignore, when_false);
            narrow(b, &mut ignore, when_false);
        }
        ExprKind::Unary(UnaryOp::Not, inner) => narrow(inner, when_false, when_true),
        _ => {}
    }
}

fn mark_succeeded(state: &mut State, step: &str) {
    if let Some(b) = state.vars.get_mut(step)
        && let Ty::Step(s) = &b.ty.ty
        && !s.succeeded
    {
        let mut s2 = (**s).clone();
        s2.succeeded = true;
        s2.unset_by = None;
        b.ty = T::new(Ty::Step(Rc::new(s2)));
    }
}

/// A var's type in words: "an int", "a list `[string]`".
fn held(ty: &Ty) -> String {
    match ty {
        Ty::List(_) => format!("a list `{ty}`"),
        _ => article(&ty.to_string()),
    }
}

/// Whether `+=` may add a value of type `value` to a var of type `target`
/// without changing its type: numbers, strings, a list to a list.
fn add_fits(target: &Ty, value: &Ty) -> bool {
    match (target, value) {
        (Ty::Any, _) | (_, Ty::Any) | (Ty::Json, _) => true,
        (Ty::Int, Ty::Int | Ty::Json) => true,
        (Ty::Float, Ty::Int | Ty::Float | Ty::Json) => true,
        (Ty::Str, Ty::Str | Ty::Json) => true,
        (Ty::List(_), Ty::Json) => true,
        (Ty::List(e), Ty::List(v)) => assignable(v, e),
        _ => false,
    }
}

/// The state after two paths join.
fn merge(a: State, b: State) -> State {
    if !a.live {
        return b;
    }
    if !b.live {
        return a;
    }
    let mut vars = Vars::new();
    for (k, va) in a.vars {
        let Some(vb) = b.vars.get(&k) else { continue };
        let ty = if va.ty == vb.ty {
            va.ty
        } else {
            match (&va.ty.ty, &vb.ty.ty) {
                (Ty::Step(x), Ty::Step(y)) => {
                    let mut s = (**x).clone();
                    s.succeeded = x.succeeded && y.succeeded;
                    s.unset_by = x.unset_by.or(y.unset_by);
                    T::new(Ty::Step(Rc::new(s)))
                }
                (x, y) => T::secret(super::types::unify(x, y), va.ty.secret || vb.ty.secret),
            }
        };
        vars.insert(
            k,
            Binding {
                ty,
                span: va.span,
                // Paths that bound the name differently leave nothing one
                // assignment could safely change.
                kind: if va.span == vb.span {
                    va.kind
                } else {
                    BindKind::Mixed
                },
            },
        );
    }
    State { vars, live: true }
}

fn collect_step_names(block: &StmtBlock, out: &mut Vec<String>) {
    out.extend(crate::syntax::visit::step_names(&block.stmts));
}

/// The keys a runbook's `return { ... }` statements give, and whether some
/// return gives a value that is not an object (then any field is json).
pub(crate) fn runbook_result(rb: &Runbook) -> (Vec<String>, bool) {
    use crate::syntax::visit::{Visitor, walk_stmt, walk_stmts};
    #[derive(Default)]
    struct Returns {
        keys: Vec<String>,
        open: bool,
    }
    impl Visitor for Returns {
        fn visit_stmt(&mut self, s: &Stmt) {
            match &s.kind {
                StmtKind::Return(Some(e)) => match &e.kind {
                    ExprKind::Object(entries) => {
                        for en in entries {
                            if !self.keys.contains(&en.key.name) {
                                self.keys.push(en.key.name.clone());
                            }
                        }
                    }
                    _ => self.open = true,
                },
                _ => walk_stmt(self, s),
            }
        }
        // Returns are statements: expressions hold none.
        fn visit_expr(&mut self, _: &Expr) {}
    }
    let mut r = Returns::default();
    walk_stmts(&mut r, &rb.body.stmts);
    (r.keys, r.open)
}
