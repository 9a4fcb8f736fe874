//! `rbk serve`: checks the programs, opens the journal, starts the
//! triggers, the API and the page, resumes unfinished runs, and drains on
//! SIGTERM / SIGINT.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::{self, Diagnostic};
use crate::runtime::{Context, Runtime, environment};
use crate::serve::journal::seal::Sealer;
use crate::serve::{Config, Loaded, Server, log, triggers};

pub struct ServeOptions {
    pub paths: Vec<PathBuf>,
    pub listen: String,
    pub journal: Option<String>,
    pub instance: Option<String>,
    pub env_file: Option<PathBuf>,
    pub max_runs: usize,
    pub max_queued: usize,
    pub api_token_env: Option<String>,
    pub grace: Duration,
    pub keep: Duration,
    pub role: String,
    pub lease: Duration,
    pub log_format: log::Format,
    pub files: crate::files::FileRootOptions,
}

/// `30s`, `5m`, `2h`, `30d`, `500ms`: a duration for the command line.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{t}` needs a unit: ms, s, m, h or d"))?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{t}` is not a duration such as 30s"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{t}`: the unit is ms, s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

fn usage(code: &str, msg: &str, help: &str) -> u8 {
    eprintln!("error[{code}]: {msg}\n  help: {help}");
    EXIT_USAGE
}

/// The default journal: `.rbk/journal.db` in the first path's directory.
pub fn default_journal(first: Option<&Path>) -> String {
    let dir = match first {
        Some(p) if p.is_dir() => p.to_path_buf(),
        Some(p) => p
            .parent()
            .map(Path::to_path_buf)
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(".")),
        None => PathBuf::from("."),
    };
    format!("sqlite:{}", dir.join(".rbk").join("journal.db").display())
}

/// The sealing key: `RBK_JOURNAL_KEY`, or `journal.key` beside the SQLite
/// file (for PostgreSQL, in `.rbk/` beside the first path: nodes on one
/// machine share it; nodes on several need `RBK_JOURNAL_KEY`).
pub fn sealer(
    journal: &str,
    first: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Sealer, String> {
    let key_file = crate::serve::journal::sqlite_path(journal)
        .map(|p| p.with_extension("key"))
        .unwrap_or_else(|| {
            crate::serve::journal::sqlite_path(&default_journal(first))
                .map(|p| p.with_extension("key"))
                .unwrap_or_else(|| PathBuf::from(".rbk/journal.key"))
        });
    if let Some(dir) = key_file.parent()
        && !dir.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    Sealer::open(env.get("RBK_JOURNAL_KEY").map(String::as_str), &key_file)
}

pub fn run(opts: ServeOptions) -> u8 {
    let addr: std::net::SocketAddr = match opts.listen.parse() {
        Ok(a) => a,
        Err(_) => {
            return usage(
                "rbk::serve::listen",
                &format!("`{}` is not an address to listen on", opts.listen),
                "write HOST:PORT with an IP address, e.g. 127.0.0.1:8787 or 0.0.0.0:8787",
            );
        }
    };
    let Some(role) = crate::serve::Role::parse(&opts.role) else {
        return usage(
            "rbk::serve::role",
            &format!("`{}` is not a role", opts.role),
            "use --role all, api or worker",
        );
    };
    if opts.lease < Duration::from_millis(300) {
        return usage(
            "rbk::serve::lease",
            &format!(
                "--lease {:?} is too short to be renewed in time",
                opts.lease
            ),
            "give at least 300ms; the default is 30s",
        );
    }
    let env = match environment(opts.env_file.as_deref()) {
        Ok(e) => e,
        Err(m) => return usage("rbk::serve::env_file", &m, "fix the env file"),
    };
    let api_token = match &opts.api_token_env {
        Some(name) => match env.get(name).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.clone()),
            None => {
                return usage(
                    "rbk::serve::api_token",
                    &format!("--api-token-env {name}: the variable is not set or empty"),
                    "export the token in that variable (or put it in the --env-file)",
                );
            }
        },
        None => None,
    };
    if !addr.ip().is_loopback() && api_token.is_none() {
        return usage(
            "rbk::serve::open_listen",
            &format!(
                "refusing to listen on {addr} without a token: the API and the page would stand open"
            ),
            "pass --api-token-env NAME (a variable holding the token), or listen on 127.0.0.1",
        );
    }
    // Load and check every program; refuse to start on any error.
    let (files, io_errors) = super::rbk_files(&opts.paths);
    if !io_errors.is_empty() {
        eprint!(
            "{}",
            diagnostic::render_human(
                &io_errors,
                &crate::syntax::span::SourceMap::new(),
                super::color_stderr()
            )
        );
        return EXIT_USAGE;
    }
    if files.is_empty() {
        return usage(
            "rbk::serve::no_programs",
            "no .rbk files to serve",
            "name the files or directories holding the runbooks",
        );
    }
    let mut programs = Vec::new();
    let mut failed = false;
    for file in &files {
        let loaded = crate::load::load_file_in(file, &opts.files.root_for(file));
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
            failed = true;
            continue;
        }
        programs.push(Arc::new(checked.program));
    }
    if failed {
        eprintln!(
            "error[rbk::serve::check]: the programs have errors; `rbk check` explains them; not starting"
        );
        return EXIT_FAILED;
    }
    let mut loaded = Vec::new();
    let mut runbooks: HashMap<String, usize> = HashMap::new();
    let mut hooks = Vec::new();
    let mut schedules = Vec::new();
    for (i, program) in programs.iter().enumerate() {
        let cx = match Context::new(
            program.clone(),
            opts.instance.as_deref(),
            env.clone(),
            false,
        ) {
            Ok(c) => c,
            Err(e) => return usage("rbk::serve::instance", &e.message, "check --instance"),
        };
        let runtime = Arc::new(Runtime::new(cx, Arc::new(crate::serve::hook::StepObserver)));
        for name in program.runbooks.keys() {
            if runbooks.contains_key(name) {
                continue;
            }
            let Some(rb) = program.runbook(name) else {
                continue;
            };
            runbooks.insert(name.clone(), i);
            if let Err(m) = triggers::read(rb, i, &runtime.cx, &mut hooks, &mut schedules) {
                let m = runtime.mask(&m);
                return usage(
                    "rbk::serve::trigger",
                    &m,
                    "set the secrets the triggers read (or use --env-file)",
                );
            }
        }
        loaded.push(Loaded {
            program: program.clone(),
            runtime,
        });
    }
    let mut seen = HashMap::new();
    for h in &hooks {
        let reserved = ["/api/", "/assets/", "/runs/"]
            .iter()
            .any(|p| h.path.starts_with(p))
            || ["/", "/healthz", "/metrics", "/login", "/api", "/runs"].contains(&h.path.as_str());
        if reserved {
            return usage(
                "rbk::serve::reserved_path",
                &format!(
                    "runbook `{}` listens on {}, which the API or the page uses",
                    h.runbook, h.path
                ),
                "put webhooks under a path of their own, e.g. /hooks/...",
            );
        }
        if let Some(other) = seen.insert(h.path.clone(), h.runbook.clone()) {
            return usage(
                "rbk::serve::duplicate_webhook",
                &format!(
                    "two runbooks listen on {}: `{other}` and `{}`",
                    h.path, h.runbook
                ),
                "give each webhook its own path",
            );
        }
    }
    let journal_url = opts
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(opts.paths.first().map(PathBuf::as_path)));
    let shared = crate::serve::journal::is_postgres(&journal_url);
    if role != crate::serve::Role::All && !shared {
        return usage(
            "rbk::serve::role",
            &format!("--role {} needs a shared PostgreSQL journal", role.as_str()),
            "pass --journal postgres://USER@HOST/DB to every node, or use --role all (one process on SQLite)",
        );
    }
    // On PostgreSQL without RBK_JOURNAL_KEY the key is kept in the journal
    // itself (read after connecting); otherwise it is known now.
    let stored_key = shared && !env.contains_key("RBK_JOURNAL_KEY");
    let sealer = if stored_key {
        None
    } else {
        match sealer(&journal_url, opts.paths.first().map(PathBuf::as_path), &env) {
            Ok(s) => Some(s),
            Err(m) => {
                return usage(
                    "rbk::serve::journal_key",
                    &m,
                    "set RBK_JOURNAL_KEY to 64 hex digits, or fix the key file's permissions",
                );
            }
        }
    };
    // One server per journal: a second would resume the same runs and send
    // their requests twice. The lock is held until the process ends.
    let _lock = match crate::serve::journal::sqlite_path(&journal_url) {
        Some(db) => {
            let lock_path = db.with_extension("lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path);
            match file.map(|f| (f.try_lock(), f)) {
                Ok((Ok(()), f)) => Some(f),
                Ok((Err(std::fs::TryLockError::WouldBlock), _)) => {
                    return usage(
                        "rbk::serve::journal_in_use",
                        &format!("another rbk serve uses the journal {}", db.display()),
                        "stop it first, or give this one its own --journal",
                    );
                }
                Ok((Err(std::fs::TryLockError::Error(e)), _)) | Err(e) => {
                    return usage(
                        "rbk::serve::journal",
                        &format!("cannot lock {}: {e}", lock_path.display()),
                        "check that the journal's directory is writable",
                    );
                }
            }
        }
        None => None,
    };
    // Runbooks recurse in their depth of statements, values and `run`s
    // (each bounded): give every worker 64 MiB of stack, reserved rather
    // than committed, instead of tokio's 2 MiB (`rbk run` has 256 MiB).
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(64 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let opened = rt.block_on(async {
        let pool = (opts.max_runs as u32).clamp(2, 8) + 2;
        if shared {
            let pg = crate::serve::journal::postgres::Postgres::open(
                &journal_url,
                crate::serve::journal::postgres::PgOptions {
                    lease: opts.lease,
                    // Every executing run may write while the API reads.
                    pool,
                    listen: true,
                },
                sealer.as_ref(),
            )
            .await?;
            let sealer = match sealer {
                Some(s) => s,
                None => pg.stored_sealer().await?,
            };
            Ok((
                Arc::new(pg) as Arc<dyn crate::serve::journal::Journal>,
                sealer,
            ))
        } else {
            let open = crate::serve::journal::OpenOptions {
                sealer: sealer.as_ref(),
                lease: opts.lease,
                pool,
                listen: true,
            };
            let j = crate::serve::journal::open(&journal_url, open).await?;
            sealer
                .map(|s| (j, s))
                .ok_or_else(|| "no journal key".to_string())
        }
    });
    let (journal, sealer) = match opened {
        Ok(j) => j,
        Err(m) if m.starts_with(crate::serve::journal::postgres::KEY_MISMATCH) => {
            return usage(
                "rbk::serve::journal_key",
                &m,
                "start every node with the same RBK_JOURNAL_KEY: the key the journal was first written with",
            );
        }
        Err(m) => {
            return usage(
                "rbk::serve::journal",
                &m,
                if shared {
                    "check the --journal URL (postgres://USER:PASSWORD@HOST:PORT/DB) and that PostgreSQL is reachable"
                } else {
                    "check the --journal URL and that its directory is writable"
                },
            );
        }
    };
    let shown_url = if shared {
        crate::serve::journal::postgres::mask_url(&journal_url)
    } else {
        journal_url.clone()
    };
    let config = Config {
        role,
        lease: opts.lease,
        listen: addr,
        max_runs: opts.max_runs,
        max_queued: opts.max_queued,
        api_token,
        grace: opts.grace,
        keep: opts.keep,
        log: opts.log_format,
    };
    let server = Server::new(journal, sealer, loaded, runbooks, hooks, schedules, config);
    if stored_key {
        server.log.info(
            "no RBK_JOURNAL_KEY: sealed values use the key kept in the journal database itself; set RBK_JOURNAL_KEY on every node so that a copy of the database alone does not open them",
        );
    }
    rt.block_on(serve(server, shown_url))
}

async fn serve(server: Arc<Server>, journal_url: String) -> u8 {
    let listener = match tokio::net::TcpListener::bind(server.config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error[rbk::serve::listen]: cannot listen on {}: {e}\n  help: choose another --listen address or stop what uses it",
                server.config.listen
            );
            return EXIT_USAGE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Runs a crash or a stop cut off continue first, in their order.
    match server.journal.unfinished().await {
        Ok(ids) => {
            if !ids.is_empty() {
                server
                    .log
                    .info(&format!("resuming {} unfinished runs", ids.len()));
            }
            for id in ids {
                server.enqueue(id);
            }
        }
        Err(e) => {
            eprintln!("error[rbk::serve::journal]: {e}");
            return EXIT_FAILED;
        }
    }
    let role = server.config.role;
    if role.executes() {
        tokio::spawn(server.clone().dispatch());
    }
    tokio::spawn(server.clone().poll());
    tokio::spawn(server.clone().prune());
    if server.journal.shared() {
        tokio::spawn(server.clone().renew());
        tokio::spawn(server.clone().notices());
    }
    if role.accepts() {
        for n in 0..server.schedules.len() {
            tokio::spawn(crate::serve::schedule::run(server.clone(), n));
        }
    }
    server.log.info(&format!(
        "listening on http://{local} (role {}, journal {journal_url}, {} webhooks, {} schedules)",
        role.as_str(),
        server.hooks.len(),
        server.schedules.len()
    ));
    let app = crate::serve::api::router(server.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let signal = wait_for_signal().await;
    server.log.info(&format!(
        "{signal}: draining (webhooks get 503; up to {:?} for running steps)",
        server.config.grace
    ));
    server.drain();
    let deadline = tokio::time::Instant::now() + server.config.grace;
    while server.running_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = server.running_count();
    if left > 0 {
        server.log.info(&format!(
            "{left} runs still had a request in flight after --grace; they continue at the next start"
        ));
    } else {
        server.log.info("drained; every run is journaled");
    }
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    EXIT_OK
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
