//! `rbk serve`: runs the runbooks that triggers start (webhooks,
//! schedules, the API), journals every run durably, resumes the runs a
//! crash or a stop cut off, and shows them in an API and a web page.
//!
//! Layout: [`journal`] (the interface and the SQLite backend), [`hook`]
//! (the runtime's journal hook: intents, results, values), [`triggers`]
//! (reading triggers, building arguments), [`webhook`], [`schedule`],
//! [`api`] (routes, SSE, auth), [`page`] (the web page), [`metrics`],
//! [`log`].

pub mod api;
pub mod hook;
pub mod journal;
pub mod log;
pub mod metrics;
pub mod page;
pub mod schedule;
pub mod triggers;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};

use crate::check::Program;
use crate::runtime::value::Value;
use crate::runtime::{ErrorKind, Runtime};
use journal::{Accepted, Ending, Journal, NewRun, RunState, seal::Sealer};

/// The settings of one `rbk serve`.
pub struct Config {
    pub listen: std::net::SocketAddr,
    pub max_runs: usize,
    pub max_queued: usize,
    pub api_token: Option<String>,
    pub grace: Duration,
    pub keep: Duration,
    pub log: log::Format,
}

/// One loaded program and the runtime its runs share (connection pool,
/// rate limits, tokens, secrets to mask).
pub struct Loaded {
    pub program: Arc<Program>,
    pub runtime: Arc<Runtime>,
}

/// A live event for Server-Sent Events and the page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    pub run: i64,
    pub kind: &'static str,
    pub data: serde_json::Value,
}

/// What makes a running run stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Go,
    Cancel,
    Drain,
}

pub struct Server {
    pub journal: Arc<dyn Journal>,
    pub sealer: Sealer,
    pub programs: Vec<Loaded>,
    /// Runbook name → program index.
    pub runbooks: HashMap<String, usize>,
    pub hooks: HashMap<String, triggers::Webhook>,
    pub schedules: Vec<triggers::Schedule>,
    pub config: Config,
    queue: mpsc::UnboundedSender<i64>,
    queue_rx: Mutex<Option<mpsc::UnboundedReceiver<i64>>>,
    pub queued: AtomicUsize,
    /// Runs in the queue or executing in this process.
    known: Mutex<HashSet<i64>>,
    running: Mutex<HashMap<i64, watch::Sender<Stop>>>,
    pub draining: AtomicBool,
    drained: Notify,
    pub events: broadcast::Sender<Event>,
    pub metrics: metrics::Metrics,
    pub log: log::Logger,
}

impl Server {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        journal: Arc<dyn Journal>,
        sealer: Sealer,
        programs: Vec<Loaded>,
        runbooks: HashMap<String, usize>,
        hooks: Vec<triggers::Webhook>,
        schedules: Vec<triggers::Schedule>,
        config: Config,
    ) -> Arc<Server> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let log = log::Logger::new(config.log);
        Arc::new(Server {
            journal,
            sealer,
            programs,
            runbooks,
            hooks: hooks.into_iter().map(|h| (h.path.clone(), h)).collect(),
            schedules,
            config,
            queue: tx,
            queue_rx: Mutex::new(Some(rx)),
            queued: AtomicUsize::new(0),
            known: Mutex::new(HashSet::new()),
            running: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            drained: Notify::new(),
            events,
            metrics: metrics::Metrics::new(),
            log,
        })
    }

    /// The program and runtime of a runbook.
    pub fn loaded(&self, runbook: &str) -> Option<&Loaded> {
        self.runbooks
            .get(runbook)
            .and_then(|i| self.programs.get(*i))
    }

    /// Masks with every program's secrets.
    pub fn mask(&self, text: &str) -> String {
        let mut t = text.to_string();
        for p in &self.programs {
            t = p.runtime.mask(&t);
        }
        t
    }

    pub fn emit(&self, run: i64, kind: &'static str, data: serde_json::Value) {
        let _ = self.events.send(Event { run, kind, data });
    }

    /// True when the queue is full (`--max-queued`).
    pub fn queue_full(&self) -> bool {
        self.queued.load(Ordering::SeqCst) >= self.config.max_queued
    }

    /// Hands a committed run to the dispatcher (once).
    pub fn enqueue(&self, id: i64) {
        let fresh = self.known.lock().map(|mut k| k.insert(id)).unwrap_or(false);
        if fresh {
            self.queued.fetch_add(1, Ordering::SeqCst);
            self.metrics
                .queue_depth
                .set(self.queued.load(Ordering::SeqCst) as i64);
            let _ = self.queue.send(id);
        }
    }

    /// Commits a run with arguments `args` and queues it. `Ok(Duplicate)`
    /// when its delivery id or fire time was seen before.
    pub async fn submit(
        &self,
        runbook: &str,
        trigger_kind: &str,
        trigger_info: serde_json::Value,
        args: &[(String, Value)],
        dedupe: Option<(String, String)>,
        fire: Option<(String, i64)>,
    ) -> Result<Accepted, journal::JournalError> {
        let sealed = self
            .sealer
            .seal(triggers::args_json(args, true).to_string().as_bytes());
        let shown: serde_json::Value =
            serde_json::from_str(&self.mask(&triggers::args_json(args, false).to_string()))
                .unwrap_or(serde_json::json!({}));
        let r = self
            .journal
            .accept(NewRun {
                runbook: runbook.to_string(),
                trigger_kind: trigger_kind.to_string(),
                trigger_info: trigger_info.clone(),
                args_shown: shown,
                args_sealed: sealed,
                dedupe,
                fire,
            })
            .await?;
        if let Accepted::New(id) = r {
            self.log
                .run(id, runbook, "queued", &format!("trigger {trigger_kind}"));
            self.emit(
                id,
                "run_queued",
                serde_json::json!({"runbook": runbook, "trigger": trigger_info, "state": "queued"}),
            );
            self.enqueue(id);
        }
        Ok(r)
    }

    /// Asks a running run of this process to stop before its next request.
    pub fn signal_cancel(&self, id: i64) -> bool {
        match self.running.lock() {
            Ok(r) => r
                .get(&id)
                .map(|s| s.send(Stop::Cancel).is_ok())
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Takes queued runs one by one, at most `--max-runs` at once.
    pub async fn dispatch(self: Arc<Self>) {
        let Some(mut rx) = self.queue_rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let slots = Arc::new(Semaphore::new(self.config.max_runs.max(1)));
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                _ = self.drained.notified() => return,
            };
            let id = tokio::select! {
                id = rx.recv() => match id { Some(id) => id, None => return },
                _ = self.drained.notified() => return,
            };
            if self.draining.load(Ordering::SeqCst) {
                return;
            }
            self.queued.fetch_sub(1, Ordering::SeqCst);
            self.metrics
                .queue_depth
                .set(self.queued.load(Ordering::SeqCst) as i64);
            let me = self.clone();
            tokio::spawn(async move {
                me.clone().execute(id).await;
                if let Ok(mut k) = me.known.lock() {
                    k.remove(&id);
                }
                drop(permit);
            });
        }
    }

    /// Executes (or resumes) one run to its end or a stop.
    async fn execute(self: Arc<Self>, id: i64) {
        let row = match self.journal.run(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                self.log.error(&format!("run {id}: {e}"));
                return;
            }
        };
        if row.state.is_final() || row.state == RunState::NeedsAttention {
            return;
        }
        if row.cancel {
            self.end(id, &row.runbook, RunState::Cancelled, cancelled())
                .await;
            return;
        }
        let Some(loaded) = self.loaded(&row.runbook) else {
            let ending = Ending {
                error: Some(format!(
                    "no loaded program has runbook `{}` (was it renamed?)",
                    row.runbook
                )),
                error_code: Some("rbk::serve::unknown_runbook".into()),
                ..Default::default()
            };
            self.end(id, &row.runbook, RunState::Failed, ending).await;
            return;
        };
        let runtime = loaded.runtime.clone();
        let program = loaded.program.clone();
        let Some(rb) = program.runbook(&row.runbook) else {
            return;
        };
        let args = self
            .sealer
            .open_sealed(&row.args_sealed)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
            })
            .and_then(|j| triggers::args_from_json(&runtime, rb, &j).map_err(|e| e.message));
        let args = match args {
            Ok(a) => a,
            Err(e) => {
                let ending = Ending {
                    error: Some(self.mask(&e)),
                    error_code: Some("rbk::serve::journal".into()),
                    ..Default::default()
                };
                self.end(id, &row.runbook, RunState::Failed, ending).await;
                return;
            }
        };
        if let Err(e) = self.journal.start(id).await {
            self.log.error(&format!("run {id}: {e}"));
            return;
        }
        self.log.run(id, &row.runbook, "running", "");
        self.emit(id, "run_started", serde_json::json!({"state": "running"}));
        let (stop_tx, stop_rx) = watch::channel(if self.draining.load(Ordering::SeqCst) {
            Stop::Drain
        } else {
            Stop::Go
        });
        if let Ok(mut r) = self.running.lock() {
            r.insert(id, stop_tx);
        }
        let hook = match hook::ServeHook::load(self.clone(), id, stop_rx.clone()).await {
            Ok(h) => Arc::new(h),
            Err(e) => {
                self.log.error(&format!("run {id}: {e}"));
                if let Ok(mut r) = self.running.lock() {
                    r.remove(&id);
                }
                return;
            }
        };
        let named: Vec<(Option<String>, Value)> =
            args.into_iter().map(|(k, v)| (Some(k), v)).collect();
        let runbook = row.runbook.clone();
        let rt = runtime.clone();
        let run = hook::CURRENT.scope(
            hook.clone(),
            crate::runtime::durable::scope(
                hook.clone(),
                async move { rt.run(&runbook, named).await },
            ),
        );
        let mut stop_watch = stop_rx.clone();
        let result = tokio::select! {
            r = run => Some(r),
            _ = async {
                loop {
                    if *stop_watch.borrow() == Stop::Cancel { break; }
                    if stop_watch.changed().await.is_err() { std::future::pending::<()>().await; }
                }
            } => None,
        };
        if let Ok(mut r) = self.running.lock() {
            r.remove(&id);
        }
        hook.flush().await;
        let (state, ending) = match result {
            None => (RunState::Cancelled, cancelled()),
            Some(Ok(v)) => (
                RunState::Succeeded,
                Ending {
                    result_shown: serde_json::from_str(&self.mask(&v.to_json(false).to_string()))
                        .ok(),
                    ..Default::default()
                },
            ),
            Some(Err(e)) if e.kind == ErrorKind::Stopped => match hook.stop_reason() {
                hook::StopReason::Attention(why) => (
                    RunState::NeedsAttention,
                    Ending {
                        attention: Some(self.mask(&why)),
                        ..Default::default()
                    },
                ),
                hook::StopReason::Cancel => (RunState::Cancelled, cancelled()),
                hook::StopReason::Drain | hook::StopReason::None => {
                    (RunState::Queued, Ending::default())
                }
            },
            // The journal, not the runbook, failed: the run stays queued
            // and is tried again (by the poll, or at the next start).
            Some(Err(e)) if e.kind == ErrorKind::Journal => {
                self.log
                    .error(&format!("run {id}: {}", self.mask(&e.message)));
                (RunState::Queued, Ending::default())
            }
            Some(Err(e)) => (
                RunState::Failed,
                Ending {
                    error: Some(self.mask(&e.message)),
                    error_code: Some(e.code().to_string()),
                    ..Default::default()
                },
            ),
        };
        self.end(id, &row.runbook, state, ending).await;
    }

    async fn end(&self, id: i64, runbook: &str, state: RunState, ending: Ending) {
        let detail = ending
            .error
            .clone()
            .or(ending.attention.clone())
            .unwrap_or_default();
        if let Err(e) = self.journal.finish(id, state, ending).await {
            self.log.error(&format!("run {id}: {e}"));
            return;
        }
        self.log.run(id, runbook, state.as_str(), &detail);
        if state == RunState::Queued {
            // Stopped by a drain: it continues at the next start.
            self.emit(id, "run_requeued", serde_json::json!({"state": "queued"}));
            return;
        }
        self.metrics.finished(state);
        self.emit(
            id,
            "run_finished",
            serde_json::json!({"state": state.as_str()}),
        );
    }

    /// Every second: cancels asked for in the journal (by `rbk runs
    /// cancel`), and queued runs this process does not know yet (resolved
    /// by `rbk runs resolve`).
    pub async fn poll(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if self.draining.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(ids) = self.journal.cancel_requested().await {
                for id in ids {
                    self.signal_cancel(id);
                }
            }
            if let Ok(ids) = self.journal.queued().await {
                for id in ids {
                    self.enqueue(id);
                }
            }
        }
    }

    /// Prunes finished runs older than `--keep`, now and every hour.
    pub async fn prune(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let cutoff = journal::now_ms() - self.config.keep.as_millis() as i64;
            match self.journal.prune(cutoff).await {
                Ok(0) => {}
                Ok(n) => self
                    .log
                    .info(&format!("pruned {n} finished runs older than --keep")),
                Err(e) => self.log.error(&format!("pruning: {e}")),
            }
        }
    }

    /// Starts draining: webhooks answer 503, no run starts, running runs
    /// stop before their next request (the one in flight finishes and is
    /// journaled) and go back to `queued`.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drained.notify_waiters();
        if let Ok(r) = self.running.lock() {
            for s in r.values() {
                let _ = s.send_if_modified(|v| {
                    if *v == Stop::Go {
                        *v = Stop::Drain;
                        true
                    } else {
                        false
                    }
                });
            }
        }
    }

    /// Runs executing now.
    pub fn running_count(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }
}

fn cancelled() -> Ending {
    Ending {
        error: Some("cancelled by an operator".into()),
        error_code: Some("rbk::serve::cancelled".into()),
        ..Default::default()
    }
}
