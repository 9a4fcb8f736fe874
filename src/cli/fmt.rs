//! `rbk fmt`: rewrite files in canonical form, or (with `--check`) list
//! those that are not.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::{self, Diagnostic, codes};
use crate::syntax::span::SourceMap;

/// Formats every file; returns the exit code. A file with syntax errors is
/// reported and left untouched.
pub fn run(paths: &[PathBuf], check: bool) -> u8 {
    let (files, errors) = super::rbk_files(paths);
    let color = super::color_stderr();
    let mut code = EXIT_OK;
    if !errors.is_empty() {
        eprint!(
            "{}",
            diagnostic::render_human(&errors, &SourceMap::new(), color)
        );
        code = EXIT_USAGE;
    }
    let mut stdout = std::io::stdout().lock();
    let mut changed = 0usize;
    for file in &files {
        match format_file(file) {
            Err(FileError::Io(d)) => {
                eprint!(
                    "{}",
                    diagnostic::render_human(&[*d], &SourceMap::new(), color)
                );
                code = EXIT_USAGE;
            }
            Err(FileError::Syntax(diags, sources)) => {
                eprint!("{}", diagnostic::render_human(&diags, &sources, color));
                if code == EXIT_OK {
                    code = EXIT_FAILED;
                }
            }
            Ok((original, formatted)) => {
                if original == formatted {
                    continue;
                }
                changed += 1;
                if check {
                    let _ = writeln!(stdout, "would reformat {}", file.display());
                    if code == EXIT_OK {
                        code = EXIT_FAILED;
                    }
                } else if let Err(e) = write_atomically(file, &formatted) {
                    eprintln!("error[{}]: cannot write {}: {e}", codes::IO, file.display());
                    code = EXIT_USAGE;
                } else {
                    let _ = writeln!(stdout, "formatted {}", file.display());
                }
            }
        }
    }
    if check && changed == 0 && code == EXIT_OK {
        let _ = writeln!(
            stdout,
            "{} file{} already formatted",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
    }
    code
}

enum FileError {
    Io(Box<Diagnostic>),
    Syntax(Vec<Diagnostic>, SourceMap),
}

fn format_file(path: &Path) -> Result<(String, String), FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        FileError::Io(Box::new(
            Diagnostic::error(codes::IO, format!("cannot read {}: {e}", path.display()))
                .with_path(path),
        ))
    })?;
    let mut sources = SourceMap::new();
    let id = sources.add(path.to_path_buf(), text.clone());
    let (module, diags) = crate::syntax::parse(id, &text);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(FileError::Syntax(diags, sources));
    }
    let formatted = crate::syntax::format::format_module(&module, &text);
    Ok((text, formatted))
}

/// Writes through a temporary file renamed over `path`, so an interrupted
/// write never leaves a half-written file; the file keeps its permissions.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    crate::runtime::atomic_write::write(path, text.as_bytes())
}
