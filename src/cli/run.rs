//! `rbk run`: run a runbook; progress on stderr, its result as JSON on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::check::types::{Ty, resolve_type};
use crate::check::{Checked, Program};
use crate::diagnostic::{self, Diagnostic, codes};
use crate::runtime::auth::token_cache::TokenCache;
use crate::runtime::report::StepRecord;
use crate::runtime::value::{StepResult, Value};
use crate::runtime::{
    Context, ErrorKind, Exchange, Observer, RunError, Runtime, atomic_write, cassette, environment,
    report,
};
use crate::syntax::ast::{Param, TypeExpr};

/// Options shared by `run` and `call`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub args: Vec<String>,
    pub instance: Option<String>,
    pub env_file: Option<PathBuf>,
    pub dry_run: bool,
    pub record: Option<PathBuf>,
    pub replay: Option<PathBuf>,
    /// `junit=PATH` or `json=PATH`.
    pub reports: Vec<String>,
    pub verbose: u8,
    pub max_steps: Option<u64>,
    /// OAuth2 code grants: print the authorization URL, open no browser.
    pub no_browser: bool,
    /// `--max-response`: the default limit on response bodies.
    pub max_response: Option<u64>,
    /// `--file-root`, `--max-file-size`.
    pub files: crate::files::FileRootOptions,
}

pub fn run(file: &Path, runbook: Option<&str>, opts: &RunOptions) -> u8 {
    let Some(checked) = load_checked(file, &opts.files) else {
        return EXIT_FAILED;
    };
    let program = &checked.program;
    let name = match pick_runbook(program, runbook) {
        Ok(n) => n,
        Err(msg) => return usage(&msg),
    };
    let Some(rb) = program.runbook(&name) else {
        return usage(&format!("there is no runbook `{name}`"));
    };
    let args = match parse_args(&opts.args, &rb.params, &format!("runbook `{name}`")) {
        Ok(a) => a,
        Err(msg) => return usage(&msg),
    };
    let reports = match parse_reports(&opts.reports) {
        Ok(r) => r,
        Err(msg) => return usage(&msg),
    };
    let label = name.clone();
    execute(checked, opts, &label, reports, move |rt| {
        Box::pin(async move { rt.run(&name, args).await })
    })
}

/// Loads and checks; prints errors and returns None when there are any.
pub(crate) fn load_checked(file: &Path, files: &crate::files::FileRootOptions) -> Option<Checked> {
    let loaded = crate::load::load_file_in(file, &files.root_for(file));
    let checked = crate::check::check(loaded);
    if checked.has_errors() {
        let errors: Vec<Diagnostic> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        eprint!(
            "{}",
            diagnostic::render_human(&errors, &checked.program.sources, super::color_stderr())
        );
        eprintln!(
            "error: {} has errors; `rbk check` explains them",
            file.display()
        );
        return None;
    }
    Some(checked)
}

pub(crate) fn usage(msg: &str) -> u8 {
    eprintln!("error: {msg}");
    EXIT_USAGE
}

pub(crate) fn pick_runbook(program: &Program, asked: Option<&str>) -> Result<String, String> {
    let names: Vec<&str> = program
        .all_runbooks()
        .filter(|r| r.name.span.file == program.root)
        .map(|r| r.name.name.as_str())
        .collect();
    match asked {
        Some(n) if program.runbooks.contains_key(n) => Ok(n.to_string()),
        Some(n) => Err(
            match crate::check::suggest(n, program.runbooks.keys().map(String::as_str)) {
                Some(s) => format!("there is no runbook `{n}`; did you mean `{s}`?"),
                None => format!(
                    "there is no runbook `{n}`; the runbooks are: {}",
                    names.join(", ")
                ),
            },
        ),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None if names.contains(&"main") => Ok("main".to_string()),
        None if names.is_empty() => Err("this file has no runbook to run".to_string()),
        None => Err(format!(
            "this file has several runbooks; name one: {}",
            names.join(", ")
        )),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Reports {
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse_reports(specs: &[String]) -> Result<Reports, String> {
    let mut r = Reports {
        junit: None,
        json: None,
    };
    for s in specs {
        match s.split_once('=') {
            Some(("junit", p)) if !p.is_empty() => r.junit = Some(PathBuf::from(p)),
            Some(("json", p)) if !p.is_empty() => r.json = Some(PathBuf::from(p)),
            _ => {
                return Err(format!(
                    "`--report {s}`: write `--report junit=PATH` or `--report json=PATH`"
                ));
            }
        }
    }
    Ok(r)
}

/// `--arg k=v` typed by the parameters.
pub(crate) fn parse_args(
    raw: &[String],
    params: &[Param],
    what: &str,
) -> Result<Vec<(Option<String>, Value)>, String> {
    let mut out: Vec<(Option<String>, Value)> = Vec::new();
    for a in raw {
        let Some((k, v)) = a.split_once('=') else {
            return Err(format!("`--arg {a}`: write `--arg name=value`"));
        };
        let Some(p) = params.iter().find(|p| p.name.name == k) else {
            let names: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
            return Err(match crate::check::suggest(k, names.iter().copied()) {
                Some(s) => format!("{what} has no parameter `{k}`; did you mean `{s}`?"),
                None if names.is_empty() => format!("{what} takes no parameters"),
                None => format!(
                    "{what} has no parameter `{k}`; its parameters are: {}",
                    names.join(", ")
                ),
            });
        };
        if out.iter().any(|(n, _)| n.as_deref() == Some(k)) {
            return Err(format!("`--arg {k}` is given twice"));
        }
        let ty = resolve_type(&p.ty).map_err(|id| format!("unknown type `{}`", id.name))?;
        let value = parse_value(v, &ty.ty)
            .map_err(|e| format!("`--arg {k}=...`: {e} (`{k}` is {})", p.ty))?;
        out.push((Some(k.to_string()), value.taint(ty.secret)));
    }
    let missing: Vec<String> = params
        .iter()
        .filter(|p| p.default.is_none() && !matches!(p.ty, TypeExpr::Optional(..)))
        .filter(|p| {
            !out.iter()
                .any(|(n, _)| n.as_deref() == Some(p.name.name.as_str()))
        })
        .map(|p| format!("--arg {}=<{}>", p.name.name, p.ty))
        .collect();
    if !missing.is_empty() {
        return Err(format!("{what} needs {}", missing.join(" ")));
    }
    Ok(out)
}

fn parse_value(text: &str, ty: &Ty) -> Result<Value, String> {
    Ok(match ty {
        Ty::Optional(inner) => {
            if text == "null" {
                Value::Null
            } else {
                parse_value(text, inner)?
            }
        }
        Ty::Str => Value::str(text),
        Ty::Int => Value::Int(
            text.trim()
                .parse()
                .map_err(|_| format!("`{text}` is not an int"))?,
        ),
        Ty::Float => Value::Float(
            text.trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number"))?,
        ),
        Ty::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("`{text}` is not `true` or `false`")),
        },
        Ty::Datetime => Value::Datetime(
            chrono::DateTime::parse_from_rfc3339(text.trim())
                .map_err(|_| format!("`{text}` is not an RFC 3339 datetime"))?,
        ),
        Ty::Duration => {
            let e = crate::syntax::parse_expr(crate::syntax::span::FileId(0), text.trim())
                .map_err(|_| format!("`{text}` is not a duration such as 30s"))?;
            match e.kind {
                crate::syntax::ast::ExprKind::Duration { millis, .. } => {
                    Value::Duration(Duration::from_millis(millis))
                }
                _ => return Err(format!("`{text}` is not a duration such as 30s")),
            }
        }
        Ty::List(_) | Ty::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(j) => {
                let v = Value::from_json(&j);
                if matches!(ty, Ty::List(_)) && !matches!(v, Value::List(_)) {
                    return Err(format!("`{text}` is not a JSON list"));
                }
                v
            }
            Err(_) if matches!(ty, Ty::Json) => Value::str(text),
            Err(e) => return Err(format!("`{text}` is not a JSON list: {e}")),
        },
        _ => Value::str(text),
    })
}

type Job = Box<
    dyn for<'a> FnOnce(
        &'a Runtime,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Value, RunError>> + 'a>,
    >,
>;

/// Builds the runtime, runs `job`, prints the result, writes reports and
/// the cassette; returns the exit code.
pub(crate) fn execute<F>(
    checked: Checked,
    opts: &RunOptions,
    name: &str,
    reports: Reports,
    job: F,
) -> u8
where
    F: for<'a> FnOnce(
            &'a Runtime,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Value, RunError>> + 'a>,
        > + 'static,
{
    let job: Job = Box::new(job);
    if opts.record.is_some() && opts.replay.is_some() {
        return usage("--record and --replay cannot be used together");
    }
    // Refuse before running, not after: an output that is a symbolic link,
    // a FIFO, a device or a directory is never written through or replaced.
    for path in [&opts.record, &reports.junit, &reports.json]
        .into_iter()
        .flatten()
    {
        if let Err(e) = atomic_write::check_target(path) {
            return usage(&format!("cannot write {}: {e}", path.display()));
        }
    }
    let mut env = match environment(opts.env_file.as_deref()) {
        Ok(e) => e,
        Err(m) => return usage(&m),
    };
    if opts.no_browser {
        env.insert("RBK_NO_BROWSER".into(), "1".into());
    }
    let program = Arc::new(checked.program);
    let cx = match Context::new(program.clone(), opts.instance.as_deref(), env, opts.dry_run) {
        Ok(mut c) => {
            if let Some(n) = opts.max_response {
                c.max_response = n;
            }
            c.placeholder_secrets = opts.dry_run || opts.replay.is_some();
            c
        }
        Err(e) => return report_error(&program, &e, e.usage),
    };
    let observer = Arc::new(Progress::new(
        opts.verbose,
        reports.junit.is_some() || reports.json.is_some(),
    ));
    // Replays and dry runs request no tokens; they keep them in memory.
    // Only programs with a token-based auth read the token file (start-up
    // of every other run stays free of that disk access).
    let tokens = if opts.replay.is_some() || opts.dry_run || !uses_tokens(&program) {
        TokenCache::in_memory()
    } else {
        TokenCache::open()
    };
    let mut rt = Runtime::new(cx, observer.clone())
        .with_tokens(tokens)
        .with_exchange_log(opts.record.is_some() || reports.json.is_some())
        .with_lean_results(!crate::runtime::runbook::reads_step_bodies(&program));
    if let Some(n) = opts.max_steps {
        rt = rt.with_max_steps(n);
    }
    if let Some(path) = &opts.replay {
        match cassette::Replay::load(path) {
            Ok(r) => rt = rt.with_replay(r),
            Err(m) => return usage(&m),
        }
    }
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => return usage(&format!("cannot start the async runtime: {e}")),
    };
    let started = Instant::now();
    let outcome = tokio.block_on(async {
        // Handlers are installed before the job starts, so a signal can
        // never kill the run without its reports.
        let mut stop = StopSignals::install();
        tokio::select! {
            r = job(&rt) => Ok(r),
            // Dropping the job future cancels its in-flight requests.
            s = stop.next() => Err(s),
        }
    });
    let total = started.elapsed();
    let placeholders = rt
        .cx
        .placeholders
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    if !placeholders.is_empty() {
        eprintln!(
            "note: {} not set; {} used a placeholder (nothing real was sent)",
            placeholders
                .iter()
                .map(|k| format!("secret `{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if opts.dry_run {
                "the dry run"
            } else {
                "the replay"
            }
        );
    }
    if outcome.is_err() {
        // Do not wait for blocking work the dropped job left behind (the
        // OAuth2 redirect listener waits for a browser for minutes).
        tokio.shutdown_background();
    }
    let (result, stopped) = match outcome {
        Ok(r) => (r, None),
        Err(sig) => {
            eprintln!(
                "rbk: interrupted by {}; stopped the run{}",
                sig.name(),
                if opts.record.is_some() || reports.junit.is_some() || reports.json.is_some() {
                    ", writing what ran so far"
                } else {
                    ""
                }
            );
            (
                Err(RunError::usage(format!("interrupted by {}", sig.name()))
                    .with_kind(ErrorKind::Interrupted)),
                Some(sig),
            )
        }
    };
    let exchanges = rt.exchanges();
    let steps = observer.steps();
    let mut code = EXIT_OK;
    let masked_result = result.as_ref().map(|v| v.to_json(false));
    let failure_text = result.as_ref().err().map(|e| rt.mask(&e.message));
    let failure_code = result.as_ref().err().map(RunError::code);
    let interrupted = stopped.map(|s| s.name());
    if let Some(path) = &opts.record
        && let Err(e) = cassette::write(path, &exchanges)
    {
        eprintln!("error: cannot write the cassette {}: {e}", path.display());
        code = EXIT_USAGE;
    }
    if let Some(path) = &reports.junit {
        let ending = match (interrupted, failure_text.as_deref()) {
            (Some(sig), _) => report::Ending::Interrupted(sig),
            (None, Some(f)) => report::Ending::Failed(f, failure_code.unwrap_or(codes::RUN_FAILED)),
            (None, None) => report::Ending::Ok,
        };
        let xml = report::junit(name, &steps, ending, total);
        if let Err(e) = atomic_write::write(path, rt.mask(&xml).as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            code = EXIT_USAGE;
        }
    }
    if let Some(path) = &reports.json {
        let j = report::json(
            name,
            &steps,
            &exchanges,
            match (&masked_result, &failure_text) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(f)) => Err((f.as_str(), failure_code.unwrap_or(codes::RUN_FAILED))),
                (Err(_), None) => Err(("failed", codes::RUN_FAILED)),
            },
            interrupted,
            total,
        );
        let text = serde_json::to_string_pretty(&j).unwrap_or_default();
        if let Err(e) = atomic_write::write(path, (rt.mask(&text) + "\n").as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            code = EXIT_USAGE;
        }
    }
    if let Some(sig) = stopped {
        // The signal decides the exit code, as for any program it stops.
        return sig.exit_code();
    }
    match result {
        Ok(v) => {
            let text = serde_json::to_string_pretty(&crate::runtime::value::Ordered(&v, false))
                .unwrap_or_default();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", rt.mask(&text));
            code
        }
        Err(mut e) => {
            e.message = crate::text::printable(&rt.mask(&e.message)).into_owned();
            let c = report_error(&program, &e, e.usage);
            if code == EXIT_OK { c } else { code }
        }
    }
}

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupt,
    #[cfg_attr(not(unix), allow(dead_code))]
    Terminate,
    #[cfg_attr(not(unix), allow(dead_code))]
    Hangup,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP",
        }
    }

    /// 128 + the signal's number, as shells report a program it stopped.
    fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
            Stop::Hangup => 129,
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP (Ctrl-C alone where there are no Unix
/// signals), caught for the length of a run.
struct StopSignals {
    #[cfg(unix)]
    handlers: Vec<(Stop, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    /// Must be called inside the runtime. A handler that cannot be
    /// installed leaves that signal's default action (with a warning).
    #[cfg(unix)]
    fn install() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
        let mut handlers = Vec::new();
        for (stop, kind) in [
            (Stop::Interrupt, SignalKind::interrupt()),
            (Stop::Terminate, SignalKind::terminate()),
            (Stop::Hangup, SignalKind::hangup()),
        ] {
            match signal(kind) {
                Ok(h) => handlers.push((stop, h)),
                Err(e) => eprintln!("warning: cannot catch {}: {e}", stop.name()),
            }
        }
        StopSignals { handlers }
    }

    #[cfg(not(unix))]
    fn install() -> StopSignals {
        StopSignals {}
    }

    /// The next signal; never returns when none can be caught.
    #[cfg(unix)]
    async fn next(&mut self) -> Stop {
        let waits = self.handlers.iter_mut().map(|(stop, h)| {
            let stop = *stop;
            Box::pin(async move {
                match h.recv().await {
                    Some(()) => stop,
                    // The runtime is shutting down: no signal will come.
                    None => std::future::pending().await,
                }
            })
        });
        let waits: Vec<_> = waits.collect();
        if waits.is_empty() {
            return std::future::pending().await;
        }
        futures_util::future::select_all(waits).await.0
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Stop {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Stop::Interrupt,
            Err(_) => std::future::pending().await,
        }
    }
}

/// True when an integration or method authorizes with a token that the
/// token cache keeps (`oauth2`, `jwt_assertion`).
fn uses_tokens(program: &Program) -> bool {
    use crate::syntax::ast::{EntryValue, MethodItem};
    let token_kind = |v: &EntryValue| {
        matches!(v, EntryValue::Block { label: Some(k), .. }
            if matches!(k.name.as_str(), "oauth2" | "jwt_assertion"))
    };
    program
        .all_integrations()
        .any(|i| i.body.get("auth").is_some_and(|e| token_kind(&e.value)))
        || program.all_methods().any(|m| {
            m.items.iter().any(
                |it| matches!(it, MethodItem::Entry(e) if e.key.name == "auth" && token_kind(&e.value)),
            )
        })
}

fn report_error(program: &Program, e: &RunError, usage_error: bool) -> u8 {
    if usage_error && e.span.is_none() {
        eprintln!("error: {}", e.message);
        return EXIT_USAGE;
    }
    let mut d = Diagnostic::error(e.code(), e.message.clone()).help(e.kind.help());
    if let Some(span) = e.span {
        d = d.at(
            span,
            match &e.step {
                Some(s) => format!("step `{s}` failed here"),
                None => "failed here".to_string(),
            },
        );
    }
    eprint!(
        "{}",
        diagnostic::render_human(&[d], &program.sources, super::color_stderr())
    );
    if usage_error { EXIT_USAGE } else { EXIT_FAILED }
}

/// Progress on stderr: a line per step; `-v` adds each request, `-vv`
/// headers and bodies. Everything it is handed is masked already.
struct Progress {
    verbose: u8,
    /// Lines for steps that succeeded: on a terminal, or with `-v`. Failed
    /// steps, logs and notes are always shown.
    show_ok_steps: bool,
    /// Step records, kept only when a report will be written (a long loop
    /// should not hold one per step for nothing).
    keep_steps: bool,
    steps: Mutex<Vec<StepRecord>>,
}

impl Progress {
    fn new(verbose: u8, keep_steps: bool) -> Progress {
        use std::io::IsTerminal;
        Progress {
            verbose,
            keep_steps,
            show_ok_steps: verbose > 0 || std::io::stderr().is_terminal(),
            steps: Mutex::new(Vec::new()),
        }
    }

    fn steps(&self) -> Vec<StepRecord> {
        self.steps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Writes one line; control characters in it (from response bodies,
    /// headers, server errors) are shown escaped, never obeyed.
    fn line(&self, text: &str) {
        let text = crate::text::printable(text);
        // One write per line: a loop of many steps should not pay two.
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(&text);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl Observer for Progress {
    fn step_finished(&self, step: &str, target: &str, r: &StepResult) {
        if self.keep_steps
            && let Ok(mut s) = self.steps.lock()
        {
            s.push(StepRecord {
                step: step.to_string(),
                target: target.to_string(),
                ok: r.ok,
                status: r.status,
                error: r.error.clone(),
                code: if r.ok {
                    None
                } else {
                    Some(r.error_kind.unwrap_or(ErrorKind::Failed).code())
                },
                elapsed: r.elapsed,
            });
        }
        if r.ok && !self.show_ok_steps {
            return;
        }
        let mark = if r.ok { "✓" } else { "✗" };
        let status = if r.status > 0 {
            format!(" {}", r.status)
        } else {
            String::new()
        };
        let err = match &r.error {
            Some(e) if !r.ok => format!(" — {e}"),
            _ => String::new(),
        };
        self.line(&format!(
            "{mark} {step} {target}{status} {}ms{err}",
            r.elapsed.as_millis()
        ));
    }

    fn log(&self, text: &str) {
        self.line(&format!("  log: {text}"));
    }

    fn note(&self, text: &str) {
        self.line(&format!("  note: {text}"));
    }

    fn dry_request(&self, step: &str, text: &str) {
        self.line(&format!("  [dry run] step {step} would send:"));
        for l in crate::text::printable_lines(text.trim_end_matches('\n')) {
            self.line(&format!("    {l}"));
        }
    }

    fn wants_exchanges(&self) -> bool {
        self.verbose > 0
    }

    fn token_request(&self, text: &str) {
        if self.verbose > 0 {
            self.line(&format!("  > token: {text}"));
        }
    }

    fn exchange(&self, ex: &Exchange) {
        if self.verbose == 0 {
            return;
        }
        let outcome = match (ex.status, &ex.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "no response".into(),
        };
        self.line(&format!(
            "  > {} {} → {outcome} ({}ms{})",
            ex.method,
            ex.url,
            ex.elapsed.as_millis(),
            if ex.attempt > 1 {
                format!(", attempt {}", ex.attempt)
            } else {
                String::new()
            }
        ));
        if self.verbose >= 2 {
            for (k, v) in &ex.request_headers {
                self.line(&format!("  > {k}: {v}"));
            }
            if !ex.request_body.is_empty() {
                for l in crate::text::printable_lines(&ex.request_body) {
                    self.line(&format!("  > {l}"));
                }
            }
            for (k, v) in &ex.response_headers {
                self.line(&format!("  < {k}: {v}"));
            }
            if !ex.response_body.is_empty() {
                let body: String = ex.response_body.chars().take(4000).collect();
                for l in crate::text::printable_lines(&body) {
                    self.line(&format!("  < {l}"));
                }
            }
        }
    }
}

/// `rbk call FILE INTEGRATION.METHOD --arg ...`: one method, its outputs as JSON.
pub fn call(file: &Path, target: &str, opts: &RunOptions) -> u8 {
    let Some(checked) = load_checked(file, &opts.files) else {
        return EXIT_FAILED;
    };
    let Some((integration, method)) = target.split_once('.') else {
        return usage(&format!(
            "`{target}`: write INTEGRATION.METHOD, e.g. github.get_user"
        ));
    };
    let Some(m) = checked.program.method(integration, method) else {
        let all: Vec<String> = checked
            .program
            .methods
            .keys()
            .map(|(i, m)| format!("{i}.{m}"))
            .collect();
        return usage(
            &match crate::check::suggest(target, all.iter().map(String::as_str)) {
                Some(s) => format!("there is no method `{target}`; did you mean `{s}`?"),
                None => format!(
                    "there is no method `{target}`; the methods are: {}",
                    all.join(", ")
                ),
            },
        );
    };
    let args = match parse_args(&opts.args, &m.params, &format!("method `{target}`")) {
        Ok(a) => a,
        Err(msg) => return usage(&msg),
    };
    let span = m.name.span;
    let reports = match parse_reports(&opts.reports) {
        Ok(r) => r,
        Err(msg) => return usage(&msg),
    };
    let (i, me) = (integration.to_string(), method.to_string());
    execute(checked, opts, target, reports, move |rt| {
        Box::pin(async move {
            let outcome = rt.call_method(&me, &i, &me, args, span).await?;
            let r = outcome.result;
            if let Some(f) = outcome.failure {
                let _ = f;
                return Err(RunError {
                    message: format!(
                        "{} failed: {}",
                        outcome.request,
                        r.error.unwrap_or_else(|| "failed".into())
                    ),
                    span: Some(span),
                    step: None,
                    usage: false,
                    kind: r.error_kind.unwrap_or(ErrorKind::Failed),
                });
            }
            let mut fields = vec![("status".to_string(), Value::Int(r.status))];
            fields.extend(r.outputs.into_iter().map(|(k, v)| (k.to_string(), v)));
            Ok(Value::object(fields))
        })
    })
}
