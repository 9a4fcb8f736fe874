//! Thin drivers over the stages, one file per command.

pub mod check;
pub mod completions;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod run;
pub mod runs;
pub mod serve;
pub mod tokens;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, codes};

/// Exit codes: 0 success, 1 problems found, 2 usage or input errors.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The `.rbk` files named by `paths` (directories searched recursively,
/// in sorted order); an empty list means the current directory.
pub fn rbk_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| match e {
                    Ok(e) => Some(e),
                    Err(err) => {
                        errors.push(
                            Diagnostic::error(
                                codes::IO,
                                format!("cannot read a directory entry: {err}"),
                            )
                            .with_path(p),
                        );
                        None
                    }
                })
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|p| p.extension().is_some_and(|x| x == "rbk"))
                .filter(|p| !is_hidden_or_target(p))
                .collect();
            files.append(&mut found);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            errors.push(missing(p));
        }
    }
    (files, errors)
}

/// The diagnostic for a path that is not there.
fn missing(p: &Path) -> Diagnostic {
    Diagnostic::error(codes::IO, format!("{} does not exist", p.display()))
        .with_path(p)
        .help("give .rbk files or directories that hold them")
}

/// Each of `files` exists and is a file; otherwise one diagnostic each on
/// stderr and the usage exit code.
pub fn require_files(files: &[&Path]) -> Result<(), u8> {
    let errors: Vec<Diagnostic> = files
        .iter()
        .filter_map(|p| {
            if !p.exists() {
                Some(missing(p))
            } else if p.is_dir() {
                Some(
                    Diagnostic::error(codes::IO, format!("{} is a directory", p.display()))
                        .with_path(p)
                        .help("name one .rbk file (`rbk check` takes directories)"),
                )
            } else {
                None
            }
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    eprint!(
        "{}",
        crate::diagnostic::render_human(
            &errors,
            &crate::syntax::span::SourceMap::new(),
            color_stderr()
        )
    );
    Err(EXIT_USAGE)
}

fn is_hidden_or_target(p: &Path) -> bool {
    p.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        (s.starts_with('.') && s != "." && s != "..") || s == "target" || s == "node_modules"
    })
}

/// Whether to colour output written to stdout.
pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Whether to colour output written to stderr.
pub fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}
