//! The web page for the person on call: the runs table (filters, live
//! updates) and a run's page (the runbook's flow chart as SVG coloured by
//! what happened at each step, the timeline of steps and attempts, masked
//! summaries, cancel / retry / fail). Everything is in the binary: the
//! HTML is rendered here, the script and style are embedded; no CDN.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::Server;
use super::journal::{ListFilter, RunState};

const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · rbk serve</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><header><a href=\"/\" class=\"brand\">rbk serve</a></header><main>{body}</main>\
         <script src=\"/assets/app.js\"></script></body></html>",
        esc(title)
    ))
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub async fn login_form() -> Html<String> {
    layout(
        "Sign in",
        "<h1>Sign in</h1><form method=\"post\" action=\"/login\" class=\"login\">\
         <label>API token <input type=\"password\" name=\"token\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\">Sign in</button></form>",
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(
    State(server): State<Arc<Server>>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let ok = match &server.config.api_token {
        None => true,
        Some(t) => bool::from(form.token.as_bytes().ct_eq(t.as_bytes())),
    };
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            layout(
                "Sign in",
                "<h1>Sign in</h1><p class=\"error\">That token is not right.</p>\
                 <form method=\"post\" action=\"/login\" class=\"login\"><label>API token \
                 <input type=\"password\" name=\"token\"></label><button type=\"submit\">Sign in</button></form>",
            ),
        )
            .into_response();
    }
    let cookie = format!(
        "rbk_token={}; HttpOnly; SameSite=Strict; Path=/",
        form.token
    );
    let mut r = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static("/"))],
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct IndexQuery {
    state: Option<String>,
    runbook: Option<String>,
}

fn duration_text(ms: Option<i64>) -> String {
    match ms {
        None => String::new(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

pub async fn index(State(server): State<Arc<Server>>, Query(q): Query<IndexQuery>) -> Response {
    let state = q.state.as_deref().and_then(RunState::parse);
    let runbook = q.runbook.clone().filter(|r| !r.is_empty());
    let runs = match server
        .journal
        .list(ListFilter {
            state,
            runbook: runbook.clone(),
            before: None,
            limit: 200,
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::SERVICE_UNAVAILABLE, esc(&e.0)).into_response();
        }
    };
    let mut body =
        String::from("<h1>Runs</h1><form class=\"filters\" method=\"get\" action=\"/\">");
    body.push_str(
        "<label>State <select name=\"state\" id=\"filter-state\"><option value=\"\">any</option>",
    );
    for s in RunState::ALL {
        let sel = if state == Some(s) { " selected" } else { "" };
        let _ = write!(body, "<option value=\"{0}\"{sel}>{0}</option>", s.as_str());
    }
    body.push_str("</select></label><label>Runbook <select name=\"runbook\" id=\"filter-runbook\"><option value=\"\">any</option>");
    let mut names: Vec<&String> = server.runbooks.keys().collect();
    names.sort();
    for n in names {
        let sel = if runbook.as_deref() == Some(n.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, "<option value=\"{0}\"{sel}>{0}</option>", esc(n));
    }
    body.push_str("</select></label><button type=\"submit\">Filter</button></form>");
    body.push_str("<table id=\"runs\" data-live=\"1\"><thead><tr><th>Run</th><th>State</th><th>Runbook</th><th>Trigger</th><th>Started</th><th>Duration</th></tr></thead><tbody>");
    for r in &runs {
        let started = super::api::time(r.started_at.or(Some(r.created_at)));
        let dur = match (r.started_at, r.finished_at) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let kind = r
            .trigger
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let _ = write!(
            body,
            "<tr class=\"run\" data-id=\"{id}\" data-state=\"{st}\"><td><a href=\"/runs/{id}\">#{id}</a></td>\
             <td><span class=\"state {st}\">{st}</span></td><td>{rb}</td><td>{kind}</td><td>{started}</td><td>{dur}</td></tr>",
            id = r.id,
            st = r.state.as_str(),
            rb = esc(&r.runbook),
            kind = esc(&kind),
            started = esc(started.as_str().unwrap_or("")),
            dur = esc(&duration_text(dur)),
        );
    }
    body.push_str("</tbody></table>");
    if runs.is_empty() {
        body.push_str("<p class=\"empty\" id=\"no-runs\">No runs yet.</p>");
    }
    layout("Runs", &body).into_response()
}

/// How a step ended, for the chart's colours: failed wins over running,
/// running over succeeded.
fn step_states(run: &serde_json::Value) -> std::collections::HashMap<String, String> {
    let mut out: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for s in run["steps"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("").to_string();
        let state = s["state"].as_str().unwrap_or("").to_string();
        let rank = |x: &str| match x {
            "failed" => 3,
            "running" => 2,
            "succeeded" => 1,
            _ => 0,
        };
        let e = out.entry(name).or_default();
        if rank(&state) > rank(e) {
            *e = state;
        }
    }
    out
}

/// The runbook's flow chart (the `rbk graph` model) as SVG: nodes in
/// layers by their longest path from the start, steps coloured by state.
pub fn chart_svg(
    program: &crate::check::Program,
    runbook: &str,
    states: &std::collections::HashMap<String, String>,
) -> String {
    let Some((nodes, edges)) = crate::cli::graph::model(program, runbook) else {
        return String::new();
    };
    let n = nodes.len();
    let mut layer = vec![0usize; n];
    // Forward edges only (a loop's way back goes to an earlier node).
    for _ in 0..n {
        let mut changed = false;
        for (a, b, _) in &edges {
            if a < b && layer[*b] < layer[*a] + 1 {
                layer[*b] = layer[*a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let depth = layer.iter().copied().max().unwrap_or(0) + 1;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, l) in layer.iter().enumerate() {
        rows[*l].push(i);
    }
    let (w, h, gap_x, gap_y) = (220.0_f64, 44.0_f64, 30.0_f64, 36.0_f64);
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let width = widest * (w + gap_x) + gap_x;
    let height = depth as f64 * (h + gap_y) + gap_y;
    let mut pos = vec![(0.0, 0.0); n];
    for (l, row) in rows.iter().enumerate() {
        let row_w = row.len() as f64 * (w + gap_x) - gap_x;
        let x0 = (width - row_w) / 2.0;
        for (k, i) in row.iter().enumerate() {
            pos[*i] = (x0 + k as f64 * (w + gap_x), gap_y + l as f64 * (h + gap_y));
        }
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart\" class=\"chart\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"flow chart of {}\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#667\"/></marker></defs>",
        esc(runbook)
    );
    for (a, b, label) in &edges {
        let (ax, ay) = pos[*a];
        let (bx, by) = pos[*b];
        let (x1, y1) = (ax + w / 2.0, ay + h);
        let (x2, y2) = (bx + w / 2.0, by);
        let path = if b > a {
            format!(
                "M {x1:.0} {y1:.0} C {x1:.0} {:.0}, {x2:.0} {:.0}, {x2:.0} {y2:.0}",
                y1 + 20.0,
                y2 - 20.0
            )
        } else {
            // Back to an earlier node: around the right side.
            let (sx, sy) = (ax + w, ay + h / 2.0);
            let (ex, ey) = (bx + w, by + h / 2.0);
            let out = sx.max(ex) + 40.0;
            format!("M {sx:.0} {sy:.0} C {out:.0} {sy:.0}, {out:.0} {ey:.0}, {ex:.0} {ey:.0}")
        };
        let _ = write!(
            svg,
            "<path class=\"edge\" d=\"{path}\" fill=\"none\" stroke=\"#667\" marker-end=\"url(#arrow)\"/>"
        );
        if let Some(l) = label {
            let (lx, ly) = ((x1 + x2) / 2.0 + 4.0, (y1 + y2) / 2.0);
            let _ = write!(
                svg,
                "<text class=\"edge-label\" x=\"{lx:.0}\" y=\"{ly:.0}\" font-size=\"11\" fill=\"#445\">{}</text>",
                esc(&short(l, 28))
            );
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let state = node
            .step
            .as_ref()
            .and_then(|s| states.get(s))
            .map(String::as_str)
            .unwrap_or(if node.shape == "step" {
                "pending"
            } else {
                "none"
            });
        let (fill, stroke) = match state {
            "succeeded" => ("#d9f2dd", "#2f8a3e"),
            "failed" => ("#fbdcdc", "#b42318"),
            "running" => ("#dbe8fb", "#1f5fbf"),
            "pending" => ("#f1f1f4", "#8a8a99"),
            _ => ("#ffffff", "#8a8a99"),
        };
        let rx = match node.shape {
            "start" | "end" | "fail" | "return" => 22,
            "action" => 10,
            _ => 3,
        };
        let step_attr = node
            .step
            .as_ref()
            .map(|s| format!(" data-step=\"{}\"", esc(s)))
            .unwrap_or_default();
        let _ = write!(
            svg,
            "<g class=\"node {shape} {state}\" data-state=\"{state}\"{step_attr}>\
             <rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>\
             <text x=\"{tx:.0}\" y=\"{ty:.0}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#111\">{label}</text><title>{title}</title></g>",
            shape = node.shape,
            tx = x + w / 2.0,
            ty = y + h / 2.0 + 4.0,
            label = esc(&short(&node.label, 32)),
            title = esc(&format!("{} ({state})", node.label)),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…")
    } else {
        s.to_string()
    }
}

pub async fn run_page(State(server): State<Arc<Server>>, Path(id): Path<i64>) -> Response {
    let run = match super::api::load_run(&server, id).await {
        Ok(Some(j)) => j,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                layout("Not found", &format!("<h1>No run {id}</h1>")),
            )
                .into_response();
        }
        Err(r) => return r,
    };
    let runbook = run["runbook"].as_str().unwrap_or("").to_string();
    let state = run["state"].as_str().unwrap_or("").to_string();
    let mut body = format!(
        "<h1>Run #{id} <span class=\"state {st}\" id=\"run-state\">{st}</span></h1>\
         <dl class=\"facts\"><dt>Runbook</dt><dd>{rb}</dd><dt>Trigger</dt><dd><code>{trig}</code></dd>\
         <dt>Arguments</dt><dd><code>{args}</code></dd><dt>Created</dt><dd>{created}</dd>\
         <dt>Started</dt><dd>{started}</dd><dt>Finished</dt><dd>{finished}</dd></dl>",
        st = esc(&state),
        rb = esc(&runbook),
        trig = esc(&run["trigger"].to_string()),
        args = esc(&run["args"].to_string()),
        created = esc(run["created_at"].as_str().unwrap_or("")),
        started = esc(run["started_at"].as_str().unwrap_or("")),
        finished = esc(run["finished_at"].as_str().unwrap_or("")),
    );
    if let Some(e) = run["error"].as_str() {
        let _ = write!(body, "<p class=\"error\" id=\"run-error\">{}</p>", esc(e));
    }
    if let Some(a) = run["attention"].as_str() {
        let _ = write!(
            body,
            "<p class=\"attention\" id=\"run-attention\">{}</p>",
            esc(a)
        );
    }
    body.push_str("<div class=\"actions\">");
    let _ = write!(
        body,
        "<button id=\"cancel\" data-run=\"{id}\" data-action=\"cancel\"{}>Cancel</button>",
        if matches!(state.as_str(), "queued" | "running" | "needs_attention") {
            ""
        } else {
            " disabled"
        }
    );
    let waiting = if state == "needs_attention" {
        ""
    } else {
        " disabled"
    };
    let _ = write!(
        body,
        "<button id=\"retry\" data-run=\"{id}\" data-action=\"retry\"{waiting}>Retry the interrupted request</button>\
         <button id=\"fail\" data-run=\"{id}\" data-action=\"fail\"{waiting}>Fail the step</button></div>"
    );
    if let Some(r) = &run.get("result").filter(|r| !r.is_null()) {
        let _ = write!(
            body,
            "<h2>Result</h2><pre class=\"summary\">{}</pre>",
            esc(&serde_json::to_string_pretty(r).unwrap_or_default())
        );
    }
    let states = step_states(&run);
    if let Some(loaded) = server.loaded(&runbook) {
        body.push_str("<h2>Flow</h2><div class=\"chart-wrap\">");
        body.push_str(&chart_svg(&loaded.program, &runbook, &states));
        body.push_str("</div>");
    }
    body.push_str("<h2>Timeline</h2><ol class=\"timeline\" id=\"timeline\">");
    for s in run["steps"].as_array().into_iter().flatten() {
        let st = s["state"].as_str().unwrap_or("");
        let _ = write!(
            body,
            "<li class=\"step {st}\" data-step=\"{name}\"><div class=\"step-head\"><span class=\"state {st}\">{st}</span> \
             <strong>{path}</strong> <span class=\"target\">{target}</span> <span class=\"time\">{started}</span></div>",
            name = esc(s["name"].as_str().unwrap_or("")),
            path = esc(s["path"].as_str().unwrap_or("")),
            target = esc(s["target"].as_str().unwrap_or("")),
            started = esc(s["started_at"].as_str().unwrap_or("")),
        );
        body.push_str("<ul class=\"attempts\">");
        for a in s["attempts"].as_array().into_iter().flatten() {
            let outcome = match (a["status"].as_u64(), a["error"].as_str()) {
                (Some(code), _) => format!("→ {code}"),
                (None, Some(e)) => format!("→ {e}"),
                (None, None) => "→ no answer journaled (in flight)".into(),
            };
            let _ = write!(
                body,
                "<li class=\"attempt\"><code>{} {}</code> {} <span class=\"time\">{}</span>{}{}</li>",
                esc(a["method"].as_str().unwrap_or("")),
                esc(a["url"].as_str().unwrap_or("")),
                esc(&outcome),
                esc(&duration_text(a["elapsed_ms"].as_i64())),
                if a["sends"].as_u64().unwrap_or(1) > 1 {
                    format!(" <span class=\"resent\">sent {} times</span>", a["sends"])
                } else {
                    String::new()
                },
                a["idempotency_key"]
                    .as_str()
                    .map(|k| format!(" <span class=\"key\">Idempotency key {}</span>", esc(k)))
                    .unwrap_or_default(),
            );
        }
        body.push_str("</ul>");
        if let Some(o) = s.get("outputs").filter(|o| !o.is_null()) {
            let _ = write!(body, "<pre class=\"summary\">{}</pre>", esc(&o.to_string()));
        }
        if let Some(e) = s["error"].as_str() {
            let _ = write!(body, "<p class=\"error\">{}</p>", esc(e));
        }
        body.push_str("</li>");
    }
    body.push_str("</ol>");
    let _ = write!(
        body,
        "<div id=\"run-live\" data-run=\"{id}\" data-state=\"{}\"></div>",
        esc(&state)
    );
    layout(&format!("Run #{id}"), &body).into_response()
}
