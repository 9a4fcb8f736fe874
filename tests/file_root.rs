//! Files are read only where the program lives: imports, `file()`,
//! `bytes()` and `bytes` bodies are refused outside the file root, when
//! they are not regular files, or when they are over the size limit; a
//! refusal never prints what the file holds. Through the real binary.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PLANTED: &str = "s3cr3t-planted-value";
/// Longer than any of these runs takes; a run still going then has hung.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rbk-file-root-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directory");
    }
    std::fs::write(path, text).expect("write a test file");
}

struct Out {
    code: Option<i32>,
    /// stdout and stderr together.
    text: String,
}

/// Runs rbk in `dir` with a planted secret in its environment; fails the
/// test (after killing it) if it runs longer than [`TIMEOUT`].
fn rbk(dir: &Path, args: &[&str]) -> Out {
    let out_path = dir.join(".rbk-test-stdout");
    let err_path = dir.join(".rbk-test-stderr");
    let stdout = std::fs::File::create(&out_path).expect("stdout file");
    let stderr = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbk"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RBK_PLANTED", PLANTED)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("the rbk binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for rbk") {
            break s;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rbk {args:?} ran for over {TIMEOUT:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    Out {
        code: status.code(),
        text,
    }
}

const RUNBOOK: &str = "\nrunbook main() {\n  log \"hello\"\n}\n";

/// Asserts a check of `file` failed with rbk::file_refused and printed none
/// of `forbidden`.
fn assert_refused(o: &Out, forbidden: &[&str]) {
    assert_eq!(o.code, Some(1), "{}", o.text);
    // (The github format writes `rbk%3A%3Afile_refused`.)
    assert!(o.text.contains("file_refused"), "{}", o.text);
    for f in forbidden {
        assert!(!o.text.contains(f), "printed {f:?}:\n{}", o.text);
    }
    assert!(!o.text.contains(PLANTED), "{}", o.text);
}

/// Some text /etc/passwd holds (its first line), if it exists.
fn passwd_line() -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().next().map(str::to_string)
}

#[test]
fn importing_etc_passwd_is_refused_without_printing_it() {
    let dir = temp_dir("passwd");
    write(
        &dir.join("main.rbk"),
        &format!("import \"/etc/passwd\"\n{RUNBOOK}"),
    );
    let o = rbk(&dir, &["check", "main.rbk"]);
    let line = passwd_line().unwrap_or_else(|| "root:x:0:0".into());
    assert_refused(&o, &[&line, "root:"]);
    assert!(
        o.text.contains("/etc/passwd is outside the file root"),
        "{}",
        o.text
    );
    let root = dir.canonicalize().expect("canonical");
    assert!(o.text.contains(&root.display().to_string()), "{}", o.text);
    assert!(o.text.contains("--file-root"), "{}", o.text);
}

#[test]
fn importing_proc_self_environ_does_not_leak_the_environment() {
    let dir = temp_dir("environ");
    write(
        &dir.join("main.rbk"),
        &format!("import \"/proc/self/environ\"\n{RUNBOOK}"),
    );
    for format in ["human", "json", "github"] {
        let o = rbk(&dir, &["check", "main.rbk", "--format", format]);
        assert_refused(&o, &["RBK_PLANTED", "NO_COLOR=1"]);
    }
}

#[test]
fn importing_dev_zero_is_refused_quickly() {
    let dir = temp_dir("zero");
    write(
        &dir.join("main.rbk"),
        &format!("import \"/dev/zero\"\n{RUNBOOK}"),
    );
    let started = Instant::now();
    let o = rbk(&dir, &["check", "main.rbk"]);
    assert_refused(&o, &[]);
    // Even under a root that holds it, a device is not a regular file.
    let o = rbk(&dir, &["check", "main.rbk", "--file-root", "/"]);
    assert_refused(&o, &[]);
    assert!(
        o.text.contains("/dev/zero is a device, not a regular file"),
        "{}",
        o.text
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_symlink_inside_the_root_to_a_file_outside_is_refused() {
    let base = temp_dir("symlink");
    let root = base.join("project");
    std::fs::create_dir_all(root.join(".git")).expect("mkdir .git");
    write(
        &base.join("outside/secret.rbk"),
        "OUTSIDE-MARKER this is not rbk\n",
    );
    write(
        &root.join("main.rbk"),
        &format!("import \"lib.rbk\"\n{RUNBOOK}"),
    );
    std::os::unix::fs::symlink(base.join("outside/secret.rbk"), root.join("lib.rbk"))
        .expect("symlink");
    let o = rbk(&root, &["check", "main.rbk"]);
    assert_refused(&o, &["OUTSIDE-MARKER"]);
    assert!(o.text.contains("resolves to"), "{}", o.text);
    // With the outside directory in the root, the link is followed (and
    // the file's syntax error shows it was read).
    let o = rbk(
        &root,
        &[
            "check",
            "main.rbk",
            "--file-root",
            base.to_str().expect("utf-8"),
        ],
    );
    assert!(o.text.contains("OUTSIDE-MARKER"), "{}", o.text);
}

#[test]
fn a_fifo_is_refused_without_hanging() {
    let dir = temp_dir("fifo");
    write(
        &dir.join("main.rbk"),
        &format!("import \"pipe.rbk\"\n{RUNBOOK}"),
    );
    let made = Command::new("mkfifo")
        .arg(dir.join("pipe.rbk"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let o = rbk(&dir, &["check", "main.rbk"]);
    assert_refused(&o, &[]);
    assert!(
        o.text.contains("is a FIFO, not a regular file"),
        "{}",
        o.text
    );
}

/// `top/app/main.rbk` imports `../lib/x.rbk`, which defines the runbook it
/// runs.
fn parent_import_tree(name: &str) -> PathBuf {
    let top = temp_dir(name);
    write(
        &top.join("lib/x.rbk"),
        "runbook helper() {\n  log \"helped\"\n}\n",
    );
    write(
        &top.join("app/main.rbk"),
        "import \"../lib/x.rbk\"\n\nrunbook main() {\n  step h = run helper()\n}\n",
    );
    top
}

#[test]
fn a_parent_import_is_refused_when_the_root_is_the_files_directory() {
    let top = parent_import_tree("no-marker");
    let o = rbk(&top.join("app"), &["check", "main.rbk"]);
    assert_refused(&o, &[]);
    assert!(o.text.contains("is outside the file root"), "{}", o.text);
}

#[test]
fn a_git_directory_marks_the_root() {
    let top = parent_import_tree("git-dir");
    std::fs::create_dir_all(top.join(".git")).expect("mkdir .git");
    let o = rbk(&top.join("app"), &["check", "main.rbk", "--deny-warnings"]);
    assert_eq!(o.code, Some(0), "{}", o.text);
}

#[test]
fn a_git_file_marks_the_root() {
    // A git worktree has a `.git` file, not a directory.
    let top = parent_import_tree("git-file");
    write(&top.join(".git"), "gitdir: /somewhere/else\n");
    let o = rbk(&top.join("app"), &["check", "main.rbk", "--deny-warnings"]);
    assert_eq!(o.code, Some(0), "{}", o.text);
}

#[test]
fn rbk_toml_marks_the_root() {
    let top = parent_import_tree("toml");
    write(&top.join("rbk.toml"), "");
    let o = rbk(&top.join("app"), &["check", "main.rbk", "--deny-warnings"]);
    assert_eq!(o.code, Some(0), "{}", o.text);
}

#[test]
fn file_root_widens_the_root() {
    let top = parent_import_tree("flag");
    let o = rbk(
        &top.join("app"),
        &[
            "check",
            "main.rbk",
            "--deny-warnings",
            "--file-root",
            top.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.text);
    // ... and the other commands take it too.
    let o = rbk(
        &top.join("app"),
        &["graph", "main.rbk", "main", "--file-root", ".."],
    );
    assert_eq!(o.code, Some(0), "{}", o.text);
    let o = rbk(
        &top.join("app"),
        &["run", "main.rbk", "--dry-run", "--file-root", ".."],
    );
    assert_eq!(o.code, Some(0), "{}", o.text);
    assert!(o.text.contains("helped"), "{}", o.text);
    let o = rbk(&top.join("app"), &["run", "main.rbk", "--dry-run"]);
    assert_eq!(o.code, Some(1), "{}", o.text);
    assert!(o.text.contains("rbk::file_refused"), "{}", o.text);
    // The REPL (reading no input) loads the program, or refuses the import.
    let o = rbk(&top.join("app"), &["repl", "main.rbk", "--file-root", ".."]);
    assert_eq!(o.code, Some(0), "{}", o.text);
    let o = rbk(&top.join("app"), &["repl", "main.rbk"]);
    assert_eq!(o.code, Some(1), "{}", o.text);
    assert!(o.text.contains("rbk::file_refused"), "{}", o.text);
    let o = rbk(&top.join("app"), &["graph", "main.rbk", "main"]);
    assert_eq!(o.code, Some(1), "{}", o.text);
    assert!(o.text.contains("rbk::file_refused"), "{}", o.text);
}

#[test]
fn a_file_root_that_is_not_a_directory_is_a_usage_error() {
    let dir = temp_dir("bad-root");
    write(&dir.join("main.rbk"), RUNBOOK);
    for bad in ["no-such-dir", "main.rbk"] {
        let o = rbk(&dir, &["check", "main.rbk", "--file-root", bad]);
        assert_eq!(o.code, Some(2), "{bad}: {}", o.text);
    }
}

#[test]
fn an_import_over_the_size_limit_is_refused_naming_the_limit() {
    let dir = temp_dir("size");
    // A valid program of about 2 KB, all comments.
    let big = "# padding padding padding padding padding padding padding\n".repeat(40);
    write(
        &dir.join("big.rbk"),
        &format!("{big}runbook big() {{\n  log \"b\"\n}}\n"),
    );
    write(
        &dir.join("main.rbk"),
        &format!("import \"big.rbk\"\n{RUNBOOK}"),
    );
    let o = rbk(&dir, &["check", "main.rbk", "--max-file-size", "1KB"]);
    assert_refused(&o, &["padding"]);
    assert!(
        o.text.contains("larger than the limit of 1 KiB"),
        "{}",
        o.text
    );
    assert!(o.text.contains("--max-file-size"), "{}", o.text);
    // Under the default limit it loads.
    let o = rbk(&dir, &["check", "main.rbk", "--deny-warnings"]);
    assert_eq!(o.code, Some(0), "{}", o.text);
    let o = rbk(&dir, &["check", "main.rbk", "--max-file-size", "4096"]);
    assert_eq!(o.code, Some(0), "{}", o.text);
}

#[test]
fn a_bad_max_file_size_is_a_usage_error() {
    let dir = temp_dir("bad-size");
    write(&dir.join("main.rbk"), RUNBOOK);
    for bad in ["lots", "10XB", "-5", "1.5MB", ""] {
        for cmd in [
            &["check", "main.rbk"][..],
            &["run", "main.rbk", "--dry-run"],
            &["call", "main.rbk", "api.get", "--dry-run"],
            &["repl", "main.rbk"],
            &["graph", "main.rbk", "main"],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--max-file-size", bad]);
            let o = rbk(&dir, &args);
            assert_eq!(o.code, Some(2), "{args:?}: {}", o.text);
        }
    }
}

#[test]
fn a_literal_file_outside_the_root_is_an_error_at_check_time() {
    let dir = temp_dir("check-file");
    write(
        &dir.join("main.rbk"),
        "runbook main() {\n  let t = file(\"/etc/passwd\")\n  let b = bytes(\"/etc/passwd\")\n  return { n: len(t), m: base64(b) }\n}\n",
    );
    let o = rbk(&dir, &["check", "main.rbk"]);
    let line = passwd_line().unwrap_or_else(|| "root:x:0:0".into());
    assert_refused(&o, &[&line, "root:"]);
    assert!(o.text.contains("2 errors"), "{}", o.text);
    assert!(o.text.contains("file refused: /etc/passwd"), "{}", o.text);
}

/// A runbook that reads the file named by the environment variable
/// `RBK_T_PATH`, so that the checker cannot see the path.
const RUNTIME_READ: &str = r#"
runbook text() {
  let t = file(env("RBK_T_PATH"))
  return { text: t }
}

runbook raw() {
  let b = bytes(env("RBK_T_PATH"))
  return { b64: base64(b) }
}
"#;

fn run_reading(dir: &Path, runbook: &str, path: &str) -> Out {
    rbk_env(dir, &["run", "main.rbk", runbook, "--dry-run"], path)
}

fn rbk_env(dir: &Path, args: &[&str], path: &str) -> Out {
    // The env file carries the path to the child without touching this
    // process's environment.
    let env_file = dir.join(".rbk-test-env");
    write(&env_file, &format!("RBK_T_PATH={path}\n"));
    let mut all: Vec<&str> = args.to_vec();
    let env_arg = env_file.to_str().expect("utf-8").to_string();
    all.extend(["--env-file", &env_arg]);
    rbk(dir, &all)
}

#[test]
fn file_and_bytes_outside_the_root_are_refused_at_run_time() {
    let dir = temp_dir("runtime");
    write(&dir.join("main.rbk"), RUNTIME_READ);
    let line = passwd_line().unwrap_or_else(|| "root:x:0:0".into());
    for runbook in ["text", "raw"] {
        let o = run_reading(&dir, runbook, "/etc/passwd");
        assert_eq!(o.code, Some(1), "{}", o.text);
        assert!(o.text.contains("rbk::file::refused"), "{}", o.text);
        assert!(
            o.text.contains("/etc/passwd is outside the file root"),
            "{}",
            o.text
        );
        assert!(
            !o.text.contains(&line) && !o.text.contains("root:"),
            "{}",
            o.text
        );
        let o = run_reading(&dir, runbook, "/proc/self/environ");
        assert_eq!(o.code, Some(1), "{}", o.text);
        assert!(!o.text.contains(PLANTED), "{}", o.text);
        let o = run_reading(&dir, runbook, "/dev/zero");
        assert_eq!(o.code, Some(1), "{}", o.text);
    }
    // A file inside the root is read.
    write(&dir.join("data/note.txt"), "inside-text");
    let o = run_reading(&dir, "text", "data/note.txt");
    assert_eq!(o.code, Some(0), "{}", o.text);
    assert!(o.text.contains("inside-text"), "{}", o.text);
    let o = run_reading(&dir, "raw", "data/note.txt");
    assert_eq!(o.code, Some(0), "{}", o.text);
    // base64 of "inside-text"
    assert!(o.text.contains("aW5zaWRlLXRleHQ="), "{}", o.text);
}

#[test]
fn a_bytes_body_outside_the_root_is_refused_at_run_time() {
    let dir = temp_dir("body");
    write(
        &dir.join("main.rbk"),
        r#"
integration up {
  base_url = "http://127.0.0.1:9"
  auth none
}

method up.put(path: string) {
  PUT "/upload"
  body bytes(path)
}

runbook main() {
  step s = up.put(path: env("RBK_T_PATH"))
  return { status: s.status }
}
"#,
    );
    let line = passwd_line().unwrap_or_else(|| "root:x:0:0".into());
    let o = rbk_env(
        &dir,
        &["run", "main.rbk", "--dry-run", "-vv"],
        "/etc/passwd",
    );
    assert_eq!(o.code, Some(1), "{}", o.text);
    assert!(
        o.text.contains("/etc/passwd is outside the file root"),
        "{}",
        o.text
    );
    assert!(
        !o.text.contains(&line) && !o.text.contains("root:"),
        "{}",
        o.text
    );
    let o = rbk_env(
        &dir,
        &["run", "main.rbk", "--dry-run", "--max-file-size", "4"],
        "main.rbk",
    );
    assert_eq!(o.code, Some(1), "{}", o.text);
    assert!(
        o.text.contains("larger than the limit of 4 bytes"),
        "{}",
        o.text
    );
}

#[test]
fn a_file_that_reports_size_zero_is_still_bounded_by_the_limit() {
    // /proc files report a size of 0: only reading shows they are larger.
    let dir = temp_dir("proc-size");
    write(&dir.join("main.rbk"), "import \"/proc/self/environ\"\n");
    let o = rbk(
        &dir,
        &[
            "check",
            "main.rbk",
            "--file-root",
            "/",
            "--max-file-size",
            "64",
        ],
    );
    assert_refused(&o, &["RBK_PLANTED", "NO_COLOR=1"]);
    assert!(
        o.text.contains("larger than the limit of 64 bytes"),
        "{}",
        o.text
    );
}
