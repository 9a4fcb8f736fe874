//! `rbk lsp`: a language server over stdio.
//!
//! Built on `lsp-server` + `lsp-types` (the crates rust-analyzer uses): a
//! synchronous message loop, which suits a checker that is itself
//! synchronous and fast, with no async runtime between the editor and the
//! checker. Every feature reads the same loader, checker, formatter and
//! highlighter as the command line; see `docs/architecture.md`.
//!
//! Each open document is checked as the root of its own program, as
//! `rbk check FILE` would, with the editor's unsaved texts standing in for
//! the files on disk (the loader's overlay). A change re-checks the
//! document after a short quiet period, and every open document whose
//! program contains the changed file.

mod features;
mod index;
pub mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::*;

use crate::check::{Checked, TypeLog};
use crate::files::FileRootOptions;
use index::Index;
use text::LineIndex;

/// How long the server waits after the last change before checking.
const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(10);

/// Runs the server on stdin/stdout until the client says `exit`; returns the
/// process exit code.
pub fn run(files: &FileRootOptions) -> u8 {
    // Every keystroke parses the file again: reuse the memory the last
    // parse freed rather than fault it in again (`crate::memory`).
    crate::memory::keep_freed_memory();
    let (connection, io_threads) = Connection::stdio();
    let served = serve(&connection, files);
    drop(connection);
    let joined = io_threads.join().map_err(|e| e.to_string());
    // The reader's own error (a malformed header) says more than the
    // loop's "disconnected".
    match joined.and(served) {
        Ok(()) => crate::cli::EXIT_OK,
        Err(e) => {
            let d = crate::diagnostic::Diagnostic::error(
                crate::diagnostic::codes::IO,
                format!("rbk lsp could not read the editor's messages: {e}"),
            )
            .help(
                "rbk lsp is started by an editor and speaks the Language Server Protocol \
                 (JSON-RPC with Content-Length headers) on stdin and stdout; see docs/editors.md",
            );
            eprint!(
                "{}",
                crate::diagnostic::render_human(
                    &[d],
                    &crate::syntax::span::SourceMap::new(),
                    crate::cli::color_stderr()
                )
            );
            crate::cli::EXIT_USAGE
        }
    }
}

/// What the server offers.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_highlight_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "(".into(), ",".into(), " ".into()]),
            ..Default::default()
        }),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into()]),
            retrigger_characters: None,
            work_done_progress_options: Default::default(),
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: features::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: Some(true),
                work_done_progress_options: Default::default(),
            },
        )),
        ..Default::default()
    }
}

fn serve(connection: &Connection, files: &FileRootOptions) -> Result<(), String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    let init = serde_json::json!({
        "capabilities": caps,
        "serverInfo": { "name": "rbk", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, params) = connection.initialize_start().map_err(|e| e.to_string())?;
    connection
        .initialize_finish(id, init)
        .map_err(|e| e.to_string())?;
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let debounce = params
        .initialization_options
        .as_ref()
        .and_then(|o| o.get("debounceMs"))
        .and_then(serde_json::Value::as_u64)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_DEBOUNCE);
    #[allow(deprecated)]
    let mut roots: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| uri_to_path(&f.uri))
        .collect();
    #[allow(deprecated)]
    if roots.is_empty()
        && let Some(p) = params.root_uri.as_ref().and_then(uri_to_path)
    {
        roots.push(p);
    }
    let mut server = Server {
        sender: connection.sender.clone(),
        docs: HashMap::new(),
        files: files.clone(),
        debounce,
        roots,
        timing: std::env::var_os("RBK_LSP_TIMING").is_some(),
        disk: HashMap::new(),
    };
    loop {
        let next = server.next_deadline();
        let msg = match next {
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                match connection.receiver.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
            None => match connection.receiver.recv() {
                Ok(m) => Some(m),
                Err(_) => return Ok(()),
            },
        };
        match msg {
            None => {
                // A bug in checking must not end the session.
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.publish_due()));
            }
            Some(Message::Request(req)) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| e.to_string())?
                {
                    return Ok(());
                }
                let id = req.id.clone();
                let method = req.method.clone();
                let response =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.request(req)))
                        .unwrap_or_else(|_| {
                            Response::new_err(
                                id,
                                lsp_server::ErrorCode::InternalError as i32,
                                format!("rbk failed on {method}; please report it with the file"),
                            )
                        });
                server.send(Message::Response(response));
            }
            Some(Message::Notification(n)) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    server.notification(n)
                }));
            }
            Some(Message::Response(_)) => {}
        }
    }
}

/// One checked version of a document's program.
pub(crate) struct Analysis {
    pub checked: Checked,
    pub types: TypeLog,
    pub index: Index,
    /// Canonical paths of every file of the program (the document first).
    pub deps: Vec<PathBuf>,
    /// Where each line starts, per file (indexed like the source map).
    lines: Vec<Vec<usize>>,
    /// The URI the editor knows the root file by (an `untitled:` buffer
    /// has no file path to make one from).
    pub root_uri: Option<Uri>,
}

impl Analysis {
    pub fn root(&self) -> crate::syntax::span::FileId {
        self.checked.program.root
    }

    pub fn sources(&self) -> &crate::syntax::span::SourceMap {
        &self.checked.program.sources
    }

    /// UTF-16 positions in one of the program's files.
    pub fn line_index(&self, file: crate::syntax::span::FileId) -> LineIndex<'_> {
        let text = &self.sources().get(file).text;
        match self.lines.get(file.0 as usize) {
            Some(starts) => LineIndex::with_starts(text, starts),
            None => LineIndex::new(text),
        }
    }
}

struct Doc {
    uri: Uri,
    text: String,
    version: i32,
    analysis: Option<Rc<Analysis>>,
    /// The latest analysis without syntax errors, for completion while
    /// the text is half-typed.
    good: Option<Rc<Analysis>>,
    /// When set, the diagnostics are due at this instant.
    due: Option<Instant>,
}

pub(crate) struct Server {
    sender: crossbeam_channel::Sender<Message>,
    /// Open documents by canonical path.
    docs: HashMap<PathBuf, Doc>,
    files: FileRootOptions,
    debounce: Duration,
    roots: Vec<PathBuf>,
    /// `RBK_LSP_TIMING` set: how long each analysis took, on stderr.
    timing: bool,
    /// Analyses of workspace files that are not open, with the modification
    /// time and size they were made from; emptied by every change.
    disk: HashMap<PathBuf, DiskStamp>,
}

/// A file's modification time and size, and its analysis.
type DiskStamp = ((Option<std::time::SystemTime>, u64), Rc<Analysis>);

/// The most `.rbk` files read from the workspace folders for references.
const MAX_WORKSPACE_FILES: usize = 2000;

/// The `.rbk` files under the workspace folders, skipping hidden
/// directories, `target` and `node_modules` below each folder.
fn workspace_files(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in roots {
        let walk = walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                e.depth() == 0
                    || !(name.starts_with('.') || name == "target" || name == "node_modules")
            });
        out.extend(
            walk.flatten()
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|p| p.extension().is_some_and(|x| x == "rbk")),
        );
    }
    out
}

/// The local path of a `file:` URI.
pub(crate) fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

pub(crate) fn path_to_uri(path: &Path) -> Option<Uri> {
    let url = url::Url::from_file_path(path).ok()?;
    url.as_str().parse().ok()
}

/// The key a file is known by: its canonical path when it exists.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Server {
    fn send(&self, m: Message) {
        let _ = self.sender.send(m);
    }

    fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        self.send(Message::Notification(Notification::new(
            N::METHOD.to_string(),
            params,
        )));
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.docs.values().filter_map(|d| d.due).min()
    }

    fn key(&self, uri: &Uri) -> PathBuf {
        match uri_to_path(uri) {
            Some(p) => canonical(&p),
            // Not a file (an untitled buffer): a path that names it.
            None => PathBuf::from(format!("/untitled/{}", uri.as_str().replace('/', "_"))),
        }
    }

    fn overlay(&self) -> crate::load::Overlay {
        self.docs
            .iter()
            .map(|(k, d)| (k.clone(), d.text.clone()))
            .collect()
    }

    /// Loads and checks the program rooted at `path` with `text`.
    fn analyze_text(&self, path: &Path, text: String, uri: Option<&Uri>) -> Analysis {
        let started = Instant::now();
        let root = self.files.root_for(path);
        let loaded = crate::load::load_source_overlay(path, text, &root, &self.overlay());
        let parsed = started.elapsed();
        let (checked, types) = crate::check::check_recording_types(loaded);
        let typed = started.elapsed();
        let index = Index::build(&checked.program);
        if self.timing {
            eprintln!(
                "rbk lsp: {}: load {:.1} ms, check {:.1} ms, index {:.1} ms",
                path.display(),
                parsed.as_secs_f64() * 1e3,
                (typed - parsed).as_secs_f64() * 1e3,
                (started.elapsed() - typed).as_secs_f64() * 1e3,
            );
        }
        let deps = checked
            .program
            .sources
            .files()
            .map(|(_, f)| canonical(&f.path))
            .collect();
        let lines = checked
            .program
            .sources
            .files()
            .map(|(_, f)| text::line_starts(&f.text))
            .collect();
        Analysis {
            checked,
            types,
            index,
            deps,
            lines,
            root_uri: uri.cloned(),
        }
    }

    /// The current analysis of an open document, made if stale.
    fn analysis(&mut self, key: &Path) -> Option<Rc<Analysis>> {
        let doc = self.docs.get(key)?;
        if let Some(a) = &doc.analysis {
            return Some(a.clone());
        }
        let a = Rc::new(self.analyze_text(key, doc.text.clone(), Some(&doc.uri)));
        let clean = !a
            .checked
            .diagnostics
            .iter()
            .any(|d| d.code == crate::diagnostic::codes::SYNTAX);
        let doc = self.docs.get_mut(key)?;
        doc.analysis = Some(a.clone());
        if clean {
            doc.good = Some(a.clone());
        }
        // A request made the analysis before the quiet period ended: its
        // diagnostics are ready, so they go out now rather than later.
        if doc.due.take().is_some() {
            self.send_diagnostics(key, &a);
        }
        Some(a)
    }

    /// Marks `key` and every open document whose program holds it as stale.
    fn changed(&mut self, key: &Path) {
        // A workspace file's analysis may read the changed one.
        self.disk.clear();
        let due = Instant::now() + self.debounce;
        for (k, d) in self.docs.iter_mut() {
            let holds = k == key
                || d.analysis
                    .as_ref()
                    .or(d.good.as_ref())
                    .is_some_and(|a| a.deps.iter().any(|p| p == key));
            if holds {
                d.analysis = None;
                d.due = Some(due);
            }
        }
    }

    /// Checks and publishes every document whose quiet period is over.
    fn publish_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PathBuf> = self
            .docs
            .iter()
            .filter(|(_, d)| d.due.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(d) = self.docs.get_mut(&key) {
                d.due = None;
            }
            self.publish(&key);
        }
    }

    fn publish(&mut self, key: &Path) {
        if let Some(a) = self.analysis(key) {
            self.send_diagnostics(key, &a);
        }
    }

    fn send_diagnostics(&self, key: &Path, a: &Analysis) {
        let Some(doc) = self.docs.get(key) else {
            return;
        };
        let diagnostics = features::diagnostics(a, &doc.text);
        self.notify::<lsp_types::notification::PublishDiagnostics>(PublishDiagnosticsParams {
            uri: doc.uri.clone(),
            diagnostics,
            version: Some(doc.version),
        });
    }

    fn notification(&mut self, n: Notification) {
        use lsp_types::notification::*;
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = n.extract::<DidOpenTextDocumentParams>(DidOpenTextDocument::METHOD)
                else {
                    return;
                };
                let key = self.key(&p.text_document.uri);
                self.docs.insert(
                    key.clone(),
                    Doc {
                        uri: p.text_document.uri,
                        text: p.text_document.text,
                        version: p.text_document.version,
                        analysis: None,
                        good: None,
                        due: None,
                    },
                );
                self.changed(&key);
                // A newly opened document is checked at once.
                if let Some(d) = self.docs.get_mut(&key) {
                    d.due = None;
                }
                self.publish(&key);
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = n.extract::<DidChangeTextDocumentParams>(DidChangeTextDocument::METHOD)
                else {
                    return;
                };
                let key = self.key(&p.text_document.uri);
                let Some(doc) = self.docs.get_mut(&key) else {
                    return;
                };
                for c in &p.content_changes {
                    text::apply_change(&mut doc.text, c);
                }
                doc.version = p.text_document.version;
                self.changed(&key);
            }
            DidSaveTextDocument::METHOD => {
                if let Ok(p) = n.extract::<DidSaveTextDocumentParams>(DidSaveTextDocument::METHOD) {
                    let key = self.key(&p.text_document.uri);
                    self.changed(&key);
                }
            }
            DidChangeWatchedFiles::METHOD => {
                // A file changed on disk (not through an open buffer): the
                // open documents whose programs hold it are re-checked.
                let Ok(p) = n.extract::<DidChangeWatchedFilesParams>(DidChangeWatchedFiles::METHOD)
                else {
                    return;
                };
                for change in p.changes {
                    let key = self.key(&change.uri);
                    self.changed(&key);
                }
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = n.extract::<DidCloseTextDocumentParams>(DidCloseTextDocument::METHOD)
                else {
                    return;
                };
                let key = self.key(&p.text_document.uri);
                // Its importers now read the file from disk.
                self.changed(&key);
                if self.docs.remove(&key).is_some() {
                    self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                        uri: p.text_document.uri,
                        diagnostics: Vec::new(),
                        version: None,
                    });
                }
            }
            _ => {}
        }
    }

    fn request(&mut self, req: Request) -> Response {
        use lsp_types::request::*;
        let id = req.id.clone();
        macro_rules! handle {
            ($R:ty, $f:expr) => {{
                match req.extract::<<$R as lsp_types::request::Request>::Params>(<$R>::METHOD) {
                    Ok((id, params)) => {
                        let result: <$R as lsp_types::request::Request>::Result = $f(self, params);
                        Response::new_ok(id, result)
                    }
                    Err(e) => invalid(id.clone(), e),
                }
            }};
        }
        match req.method.as_str() {
            HoverRequest::METHOD => handle!(HoverRequest, features::hover),
            GotoDefinition::METHOD => handle!(GotoDefinition, features::definition),
            References::METHOD => handle!(References, features::references),
            DocumentHighlightRequest::METHOD => {
                handle!(DocumentHighlightRequest, features::highlights)
            }
            PrepareRenameRequest::METHOD => handle!(PrepareRenameRequest, features::prepare_rename),
            Rename::METHOD => match req.extract::<RenameParams>(Rename::METHOD) {
                Ok((id, params)) => match features::rename(self, params) {
                    Ok(edit) => Response::new_ok(id, edit),
                    Err(message) => {
                        Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, message)
                    }
                },
                Err(e) => invalid(id.clone(), e),
            },
            Completion::METHOD => handle!(Completion, features::completion),
            SignatureHelpRequest::METHOD => handle!(SignatureHelpRequest, features::signature_help),
            DocumentSymbolRequest::METHOD => handle!(DocumentSymbolRequest, features::symbols),
            WorkspaceSymbolRequest::METHOD => {
                handle!(WorkspaceSymbolRequest, features::workspace_symbols)
            }
            Formatting::METHOD => handle!(Formatting, features::formatting),
            CodeActionRequest::METHOD => handle!(CodeActionRequest, features::code_actions),
            SemanticTokensFullRequest::METHOD => {
                handle!(SemanticTokensFullRequest, features::semantic_tokens)
            }
            SemanticTokensRangeRequest::METHOD => {
                handle!(SemanticTokensRangeRequest, features::semantic_tokens_range)
            }
            _ => Response::new_err(
                id,
                lsp_server::ErrorCode::MethodNotFound as i32,
                format!("rbk lsp does not handle {}", req.method),
            ),
        }
    }
}

fn invalid(id: RequestId, e: lsp_server::ExtractError<Request>) -> Response {
    match e {
        lsp_server::ExtractError::JsonError { method, error } => Response::new_err(
            id,
            lsp_server::ErrorCode::InvalidParams as i32,
            format!("invalid parameters for {method}: {error}"),
        ),
        lsp_server::ExtractError::MethodMismatch(r) => Response::new_err(
            r.id,
            lsp_server::ErrorCode::MethodNotFound as i32,
            "method mismatch".to_string(),
        ),
    }
}

/// A document's text and analysis, for a feature.
pub(crate) struct View {
    pub uri: Uri,
    pub text: String,
    pub analysis: Rc<Analysis>,
    pub good: Option<Rc<Analysis>>,
}

impl View {
    pub fn line_index(&self) -> LineIndex<'_> {
        LineIndex::new(&self.text)
    }

    pub fn offset(&self, pos: Position) -> usize {
        self.line_index().offset(pos)
    }
}

impl Server {
    /// The view of an open document (or of a file on disk the client asks about).
    pub(crate) fn view(&mut self, uri: &Uri) -> Option<View> {
        let key = self.key(uri);
        if !self.docs.contains_key(&key) {
            let text = std::fs::read_to_string(&key).ok()?;
            let analysis = Rc::new(self.analyze_text(&key, text.clone(), Some(uri)));
            return Some(View {
                uri: uri.clone(),
                text,
                good: None,
                analysis,
            });
        }
        let analysis = self.analysis(&key)?;
        let doc = self.docs.get(&key)?;
        Some(View {
            uri: doc.uri.clone(),
            text: doc.text.clone(),
            analysis,
            good: doc.good.clone(),
        })
    }

    /// Analyses of every program that may refer to a definition: the open
    /// documents and the `.rbk` files under the workspace folders.
    pub(crate) fn all_programs(&mut self) -> Vec<Rc<Analysis>> {
        let mut out = Vec::new();
        let keys: Vec<PathBuf> = self.docs.keys().cloned().collect();
        for k in &keys {
            if let Some(a) = self.analysis(k) {
                out.push(a);
            }
        }
        if self.roots.is_empty() {
            return out;
        }
        for f in workspace_files(&self.roots)
            .iter()
            .take(MAX_WORKSPACE_FILES)
        {
            let key = canonical(f);
            if self.docs.contains_key(&key) {
                continue;
            }
            let stamp = std::fs::metadata(&key)
                .ok()
                .map(|m| (m.modified().ok(), m.len()));
            if let Some((at, a)) = self.disk.get(&key)
                && Some(at) == stamp.as_ref()
            {
                out.push(a.clone());
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&key) {
                let a = Rc::new(self.analyze_text(&key, text, None));
                if let Some(stamp) = stamp {
                    self.disk.insert(key, (stamp, a.clone()));
                }
                out.push(a);
            }
        }
        out
    }
}
