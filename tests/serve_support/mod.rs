//! Shared helpers for the `serve_*` tests: `rbk serve` as a child process
//! (started, killed with SIGKILL, stopped with SIGTERM), and an in-process
//! mock API that counts and records what it receives and can hold a
//! request open until the test lets it go (or kills the server).

#![allow(dead_code)]

pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct MockState {
    pub seen: Mutex<Vec<Req>>,
    /// While set, paths starting with `/block` wait (the server is
    /// killed meanwhile, or the test clears it).
    pub blocking: AtomicBool,
    /// Paths starting with `/slow` answer after this many ms.
    pub slow_ms: std::sync::atomic::AtomicU64,
    /// `/slow` requests being answered now, and the most at once.
    pub inflight: std::sync::atomic::AtomicUsize,
    pub max_inflight: std::sync::atomic::AtomicUsize,
}

/// The mock API: `GET /items/{id}` → `{"id", "name"}`; `POST ...` →
/// 201 `{"id": 7, "echo": BODY}`; `/block...` holds while blocking;
/// `/token` → `{"token": "tok-SECRET-VALUE-42"}`.
pub struct Mock {
    pub url: String,
    pub state: Arc<MockState>,
    _rt: tokio::runtime::Runtime,
}

async fn handle(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    st.seen.lock().unwrap().push(Req {
        method: method.clone(),
        path: path.clone(),
        headers,
        body: body.clone(),
        at: Instant::now(),
    });
    if path.starts_with("/block") {
        while st.blocking.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if path.starts_with("/slow") {
        let now = st.inflight.fetch_add(1, Ordering::SeqCst) + 1;
        st.max_inflight.fetch_max(now, Ordering::SeqCst);
        let ms = st.slow_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        st.inflight.fetch_sub(1, Ordering::SeqCst);
    }
    let json = if path.starts_with("/token") {
        serde_json::json!({"token": "tok-SECRET-VALUE-42"})
    } else if method == "GET" {
        let id = path.rsplit('/').next().unwrap_or("").to_string();
        serde_json::json!({"id": id, "name": "widget"})
    } else {
        serde_json::json!({"id": 7, "echo": body})
    };
    Response::builder()
        .status(if method == "POST" { 201 } else { 200 })
        .header("content-type", "application/json")
        .body(Body::from(json.to_string()))
        .unwrap()
}

impl Mock {
    pub fn start() -> Mock {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(MockState::default());
        let st = state.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let app = axum::Router::new().fallback(handle).with_state(st);
            axum::serve(listener, app).await.unwrap();
        });
        Mock {
            url: format!("http://{addr}"),
            state,
            _rt: rt,
        }
    }

    pub fn seen(&self) -> Vec<Req> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .count()
    }

    pub fn block(&self, on: bool) {
        self.state.blocking.store(on, Ordering::SeqCst);
    }

    /// Waits until `n` requests matching have arrived.
    pub fn wait_for(&self, method: &str, prefix: &str, n: usize) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.count(method, prefix) < n {
            assert!(
                Instant::now() < until,
                "the mock never got {n} {method} {prefix}: {:?}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory with a program and a journal, and the `rbk serve` on it.
pub struct Serve {
    pub dir: tempfile::TempDir,
    pub program: PathBuf,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub extra: Vec<String>,
    pub child: Option<Child>,
    pub starts: usize,
    /// A journal URL instead of the SQLite file in `dir` (PostgreSQL).
    pub journal_url: Option<String>,
}

pub fn rbk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
}

impl Serve {
    /// Writes `program` (`API_URL` in the environment is the mock's URL).
    pub fn new(program: &str, env: &[(&str, &str)]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("program.rbk");
        std::fs::write(&path, program).unwrap();
        Serve {
            dir,
            program: path,
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra: Vec::new(),
            child: None,
            starts: 0,
            journal_url: None,
        }
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.db")
    }

    /// The `--journal` argument.
    pub fn journal_arg(&self) -> String {
        self.journal_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.journal().display()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("serve-{n}.log"))
    }

    /// Every log line of every start.
    pub fn logs(&self) -> String {
        (0..self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect()
    }

    pub fn command(&self) -> Command {
        let mut c = rbk();
        c.arg("serve")
            .arg(&self.program)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--journal")
            .arg(self.journal_arg())
            .args(&self.extra)
            .env_remove("RBK_JOURNAL_KEY")
            .current_dir(self.dir.path());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Starts and waits for `/healthz`.
    pub fn start(&mut self) {
        let log = std::fs::File::create(self.log_path(self.starts)).unwrap();
        self.starts += 1;
        let child = self
            .command()
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("rbk serve exited at start ({status}): {}", self.logs());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < until,
                "rbk serve did not start: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to journal anything more.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM; the exit status after at most `within`.
    pub fn term(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let until = Instant::now() + within;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > until {
                c.kill().ok();
                panic!("rbk serve did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn term_nowait(&mut self) -> Child {
        let c = self.child.take().expect("running");
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        c
    }

    /// `rbk runs ARGS --journal ...`: (exit code, stdout, stderr).
    pub fn runs(&self, args: &[&str]) -> (i32, String, String) {
        let out = rbk()
            .arg("runs")
            .args(args)
            .arg("--journal")
            .arg(self.journal_arg())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The bytes of the journal's files (database, WAL, shared memory).
    pub fn journal_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", self.journal().display()));
            if let Ok(b) = std::fs::read(&p) {
                all.extend(b);
            }
        }
        all
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking HTTP client for the tests (reqwest on its own runtime).
pub struct Http {
    rt: tokio::runtime::Runtime,
    pub client: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        self.rt.block_on(async move {
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let text = r.text().await.unwrap_or_default();
            Answer {
                status,
                headers,
                text,
            }
        })
    }

    pub fn try_send(&self, req: reqwest::RequestBuilder) -> Option<Answer> {
        self.rt.block_on(async move {
            let r = req.send().await.ok()?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let text = r.text().await.unwrap_or_default();
            Some(Answer {
                status,
                headers,
                text,
            })
        })
    }

    pub fn get(&self, url: &str) -> Answer {
        self.send(self.client.get(url))
    }

    pub fn post_json(&self, url: &str, body: &serde_json::Value) -> Answer {
        self.send(
            self.client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// Polls `GET /api/runs/{id}` until the run's state is one of `states`.
pub fn wait_state(http: &Http, serve: &Serve, id: i64, states: &[&str]) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let a = http.try_send(http.client.get(serve.url(&format!("/api/runs/{id}"))));
        if let Some(a) = a
            && a.status == 200
        {
            let j = a.json();
            if states.contains(&j["state"].as_str().unwrap_or("")) {
                return j;
            }
            assert!(
                Instant::now() < until,
                "run {id} never reached {states:?}: {j}\n{}",
                serve.logs()
            );
        } else {
            assert!(
                Instant::now() < until,
                "run {id} unreadable\n{}",
                serve.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `X-Sig: sha256=HEX` of `body` under `key` (as GitHub signs).
pub fn sign(key: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let bytes = m.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

pub fn path_of(p: &Path) -> String {
    p.display().to_string()
}
