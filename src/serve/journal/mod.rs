//! The journal: every run, step, request (intent and result) and trigger
//! delivery of `rbk serve`, durable before it is acted on.
//!
//! [`Journal`] is the one interface; [`sqlite::Sqlite`] is the embedded
//! backend (the default), and a PostgreSQL backend implements the same
//! trait. Every method is one small transaction. Text handed to the
//! journal is already masked; values that may hold secrets (arguments,
//! responses) are handed over sealed (see [`seal`]).

pub mod postgres;
pub mod seal;
pub mod sqlite;

use futures_util::future::BoxFuture;
use serde::Serialize;

/// A journal operation that did not complete.
#[derive(Debug, Clone)]
pub struct JournalError(pub String);

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type JResult<T> = Result<T, JournalError>;

/// How a shared journal says that this node no longer holds a run.
const LOST: &str = "lease lost: ";

impl JournalError {
    /// This node's lease on run `id` ran out and another node holds it.
    pub fn lost(id: i64) -> JournalError {
        JournalError(format!(
            "{LOST}run {id} is no longer held by this node (its lease ran out; another worker continues it)"
        ))
    }

    pub fn is_lost(&self) -> bool {
        self.0.starts_with(LOST)
    }
}

/// What the other nodes of a shared journal announce.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A run was queued (accepted, resolved, or given back by a node).
    Queued,
    /// A live event of a run on another node: `{"run", "kind", "data"}`.
    Event(serde_json::Value),
    /// The connection for notices was lost and is being made again: some
    /// notices may be missed, so look at the journal.
    Reconnected,
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    NeedsAttention,
}

impl RunState {
    pub const ALL: [RunState; 6] = [
        RunState::Queued,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::NeedsAttention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::NeedsAttention => "needs_attention",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Succeeded, failed or cancelled: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }
}

/// A run to commit.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub runbook: String,
    pub trigger_kind: String,
    /// Masked JSON.
    pub trigger_info: serde_json::Value,
    /// Masked JSON.
    pub args_shown: serde_json::Value,
    pub args_sealed: Vec<u8>,
    /// `(hook path, delivery id)` of a webhook with `dedupe`.
    pub dedupe: Option<(String, String)>,
    /// `(schedule key, fire time ms)` of a scheduled run.
    pub fire: Option<(String, i64)>,
}

/// What committing a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New(i64),
    /// The delivery id or fire time was seen: this is the first run.
    Duplicate(i64),
}

/// A run as the runner needs it.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub runbook: String,
    pub state: RunState,
    pub args_sealed: Vec<u8>,
    pub cancel: bool,
    /// Something was journaled for it before (a request or a value): it
    /// resumes, and its calls and values must be read.
    pub resumed: bool,
}

/// A committed intent, and its result when there is one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallRow {
    pub path: String,
    pub seq: u32,
    pub step: String,
    pub verb: String,
    pub url: String,
    pub idempotent: bool,
    pub idem_header: Option<String>,
    pub idem_key: Option<String>,
    pub sends: u32,
    pub intent_at: i64,
    pub result_at: Option<i64>,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed_ms: Option<i64>,
    #[serde(skip)]
    pub answer_sealed: Option<Vec<u8>>,
    pub resolution: Option<String>,
}

/// A journaled value (`now()`, `uuid()`, a wait's deadline).
#[derive(Debug, Clone)]
pub struct ValueRow {
    pub kind: String,
    pub path: String,
    pub seq: u32,
    pub value: String,
}

/// A step as shown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepRow {
    pub path: String,
    pub seq: u32,
    pub name: String,
    pub target: String,
    pub state: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: Option<i64>,
    pub outputs: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// A run as listed and shown (everything masked).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub runbook: String,
    pub state: RunState,
    pub trigger: serde_json::Value,
    pub args: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub attention: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A run's end (or stop) to commit.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    pub result_shown: Option<serde_json::Value>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub attention: Option<String>,
}

/// Filters of a run listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<RunState>,
    pub runbook: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// What an operator's cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The run was queued or waiting for an operator: now cancelled.
    Cancelled,
    /// The run is executing: it stops before its next request.
    Requested,
    /// It had already ended.
    AlreadyFinal(RunState),
    NotFound,
}

/// What an operator's resolve did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveOutcome {
    /// Queued again: the interrupted request is resent, or fails.
    Queued,
    NotWaiting(RunState),
    NotFound,
}

/// The journal. One backend per process; every method is one transaction.
pub trait Journal: Send + Sync {
    /// Commits a new queued run (with its delivery id or fire time, each
    /// unique: a second one answers the first run).
    fn accept(&self, run: NewRun) -> BoxFuture<'_, JResult<Accepted>>;
    /// The run of a webhook delivery id seen before.
    fn delivery(&self, hook: &str, id: &str) -> BoxFuture<'_, JResult<Option<i64>>>;
    /// The latest fire time recorded for a schedule.
    fn last_fire(&self, schedule: &str) -> BoxFuture<'_, JResult<Option<i64>>>;
    /// Runs to execute at start (queued or running), oldest first.
    fn unfinished(&self) -> BoxFuture<'_, JResult<Vec<i64>>>;
    fn run(&self, id: i64) -> BoxFuture<'_, JResult<Option<RunRow>>>;
    /// Marks a run running (its start time kept from the first time).
    fn start(&self, id: i64) -> BoxFuture<'_, JResult<()>>;
    /// Commits a run's new state (an end, or back to queued).
    fn finish(&self, id: i64, state: RunState, ending: Ending) -> BoxFuture<'_, JResult<()>>;
    fn calls(&self, id: i64) -> BoxFuture<'_, JResult<Vec<CallRow>>>;
    fn values(&self, id: i64) -> BoxFuture<'_, JResult<Vec<ValueRow>>>;
    /// Commits values, then the intent of a request (a resend counts up
    /// `sends` and clears the operator's resolution).
    fn intent(&self, id: i64, values: Vec<ValueRow>, call: CallRow) -> BoxFuture<'_, JResult<()>>;
    /// Commits the result of a request.
    fn result(&self, id: i64, call: CallRow) -> BoxFuture<'_, JResult<()>>;
    fn put_values(&self, id: i64, values: Vec<ValueRow>) -> BoxFuture<'_, JResult<()>>;
    /// Records a step's start or end without waiting: applied in order
    /// with every write this process makes after it (so a run's end is
    /// never committed before its last step's). Best effort: it is for
    /// the page, not for resume.
    fn step(&self, id: i64, step: StepRow);
    fn steps(&self, id: i64) -> BoxFuture<'_, JResult<Vec<StepRow>>>;
    fn list(&self, filter: ListFilter) -> BoxFuture<'_, JResult<Vec<RunSummary>>>;
    fn summary(&self, id: i64) -> BoxFuture<'_, JResult<Option<RunSummary>>>;
    fn cancel(&self, id: i64) -> BoxFuture<'_, JResult<CancelOutcome>>;
    /// Runs executing with a cancel requested (by another process too).
    fn cancel_requested(&self) -> BoxFuture<'_, JResult<Vec<i64>>>;
    /// `retry` or `fail` for a run that needs attention: the call without
    /// a result gets the resolution and the run is queued again.
    fn resolve(&self, id: i64, retry: bool) -> BoxFuture<'_, JResult<ResolveOutcome>>;
    /// Queued runs (for a process that did not accept them).
    fn queued(&self) -> BoxFuture<'_, JResult<Vec<i64>>>;
    fn counts(&self) -> BoxFuture<'_, JResult<Vec<(RunState, i64)>>>;
    /// Deletes finished runs that ended before `cutoff_ms`; their number.
    fn prune(&self, cutoff_ms: i64) -> BoxFuture<'_, JResult<u64>>;

    /// True when many processes share the journal: runs are claimed from
    /// it with leases ([`Journal::claim`]), not handed over in-process.
    fn shared(&self) -> bool {
        false
    }
    /// Claims up to `max` runs for this node: queued ones, and running
    /// ones whose lease ran out (their node died). Shared journals only.
    fn claim(&self, max: usize) -> BoxFuture<'_, JResult<Vec<i64>>> {
        let _ = max;
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Renews this node's leases on `ids`; answers the ids still held.
    fn renew(&self, ids: Vec<i64>) -> BoxFuture<'_, JResult<Vec<i64>>> {
        Box::pin(async move { Ok(ids) })
    }
    /// Sends a live event to the other nodes (in order with
    /// [`Journal::step`]). Nothing to do for a journal of one process.
    fn publish(&self, run: i64, kind: &str, data: &serde_json::Value) {
        let _ = (run, kind, data);
    }
    /// Runs queued now (on every node of a shared journal).
    fn queued_count(&self) -> BoxFuture<'_, JResult<i64>> {
        Box::pin(async move {
            Ok(self
                .counts()
                .await?
                .into_iter()
                .find(|(s, _)| *s == RunState::Queued)
                .map(|(_, n)| n)
                .unwrap_or(0))
        })
    }
    /// Takes a token of the bucket `name` (`requests` per `per`) shared by
    /// every node: zero when taken, else how long to wait before asking
    /// again. A journal of one process has no shared buckets.
    fn take_rate(
        &self,
        name: &str,
        requests: u64,
        per: std::time::Duration,
    ) -> BoxFuture<'_, JResult<std::time::Duration>> {
        let _ = (name, requests, per);
        Box::pin(async { Ok(std::time::Duration::ZERO) })
    }
    /// Takes a free slot (of `slots`) of the request limit `name` shared by
    /// every node, held until given back or for `hold` at most (a node
    /// that dies gives nothing back); `(slot, token)`, or `None` when all
    /// are taken.
    fn take_slot(
        &self,
        name: &str,
        slots: u64,
        hold: std::time::Duration,
    ) -> BoxFuture<'_, JResult<Option<(i32, String)>>> {
        let _ = (name, slots, hold);
        Box::pin(async { Ok(None) })
    }
    /// Gives back a slot taken with [`Journal::take_slot`].
    fn give_slot(&self, name: &str, slot: i32, token: &str) -> BoxFuture<'_, JResult<()>> {
        let _ = (name, slot, token);
        Box::pin(async { Ok(()) })
    }
    /// The other nodes' notices (taken once); `None` when not shared.
    fn notices(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Notice>> {
        None
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// True for a `postgres://` (or `postgresql://`) journal URL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// How to open a journal besides its URL.
pub struct OpenOptions<'a> {
    /// Checks (and on first use records) the sealing key: `rbk serve`.
    pub sealer: Option<&'a seal::Sealer>,
    /// PostgreSQL: the lease on a claimed run.
    pub lease: std::time::Duration,
    /// PostgreSQL: most connections.
    pub pool: u32,
    /// PostgreSQL: listen for the other nodes' notices.
    pub listen: bool,
}

/// Opens the journal named by `url`: `postgres://…`, `sqlite:PATH`, or a
/// bare path.
pub async fn open(url: &str, opts: OpenOptions<'_>) -> Result<std::sync::Arc<dyn Journal>, String> {
    if is_postgres(url) {
        let pg = postgres::Postgres::open(
            url,
            postgres::PgOptions {
                lease: opts.lease,
                pool: opts.pool,
                listen: opts.listen,
            },
            opts.sealer,
        )
        .await?;
        return Ok(std::sync::Arc::new(pg));
    }
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    let path = path.strip_prefix("//").unwrap_or(path);
    Ok(std::sync::Arc::new(sqlite::Sqlite::open(
        std::path::Path::new(path),
    )?))
}

/// The file of a `sqlite:` journal URL (for the key file beside it).
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    if url.contains("://") && !url.starts_with("sqlite://") {
        return None;
    }
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    let path = path.strip_prefix("//").unwrap_or(path);
    Some(std::path::PathBuf::from(path))
}
