//! One call: a step's call of a method or runbook, preparing the request,
//! reading the outputs, and the step's result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::Auth;
use super::eval::{EvalError, Vars, eval};
use super::http::{Prepared, Transport, bind, prepare};
use super::outputs::{Response, convert};
use super::value::{StepResult, Value};
use super::{ErrorKind, RunError, Runtime};
use crate::check::types::{Ty, resolve_type};
use crate::syntax::ast::*;

use super::runbook::*;
use super::send::*;

impl Runtime {
    pub(super) async fn step(&self, st: &Step, env: &mut Vars) -> Res<Flow> {
        let mut args = self.args(&st.call.args, env).await?;
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
            // Only a polling step calls again with the same arguments.
            let this = if st.until.is_some() {
                args.clone()
            } else {
                std::mem::take(&mut args)
            };
            let outcome = self.call_target(st, &target, this).await?;
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
            super::durable::wait(every).await?;
        };
        if st.until.is_some() {
            // A polling step's time covers every call and the waits between.
            outcome.result.elapsed = polling_since.elapsed();
        }
        self.observer
            .step_finished(&shown, &target, &outcome.result);
        let Outcome {
            mut result,
            failure,
            request,
        } = outcome;
        let Some(failure) = failure else {
            env.insert(st.name.name.clone(), Value::Step(Arc::new(result)));
            return Ok(Flow::Normal);
        };
        let reason = result.error.clone().unwrap_or_else(|| "failed".into());
        let kind = result.error_kind.unwrap_or(ErrorKind::Failed);
        result.outputs.clear();
        env.insert(st.name.name.clone(), Value::Step(Arc::new(result)));
        if let Some(arms) = &st.arms {
            for arm in arms {
                if arm.patterns.iter().any(|p| matches(p, &failure)) {
                    return self.stmt(&arm.body, env).await;
                }
            }
        }
        // A runbook that runs itself fails through every level with the
        // same words: say them once.
        let prefix = format!("step `{}` ({request}) failed: ", st.name.name);
        let message = if reason.starts_with(&prefix) {
            reason
        } else {
            prefix + &reason
        };
        Err(RunError {
            message: self.mask(&message),
            span: Some(st.name.span),
            step: Some(st.name.name.clone()),
            usage: false,
            kind,
        })
    }

    pub(super) async fn call_target(
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
                let path = entered(&rb.name.name);
                if path.depth > MAX_RUN_DEPTH {
                    return Err(RunError::at(
                        st.call.span,
                        format!(
                            "`run {}` would nest runbooks more than {MAX_RUN_DEPTH} deep",
                            name.name
                        ),
                    )
                    .with_kind(ErrorKind::LimitRunDepth));
                }
                let r = RUNBOOK_PATH.scope(path, self.run_runbook(rb, args)).await;
                let elapsed = started.elapsed();
                Ok(match r {
                    Ok(v) => {
                        let outputs: super::value::Outputs = match v.reveal() {
                            Value::Object(fields) => fields
                                .iter()
                                .map(|(k, v)| (self.name(k), v.clone()))
                                .collect(),
                            _ => smallvec::smallvec![(self.name("value"), v.clone())],
                        };
                        Outcome {
                            result: StepResult {
                                ok: true,
                                status: 0,
                                raw: None,
                                error: None,
                                error_kind: None,
                                elapsed,
                                outputs,
                            },
                            failure: None,
                            request: RequestLine {
                                verb: None,
                                url: target.to_string(),
                            },
                        }
                    }
                    Err(e) if e.usage => return Err(e),
                    Err(e) => Outcome {
                        result: StepResult {
                            ok: false,
                            status: 0,
                            raw: None,
                            error: Some(e.message),
                            error_kind: Some(e.kind),
                            elapsed,
                            outputs: Default::default(),
                        },
                        failure: Some(Failure::Error),
                        request: RequestLine {
                            verb: None,
                            url: target.to_string(),
                        },
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
    pub(super) async fn send_and_read(
        &self,
        step: &str,
        integ: &Integration,
        m: &Method,
        vars: &Vars,
        mut prepared: Prepared,
        auth: &Auth,
        keep_body: bool,
    ) -> Res<Outcome> {
        // `GET https://...` for messages (masked when shown): the URL is
        // moved there, not copied, when the call is done with it.
        let request = |p: Prepared| RequestLine {
            verb: Some(p.verb),
            url: p.url,
        };
        if self.cx.dry_run {
            let mut shown = prepared.clone();
            if let Ok(client) = self.pool.client(&self.cx, integ, &prepared.method) {
                let env = self.auth_env(integ, &client);
                auth.apply(&mut shown, &env)
                    .await
                    .map_err(|e| self.masked(e.into()))?;
            }
            self.observer.dry_request(step, &self.describe(&shown));
            let mut outs = super::value::Outputs::new();
            for item in &m.items {
                if let MethodItem::Output(o) = item {
                    for f in &o.fields {
                        outs.push((self.name(&f.name.name), Value::Unknown));
                    }
                }
            }
            return Ok(Outcome {
                result: StepResult {
                    ok: true,
                    status: 0,
                    raw: None,
                    error: None,
                    error_kind: None,
                    elapsed: Duration::ZERO,
                    outputs: outs,
                },
                failure: None,
                request: request(prepared),
            });
        }
        let started = Instant::now();
        let response = match self
            .send_journaled(step, integ, m, &mut prepared, auth)
            .await?
        {
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
                        raw: None,
                        error: Some(self.mask(&msg)),
                        error_kind: Some(kind),
                        elapsed: started.elapsed(),
                        outputs: Default::default(),
                    },
                    failure: Some(failure),
                    request: request(prepared),
                });
            }
        };
        let elapsed = started.elapsed();
        let keep = keep_body || !self.lean_results;
        let mut result = StepResult {
            ok: true,
            status: response.status as i64,
            raw: keep.then(|| {
                Box::new(super::value::RawResponse {
                    headers: response.headers().to_vec(),
                    body: response.text(),
                })
            }),
            error: None,
            error_kind: None,
            elapsed,
            outputs: Default::default(),
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
                request: request(prepared),
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
                    request: request(prepared),
                });
            }
        }
        Ok(Outcome {
            result,
            failure: None,
            request: request(prepared),
        })
    }

    /// Evaluates and converts every declared output.
    pub(super) fn outputs(
        &self,
        m: &Method,
        vars: &Vars,
        response: &Response,
    ) -> Result<super::value::Outputs, (ErrorKind, String)> {
        if let Some(q) = self.lazy_queries(m) {
            response.prefetch_with(&q);
        }
        // Exactly as many as declared: a step result lives as long as its
        // variable (a loop keeps one per item), so no spare capacity.
        let declared = m
            .items
            .iter()
            .map(|i| match i {
                MethodItem::Output(b) => b.fields.len(),
                _ => 0,
            })
            .sum();
        let mut out = super::value::Outputs::with_capacity(declared);
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
                out.push((self.name(&f.name.name), v));
            }
        }
        Ok(out)
    }

    /// The method's output queries compiled for the lazy walk, once per
    /// method: `None` when they must take the full parse.
    fn lazy_queries(&self, m: &Method) -> Option<Arc<super::outputs::LazyQueries>> {
        let key = m as *const Method as usize;
        let Ok(mut cache) = self.lazy_queries.lock() else {
            return super::outputs::LazyQueries::new(lazy_paths(m)).map(Arc::new);
        };
        cache
            .entry(key)
            .or_insert_with(|| super::outputs::LazyQueries::new(lazy_paths(m)).map(Arc::new))
            .clone()
    }

    /// A prepared request as text for a dry run (masked).
    pub(super) fn describe(&self, p: &Prepared) -> String {
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
}

/// The `$...` queries of a method's outputs, when nothing else in them
/// reads the whole document (`json`, or `jsonpath()` with a computed
/// query): then they can be read from the body without parsing all of it.
fn lazy_paths(m: &Method) -> Vec<String> {
    use crate::syntax::visit::{Visitor, walk_expr};
    #[derive(Default)]
    struct Paths {
        found: Vec<String>,
        whole: bool,
    }
    impl Visitor for Paths {
        fn visit_expr(&mut self, e: &Expr) {
            match &e.kind {
                ExprKind::JsonPath(p) => self.found.push(p.clone()),
                ExprKind::Name(id) if id.name == "json" => self.whole = true,
                ExprKind::Call(c) if c.method.is_none() && c.func.name == "jsonpath" => {
                    self.whole = true
                }
                _ => {}
            }
            walk_expr(self, e);
        }
    }
    let mut p = Paths::default();
    for item in &m.items {
        if let MethodItem::Output(block) = item {
            for f in &block.fields {
                p.visit_expr(&f.value);
            }
        }
    }
    if p.whole { Vec::new() } else { p.found }
}

pub(super) fn expect_text(ranges: &[(i64, i64)]) -> String {
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
pub(super) fn body_preview(r: &Response, redactor: &super::redact::Redactor) -> String {
    let text = redactor.mask(&r.text());
    let t = text.trim();
    if t.is_empty() {
        return String::new();
    }
    let short: String = t.chars().take(200).collect();
    let more = if t.chars().count() > 200 { "…" } else { "" };
    format!("; the body was: {short}{more}")
}
