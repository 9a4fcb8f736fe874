//! The statement interpreter, and running one method call.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

use super::auth::Auth;
use super::eval::{EvalError, Vars, eval};
use super::http::{self, Prepared, Transport, bind, prepare, send_once};
use super::outputs::{Response, convert};
use super::retry::retry_after;
use super::value::{StepResult, Value};
use super::{ErrorKind, Exchange, RunError, Runtime};
use crate::check::types::{Ty, resolve_type};
use crate::syntax::ast::*;

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
    /// `GET https://...`, for error messages.
    pub request: String,
}

/// How a statement ended.
pub enum Flow {
    Normal,
    Return(Value),
}

type Res<T> = Result<T, RunError>;

/// Per-step lists of a paged loop, or the value a body returned.
type Pages = (Vec<(String, Vec<Value>)>, Option<Value>);

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

    fn run_runbook<'a>(
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

    fn block<'a>(&'a self, stmts: &'a [Stmt], env: &'a mut Vars) -> BoxFuture<'a, Res<Flow>> {
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

    fn eval(&self, e: &Expr, env: &Vars) -> Res<Value> {
        eval(e, env, &self.cx, None).map_err(|err| self.masked(err.into()))
    }

    fn masked(&self, mut e: RunError) -> RunError {
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
                StmtKind::Step(st) => return self.step(st, env).await,
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
                StmtKind::For(f) => return self.for_loop(f, env).await,
                StmtKind::Parallel(b) => return self.parallel(b, env).await,
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
                        tokio::time::sleep(*d).await;
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

    async fn args(&self, args: &[Arg], env: &Vars) -> Res<Vec<(Option<String>, Value)>> {
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            out.push((
                a.name.as_ref().map(|n| n.name.clone()),
                self.eval(&a.value, env)?,
            ));
        }
        Ok(out)
    }

    async fn step(&self, st: &Step, env: &mut Vars) -> Res<Flow> {
        let args = self.args(&st.call.args, env).await?;
        let target = match &st.call.target {
            CallTarget::Method {
                integration,
                method,
            } => format!("{}.{}", integration.name, method.name),
            CallTarget::Runbook(r) => format!("run {}", r.name),
        };
        let shown = qualified(&st.name.name);
        self.observer.step_started(&shown, &target);
        let max = match &st.until {
            Some(u) => match &u.max {
                Some(m) => match self.eval(m, env)?.reveal() {
                    Value::Int(n) if *n > 0 => *n as u64,
                    _ => 1,
                },
                None => 1,
            },
            None => 1,
        };
        let mut attempt = 0u64;
        let polling_since = Instant::now();
        let mut outcome = loop {
            attempt += 1;
            let outcome = self.call_target(st, &target, args.clone()).await?;
            let Some(u) = &st.until else { break outcome };
            if outcome.failure.is_some() || self.cx.dry_run {
                break outcome;
            }
            let mut probe = env.clone();
            probe.insert(
                st.name.name.clone(),
                Value::Step(Arc::new(outcome.result.clone())),
            );
            let done = self.eval(&u.cond, &probe)?;
            if done.as_bool() == Some(true) {
                break outcome;
            }
            if attempt >= max {
                let mut failed = outcome;
                failed.result.ok = false;
                failed.result.error = Some(format!(
                    "`{}` was still false after {max} attempt{}",
                    self.cx.program.sources.snippet(u.cond.span),
                    if max == 1 { "" } else { "s" }
                ));
                failed.result.error_kind = Some(ErrorKind::PollExhausted);
                failed.failure = Some(Failure::Timeout);
                break failed;
            }
            let every = match self.eval(&u.every, env)?.reveal() {
                Value::Duration(d) => *d,
                _ => Duration::from_secs(1),
            };
            tokio::time::sleep(every).await;
        };
        if st.until.is_some() {
            // A polling step's time covers every call and the waits between.
            outcome.result.elapsed = polling_since.elapsed();
        }
        self.observer
            .step_finished(&shown, &target, &outcome.result);
        let mut result = outcome.result.clone();
        if outcome.failure.is_some() {
            result.outputs.clear();
        }
        env.insert(st.name.name.clone(), Value::Step(Arc::new(result)));
        let Some(failure) = &outcome.failure else {
            return Ok(Flow::Normal);
        };
        if let Some(arms) = &st.arms {
            for arm in arms {
                if arm.patterns.iter().any(|p| matches(p, failure)) {
                    return self.stmt(&arm.body, env).await;
                }
            }
        }
        let reason = outcome
            .result
            .error
            .clone()
            .unwrap_or_else(|| "failed".into());
        Err(RunError {
            message: self.mask(&format!(
                "step `{}` ({}) failed: {reason}",
                st.name.name, outcome.request
            )),
            span: Some(st.name.span),
            step: Some(st.name.name.clone()),
            usage: false,
            kind: outcome.result.error_kind.unwrap_or(ErrorKind::Failed),
        })
    }

    async fn call_target(
        &self,
        st: &Step,
        target: &str,
        args: Vec<(Option<String>, Value)>,
    ) -> Res<Outcome> {
        match &st.call.target {
            CallTarget::Method {
                integration,
                method,
            } => {
                self.call_method(
                    &st.name.name,
                    &integration.name,
                    &method.name,
                    args,
                    st.call.span,
                )
                .await
            }
            CallTarget::Runbook(name) => {
                let program = self.cx.program.clone();
                let rb = program.runbook(&name.name).ok_or_else(|| {
                    RunError::at(name.span, format!("no runbook `{}`", name.name))
                })?;
                let started = Instant::now();
                // Steps of the called runbook are named after it in
                // progress and reports: `child > step`.
                let path = qualified(&rb.name.name);
                let r = RUNBOOK_PATH.scope(path, self.run_runbook(rb, args)).await;
                let elapsed = started.elapsed();
                Ok(match r {
                    Ok(v) => {
                        let outputs = match v.reveal() {
                            Value::Object(fields) => fields.to_vec(),
                            _ => vec![("value".to_string(), v.clone())],
                        };
                        Outcome {
                            result: StepResult {
                                ok: true,
                                status: 0,
                                headers: Vec::new(),
                                body: String::new(),
                                error: None,
                                error_kind: None,
                                elapsed,
                                outputs,
                            },
                            failure: None,
                            request: target.to_string(),
                        }
                    }
                    Err(e) if e.usage => return Err(e),
                    Err(e) => Outcome {
                        result: StepResult {
                            ok: false,
                            status: 0,
                            headers: Vec::new(),
                            body: String::new(),
                            error: Some(e.message),
                            error_kind: Some(e.kind),
                            elapsed,
                            outputs: Vec::new(),
                        },
                        failure: Some(Failure::Error),
                        request: target.to_string(),
                    },
                })
            }
        }
    }

    /// Calls one method: prepare, authorize, send (with retries), take the
    /// outputs. A failure is an [`Outcome`], not an error; an error is a
    /// mistake in the program or its input (a missing secret, say).
    pub async fn call_method(
        &self,
        step: &str,
        integration: &str,
        method: &str,
        args: Vec<(Option<String>, Value)>,
        span: Span,
    ) -> Res<Outcome> {
        let program = self.cx.program.clone();
        let m = program
            .method(integration, method)
            .ok_or_else(|| RunError::at(span, format!("no method `{integration}.{method}`")))?;
        let integ = program
            .integration(integration)
            .ok_or_else(|| RunError::at(span, format!("no integration `{integration}`")))?;
        let vars = bind(&m.params, args, &self.cx, span).map_err(|e| self.masked(e.into()))?;
        let prepared = prepare(&self.cx, integ, m, &vars).map_err(|e| self.masked(e.into()))?;
        let auth =
            Auth::for_method(&self.cx, integ, m, &vars).map_err(|e| self.masked(e.into()))?;
        self.send_and_read(step, integ, m, &vars, prepared, &auth, false)
            .await
    }

    /// Sends and reads the outputs. The step result keeps the response's
    /// body and headers when `keep_body` is set or the program may read
    /// them (see [`Runtime::with_lean_results`]).
    #[allow(clippy::too_many_arguments)]
    async fn send_and_read(
        &self,
        step: &str,
        integ: &Integration,
        m: &Method,
        vars: &Vars,
        prepared: Prepared,
        auth: &Auth,
        keep_body: bool,
    ) -> Res<Outcome> {
        let request = self.mask(&format!("{} {}", prepared.verb.as_str(), prepared.url));
        if self.cx.dry_run {
            let mut shown = prepared.clone();
            if let Ok(client) = self.pool.client(&self.cx, integ, &prepared.method) {
                let env = self.auth_env(integ, &client);
                auth.apply(&mut shown, &env)
                    .await
                    .map_err(|e| self.masked(e.into()))?;
            }
            self.observer.dry_request(step, &self.describe(&shown));
            let mut outs: Vec<(String, Value)> = Vec::new();
            for item in &m.items {
                if let MethodItem::Output(o) = item {
                    for f in &o.fields {
                        outs.push((f.name.name.clone(), Value::Unknown));
                    }
                }
            }
            return Ok(Outcome {
                result: StepResult {
                    ok: true,
                    status: 0,
                    headers: Vec::new(),
                    body: String::new(),
                    error: None,
                    error_kind: None,
                    elapsed: Duration::ZERO,
                    outputs: outs,
                },
                failure: None,
                request,
            });
        }
        let started = Instant::now();
        let response = match self.send(step, integ, &prepared, auth).await? {
            Ok(r) => r,
            Err(t) => {
                let kind = t.kind();
                let (failure, msg) = match t {
                    Transport::Timeout(m) => (Failure::Timeout, format!("timed out: {m}")),
                    Transport::Error(_, m) | Transport::Refused(_, m) => (Failure::Error, m),
                };
                return Ok(Outcome {
                    result: StepResult {
                        ok: false,
                        status: 0,
                        headers: Vec::new(),
                        body: String::new(),
                        error: Some(self.mask(&msg)),
                        error_kind: Some(kind),
                        elapsed: started.elapsed(),
                        outputs: Vec::new(),
                    },
                    failure: Some(failure),
                    request,
                });
            }
        };
        let elapsed = started.elapsed();
        let keep = keep_body || !self.lean_results;
        let mut result = StepResult {
            ok: true,
            status: response.status as i64,
            headers: if keep {
                response.headers.clone()
            } else {
                Vec::new()
            },
            body: if keep { response.text() } else { String::new() },
            error: None,
            error_kind: None,
            elapsed,
            outputs: Vec::new(),
        };
        if !prepared.accepts(response.status) {
            result.ok = false;
            result.error_kind = Some(ErrorKind::HttpStatus);
            result.error = Some(self.mask(&format!(
                "status {} is not one of the expected {}{}",
                response.status,
                expect_text(&prepared.expect),
                body_preview(&response, &self.cx.redactor)
            )));
            return Ok(Outcome {
                result,
                failure: Some(Failure::Status(response.status)),
                request,
            });
        }
        match self.outputs(m, vars, &response) {
            Ok(outs) => result.outputs = outs,
            Err((kind, msg)) => {
                result.ok = false;
                result.error_kind = Some(kind);
                result.error = Some(self.mask(&msg));
                return Ok(Outcome {
                    result,
                    failure: Some(Failure::Status(response.status)),
                    request,
                });
            }
        }
        Ok(Outcome {
            result,
            failure: None,
            request,
        })
    }

    /// Evaluates and converts every declared output.
    fn outputs(
        &self,
        m: &Method,
        vars: &Vars,
        response: &Response,
    ) -> Result<Vec<(String, Value)>, (ErrorKind, String)> {
        let mut out = Vec::new();
        for item in &m.items {
            let MethodItem::Output(block) = item else {
                continue;
            };
            for f in &block.fields {
                let v =
                    eval(&f.value, vars, &self.cx, Some(response)).map_err(|e: EvalError| {
                        (
                            ErrorKind::OutputType,
                            format!("output `{}`: {}", f.name.name, e.message),
                        )
                    })?;
                let v = match &f.ty {
                    Some(t) => {
                        let ty = resolve_type(t).map_err(|id| {
                            (ErrorKind::OutputType, format!("unknown type `{}`", id.name))
                        })?;
                        // A required output that is absent or null is
                        // missing; any other value that does not convert
                        // has the wrong type.
                        let missing = v.is_null() && !matches!(ty.ty, Ty::Optional(_));
                        convert(v, &ty.ty, ty.secret).map_err(|e| {
                            (
                                if missing {
                                    ErrorKind::OutputMissing
                                } else {
                                    ErrorKind::OutputType
                                },
                                format!(
                                    "output `{}` ({}): {e}",
                                    f.name.name,
                                    self.cx.program.sources.snippet(f.value.span)
                                ),
                            )
                        })?
                    }
                    None => v,
                };
                if v.is_secret() {
                    self.cx.redactor.register(&v.to_text());
                }
                out.push((f.name.name.clone(), v));
            }
        }
        Ok(out)
    }

    /// Sends, following redirects (up to [`MAX_REDIRECTS`]) hop by hop:
    /// each hop to the request's own origin is authorized afresh (a new
    /// signature over the body actually sent, the current token); a hop to
    /// another origin carries no auth and none of the method's headers that
    /// hold a secret. A 3xx that the method's `expect` accepts is its
    /// answer, not followed. `Ok(Err(..))` is a transport failure.
    async fn send(
        &self,
        step: &str,
        integ: &Integration,
        unsigned: &Prepared,
        auth: &Auth,
    ) -> Res<Result<Response, Transport>> {
        let no_auth = Auth::None;
        // An absolute URL from a value, on an untrusted origin: as a hop
        // to another origin, no credentials go with it.
        let (first, auth) = if unsigned.foreign {
            let mut bare = unsigned.clone();
            self.strip_credentials(&mut bare);
            (self.send_hop(step, integ, &bare, &no_auth).await?, &no_auth)
        } else {
            (self.send_hop(step, integ, unsigned, auth).await?, auth)
        };
        let mut hop = match redirect_of(unsigned, &first) {
            Some(next) => next,
            None => return Ok(first),
        };
        let own = http::origin_of(&unsigned.url);
        for _ in 0..MAX_REDIRECTS {
            // The request's own origin, or one the integration trusts.
            let same = !unsigned.foreign
                && http::origin_of(&hop.url)
                    .is_some_and(|o| own.as_ref() == Some(&o) || hop.trusted_origins.contains(&o));
            if !same {
                self.strip_credentials(&mut hop);
                // A 307/308 resends the body: never one holding a secret.
                if let Some(b) = &hop.body
                    && self
                        .cx
                        .redactor
                        .contains_secret(&String::from_utf8_lossy(&b.bytes))
                {
                    return Ok(Err(Transport::Error(
                        ErrorKind::HttpRedirect,
                        format!(
                            "not following the redirect to {}: it is another origin, and the request body holds a secret (rbk does not resend a secret to another origin)",
                            self.mask(&hop.url)
                        ),
                    )));
                }
            }
            let r = self
                .send_hop(step, integ, &hop, if same { auth } else { &no_auth })
                .await?;
            match redirect_of(&hop, &r) {
                Some(next) => hop = next,
                None => return Ok(r),
            }
        }
        Ok(Err(Transport::Error(
            ErrorKind::HttpRedirect,
            format!(
                "too many redirects (more than {MAX_REDIRECTS}), last to {}",
                self.mask(&hop.url)
            ),
        )))
    }

    /// Removes what must not reach another origin: authorization, cookies,
    /// and every header whose value came from `secret()` or `env()`.
    fn strip_credentials(&self, p: &mut Prepared) {
        let redactor = &self.cx.redactor;
        p.headers.retain(|(k, v)| {
            !(k.eq_ignore_ascii_case("authorization")
                || k.eq_ignore_ascii_case("cookie")
                || k.eq_ignore_ascii_case("proxy-authorization")
                || redactor.contains_sensitive(v))
        });
    }

    /// Sends one request (no redirects followed) with the retry policy, rate
    /// limits and one resend after a 401; `Ok(Err(..))` is a transport
    /// failure after the last try.
    async fn send_hop(
        &self,
        step: &str,
        integ: &Integration,
        unsigned: &Prepared,
        auth: &Auth,
    ) -> Res<Result<Response, Transport>> {
        if let Some(replay) = &self.replay {
            let mut authorized = unsigned.clone();
            // A token would come from the network; cassettes match on
            // method, URL and body, which a bearer token never changes.
            if !auth.fetches_tokens()
                && let Ok(client) = self.pool.client(&self.cx, integ, &unsigned.method)
            {
                let env = self.auth_env(integ, &client);
                auth.apply(&mut authorized, &env)
                    .await
                    .map_err(|e| self.masked(e.into()))?;
            }
            let p = &authorized;
            let masked = self.masked_request(p);
            // The cassette holds every try of a retried request: answer the
            // retries from it too (without waiting), as the recording went.
            let mut attempt = 0u32;
            let mut reauthorized = false;
            loop {
                attempt += 1;
                let r = replay
                    .answer(&masked.0, &masked.1, &masked.2)
                    .map_err(|msg| RunError {
                        message: msg,
                        span: None,
                        step: Some(step.to_string()),
                        usage: false,
                        kind: ErrorKind::Replay,
                    })?;
                if self.records() {
                    self.record(self.exchange(
                        step,
                        p,
                        r.as_ref().map_err(|t| t.clone()),
                        SystemTime::now(),
                        Duration::ZERO,
                        attempt,
                    ));
                }
                // A recorded 401 that made rbk fetch a new token and resend:
                // the resend is the next recording, replayed the same way.
                if let Ok(resp) = &r
                    && resp.status == 401
                    && auth.fetches_tokens()
                    && !reauthorized
                    && replay.has_unused(&masked.0, &masked.1, &masked.2)
                {
                    reauthorized = true;
                    attempt -= 1;
                    continue;
                }
                let more = p.retry.retries_verb(p.verb) && attempt < p.retry.attempts;
                let retried = match &r {
                    Ok(resp) => more && p.retry.retries_status(resp.status),
                    Err(_) => more,
                };
                if !retried {
                    return Ok(r);
                }
            }
        }
        let client = self
            .pool
            .client(&self.cx, integ, &unsigned.method)
            .map_err(|m| {
                RunError::at(
                    integ.name.span,
                    self.mask(&format!("integration `{}`: {m}", integ.name.name)),
                )
            })?;
        let limit = self.pool.limit(&self.cx, integ);
        let env = self.auth_env(integ, &client);
        let mut attempt = 0u32;
        let mut reauthorized = false;
        loop {
            attempt += 1;
            // Authorize each try afresh: signatures carry timestamps, and a
            // token may have been refreshed.
            let mut authorized = unsigned.clone();
            auth.apply(&mut authorized, &env)
                .await
                .map_err(|e| self.masked(e.into()))?;
            let p = &authorized;
            let _permit = match &limit.concurrency {
                Some(s) => Some(
                    s.clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| RunError::at(integ.name.span, e.to_string()))?,
                ),
                None => None,
            };
            limit.take().await;
            let started_at = SystemTime::now();
            let started = Instant::now();
            let r = send_once(&client, p).await;
            let elapsed = started.elapsed();
            drop(_permit);
            if self.records() {
                self.record(self.exchange(
                    step,
                    p,
                    r.as_ref().map_err(|t| t.clone()),
                    started_at,
                    elapsed,
                    attempt,
                ));
            }
            // A 401 with a token: fetch a new token and resend, once.
            if let Ok(resp) = &r
                && resp.status == 401
                && !reauthorized
                && auth.unauthorized(&env).await
            {
                reauthorized = true;
                attempt -= 1;
                continue;
            }
            let retryable = p.retry.retries_verb(p.verb) && attempt < p.retry.attempts;
            let wait = match &r {
                Ok(resp) if retryable && p.retry.retries_status(resp.status) => Some(
                    resp.header("retry-after")
                        .and_then(|h| retry_after(&h))
                        .map(|d| d.min(p.retry.max_backoff))
                        .unwrap_or_else(|| p.retry.delay(attempt)),
                ),
                Err(Transport::Refused(..)) => None,
                Err(_) if retryable => Some(p.retry.delay(attempt)),
                _ => None,
            };
            match wait {
                Some(w) => {
                    self.observer.note(&format!(
                        "retrying {} {} in {} (attempt {} of {})",
                        p.verb.as_str(),
                        self.mask(&p.url),
                        super::value::format_duration(w),
                        attempt + 1,
                        p.retry.attempts
                    ));
                    tokio::time::sleep(w).await;
                }
                None => return Ok(r),
            }
        }
    }

    fn auth_env<'a>(
        &'a self,
        integ: &'a Integration,
        client: &'a reqwest::Client,
    ) -> super::auth::AuthEnv<'a> {
        super::auth::AuthEnv {
            cx: &self.cx,
            client,
            integration: &integ.name.name,
            tokens: &self.tokens,
            observer: &*self.observer,
        }
    }

    fn masked_request(&self, p: &Prepared) -> (String, String, String) {
        let body = p
            .body
            .as_ref()
            .map(|b| String::from_utf8_lossy(&b.bytes).into_owned())
            .unwrap_or_default();
        (
            p.verb.as_str().to_string(),
            self.mask(&p.url),
            self.mask(&normalise_multipart(&body)),
        )
    }

    fn exchange(
        &self,
        step: &str,
        p: &Prepared,
        r: Result<&Response, Transport>,
        started: SystemTime,
        elapsed: Duration,
        attempt: u32,
    ) -> Exchange {
        let (method, url, body) = self.masked_request(p);
        let mut headers: Vec<(String, String)> = p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), mask_header(k, &self.mask(v))))
            .collect();
        if let Some(b) = &p.body
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), b.content_type.clone()));
        }
        let timed_out = matches!(r, Err(Transport::Timeout(_)));
        let (status, response_headers, response_body, error) = match r {
            Ok(resp) => (
                Some(resp.status),
                resp.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), mask_header(k, &self.mask(v))))
                    .collect(),
                self.mask(&resp.text()),
                None,
            ),
            Err(t) => (
                None,
                Vec::new(),
                String::new(),
                Some(self.mask(t.message())),
            ),
        };
        Exchange {
            timed_out,
            step: step.to_string(),
            method,
            url,
            request_headers: headers,
            request_body: body,
            status,
            response_headers,
            response_body,
            error,
            started,
            elapsed,
            attempt,
        }
    }

    /// A prepared request as text for a dry run (masked).
    fn describe(&self, p: &Prepared) -> String {
        let mut s = format!("{} {}\n", p.verb.as_str(), p.url);
        for (k, v) in &p.headers {
            s.push_str(&format!("{k}: {}\n", mask_header(k, v)));
        }
        if let Some(b) = &p.body {
            s.push_str(&format!("content-type: {}\n\n", b.content_type));
            s.push_str(&String::from_utf8_lossy(&b.bytes));
            s.push('\n');
        }
        self.mask(&s)
    }

    async fn for_loop(&self, f: &For, env: &mut Vars) -> Res<Flow> {
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
        let items = match self.eval(&f.iter, env)? {
            Value::Unknown => vec![Value::Unknown],
            v => match v.reveal() {
                Value::List(items) => items
                    .iter()
                    .map(|i| i.clone().taint(v.is_secret()))
                    .collect(),
                Value::Null => Vec::new(),
                Value::Range(a, b) => (*a..=*b).map(Value::Int).collect(),
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
            let mut per_step: Vec<Vec<Value>> = vec![Vec::new(); steps.len()];
            for item in items {
                let mut local = item_scope(env);
                local.insert(f.var.name.clone(), item);
                let flow = self.block(&f.body.stmts, &mut local).await?;
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
        let count = items.len();
        let futures = items.into_iter().enumerate().map(|(n, item)| {
            let mut local = base.clone();
            local.insert(f.var.name.clone(), item);
            async move {
                let flow = self.block(&f.body.stmts, &mut local).await?;
                Ok::<_, RunError>((n, local, flow))
            }
        });
        // Unordered, so a failure (or a `return`) is seen as soon as it
        // happens: leaving drops the stream, which cancels the bodies still
        // running and starts no new one. Results are put back in item order.
        // Never more at once than there are file descriptors for sockets.
        let parallel = parallel.min(super::client::max_parallel());
        let mut stream = futures_util::stream::iter(futures).buffer_unordered(parallel);
        let mut ends: Vec<Option<Vars>> = vec![None; count];
        while let Some(r) = stream.next().await {
            let (n, local, flow) = r?;
            if let Flow::Return(v) = flow {
                return Ok(Flow::Return(v));
            }
            if let Some(slot) = ends.get_mut(n) {
                *slot = Some(local);
            }
        }
        drop(stream);
        let mut per_step: Vec<Vec<Value>> = vec![Vec::new(); steps.len()];
        for local in ends.into_iter().flatten() {
            for (i, name) in steps.iter().enumerate() {
                if let Some(v) = local.get(name) {
                    per_step[i].push(v.clone());
                }
            }
        }
        for (name, list) in steps.into_iter().zip(per_step) {
            env.insert(name, Value::list(list));
        }
        Ok(Flow::Normal)
    }

    async fn pages(
        &self,
        f: &For,
        env: &mut Vars,
        integration: &str,
        method: &str,
        args: Vec<(Option<String>, Value)>,
        steps: &[String],
    ) -> Res<Pages> {
        let program = self.cx.program.clone();
        let span = f.iter.span;
        let m = program
            .method(integration, method)
            .ok_or_else(|| RunError::at(span, format!("no method `{integration}.{method}`")))?;
        let integ = program
            .integration(integration)
            .ok_or_else(|| RunError::at(span, format!("no integration `{integration}`")))?;
        let paginate = m.items.iter().find_map(|i| match i {
            MethodItem::Paginate(p) => Some(p),
            _ => None,
        });
        let vars = bind(&m.params, args, &self.cx, span).map_err(|e| self.masked(e.into()))?;
        let mut first = prepare(&self.cx, integ, m, &vars).map_err(|e| self.masked(e.into()))?;
        let auth =
            Auth::for_method(&self.cx, integ, m, &vars).map_err(|e| self.masked(e.into()))?;
        let option = |key: &str| -> Option<Value> {
            let block = paginate?.options.as_ref()?;
            match &block.get(key)?.value {
                EntryValue::Expr { value, .. } => eval(value, &vars, &self.cx, None).ok(),
                _ => None,
            }
        };
        let max_pages = match option("max_pages").as_ref().map(Value::reveal) {
            Some(Value::Int(n)) if *n > 0 => *n as usize,
            _ => 100,
        };
        let kind = paginate.map(|p| p.kind.name.as_str()).unwrap_or("");
        let page_param = option("param").map(|v| v.to_text());
        let size = match option("size").as_ref().map(Value::reveal) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let mut page_no = match option("start").as_ref().map(Value::reveal) {
            Some(Value::Int(n)) => *n,
            _ => 1,
        };
        if kind == "page" {
            if let Some(p) = &page_param {
                set_query(&mut first.url, p, &page_no.to_string());
            }
            if let (Some(sp), Some(sz)) = (option("size_param"), size) {
                set_query(&mut first.url, &sp.to_text(), &sz.to_string());
            }
        }
        let writes: Vec<String> = outer_writes(&f.body.stmts)
            .into_iter()
            .filter(|n| env.contains_key(n))
            .collect();
        let mut per_step: Vec<Vec<Value>> = vec![Vec::new(); steps.len()];
        let mut next = Some(first);
        let mut count = 0usize;
        while let Some(unsigned) = next.take() {
            count += 1;
            // The next page is built from the request before auth, so an
            // API key in the query is not added twice.
            let response_req = unsigned.clone();
            let req = unsigned;
            let step_name = qualified(&format!("{}[page {count}]", f.var.name));
            self.observer
                .step_started(&step_name, &format!("{integration}.{method}"));
            let outcome = self
                .send_and_read(&step_name, integ, m, &vars, req, &auth, true)
                .await?;
            self.observer.step_finished(
                &step_name,
                &format!("{integration}.{method}"),
                &outcome.result,
            );
            if outcome.failure.is_some() {
                return Err(RunError {
                    message: self.mask(&format!(
                        "page {count} of `{integration}.{method}` ({}) failed: {}",
                        outcome.request,
                        outcome.result.error.clone().unwrap_or_default()
                    )),
                    span: Some(span),
                    step: Some(step_name),
                    usage: false,
                    kind: outcome.result.error_kind.unwrap_or(ErrorKind::Failed),
                });
            }
            let result = outcome.result;
            // Work out the next page before the body runs.
            if !self.cx.dry_run {
                let response = Response::new(
                    result.status as u16,
                    result.headers.clone(),
                    result.body.clone().into_bytes(),
                );
                let base_url = response_req.url.clone();
                let mut follow = |url: String| {
                    let mut r = response_req.clone();
                    r.url = url;
                    next = Some(r);
                };
                match kind {
                    "next_url" => {
                        if let Some(e) = paginate.and_then(|p| p.value.as_ref()) {
                            let v =
                                eval(e, &vars, &self.cx, Some(&response)).unwrap_or(Value::Null);
                            let t = v.to_text();
                            if !v.is_null() && !t.is_empty() {
                                follow(resolve_url(&base_url, &t));
                            }
                        }
                    }
                    "link_header" => {
                        if let Some(link) = response.header("link").and_then(|l| next_link(&l)) {
                            follow(resolve_url(&base_url, &link));
                        }
                    }
                    "cursor" => {
                        let next_e = paginate
                            .and_then(|p| p.options.as_ref())
                            .and_then(|b| b.get("next"))
                            .and_then(|e| match &e.value {
                                EntryValue::Expr { value, .. } => Some(value),
                                _ => None,
                            });
                        if let (Some(e), Some(param)) = (next_e, &page_param) {
                            let v =
                                eval(e, &vars, &self.cx, Some(&response)).unwrap_or(Value::Null);
                            let t = v.to_text();
                            if !v.is_null() && !t.is_empty() {
                                let mut url = base_url.clone();
                                set_query(&mut url, param, &t);
                                follow(url);
                            }
                        }
                    }
                    "page" => {
                        let items = first_list_len(&result);
                        let full = match (items, size) {
                            (Some(n), Some(sz)) => n as i64 >= sz,
                            (Some(n), None) => n > 0,
                            (None, _) => false,
                        };
                        if full && let Some(p) = &page_param {
                            page_no += 1;
                            let mut url = base_url.clone();
                            set_query(&mut url, p, &page_no.to_string());
                            follow(url);
                        }
                    }
                    _ => {}
                }
                if count >= max_pages && next.take().is_some() {
                    self.observer.note(&format!(
                        "stopped `{integration}.{method}` after {max_pages} pages (max_pages); there are more"
                    ));
                }
            }
            let mut local = item_scope(env);
            local.insert(f.var.name.clone(), Value::Step(Arc::new(result)));
            let flow = self.block(&f.body.stmts, &mut local).await?;
            copy_back(&writes, &local, env);
            if let Flow::Return(v) = flow {
                return Ok((Vec::new(), Some(v)));
            }
            for (i, name) in steps.iter().enumerate() {
                if let Some(v) = local.get(name) {
                    per_step[i].push(v.clone());
                }
            }
        }
        Ok((steps.iter().cloned().zip(per_step).collect(), None))
    }

    async fn parallel(&self, b: &StmtBlock, env: &mut Vars) -> Res<Flow> {
        let base: &Vars = env;
        let mut branches: futures_util::stream::FuturesUnordered<_> = b
            .stmts
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let mut local = base.clone();
                async move {
                    let flow = self.stmt(s, &mut local).await?;
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

tokio::task_local! {
    /// The chain of runbooks called with `run` around the current step
    /// (`parent > child`); unset in the runbook that was started.
    static RUNBOOK_PATH: String;
}

/// `name` prefixed with the runbooks called on the way to it.
fn qualified(name: &str) -> String {
    RUNBOOK_PATH
        .try_with(|p| format!("{p} > {name}"))
        .unwrap_or_else(|_| name.to_string())
}

fn matches(p: &Pattern, failure: &Failure) -> bool {
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
fn as_float(v: Value) -> Value {
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
fn item_scope(env: &Vars) -> Vars {
    let mut local: Vars = env
        .iter()
        .filter(|(k, _)| !k.starts_with(SHADOWED))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    local.insert(IN_ITEM.to_string(), Value::Null);
    local
}

/// Before a `let` or `var` binds `name` in a loop item, keeps the value of
/// the outer `name` it hides (the first time only).
fn shadowing(env: &mut Vars, name: &str) {
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
fn copy_back(names: &[String], local: &Vars, env: &mut Vars) {
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
fn outer_writes(stmts: &[Stmt]) -> Vec<String> {
    fn walk(stmts: &[Stmt], out: &mut Vec<String>) {
        for s in stmts {
            walk_stmt(s, out);
        }
    }
    fn walk_stmt(s: &Stmt, out: &mut Vec<String>) {
        match &s.kind {
            StmtKind::Assign(a) => out.push(a.name.name.clone()),
            StmtKind::Step(st) => {
                for a in st.arms.iter().flatten() {
                    walk_stmt(&a.body, out);
                }
            }
            StmtKind::If(i) => {
                walk(&i.then.stmts, out);
                match &i.otherwise {
                    Some(Else::Block(b)) => walk(&b.stmts, out),
                    Some(Else::If(s)) => walk_stmt(s, out),
                    None => {}
                }
            }
            StmtKind::For(f) => walk(&f.body.stmts, out),
            StmtKind::Parallel(b) | StmtKind::Block(b) => walk(&b.stmts, out),
            StmtKind::Trigger(_)
            | StmtKind::Let(_)
            | StmtKind::Var(_)
            | StmtKind::Wait(_)
            | StmtKind::Log(_)
            | StmtKind::Fail(_)
            | StmtKind::Return(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(stmts, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect_steps(stmts: &[Stmt], out: &mut Vec<String>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Step(st) => {
                out.push(st.name.name.clone());
                for a in st.arms.iter().flatten() {
                    collect_steps(std::slice::from_ref(&a.body), out);
                }
            }
            StmtKind::If(i) => {
                collect_steps(&i.then.stmts, out);
                match &i.otherwise {
                    Some(Else::Block(b)) => collect_steps(&b.stmts, out),
                    Some(Else::If(s)) => collect_steps(std::slice::from_ref(s), out),
                    None => {}
                }
            }
            StmtKind::For(f) => collect_steps(&f.body.stmts, out),
            StmtKind::Parallel(b) | StmtKind::Block(b) => collect_steps(&b.stmts, out),
            _ => {}
        }
    }
}

fn expect_text(ranges: &[(i64, i64)]) -> String {
    ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}..{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The start of a response body for an error message: masked whole before
/// it is cut, so a secret straddling the cut cannot leak its first part.
fn body_preview(r: &Response, redactor: &super::redact::Redactor) -> String {
    let text = redactor.mask(&r.text());
    let t = text.trim();
    if t.is_empty() {
        return String::new();
    }
    let short: String = t.chars().take(200).collect();
    let more = if t.chars().count() > 200 { "…" } else { "" };
    format!("; the body was: {short}{more}")
}

/// Authorization-like headers never appear in traces, even when not secret.
pub fn mask_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    // A dry run's `Bearer <token from URL>` holds no credential: shown.
    if matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
    ) && !(value.contains("<token from ") && value.ends_with('>'))
    {
        super::value::MASK.to_string()
    } else {
        value.to_string()
    }
}

/// Multipart boundaries are random; cassettes compare bodies without them.
pub fn normalise_multipart(body: &str) -> String {
    let mut out = body.to_string();
    while let Some(i) = out.find("rbk-") {
        let end = out[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map(|e| i + e)
            .unwrap_or(out.len());
        if end - i < 20 {
            break;
        }
        out.replace_range(i..end, "BOUNDARY");
    }
    out
}

fn set_query(url: &mut String, key: &str, value: &str) {
    if let Ok(mut u) = reqwest::Url::parse(url) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != key)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair(key, value);
        *url = u.to_string();
    }
}

fn resolve_url(base: &str, next: &str) -> String {
    match reqwest::Url::parse(base).and_then(|b| b.join(next)) {
        Ok(u) => u.to_string(),
        Err(_) => next.to_string(),
    }
}

/// The `rel="next"` target of an RFC 8288 Link header.
pub fn next_link(header: &str) -> Option<String> {
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\""
                || p == "rel=next"
                || (p.starts_with("rel=")
                    && p.split_whitespace()
                        .any(|w| w.trim_matches(|c| c == '"' || c == '=').ends_with("next")))
        });
        if is_next {
            return Some(
                target
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string(),
            );
        }
    }
    None
}

fn first_list_len(r: &StepResult) -> Option<usize> {
    r.outputs.iter().find_map(|(_, v)| match v.reveal() {
        Value::List(l) => Some(l.len()),
        _ => None,
    })
}

/// Redirects followed per request.
pub const MAX_REDIRECTS: usize = 10;

/// The next request when `r` is a redirect to follow: a 301, 302, 303,
/// 307 or 308 with a usable `Location` that the method's `expect` does not
/// accept. 303, and 301/302 after a POST, become a GET without a body (as
/// browsers do); 307 and 308 resend the same method and body.
fn redirect_of(p: &Prepared, r: &Result<Response, Transport>) -> Option<Prepared> {
    let resp = r.as_ref().ok()?;
    if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) || p.accepts(resp.status) {
        return None;
    }
    let location = resp.header("location")?;
    let url = reqwest::Url::parse(&p.url)
        .ok()?
        .join(location.trim())
        .ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut next = p.clone();
    next.url = url.to_string();
    let to_get = resp.status == 303 && p.verb != Verb::Head
        || matches!(resp.status, 301 | 302) && p.verb == Verb::Post;
    if to_get {
        next.verb = Verb::Get;
        next.body = None;
        next.headers.retain(|(k, _)| {
            !(k.eq_ignore_ascii_case("content-type") || k.eq_ignore_ascii_case("content-length"))
        });
    }
    Some(next)
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
    let block = |b: &StmtBlock| b.stmts.iter().any(stmt_reads_body);
    match &s.kind {
        StmtKind::Trigger(t) => {
            t.value.as_ref().is_some_and(expr_reads_body)
                || t.options.as_ref().is_some_and(block_reads_body)
        }
        StmtKind::Let(l) | StmtKind::Var(l) => expr_reads_body(&l.value),
        StmtKind::Assign(a) => expr_reads_body(&a.value),
        StmtKind::Step(st) => {
            st.call.args.iter().any(|a| expr_reads_body(&a.value))
                || st.until.as_ref().is_some_and(|u| {
                    expr_reads_body(&u.cond)
                        || expr_reads_body(&u.every)
                        || u.max.as_ref().is_some_and(expr_reads_body)
                })
                || st
                    .arms
                    .as_ref()
                    .is_some_and(|arms| arms.iter().any(|a| stmt_reads_body(&a.body)))
        }
        StmtKind::If(i) => {
            expr_reads_body(&i.cond)
                || block(&i.then)
                || match &i.otherwise {
                    Some(Else::If(s)) => stmt_reads_body(s),
                    Some(Else::Block(b)) => block(b),
                    None => false,
                }
        }
        StmtKind::For(f) => {
            expr_reads_body(&f.iter)
                || f.parallel.as_ref().is_some_and(expr_reads_body)
                || block(&f.body)
        }
        StmtKind::Parallel(b) | StmtKind::Block(b) => block(b),
        StmtKind::Wait(e) | StmtKind::Log(e) | StmtKind::Fail(e) => expr_reads_body(e),
        StmtKind::Return(e) => e.as_ref().is_some_and(expr_reads_body),
    }
}

fn block_reads_body(b: &Block) -> bool {
    b.entries.iter().any(|e| match &e.value {
        EntryValue::Expr {
            value,
            content_type,
        } => expr_reads_body(value) || content_type.as_ref().is_some_and(expr_reads_body),
        EntryValue::Block { block, .. } => block_reads_body(block),
        EntryValue::Label(_) => false,
    })
}

fn expr_reads_body(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Field(base, name) => {
            name.name == "body" || name.name == "headers" || expr_reads_body(base)
        }
        ExprKind::Str(s) => s.parts.iter().any(|p| match p {
            StrPart::Interp(e) => expr_reads_body(e),
            StrPart::Text(_) => false,
        }),
        ExprKind::List(items) => items.iter().any(expr_reads_body),
        ExprKind::Object(entries) => entries.iter().any(|o| expr_reads_body(&o.value)),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            expr_reads_body(a) || expr_reads_body(b)
        }
        ExprKind::Call(c) => c.args.iter().any(|a| expr_reads_body(&a.value)),
        ExprKind::Unary(_, a) | ExprKind::Paren(a) => expr_reads_body(a),
        ExprKind::Int { .. }
        | ExprKind::Float { .. }
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Duration { .. }
        | ExprKind::Name(_)
        | ExprKind::JsonPath(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let h =
            r#"<https://api.x/repos?page=2>; rel="next", <https://api.x/repos?page=5>; rel="last""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.x/repos?page=2"));
        assert_eq!(
            next_link(r#"<https://api.x/repos?page=5>; rel="last""#),
            None
        );
    }

    fn program(text: &str) -> crate::check::Program {
        let loaded = crate::load::load_source(std::path::Path::new("t.rbk"), text.to_string());
        crate::check::check(loaded).program
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

    #[test]
    fn query_params_are_replaced() {
        let mut u = "http://h/x?a=1&page=1".to_string();
        set_query(&mut u, "page", "2");
        assert_eq!(u, "http://h/x?a=1&page=2");
    }
}
