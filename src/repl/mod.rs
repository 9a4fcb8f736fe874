//! `rbk repl`: load a program, then call methods, bind values and evaluate
//! expressions, each checked by the checker before it runs.

pub mod complete;

use crate::text::{printable, printable_lines};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::check::types::{RESULT_FIELDS, T, Ty};
use crate::check::{Program, check, check_repl};
use crate::diagnostic::{self, Diagnostic};
use crate::runtime::eval::{Vars, eval};
use crate::runtime::value::{StepResult, Value};
use crate::runtime::{Context, Exchange, Observer, RunError, Runtime, environment};
use crate::syntax::ast::*;
use crate::syntax::{ReplInput, parse_repl};
use complete::{Names, ReplHelper};

/// Bodies longer than this are cut when printed (`:body` shows more).
pub const BODY_LIMIT: usize = 2_000;

#[derive(Debug, Clone, Default)]
pub struct ReplOptions {
    pub files: Vec<PathBuf>,
    pub instance: Option<String>,
    pub env_file: Option<PathBuf>,
    /// `--file-root`, `--max-file-size`.
    pub file_root: crate::files::FileRootOptions,
}

/// Runs the REPL; returns the exit code.
pub fn run(opts: &ReplOptions) -> u8 {
    let env = match environment(opts.env_file.as_deref()) {
        Ok(e) => e,
        Err(m) => {
            eprintln!("error: {m}");
            return 2;
        }
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut session = Session {
        files: opts.files.clone(),
        file_root: opts.file_root.root_for_all(&opts.files),
        program: empty_program(),
        bindings: Vec::new(),
        mutable: Vec::new(),
        values: Vars::new(),
        instance: opts.instance.clone(),
        env,
        dry: false,
        verbose: false,
        color: interactive && std::env::var_os("NO_COLOR").is_none(),
        names: Rc::new(RefCell::new(Names::default())),
        tokio: match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return 2;
            }
        },
        inputs: 0,
        redactor: Arc::new(crate::runtime::redact::Redactor::new()),
    };
    if !session.load() && !interactive {
        return 1;
    }
    if interactive {
        session.interactive()
    } else {
        session.piped()
    }
}

struct Session {
    files: Vec<PathBuf>,
    /// Where the program (and what is typed) may read files.
    file_root: crate::files::FileRoot,
    program: Program,
    bindings: Vec<(String, T)>,
    /// The names among `bindings` declared with `var`.
    mutable: Vec<String>,
    values: Vars,
    instance: Option<String>,
    env: HashMap<String, String>,
    dry: bool,
    verbose: bool,
    color: bool,
    names: Rc<RefCell<Names>>,
    tokio: tokio::runtime::Runtime,
    inputs: usize,
    /// Every secret seen this session, so that later output masks it too.
    redactor: Arc<crate::runtime::redact::Redactor>,
}

fn empty_program() -> Program {
    check(crate::load::load_source(Path::new("<repl>"), String::new())).program
}

enum Next {
    Continue,
    Quit,
}

impl Session {
    /// (Re)loads the files; on errors keeps the previous program.
    fn load(&mut self) -> bool {
        let loaded = match self.files.as_slice() {
            [] => crate::load::load_source_in(Path::new("<repl>"), String::new(), &self.file_root),
            [one] => crate::load::load_file_in(one, &self.file_root),
            many => {
                let mut text = String::new();
                for f in many {
                    let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
                    text.push_str(&format!("import {:?}\n", abs.display().to_string()));
                }
                crate::load::load_source_in(Path::new("<repl>.rbk"), text, &self.file_root)
            }
        };
        let checked = check(loaded);
        if checked.has_errors() {
            let errors: Vec<Diagnostic> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            eprint!(
                "{}",
                diagnostic::render_human(&errors, &checked.program.sources, self.color)
            );
            eprintln!("the program has errors; fix them and `:reload`");
            return false;
        }
        self.program = checked.program;
        self.refresh_names();
        true
    }

    fn refresh_names(&self) {
        let p = &self.program;
        let mut n = Names {
            integrations: p.integrations.keys().cloned().collect(),
            methods: p
                .all_methods()
                .map(|m| {
                    (
                        m.integration.name.clone(),
                        m.name.name.clone(),
                        m.params.iter().map(|x| x.name.name.clone()).collect(),
                    )
                })
                .collect(),
            runbooks: p
                .all_runbooks()
                .map(|r| {
                    (
                        r.name.name.clone(),
                        r.params.iter().map(|x| x.name.name.clone()).collect(),
                    )
                })
                .collect(),
            vars: Vec::new(),
        };
        for (name, t) in &self.bindings {
            let fields = match &t.ty {
                Ty::Step(s) => s
                    .outputs
                    .iter()
                    .map(|(k, _)| k.clone())
                    .chain(RESULT_FIELDS.iter().map(|f| f.to_string()))
                    .collect(),
                Ty::Record(r) => r.fields.iter().map(|(k, _)| k.clone()).collect(),
                _ => Vec::new(),
            };
            n.vars.push((name.clone(), fields));
        }
        *self.names.borrow_mut() = n;
    }

    fn interactive(&mut self) -> u8 {
        let config = rustyline::Config::builder()
            .auto_add_history(true)
            .history_ignore_dups(true)
            .unwrap_or_else(|_| rustyline::Config::builder())
            .max_history_size(10_000)
            .unwrap_or_else(|_| rustyline::Config::builder())
            .build();
        let mut editor: rustyline::Editor<ReplHelper, rustyline::history::FileHistory> =
            match rustyline::Editor::with_config(config) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: cannot start the line editor: {e}");
                    return 2;
                }
            };
        editor.set_helper(Some(ReplHelper {
            names: self.names.clone(),
            color: self.color,
        }));
        let history = history_path();
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        println!(
            "rbk {} — {} method(s) loaded. :help for help, :quit or Ctrl-D to leave.",
            env!("CARGO_PKG_VERSION"),
            self.program.methods.len()
        );
        loop {
            let prompt = if self.dry { "rbk (dry)> " } else { "rbk> " };
            match editor.readline(prompt) {
                Ok(line) => {
                    if let Some(h) = &history {
                        let _ = editor.save_history(h);
                    }
                    if let Next::Quit = self.input(&line) {
                        break;
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => continue,
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("error: {e}");
                    break;
                }
            }
        }
        if let Some(h) = &history {
            let _ = editor.save_history(h);
        }
        0
    }

    /// Input from a pipe: lines are gathered until they form a whole input.
    fn piped(&mut self) -> u8 {
        let stdin = std::io::stdin();
        let mut pending = String::new();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if !pending.is_empty() {
                pending.push('\n');
            }
            pending.push_str(&line);
            if crate::syntax::highlight::is_incomplete(&pending) {
                continue;
            }
            let input = std::mem::take(&mut pending);
            if let Next::Quit = self.input(&input) {
                return 0;
            }
        }
        if !pending.trim().is_empty() {
            self.input(&pending);
        }
        0
    }

    fn input(&mut self, line: &str) -> Next {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            return Next::Continue;
        }
        if let Some(cmd) = text.strip_prefix(':') {
            return self.command(cmd);
        }
        self.evaluate(text);
        let _ = std::io::stdout().flush();
        Next::Continue
    }

    fn command(&mut self, cmd: &str) -> Next {
        let (name, arg) = match cmd.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (cmd, ""),
        };
        match name {
            "q" | "quit" | "exit" => return Next::Quit,
            "help" | "h" => self.help(arg),
            "methods" => {
                for m in self.program.all_methods() {
                    let doc = m
                        .doc
                        .as_deref()
                        .and_then(|d| d.lines().next())
                        .unwrap_or("");
                    println!(
                        "{}{}",
                        signature(m),
                        if doc.is_empty() {
                            String::new()
                        } else {
                            format!("  — {doc}")
                        }
                    );
                }
            }
            "vars" => {
                if self.bindings.is_empty() {
                    println!("no variables yet");
                }
                for (n, t) in &self.bindings {
                    let v = self
                        .values
                        .get(n)
                        .map(|v| short(&self.redactor.mask(&v.to_string()), 120))
                        .unwrap_or_default();
                    println!("{n}: {t} = {}", printable(&v));
                }
            }
            "instance" => {
                if arg.is_empty() {
                    let names: Vec<String> = self
                        .program
                        .all_instances()
                        .map(|i| i.name.name.clone())
                        .collect();
                    println!(
                        "instance: {} (instances: {})",
                        self.instance
                            .clone()
                            .or_else(|| names.first().cloned())
                            .unwrap_or_else(|| "none".into()),
                        if names.is_empty() {
                            "none declared".into()
                        } else {
                            names.join(", ")
                        }
                    );
                } else if self.program.all_instances().any(|i| i.name.name == arg) {
                    self.instance = Some(arg.to_string());
                    println!("instance: {arg}");
                } else {
                    eprintln!("error: there is no instance `{arg}`");
                }
            }
            "dry" => match arg {
                "on" => {
                    self.dry = true;
                    println!("dry run on: requests are shown, not sent");
                }
                "off" => {
                    self.dry = false;
                    println!("dry run off");
                }
                _ => eprintln!("error: write `:dry on` or `:dry off`"),
            },
            "verbose" => match arg {
                "on" => self.verbose = true,
                "off" => self.verbose = false,
                _ => eprintln!("error: write `:verbose on` or `:verbose off`"),
            },
            "tokens" => {
                let mut words = arg.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("clear"), integration, None) => {
                        let n = crate::runtime::auth::token_cache::TokenCache::open()
                            .clear(integration);
                        println!(
                            "cleared {n} cached token{}{}",
                            if n == 1 { "" } else { "s" },
                            integration
                                .map(|i| format!(" of integration `{i}`"))
                                .unwrap_or_default()
                        );
                    }
                    _ => eprintln!("error: write `:tokens clear` or `:tokens clear INTEGRATION`"),
                }
            }
            "reveal" => match self.values.get(arg) {
                Some(v) => println!("{}", v.to_json(true)),
                None => eprintln!("error: no variable `{arg}`"),
            },
            "reload" => {
                if self.load() {
                    // Keep the bindings whose step targets still exist.
                    let program = &self.program;
                    self.bindings.retain(|(_, t)| match &t.ty {
                        Ty::Step(s) => match s.target.split_once('.') {
                            Some((i, m)) if !s.target.starts_with("run ") => {
                                program.method(i, m).is_some()
                            }
                            _ => true,
                        },
                        _ => true,
                    });
                    let keep: Vec<String> = self.bindings.iter().map(|(n, _)| n.clone()).collect();
                    self.values.retain(|k, _| keep.contains(k));
                    self.refresh_names();
                    println!(
                        "reloaded: {} method(s), {} runbook(s)",
                        self.program.methods.len(),
                        self.program.runbooks.len()
                    );
                }
            }
            "run" => {
                if arg.is_empty() {
                    eprintln!("error: write `:run RUNBOOK(arg: value)`");
                } else {
                    let text = format!("step _run = run {arg}");
                    self.evaluate(&text);
                }
            }
            other => {
                let help = match crate::check::suggest(
                    other,
                    complete::COMMANDS.iter().map(|c| &c[1..]),
                ) {
                    Some(s) => format!("; did you mean `:{s}`?"),
                    None => "; `:help` lists the commands".into(),
                };
                eprintln!("error: there is no command `:{other}`{help}");
            }
        }
        Next::Continue
    }

    fn help(&self, name: &str) {
        if name.is_empty() {
            println!(
                "Type a method call, `let NAME = EXPR`, `var NAME = EXPR` (then `NAME = EXPR`, `NAME += EXPR`),\n\
                 `step NAME = CALL` or any expression.\n\
                 :help NAME        signature and docs of a method, integration, runbook or function\n\
                 :methods          every method\n\
                 :vars             the variables bound so far\n\
                 :instance [NAME]  show or switch the instance\n\
                 :dry on|off       show requests instead of sending them\n\
                 :verbose on|off   show response headers\n\
                 :tokens clear [I] forget cached tokens (of integration I)\n\
                 :reveal NAME      print a variable with its secrets\n\
                 :reload           re-read and re-check the files\n\
                 :run RUNBOOK(..)  run a whole runbook\n\
                 :quit             leave (or Ctrl-D)"
            );
            return;
        }
        let p = &self.program;
        if let Some((i, m)) = name.split_once('.')
            && let Some(method) = p.method(i, m)
        {
            println!("{}", signature(method));
            if let Some(d) = &method.doc {
                println!("  {}", d.replace('\n', "\n  "));
            }
            for param in &method.params {
                if let Some(d) = &param.doc {
                    println!("  {}: {}", param.name.name, d);
                }
            }
            for item in &method.items {
                if let MethodItem::Output(o) = item {
                    println!("outputs:");
                    for f in &o.fields {
                        let ty =
                            f.ty.as_ref()
                                .map(|t| t.to_string())
                                .unwrap_or_else(|| "json".into());
                        println!(
                            "  {}: {ty}{}",
                            f.name.name,
                            f.doc
                                .as_ref()
                                .map(|d| format!("  — {d}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            return;
        }
        if let Some(integ) = p.integration(name) {
            println!("integration {}", integ.name.name);
            if let Some(d) = &integ.doc {
                println!("  {d}");
            }
            for m in p.all_methods().filter(|m| m.integration.name == name) {
                println!("  {}", signature(m));
            }
            return;
        }
        if let Some(rb) = p.runbook(name) {
            let params: Vec<String> = rb
                .params
                .iter()
                .map(|x| format!("{}: {}", x.name.name, x.ty))
                .collect();
            println!("runbook {}({})", rb.name.name, params.join(", "));
            if let Some(d) = &rb.doc {
                println!("  {d}");
            }
            return;
        }
        if let Some(sig) = crate::check::builtins::signature(name) {
            println!("{sig}");
            return;
        }
        eprintln!("error: nothing is called `{name}`");
    }

    /// Parses, checks and runs one input.
    fn evaluate(&mut self, text: &str) {
        self.inputs += 1;
        let mut program = self.program.clone();
        let file = program.sources.add(
            PathBuf::from(format!("<input {}>", self.inputs)),
            text.to_string(),
        );
        let input = match parse_repl(file, text) {
            Ok(i) => i,
            Err(d) => {
                eprint!(
                    "{}",
                    diagnostic::render_human(&[*d], &program.sources, self.color)
                );
                return;
            }
        };
        // A bare method call is a step named `_`.
        let input = match input {
            ReplInput::Expr(Expr {
                kind:
                    ExprKind::Call(CallExpr {
                        func,
                        method: Some(method),
                        args,
                    }),
                span,
            }) => ReplInput::Stmt(Stmt {
                kind: StmtKind::Step(Step {
                    name: Ident {
                        name: "_".into(),
                        span,
                    },
                    call: Call {
                        target: CallTarget::Method {
                            integration: func,
                            method,
                        },
                        args,
                        span,
                    },
                    until: None,
                    arms: None,
                    else_span: None,
                }),
                span,
            }),
            other => other,
        };
        // A step may rebind a name used before.
        if let ReplInput::Stmt(Stmt {
            kind: StmtKind::Step(st),
            ..
        }) = &input
        {
            self.bindings.retain(|(n, _)| *n != st.name.name);
        }
        let checked = check_repl(&program, &self.bindings, &self.mutable, &input);
        if !checked.diagnostics.is_empty() {
            eprint!(
                "{}",
                diagnostic::render_human(&checked.diagnostics, &program.sources, self.color)
            );
        }
        if checked.diagnostics.iter().any(Diagnostic::is_error) {
            return;
        }
        let program = Arc::new(program);
        let cx = match Context::new(
            program.clone(),
            self.instance.as_deref(),
            self.env.clone(),
            self.dry,
        ) {
            Ok(mut c) => {
                c.redactor = self.redactor.clone();
                c
            }
            Err(e) => {
                eprintln!("error: {}", e.message);
                return;
            }
        };
        let observer = Arc::new(ReplObserver::default());
        // Tokens persist in the user's cache file between inputs and runs.
        let tokens = if self.dry {
            crate::runtime::auth::token_cache::TokenCache::in_memory()
        } else {
            crate::runtime::auth::token_cache::TokenCache::open()
        };
        let rt = Runtime::new(cx, observer.clone()).with_tokens(tokens);
        match &input {
            ReplInput::Expr(e) => match eval(e, &self.values, &rt.cx, None) {
                Ok(v) => {
                    let ty = checked
                        .ty
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| v.type_name().into());
                    println!("{} : {ty}", rt.mask(&pretty(&v)));
                }
                Err(e) => eprintln!("error: {}", printable(&rt.mask(&e.message))),
            },
            ReplInput::Stmt(s) => {
                let mut values = self.values.clone();
                let result = self.tokio.block_on(async {
                    tokio::select! {
                        r = rt.stmt(s, &mut values) => Some(r),
                        _ = tokio::signal::ctrl_c() => None,
                    }
                });
                match result {
                    None => {
                        println!("cancelled");
                        return;
                    }
                    Some(Err(e)) => {
                        self.show_exchanges(&observer, &rt);
                        self.show_error(&program, &e);
                        // A failed step is still bound, so its status can be read.
                        self.mutable = checked.mutable.clone();
                        self.keep(values, &checked.bindings, s);
                        return;
                    }
                    Some(Ok(_)) => {}
                }
                self.show_exchanges(&observer, &rt);
                if let StmtKind::Step(st) = &s.kind
                    && let Some(Value::Step(r)) = values.get(&st.name.name)
                {
                    self.show_outputs(&st.name.name, r, &rt);
                }
                let bound = match &s.kind {
                    StmtKind::Let(l) | StmtKind::Var(l) => Some(&l.name),
                    StmtKind::Assign(a) => Some(&a.name),
                    _ => None,
                };
                if let Some(name) = bound
                    && let Some(v) = values.get(&name.name)
                {
                    let ty = checked
                        .bindings
                        .iter()
                        .find(|(n, _)| *n == name.name)
                        .map(|(_, t)| t.to_string())
                        .unwrap_or_default();
                    println!(
                        "{} : {ty} = {}",
                        name.name,
                        short(&rt.mask(&pretty(v)), BODY_LIMIT)
                    );
                }
                self.mutable = checked.mutable.clone();
                self.keep(values, &checked.bindings, s);
            }
        }
    }

    fn keep(&mut self, values: Vars, bindings: &[(String, T)], _s: &Stmt) {
        self.values = values;
        self.bindings = bindings.to_vec();
        self.refresh_names();
    }

    fn show_error(&self, program: &Program, e: &RunError) {
        let mut d = Diagnostic::error(
            crate::diagnostic::codes::RUN_FAILED,
            printable(&e.message).into_owned(),
        );
        if let Some(span) = e.span {
            d = d.at(span, "failed here");
        }
        eprint!(
            "{}",
            diagnostic::render_human(&[d], &program.sources, self.color)
        );
    }

    fn show_exchanges(&self, observer: &ReplObserver, rt: &Runtime) {
        for text in observer.dry.lock().map(|d| d.clone()).unwrap_or_default() {
            println!("would send:");
            for l in printable_lines(text.trim_end_matches('\n')) {
                println!("  {l}");
            }
        }
        for ex in observer
            .exchanges
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
        {
            println!("→ {} {}", ex.method, printable(&ex.url));
            for (k, v) in &ex.request_headers {
                println!("  {}: {}", printable(k), printable(v));
            }
            if !ex.request_body.is_empty() {
                for l in printable_lines(&short(&ex.request_body, BODY_LIMIT)) {
                    println!("  {l}");
                }
            }
            match (ex.status, &ex.error) {
                (Some(s), _) => println!("← {s} ({} ms)", ex.elapsed.as_millis()),
                (None, Some(e)) => println!(
                    "← no response ({} ms): {}",
                    ex.elapsed.as_millis(),
                    printable(e)
                ),
                _ => {}
            }
            if self.verbose {
                for (k, v) in &ex.response_headers {
                    println!("  {}: {}", printable(k), printable(v));
                }
            }
            if !ex.response_body.is_empty() {
                let body = match serde_json::from_str::<serde_json::Value>(&ex.response_body) {
                    Ok(j) => serde_json::to_string_pretty(&j)
                        .unwrap_or_else(|_| ex.response_body.clone()),
                    Err(_) => ex.response_body.clone(),
                };
                for l in printable_lines(&short(&rt.mask(&body), BODY_LIMIT)) {
                    println!("{l}");
                }
            }
        }
    }

    fn show_outputs(&self, name: &str, r: &StepResult, rt: &Runtime) {
        if r.outputs.is_empty() {
            if !r.ok {
                println!(
                    "{name}: failed — {}",
                    printable(r.error.as_deref().unwrap_or_default())
                );
            }
            return;
        }
        println!("{name}:");
        let ty = self
            .bindings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone());
        for (k, v) in &r.outputs {
            let t = match ty.as_ref().map(|t| &t.ty) {
                Some(Ty::Step(s)) => s
                    .outputs
                    .iter()
                    .find(|(n, _)| n.as_str() == &**k)
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default(),
                _ => v.type_name().to_string(),
            };
            println!("  {k}: {t} = {}", short(&rt.mask(&pretty(v)), 300));
        }
    }
}

#[derive(Default)]
struct ReplObserver {
    exchanges: Mutex<Vec<Exchange>>,
    dry: Mutex<Vec<String>>,
}

impl Observer for ReplObserver {
    fn exchange(&self, ex: &Exchange) {
        if let Ok(mut e) = self.exchanges.lock() {
            e.push(ex.clone());
        }
    }

    fn dry_request(&self, _step: &str, text: &str) {
        if let Ok(mut d) = self.dry.lock() {
            d.push(text.to_string());
        }
    }

    fn log(&self, text: &str) {
        println!("log: {}", printable(text));
    }

    fn note(&self, text: &str) {
        println!("note: {}", printable(text));
    }

    fn token_request(&self, text: &str) {
        println!("token: {}", printable(text));
    }
}

fn history_path() -> Option<PathBuf> {
    let dir = std::env::var_os("RBK_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::data_dir().map(|d| d.join("rbk")))?;
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

fn signature(m: &Method) -> String {
    let params: Vec<String> = m
        .params
        .iter()
        .map(|p| {
            if p.default.is_some() {
                format!("{}: {} = …", p.name.name, p.ty)
            } else {
                format!("{}: {}", p.name.name, p.ty)
            }
        })
        .collect();
    format!(
        "{}.{}({})",
        m.integration.name,
        m.name.name,
        params.join(", ")
    )
}

/// A value as pretty JSON (strings quoted), secrets masked.
fn pretty(v: &Value) -> String {
    match v {
        Value::Step(s) => {
            let mut fields = vec![
                ("ok".to_string(), Value::Bool(s.ok)),
                ("status".to_string(), Value::Int(s.status)),
            ];
            fields.extend(s.outputs.iter().map(|(k, v)| (k.to_string(), v.clone())));
            serde_json::to_string_pretty(&Value::object(fields).to_json(false)).unwrap_or_default()
        }
        Value::Datetime(_) | Value::Duration(_) => v.to_string(),
        other => serde_json::to_string_pretty(&other.to_json(false)).unwrap_or_default(),
    }
}

fn short(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s.to_string();
    }
    let cut: String = s.chars().take(limit).collect();
    format!(
        "{cut}\n… ({} more characters not shown)",
        s.chars().count() - limit
    )
}
