//! `trigger schedule "CRON"`: each fire time (UTC) becomes one run,
//! committed under a unique key (schedule, fire time) so that it runs at
//! most once, also across restarts. Fire times missed while no server was
//! running produce one catch-up run at start (the latest missed time),
//! unless the trigger says `catch_up = none`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::Server;
use super::triggers::build_args;

async fn fire(server: &Server, n: usize, at: DateTime<Utc>, catch_up: bool) {
    let Some(s) = server.schedules.get(n) else {
        return;
    };
    let Some(loaded) = server.loaded(&s.runbook) else {
        return;
    };
    let program = loaded.program.clone();
    let Some(rb) = program.runbook(&s.runbook) else {
        return;
    };
    let args = match build_args(&loaded.runtime, rb, &s.args, None) {
        Ok(a) => a,
        Err(e) => {
            server.log.error(&format!(
                "schedule of `{}`: the arguments could not be built: {}",
                s.runbook, e.message
            ));
            return;
        }
    };
    let info = serde_json::json!({
        "cron": s.cron.pattern.to_string(),
        "fire_time": at.to_rfc3339(),
        "catch_up": catch_up,
    });
    if let Err(e) = server
        .submit(
            &s.runbook,
            "schedule",
            info,
            &args,
            None,
            Some((s.key.clone(), at.timestamp_millis())),
        )
        .await
    {
        server
            .log
            .error(&format!("schedule of `{}`: {e}", s.runbook));
    }
}

/// Runs schedule `n` until the server drains.
pub async fn run(server: Arc<Server>, n: usize) {
    let Some(s) = server.schedules.get(n) else {
        return;
    };
    let now = Utc::now();
    if s.catch_up
        && let Ok(Some(last)) = server.journal.last_fire(&s.key).await
        && let Ok(missed) = s.cron.find_previous_occurrence(&now, true)
        && missed.timestamp_millis() > last
    {
        fire(&server, n, missed, true).await;
    }
    let mut after = now;
    loop {
        let Ok(next) = s.cron.find_next_occurrence(&after, false) else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        if server.draining.load(Ordering::SeqCst) {
            return;
        }
        fire(&server, n, next, false).await;
        after = next;
    }
}
