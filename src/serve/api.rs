//! The HTTP API, the page's routes, `/healthz` and `/metrics`, with the
//! bearer token (or the page's cookie) when one is configured.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Server;
use super::journal::{
    Accepted, CallRow, CancelOutcome, ListFilter, ResolveOutcome, RunState, RunSummary, StepRow,
};
use super::triggers::typed_args;
use crate::runtime::value::Value;

pub fn router(server: Arc<Server>) -> Router {
    if server.config.role == super::Role::Worker {
        return worker_router(server);
    }
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/runs", get(list_runs))
        .route("/api/runs/{id}", get(show_run))
        .route("/api/runs/{id}/events", get(run_events))
        .route("/api/events", get(all_events))
        .route("/api/runbooks/{name}/runs", post(start_run))
        .route("/api/runs/{id}/cancel", post(cancel_run))
        .route("/api/runs/{id}/resolve", post(resolve_run))
        .route("/", get(super::page::index))
        .route("/runs/{id}", get(super::page::run_page))
        .route("/assets/app.js", get(super::page::script))
        .route("/assets/app.css", get(super::page::style))
        .layer(axum::middleware::from_fn_with_state(server.clone(), guard));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/login",
            get(super::page::login_form).post(super::page::login),
        )
        .merge(guarded)
        .fallback(super::webhook::deliver)
        // A request (a webhook's body included) has 30 s to arrive and be
        // answered; a stalled sender does not hold a connection forever.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(30),
        ))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        )
        .with_state(server)
}

/// A worker serves `/healthz` and `/metrics` only (§7): webhooks and
/// API calls go to api nodes.
fn worker_router(server: Arc<Server>) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(server.clone(), guard));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(guarded)
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "worker_node",
                "this node is a worker (--role worker): it executes runs only; send webhooks and API calls to a node with --role api or all".to_string(),
            )
        })
        .with_state(server)
}

/// The token from `Authorization: Bearer` or the page's cookie.
fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("rbk_token=").map(str::to_string))
}

pub fn authorized(server: &Server, headers: &HeaderMap) -> bool {
    match &server.config.api_token {
        None => true,
        Some(token) => presented(headers)
            .map(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())))
            .unwrap_or(false),
    }
}

async fn guard(State(server): State<Arc<Server>>, req: Request, next: Next) -> Response {
    if authorized(&server, req.headers()) {
        return next.run(req).await;
    }
    let page = !req.uri().path().starts_with("/api/") && req.uri().path() != "/metrics";
    if page {
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, HeaderValue::from_static("/login"))],
        )
            .into_response();
    }
    let mut r = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "unauthorized", "message": "send Authorization: Bearer TOKEN (the value of --api-token-env)"})),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"rbk\""),
    );
    r
}

fn error(code: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (
        code,
        axum::Json(json!({"error": error, "message": message.into()})),
    )
        .into_response()
}

fn journal_error(e: super::journal::JournalError) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", e.0)
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    let counts = server.journal.counts().await.unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        server.metrics.render(&counts),
    )
        .into_response()
}

pub fn time(ms: Option<i64>) -> serde_json::Value {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(serde_json::Value::Null)
}

pub fn summary_json(r: &RunSummary) -> serde_json::Value {
    let duration = match (r.started_at, r.finished_at) {
        (Some(a), Some(b)) => json!(b - a),
        _ => serde_json::Value::Null,
    };
    json!({
        "id": r.id,
        "runbook": r.runbook,
        "state": r.state,
        "trigger": r.trigger,
        "args": r.args,
        "result": r.result,
        "error": r.error,
        "error_code": r.error_code,
        "attention": r.attention,
        "created_at": time(Some(r.created_at)),
        "started_at": time(r.started_at),
        "finished_at": time(r.finished_at),
        "duration_ms": duration,
    })
}

fn attempt_json(c: &CallRow) -> serde_json::Value {
    json!({
        "seq": c.seq,
        "method": c.verb,
        "url": c.url,
        "idempotent": c.idempotent,
        "idempotency_key": c.idem_key,
        "sends": c.sends,
        "intent_at": time(Some(c.intent_at)),
        "result_at": time(c.result_at),
        "status": c.status,
        "error": c.error,
        "elapsed_ms": c.elapsed_ms,
        "resolution": c.resolution,
        "state": if c.result_at.is_some() { "done" } else { "in_flight" },
    })
}

/// The run JSON of the design: summary, steps with their attempts.
pub fn run_json(r: &RunSummary, steps: &[StepRow], calls: &[CallRow]) -> serde_json::Value {
    let mut j = summary_json(r);
    let mut list: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            let attempts: Vec<serde_json::Value> = calls
                .iter()
                .filter(|c| c.path == s.path)
                .map(attempt_json)
                .collect();
            json!({
                "name": s.name,
                "path": s.path,
                "seq": s.seq,
                "target": s.target,
                "state": s.state,
                "status": s.status,
                "started_at": time(Some(s.started_at)),
                "finished_at": time(s.finished_at),
                "attempts": attempts,
                "outputs": s.outputs,
                "error": s.error,
            })
        })
        .collect();
    // Requests whose step row is not there (a crash before it was written).
    for c in calls {
        if !steps.iter().any(|s| s.path == c.path) {
            list.push(json!({
                "name": c.step, "path": c.path, "seq": 0, "target": "", "state": if c.result_at.is_some() { "succeeded" } else { "running" },
                "status": c.status, "started_at": time(Some(c.intent_at)), "finished_at": time(c.result_at),
                "attempts": [attempt_json(c)], "outputs": null, "error": c.error,
            }));
        }
    }
    if let Some(o) = j.as_object_mut() {
        o.insert("steps".into(), serde_json::Value::Array(list));
    }
    j
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    state: Option<String>,
    runbook: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

async fn list_runs(State(server): State<Arc<Server>>, Query(q): Query<ListQuery>) -> Response {
    let state = match q.status.or(q.state).filter(|s| !s.is_empty()) {
        Some(s) => match RunState::parse(&s) {
            Some(s) => Some(s),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_status",
                    format!(
                        "`{s}` is not a state: queued, running, succeeded, failed, cancelled, needs_attention"
                    ),
                );
            }
        },
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let f = ListFilter {
        state,
        runbook: q.runbook.filter(|r| !r.is_empty()),
        before: q.before,
        limit: limit + 1,
    };
    match server.journal.list(f).await {
        Ok(mut runs) => {
            let more = runs.len() > limit as usize;
            runs.truncate(limit as usize);
            let next = if more {
                runs.last().map(|r| r.id)
            } else {
                None
            };
            axum::Json(json!({
                "runs": runs.iter().map(summary_json).collect::<Vec<_>>(),
                "next_before": next,
            }))
            .into_response()
        }
        Err(e) => journal_error(e),
    }
}

pub async fn load_run(server: &Server, id: i64) -> Result<Option<serde_json::Value>, Response> {
    let Some(r) = server.journal.summary(id).await.map_err(journal_error)? else {
        return Ok(None);
    };
    let steps = server.journal.steps(id).await.map_err(journal_error)?;
    let calls = server.journal.calls(id).await.map_err(journal_error)?;
    Ok(Some(run_json(&r, &steps, &calls)))
}

async fn show_run(State(server): State<Arc<Server>>, Path(id): Path<i64>) -> Response {
    match load_run(&server, id).await {
        Ok(Some(j)) => axum::Json(j).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found", format!("no run {id}")),
        Err(r) => r,
    }
}

fn event_stream(
    server: Arc<Server>,
    only: Option<i64>,
    finished: bool,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let rx = server.events.subscribe();
    futures_util::stream::unfold((rx, finished), move |(mut rx, done)| async move {
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(ev) if only.is_none_or(|id| id == ev.run) => {
                    let end = only.is_some() && ev.kind == "run_finished";
                    let data = json!({"run": ev.run, "kind": ev.kind, "data": ev.data});
                    let sse = SseEvent::default().event(ev.kind).data(data.to_string());
                    return Some((Ok(sse), (rx, end)));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    })
}

async fn run_events(State(server): State<Arc<Server>>, Path(id): Path<i64>) -> Response {
    let summary = match server.journal.summary(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return error(StatusCode::NOT_FOUND, "not_found", format!("no run {id}")),
        Err(e) => return journal_error(e),
    };
    if summary.state.is_final() {
        let first = SseEvent::default().event("run_finished").data(
            json!({"run": id, "kind": "run_finished", "data": {"state": summary.state}})
                .to_string(),
        );
        let s = futures_util::stream::once(async move { Ok::<_, Infallible>(first) });
        return Sse::new(s).into_response();
    }
    Sse::new(event_stream(server, Some(id), false))
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn all_events(State(server): State<Arc<Server>>) -> Response {
    Sse::new(event_stream(server, None, false))
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn start_run(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(loaded) = server.loaded(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no runbook `{name}` is loaded"),
        );
    };
    if server.draining.load(Ordering::SeqCst) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is stopping",
        );
    }
    let j: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(j) => j,
            Err(e) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_arguments",
                    format!("the body is not JSON: {e}"),
                );
            }
        }
    };
    let Some(obj) = j.as_object() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_arguments",
            "the body is a JSON object of arguments",
        );
    };
    let program = loaded.program.clone();
    let Some(rb) = program.runbook(&name) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such runbook");
    };
    let given: Vec<(String, Value)> = obj
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect();
    let args = match typed_args(&loaded.runtime, rb, given) {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(
                    json!({"error": "bad_arguments", "param": e.param, "message": e.message}),
                ),
            )
                .into_response();
        }
    };
    if server.queue_full() {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            "too many runs are waiting",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    }
    match server
        .submit(&name, "api", json!({}), &args, None, None)
        .await
    {
        Ok(Accepted::New(id)) | Ok(Accepted::Duplicate(id)) => (
            StatusCode::CREATED,
            axum::Json(json!({"run": id, "status_url": super::webhook::status_url(id)})),
        )
            .into_response(),
        Err(e) => journal_error(e),
    }
}

async fn cancel_run(State(server): State<Arc<Server>>, Path(id): Path<i64>) -> Response {
    match server.journal.cancel(id).await {
        Ok(CancelOutcome::Cancelled) => {
            server.metrics.finished(RunState::Cancelled);
            server.emit(id, "run_finished", json!({"state": "cancelled"}));
            axum::Json(json!({"run": id, "state": "cancelled"})).into_response()
        }
        Ok(CancelOutcome::Requested) => {
            server.signal_cancel(id);
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"run": id, "state": "cancelling"})),
            )
                .into_response()
        }
        Ok(CancelOutcome::AlreadyFinal(s)) => error(
            StatusCode::CONFLICT,
            "already_finished",
            format!("run {id} already ended {}", s.as_str()),
        ),
        Ok(CancelOutcome::NotFound) => {
            error(StatusCode::NOT_FOUND, "not_found", format!("no run {id}"))
        }
        Err(e) => journal_error(e),
    }
}

#[derive(Deserialize)]
struct Resolve {
    action: String,
}

async fn resolve_run(
    State(server): State<Arc<Server>>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let action = serde_json::from_slice::<Resolve>(&body).map(|r| r.action);
    let retry = match action.as_deref() {
        Ok("retry") => true,
        Ok("fail") => false,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_action",
                r#"send {"action": "retry"} or {"action": "fail"}"#,
            );
        }
    };
    match server.journal.resolve(id, retry).await {
        Ok(ResolveOutcome::Queued) => {
            server.emit(id, "run_queued", json!({"state": "queued"}));
            server.enqueue(id);
            axum::Json(json!({"run": id, "state": "queued"})).into_response()
        }
        Ok(ResolveOutcome::NotWaiting(s)) => error(
            StatusCode::CONFLICT,
            "not_needs_attention",
            format!("run {id} is {}, not needs_attention", s.as_str()),
        ),
        Ok(ResolveOutcome::NotFound) => {
            error(StatusCode::NOT_FOUND, "not_found", format!("no run {id}"))
        }
        Err(e) => journal_error(e),
    }
}
