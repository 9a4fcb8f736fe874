//! `rbk runs list|show|cancel|resolve`: the runs of a journal, read and
//! changed directly (a running `rbk serve` notices cancels and
//! resolutions within a second).

use std::sync::Arc;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::serve::journal::{
    CancelOutcome, Journal, ListFilter, ResolveOutcome, RunState, RunSummary,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

pub enum Action {
    List {
        state: Option<String>,
        runbook: Option<String>,
        limit: u32,
    },
    Show {
        id: i64,
    },
    Cancel {
        id: i64,
    },
    Resolve {
        id: i64,
        action: String,
    },
}

fn fail(code: &str, msg: &str, help: &str, exit: u8) -> u8 {
    eprintln!("error[{code}]: {msg}\n  help: {help}");
    exit
}

pub fn run(journal: Option<&str>, action: Action, format: Format) -> u8 {
    let url = journal
        .map(str::to_string)
        .unwrap_or_else(|| super::serve::default_journal(None));
    if let Some(p) = crate::serve::journal::sqlite_path(&url)
        && !p.exists()
    {
        return fail(
            "rbk::serve::journal",
            &format!("there is no journal at {}", p.display()),
            "pass --journal sqlite:PATH (rbk serve puts it in .rbk/journal.db beside the first program)",
            EXIT_USAGE,
        );
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    rt.block_on(async move {
        let opts = crate::serve::journal::OpenOptions {
            sealer: None,
            lease: std::time::Duration::from_secs(30),
            pool: 2,
            listen: false,
        };
        let j = match crate::serve::journal::open(&url, opts).await {
            Ok(j) => j,
            Err(m) => {
                return fail(
                    "rbk::serve::journal",
                    &m,
                    "check the --journal URL (sqlite:PATH or postgres://USER@HOST/DB) and that the database is reachable",
                    EXIT_USAGE,
                );
            }
        };
        act(j, action, format).await
    })
}

fn human(r: &RunSummary) -> String {
    let when = crate::serve::api::time(r.started_at.or(Some(r.created_at)));
    format!(
        "{:>6}  {:<16} {:<24} {:<9} {}",
        r.id,
        r.state.as_str(),
        r.runbook,
        r.trigger.get("kind").and_then(|k| k.as_str()).unwrap_or(""),
        when.as_str().unwrap_or("")
    )
}

async fn act(j: Arc<dyn Journal>, action: Action, format: Format) -> u8 {
    match action {
        Action::List {
            state,
            runbook,
            limit,
        } => {
            let state = match state.as_deref().map(|s| (s, RunState::parse(s))) {
                None => None,
                Some((_, Some(s))) => Some(s),
                Some((s, None)) => {
                    return fail(
                        "rbk::serve::bad_state",
                        &format!("`{s}` is not a run state"),
                        "the states are queued, running, succeeded, failed, cancelled, needs_attention",
                        EXIT_USAGE,
                    );
                }
            };
            let runs = match j
                .list(ListFilter {
                    state,
                    runbook,
                    before: None,
                    limit,
                })
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    return fail(
                        "rbk::serve::journal",
                        &e.0,
                        "check the journal",
                        EXIT_FAILED,
                    );
                }
            };
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"runs": runs.iter().map(crate::serve::api::summary_json).collect::<Vec<_>>()})
                ),
                Format::Human => {
                    println!(
                        "{:>6}  {:<16} {:<24} {:<9} started",
                        "run", "state", "runbook", "trigger"
                    );
                    for r in &runs {
                        println!("{}", human(r));
                    }
                }
            }
            EXIT_OK
        }
        Action::Show { id } => {
            let (summary, steps, calls) =
                match (j.summary(id).await, j.steps(id).await, j.calls(id).await) {
                    (Ok(Some(s)), Ok(st), Ok(c)) => (s, st, c),
                    (Ok(None), _, _) => {
                        return fail(
                            "rbk::serve::no_run",
                            &format!("there is no run {id}"),
                            "`rbk runs list` shows the runs",
                            EXIT_FAILED,
                        );
                    }
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        return fail(
                            "rbk::serve::journal",
                            &e.0,
                            "check the journal",
                            EXIT_FAILED,
                        );
                    }
                };
            let full = crate::serve::api::run_json(&summary, &steps, &calls);
            match format {
                Format::Json => println!("{full}"),
                Format::Human => {
                    println!(
                        "run {} {} ({})",
                        summary.id,
                        summary.runbook,
                        summary.state.as_str()
                    );
                    println!("  trigger: {}", summary.trigger);
                    println!("  args: {}", summary.args);
                    if let Some(e) = &summary.error {
                        println!("  error: {e}");
                    }
                    if let Some(a) = &summary.attention {
                        println!("  needs attention: {a}");
                    }
                    for s in full["steps"].as_array().into_iter().flatten() {
                        println!(
                            "  step {} {} {}",
                            s["path"].as_str().unwrap_or(""),
                            s["state"].as_str().unwrap_or(""),
                            s["error"].as_str().unwrap_or("")
                        );
                        for a in s["attempts"].as_array().into_iter().flatten() {
                            println!(
                                "    {} {} -> {} (sent {}x)",
                                a["method"].as_str().unwrap_or(""),
                                a["url"].as_str().unwrap_or(""),
                                a["status"],
                                a["sends"]
                            );
                        }
                    }
                }
            }
            EXIT_OK
        }
        Action::Cancel { id } => match j.cancel(id).await {
            Ok(CancelOutcome::Cancelled) => {
                println!("run {id} cancelled");
                EXIT_OK
            }
            Ok(CancelOutcome::Requested) => {
                println!("run {id} is running: it stops before its next request");
                EXIT_OK
            }
            Ok(CancelOutcome::AlreadyFinal(s)) => fail(
                "rbk::serve::already_finished",
                &format!("run {id} already ended {}", s.as_str()),
                "only queued, running or needs_attention runs can be cancelled",
                EXIT_FAILED,
            ),
            Ok(CancelOutcome::NotFound) => fail(
                "rbk::serve::no_run",
                &format!("there is no run {id}"),
                "`rbk runs list` shows the runs",
                EXIT_FAILED,
            ),
            Err(e) => fail(
                "rbk::serve::journal",
                &e.0,
                "check the journal",
                EXIT_FAILED,
            ),
        },
        Action::Resolve { id, action } => {
            let retry = match action.as_str() {
                "retry" => true,
                "fail" => false,
                other => {
                    return fail(
                        "rbk::serve::bad_action",
                        &format!("`{other}` is not a resolution"),
                        "write `rbk runs resolve ID retry` or `rbk runs resolve ID fail`",
                        EXIT_USAGE,
                    );
                }
            };
            match j.resolve(id, retry).await {
                Ok(ResolveOutcome::Queued) => {
                    println!("run {id} queued again ({action})");
                    EXIT_OK
                }
                Ok(ResolveOutcome::NotWaiting(s)) => fail(
                    "rbk::serve::not_needs_attention",
                    &format!("run {id} is {}, not needs_attention", s.as_str()),
                    "only a run that needs attention takes retry or fail",
                    EXIT_FAILED,
                ),
                Ok(ResolveOutcome::NotFound) => fail(
                    "rbk::serve::no_run",
                    &format!("there is no run {id}"),
                    "`rbk runs list` shows the runs",
                    EXIT_FAILED,
                ),
                Err(e) => fail(
                    "rbk::serve::journal",
                    &e.0,
                    "check the journal",
                    EXIT_FAILED,
                ),
            }
        }
    }
}
