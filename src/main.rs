//! The `rbk` command: argument parsing and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use rbk::cli;

#[derive(Parser)]
#[command(
    name = "rbk",
    version,
    about = "Check, run, format and draw .rbk integration runbooks",
    long_about = None
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prove programs sound before they run: names, types, definite binding, auth, secrets.
    Check {
        /// Files or directories (searched for *.rbk); default: the current directory.
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors (exit 1 when there are any).
        #[arg(long)]
        deny_warnings: bool,
        #[command(flatten)]
        file_args: FileArgs,
    },
    /// Format files canonically (keeps every comment).
    Fmt {
        /// Report files that are not formatted, change nothing, exit 1 if any.
        #[arg(long)]
        check: bool,
        /// Files or directories (searched for *.rbk); default: the current directory.
        paths: Vec<PathBuf>,
    },
    /// Run a runbook: real HTTP requests; its result as JSON on stdout.
    Run {
        /// The .rbk file.
        file: PathBuf,
        /// The runbook (default: the file's only runbook, or `main`).
        runbook: Option<String>,
        #[command(flatten)]
        opts: RunArgs,
    },
    /// Call one method, as the REPL would; its outputs as JSON on stdout.
    Call {
        /// The .rbk file.
        file: PathBuf,
        /// INTEGRATION.METHOD
        target: String,
        #[command(flatten)]
        opts: RunArgs,
    },
    /// Try methods interactively: calls, `let`, expressions, with completion and history.
    Repl {
        /// The .rbk files to load.
        files: Vec<PathBuf>,
        /// The instance to use (default: the first declared).
        #[arg(long)]
        instance: Option<String>,
        /// Read environment variables and secrets from this file as well.
        #[arg(long, value_name = "PATH")]
        env_file: Option<PathBuf>,
        #[command(flatten)]
        file_args: FileArgs,
    },
    /// List or clear cached OAuth2/JWT tokens (values are never shown).
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Generate methods from an OpenAPI document, a curl command or a Postman collection.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Draw a runbook as a flow chart.
    Graph {
        /// The .rbk file.
        file: PathBuf,
        /// The runbook to draw (optional when the file has one, or one named `main`).
        runbook: Option<String>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
        #[command(flatten)]
        file_args: FileArgs,
    },
    /// Serve the Language Server Protocol on stdin/stdout, for editors.
    Lsp {
        /// Accepted for editors that pass it; stdio is the only transport.
        #[arg(long)]
        stdio: bool,
        #[command(flatten)]
        file_args: FileArgs,
    },
    /// Print a shell completion script: `source <(rbk completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: cli::completions::Shell,
    },
    /// Print the man page, or write one per subcommand into a directory.
    Man {
        /// Write rbk.1 and rbk-COMMAND.1 here instead of printing rbk.1.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run the runbooks that webhooks, schedules and the API start, with a durable journal, an API and a web page.
    Serve {
        /// Files or directories (searched for *.rbk); default: the current directory.
        paths: Vec<PathBuf>,
        /// Where the API, the page and the webhooks listen.
        #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
        listen: String,
        /// The journal (default: sqlite:.rbk/journal.db beside the first path).
        #[arg(long, value_name = "URL")]
        journal: Option<String>,
        /// The instance runs use (default: the first declared).
        #[arg(long)]
        instance: Option<String>,
        /// Read environment variables and secrets from this file as well.
        #[arg(long, value_name = "PATH")]
        env_file: Option<PathBuf>,
        /// Runs executing at once.
        #[arg(long, default_value_t = 16, value_name = "N")]
        max_runs: usize,
        /// Runs accepted and not yet started; more get 429.
        #[arg(long, default_value_t = 10000, value_name = "N")]
        max_queued: usize,
        /// The environment variable holding the API and page token.
        #[arg(long, value_name = "NAME")]
        api_token_env: Option<String>,
        /// How long running steps may take to finish on SIGTERM/SIGINT.
        #[arg(long, default_value = "30s", value_parser = cli::serve::parse_duration, value_name = "DURATION")]
        grace: std::time::Duration,
        /// Finished runs older than this are pruned from the journal.
        #[arg(long, default_value = "30d", value_parser = cli::serve::parse_duration, value_name = "DURATION")]
        keep: std::time::Duration,
        /// all (one process), or api / worker with a shared PostgreSQL journal.
        #[arg(long, default_value = "all", value_parser = ["all", "api", "worker"])]
        role: String,
        /// With a PostgreSQL journal: how long a worker holds a run without renewing (renewed every third of it).
        #[arg(long, default_value = "30s", value_parser = cli::serve::parse_duration, value_name = "DURATION")]
        lease: std::time::Duration,
        /// One line per run and step event: human or json.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
        #[command(flatten)]
        file_args: FileArgs,
    },
    /// List, show, cancel or resolve the runs of an `rbk serve` journal.
    Runs {
        #[command(subcommand)]
        action: RunsAction,
        /// The journal (default: sqlite:.rbk/journal.db).
        #[arg(long, global = true, value_name = "URL")]
        journal: Option<String>,
        /// Output for `list` and `show`: human or json.
        #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
        format: LogFormat,
    },
}

#[derive(Subcommand)]
enum ImportFrom {
    /// An OpenAPI 3.0 or 3.1 document (JSON or YAML): one method per operation.
    Openapi {
        /// The document; `$ref`s into files beside it are followed.
        spec: PathBuf,
        /// The integration's name (default: from the document's title).
        #[arg(long, value_name = "NAME", value_parser = parse_name)]
        integration: Option<String>,
        /// Only operations with this tag (may be repeated).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Only this operation, by operationId (may be repeated).
        #[arg(long = "operation", value_name = "ID")]
        operations: Vec<String>,
        /// Write the program here instead of to stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// A curl command line (read from stdin when not given): one method.
    Curl {
        /// The command, e.g. 'curl -X POST https://api.example.com/items -d a=1'.
        command: Option<String>,
        /// The integration's name (default: from the host name).
        #[arg(long, value_name = "NAME", value_parser = parse_name)]
        integration: Option<String>,
        /// The method's name (default: from the verb and path).
        #[arg(long, value_name = "NAME", value_parser = parse_name)]
        name: Option<String>,
        /// Write the program here instead of to stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// A Postman collection (v2.1): one method per request.
    Postman {
        /// The collection file (JSON).
        collection: PathBuf,
        /// The integration's name (default: from the collection's name).
        #[arg(long, value_name = "NAME", value_parser = parse_name)]
        integration: Option<String>,
        /// Write the program here instead of to stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `--integration` / `--name`: an rbk name.
fn parse_name(text: &str) -> Result<String, String> {
    if rbk::import::emit::ident(text, "") == text {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not an rbk name (lower-case letters, digits and `_`, not a reserved word); try `{}`",
            rbk::import::emit::ident(text, "api")
        ))
    }
}

#[derive(Subcommand)]
enum RunsAction {
    /// Runs, newest first.
    List {
        /// Only runs in this state.
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this runbook.
        #[arg(long)]
        runbook: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One run: arguments, steps, requests, errors (secrets masked).
    Show {
        /// The run's id.
        id: i64,
    },
    /// Cancel a run: no new request is sent; it ends `cancelled`.
    Cancel {
        /// The run's id.
        id: i64,
    },
    /// For a run that needs attention: `retry` sends the interrupted request again, `fail` fails its step.
    Resolve {
        /// The run's id.
        id: i64,
        /// `retry` or `fail`.
        #[arg(value_parser = ["retry", "fail"])]
        action: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum TokensAction {
    /// Show the cached tokens: integration, instance, grant, client id, scope, expiry.
    List,
    /// Forget the cached tokens of one integration, or all.
    Clear {
        /// Only this integration's tokens.
        integration: Option<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A parameter: `--arg name=value` (typed by the parameter).
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    args: Vec<String>,
    /// The instance to run against (default: the first declared).
    #[arg(long)]
    instance: Option<String>,
    /// Read environment variables and secrets from this file as well.
    #[arg(long, value_name = "PATH")]
    env_file: Option<PathBuf>,
    /// Resolve and print every request without sending anything.
    #[arg(long)]
    dry_run: bool,
    /// Write every exchange to a cassette file (secrets masked).
    #[arg(long, value_name = "CASSETTE", conflicts_with = "replay")]
    record: Option<PathBuf>,
    /// Answer requests from a cassette instead of the network.
    #[arg(long, value_name = "CASSETTE")]
    replay: Option<PathBuf>,
    /// `junit=PATH` or `json=PATH`; may be repeated.
    #[arg(long = "report", value_name = "KIND=PATH")]
    reports: Vec<String>,
    /// Show requests (-v) and headers and bodies (-vv), secrets masked.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Stop after this many statements (a guard against endless loops).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// OAuth2 code grants: print the authorization URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// The largest response body read (e.g. 64MiB, 1GB); a method's or
    /// integration's `max_response` overrides it. Default 64MiB.
    #[arg(long, value_name = "SIZE", value_parser = rbk::units::parse_size)]
    max_response: Option<u64>,
    #[command(flatten)]
    file_args: FileArgs,
}

/// Where programs may read files (imports, file(), bytes()).
#[derive(clap::Args)]
struct FileArgs {
    /// Imports and file()/bytes() read only regular files under DIR
    /// (default: the nearest directory above the .rbk file holding .git or rbk.toml).
    #[arg(long, value_name = "DIR", value_parser = parse_dir)]
    file_root: Option<PathBuf>,
    /// The largest file a program may read, e.g. 512KB, 10MB or plain bytes (default: 10MB).
    #[arg(long, value_name = "SIZE", value_parser = rbk::units::parse_size)]
    max_file_size: Option<u64>,
}

impl FileArgs {
    fn options(self) -> rbk::files::FileRootOptions {
        rbk::files::FileRootOptions {
            dir: self.file_root,
            max_bytes: self.max_file_size,
        }
    }
}

/// `--file-root`: an existing directory, made canonical.
fn parse_dir(text: &str) -> Result<PathBuf, String> {
    let path = std::fs::canonicalize(text).map_err(|e| format!("cannot use `{text}`: {e}"))?;
    if !path.is_dir() {
        return Err(format!("`{text}` is not a directory"));
    }
    Ok(path)
}

impl RunArgs {
    fn into_options(self) -> cli::run::RunOptions {
        cli::run::RunOptions {
            args: self.args,
            instance: self.instance,
            env_file: self.env_file,
            dry_run: self.dry_run,
            record: self.record,
            replay: self.replay,
            reports: self.reports,
            verbose: self.verbose,
            max_steps: self.max_steps,
            no_browser: self.no_browser,
            max_response: self.max_response,
            files: self.file_args.options(),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Github,
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

fn main() -> ExitCode {
    // Every command but `serve` works on one thread at a time (a run's
    // blocking pool only resolves host names and waits for a browser's
    // OAuth2 redirect), so the thread below may take its memory from the
    // main heap instead of a malloc arena of its own: making and trimming
    // that arena costs about 0.2 ms of a 3 ms run.
    if std::env::args_os()
        .nth(1)
        .is_none_or(|command| command != "serve")
    {
        rbk::memory::share_one_heap();
    }
    // Deeply nested programs and values recurse deeply; give the work a
    // large stack (reserved, not committed) instead of the main thread's 8 MiB.
    let worker = std::thread::Builder::new()
        .name("rbk".into())
        .stack_size(256 << 20)
        .spawn(real_main);
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!(
                "error: rbk stopped unexpectedly; please report this with the input that caused it"
            );
            ExitCode::from(2)
        }
    }
}

fn real_main() -> ExitCode {
    // `rbk __runbooks FILE`: the runbook names the bash completion offers
    // after `rbk run FILE`; kept out of clap so no completion lists it.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw.len() == 3 && raw[1] == "__runbooks" {
        return ExitCode::from(cli::completions::runbooks(std::path::Path::new(&raw[2])));
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A program file that is missing (or not a file) is the same usage
    // error, exit 2, with the same one message, for every command.
    let named: Vec<&std::path::Path> = match &args.command {
        Command::Run { file, .. } | Command::Call { file, .. } | Command::Graph { file, .. } => {
            vec![file.as_path()]
        }
        Command::Repl { files, .. } => files.iter().map(PathBuf::as_path).collect(),
        _ => Vec::new(),
    };
    if let Err(code) = cli::require_files(&named) {
        return ExitCode::from(code);
    }
    let code = match args.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
            file_args,
        } => cli::check::run(
            &paths,
            match format {
                Format::Human => cli::check::Format::Human,
                Format::Json => cli::check::Format::Json,
                Format::Github => cli::check::Format::Github,
            },
            deny_warnings,
            &file_args.options(),
        ),
        Command::Fmt { check, paths } => cli::fmt::run(&paths, check),
        Command::Run {
            file,
            runbook,
            opts,
        } => cli::run::run(&file, runbook.as_deref(), &opts.into_options()),
        Command::Repl {
            files,
            instance,
            env_file,
            file_args,
        } => rbk::repl::run(&rbk::repl::ReplOptions {
            files,
            instance,
            env_file,
            file_root: file_args.options(),
        }),
        Command::Call { file, target, opts } => {
            cli::run::call(&file, &target, &opts.into_options())
        }
        Command::Tokens { action } => match action {
            TokensAction::List => cli::tokens::list(),
            TokensAction::Clear { integration } => cli::tokens::clear(integration.as_deref()),
        },
        Command::Import { from } => match from {
            ImportFrom::Openapi {
                spec,
                integration,
                tags,
                operations,
                output,
            } => cli::import::run(
                cli::import::Source::OpenApi {
                    spec,
                    options: rbk::import::openapi::Options {
                        integration,
                        tags,
                        operations,
                    },
                },
                output.as_deref(),
            ),
            ImportFrom::Curl {
                command,
                integration,
                name,
                output,
            } => cli::import::run(
                cli::import::Source::Curl {
                    command,
                    options: rbk::import::curl::Options { integration, name },
                },
                output.as_deref(),
            ),
            ImportFrom::Postman {
                collection,
                integration,
                output,
            } => cli::import::run(
                cli::import::Source::Postman {
                    collection,
                    options: rbk::import::postman::Options { integration },
                },
                output.as_deref(),
            ),
        },
        Command::Graph {
            file,
            runbook,
            format,
            file_args,
        } => cli::graph::run(
            &file,
            runbook.as_deref(),
            match format {
                GraphFormat::Mermaid => cli::graph::Format::Mermaid,
                GraphFormat::Dot => cli::graph::Format::Dot,
            },
            &file_args.options(),
        ),
        Command::Lsp { file_args, .. } => rbk::lsp::run(&file_args.options()),
        Command::Completions { shell } => cli::completions::completions(Args::command(), shell),
        Command::Man { dir } => cli::completions::man(Args::command(), dir.as_deref()),
        Command::Serve {
            paths,
            listen,
            journal,
            instance,
            env_file,
            max_runs,
            max_queued,
            api_token_env,
            grace,
            keep,
            role,
            lease,
            log_format,
            file_args,
        } => cli::serve::run(cli::serve::ServeOptions {
            paths,
            listen,
            journal,
            instance,
            env_file,
            max_runs,
            max_queued,
            api_token_env,
            grace,
            keep,
            role,
            lease,
            log_format: match log_format {
                LogFormat::Human => rbk::serve::log::Format::Human,
                LogFormat::Json => rbk::serve::log::Format::Json,
            },
            files: file_args.options(),
        }),
        Command::Runs {
            action,
            journal,
            format,
        } => cli::runs::run(
            journal.as_deref(),
            match action {
                RunsAction::List {
                    status,
                    runbook,
                    limit,
                } => cli::runs::Action::List {
                    state: status,
                    runbook,
                    limit,
                },
                RunsAction::Show { id } => cli::runs::Action::Show { id },
                RunsAction::Cancel { id } => cli::runs::Action::Cancel { id },
                RunsAction::Resolve { id, action } => cli::runs::Action::Resolve { id, action },
            },
            match format {
                LogFormat::Human => cli::runs::Format::Human,
                LogFormat::Json => cli::runs::Format::Json,
            },
        ),
    };
    ExitCode::from(code)
}
