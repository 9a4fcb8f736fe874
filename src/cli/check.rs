//! `rbk check`: load and check every program, print the diagnostics.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::{self, Diagnostic, Severity};
use crate::files::FileRootOptions;
use crate::syntax::span::SourceMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Github,
}

/// Checks every file (each as the root of its own program) and prints the
/// diagnostics once each; returns the exit code.
pub fn run(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    file_root: &FileRootOptions,
) -> u8 {
    // Large programs: reuse freed memory rather than fault it in again.
    crate::memory::keep_freed_memory();
    let (files, io_errors) = super::rbk_files(paths);
    let mut out = std::io::stdout().lock();
    let empty = SourceMap::new();
    let mut printed: HashSet<String> = HashSet::new();
    let mut json_items = Vec::new();
    let (mut errors, mut warnings) = (0usize, 0usize);
    let color = super::color_stdout();
    let mut emit = |d: &Diagnostic, sources: &SourceMap, out: &mut dyn Write| {
        let key = match d.location(sources) {
            Some(l) => format!(
                "{}:{}:{}:{}:{}",
                d.code,
                l.path.display(),
                l.line,
                l.column,
                d.message
            ),
            None => format!("{}:{:?}:{}", d.code, d.path, d.message),
        };
        if !printed.insert(key) {
            return;
        }
        match d.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
        }
        let first = errors + warnings == 1;
        let _ = match format {
            Format::Human => write!(
                out,
                "{}{}",
                if first { "" } else { "\n" },
                diagnostic::render_human(std::slice::from_ref(d), sources, color)
            ),
            Format::Github => writeln!(out, "{}", diagnostic::to_github(d, sources)),
            Format::Json => {
                json_items.push(diagnostic::to_json(d, sources));
                Ok(())
            }
        };
    };
    for d in &io_errors {
        emit(d, &empty, &mut out);
    }
    let mut unreadable = !io_errors.is_empty();
    for file in &files {
        let loaded = crate::load::load_file_in(file, &file_root.root_for(file));
        if loaded
            .diagnostics
            .iter()
            .any(|d| d.code == diagnostic::codes::IO && d.primary.is_none())
        {
            unreadable = true;
        }
        let checked = crate::check::check(loaded);
        for d in &checked.diagnostics {
            emit(d, &checked.program.sources, &mut out);
        }
    }
    if format == Format::Json {
        let doc = serde_json::json!({
            "files": files.len(),
            "errors": errors,
            "warnings": warnings,
            "diagnostics": json_items,
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    } else if format == Format::Human {
        let _ = writeln!(
            out,
            "checked {} file{}: {} error{}, {} warning{}",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" },
        );
    }
    if unreadable {
        EXIT_USAGE
    } else if errors > 0 || (deny_warnings && warnings > 0) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}
