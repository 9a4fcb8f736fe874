//! The shared journal: PostgreSQL, for many `rbk serve` processes on one
//! machine or many (SERVE.md §6). It is the journal and the queue at once:
//! workers claim queued runs with `FOR UPDATE SKIP LOCKED` and hold a
//! lease on each run they execute, measured by the database's clock and
//! renewed every third of its length; a run whose lease ran out (its
//! worker died or lost the network) is claimed by another worker and
//! resumed from the journal like a run after a restart.
//!
//! - Schema: `migrations/postgres/NNNN_*.sql`, applied at start by sqlx's
//!   migrator under a PostgreSQL advisory lock, so that nodes starting
//!   together migrate once; applied versions are in `rbk_migrations`.
//! - Fencing: every write a worker makes for a run (intent, result,
//!   values, step, end) first checks, in the same transaction, that this
//!   node still holds the run's lease, and extends it. A worker that lost
//!   its lease cannot commit an intent, so it cannot send a request that
//!   the new owner also sends.
//! - Connection trouble (a restart of PostgreSQL, a network cut) is
//!   retried with backoff for a while: a few seconds for a webhook's
//!   commit (then it answers 503 and stores nothing), up to the lease for
//!   a running run's writes. A commit whose answer was lost is not
//!   repeated twice: an accept carries a key of its own, and intents and
//!   results are idempotent updates.
//! - Live events go to the other nodes with `NOTIFY rbk_events` (in order
//!   with the step rows, from one writer task); `NOTIFY rbk_queue` wakes
//!   workers when a run is queued.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Row, SqlSafeStr};
use tokio::sync::{mpsc, oneshot};

use super::*;

/// The versioned schema (append only: a released migration never changes).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/postgres/0001_init.sql")),
    (
        2,
        "rates",
        include_str!("migrations/postgres/0002_rates.sql"),
    ),
    (
        3,
        "slots",
        include_str!("migrations/postgres/0003_slots.sql"),
    ),
];

/// What `rbk serve` sets besides the URL.
#[derive(Clone)]
pub struct PgOptions {
    /// How long a claimed run is held without renewal.
    pub lease: Duration,
    /// Most connections this process opens.
    pub pool: u32,
    /// Listen for other nodes' notices (serve), or not (`rbk runs`).
    pub listen: bool,
}

pub struct Postgres {
    pool: PgPool,
    node: String,
    lease_ms: i64,
    ordered: mpsc::UnboundedSender<Ordered>,
    notices: Mutex<Option<mpsc::UnboundedReceiver<Notice>>>,
}

/// Writes applied in order by one task: step rows and live events, and
/// barriers that a run's end waits on.
enum Ordered {
    Step(i64, StepRow),
    Event(String),
    Barrier(oneshot::Sender<()>),
}

/// An operation's failure: the database's, or this node lost the run.
enum OpError {
    Db(sqlx::Error),
    Lost(i64),
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> OpError {
        OpError::Db(e)
    }
}

type Op<T> = Result<T, OpError>;

/// The start of the error of a node whose key differs from the journal's.
pub const KEY_MISMATCH: &str =
    "this node's journal key is not the key the journal was written with";

/// How long a webhook's commit and a read wait for the database.
const SHORT: Duration = Duration::from_secs(3);

/// Errors worth trying again: the connection, not the statement.
fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            // connection exceptions, admin shutdown / crash / cannot connect
            // now, too many connections, serialization failure, deadlock
            c.starts_with("08")
                || c.starts_with("57P")
                || c == "53300"
                || c == "40001"
                || c == "40P01"
        }),
        _ => false,
    }
}

/// `postgres://user:PASSWORD@host/db` with the password hidden.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "the PostgreSQL URL".into(),
    }
}

fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "node".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}/{}/{}", std::process::id(), &tag[..8])
}

async fn migrate(pool: &PgPool) -> Result<(), String> {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = MIGRATIONS
        .iter()
        .map(|(v, name, sql)| {
            Migration::new(
                *v,
                std::borrow::Cow::Borrowed(*name),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut m = Migrator::with_migrations(migrations);
    m.dangerous_set_table_name("rbk_migrations");
    m.run(pool)
        .await
        .map_err(|e| format!("cannot migrate the journal: {e}"))
}

/// Seals a known value with the node's key the first time; a node whose
/// key does not open it refuses to start (its sealed values would be
/// unreadable to the others, and theirs to it).
async fn check_key(pool: &PgPool, sealer: &seal::Sealer) -> Result<(), String> {
    const PROBE: &[u8] = b"rbk journal key check";
    sqlx::query(
        "INSERT INTO rbk_meta (name, value) VALUES ('key_check', $1) ON CONFLICT (name) DO NOTHING",
    )
    .bind(sealer.seal(PROBE))
    .execute(pool)
    .await
    .map_err(|e| format!("cannot read the journal: {e}"))?;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM rbk_meta WHERE name = 'key_check'")
        .fetch_one(pool)
        .await
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    match sealer.open_sealed(&stored) {
        Ok(v) if v == PROBE => Ok(()),
        _ => Err(format!(
            "{KEY_MISMATCH}: its sealed values would not open on the other nodes, nor theirs here"
        )),
    }
}

impl Postgres {
    /// Connects, migrates (once across nodes starting together), checks
    /// the sealing key, and starts the ordered writer and the listener.
    pub async fn open(
        url: &str,
        opts: PgOptions,
        sealer: Option<&seal::Sealer>,
    ) -> Result<Postgres, String> {
        let shown = mask_url(url);
        let connect: PgConnectOptions = url
            .parse()
            .map_err(|e| format!("{shown} is not a PostgreSQL URL: {e}"))?;
        let connect = connect.application_name("rbk serve");
        // One connection first: its error says why (refused, password,
        // no such database); a pool's says only that it timed out.
        {
            use sqlx::Connection;
            let probe = sqlx::PgConnection::connect_with(&connect)
                .await
                .map_err(|e| format!("cannot connect to the journal {shown}: {e}"))?;
            let _ = probe.close().await;
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.pool.max(2))
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(connect)
            .await
            .map_err(|e| format!("cannot connect to the journal {shown}: {e}"))?;
        migrate(&pool).await?;
        if let Some(s) = sealer {
            check_key(&pool, s).await?;
        }
        let node = node_name();
        let (otx, orx) = mpsc::unbounded_channel();
        tokio::spawn(ordered_writer(pool.clone(), node.clone(), orx));
        let notices = if opts.listen {
            let (ntx, nrx) = mpsc::unbounded_channel();
            let mut listener = PgListener::connect_with(&pool)
                .await
                .map_err(|e| format!("cannot listen on the journal {shown}: {e}"))?;
            listener
                .listen_all(["rbk_queue", "rbk_events"])
                .await
                .map_err(|e| format!("cannot listen on the journal {shown}: {e}"))?;
            tokio::spawn(listen(listener, node.clone(), ntx));
            Some(nrx)
        } else {
            None
        };
        Ok(Postgres {
            pool,
            node,
            lease_ms: opts.lease.as_millis().max(1) as i64,
            ordered: otx,
            notices: Mutex::new(notices),
        })
    }

    /// The key kept in the journal (made by the first node that needed
    /// one): for nodes started without `RBK_JOURNAL_KEY`. It is checked
    /// against the journal's key check like a given key.
    pub async fn stored_sealer(&self) -> Result<seal::Sealer, String> {
        use chacha20poly1305::KeyInit;
        let fresh =
            chacha20poly1305::XChaCha20Poly1305::generate_key(&mut chacha20poly1305::aead::OsRng);
        sqlx::query(
            "INSERT INTO rbk_meta (name, value) VALUES ('key', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(fresh.as_slice())
        .execute(&self.pool)
        .await
        .map_err(|e| format!("cannot read the journal: {e}"))?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM rbk_meta WHERE name = 'key'")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| format!("cannot read the journal: {e}"))?;
        let key: [u8; 32] = stored
            .try_into()
            .map_err(|_| "the key kept in the journal is not 32 bytes".to_string())?;
        let sealer = seal::Sealer::from_key(&key);
        check_key(&self.pool, &sealer).await?;
        Ok(sealer)
    }

    /// This node's name in leases: host/pid/random.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Runs `f` until it succeeds, fails for good, or `patience` is over
    /// (connection trouble is tried again with backoff).
    async fn retry<'a, T, F, Fut>(&'a self, patience: Duration, mut f: F) -> JResult<T>
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Op<T>> + 'a,
    {
        let deadline = Instant::now() + patience;
        let mut pause = Duration::from_millis(50);
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(OpError::Lost(id)) => return Err(JournalError::lost(id)),
                Err(OpError::Db(e)) if transient(&e) && Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(OpError::Db(e)) => return Err(JournalError(format!("journal: {e}"))),
            }
        }
    }

    /// The patience of a running run's writes.
    fn long(&self) -> Duration {
        Duration::from_millis(self.lease_ms as u64).max(Duration::from_secs(10))
    }

    /// Waits until the step rows and events queued before now are written.
    async fn barrier(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ordered.send(Ordered::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Holds run `id` for this node (extending the lease) for the rest of the
/// transaction; `Lost` when another node took it over.
async fn fence(tx: &mut sqlx::PgConnection, id: i64, node: &str, lease_ms: i64) -> Op<()> {
    let held: Option<i64> = sqlx::query_scalar(
        "UPDATE rbk_runs SET lease_until = greatest(coalesce(lease_until, 0), rbk_now_ms() + $3)
         WHERE id = $1 AND lease_owner = $2 RETURNING id",
    )
    .bind(id)
    .bind(node)
    .bind(lease_ms)
    .fetch_optional(&mut *tx)
    .await?;
    held.map(|_| ()).ok_or(OpError::Lost(id))
}

async fn insert_values(tx: &mut sqlx::PgConnection, id: i64, values: &[ValueRow]) -> Op<()> {
    for v in values {
        sqlx::query(
            "INSERT INTO rbk_vals (run_id, kind, path, seq, value) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&v.kind)
        .bind(&v.path)
        .bind(v.seq as i32)
        .bind(&v.value)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn write_step(c: &mut sqlx::PgConnection, node: &str, id: i64, s: &StepRow) -> Op<()> {
    sqlx::query(
        "INSERT INTO rbk_steps (run_id, path, seq, name, target, state, started_at, finished_at, status, outputs, error)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
          WHERE EXISTS (SELECT 1 FROM rbk_runs WHERE id = $1 AND lease_owner = $12)
         ON CONFLICT (run_id, path, seq) DO UPDATE SET
           state = CASE WHEN excluded.state = 'running' AND rbk_steps.finished_at IS NOT NULL
                        THEN rbk_steps.state ELSE excluded.state END,
           finished_at = coalesce(excluded.finished_at, rbk_steps.finished_at),
           status = coalesce(excluded.status, rbk_steps.status),
           outputs = coalesce(excluded.outputs, rbk_steps.outputs),
           error = coalesce(excluded.error, rbk_steps.error)",
    )
    .bind(id)
    .bind(&s.path)
    .bind(s.seq as i32)
    .bind(&s.name)
    .bind(&s.target)
    .bind(&s.state)
    .bind(s.started_at)
    .bind(s.finished_at)
    .bind(s.status)
    .bind(s.outputs.as_ref().map(|o| o.to_string()))
    .bind(&s.error)
    .bind(node)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn write_ordered(pool: &PgPool, node: &str, ops: &[Ordered]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for op in ops {
        match op {
            Ordered::Step(id, s) => {
                if let Err(OpError::Db(e)) = write_step(&mut tx, node, *id, s).await {
                    return Err(e);
                }
            }
            Ordered::Event(payload) => {
                sqlx::query("SELECT pg_notify('rbk_events', $1)")
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
            }
            Ordered::Barrier(_) => {}
        }
    }
    tx.commit().await
}

/// Writes step rows and events in the order they came, in groups; best
/// effort (they are for the page and live listeners, not for resume).
async fn ordered_writer(pool: PgPool, node: String, mut rx: mpsc::UnboundedReceiver<Ordered>) {
    while let Some(first) = rx.recv().await {
        let mut ops = vec![first];
        while ops.len() < 256 {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        if ops.iter().any(|o| !matches!(o, Ordered::Barrier(_))) {
            let deadline = Instant::now() + SHORT;
            let mut pause = Duration::from_millis(50);
            loop {
                match write_ordered(&pool, &node, &ops).await {
                    Ok(()) => break,
                    Err(e) if transient(&e) && Instant::now() + pause < deadline => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(1));
                    }
                    // The database stays away: these rows are lost (the
                    // page shows the run's calls from the journal anyway).
                    Err(e) if transient(&e) => break,
                    Err(_) => {
                        // One bad row must not drop the others: one by one.
                        for op in &ops {
                            if let Ok(mut c) = pool.acquire().await {
                                let _ = write_ordered_one(&mut c, &node, op).await;
                            }
                        }
                        break;
                    }
                }
            }
        }
        for op in ops {
            if let Ordered::Barrier(tx) = op {
                let _ = tx.send(());
            }
        }
    }
}

async fn write_ordered_one(c: &mut sqlx::PgConnection, node: &str, op: &Ordered) -> Op<()> {
    match op {
        Ordered::Step(id, s) => write_step(c, node, *id, s).await,
        Ordered::Event(payload) => {
            sqlx::query("SELECT pg_notify('rbk_events', $1)")
                .bind(payload)
                .execute(&mut *c)
                .await?;
            Ok(())
        }
        Ordered::Barrier(_) => Ok(()),
    }
}

/// Hands other nodes' notices to the server (a lost connection is
/// re-established by the listener on its next receive).
async fn listen(mut l: PgListener, node: String, tx: mpsc::UnboundedSender<Notice>) {
    loop {
        match l.recv().await {
            Ok(n) => {
                let notice = match n.channel() {
                    "rbk_queue" => Some(Notice::Queued),
                    _ => serde_json::from_str::<serde_json::Value>(n.payload())
                        .ok()
                        .filter(|v| v.get("node").and_then(|n| n.as_str()) != Some(node.as_str()))
                        .map(Notice::Event),
                };
                if let Some(notice) = notice
                    && tx.send(notice).is_err()
                {
                    return;
                }
            }
            Err(_) => {
                if tx.is_closed() {
                    return;
                }
                // Woken workers also poll: nothing is missed for long.
                let _ = tx.send(Notice::Reconnected);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn state_of(s: String) -> RunState {
    RunState::parse(&s).unwrap_or(RunState::Failed)
}

fn json_of(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|t| serde_json::from_str(&t).ok())
}

const SUMMARY_COLUMNS: &str = "id, runbook, state, trigger_kind, trigger_info, args_shown, result_shown, error, error_code, attention, created_at, started_at, finished_at";

fn summary_row(r: &PgRow) -> Result<RunSummary, sqlx::Error> {
    let kind: String = r.try_get(3)?;
    let mut trigger = json_of(r.try_get(4)?).unwrap_or(serde_json::json!({}));
    if let Some(o) = trigger.as_object_mut() {
        o.insert("kind".into(), serde_json::Value::String(kind));
    }
    Ok(RunSummary {
        id: r.try_get(0)?,
        runbook: r.try_get(1)?,
        state: state_of(r.try_get(2)?),
        trigger,
        args: json_of(r.try_get(5)?).unwrap_or(serde_json::json!({})),
        result: json_of(r.try_get(6)?),
        error: r.try_get(7)?,
        error_code: r.try_get(8)?,
        attention: r.try_get(9)?,
        created_at: r.try_get(10)?,
        started_at: r.try_get(11)?,
        finished_at: r.try_get(12)?,
    })
}

fn call_row(r: &PgRow) -> Result<CallRow, sqlx::Error> {
    Ok(CallRow {
        path: r.try_get(0)?,
        seq: r.try_get::<i32, _>(1)? as u32,
        step: r.try_get(2)?,
        verb: r.try_get(3)?,
        url: r.try_get(4)?,
        idempotent: r.try_get(5)?,
        idem_header: r.try_get(6)?,
        idem_key: r.try_get(7)?,
        sends: r.try_get::<i32, _>(8)? as u32,
        intent_at: r.try_get(9)?,
        result_at: r.try_get(10)?,
        status: r.try_get::<Option<i32>, _>(11)?.map(|s| s as u16),
        error: r.try_get(12)?,
        elapsed_ms: r.try_get(13)?,
        answer_sealed: r.try_get(14)?,
        resolution: r.try_get(15)?,
    })
}

/// What makes a run unique: a webhook's delivery id, or a schedule's fire
/// time (the first commit of one wins, on every node).
enum Unique<'a> {
    Delivery(&'a str, &'a str),
    Fire(&'a str, i64),
}

impl Unique<'_> {
    /// The run committed under this key, if any.
    async fn first(&self, c: &mut sqlx::PgConnection) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Unique::Delivery(hook, d) => {
                sqlx::query_scalar(
                    "SELECT run_id FROM rbk_deliveries WHERE hook = $1 AND delivery = $2",
                )
                .bind(hook)
                .bind(d)
                .fetch_optional(c)
                .await
            }
            Unique::Fire(schedule, at) => {
                sqlx::query_scalar(
                    "SELECT run_id FROM rbk_fires WHERE schedule = $1 AND fire_at = $2",
                )
                .bind(schedule)
                .bind(at)
                .fetch_optional(c)
                .await
            }
        }
    }

    /// Records run `id` under this key; false when another commit has it
    /// (a concurrent one waits for ours, then inserts nothing).
    async fn record(&self, c: &mut sqlx::PgConnection, id: i64) -> Result<bool, sqlx::Error> {
        let done = match self {
            Unique::Delivery(hook, d) => {
                sqlx::query(
                    "INSERT INTO rbk_deliveries (hook, delivery, run_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(hook)
                .bind(d)
                .bind(id)
                .execute(c)
                .await?
            }
            Unique::Fire(schedule, at) => {
                sqlx::query(
                    "INSERT INTO rbk_fires (schedule, fire_at, run_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(schedule)
                .bind(at)
                .bind(id)
                .execute(c)
                .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }
}

/// A run's first commit (a retry after a lost answer finds it by `key`).
async fn accept_tx(pool: &PgPool, key: &str, run: &NewRun) -> Op<Accepted> {
    let uniques: Vec<Unique> = run
        .dedupe
        .iter()
        .map(|(hook, d)| Unique::Delivery(hook, d))
        .chain(run.fire.iter().map(|(s, at)| Unique::Fire(s, *at)))
        .collect();
    let mut tx = pool.begin().await?;
    let again: Option<i64> = sqlx::query_scalar("SELECT id FROM rbk_runs WHERE accept_key = $1")
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(id) = again {
        return Ok(Accepted::New(id));
    }
    for u in &uniques {
        if let Some(first) = u.first(&mut tx).await? {
            return Ok(Accepted::Duplicate(first));
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO rbk_runs (accept_key, runbook, state, trigger_kind, trigger_info, args_shown, args_sealed, created_at)
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(key)
    .bind(&run.runbook)
    .bind(&run.trigger_kind)
    .bind(run.trigger_info.to_string())
    .bind(run.args_shown.to_string())
    .bind(&run.args_sealed)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    for u in &uniques {
        if !u.record(&mut tx, id).await? {
            tx.rollback().await?;
            let mut c = pool.acquire().await?;
            if let Some(first) = u.first(&mut c).await? {
                return Ok(Accepted::Duplicate(first));
            }
            // The other commit was rolled back meanwhile: try again.
            return Err(OpError::Db(sqlx::Error::Protocol(
                "a concurrent commit of the same key went away".into(),
            )));
        }
    }
    sqlx::query("SELECT pg_notify('rbk_queue', '')")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Accepted::New(id))
}

impl Journal for Postgres {
    fn shared(&self) -> bool {
        true
    }

    fn accept(&self, run: NewRun) -> BoxFuture<'_, JResult<Accepted>> {
        let key = uuid::Uuid::new_v4().to_string();
        async move {
            self.retry(SHORT, || accept_tx(&self.pool, &key, &run))
                .await
        }
        .boxed()
    }

    fn delivery(&self, hook: &str, id: &str) -> BoxFuture<'_, JResult<Option<i64>>> {
        let (hook, id) = (hook.to_string(), id.to_string());
        async move {
            self.retry(SHORT, || async {
                Ok(sqlx::query_scalar(
                    "SELECT run_id FROM rbk_deliveries WHERE hook = $1 AND delivery = $2",
                )
                .bind(&hook)
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?)
            })
            .await
        }
        .boxed()
    }

    fn last_fire(&self, schedule: &str) -> BoxFuture<'_, JResult<Option<i64>>> {
        let schedule = schedule.to_string();
        async move {
            self.retry(SHORT, || async {
                Ok(
                    sqlx::query_scalar("SELECT max(fire_at) FROM rbk_fires WHERE schedule = $1")
                        .bind(&schedule)
                        .fetch_one(&self.pool)
                        .await?,
                )
            })
            .await
        }
        .boxed()
    }

    fn unfinished(&self) -> BoxFuture<'_, JResult<Vec<i64>>> {
        // Shared runs are claimed, not resumed at start.
        async { Ok(Vec::new()) }.boxed()
    }

    fn queued(&self) -> BoxFuture<'_, JResult<Vec<i64>>> {
        async { Ok(Vec::new()) }.boxed()
    }

    fn run(&self, id: i64) -> BoxFuture<'_, JResult<Option<RunRow>>> {
        async move {
            self.retry(self.long(), || async {
                let r = sqlx::query(
                    "SELECT id, runbook, state, args_sealed, cancel,
                       EXISTS (SELECT 1 FROM rbk_calls WHERE run_id = $1)
                         OR EXISTS (SELECT 1 FROM rbk_vals WHERE run_id = $1)
                     FROM rbk_runs WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = r else { return Ok(None) };
                Ok(Some(RunRow {
                    id: r.try_get(0)?,
                    runbook: r.try_get(1)?,
                    state: state_of(r.try_get(2)?),
                    args_sealed: r.try_get(3)?,
                    cancel: r.try_get(4)?,
                    resumed: r.try_get(5)?,
                }))
            })
            .await
        }
        .boxed()
    }

    fn start(&self, id: i64) -> BoxFuture<'_, JResult<()>> {
        // The claim marked it running (and its start time, the first time).
        let _ = id;
        async { Ok(()) }.boxed()
    }

    fn finish(&self, id: i64, state: RunState, ending: Ending) -> BoxFuture<'_, JResult<()>> {
        async move {
            // The run's last step rows go first.
            self.barrier().await;
            let result = ending.result_shown.as_ref().map(|v| v.to_string());
            let finished = state.is_final().then(now_ms);
            self.retry(self.long(), || async {
                // One statement: the fence (this node holds the lease) and
                // the update, which gives the lease up; a queued run also
                // wakes the workers.
                let held: i64 = sqlx::query_scalar(
                    "WITH f AS (
                       UPDATE rbk_runs SET state = $2, result_shown = $3, error = $4, error_code = $5,
                              attention = $6, finished_at = $7, lease_owner = NULL, lease_until = NULL
                        WHERE id = $1 AND lease_owner = $8 RETURNING id)
                     SELECT count(*) FROM f
                      WHERE $2 <> 'queued' OR pg_notify('rbk_queue', '') IS NOT NULL",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(&result)
                .bind(&ending.error)
                .bind(&ending.error_code)
                .bind(&ending.attention)
                .bind(finished)
                .bind(&self.node)
                .fetch_one(&self.pool)
                .await?;
                if held == 0 {
                    return Err(OpError::Lost(id));
                }
                Ok(())
            })
            .await
        }
        .boxed()
    }

    fn calls(&self, id: i64) -> BoxFuture<'_, JResult<Vec<CallRow>>> {
        async move {
            self.retry(self.long(), || async {
                let rows = sqlx::query(
                    "SELECT path, seq, step, verb, url, idempotent, idem_header, idem_key, sends, intent_at,
                     result_at, status, error, elapsed_ms, answer_sealed, resolution
                     FROM rbk_calls WHERE run_id = $1 ORDER BY intent_at, path, seq",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.iter().map(call_row).collect::<Result<Vec<_>, _>>()?)
            })
            .await
        }
        .boxed()
    }

    fn values(&self, id: i64) -> BoxFuture<'_, JResult<Vec<ValueRow>>> {
        async move {
            self.retry(self.long(), || async {
                let rows =
                    sqlx::query("SELECT kind, path, seq, value FROM rbk_vals WHERE run_id = $1")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(ValueRow {
                        kind: r.try_get(0)?,
                        path: r.try_get(1)?,
                        seq: r.try_get::<i32, _>(2)? as u32,
                        value: r.try_get(3)?,
                    });
                }
                Ok(out)
            })
            .await
        }
        .boxed()
    }

    fn intent(&self, id: i64, values: Vec<ValueRow>, call: CallRow) -> BoxFuture<'_, JResult<()>> {
        // The time marks this intent: a retried commit does not count a send twice.
        let at = now_ms();
        async move {
            self.retry(self.long(), || async {
                // Values first, in one transaction with the intent; without
                // values (the common case), one statement does it all.
                let mut tx = if values.is_empty() {
                    None
                } else {
                    let mut tx = self.pool.begin().await?;
                    fence(&mut tx, id, &self.node, self.lease_ms).await?;
                    insert_values(&mut tx, id, &values).await?;
                    Some(tx)
                };
                let q = sqlx::query_scalar::<_, i64>(
                    "WITH f AS (
                       UPDATE rbk_runs SET lease_until = greatest(coalesce(lease_until, 0), rbk_now_ms() + $12)
                        WHERE id = $1 AND lease_owner = $11 RETURNING id),
                     c AS (
                       INSERT INTO rbk_calls (run_id, path, seq, step, verb, url, idempotent, idem_header, idem_key, sends, intent_at)
                       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10 FROM f
                       ON CONFLICT (run_id, path, seq) DO UPDATE SET
                         sends = rbk_calls.sends + CASE WHEN rbk_calls.intent_at = excluded.intent_at THEN 0 ELSE 1 END,
                         resolution = NULL, intent_at = excluded.intent_at
                       RETURNING 1)
                     SELECT count(*) FROM f",
                )
                .bind(id)
                .bind(&call.path)
                .bind(call.seq as i32)
                .bind(&call.step)
                .bind(&call.verb)
                .bind(&call.url)
                .bind(call.idempotent)
                .bind(&call.idem_header)
                .bind(&call.idem_key)
                .bind(at)
                .bind(&self.node)
                .bind(self.lease_ms);
                let held = match tx.as_mut() {
                    Some(tx) => q.fetch_one(&mut **tx).await?,
                    None => q.fetch_one(&self.pool).await?,
                };
                if held == 0 {
                    return Err(OpError::Lost(id));
                }
                if let Some(tx) = tx {
                    tx.commit().await?;
                }
                Ok(())
            })
            .await
        }
        .boxed()
    }

    fn result(&self, id: i64, call: CallRow) -> BoxFuture<'_, JResult<()>> {
        let at = now_ms();
        async move {
            self.retry(self.long(), || async {
                let held: i64 = sqlx::query_scalar(
                    "WITH f AS (
                       UPDATE rbk_runs SET lease_until = greatest(coalesce(lease_until, 0), rbk_now_ms() + $10)
                        WHERE id = $1 AND lease_owner = $9 RETURNING id),
                     u AS (
                       UPDATE rbk_calls c SET result_at = $4, status = $5, error = $6, elapsed_ms = $7,
                              answer_sealed = $8, resolution = NULL
                         FROM f WHERE c.run_id = f.id AND c.path = $2 AND c.seq = $3
                       RETURNING 1)
                     SELECT count(*) FROM f",
                )
                .bind(id)
                .bind(&call.path)
                .bind(call.seq as i32)
                .bind(at)
                .bind(call.status.map(i32::from))
                .bind(&call.error)
                .bind(call.elapsed_ms)
                .bind(&call.answer_sealed)
                .bind(&self.node)
                .bind(self.lease_ms)
                .fetch_one(&self.pool)
                .await?;
                if held == 0 {
                    return Err(OpError::Lost(id));
                }
                Ok(())
            })
            .await
        }
        .boxed()
    }

    fn put_values(&self, id: i64, values: Vec<ValueRow>) -> BoxFuture<'_, JResult<()>> {
        async move {
            self.retry(self.long(), || async {
                let mut tx = self.pool.begin().await?;
                fence(&mut tx, id, &self.node, self.lease_ms).await?;
                insert_values(&mut tx, id, &values).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
        }
        .boxed()
    }

    fn step(&self, id: i64, step: StepRow) {
        let _ = self.ordered.send(Ordered::Step(id, step));
    }

    fn steps(&self, id: i64) -> BoxFuture<'_, JResult<Vec<StepRow>>> {
        async move {
            self.retry(SHORT, || async {
                let rows = sqlx::query(
                    "SELECT path, seq, name, target, state, started_at, finished_at, status, outputs, error
                     FROM rbk_steps WHERE run_id = $1 ORDER BY started_at, path, seq",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(StepRow {
                        path: r.try_get(0)?,
                        seq: r.try_get::<i32, _>(1)? as u32,
                        name: r.try_get(2)?,
                        target: r.try_get(3)?,
                        state: r.try_get(4)?,
                        started_at: r.try_get(5)?,
                        finished_at: r.try_get(6)?,
                        status: r.try_get(7)?,
                        outputs: json_of(r.try_get(8)?),
                        error: r.try_get(9)?,
                    });
                }
                Ok(out)
            })
            .await
        }
        .boxed()
    }

    fn list(&self, f: ListFilter) -> BoxFuture<'_, JResult<Vec<RunSummary>>> {
        async move {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM rbk_runs
                 WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR runbook = $2)
                   AND ($3::bigint IS NULL OR id < $3)
                 ORDER BY id DESC LIMIT $4"
            );
            self.retry(SHORT, || async {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(f.state.map(|s| s.as_str()))
                    .bind(&f.runbook)
                    .bind(f.before)
                    .bind(f.limit as i64)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .iter()
                    .map(summary_row)
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
        }
        .boxed()
    }

    fn summary(&self, id: i64) -> BoxFuture<'_, JResult<Option<RunSummary>>> {
        async move {
            let sql = format!("SELECT {SUMMARY_COLUMNS} FROM rbk_runs WHERE id = $1");
            self.retry(SHORT, || async {
                let r = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(r.as_ref().map(summary_row).transpose()?)
            })
            .await
        }
        .boxed()
    }

    fn cancel(&self, id: i64) -> BoxFuture<'_, JResult<CancelOutcome>> {
        async move {
            self.retry(SHORT, || async {
                let mut tx = self.pool.begin().await?;
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM rbk_runs WHERE id = $1 FOR UPDATE")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(state) = state.map(state_of) else {
                    return Ok(CancelOutcome::NotFound);
                };
                let out = match state {
                    s if s.is_final() => CancelOutcome::AlreadyFinal(s),
                    RunState::Queued | RunState::NeedsAttention => {
                        sqlx::query(
                            "UPDATE rbk_runs SET state = 'cancelled', cancel = true, finished_at = $2,
                             error = 'cancelled by an operator', error_code = 'rbk::serve::cancelled',
                             lease_owner = NULL, lease_until = NULL WHERE id = $1",
                        )
                        .bind(id)
                        .bind(now_ms())
                        .execute(&mut *tx)
                        .await?;
                        CancelOutcome::Cancelled
                    }
                    _ => {
                        sqlx::query("UPDATE rbk_runs SET cancel = true WHERE id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        CancelOutcome::Requested
                    }
                };
                tx.commit().await?;
                Ok(out)
            })
            .await
        }
        .boxed()
    }

    fn cancel_requested(&self) -> BoxFuture<'_, JResult<Vec<i64>>> {
        async move {
            self.retry(SHORT, || async {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM rbk_runs WHERE cancel AND state = 'running' AND lease_owner = $1",
                )
                .bind(&self.node)
                .fetch_all(&self.pool)
                .await?)
            })
            .await
        }
        .boxed()
    }

    fn resolve(&self, id: i64, retry: bool) -> BoxFuture<'_, JResult<ResolveOutcome>> {
        async move {
            self.retry(SHORT, || async {
                let mut tx = self.pool.begin().await?;
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM rbk_runs WHERE id = $1 FOR UPDATE")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(state) = state.map(state_of) else {
                    return Ok(ResolveOutcome::NotFound);
                };
                if state != RunState::NeedsAttention {
                    return Ok(ResolveOutcome::NotWaiting(state));
                }
                sqlx::query(
                    "UPDATE rbk_calls SET resolution = $2 WHERE run_id = $1 AND result_at IS NULL",
                )
                .bind(id)
                .bind(if retry { "retry" } else { "fail" })
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE rbk_runs SET state = 'queued', attention = NULL, lease_owner = NULL,
                     lease_until = NULL WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("SELECT pg_notify('rbk_queue', '')")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(ResolveOutcome::Queued)
            })
            .await
        }
        .boxed()
    }

    fn counts(&self) -> BoxFuture<'_, JResult<Vec<(RunState, i64)>>> {
        async move {
            self.retry(SHORT, || async {
                let rows = sqlx::query("SELECT state, count(*) FROM rbk_runs GROUP BY state")
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push((state_of(r.try_get(0)?), r.try_get(1)?));
                }
                Ok(out)
            })
            .await
        }
        .boxed()
    }

    fn prune(&self, cutoff_ms: i64) -> BoxFuture<'_, JResult<u64>> {
        async move {
            self.retry(SHORT, || async {
                let mut tx = self.pool.begin().await?;
                let old = "SELECT id FROM rbk_runs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1";
                for table in ["rbk_calls", "rbk_vals", "rbk_steps", "rbk_deliveries", "rbk_fires"] {
                    let sql = format!("DELETE FROM {table} WHERE run_id IN ({old})");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(cutoff_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                let n = sqlx::query(
                    "DELETE FROM rbk_runs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1",
                )
                .bind(cutoff_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n)
            })
            .await
        }
        .boxed()
    }

    fn claim(&self, max: usize) -> BoxFuture<'_, JResult<Vec<i64>>> {
        async move {
            if max == 0 {
                return Ok(Vec::new());
            }
            // No retry: the caller claims again at its next tick.
            self.retry(Duration::ZERO, || async {
                Ok(sqlx::query_scalar(
                    "WITH c AS (
                       SELECT id FROM rbk_runs
                        WHERE state = 'queued'
                           OR (state = 'running' AND coalesce(lease_until, 0) < rbk_now_ms())
                        ORDER BY id LIMIT $2
                        FOR UPDATE SKIP LOCKED)
                     UPDATE rbk_runs r SET state = 'running', lease_owner = $1,
                            lease_until = rbk_now_ms() + $3,
                            started_at = coalesce(r.started_at, rbk_now_ms())
                       FROM c WHERE r.id = c.id
                     RETURNING r.id",
                )
                .bind(&self.node)
                .bind(max as i64)
                .bind(self.lease_ms)
                .fetch_all(&self.pool)
                .await?)
            })
            .await
        }
        .boxed()
    }

    fn renew(&self, ids: Vec<i64>) -> BoxFuture<'_, JResult<Vec<i64>>> {
        async move {
            if ids.is_empty() {
                return Ok(ids);
            }
            self.retry(Duration::ZERO, || async {
                Ok(sqlx::query_scalar(
                    "UPDATE rbk_runs SET lease_until = rbk_now_ms() + $3
                      WHERE id = ANY($2) AND lease_owner = $1 AND state = 'running'
                     RETURNING id",
                )
                .bind(&self.node)
                .bind(&ids)
                .bind(self.lease_ms)
                .fetch_all(&self.pool)
                .await?)
            })
            .await
        }
        .boxed()
    }

    fn publish(&self, run: i64, kind: &str, data: &serde_json::Value) {
        let mut payload =
            serde_json::json!({"node": self.node, "run": run, "kind": kind, "data": data})
                .to_string();
        // NOTIFY carries under 8000 bytes: a long event goes without its data.
        if payload.len() > 7000 {
            payload = serde_json::json!({"node": self.node, "run": run, "kind": kind, "data": {"truncated": true}})
                .to_string();
        }
        let _ = self.ordered.send(Ordered::Event(payload));
    }

    fn queued_count(&self) -> BoxFuture<'_, JResult<i64>> {
        async move {
            self.retry(SHORT, || async {
                Ok(
                    sqlx::query_scalar("SELECT count(*) FROM rbk_runs WHERE state = 'queued'")
                        .fetch_one(&self.pool)
                        .await?,
                )
            })
            .await
        }
        .boxed()
    }

    fn take_rate(
        &self,
        name: &str,
        requests: u64,
        per: Duration,
    ) -> BoxFuture<'_, JResult<Duration>> {
        let name = name.to_string();
        let capacity = requests.max(1) as f64;
        let per_token_ms = (per.as_secs_f64() * 1000.0 / capacity).max(0.001);
        async move {
            self.retry(self.long(), || async {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO rbk_rates (name, tokens, last_ms) VALUES ($1, $2, rbk_now_ms())
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&name)
                .bind(capacity)
                .execute(&mut *tx)
                .await?;
                // Refill by the time passed (the database's clock), then take one.
                let tokens: f64 = sqlx::query_scalar(
                    "WITH t AS (SELECT rbk_now_ms() AS now)
                     UPDATE rbk_rates r SET tokens = least($2, r.tokens + (t.now - r.last_ms) / $3),
                            last_ms = t.now
                       FROM t WHERE r.name = $1 RETURNING r.tokens",
                )
                .bind(&name)
                .bind(capacity)
                .bind(per_token_ms)
                .fetch_one(&mut *tx)
                .await?;
                let wait = if tokens >= 1.0 {
                    sqlx::query("UPDATE rbk_rates SET tokens = tokens - 1 WHERE name = $1")
                        .bind(&name)
                        .execute(&mut *tx)
                        .await?;
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64(((1.0 - tokens) * per_token_ms / 1000.0).max(0.001))
                };
                tx.commit().await?;
                Ok(wait)
            })
            .await
        }
        .boxed()
    }

    fn take_slot(
        &self,
        name: &str,
        slots: u64,
        hold: Duration,
    ) -> BoxFuture<'_, JResult<Option<(i32, String)>>> {
        let name = name.to_string();
        let slots = slots.clamp(1, 10_000) as i32;
        let hold_ms = hold.as_millis().min(i64::MAX as u128) as i64;
        async move {
            self.retry(self.long(), || async {
                let token = format!("{}/{}", self.node, uuid::Uuid::new_v4().simple());
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO rbk_slots (name, slot)
                     SELECT $1, g FROM generate_series(0, $2 - 1) g ON CONFLICT DO NOTHING",
                )
                .bind(&name)
                .bind(slots)
                .execute(&mut *tx)
                .await?;
                // A free slot, or one whose holder died (its hold ran out).
                let slot: Option<i32> = sqlx::query_scalar(
                    "UPDATE rbk_slots s SET owner = $3, until_ms = rbk_now_ms() + $4
                      WHERE (s.name, s.slot) = (
                        SELECT name, slot FROM rbk_slots
                         WHERE name = $1 AND slot < $2
                           AND (owner IS NULL OR until_ms < rbk_now_ms())
                         ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING s.slot",
                )
                .bind(&name)
                .bind(slots)
                .bind(&token)
                .bind(hold_ms)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(slot.map(|s| (s, token)))
            })
            .await
        }
        .boxed()
    }

    fn give_slot(&self, name: &str, slot: i32, token: &str) -> BoxFuture<'_, JResult<()>> {
        let (name, token) = (name.to_string(), token.to_string());
        async move {
            self.retry(SHORT, || async {
                sqlx::query(
                    "UPDATE rbk_slots SET owner = NULL, until_ms = NULL
                      WHERE name = $1 AND slot = $2 AND owner = $3",
                )
                .bind(&name)
                .bind(slot)
                .bind(&token)
                .execute(&self.pool)
                .await?;
                Ok(())
            })
            .await
        }
        .boxed()
    }

    fn notices(&self) -> Option<mpsc::UnboundedReceiver<Notice>> {
        self.notices.lock().ok().and_then(|mut n| n.take())
    }
}
