//! Writing output files safely: reports, cassettes, formatted sources and
//! the token cache all go through [`write`] (or [`write_private`]).
//!
//! * A target that exists and is not a regular file (a symbolic link, a
//!   FIFO, a device, a directory) is refused, never followed or replaced.
//! * The bytes go to a temporary file created exclusively (`O_EXCL`, with a
//!   random name, never through a symbolic link) in the target's directory,
//!   are flushed to disk, and the temporary file is renamed over the target.
//! * On any error (a full disk, say) the previous file is left as it was and
//!   the temporary file is removed.

use std::fs::Permissions;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically. An existing file keeps its
/// permissions; a new one gets the usual ones (0666 less the umask).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, false)
}

/// Like [`write`], but the file is readable and writable by its owner only
/// (0600 on Unix), whatever it was before: for secrets such as tokens.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, true)
}

/// Refuses a target that exists and is not a regular file. Looks at the
/// path itself (a symbolic link is not followed), so nothing is opened.
pub fn check_target(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "it is {}, not a regular file; rbk neither writes through it nor replaces it",
                kind(&meta)
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("cannot inspect {}: {e}", path.display()),
        )),
    }
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        return "a symbolic link";
    }
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    "a special file"
}

fn write_with(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    check_target(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    if let Some(p) = permissions(path, private) {
        builder.permissions(p);
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot create a temporary file in {}: {e}", dir.display()),
        )
    })?;
    // Every error below drops `tmp`, which removes the temporary file.
    tmp.write_all(bytes)?;
    tmp.flush()?;
    tmp.as_file().sync_all()?;
    // The target may have been swapped for something else meanwhile.
    check_target(path)?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable (best effort: the file is in place).
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The temporary file's permissions (it is renamed over the target, so
/// these are the file's): the old file's, 0600 for private files, else
/// 0666 (less the umask, applied when the file is created).
#[cfg(unix)]
fn permissions(path: &Path, private: bool) -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt;
    if private {
        return Some(Permissions::from_mode(0o600));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {
            Some(Permissions::from_mode(meta.permissions().mode() & 0o7777))
        }
        _ => Some(Permissions::from_mode(0o666)),
    }
}

#[cfg(not(unix))]
fn permissions(_path: &Path, _private: bool) -> Option<Permissions> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rbk-atomic-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    fn leftovers(dir: &Path, keep: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != keep)
            .collect()
    }

    #[test]
    fn writes_and_replaces_leaving_no_temporary_file() {
        let d = scratch("replace");
        let p = d.join("out.json");
        write(&p, b"one").expect("first write");
        write(&p, b"two").expect("second write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(leftovers(&d, "out.json"), Vec::<String>::new());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_a_directory() {
        let d = scratch("dir");
        let p = d.join("sub");
        std::fs::create_dir(&p).expect("mkdir");
        let e = write(&p, b"x").expect_err("a directory is refused");
        assert!(e.to_string().contains("a directory"), "{e}");
        assert!(p.is_dir());
        assert_eq!(leftovers(&d, "sub"), Vec::<String>::new());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_symlink_and_keeps_its_target() {
        let d = scratch("link");
        let target = d.join("target");
        std::fs::write(&target, b"keep").expect("write");
        let link = d.join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = write(&link, b"x").expect_err("a symlink is refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&target).expect("read"), b"keep");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only_and_others_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = scratch("mode");
        let p = d.join("tokens.json");
        write_private(&p, b"{}").expect("write");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let q = d.join("report.xml");
        std::fs::write(&q, b"old").expect("write");
        std::fs::set_permissions(&q, Permissions::from_mode(0o640)).expect("chmod");
        write(&q, b"new").expect("write");
        let mode = std::fs::metadata(&q).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let _ = std::fs::remove_dir_all(&d);
    }
}
