//! The embedded journal: one SQLite file in WAL mode, its schema in the
//! versioned migrations of `migrations/` (rusqlite_migration, tracked by
//! `user_version`).
//!
//! rusqlite is synchronous: one writer thread owns the write connection
//! and commits operations in groups (every operation waiting when a
//! transaction starts goes into it, each under its own savepoint, so one
//! that fails does not undo the others); each caller is answered only
//! after the group's COMMIT. A second thread answers reads on its own
//! connection (WAL lets readers run beside the writer). `synchronous =
//! FULL`: a commit that returned survives a crash of the process and of
//! the machine.

use std::path::Path;
use std::sync::mpsc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use super::*;

const MIGRATIONS: &[M<'static>] = &[M::up(include_str!("migrations/0001_init.sql"))];

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
type WriteOp = Box<dyn FnOnce(&Connection) -> Reply + Send>;
type ReadOp = Box<dyn FnOnce(&Connection) + Send>;

pub struct Sqlite {
    writer: mpsc::Sender<WriteOp>,
    reader: mpsc::Sender<ReadOp>,
}

fn connect(path: &Path) -> Result<Connection, String> {
    let c = Connection::open(path)
        .map_err(|e| format!("cannot open the journal {}: {e}", path.display()))?;
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| format!("cannot set up the journal {}: {e}", path.display()))?;
    Ok(c)
}

impl Sqlite {
    /// Opens (creating the file and its directory when missing) and
    /// migrates to the latest schema.
    pub fn open(path: &Path) -> Result<Sqlite, String> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut w = connect(path)?;
        Migrations::from_slice(MIGRATIONS)
            .to_latest(&mut w)
            .map_err(|e| format!("cannot migrate the journal {}: {e}", path.display()))?;
        let r = connect(path)?;
        let (wtx, wrx) = mpsc::channel::<WriteOp>();
        let (rtx, rrx) = mpsc::channel::<ReadOp>();
        std::thread::Builder::new()
            .name("rbk-journal-writer".into())
            .spawn(move || writer_loop(w, wrx))
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("rbk-journal-reader".into())
            .spawn(move || {
                while let Ok(op) = rrx.recv() {
                    op(&r);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Sqlite {
            writer: wtx,
            reader: rtx,
        })
    }

    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'_, JResult<T>> {
        let (tx, rx) = tokio::sync::oneshot::channel::<JResult<T>>();
        let op: WriteOp = Box::new(move |c: &Connection| {
            let r = (|| {
                c.execute_batch("SAVEPOINT op")?;
                match f(c) {
                    Ok(v) => {
                        c.execute_batch("RELEASE op")?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = c.execute_batch("ROLLBACK TO op; RELEASE op");
                        Err(e)
                    }
                }
            })();
            Box::new(move |commit: Result<(), String>| {
                let out = match (r, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(JournalError(format!("journal: {e}"))),
                    (_, Err(e)) => Err(JournalError(format!("journal commit: {e}"))),
                };
                let _ = tx.send(out);
            })
        });
        let sent = self.writer.send(op);
        async move {
            sent.map_err(|_| JournalError("the journal writer stopped".into()))?;
            rx.await
                .map_err(|_| JournalError("the journal writer stopped".into()))?
        }
        .boxed()
    }

    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'_, JResult<T>> {
        let (tx, rx) = tokio::sync::oneshot::channel::<JResult<T>>();
        let op: ReadOp = Box::new(move |c: &Connection| {
            let _ = tx.send(f(c).map_err(|e| JournalError(format!("journal: {e}"))));
        });
        let sent = self.reader.send(op);
        async move {
            sent.map_err(|_| JournalError("the journal reader stopped".into()))?;
            rx.await
                .map_err(|_| JournalError("the journal reader stopped".into()))?
        }
        .boxed()
    }
}

fn writer_loop(c: Connection, rx: mpsc::Receiver<WriteOp>) {
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while ops.len() < 512 {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let begun = c
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| e.to_string());
        let mut replies = Vec::with_capacity(ops.len());
        for op in ops {
            if let Err(e) = &begun {
                let e = e.clone();
                // Run nothing without a transaction: answer the error.
                drop(op);
                replies.push(Box::new(move |_: Result<(), String>| {
                    let _ = e;
                }) as Reply);
                continue;
            }
            replies.push(op(&c));
        }
        let commit = match begun {
            Ok(()) => c.execute_batch("COMMIT").map_err(|e| {
                let _ = c.execute_batch("ROLLBACK");
                e.to_string()
            }),
            Err(e) => Err(e),
        };
        for reply in replies {
            reply(commit.clone());
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

fn summary_row(r: &rusqlite::Row) -> rusqlite::Result<RunSummary> {
    let kind: String = r.get(3)?;
    let mut trigger = json_of(r.get(4)?).unwrap_or(serde_json::json!({}));
    if let Some(o) = trigger.as_object_mut() {
        o.insert("kind".into(), serde_json::Value::String(kind));
    }
    Ok(RunSummary {
        id: r.get(0)?,
        runbook: r.get(1)?,
        state: state_of(r.get(2)?),
        trigger,
        args: json_of(r.get(5)?).unwrap_or(serde_json::json!({})),
        result: json_of(r.get(6)?),
        error: r.get(7)?,
        error_code: r.get(8)?,
        attention: r.get(9)?,
        created_at: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
    })
}

fn call_row(r: &rusqlite::Row) -> rusqlite::Result<CallRow> {
    Ok(CallRow {
        path: r.get(0)?,
        seq: r.get(1)?,
        step: r.get(2)?,
        verb: r.get(3)?,
        url: r.get(4)?,
        idempotent: r.get(5)?,
        idem_header: r.get(6)?,
        idem_key: r.get(7)?,
        sends: r.get(8)?,
        intent_at: r.get(9)?,
        result_at: r.get(10)?,
        status: r.get(11)?,
        error: r.get(12)?,
        elapsed_ms: r.get(13)?,
        answer_sealed: r.get(14)?,
        resolution: r.get(15)?,
    })
}

fn insert_values(c: &Connection, id: i64, values: &[ValueRow]) -> rusqlite::Result<()> {
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO vals (run_id, kind, path, seq, value) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for v in values {
        st.execute(params![id, v.kind, v.path, v.seq, v.value])?;
    }
    Ok(())
}

impl Journal for Sqlite {
    fn accept(&self, run: NewRun) -> BoxFuture<'_, JResult<Accepted>> {
        self.write(move |c| {
            if let Some((hook, id)) = &run.dedupe {
                let first: Option<i64> = c
                    .query_row(
                        "SELECT run_id FROM deliveries WHERE hook = ?1 AND delivery = ?2",
                        params![hook, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(first) = first {
                    return Ok(Accepted::Duplicate(first));
                }
            }
            if let Some((schedule, at)) = &run.fire {
                let first: Option<i64> = c
                    .query_row(
                        "SELECT run_id FROM fires WHERE schedule = ?1 AND fire_at = ?2",
                        params![schedule, at],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(first) = first {
                    return Ok(Accepted::Duplicate(first));
                }
            }
            c.prepare_cached(
                "INSERT INTO runs (runbook, state, trigger_kind, trigger_info, args_shown, args_sealed, created_at)
                 VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                run.runbook,
                run.trigger_kind,
                run.trigger_info.to_string(),
                run.args_shown.to_string(),
                run.args_sealed,
                now_ms()
            ])?;
            let id = c.last_insert_rowid();
            if let Some((hook, delivery)) = &run.dedupe {
                c.execute(
                    "INSERT INTO deliveries (hook, delivery, run_id) VALUES (?1, ?2, ?3)",
                    params![hook, delivery, id],
                )?;
            }
            if let Some((schedule, at)) = &run.fire {
                c.execute(
                    "INSERT INTO fires (schedule, fire_at, run_id) VALUES (?1, ?2, ?3)",
                    params![schedule, at, id],
                )?;
            }
            Ok(Accepted::New(id))
        })
    }

    fn delivery(&self, hook: &str, id: &str) -> BoxFuture<'_, JResult<Option<i64>>> {
        let (hook, id) = (hook.to_string(), id.to_string());
        self.read(move |c| {
            c.query_row(
                "SELECT run_id FROM deliveries WHERE hook = ?1 AND delivery = ?2",
                params![hook, id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    fn last_fire(&self, schedule: &str) -> BoxFuture<'_, JResult<Option<i64>>> {
        let schedule = schedule.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT max(fire_at) FROM fires WHERE schedule = ?1",
                params![schedule],
                |r| r.get(0),
            )
        })
    }

    fn unfinished(&self) -> BoxFuture<'_, JResult<Vec<i64>>> {
        self.read(|c| {
            let mut st =
                c.prepare("SELECT id FROM runs WHERE state IN ('queued', 'running') ORDER BY id")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    fn queued(&self) -> BoxFuture<'_, JResult<Vec<i64>>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id FROM runs WHERE state = 'queued' ORDER BY id")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    fn run(&self, id: i64) -> BoxFuture<'_, JResult<Option<RunRow>>> {
        self.read(move |c| {
            c.query_row(
                "SELECT id, runbook, state, args_sealed, cancel,
                   EXISTS (SELECT 1 FROM calls WHERE run_id = ?1) OR EXISTS (SELECT 1 FROM vals WHERE run_id = ?1)
                 FROM runs WHERE id = ?1",
                params![id],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        runbook: r.get(1)?,
                        state: state_of(r.get(2)?),
                        args_sealed: r.get(3)?,
                        cancel: r.get::<_, i64>(4)? != 0,
                        resumed: r.get::<_, i64>(5)? != 0,
                    })
                },
            )
            .optional()
        })
    }

    fn start(&self, id: i64) -> BoxFuture<'_, JResult<()>> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE runs SET state = 'running', started_at = coalesce(started_at, ?2) WHERE id = ?1",
            )?
            .execute(params![id, now_ms()])?;
            Ok(())
        })
    }

    fn finish(&self, id: i64, state: RunState, ending: Ending) -> BoxFuture<'_, JResult<()>> {
        self.write(move |c| {
            let finished = if state.is_final() {
                Some(now_ms())
            } else {
                None
            };
            c.prepare_cached(
                "UPDATE runs SET state = ?2, result_shown = ?3, error = ?4, error_code = ?5,
                 attention = ?6, finished_at = ?7 WHERE id = ?1",
            )?
            .execute(params![
                id,
                state.as_str(),
                ending.result_shown.map(|v| v.to_string()),
                ending.error,
                ending.error_code,
                ending.attention,
                finished
            ])?;
            Ok(())
        })
    }

    fn calls(&self, id: i64) -> BoxFuture<'_, JResult<Vec<CallRow>>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT path, seq, step, verb, url, idempotent, idem_header, idem_key, sends, intent_at,
                 result_at, status, error, elapsed_ms, answer_sealed, resolution
                 FROM calls WHERE run_id = ?1 ORDER BY intent_at, path, seq",
            )?;
            st.query_map(params![id], call_row)?.collect()
        })
    }

    fn values(&self, id: i64) -> BoxFuture<'_, JResult<Vec<ValueRow>>> {
        self.read(move |c| {
            let mut st =
                c.prepare_cached("SELECT kind, path, seq, value FROM vals WHERE run_id = ?1")?;
            st.query_map(params![id], |r| {
                Ok(ValueRow {
                    kind: r.get(0)?,
                    path: r.get(1)?,
                    seq: r.get(2)?,
                    value: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    fn intent(&self, id: i64, values: Vec<ValueRow>, call: CallRow) -> BoxFuture<'_, JResult<()>> {
        self.write(move |c| {
            insert_values(c, id, &values)?;
            c.prepare_cached(
                "INSERT INTO calls (run_id, path, seq, step, verb, url, idempotent, idem_header, idem_key, sends, intent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)
                 ON CONFLICT (run_id, path, seq) DO UPDATE SET sends = sends + 1, resolution = NULL,
                   intent_at = excluded.intent_at",
            )?
            .execute(params![
                id,
                call.path,
                call.seq,
                call.step,
                call.verb,
                call.url,
                call.idempotent,
                call.idem_header,
                call.idem_key,
                now_ms()
            ])?;
            Ok(())
        })
    }

    fn result(&self, id: i64, call: CallRow) -> BoxFuture<'_, JResult<()>> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE calls SET result_at = ?4, status = ?5, error = ?6, elapsed_ms = ?7, answer_sealed = ?8,
                 resolution = NULL WHERE run_id = ?1 AND path = ?2 AND seq = ?3",
            )?
            .execute(params![
                id,
                call.path,
                call.seq,
                now_ms(),
                call.status,
                call.error,
                call.elapsed_ms,
                call.answer_sealed
            ])?;
            Ok(())
        })
    }

    fn put_values(&self, id: i64, values: Vec<ValueRow>) -> BoxFuture<'_, JResult<()>> {
        self.write(move |c| insert_values(c, id, &values))
    }

    fn step(&self, id: i64, s: StepRow) {
        // The operation is queued when `write` is called; its answer is
        // not awaited.
        drop(self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO steps (run_id, path, seq, name, target, state, started_at, finished_at, status, outputs, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (run_id, path, seq) DO UPDATE SET
                   state = CASE WHEN excluded.state = 'running' AND steps.finished_at IS NOT NULL
                                THEN steps.state ELSE excluded.state END,
                   finished_at = coalesce(excluded.finished_at, steps.finished_at),
                   status = coalesce(excluded.status, steps.status),
                   outputs = coalesce(excluded.outputs, steps.outputs),
                   error = coalesce(excluded.error, steps.error)",
            )?
            .execute(params![
                id,
                s.path,
                s.seq,
                s.name,
                s.target,
                s.state,
                s.started_at,
                s.finished_at,
                s.status,
                s.outputs.map(|o| o.to_string()),
                s.error
            ])?;
            Ok(())
        }));
    }

    fn steps(&self, id: i64) -> BoxFuture<'_, JResult<Vec<StepRow>>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT path, seq, name, target, state, started_at, finished_at, status, outputs, error
                 FROM steps WHERE run_id = ?1 ORDER BY started_at, path, seq",
            )?;
            st.query_map(params![id], |r| {
                Ok(StepRow {
                    path: r.get(0)?,
                    seq: r.get(1)?,
                    name: r.get(2)?,
                    target: r.get(3)?,
                    state: r.get(4)?,
                    started_at: r.get(5)?,
                    finished_at: r.get(6)?,
                    status: r.get(7)?,
                    outputs: json_of(r.get(8)?),
                    error: r.get(9)?,
                })
            })?
            .collect()
        })
    }

    fn list(&self, f: ListFilter) -> BoxFuture<'_, JResult<Vec<RunSummary>>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM runs
                 WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR runbook = ?2) AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            );
            let mut st = c.prepare_cached(&sql)?;
            st.query_map(
                params![f.state.map(|s| s.as_str()), f.runbook, f.before, f.limit],
                summary_row,
            )?
            .collect()
        })
    }

    fn summary(&self, id: i64) -> BoxFuture<'_, JResult<Option<RunSummary>>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = ?1"),
                params![id],
                summary_row,
            )
            .optional()
        })
    }

    fn cancel(&self, id: i64) -> BoxFuture<'_, JResult<CancelOutcome>> {
        self.write(move |c| {
            let state: Option<String> = c
                .query_row("SELECT state FROM runs WHERE id = ?1", params![id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(state) = state.map(state_of) else {
                return Ok(CancelOutcome::NotFound);
            };
            Ok(match state {
                s if s.is_final() => CancelOutcome::AlreadyFinal(s),
                RunState::Queued | RunState::NeedsAttention => {
                    c.execute(
                        "UPDATE runs SET state = 'cancelled', cancel = 1, finished_at = ?2,
                         error = 'cancelled by an operator', error_code = 'rbk::serve::cancelled' WHERE id = ?1",
                        params![id, now_ms()],
                    )?;
                    CancelOutcome::Cancelled
                }
                _ => {
                    c.execute("UPDATE runs SET cancel = 1 WHERE id = ?1", params![id])?;
                    CancelOutcome::Requested
                }
            })
        })
    }

    fn cancel_requested(&self) -> BoxFuture<'_, JResult<Vec<i64>>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT id FROM runs WHERE cancel = 1 AND state = 'running'")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    fn resolve(&self, id: i64, retry: bool) -> BoxFuture<'_, JResult<ResolveOutcome>> {
        self.write(move |c| {
            let state: Option<String> = c
                .query_row("SELECT state FROM runs WHERE id = ?1", params![id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(state) = state.map(state_of) else {
                return Ok(ResolveOutcome::NotFound);
            };
            if state != RunState::NeedsAttention {
                return Ok(ResolveOutcome::NotWaiting(state));
            }
            c.execute(
                "UPDATE calls SET resolution = ?2 WHERE run_id = ?1 AND result_at IS NULL",
                params![id, if retry { "retry" } else { "fail" }],
            )?;
            c.execute(
                "UPDATE runs SET state = 'queued', attention = NULL WHERE id = ?1",
                params![id],
            )?;
            Ok(ResolveOutcome::Queued)
        })
    }

    fn counts(&self) -> BoxFuture<'_, JResult<Vec<(RunState, i64)>>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT state, count(*) FROM runs GROUP BY state")?;
            st.query_map([], |r| Ok((state_of(r.get(0)?), r.get(1)?)))?
                .collect()
        })
    }

    fn prune(&self, cutoff_ms: i64) -> BoxFuture<'_, JResult<u64>> {
        self.write(move |c| {
            let old = "SELECT id FROM runs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?1";
            for table in ["calls", "vals", "steps", "deliveries", "fires"] {
                c.execute(
                    &format!("DELETE FROM {table} WHERE run_id IN ({old})"),
                    params![cutoff_ms],
                )?;
            }
            let n = c.execute(
                "DELETE FROM runs WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?1",
                params![cutoff_ms],
            )?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run(dedupe: Option<(&str, &str)>) -> NewRun {
        NewRun {
            runbook: "rb".into(),
            trigger_kind: "webhook".into(),
            trigger_info: serde_json::json!({"path": "/h"}),
            args_shown: serde_json::json!({}),
            args_sealed: vec![1, 2, 3],
            dedupe: dedupe.map(|(a, b)| (a.to_string(), b.to_string())),
            fire: None,
        }
    }

    #[tokio::test]
    async fn accepts_dedupes_and_records_calls() {
        let dir = tempfile::tempdir().unwrap();
        let j = Sqlite::open(&dir.path().join("j.db")).unwrap();
        let a = j.accept(new_run(Some(("/h", "d1")))).await.unwrap();
        let Accepted::New(id) = a else { panic!() };
        assert_eq!(
            j.accept(new_run(Some(("/h", "d1")))).await.unwrap(),
            Accepted::Duplicate(id)
        );
        assert_eq!(j.delivery("/h", "d1").await.unwrap(), Some(id));
        assert_eq!(j.unfinished().await.unwrap(), vec![id]);
        let call = CallRow {
            path: "s".into(),
            seq: 0,
            step: "s".into(),
            verb: "POST".into(),
            url: "http://x/".into(),
            ..Default::default()
        };
        j.intent(id, Vec::new(), call.clone()).await.unwrap();
        j.intent(id, Vec::new(), call.clone()).await.unwrap();
        let calls = j.calls(id).await.unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].sends, 2);
        assert!(calls[0].result_at.is_none());
        let mut done = call;
        done.status = Some(201);
        done.answer_sealed = Some(vec![9]);
        j.result(id, done).await.unwrap();
        let calls = j.calls(id).await.unwrap();
        assert_eq!(calls[0].status, Some(201));
        j.finish(id, RunState::Succeeded, Ending::default())
            .await
            .unwrap();
        assert_eq!(j.prune(now_ms() + 1).await.unwrap(), 1);
        assert!(j.summary(id).await.unwrap().is_none());
        assert_eq!(j.delivery("/h", "d1").await.unwrap(), None);
    }
}
