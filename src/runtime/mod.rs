//! Effects: values with the secret taint, evaluation, the statement
//! interpreter, HTTP (client pool, retries, rate limits), outputs, auth,
//! cassettes and reports.

pub mod atomic_write;
pub mod auth;
mod call;
pub mod cassette;
mod client;
pub mod durable;
pub mod error;
pub mod eval;
pub mod http;
mod lazy_json;
pub mod outputs;
mod pages;
pub mod redact;
pub mod report;
pub mod retry;
pub mod runbook;
mod send;
pub mod value;
pub mod xml;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::check::Program;
use crate::syntax::ast::{EntryValue, Span};
pub use error::ErrorKind;
use eval::{Vars, eval};
use redact::Redactor;
use value::{StepResult, Value};

/// What every evaluation may read: the program, the chosen instance, the
/// environment (with `--env-file`), and the secret registry.
pub struct Context {
    pub program: Arc<Program>,
    /// The `instance` record: `name`, `url` and the instance's other fields.
    pub instance: Value,
    pub instance_name: String,
    pub env: HashMap<String, String>,
    pub redactor: Arc<Redactor>,
    pub dry_run: bool,
    /// The default limit on response bodies (`--max-response`); a method's
    /// or integration's `max_response` overrides it.
    pub max_response: u64,
    /// A secret that is not set reads as a placeholder (dry runs and
    /// replays, which send nothing); the names so used are kept.
    pub placeholder_secrets: bool,
    pub placeholders: Mutex<Vec<String>>,
    /// Where `file()`, `bytes()` and `bytes` bodies may read: the program's
    /// file root unless replaced.
    pub files: crate::files::FileRoot,
    /// Integrations' base URLs, parsed once (see `http::known_base`).
    pub bases: Mutex<Vec<Arc<http::KnownBase>>>,
}

impl Context {
    /// Selects the instance (`None`: the first declared) and evaluates it.
    pub fn new(
        program: Arc<Program>,
        instance: Option<&str>,
        env: HashMap<String, String>,
        dry_run: bool,
    ) -> Result<Context, RunError> {
        let mut cx = Context {
            program: program.clone(),
            instance: Value::Null,
            instance_name: String::new(),
            env,
            redactor: Arc::new(Redactor::new()),
            dry_run,
            max_response: http::DEFAULT_MAX_RESPONSE,
            placeholder_secrets: dry_run,
            placeholders: Mutex::new(Vec::new()),
            files: program.file_root.clone(),
            bases: Mutex::new(Vec::new()),
        };
        let instances: Vec<_> = program.all_instances().collect();
        let chosen = match instance {
            Some(name) => match instances.iter().find(|i| i.name.name == name) {
                Some(i) => Some(*i),
                None => {
                    let names: Vec<&str> = instances.iter().map(|i| i.name.name.as_str()).collect();
                    return Err(RunError::usage(format!(
                        "there is no instance `{name}`; {}",
                        if names.is_empty() {
                            "this program declares none".to_string()
                        } else {
                            format!("the instances are: {}", names.join(", "))
                        }
                    )));
                }
            },
            None => instances.first().copied(),
        };
        if let Some(inst) = chosen {
            let mut fields = vec![("name".to_string(), Value::str(&inst.name.name))];
            for e in &inst.body.entries {
                if let EntryValue::Expr { value, .. } = &e.value {
                    let v = eval(value, &Vars::new(), &cx, None).map_err(RunError::from)?;
                    fields.push((e.key.name.clone(), v));
                }
            }
            cx.instance = Value::object(fields);
            cx.instance_name = inst.name.name.clone();
        }
        Ok(cx)
    }
}

/// The process environment, completed by a `.env` file's `KEY=value`
/// lines: a variable already set in the process environment wins.
pub fn environment(env_file: Option<&std::path::Path>) -> Result<HashMap<String, String>, String> {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    if let Some(path) = env_file {
        // dotenvy parses the file (quotes, `export`, comments, escapes).
        let lines = dotenvy::from_path_iter(path).map_err(|e| {
            format!(
                "cannot read the env file {}: {}",
                path.display(),
                env_error(&e)
            )
        })?;
        for item in lines {
            let (k, v) = item.map_err(|e| {
                format!("{}{}: {}", path.display(), line_of(path, &e), env_error(&e))
            })?;
            // Like dotenv: a variable already set in the environment wins.
            env.entry(k).or_insert(v);
        }
    }
    Ok(env)
}

/// `:N`, the line of the file a parse error is on, when it can be found.
fn line_of(path: &std::path::Path, e: &dotenvy::Error) -> String {
    let dotenvy::Error::LineParse(line, _) = e else {
        return String::new();
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.lines().position(|l| l.trim() == line.trim()))
        .map(|n| format!(":{}", n + 1))
        .unwrap_or_default()
}

/// A dotenvy error in words; a line that does not parse says which line,
/// never its text (it may hold a secret).
fn env_error(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("a line does not parse as KEY=value (at byte {index} of it)")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "the file could not be read as KEY=value lines".to_string(),
    }
}

/// A runbook or call that did not succeed, with where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RunError {
    pub message: String,
    pub span: Option<Span>,
    /// The step that failed, when one did.
    pub step: Option<String>,
    /// True for bad input (arguments, instance, env file): exit 2.
    pub usage: bool,
    /// What kind of error: its code and resolution.
    pub kind: ErrorKind,
}

impl RunError {
    pub fn at(span: Span, message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            span: Some(span),
            step: None,
            usage: false,
            kind: ErrorKind::Failed,
        }
    }

    /// An error of this kind at `span`.
    pub fn of(kind: ErrorKind, span: Option<Span>, message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            span,
            step: None,
            usage: false,
            kind,
        }
    }

    /// The same error, of this kind.
    pub fn with_kind(mut self, kind: ErrorKind) -> RunError {
        self.kind = kind;
        self
    }

    /// The code shown for it (`rbk::http::status`...).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn usage(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            span: None,
            step: None,
            usage: true,
            kind: ErrorKind::Failed,
        }
    }
}

impl From<eval::EvalError> for RunError {
    fn from(e: eval::EvalError) -> RunError {
        RunError::of(e.kind, Some(e.span), e.message)
    }
}

/// One request and what came back, for traces, reports and cassettes.
/// Secret text is masked when it is recorded.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub step: String,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
    pub error: Option<String>,
    /// True when `error` is a timeout (else arms tell `timeout` from `error`).
    pub timed_out: bool,
    pub started: SystemTime,
    pub elapsed: Duration,
    pub attempt: u32,
}

/// Progress and traces. Every text handed to an observer is already masked.
pub trait Observer: Send + Sync {
    fn step_started(&self, _step: &str, _target: &str) {}
    fn step_finished(&self, _step: &str, _target: &str, _result: &StepResult) {}
    fn log(&self, _text: &str) {}
    fn exchange(&self, _ex: &Exchange) {}
    /// False when [`Observer::exchange`] ignores every exchange, so the
    /// runtime need not build them (masked copies of every body).
    fn wants_exchanges(&self) -> bool {
        true
    }
    /// A request to a token endpoint (oauth2, jwt_assertion): one line,
    /// masked, without bodies.
    fn token_request(&self, _text: &str) {}
    /// A request a dry run would have sent.
    fn dry_request(&self, _step: &str, _text: &str) {}
    fn note(&self, _text: &str) {}
}

/// An observer that shows nothing.
pub struct Silent;

impl Observer for Silent {
    fn wants_exchanges(&self) -> bool {
        false
    }
}

/// The interpreter: shared by every step and loop of a run.
pub struct Runtime {
    pub cx: Arc<Context>,
    pool: http::Pool,
    observer: Arc<dyn Observer>,
    statements: AtomicU64,
    max_steps: u64,
    exchanges: Mutex<Vec<Exchange>>,
    replay: Option<cassette::Replay>,
    keep_exchanges: bool,
    /// Step results without the response body and headers (the program
    /// never reads `.body` or `.headers`).
    lean_results: bool,
    /// OAuth2 and JWT tokens, shared by every step of the run.
    pub tokens: auth::token_cache::TokenCache,
    /// Output names, one shared copy each (a loop keeps a result per item).
    names: Mutex<std::collections::HashSet<Arc<str>>>,
    /// Per method (by address: the program does not change while the
    /// runtime lives), its outputs' queries compiled for the lazy walk.
    lazy_queries: Mutex<std::collections::HashMap<usize, Option<Arc<outputs::LazyQueries>>>>,
}

impl Runtime {
    pub fn new(cx: Context, observer: Arc<dyn Observer>) -> Runtime {
        // Raise the open-file limit once, before any connection is made.
        client::max_parallel();
        Runtime {
            cx: Arc::new(cx),
            pool: http::Pool::default(),
            observer,
            statements: AtomicU64::new(0),
            max_steps: u64::MAX,
            exchanges: Mutex::new(Vec::new()),
            replay: None,
            keep_exchanges: false,
            lean_results: false,
            tokens: auth::token_cache::TokenCache::in_memory(),
            names: Mutex::new(std::collections::HashSet::new()),
            lazy_queries: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The one shared copy of an output name.
    pub(crate) fn name(&self, name: &str) -> Arc<str> {
        let Ok(mut names) = self.names.lock() else {
            return Arc::from(name);
        };
        if let Some(n) = names.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        names.insert(n.clone());
        n
    }

    /// Stops a run that executes more than `n` statements.
    pub fn with_max_steps(mut self, n: u64) -> Runtime {
        self.max_steps = n;
        self
    }

    /// Uses this token cache (e.g. the user's file cache) instead of memory.
    pub fn with_tokens(mut self, tokens: auth::token_cache::TokenCache) -> Runtime {
        self.tokens = tokens;
        self
    }

    /// Answers requests from a cassette instead of the network.
    pub fn with_replay(mut self, replay: cassette::Replay) -> Runtime {
        self.replay = Some(replay);
        self
    }

    /// Every exchange so far (masked).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn count_statement(&self, span: Span) -> Result<(), RunError> {
        let n = self.statements.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.max_steps {
            return Err(RunError::of(
                ErrorKind::LimitMaxSteps,
                Some(span),
                format!(
                    "stopped after {} statements (--max-steps {}); is a loop endless?",
                    self.max_steps, self.max_steps
                ),
            ));
        }
        Ok(())
    }

    /// True when someone reads exchanges: a cassette or report, or the
    /// observer (traces).
    fn records(&self) -> bool {
        self.keep_exchanges || self.observer.wants_exchanges()
    }

    fn record(&self, ex: Exchange) {
        self.observer.exchange(&ex);
        if self.keep_exchanges
            && let Ok(mut list) = self.exchanges.lock()
        {
            list.push(ex);
        }
    }

    /// Keeps every exchange for [`Runtime::exchanges`] (cassettes, reports).
    /// Off by default: a long run would otherwise hold every body.
    pub fn with_exchange_log(mut self, keep: bool) -> Runtime {
        self.keep_exchanges = keep;
        self
    }

    /// Leaves the response body and headers out of step results: with
    /// `lean`, a long loop over large responses does not hold every body.
    /// Only for programs that never read them: see
    /// [`runbook::reads_step_bodies`].
    pub fn with_lean_results(mut self, lean: bool) -> Runtime {
        self.lean_results = lean;
        self
    }

    pub fn mask(&self, text: &str) -> String {
        self.cx.redactor.mask(text)
    }
}
