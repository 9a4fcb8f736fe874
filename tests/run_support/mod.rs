//! Shared helpers for the `run_*` tests: an in-process HTTP server that
//! records what it receives, and a driver for the real `rbk` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, exactly as sent (still percent-encoded).
    pub target: String,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The raw path (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The raw query string (after `?`), or "".
    pub fn raw_query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// Decoded query pairs, in order.
    pub fn query(&self) -> Vec<(String, String)> {
        decode_pairs(self.raw_query())
    }

    pub fn query_value(&self, key: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// `a=1&b=x+y` decoded (`+` is a space, as in forms).
pub fn decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(v: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(s: &str) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: s.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn code(mut self, code: u16) -> Reply {
        self.status = code;
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Handler = Arc<dyn Fn(&Req, usize) -> Reply + Send + Sync>;

struct Shared {
    handler: Handler,
    requests: Mutex<Vec<Req>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// An HTTP server on 127.0.0.1 with its own runtime on its own thread.
/// The handler gets each request and its 0-based arrival number.
pub struct Server {
    pub port: u16,
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            handler: Arc::new(handler),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(handle).with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        Server {
            port,
            url: format!("http://127.0.0.1:{port}"),
            shared,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.shared.requests.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().expect("lock").len()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stops listening; later connections are refused.
    pub fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let at = Instant::now();
    let method = req.method().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let r = Req {
        method,
        target,
        headers,
        body,
        at,
    };
    let n = {
        let mut list = s.requests.lock().expect("lock");
        list.push(r.clone());
        list.len() - 1
    };
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = (s.handler)(&r, n);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut b = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Body::from(reply.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A closed port: connecting to it is refused.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// A temporary directory holding a program (and any files it reads).
pub struct Dir {
    pub path: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Dir {
    pub fn new() -> Dir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "rbk-run-{}-{}-{n}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir { path }
    }

    /// Writes `main.rbk` (with `@URL@` replaced by `url`) and returns its path.
    pub fn program(&self, src: &str, url: &str) -> PathBuf {
        self.write("main.rbk", src.replace("@URL@", url).as_bytes())
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, data).expect("write");
        p
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What `rbk` did.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// Asserts exit code 0 and returns the stdout JSON.
    pub fn ok(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "expected success:\n{self}");
        self.json()
    }

    pub fn failed(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected exit 1:\n{self}");
        &self.stderr
    }

    pub fn usage(&self) -> &str {
        assert_eq!(self.code, Some(2), "expected exit 2:\n{self}");
        &self.stderr
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the real binary with `args`; `env` adds environment variables.
pub fn rbk_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbk"));
    cmd.args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("the rbk binary runs");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        took: started.elapsed(),
    }
}

pub fn rbk(args: &[&str]) -> Out {
    rbk_env(args, &[])
}

/// `rbk run FILE RUNBOOK --arg a --arg b ...`
pub fn run(file: &Path, runbook: &str, args: &[&str]) -> Out {
    let f = file.to_string_lossy().into_owned();
    let mut all: Vec<&str> = vec!["run", &f, runbook];
    for a in args {
        all.push("--arg");
        all.push(a);
    }
    rbk(&all)
}

/// `rbk call FILE TARGET --arg ...`
pub fn call(file: &Path, target: &str, args: &[&str]) -> Out {
    let f = file.to_string_lossy().into_owned();
    let mut all: Vec<&str> = vec!["call", &f, target];
    for a in args {
        all.push("--arg");
        all.push(a);
    }
    rbk(&all)
}

/// Milliseconds between two arrivals.
pub fn gap_ms(a: &Req, b: &Req) -> u128 {
    b.at.saturating_duration_since(a.at).as_millis()
}

/// One part of a multipart body: its headers (lower-case names) and content.
pub type Part = (Vec<(String, String)>, Vec<u8>);

/// The parts of a multipart/form-data body.
pub fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .unwrap_or_else(|| panic!("no boundary in {content_type}"))
        .trim_matches('"')
        .to_string();
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    let first = find(rest, &delim).expect("first boundary");
    rest = &rest[first + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after boundary");
        let end_headers = find(rest, b"\r\n\r\n").expect("end of part headers");
        let head = String::from_utf8_lossy(&rest[..end_headers]).into_owned();
        let headers = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        rest = &rest[end_headers + 4..];
        let mut close = b"\r\n".to_vec();
        close.extend_from_slice(&delim);
        let end = find(rest, &close).expect("closing boundary");
        parts.push((headers, rest[..end].to_vec()));
        rest = &rest[end + close.len()..];
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Checks that `xml` is well formed (tags nest and close, attribute quotes
/// balance, nothing but whitespace outside the root) and returns its tags
/// in order (without `<`, `>` and closing tags), e.g. `testcase name="a"/`.
pub fn xml_tags(xml: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut rest = xml;
    let mut roots = 0;
    while let Some(i) = rest.find('<') {
        if stack.is_empty() {
            assert!(rest[..i].trim().is_empty(), "text outside the root: {xml}");
        }
        let Some(len) = rest[i..].find('>') else {
            panic!("a tag does not close in:\n{xml}");
        };
        let tag = &rest[i + 1..i + len];
        rest = &rest[i + len + 1..];
        if tag.starts_with('?') {
            assert!(tag.ends_with('?'), "bad declaration <{tag}>");
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}> in:\n{xml}"
            );
            continue;
        }
        assert_eq!(tag.matches('"').count() % 2, 0, "quotes balance in <{tag}>");
        if stack.is_empty() {
            roots += 1;
        }
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        assert!(!name.is_empty(), "empty tag in:\n{xml}");
        tags.push(tag.to_string());
        if !tag.ends_with('/') {
            stack.push(name.to_string());
        }
    }
    assert!(rest.trim().is_empty(), "text after the root: {xml}");
    assert!(stack.is_empty(), "unclosed {stack:?} in:\n{xml}");
    assert_eq!(roots, 1, "one root element in:\n{xml}");
    tags
}

/// The value of attribute `name` in a tag from [`xml_tags`].
pub fn xml_attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}
