//! The one place rbk reads files a program names: imports, `file()`,
//! `bytes()` and `bytes` request bodies.
//!
//! A program may only read regular files under its file root, and none
//! larger than a limit. Without this, `import "/proc/self/environ"` would
//! print a CI job's secrets inside a parse error, and `import "/dev/zero"`
//! would read until memory runs out. A refusal names the path and the
//! reason, never anything the file holds.

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The default limit on the size of a file a program reads: 10 MB (MiB).
pub const DEFAULT_MAX_BYTES: u64 = 10 << 20;

/// The directory a program may read files under, and how large they may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRoot {
    /// Canonical (absolute, symlinks resolved).
    dir: PathBuf,
    max_bytes: u64,
}

/// What the command line says about the file root: each `None` means the
/// default (discovery, 10 MB).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRootOptions {
    /// `--file-root DIR`.
    pub dir: Option<PathBuf>,
    /// `--max-file-size SIZE`, in bytes.
    pub max_bytes: Option<u64>,
}

impl FileRootOptions {
    /// The file root for the program whose root file is `program`.
    pub fn root_for(&self, program: &Path) -> FileRoot {
        let max = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        match &self.dir {
            Some(dir) => FileRoot::new(dir, max),
            None => FileRoot::discover(program, max),
        }
    }

    /// One file root for a program made of several root files (the REPL):
    /// the nearest directory holding each file's own root.
    pub fn root_for_all(&self, programs: &[PathBuf]) -> FileRoot {
        let max = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        if let Some(dir) = &self.dir {
            return FileRoot::new(dir, max);
        }
        let mut roots = programs.iter().map(|p| FileRoot::discover(p, max).dir);
        let Some(mut common) = roots.next() else {
            return FileRoot::discover(Path::new("<repl>"), max);
        };
        for r in roots {
            while !r.starts_with(&common) {
                match common.parent() {
                    Some(p) => common = p.to_path_buf(),
                    None => break,
                }
            }
        }
        FileRoot {
            dir: common,
            max_bytes: max,
        }
    }
}

/// Why a file was not read. Never holds any of the file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The path as the program named it (joined to the naming file's directory).
    pub path: PathBuf,
    pub reason: Reason,
    /// The file root it was refused under.
    pub root: PathBuf,
    /// The size limit in force, in bytes.
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The file could not be found, opened or read (an I/O error).
    Unreadable {
        kind: std::io::ErrorKind,
        message: String,
    },
    /// The path resolves (through `..` and symlinks) outside the root.
    Outside { resolved: PathBuf },
    /// A directory, FIFO, device or socket.
    NotRegular { what: &'static str },
    /// Larger than the limit (by its size, or by what reading it gave).
    TooLarge,
}

impl Refusal {
    /// The file does not exist (nor does it lie outside the root).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.reason,
            Reason::Unreadable {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        )
    }

    /// An ordinary I/O error rather than a refusal by the file-root rules.
    pub fn is_io_error(&self) -> bool {
        matches!(self.reason, Reason::Unreadable { .. })
    }

    /// One sentence on how to get the file read.
    pub fn help(&self) -> String {
        match self.reason {
            Reason::TooLarge => format!(
                "imports and file() read files of at most {}; use --max-file-size to raise the limit",
                crate::units::format_size(self.limit)
            ),
            Reason::NotRegular { .. } => {
                "imports and file() read only regular files, never directories, FIFOs or devices"
                    .to_string()
            }
            // The message names the root; the help does not repeat it.
            _ => "imports and file() read only regular files under the file root; use --file-root DIR to widen it"
                .to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.reason {
            Reason::Unreadable { message, .. } => write!(f, "cannot read {path}: {message}"),
            Reason::Outside { resolved } => {
                write!(f, "{path} is outside the file root {}", self.root.display())?;
                if resolved.as_path() != self.path.as_path() {
                    write!(f, " (it resolves to {})", resolved.display())?;
                }
                Ok(())
            }
            Reason::NotRegular { what } => write!(f, "{path} is {what}, not a regular file"),
            Reason::TooLarge => write!(
                f,
                "{path} is larger than the limit of {} (--max-file-size)",
                crate::units::format_size(self.limit)
            ),
        }
    }
}

impl std::error::Error for Refusal {}

impl FileRoot {
    /// A root at `dir` (made canonical when it exists).
    pub fn new(dir: &Path, max_bytes: u64) -> FileRoot {
        FileRoot {
            dir: canonical_dir(dir),
            max_bytes,
        }
    }

    /// The default root for the program whose root file is `program`: the
    /// nearest directory at or above the file's directory that holds `.git`
    /// (a directory or a file) or `rbk.toml`; else the file's directory.
    pub fn discover(program: &Path, max_bytes: u64) -> FileRoot {
        let parent = match program.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let start = canonical_dir(parent);
        let found = start
            .ancestors()
            .find(|d| {
                std::fs::symlink_metadata(d.join(".git")).is_ok() || d.join("rbk.toml").is_file()
            })
            .map(Path::to_path_buf);
        FileRoot {
            dir: found.unwrap_or(start),
            max_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn refuse(&self, path: &Path, reason: Reason) -> Refusal {
        Refusal {
            path: path.to_path_buf(),
            reason,
            root: self.dir.clone(),
            limit: self.max_bytes,
        }
    }

    fn io_refusal(&self, path: &Path, e: &std::io::Error) -> Refusal {
        self.refuse(
            path,
            Reason::Unreadable {
                kind: e.kind(),
                message: e.to_string(),
            },
        )
    }

    /// Where `path` leads, refused unless that is under the root. A path
    /// that does not exist is resolved as far as it does, so that a missing
    /// file outside the root is refused rather than reported missing.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, Refusal> {
        let resolved = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => match resolve_missing(path) {
                Some(r) if !r.starts_with(&self.dir) => {
                    return Err(self.refuse(path, Reason::Outside { resolved: r }));
                }
                _ => return Err(self.io_refusal(path, &e)),
            },
        };
        if !resolved.starts_with(&self.dir) {
            return Err(self.refuse(path, Reason::Outside { resolved }));
        }
        Ok(resolved)
    }

    /// Everything [`FileRoot::read`] checks, without opening the file:
    /// for the checker, which only looks.
    pub fn inspect(&self, path: &Path) -> Result<PathBuf, Refusal> {
        let resolved = self.resolve(path)?;
        let meta = std::fs::metadata(&resolved).map_err(|e| self.io_refusal(path, &e))?;
        self.admit(path, &meta)?;
        Ok(resolved)
    }

    fn admit(&self, path: &Path, meta: &std::fs::Metadata) -> Result<(), Refusal> {
        if !meta.is_file() {
            return Err(self.refuse(
                path,
                Reason::NotRegular {
                    what: kind_of(&meta.file_type()),
                },
            ));
        }
        if meta.len() > self.max_bytes {
            return Err(self.refuse(path, Reason::TooLarge));
        }
        Ok(())
    }

    /// The bytes of the regular file at `path`, if it lies under the root
    /// and within the size limit.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, Refusal> {
        let resolved = self.resolve(path)?;
        self.read_resolved(path, &resolved)
    }

    /// Like [`FileRoot::read`], for text: refused unless it is UTF-8.
    pub fn read_text(&self, path: &Path) -> Result<String, Refusal> {
        let data = self.read(path)?;
        self.text(path, data)
    }

    /// Reads a file the user named on the command line (a program's root
    /// file): it need not be under the root, but must be a regular file
    /// within the size limit, and UTF-8 text.
    pub fn read_named_text(&self, path: &Path) -> Result<String, Refusal> {
        let resolved = std::fs::canonicalize(path).map_err(|e| self.io_refusal(path, &e))?;
        let data = self.read_resolved(path, &resolved)?;
        self.text(path, data)
    }

    fn text(&self, path: &Path, data: Vec<u8>) -> Result<String, Refusal> {
        String::from_utf8(data).map_err(|_| {
            self.refuse(
                path,
                Reason::Unreadable {
                    kind: std::io::ErrorKind::InvalidData,
                    message: "it is not UTF-8 text".to_string(),
                },
            )
        })
    }

    fn read_resolved(&self, path: &Path, resolved: &Path) -> Result<Vec<u8>, Refusal> {
        let meta = std::fs::metadata(resolved).map_err(|e| self.io_refusal(path, &e))?;
        self.admit(path, &meta)?;
        let file = open_nonblocking(resolved).map_err(|e| self.io_refusal(path, &e))?;
        // What was checked by name may have been swapped since: check the
        // open file itself.
        let meta = file.metadata().map_err(|e| self.io_refusal(path, &e))?;
        self.admit(path, &meta)?;
        // Some files (in /proc, say) report a size of 0 and hold more:
        // never read more than one byte past the limit.
        let mut data = Vec::new();
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| self.io_refusal(path, &e))?;
        if data.len() as u64 > self.max_bytes {
            return Err(self.refuse(path, Reason::TooLarge));
        }
        Ok(data)
    }
}

/// `dir` made canonical; as absolute as possible when it does not exist.
fn canonical_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| match std::env::current_dir() {
        Ok(cwd) => cwd.join(dir),
        Err(_) => dir.to_path_buf(),
    })
}

/// A path that does not exist, resolved: its longest existing ancestor
/// made canonical, the rest applied by name.
fn resolve_missing(path: &Path) -> Option<PathBuf> {
    let (base, rest) = path.ancestors().skip(1).find_map(|a| {
        let base = if a.as_os_str().is_empty() {
            std::fs::canonicalize(".").ok()?
        } else {
            std::fs::canonicalize(a).ok()?
        };
        Some((base, path.strip_prefix(a).ok()?.to_path_buf()))
    })?;
    let mut out = base;
    for c in rest.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Opens for reading without blocking: opening a FIFO put in place after
/// the check would otherwise wait for a writer.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_is_resolved_by_name() {
        let cwd = std::fs::canonicalize(".").unwrap_or_default();
        assert_eq!(
            resolve_missing(Path::new("no_such_dir/../../x")),
            cwd.parent().map(|p| p.join("x"))
        );
    }
}
