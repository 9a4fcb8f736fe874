//! The `rbk` command: argument parsing and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use rbk::cli;

#[derive(Parser)]
#[command(
    name = "rbk",
    version,
    about = "Check, format and draw .rbk integration runbooks",
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
    },
    /// Format files canonically (keeps every comment).
    Fmt {
        /// Report files that are not formatted, change nothing, exit 1 if any.
        #[arg(long)]
        check: bool,
        /// Files or directories (searched for *.rbk); default: the current directory.
        paths: Vec<PathBuf>,
    },
    /// Draw a runbook as a flow chart.
    Graph {
        /// The .rbk file.
        file: PathBuf,
        /// The runbook to draw.
        runbook: String,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
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
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match args.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
        } => cli::check::run(
            &paths,
            match format {
                Format::Human => cli::check::Format::Human,
                Format::Json => cli::check::Format::Json,
                Format::Github => cli::check::Format::Github,
            },
            deny_warnings,
        ),
        Command::Fmt { check, paths } => cli::fmt::run(&paths, check),
        Command::Graph {
            file,
            runbook,
            format,
        } => cli::graph::run(
            &file,
            &runbook,
            match format {
                GraphFormat::Mermaid => cli::graph::Format::Mermaid,
                GraphFormat::Dot => cli::graph::Format::Dot,
            },
        ),
    };
    ExitCode::from(code)
}
