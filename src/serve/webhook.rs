//! Webhook deliveries: the answers in the order of the design (405, 404,
//! 503 draining, 413, 401, 200 duplicate, 422, 429, 202), each with a
//! JSON body saying why. Nothing is stored before the 202 (or the 200 of
//! a duplicate); a 202 is sent only after the run is committed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Server;
use super::journal::Accepted;
use super::triggers::{Verify, build_args};
use crate::runtime::eval::{Vars, eval};
use crate::runtime::outputs;

fn answer(server: &Server, code: StatusCode, body: serde_json::Value) -> Response {
    server.metrics.webhook(code.as_u16());
    (code, axum::Json(body)).into_response()
}

fn refuse(server: &Server, code: StatusCode, error: &str, message: String) -> Response {
    answer(server, code, json!({"error": error, "message": message}))
}

pub fn status_url(id: i64) -> String {
    format!("/api/runs/{id}")
}

/// Every request that no API or page route took.
pub async fn deliver(
    axum::extract::State(server): axum::extract::State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if uri.path().starts_with("/api/") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "not_found", "message": format!("no API route {method} {}", uri.path())})),
        )
            .into_response();
    }
    if method != Method::POST {
        let mut r = refuse(
            &server,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("webhooks take POST, not {method}"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let path = uri.path();
    let Some(hook) = server.hooks.get(path) else {
        return refuse(
            &server,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no runbook has a webhook at {path}"),
        );
    };
    if server.draining.load(Ordering::SeqCst) {
        return refuse(
            &server,
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is stopping; send again later".into(),
        );
    }
    let too_large = || {
        refuse(
            &server,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is over the limit of {} bytes (max_body)",
                hook.max_body
            ),
        )
    };
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && n > hook.max_body
    {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, hook.max_body as usize).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let header_of = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    };
    match &hook.verify {
        Verify::None => {}
        Verify::Hmac { auth, max_age } => {
            if let Err(why) = auth.verify(&bytes, header_of, *max_age) {
                return refuse(
                    &server,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    why.into(),
                );
            }
        }
        Verify::Token { header, value } => {
            let given = header_of(header).unwrap_or_default();
            let ok: bool = given.as_bytes().ct_eq(value.as_bytes()).into();
            if !ok {
                return refuse(
                    &server,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    format!("the {header} header is missing or does not match"),
                );
            }
        }
    }
    let Some(loaded) = server.loaded(&hook.runbook) else {
        return refuse(
            &server,
            StatusCode::NOT_FOUND,
            "not_found",
            "the runbook is not loaded".into(),
        );
    };
    let rt = &loaded.runtime;
    let hdrs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = outputs::Response::new(200, hdrs, bytes.to_vec());
    let dedupe = match &hook.dedupe {
        Some(e) => match eval(e, &Vars::new(), &rt.cx, Some(&request)) {
            Ok(v) if !v.is_null() => Some((hook.path.clone(), v.to_text())),
            Ok(_) => None,
            Err(err) => {
                return refuse(
                    &server,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_delivery_id",
                    format!("dedupe: {}", rt.mask(&err.message)),
                );
            }
        },
        None => None,
    };
    if let Some((h, d)) = &dedupe {
        match server.journal.delivery(h, d).await {
            Ok(Some(first)) => return duplicate(&server, first),
            Ok(None) => {}
            Err(e) => return journal_down(&server, e),
        }
    }
    let program = loaded.program.clone();
    let Some(rb) = program.runbook(&hook.runbook) else {
        return refuse(
            &server,
            StatusCode::NOT_FOUND,
            "not_found",
            "the runbook is not loaded".into(),
        );
    };
    let args = match build_args(rt, rb, &hook.args, Some(&request)) {
        Ok(a) => a,
        Err(e) => {
            return answer(
                &server,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "bad_arguments", "param": e.param, "message": e.message}),
            );
        }
    };
    if server.queue_full() {
        server.metrics.webhook(429);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"error": "queue_full", "message": "too many runs are waiting (--max-queued); send again later"})),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    }
    let info = json!({"path": hook.path, "delivery": dedupe.as_ref().map(|(_, d)| server.mask(d))});
    match server
        .submit(&hook.runbook, "webhook", info, &args, dedupe, None)
        .await
    {
        Ok(Accepted::New(id)) => answer(
            &server,
            StatusCode::ACCEPTED,
            json!({"run": id, "status_url": status_url(id)}),
        ),
        Ok(Accepted::Duplicate(first)) => duplicate(&server, first),
        Err(e) => journal_down(&server, e),
    }
}

fn duplicate(server: &Server, first: i64) -> Response {
    answer(
        server,
        StatusCode::OK,
        json!({"run": first, "status_url": status_url(first), "duplicate": true}),
    )
}

fn journal_down(server: &Server, e: super::journal::JournalError) -> Response {
    server.log.error(&format!("webhook: {e}"));
    refuse(
        server,
        StatusCode::SERVICE_UNAVAILABLE,
        "journal_unavailable",
        "the journal could not commit the run; send again later".into(),
    )
}
