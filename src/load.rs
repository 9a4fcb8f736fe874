//! Reads a file and, transitively, the files it imports; parses each once.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, codes};
use crate::files::{FileRoot, FileRootOptions, Reason, Refusal};
use crate::syntax::ast::{Item, Module, Span};
use crate::syntax::parse;
use crate::syntax::span::{FileId, SourceMap};

/// A program's files, parsed, before checking.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub sources: SourceMap,
    /// One module per file, indexed like the source map.
    pub modules: Vec<Module>,
    pub diagnostics: Vec<Diagnostic>,
    /// The file the program was loaded from.
    pub root: FileId,
    /// Where the program may read files (imports, `file()`, `bytes()`).
    pub file_root: FileRoot,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads the program rooted at `path`, with the default file root (see
/// [`FileRoot::discover`]). Read errors become diagnostics.
pub fn load_file(path: &Path) -> Loaded {
    load_file_in(path, &FileRootOptions::default().root_for(path))
}

/// Loads the program rooted at `path`; it and its imports are read through
/// `files`. Read errors and refusals become diagnostics.
pub fn load_file_in(path: &Path, files: &FileRoot) -> Loaded {
    match files.read_named_text(path) {
        Ok(text) => load_source_in(path, text, files),
        Err(refusal) => {
            let mut sources = SourceMap::new();
            let root = sources.add(path.to_path_buf(), String::new());
            Loaded {
                sources,
                modules: vec![empty_module(root)],
                diagnostics: vec![root_error(path, &refusal)],
                root,
                file_root: files.clone(),
            }
        }
    }
}

/// Loads a program whose root text is given (imports are read from disk,
/// relative to `path`, under the default file root).
pub fn load_source(path: &Path, text: String) -> Loaded {
    load_source_in(path, text, &FileRootOptions::default().root_for(path))
}

/// Loads a program whose root text is given; imports are read through `files`.
pub fn load_source_in(path: &Path, text: String, files: &FileRoot) -> Loaded {
    load_source_overlay(path, text, files, &Overlay::new())
}

/// Texts that stand in for files on disk (an editor's unsaved buffers),
/// keyed by canonical path (or the absolute path of a file not yet saved).
pub type Overlay = std::collections::HashMap<PathBuf, String>;

/// Like [`load_source_in`], but an import whose path is in `overlay` is
/// read from there instead of from disk.
pub fn load_source_overlay(
    path: &Path,
    text: String,
    files: &FileRoot,
    overlay: &Overlay,
) -> Loaded {
    let mut loader = Loader {
        sources: SourceMap::new(),
        modules: Vec::new(),
        diagnostics: Vec::new(),
        canonical: Vec::new(),
        files: files.clone(),
        overlay,
    };
    let root = loader.add(path.to_path_buf(), text);
    loader.follow_imports(root, &mut vec![root]);
    Loaded {
        sources: loader.sources,
        modules: loader.modules,
        diagnostics: loader.diagnostics,
        root,
        file_root: loader.files,
    }
}

fn empty_module(file: FileId) -> Module {
    Module {
        file,
        items: Vec::new(),
        comments: Vec::new(),
    }
}

/// The root file (named on the command line) could not be read: a usage
/// error, whatever the reason.
fn root_error(path: &Path, refusal: &Refusal) -> Diagnostic {
    Diagnostic::error(codes::IO, refusal.to_string())
        .with_path(path)
        .help(if refusal.is_io_error() {
            "check that the file exists and is readable".to_string()
        } else {
            refusal.help()
        })
}

struct Loader<'o> {
    sources: SourceMap,
    modules: Vec<Module>,
    diagnostics: Vec<Diagnostic>,
    /// Canonical path of each file, to recognise a file imported twice.
    canonical: Vec<PathBuf>,
    /// Where imports may be read from.
    files: FileRoot,
    /// Unsaved texts that replace files on disk.
    overlay: &'o Overlay,
}

impl Loader<'_> {
    fn add(&mut self, path: PathBuf, text: String) -> FileId {
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let id = self.sources.add(path, text);
        let (module, mut diags) = parse(id, &self.sources.get(id).text);
        self.modules.push(module);
        self.diagnostics.append(&mut diags);
        self.canonical.push(canonical);
        id
    }

    /// Depth-first over imports; `stack` is the chain of files being loaded.
    fn follow_imports(&mut self, file: FileId, stack: &mut Vec<FileId>) {
        let imports: Vec<(String, Span)> = self.modules[file.0 as usize]
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Import(imp) => Some((imp.path.as_plain(), imp.path.span)),
                _ => None,
            })
            .filter_map(|(p, s)| match p {
                Some(p) => Some((p, s)),
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            codes::INVALID_IMPORT,
                            "an import path cannot interpolate values",
                        )
                        .at(s, "this path has `{...}` in it")
                        .help("write the path as plain text, relative to this file"),
                    );
                    None
                }
            })
            .collect();
        let base = self
            .sources
            .get(file)
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for (rel, span) in imports {
            let path = base.join(&rel);
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if let Some(pos) = stack
                .iter()
                .position(|f| self.canonical[f.0 as usize] == canonical)
            {
                let mut chain: Vec<String> = stack[pos..]
                    .iter()
                    .map(|f| self.sources.get(*f).path.display().to_string())
                    .collect();
                chain.push(path.display().to_string());
                self.diagnostics.push(
                    Diagnostic::error(
                        codes::IMPORT_CYCLE,
                        format!("import cycle: {}", chain.join(" → ")),
                    )
                    .at(span, "this import closes the cycle")
                    .help("move what both files need into a third file that imports neither"),
                );
                continue;
            }
            if self.canonical.contains(&canonical) {
                continue;
            }
            let read = match self.overlay.get(&canonical) {
                // Still under the file-root rules, as the file on disk would be.
                Some(text) => self.files.resolve(&path).map(|_| text.clone()),
                None => self.files.read_text(&path),
            };
            match read {
                Ok(text) => {
                    let id = self.add(path, text);
                    stack.push(id);
                    self.follow_imports(id, stack);
                    stack.pop();
                }
                Err(Refusal {
                    reason: Reason::Unreadable { message, .. },
                    ..
                }) => self.diagnostics.push(
                    Diagnostic::error(
                        codes::IO,
                        format!("cannot read imported file {}: {message}", path.display()),
                    )
                    .at(span, "imported here")
                    .help("import paths are relative to the importing file"),
                ),
                Err(refusal) => self.diagnostics.push(
                    Diagnostic::error(codes::FILE_REFUSED, format!("import refused: {refusal}"))
                        .at(span, "refused")
                        .help(refusal.help()),
                ),
            }
        }
    }
}
