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

/// What a node of `rbk serve` does (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts webhooks and API calls, and executes runs.
    All,
    /// Accepts webhooks and API calls, fires schedules; executes nothing.
    Api,
    /// Executes runs claimed from the shared journal; serves only
    /// `/healthz` and `/metrics`.
    Worker,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "all" => Some(Role::All),
            "api" => Some(Role::Api),
            "worker" => Some(Role::Worker),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }

    pub fn accepts(self) -> bool {
        self != Role::Worker
    }

    pub fn executes(self) -> bool {
        self != Role::Api
    }
}

/// The settings of one `rbk serve`.
pub struct Config {
    pub role: Role,
    /// The lease on a run claimed from a shared journal.
    pub lease: Duration,
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
    /// Wakes the dispatcher of a shared journal (a run was queued or a
    /// slot freed).
    wake: Notify,
    /// Queued runs across all nodes of a shared journal (last counted).
    shared_queued: AtomicUsize,
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
            wake: Notify::new(),
            shared_queued: AtomicUsize::new(0),
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
        self.journal.publish(run, kind, &data);
        let _ = self.events.send(Event { run, kind, data });
    }

    /// True when the queue is full (`--max-queued`; with a shared journal,
    /// the runs queued on every node).
    pub fn queue_full(&self) -> bool {
        let q = if self.journal.shared() {
            self.shared_queued.load(Ordering::SeqCst)
        } else {
            self.queued.load(Ordering::SeqCst)
        };
        q >= self.config.max_queued
    }

    /// Hands a committed run to the dispatcher (once). With a shared
    /// journal, runs are claimed from it instead: this only wakes the
    /// dispatcher (other nodes are woken by the journal's notice).
    pub fn enqueue(&self, id: i64) {
        if self.journal.shared() {
            self.shared_queued.fetch_add(1, Ordering::SeqCst);
            self.wake.notify_one();
            return;
        }
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
        if self.journal.shared() {
            return self.dispatch_shared().await;
        }
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

    /// Claims runs from a shared journal whenever slots are free: when
    /// woken (a run was queued here or on another node, a run ended), and
    /// at every tick (a third of the lease, at most a second) to find the
    /// runs of nodes whose lease ran out.
    async fn dispatch_shared(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.config.max_runs.max(1)));
        let tick = (self.config.lease / 3).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut failing = false;
        loop {
            if self.draining.load(Ordering::SeqCst) {
                return;
            }
            let free = slots.available_permits();
            if free > 0 {
                match self.journal.claim(free).await {
                    Ok(ids) => {
                        if failing {
                            self.log.info("the journal answers again: claiming runs");
                            failing = false;
                        }
                        let got = ids.len();
                        for id in ids {
                            // Claimed again while it still runs here (a
                            // renewal was missed): the claim renewed it.
                            let mine = self.known.lock().map(|mut k| k.insert(id)).unwrap_or(false);
                            if !mine {
                                continue;
                            }
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                if let Ok(mut k) = self.known.lock() {
                                    k.remove(&id);
                                }
                                break;
                            };
                            let me = self.clone();
                            tokio::spawn(async move {
                                me.clone().execute(id).await;
                                if let Ok(mut k) = me.known.lock() {
                                    k.remove(&id);
                                }
                                drop(permit);
                                me.wake.notify_one();
                            });
                        }
                        // A full claim: there may be more; claim again.
                        if got == free && got > 0 {
                            continue;
                        }
                    }
                    Err(e) => {
                        if !failing {
                            self.log.error(&format!(
                                "cannot claim runs ({e}); trying again every {tick:?}"
                            ));
                            failing = true;
                        }
                    }
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
                _ = self.drained.notified() => return,
            }
        }
    }

    /// Renews the leases of the runs this node executes, every third of
    /// the lease; a run whose lease was lost (another node took it over
    /// after this one could not renew in time) stops here at once.
    pub async fn renew(self: Arc<Self>) {
        let every = (self.config.lease / 3).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            let ids: Vec<i64> = match self.running.lock() {
                Ok(r) => r.keys().copied().collect(),
                Err(_) => continue,
            };
            if ids.is_empty() {
                continue;
            }
            match self.journal.renew(ids.clone()).await {
                Ok(held) => {
                    for id in ids.into_iter().filter(|id| !held.contains(id)) {
                        if let Ok(r) = self.running.lock()
                            && let Some(s) = r.get(&id)
                        {
                            self.log.error(&format!(
                                "run {id}: the lease is lost (this node could not renew it in time); stopping it here, another worker continues it"
                            ));
                            let _ = s.send(Stop::Drain);
                        }
                    }
                }
                Err(e) => self.log.error(&format!("cannot renew leases: {e}")),
            }
        }
    }

    /// Other nodes' notices: queued runs wake the dispatcher, live events
    /// go to this node's listeners (Server-Sent Events, the page).
    pub async fn notices(self: Arc<Self>) {
        let Some(mut rx) = self.journal.notices() else {
            return;
        };
        while let Some(n) = rx.recv().await {
            match n {
                journal::Notice::Queued | journal::Notice::Reconnected => {
                    self.wake.notify_one();
                }
                journal::Notice::Event(v) => {
                    let run = v.get("run").and_then(|r| r.as_i64());
                    let kind = v.get("kind").and_then(|k| k.as_str()).and_then(event_kind);
                    if let (Some(run), Some(kind)) = (run, kind) {
                        let data = v.get("data").cloned().unwrap_or(serde_json::Value::Null);
                        let _ = self.events.send(Event { run, kind, data });
                    }
                }
            }
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
        let hook = match hook::ServeHook::load(self.clone(), id, row.resumed, stop_rx.clone()).await
        {
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
        // Only now: a drain waits for this run's end to be committed.
        if let Ok(mut r) = self.running.lock() {
            r.remove(&id);
        }
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
            if self.journal.shared() {
                if let Ok(q) = self.journal.queued_count().await {
                    let q = q.max(0) as usize;
                    self.shared_queued.store(q, Ordering::SeqCst);
                    self.metrics.queue_depth.set(q as i64);
                }
                continue;
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

/// The event kinds a node sends (a kind from another node is one of them).
fn event_kind(k: &str) -> Option<&'static str> {
    [
        "run_queued",
        "run_started",
        "run_finished",
        "run_requeued",
        "step_started",
        "step_finished",
        "log",
    ]
    .into_iter()
    .find(|x| *x == k)
}

fn cancelled() -> Ending {
    Ending {
        error: Some("cancelled by an operator".into()),
        error_code: Some("rbk::serve::cancelled".into()),
        ..Default::default()
    }
}
