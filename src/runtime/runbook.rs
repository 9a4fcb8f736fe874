//! The statement interpreter: runbooks, statements, loops and `parallel`.
//! One `impl Runtime` is spread over files by concern: a call step is in
//! `call.rs`, sending (retries, the 401 resend, redirects, replay) in
//! `send.rs`, paginated loops in `pages.rs`.

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

use super::eval::{Vars, eval};
use super::http::bind;
use super::value::{StepResult, Value};
use super::{ErrorKind, RunError, Runtime};
use crate::check::types::{Ty, resolve_type};
use crate::syntax::ast::*;
use crate::syntax::visit::{Visitor, walk_expr, walk_stmt, walk_stmts};

/// Why a call did not succeed; else arms match on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The status was not in `expect` (or an output did not convert).
    Status(u16),
    Timeout,
    Error,
}

/// A call's result and, when it failed, why.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: StepResult,
    pub failure: Option<Failure>,
    /// `GET https://...`, for error messages (not masked: mask the message).
    pub request: RequestLine,
}

/// A call's verb and URL (or a runbook call's target), shown in messages.
#[derive(Debug, Clone, Default)]
pub struct RequestLine {
    pub verb: Option<Verb>,
    pub url: String,
}

impl std::fmt::Display for RequestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.verb {
            Some(v) => write!(f, "{} {}", v.as_str(), self.url),
            None => f.write_str(&self.url),
        }
    }
}

/// How a statement ended.
pub enum Flow {
    Normal,
    Return(Value),
}

pub(super) type Res<T> = Result<T, RunError>;

/// Per-step lists of a paged loop, or the value a body returned.
pub(super) type Pages = (Vec<(String, Vec<Value>)>, Option<Value>);

impl Runtime {
    /// Runs a runbook by name with `(name, value)` arguments; its result is
    /// the object it returns (`{}` when it returns nothing).
    pub async fn run(&self, name: &str, args: Vec<(Option<String>, Value)>) -> Res<Value> {
        let program = self.cx.program.clone();
        let rb = program
            .runbook(name)
            .ok_or_else(|| RunError::usage(format!("there is no runbook `{name}`")))?;
        self.run_runbook(rb, args).await
    }

    pub(super) fn run_runbook<'a>(
        &'a self,
        rb: &'a Runbook,
        args: Vec<(Option<String>, Value)>,
    ) -> BoxFuture<'a, Res<Value>> {
        async move {
            let mut env = bind(&rb.params, args, &self.cx, rb.name.span)?;
            match self.block(&rb.body.stmts, &mut env).await? {
                Flow::Return(v) => Ok(v),
                Flow::Normal => Ok(Value::object(Vec::new())),
            }
        }
        .boxed()
    }

    pub(super) fn block<'a>(
        &'a self,
        stmts: &'a [Stmt],
        env: &'a mut Vars,
    ) -> BoxFuture<'a, Res<Flow>> {
        async move {
            for s in stmts {
                if let Flow::Return(v) = self.stmt(s, env).await? {
                    return Ok(Flow::Return(v));
                }
            }
            Ok(Flow::Normal)
        }
        .boxed()
    }

    pub(super) fn eval(&self, e: &Expr, env: &Vars) -> Res<Value> {
        eval(e, env, &self.cx, None).map_err(|err| self.masked(err.into()))
    }

    pub(super) fn masked(&self, mut e: RunError) -> RunError {
        e.message = self.mask(&e.message);
        e
    }

    /// Runs one statement in `env` (the REPL runs its inputs through this).
    pub fn stmt<'a>(&'a self, s: &'a Stmt, env: &'a mut Vars) -> BoxFuture<'a, Res<Flow>> {
        async move {
            self.count_statement(s.span)?;
            match &s.kind {
                StmtKind::Trigger(_) => {}
                StmtKind::Let(l) => {
                    let v = self.eval(&l.value, env)?;
                    shadowing(env, &l.name.name);
                    env.insert(l.name.name.clone(), v);
                }
                StmtKind::Var(l) => {
                    let v = self.eval(&l.value, env)?;
                    shadowing(env, &l.name.name);
                    // A `var` keeps its type: one declared float stays a float.
                    let declared_float =
                        l.ty.as_ref()
                            .and_then(|t| resolve_type(t).ok())
                            .is_some_and(|t| t.ty == Ty::Float);
                    let v = if declared_float { as_float(v) } else { v };
                    env.insert(l.name.name.clone(), v);
                }
                StmtKind::Assign(a) => {
                    let v = match a.op {
                        AssignOp::Set => self.eval(&a.value, env)?,
                        AssignOp::Add => {
                            let sum = Expr {
                                kind: ExprKind::Binary(
                                    BinaryOp::Add,
                                    Box::new(Expr {
                                        kind: ExprKind::Name(a.name.clone()),
                                        span: a.name.span,
                                    }),
                                    Box::new(a.value.clone()),
                                ),
                                span: s.span,
                            };
                            self.eval(&sum, env)?
                        }
                    };
                    let v = match env.get(&a.name.name).map(Value::reveal) {
                        Some(Value::Float(_)) => as_float(v),
                        _ => v,
                    };
                    env.insert(a.name.name.clone(), v);
                }
                // The large futures (a call, a loop) are boxed on their own, so
                // that this one stays small: it is created, and moved to the
                // heap, for every statement that runs.
                StmtKind::Step(st) => return Box::pin(self.step(st, env)).await,
                StmtKind::If(i) => {
                    let c = self.eval(&i.cond, env)?;
                    match c.as_bool() {
                        Some(true) => return self.block(&i.then.stmts, env).await,
                        Some(false) => {
                            return match &i.otherwise {
                                Some(Else::Block(b)) => self.block(&b.stmts, env).await,
                                Some(Else::If(s)) => self.stmt(s, env).await,
                                None => Ok(Flow::Normal),
                            };
                        }
                        None if matches!(c, Value::Unknown) => {
                            self.observer.note(&format!(
                                "condition `{}` depends on a response: showing both branches",
                                self.cx.program.sources.snippet(i.cond.span)
                            ));
                            let mut other = env.clone();
                            self.block(&i.then.stmts, env).await?;
                            match &i.otherwise {
                                Some(Else::Block(b)) => {
                                    self.block(&b.stmts, &mut other).await?;
                                }
                                Some(Else::If(s)) => {
                                    self.stmt(s, &mut other).await?;
                                }
                                None => {}
                            }
                        }
                        None => {
                            return Err(RunError::of(
                                ErrorKind::Eval,
                                Some(i.cond.span),
                                format!("the condition is a {}, not a bool", c.type_name()),
                            ));
                        }
                    }
                }
                StmtKind::For(f) => return Box::pin(self.for_loop(f, env)).await,
                StmtKind::Parallel(b) => return Box::pin(self.parallel(b, env)).await,
                StmtKind::Block(b) => return self.block(&b.stmts, env).await,
                StmtKind::Wait(e) => {
                    let v = self.eval(e, env)?;
                    let Value::Duration(d) = v.reveal() else {
                        return Err(RunError::of(
                            ErrorKind::Eval,
                            Some(e.span),
                            "wait takes a duration",
                        ));
                    };
                    if !self.cx.dry_run {
                        super::durable::wait(*d).await?;
                    }
                }
                StmtKind::Log(e) => {
                    let v = self.eval(e, env)?;
                    self.observer.log(&self.mask(&v.to_string()));
                }
                StmtKind::Fail(e) => {
                    let v = self.eval(e, env)?;
                    return Err(RunError::of(
                        ErrorKind::RunbookFail,
                        Some(e.span),
                        self.mask(&v.to_string()),
                    ));
                }
                StmtKind::Return(v) => {
                    let value = match v {
                        Some(e) => self.eval(e, env)?,
                        None => Value::object(Vec::new()),
                    };
                    return Ok(Flow::Return(value));
                }
            }
            Ok(Flow::Normal)
        }
        .boxed()
    }

    pub(super) async fn args(&self, args: &[Arg], env: &Vars) -> Res<Vec<(Option<String>, Value)>> {
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            out.push((
                a.name.as_ref().map(|n| n.name.clone()),
                self.eval(&a.value, env)?,
            ));
        }
        Ok(out)
    }

    pub(super) async fn for_loop(&self, f: &For, env: &mut Vars) -> Res<Flow> {
        let parallel = match &f.parallel {
            Some(p) => match self.eval(p, env)?.reveal() {
                Value::Int(n) if *n > 0 => *n as usize,
                _ => 1,
            },
            None => 1,
        };
        let mut steps = Vec::new();
        collect_steps(&f.body.stmts, &mut steps);
        // A paginated method: one iteration per page, in order.
        if let ExprKind::Call(CallExpr {
            func,
            method: Some(method),
            args,
        }) = &f.iter.kind
        {
            let args = self.args(args, env).await?;
            let (results, returned) = self
                .pages(f, env, &func.name, &method.name, args, &steps)
                .await?;
            if let Some(v) = returned {
                return Ok(Flow::Return(v));
            }
            for (name, list) in results {
                env.insert(name, Value::list(list));
            }
            return Ok(Flow::Normal);
        }
        // The items one by one: a `range` is never built as a list, and a
        // list's items are cloned as they are reached.
        let iterated = match self.lazy_range(&f.iter, env)? {
            Some((a, b)) if b > a => Value::Range(a, b - 1),
            Some(_) => Value::Null,
            None => self.eval(&f.iter, env)?,
        };
        let (count, items): (usize, Box<dyn Iterator<Item = Value> + Send>) = match iterated {
            Value::Unknown => (1, Box::new(std::iter::once(Value::Unknown))),
            v => match v.reveal() {
                Value::List(items) => {
                    // Once for the list, not once per item: `is_secret`
                    // looks through the whole list.
                    let secret = v.is_secret();
                    let list = items.clone();
                    (
                        list.len(),
                        Box::new((0..list.len()).map(move |i| list[i].clone().taint(secret))),
                    )
                }
                Value::Null => (0, Box::new(std::iter::empty())),
                Value::Range(a, b) => {
                    let (a, b) = (*a, *b);
                    let n = if b >= a {
                        usize::try_from(b.abs_diff(a)).map_or(usize::MAX, |d| d.saturating_add(1))
                    } else {
                        0
                    };
                    (n, Box::new((a..=b).map(Value::Int)))
                }
                other => {
                    return Err(RunError::of(
                        ErrorKind::Eval,
                        Some(f.iter.span),
                        format!("`for` needs a list, found a {}", other.type_name()),
                    ));
                }
            },
        };
        // The outer `var`s the body assigns: a sequential loop sees each
        // item's changes in the next, and keeps the last value after it.
        let writes: Vec<String> = outer_writes(&f.body.stmts)
            .into_iter()
            .filter(|n| env.contains_key(n))
            .collect();
        if f.parallel.is_none() {
            // A list per step, sized once (a long loop's results are most of
            // its memory: no doubling slack).
            let mut per_step: Vec<Vec<Value>> = (0..steps.len())
                .map(|_| Vec::with_capacity(count.min(1 << 20)))
                .collect();
            for (n, item) in items.enumerate() {
                let mut local = item_scope(env, 1 + steps.len());
                local.insert(f.var.name.clone(), item);
                let flow = super::durable::within(n, self.block(&f.body.stmts, &mut local)).await?;
                copy_back(&writes, &local, env);
                if let Flow::Return(v) = flow {
                    return Ok(Flow::Return(v));
                }
                for (i, name) in steps.iter().enumerate() {
                    if let Some(v) = local.get(name) {
                        per_step[i].push(v.clone());
                    }
                }
            }
            for (name, list) in steps.into_iter().zip(per_step) {
                env.insert(name, Value::list(list));
            }
            return Ok(Flow::Normal);
        }
        let base: &Vars = env;
        // Room for the loop variable and the steps: no table grown per item.
        let room = base.len() + 1 + steps.len();
        let futures = items.enumerate().map(|(n, item)| {
            let mut local = Vars::with_capacity(room);
            local.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
            local.insert(f.var.name.clone(), item);
            async move {
                let flow = super::durable::within(n, self.block(&f.body.stmts, &mut local)).await?;
                Ok::<_, RunError>((n, local, flow))
            }
        });
        // Unordered, so a failure (or a `return`) is seen as soon as it
        // happens: leaving drops the stream, which cancels the bodies still
        // running and starts no new one. Results are put back in item order.
        // Never more at once than there are file descriptors for sockets.
        let parallel = parallel.min(super::client::max_parallel());
        let mut stream = futures_util::stream::iter(futures).buffer_unordered(parallel);
        // Only the steps' values are kept of a finished item, not its scope.
        // Slots in item order, sized once (grown only if the count was
        // capped).
        let mut per_step: Vec<Vec<Option<Value>>> = (0..steps.len())
            .map(|_| vec![None; count.min(1 << 20)])
            .collect();
        while let Some(r) = stream.next().await {
            let (n, mut local, flow) = r?;
            if let Flow::Return(v) = flow {
                return Ok(Flow::Return(v));
            }
            for (i, name) in steps.iter().enumerate() {
                let slots = &mut per_step[i];
                if n >= slots.len() {
                    slots.resize(n + 1, None);
                }
                slots[n] = local.remove(name);
            }
        }
        drop(stream);
        for (name, list) in steps.into_iter().zip(per_step) {
            // In place: the slots become the list (no second copy at the
            // peak); `filter_map` is one of the adapters std collects in place.
            #[allow(clippy::filter_map_identity)]
            let values: Vec<Value> = list.into_iter().filter_map(|v| v).collect();
            env.insert(name, Value::list(values));
        }
        Ok(Flow::Normal)
    }

    /// `for i in range(...)` over plain ints: the bounds `[from, to)`,
    /// without building the list `range()` would give (a loop over 100,000
    /// items does not hold 100,000 ints first). `None` for anything else,
    /// evaluated as usual (with `range()`'s own errors).
    fn lazy_range(&self, e: &Expr, env: &Vars) -> Res<Option<(i64, i64)>> {
        let ExprKind::Call(CallExpr {
            func,
            method: None,
            args,
        }) = &e.kind
        else {
            return Ok(None);
        };
        if func.name != "range" || args.iter().any(|a| a.name.is_some()) {
            return Ok(None);
        }
        let mut ints = Vec::with_capacity(2);
        for a in args {
            match self.eval(&a.value, env)? {
                Value::Int(n) => ints.push(n),
                _ => return Ok(None),
            }
        }
        let (from, to) = match ints[..] {
            [n] => (0, n),
            [a, b] => (a, b),
            _ => return Ok(None),
        };
        // Over `range()`'s limit: evaluated as usual, for its error.
        Ok((to.saturating_sub(from) <= super::eval::MAX_RANGE_ITEMS).then_some((from, to)))
    }

    pub(super) async fn parallel(&self, b: &StmtBlock, env: &mut Vars) -> Res<Flow> {
        let base: &Vars = env;
        let mut branches: futures_util::stream::FuturesUnordered<_> = b
            .stmts
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let mut local = base.clone();
                async move {
                    let flow =
                        super::durable::within(format!("p{n}"), self.stmt(s, &mut local)).await?;
                    Ok::<_, RunError>((n, local, flow))
                }
            })
            .collect();
        // The first failure or `return` ends the block; dropping the other
        // branches cancels them. Otherwise the branches join in order.
        let mut ends: Vec<Option<Vars>> = vec![None; b.stmts.len()];
        while let Some(r) = branches.next().await {
            let (n, local, flow) = r?;
            if let Flow::Return(v) = flow {
                return Ok(Flow::Return(v));
            }
            if let Some(slot) = ends.get_mut(n) {
                *slot = Some(local);
            }
        }
        drop(branches);
        for local in ends.into_iter().flatten() {
            for (k, v) in local {
                let changed = env.get(&k).is_none_or(|old| *old != v);
                if changed {
                    env.insert(k, v);
                }
            }
        }
        Ok(Flow::Normal)
    }
}

/// The chain of runbooks called with `run` around the current step.
pub(super) struct RunbookPath {
    /// `parent > child`, for progress and reports.
    pub text: String,
    /// How many `run`s deep (1 in a runbook the started one ran).
    pub depth: u32,
}

tokio::task_local! {
    /// Unset in the runbook that was started.
    pub(super) static RUNBOOK_PATH: RunbookPath;
}

/// How deep `run` may nest: a runbook may run itself (a tree walked
/// level by level), but each level takes stack, and a recursion that
/// never ends must stop with an error, not exhaust it.
pub const MAX_RUN_DEPTH: u32 = 100;

/// `name` prefixed with the runbooks called on the way to it.
pub(super) fn qualified(name: &str) -> String {
    RUNBOOK_PATH
        .try_with(|p| format!("{} > {name}", p.text))
        .unwrap_or_else(|_| name.to_string())
}

/// The path inside a `run` of `name`. A runbook that runs itself counts
/// its levels (`walk ×3`) instead of repeating its name.
pub(super) fn entered(name: &str) -> RunbookPath {
    match RUNBOOK_PATH.try_with(|p| (deeper(&p.text, name), p.depth + 1)) {
        Ok((text, depth)) => RunbookPath { text, depth },
        Err(_) => RunbookPath {
            text: name.to_string(),
            depth: 1,
        },
    }
}

fn deeper(path: &str, name: &str) -> String {
    let (head, last) = match path.rsplit_once(" > ") {
        Some((head, last)) => (Some(head), last),
        None => (None, path),
    };
    let (base, times) = match last.rsplit_once(" ×") {
        Some((base, n)) => (base, n.parse::<u32>().unwrap_or(1)),
        None => (last, 1),
    };
    if base != name {
        return format!("{path} > {name}");
    }
    match head {
        Some(head) => format!("{head} > {name} ×{}", times + 1),
        None => format!("{name} ×{}", times + 1),
    }
}

pub(super) fn matches(p: &Pattern, failure: &Failure) -> bool {
    match (&p.kind, failure) {
        (PatternKind::Any, _) => true,
        (PatternKind::Status(s), Failure::Status(code)) => *s == *code as i64,
        (PatternKind::Range(a, b), Failure::Status(code)) => (*a..=*b).contains(&(*code as i64)),
        (PatternKind::Timeout, Failure::Timeout) => true,
        (PatternKind::Error, Failure::Error) => true,
        _ => false,
    }
}

/// An int as a float (secret taint kept); any other value as it is.
pub(super) fn as_float(v: Value) -> Value {
    match v.reveal() {
        Value::Int(n) => Value::Float(*n as f64).taint(v.is_secret()),
        _ => v,
    }
}

/// Marks a loop item's scope (see [`item_scope`]).
const IN_ITEM: &str = "\0item";

/// Prefixes the value an outer name had when the item shadowed it.
const SHADOWED: &str = "\0shadowed:";

/// The scope of one item of a sequential loop: the scope around the loop,
/// marked so that a `let` or `var` that hides an outer name keeps the outer
/// value for [`copy_back`] (the item's marks from an enclosing loop dropped).
/// `room`: how many more names the item binds (no table grown per item).
pub(super) fn item_scope(env: &Vars, room: usize) -> Vars {
    let mut local = Vars::with_capacity(env.len() + 1 + room);
    local.extend(
        env.iter()
            .filter(|(k, _)| !k.starts_with(SHADOWED))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    local.insert(IN_ITEM.to_string(), Value::Null);
    local
}

/// Before a `let` or `var` binds `name` in a loop item, keeps the value of
/// the outer `name` it hides (the first time only).
pub(super) fn shadowing(env: &mut Vars, name: &str) {
    if !env.contains_key(IN_ITEM) {
        return;
    }
    if let Some(old) = env.get(name).cloned() {
        env.entry(format!("{SHADOWED}{name}")).or_insert(old);
    }
}

/// Copies the outer `var`s `names` from a loop item's scope to the scope
/// around the loop: their value before the item hid them with its own
/// `let` or `var`, or else their last value.
pub(super) fn copy_back(names: &[String], local: &Vars, env: &mut Vars) {
    for name in names {
        let v = local
            .get(&format!("{SHADOWED}{name}"))
            .or_else(|| local.get(name));
        if let Some(v) = v {
            env.insert(name.clone(), v.clone());
        }
    }
}

/// The names a loop body assigns (`x = ...`, `x += ...`), at any depth.
pub(super) fn outer_writes(stmts: &[Stmt]) -> Vec<String> {
    struct Writes(Vec<String>);
    impl Visitor for Writes {
        fn visit_stmt(&mut self, s: &Stmt) {
            if let StmtKind::Assign(a) = &s.kind {
                self.0.push(a.name.name.clone());
            }
            walk_stmt(self, s);
        }
        // Assignments are statements: no need to look into expressions.
        fn visit_expr(&mut self, _: &Expr) {}
    }
    let mut w = Writes(Vec::new());
    walk_stmts(&mut w, stmts);
    w.0.sort();
    w.0.dedup();
    w.0
}

/// The names of the steps in `stmts`, at any depth, in order.
pub(super) fn collect_steps(stmts: &[Stmt], out: &mut Vec<String>) {
    out.extend(crate::syntax::visit::step_names(stmts));
}

/// True when some runbook of the program may read a step result's `body`
/// or `headers` (any `.body` or `.headers` field access, conservatively).
/// When none does, step results need not keep them.
pub fn reads_step_bodies(program: &crate::check::Program) -> bool {
    program
        .runbooks
        .keys()
        .filter_map(|name| program.runbook(name))
        .any(|rb| rb.body.stmts.iter().any(stmt_reads_body))
}

fn stmt_reads_body(s: &Stmt) -> bool {
    /// Finds a `.body` or `.headers` field access.
    struct Reads(bool);
    impl Visitor for Reads {
        fn visit_expr(&mut self, e: &Expr) {
            if let ExprKind::Field(_, name) = &e.kind
                && (name.name == "body" || name.name == "headers")
            {
                self.0 = true;
            }
            if !self.0 {
                walk_expr(self, e);
            }
        }
    }
    let mut r = Reads(false);
    r.visit_stmt(s);
    r.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(text: &str) -> crate::check::Program {
        let loaded = crate::load::load_source(std::path::Path::new("t.rbk"), text.to_string());
        crate::check::check(loaded).program
    }

    #[test]
    fn a_runbook_that_runs_itself_counts_its_levels_in_the_path() {
        assert_eq!(deeper("main", "walk"), "main > walk");
        assert_eq!(deeper("main > walk", "walk"), "main > walk ×2");
        assert_eq!(deeper("main > walk ×2", "walk"), "main > walk ×3");
        assert_eq!(deeper("walk ×9", "walk"), "walk ×10");
        assert_eq!(deeper("walk", "walk"), "walk ×2");
        assert_eq!(deeper("a > b", "a"), "a > b > a");
    }

    #[test]
    fn bodies_are_kept_only_for_programs_that_read_them() {
        let base = r#"
integration api { base_url = "https://x" }
method api.get() { GET "/" }
runbook main() {
  step r = api.get()
  for i in range(3) {
    step s = api.get()
  }
  BODY
}
"#;
        let p = |line: &str| reads_step_bodies(&program(&base.replace("BODY", line)));
        assert!(!p("return { status: r.status, n: len(s) }"));
        assert!(p("log r.body"));
        assert!(p("return { h: s[0].headers }"));
        assert!(p("if r.ok { log \"{r.body}\" }"));
        assert!(p(
            "run other()\n}\nrunbook other() {\n  step t = api.get()\n  log t.body"
        ));
    }
}
