//! The runtime's journal hook for one run of `rbk serve`: intents before
//! requests, results after, journaled values, and the answers of a
//! re-execution (see `crate::runtime::durable`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::journal::{CallRow, JournalError, StepRow, ValueRow, now_ms};
use super::{Server, Stop};
use crate::runtime::durable::{Before, Intent, Key, RunHook, stopped};
use crate::runtime::http::Transport;
use crate::runtime::outputs::Response;
use crate::runtime::value::StepResult;
use crate::runtime::{ErrorKind, Observer, RunError};

tokio::task_local! {
    /// The run the current task executes (for the step observer).
    pub static CURRENT: Arc<ServeHook>;
}

/// Why a run stopped without an end.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    None,
    Cancel,
    Drain,
    /// A request was cut off in flight and is not safe to send again.
    Attention(String),
}

/// A request's answer as sealed in the journal.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Answer {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    Timeout {
        message: String,
    },
    Error {
        code: String,
        message: String,
        refused: bool,
    },
}

fn kind_of_code(code: &str) -> ErrorKind {
    ErrorKind::ALL
        .iter()
        .copied()
        .find(|k| k.code() == code)
        .unwrap_or(ErrorKind::Http)
}

impl Answer {
    fn of(r: &Result<Response, Transport>) -> Answer {
        match r {
            Ok(resp) => Answer::Response {
                status: resp.status,
                headers: resp.headers().to_vec(),
                body: base64::engine::general_purpose::STANDARD.encode(&resp.body),
            },
            Err(Transport::Timeout(m)) => Answer::Timeout { message: m.clone() },
            Err(Transport::Error(k, m)) => Answer::Error {
                code: k.code().into(),
                message: m.clone(),
                refused: false,
            },
            Err(Transport::Refused(k, m)) => Answer::Error {
                code: k.code().into(),
                message: m.clone(),
                refused: true,
            },
        }
    }

    fn into_result(self) -> Result<Response, Transport> {
        match self {
            Answer::Response {
                status,
                headers,
                body,
            } => Ok(Response::new(
                status,
                headers,
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_default(),
            )),
            Answer::Timeout { message } => Err(Transport::Timeout(message)),
            Answer::Error {
                code,
                message,
                refused,
            } => {
                let k = kind_of_code(&code);
                if refused {
                    Err(Transport::Refused(k, message))
                } else {
                    Err(Transport::Error(k, message))
                }
            }
        }
    }
}

pub struct ServeHook {
    server: Arc<Server>,
    pub id: i64,
    calls: Mutex<HashMap<(String, u32), CallRow>>,
    values: Mutex<HashMap<(String, String, u32), String>>,
    pending: Mutex<Vec<ValueRow>>,
    stop: watch::Receiver<Stop>,
    reason: Mutex<StopReason>,
    /// The seq of the last started step at each path.
    step_seq: Mutex<HashMap<String, u32>>,
}

fn journal_error(e: JournalError) -> RunError {
    RunError::of(ErrorKind::Journal, None, e.0)
}

impl ServeHook {
    /// The hook of run `id` with what the journal holds of it.
    pub async fn load(
        server: Arc<Server>,
        id: i64,
        resumed: bool,
        stop: watch::Receiver<Stop>,
    ) -> Result<ServeHook, JournalError> {
        // A run that journaled nothing yet has nothing to read back.
        let (calls, values) = if resumed {
            (
                server.journal.calls(id).await?,
                server.journal.values(id).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(ServeHook {
            server,
            id,
            calls: Mutex::new(
                calls
                    .into_iter()
                    .map(|c| ((c.path.clone(), c.seq), c))
                    .collect(),
            ),
            values: Mutex::new(
                values
                    .into_iter()
                    .map(|v| ((v.kind, v.path, v.seq), v.value))
                    .collect(),
            ),
            pending: Mutex::new(Vec::new()),
            stop,
            reason: Mutex::new(StopReason::None),
            step_seq: Mutex::new(HashMap::new()),
        })
    }

    pub fn stop_reason(&self) -> StopReason {
        self.reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or(StopReason::None)
    }

    fn set_reason(&self, r: StopReason) {
        if let Ok(mut g) = self.reason.lock() {
            *g = r;
        }
    }

    /// An error when the run must stop now (cancel, drain).
    fn check_stop(&self) -> Result<(), RunError> {
        match *self.stop.borrow() {
            Stop::Go => Ok(()),
            Stop::Cancel => {
                self.set_reason(StopReason::Cancel);
                Err(stopped("the run was cancelled"))
            }
            Stop::Drain => {
                self.set_reason(StopReason::Drain);
                Err(stopped(
                    "the server is stopping; the run continues at the next start",
                ))
            }
        }
    }

    fn take_pending(&self) -> Vec<ValueRow> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    /// Commits values not yet written.
    pub async fn flush(&self) {
        let pending = self.take_pending();
        if !pending.is_empty() {
            let _ = self.server.journal.put_values(self.id, pending).await;
        }
    }

    fn open(&self, sealed: &[u8]) -> Result<Result<Response, Transport>, RunError> {
        let plain = self
            .server
            .sealer
            .open_sealed(sealed)
            .map_err(|e| RunError::of(ErrorKind::Journal, None, e))?;
        let a: Answer = serde_json::from_slice(&plain).map_err(|e| {
            RunError::of(
                ErrorKind::Journal,
                None,
                format!("a journaled answer does not read: {e}"),
            )
        })?;
        Ok(a.into_result())
    }

    async fn send_intent(&self, call: CallRow) -> Result<Before, RunError> {
        let key = call.idem_key.clone();
        let pending = self.take_pending();
        self.server
            .journal
            .intent(self.id, pending, call.clone())
            .await
            .map_err(journal_error)?;
        if let Ok(mut c) = self.calls.lock() {
            c.insert((call.path.clone(), call.seq), call);
        }
        Ok(Before::Send(key))
    }
}

impl RunHook for ServeHook {
    fn value(&self, kind: &str, key: &Key, fresh: String) -> String {
        let k = (kind.to_string(), key.path.clone(), key.seq);
        if let Some(v) = self.values.lock().ok().and_then(|v| v.get(&k).cloned()) {
            return v;
        }
        if let Ok(mut v) = self.values.lock() {
            v.insert(k, fresh.clone());
        }
        if let Ok(mut p) = self.pending.lock() {
            p.push(ValueRow {
                kind: kind.to_string(),
                path: key.path.clone(),
                seq: key.seq,
                value: fresh.clone(),
            });
        }
        fresh
    }

    fn before_send<'a>(
        &'a self,
        key: &'a Key,
        intent: &'a Intent,
    ) -> BoxFuture<'a, Result<Before, RunError>> {
        async move {
            let known = self
                .calls
                .lock()
                .ok()
                .and_then(|c| c.get(&(key.path.clone(), key.seq)).cloned());
            if let Some(row) = known {
                if row.result_at.is_some() {
                    // Completed before: answered from the journal, never resent.
                    return match &row.answer_sealed {
                        Some(sealed) => self.open(sealed).map(|r| Before::Answer(Box::new(r))),
                        None => Ok(Before::Answer(Box::new(Err(Transport::Error(
                            ErrorKind::Journal,
                            "the journal holds no answer for this request".into(),
                        ))))),
                    };
                }
                self.check_stop()?;
                match row.resolution.as_deref() {
                    Some("fail") => {
                        let failure = Err(Transport::Error(
                            ErrorKind::Interrupted,
                            format!(
                                "interrupted: {} {} was cut off in flight and an operator chose `fail`",
                                row.verb, row.url
                            ),
                        ));
                        let mut done = row.clone();
                        done.error = Some("interrupted".into());
                        done.answer_sealed = Some(
                            self.server
                                .sealer
                                .seal(&serde_json::to_vec(&Answer::of(&failure)).unwrap_or_default()),
                        );
                        self.server
                            .journal
                            .result(self.id, done)
                            .await
                            .map_err(journal_error)?;
                        return Ok(Before::Answer(Box::new(failure)));
                    }
                    Some("retry") => {}
                    _ if row.idempotent || row.idem_key.is_some() => {}
                    _ => {
                        self.set_reason(StopReason::Attention(format!(
                            "step `{}`: {} {} was sent but the process stopped before its answer was journaled; it is not idempotent, so rbk does not send it again on its own. Choose `rbk runs resolve {} retry` (send again) or `fail` (the step fails with `interrupted`).",
                            row.step, row.verb, row.url, self.id
                        )));
                        return Err(stopped("a request needs an operator's decision"));
                    }
                }
                return self.send_intent(row).await;
            }
            self.check_stop()?;
            let (idem_header, idem_key) = match &intent.idempotency_key {
                Some((h, k)) => (Some(h.clone()), Some(k.clone())),
                None => (None, None),
            };
            self.send_intent(CallRow {
                path: key.path.clone(),
                seq: key.seq,
                step: intent.step.clone(),
                verb: intent.verb.clone(),
                url: intent.url.clone(),
                idempotent: intent.idempotent,
                idem_header,
                idem_key,
                sends: 1,
                intent_at: now_ms(),
                ..Default::default()
            })
            .await
        }
        .boxed()
    }

    fn after_send<'a>(
        &'a self,
        key: &'a Key,
        result: &'a Result<Response, Transport>,
        elapsed: Duration,
    ) -> BoxFuture<'a, Result<(), RunError>> {
        async move {
            let sealed = self
                .server
                .sealer
                .seal(&serde_json::to_vec(&Answer::of(result)).unwrap_or_default());
            let (status, error) = match result {
                Ok(r) => (Some(r.status), None),
                Err(t) => (None, Some(self.server.mask(t.message()))),
            };
            let mut row = self
                .calls
                .lock()
                .ok()
                .and_then(|c| c.get(&(key.path.clone(), key.seq)).cloned())
                .unwrap_or_default();
            row.path = key.path.clone();
            row.seq = key.seq;
            row.status = status;
            row.error = error;
            row.elapsed_ms = Some(elapsed.as_millis() as i64);
            row.result_at = Some(now_ms());
            row.answer_sealed = Some(sealed);
            self.server
                .metrics
                .step_seconds
                .observe(elapsed.as_secs_f64());
            self.server
                .journal
                .result(self.id, row.clone())
                .await
                .map_err(journal_error)?;
            if let Ok(mut c) = self.calls.lock() {
                c.insert((row.path.clone(), row.seq), row);
            }
            Ok(())
        }
        .boxed()
    }

    fn shared_rate<'a>(
        &'a self,
        integration: &'a str,
        requests: u64,
        per: Duration,
    ) -> Option<BoxFuture<'a, Result<(), RunError>>> {
        if !self.server.journal.shared() {
            return None;
        }
        Some(
            async move {
                loop {
                    self.check_stop()?;
                    match self
                        .server
                        .journal
                        .take_rate(integration, requests, per)
                        .await
                    {
                        Ok(wait) if wait.is_zero() => return Ok(()),
                        Ok(wait) => tokio::time::sleep(wait).await,
                        Err(e) => return Err(RunError::of(ErrorKind::Journal, None, e.0)),
                    }
                }
            }
            .boxed(),
        )
    }

    fn shared_slot<'a>(
        &'a self,
        integration: &'a str,
        slots: u64,
        hold: Duration,
    ) -> Option<BoxFuture<'a, Result<crate::runtime::durable::SharedSlot, RunError>>> {
        if !self.server.journal.shared() {
            return None;
        }
        Some(
            async move {
                let mut pause = Duration::from_millis(5);
                loop {
                    self.check_stop()?;
                    match self
                        .server
                        .journal
                        .take_slot(integration, slots, hold)
                        .await
                    {
                        Ok(Some((slot, token))) => {
                            let journal = self.server.journal.clone();
                            let name = integration.to_string();
                            return Ok(crate::runtime::durable::SharedSlot::new(move || {
                                // Given back after the request, without
                                // holding up the run; a slot not given back
                                // frees itself when its hold runs out.
                                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                                    rt.spawn(async move {
                                        let _ = journal.give_slot(&name, slot, &token).await;
                                    });
                                }
                            }));
                        }
                        Ok(None) => {
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_millis(100));
                        }
                        Err(e) => return Err(RunError::of(ErrorKind::Journal, None, e.0)),
                    }
                }
            }
            .boxed(),
        )
    }

    fn wait_until(&self, deadline: SystemTime) -> BoxFuture<'_, Result<(), RunError>> {
        async move {
            // The deadline is committed before the wait begins.
            self.flush().await;
            let mut stop = self.stop.clone();
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(left) => Ok(()),
                _ = async {
                    loop {
                        if *stop.borrow() != Stop::Go { break; }
                        if stop.changed().await.is_err() { std::future::pending::<()>().await; }
                    }
                } => self.check_stop(),
            }
        }
        .boxed()
    }
}

/// Step events of serve runs: journaled for the page, logged, and sent
/// to live listeners. Outside a serve run it does nothing.
pub struct StepObserver;

impl Observer for StepObserver {
    fn wants_exchanges(&self) -> bool {
        false
    }

    fn log(&self, text: &str) {
        if let Ok(hook) = CURRENT.try_with(|h| h.clone()) {
            let text = hook.server.mask(text);
            hook.server.log.runlog(hook.id, &text);
            hook.server
                .emit(hook.id, "log", serde_json::json!({"text": text}));
        }
    }

    /// Retries and other notes of the runtime, in the run's log lines.
    fn note(&self, text: &str) {
        if let Ok(hook) = CURRENT.try_with(|h| h.clone()) {
            hook.server.log.runlog(hook.id, &hook.server.mask(text));
        }
    }

    fn step_started(&self, step: &str, target: &str) {
        let Ok(hook) = CURRENT.try_with(|h| h.clone()) else {
            return;
        };
        let Some(key) = crate::runtime::durable::next_step_key(step) else {
            return;
        };
        if let Ok(mut s) = hook.step_seq.lock() {
            s.insert(key.path.clone(), key.seq);
        }
        let row = StepRow {
            path: key.path.clone(),
            seq: key.seq,
            name: step.to_string(),
            target: target.to_string(),
            state: "running".into(),
            started_at: now_ms(),
            ..Default::default()
        };
        hook.server.log.step(hook.id, step, "started", target);
        hook.server.emit(
            hook.id,
            "step_started",
            serde_json::json!({"step": step, "path": key.path, "seq": key.seq, "target": target}),
        );
        hook.server.journal.step(hook.id, row);
    }

    fn step_finished(&self, step: &str, target: &str, r: &StepResult) {
        let Ok(hook) = CURRENT.try_with(|h| h.clone()) else {
            return;
        };
        let Some(path) = crate::runtime::durable::step_path(step) else {
            return;
        };
        let seq = hook
            .step_seq
            .lock()
            .ok()
            .and_then(|s| s.get(&path).copied())
            .unwrap_or(0);
        let outputs = serde_json::Value::Object(
            r.outputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_json(false)))
                .collect(),
        );
        let outputs = serde_json::from_str(&hook.server.mask(&outputs.to_string())).ok();
        let state = if r.ok { "succeeded" } else { "failed" };
        let error = r.error.as_ref().map(|e| hook.server.mask(e));
        let row = StepRow {
            path: path.clone(),
            seq,
            name: step.to_string(),
            target: target.to_string(),
            state: state.into(),
            started_at: now_ms(),
            finished_at: Some(now_ms()),
            status: Some(r.status),
            outputs,
            error: error.clone(),
        };
        hook.server.log.step(
            hook.id,
            step,
            state,
            &error
                .clone()
                .unwrap_or_else(|| format!("status {}", r.status)),
        );
        hook.server.emit(
            hook.id,
            "step_finished",
            serde_json::json!({"step": step, "path": path, "seq": seq, "state": state, "status": r.status, "error": error}),
        );
        hook.server.journal.step(hook.id, row);
    }
}
