//! `rbk import openapi|curl|postman`: generate methods, check them, print
//! or write them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::{self, Diagnostic};
use crate::import::{self, Failure, Imported};
use crate::syntax::span::SourceMap;

/// What to import from.
pub enum Source {
    OpenApi {
        spec: PathBuf,
        options: import::openapi::Options,
    },
    /// The command line; `None` reads it from stdin.
    Curl {
        command: Option<String>,
        options: import::curl::Options,
    },
    Postman {
        collection: PathBuf,
        options: import::postman::Options,
    },
}

/// Imports, checks the result with the project's checker, then writes it
/// to `output` (or stdout). Returns the exit code.
pub fn run(source: Source, output: Option<&Path>) -> u8 {
    let color = super::color_stderr();
    let result = match source {
        Source::OpenApi { spec, options } => import::openapi::import(&spec, &options),
        Source::Curl { command, options } => {
            let text = match command {
                Some(c) => c,
                None => {
                    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                        eprintln!(
                            "error[{}]: give the curl command as an argument, or pipe it in: \
                             rbk import curl 'curl https://api.example.com/items'",
                            import::codes::INVALID_CURL
                        );
                        return EXIT_USAGE;
                    }
                    let mut s = String::new();
                    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                        eprintln!("error[{}]: cannot read stdin: {e}", diagnostic::codes::IO);
                        return EXIT_USAGE;
                    }
                    s
                }
            };
            import::curl::import(&text, &options)
        }
        Source::Postman {
            collection,
            options,
        } => import::postman::import(&collection, &options),
    };
    let imported = match result {
        Ok(i) => i,
        Err(Failure {
            diagnostics,
            sources,
        }) => {
            // The lines shown around an error may hold the document's tokens.
            let shown = import::mask::masked(&sources);
            eprint!("{}", diagnostic::render_human(&diagnostics, &shown, color));
            return EXIT_USAGE;
        }
    };
    let (errors, warnings) = check(&imported, output);
    if !errors.is_empty() {
        eprint!("{}", diagnostic::render_human(&errors.0, &errors.1, color));
        eprintln!(
            "error: the generated program does not check; this is a bug in `rbk import`, please report it with the input"
        );
        return EXIT_FAILED;
    }
    match output {
        Some(path) => {
            if let Err(e) = crate::runtime::atomic_write::write(path, imported.text.as_bytes()) {
                eprintln!(
                    "error[{}]: cannot write {}: {e}",
                    diagnostic::codes::IO,
                    path.display()
                );
                return EXIT_USAGE;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            if out.write_all(imported.text.as_bytes()).is_err() {
                return EXIT_USAGE;
            }
        }
    }
    eprintln!(
        "imported {} method{}{}; rbk check: 0 errors, {} warning{}",
        imported.methods,
        if imported.methods == 1 { "" } else { "s" },
        output
            .map(|p| format!(" into {}", p.display()))
            .unwrap_or_default(),
        warnings,
        if warnings == 1 { "" } else { "s" }
    );
    EXIT_OK
}

/// Errors the checker found (with their sources; empty when none) and the
/// number of warnings.
fn check(imported: &Imported, output: Option<&Path>) -> (Errors, usize) {
    let path = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("imported.rbk"));
    let checked = crate::check::check(crate::load::load_source(&path, imported.text.clone()));
    let warnings = checked.diagnostics.iter().filter(|d| !d.is_error()).count();
    let errors: Vec<Diagnostic> = checked
        .diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    if errors.is_empty() {
        (Errors::default(), warnings)
    } else {
        (Errors(errors, checked.program.sources), warnings)
    }
}

#[derive(Default)]
struct Errors(Vec<Diagnostic>, SourceMap);

impl Errors {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
