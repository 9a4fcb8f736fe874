//! The hook through which a durable journal (`rbk serve`) sees a run: the
//! intent of each request before it is sent and its result after, the
//! values that differ between executions (`now()`, `uuid()`, a `wait`'s
//! deadline), and the points where a run may stop (cancel, drain).
//!
//! The runtime knows nothing of databases: a run executed under
//! [`scope`] consults the [`RunHook`] of that scope; outside one (`rbk
//! run`, the REPL) every function here does what the runtime did before.
//! Calls and values are named by a [`Key`]: the path of the statement (the
//! runbooks called on the way, the loop items and `parallel` branches) and
//! a counter per path, so that a re-execution from the start names every
//! request as the first execution did, even when loop items run at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;

use super::http::Transport;
use super::outputs::Response;
use super::{ErrorKind, RunError};

/// Where a request or value sits in a run: `path` names the statement
/// (`main > child > step[2]`), `seq` counts from 0 the times that path
/// was reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub path: String,
    pub seq: u32,
}

/// What is about to be sent (the URL masked).
#[derive(Debug, Clone)]
pub struct Intent {
    pub step: String,
    pub verb: String,
    pub url: String,
    /// The verb is idempotent or the method says `idempotent = true`.
    pub idempotent: bool,
    /// The header that carries an idempotency key, and a fresh key (the
    /// journal answers with the key it kept for this intent, if any).
    pub idempotency_key: Option<(String, String)>,
}

/// What the journal answers to an intent.
pub enum Before {
    /// Send now, with this idempotency key when the method uses one.
    Send(Option<String>),
    /// The journal holds the result: use it, send nothing.
    Answer(Box<Result<Response, Transport>>),
}

/// The journal's side of a run.
pub trait RunHook: Send + Sync {
    /// The journaled value for `key`, or `fresh` journaled as it (values
    /// are written in order: committed no later than the next intent).
    fn value(&self, kind: &str, key: &Key, fresh: String) -> String;
    /// Commits the intent (or finds the answer) before a request is sent.
    fn before_send<'a>(
        &'a self,
        key: &'a Key,
        intent: &'a Intent,
    ) -> BoxFuture<'a, Result<Before, RunError>>;
    /// Commits the result of a request that was sent.
    fn after_send<'a>(
        &'a self,
        key: &'a Key,
        result: &'a Result<Response, Transport>,
        elapsed: Duration,
    ) -> BoxFuture<'a, Result<(), RunError>>;
    /// Waits until `deadline`; an error when the run must stop first
    /// (cancelled, or the server drains).
    fn wait_until(&self, deadline: SystemTime) -> BoxFuture<'_, Result<(), RunError>>;
    /// Takes a request token of `integration`'s `rate { requests, per }`
    /// from a bucket shared by many processes (`rbk serve` on PostgreSQL);
    /// `None` when the process's own bucket is the limit.
    fn shared_rate<'a>(
        &'a self,
        integration: &'a str,
        requests: u64,
        per: Duration,
    ) -> Option<BoxFuture<'a, Result<(), RunError>>> {
        let _ = (integration, requests, per);
        None
    }
    /// Takes one of `slots` request slots of `integration`'s
    /// `concurrency`, shared by many processes, held for at most `hold`;
    /// `None` when the process's own semaphore is the limit.
    fn shared_slot<'a>(
        &'a self,
        integration: &'a str,
        slots: u64,
        hold: Duration,
    ) -> Option<BoxFuture<'a, Result<SharedSlot, RunError>>> {
        let _ = (integration, slots, hold);
        None
    }
}

/// A request slot taken from a limit shared by many processes: given back
/// when dropped.
pub struct SharedSlot(Option<Box<dyn FnOnce() + Send>>);

impl SharedSlot {
    pub fn new(give_back: impl FnOnce() + Send + 'static) -> SharedSlot {
        SharedSlot(Some(Box::new(give_back)))
    }
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Takes a request slot of a shared `concurrency` when the current run has
/// one; `None` when the process's own semaphore applies.
pub async fn shared_slot(
    integration: &str,
    slots: u64,
    hold: Duration,
) -> Result<Option<SharedSlot>, RunError> {
    let Ok(scope) = RUN.try_with(|s| s.clone()) else {
        return Ok(None);
    };
    match scope.hook.shared_slot(integration, slots, hold) {
        Some(take) => take.await.map(Some),
        None => Ok(None),
    }
}

/// Waits for a token of a shared rate limit when the current run has one;
/// false when the process's own bucket applies.
pub async fn shared_rate(
    integration: &str,
    requests: u64,
    per: Duration,
) -> Result<bool, RunError> {
    let Ok(scope) = RUN.try_with(|s| s.clone()) else {
        return Ok(false);
    };
    match scope.hook.shared_rate(integration, requests, per) {
        Some(wait) => wait.await.map(|_| true),
        None => Ok(false),
    }
}

/// The hook of the current run and its counters.
pub struct Scope {
    hook: Arc<dyn RunHook>,
    counters: Mutex<HashMap<String, u32>>,
}

tokio::task_local! {
    static RUN: Arc<Scope>;
    /// Loop items and `parallel` branches around the current statement.
    static WITHIN: String;
}

/// Runs `fut` (one execution of a run) with `hook` as its journal.
pub async fn scope<F: std::future::Future>(hook: Arc<dyn RunHook>, fut: F) -> F::Output {
    let s = Arc::new(Scope {
        hook,
        counters: Mutex::new(HashMap::new()),
    });
    RUN.scope(s, WITHIN.scope(String::new(), fut)).await
}

/// True inside [`scope`].
pub fn active() -> bool {
    RUN.try_with(|_| ()).is_ok()
}

/// Runs `fut` as item or branch `part` of the current path (only inside a
/// journaled run: elsewhere it is `fut` itself).
pub async fn within<F: std::future::Future>(part: impl std::fmt::Display, fut: F) -> F::Output {
    match WITHIN.try_with(|w| format!("{w}[{part}]")) {
        Ok(path) if active() => WITHIN.scope(path, fut).await,
        _ => fut.await,
    }
}

/// The next key for `name` (a step, or a value kind) at the current path.
pub fn next_key(name: &str) -> Option<(Arc<dyn RunHook>, Key)> {
    let scope = RUN.try_with(|s| s.clone()).ok()?;
    let within = WITHIN.try_with(|w| w.clone()).unwrap_or_default();
    let path = format!("{}{within}", super::runbook::qualified(name));
    let seq = {
        let mut c = scope.counters.lock().unwrap_or_else(|p| p.into_inner());
        let n = c.entry(path.clone()).or_insert(0);
        let seq = *n;
        *n += 1;
        seq
    };
    Some((scope.hook.clone(), Key { path, seq }))
}

/// The path of a step as the observer names it (`shown` is already
/// qualified with the runbooks on the way), inside a journaled run.
pub fn step_path(shown: &str) -> Option<String> {
    if !active() {
        return None;
    }
    let within = WITHIN.try_with(|w| w.clone()).unwrap_or_default();
    Some(format!("{shown}{within}"))
}

/// The next key of a step's start (counted apart from its requests).
pub fn next_step_key(shown: &str) -> Option<Key> {
    let path = step_path(shown)?;
    let scope = RUN.try_with(|s| s.clone()).ok()?;
    let mut c = scope.counters.lock().unwrap_or_else(|p| p.into_inner());
    let n = c.entry(format!("\0step {path}")).or_insert(0);
    let seq = *n;
    *n += 1;
    Some(Key { path, seq })
}

/// `now()`: journaled inside a run.
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    let fresh = chrono::Utc::now().fixed_offset();
    match next_key("now()") {
        Some((hook, key)) => {
            let v = hook.value("now", &key, fresh.to_rfc3339());
            chrono::DateTime::parse_from_rfc3339(&v).unwrap_or(fresh)
        }
        None => fresh,
    }
}

/// `uuid()`: journaled inside a run.
pub fn uuid() -> String {
    let fresh = uuid::Uuid::new_v4().to_string();
    match next_key("uuid()") {
        Some((hook, key)) => hook.value("uuid", &key, fresh),
        None => fresh,
    }
}

/// `wait D`: inside a run the deadline is journaled, so a resumed run
/// waits only for what is left of it.
pub async fn wait(d: Duration) -> Result<(), RunError> {
    let Some((hook, key)) = next_key("wait") else {
        tokio::time::sleep(d).await;
        return Ok(());
    };
    let fresh = SystemTime::now() + d;
    let ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    };
    let kept = hook.value("wait", &key, ms(fresh).to_string());
    let deadline = kept
        .parse::<u64>()
        .map(|m| SystemTime::UNIX_EPOCH + Duration::from_millis(m))
        .unwrap_or(fresh);
    hook.wait_until(deadline).await
}

/// The error that stops a run without failing it (cancel, drain, needs
/// attention): the journal's runner tells which from its own state.
pub fn stopped(message: impl Into<String>) -> RunError {
    RunError::of(ErrorKind::Stopped, None, message)
}

/// The method's `idempotency_key = "Header"` (or its integration's).
fn idempotency_header(
    integ: &crate::syntax::ast::Integration,
    m: &crate::syntax::ast::Method,
) -> Option<String> {
    use crate::syntax::ast::{EntryValue, ExprKind, MethodItem};
    let plain = |e: &crate::syntax::ast::Entry| match &e.value {
        EntryValue::Expr { value, .. } => match &value.kind {
            ExprKind::Str(s) => s.as_plain(),
            _ => None,
        },
        _ => None,
    };
    m.items
        .iter()
        .find_map(|i| match i {
            MethodItem::Entry(e) if e.key.name == "idempotency_key" => plain(e),
            _ => None,
        })
        .or_else(|| integ.body.get("idempotency_key").and_then(plain))
}

/// The method's `idempotent = true|false`, if it says.
fn declared_idempotent(m: &crate::syntax::ast::Method) -> Option<bool> {
    use crate::syntax::ast::{EntryValue, ExprKind, MethodItem};
    m.items.iter().find_map(|i| match i {
        MethodItem::Entry(e) if e.key.name == "idempotent" => match &e.value {
            EntryValue::Expr { value, .. } => match value.kind {
                ExprKind::Bool(b) => Some(b),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

impl super::Runtime {
    /// Sends through [`super::Runtime::send`], with the journal of the
    /// current run (if any) told the intent first and the result after,
    /// and answering instead of the network when it holds the result.
    /// A method with `idempotency_key` gets the header set here.
    pub(super) async fn send_journaled(
        &self,
        step: &str,
        integ: &crate::syntax::ast::Integration,
        m: &crate::syntax::ast::Method,
        prepared: &mut super::http::Prepared,
        auth: &super::auth::Auth,
    ) -> Result<Result<Response, Transport>, RunError> {
        use crate::syntax::ast::Verb;
        let header = idempotency_header(integ, m);
        let Some((hook, key)) = next_key(step) else {
            if let Some(h) = &header {
                prepared.set_header(h, uuid::Uuid::new_v4().to_string());
            }
            return self.send(step, integ, prepared, auth).await;
        };
        let idempotent = declared_idempotent(m).unwrap_or(matches!(
            prepared.verb,
            Verb::Get | Verb::Head | Verb::Put | Verb::Delete | Verb::Options
        ));
        let intent = Intent {
            step: super::runbook::qualified(step),
            verb: prepared.verb.as_str().to_string(),
            url: self.mask(&prepared.url),
            idempotent,
            idempotency_key: header
                .clone()
                .map(|h| (h, uuid::Uuid::new_v4().to_string())),
        };
        match hook.before_send(&key, &intent).await? {
            Before::Answer(r) => Ok(*r),
            Before::Send(idem) => {
                if let (Some(h), Some(k)) = (&header, idem) {
                    prepared.set_header(h, k);
                }
                let started = std::time::Instant::now();
                let r = self.send(step, integ, prepared, auth).await?;
                hook.after_send(&key, &r, started.elapsed()).await?;
                Ok(r)
            }
        }
    }
}
