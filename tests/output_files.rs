//! Output files (`--report junit=P`, `--report json=P`, `--record C`) are
//! written safely: a target that is not a regular file is refused and left
//! alone, a regular file is replaced whole, and no temporary file is left
//! behind, whether the write succeeded or failed. Also: the JUnit `tests`
//! attribute counts the testcases.

mod run_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use run_support::*;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs `cmd` (whose program is rbk or a shell that execs it), killing it
/// and failing the test if it has not finished within `limit`.
fn finish(mut cmd: Command, limit: Duration) -> Out {
    let started = Instant::now();
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rbk starts");
    loop {
        match child.try_wait().expect("wait for rbk") {
            Some(_) => break,
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rbk did not finish within {limit:?} (it hangs)");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let o = child.wait_with_output().expect("rbk output");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// The quickstart example, answered from its cassette (no network), with
/// `outputs` such as `--report junit=P`.
fn replay_args(outputs: &[String]) -> Vec<String> {
    let mut args = vec![
        "run".to_string(),
        example("quickstart.rbk"),
        "main".to_string(),
        "--replay".to_string(),
        example("quickstart.cassette.json"),
    ];
    args.extend(outputs.iter().cloned());
    args
}

fn replay(outputs: &[String]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbk"));
    cmd.args(replay_args(outputs));
    finish(cmd, Duration::from_secs(60))
}

/// The three kinds of output, each writing to `path`. The cassette is
/// recorded from a dry run (which needs no server; it records nothing).
fn outputs_to(path: &Path) -> Vec<(&'static str, Vec<String>)> {
    let p = path.to_string_lossy().into_owned();
    vec![
        ("junit", vec!["--report".into(), format!("junit={p}")]),
        ("json", vec!["--report".into(), format!("json={p}")]),
        ("cassette", vec!["--record".into(), p]),
    ]
}

fn run_outputs(outputs: &[String]) -> Out {
    if outputs[0] == "--record" {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbk"));
        cmd.args(["run", &example("quickstart.rbk"), "main", "--dry-run"])
            .args(outputs);
        finish(cmd, Duration::from_secs(60))
    } else {
        replay(outputs)
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

fn refused(out: &Out, path: &Path, what: &str) {
    let err = out.usage();
    assert!(
        err.contains(&path.display().to_string()) && err.contains(what),
        "the error names the path and says it is {what}:\n{out}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_is_refused_and_its_target_left_alone() {
    let dir = Dir::new();
    let target = dir.write("precious.txt", b"keep me");
    let link = dir.file("out");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    // A dangling link too: following it would create the file it names.
    let dangling = dir.file("dangling");
    let nowhere = dir.file("nowhere.txt");
    std::os::unix::fs::symlink(&nowhere, &dangling).expect("symlink");
    for path in [&link, &dangling] {
        for (kind, outputs) in outputs_to(path) {
            let out = run_outputs(&outputs);
            refused(&out, path, "symbolic link");
            assert!(
                std::fs::symlink_metadata(path)
                    .expect("still there")
                    .file_type()
                    .is_symlink(),
                "{kind}: the link is still a link"
            );
            assert_eq!(
                std::fs::read(&target).expect("target"),
                b"keep me",
                "{kind}: the link's target is untouched"
            );
            assert!(
                !nowhere.exists(),
                "{kind}: nothing written through the link"
            );
            assert_eq!(
                names(&dir.path),
                ["dangling", "out", "precious.txt"],
                "{kind}: no temporary file"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_hanging() {
    let dir = Dir::new();
    let fifo = dir.file("pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    for (kind, outputs) in outputs_to(&fifo) {
        // Opening a FIFO for writing blocks until a reader comes: `finish`
        // fails the test if rbk hangs.
        let out = run_outputs(&outputs);
        refused(&out, &fifo, "FIFO");
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(&fifo)
                .expect("still there")
                .file_type()
                .is_fifo(),
            "{kind}: still a FIFO"
        );
        assert_eq!(names(&dir.path), ["pipe"], "{kind}: no temporary file");
    }
}

#[test]
fn a_directory_is_refused() {
    let dir = Dir::new();
    let sub = dir.file("reports");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(sub.join("inside.txt"), b"x").expect("write");
    for (kind, outputs) in outputs_to(&sub) {
        let out = run_outputs(&outputs);
        refused(&out, &sub, "directory");
        assert!(sub.is_dir(), "{kind}: still a directory");
        assert_eq!(names(&sub), ["inside.txt"], "{kind}: its content kept");
        assert_eq!(names(&dir.path), ["reports"], "{kind}: no temporary file");
    }
}

#[test]
fn existing_regular_files_are_replaced_and_no_temporary_file_remains() {
    let dir = Dir::new();
    let junit = dir.write("r.xml", b"old junit");
    let json = dir.write("r.json", b"old json");
    let cassette = dir.write("c.json", b"old cassette");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&junit, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let out = replay(&[
        "--report".into(),
        format!("junit={}", junit.display()),
        "--report".into(),
        format!("json={}", json.display()),
    ]);
    let result = out.ok();
    assert_eq!(result["service"], "Email", "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    let tags = xml_tags(&xml);
    assert!(
        tags.iter()
            .any(|t| t.starts_with("testcase") && t.contains("svc (health.get_service)")),
        "{xml}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(report["interrupted"], serde_json::Value::Null);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&junit)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "the replaced file keeps its permissions");
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbk"));
    cmd.args([
        "run",
        &example("quickstart.rbk"),
        "main",
        "--dry-run",
        "--record",
    ])
    .arg(&cassette);
    finish(cmd, Duration::from_secs(60)).ok();
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cassette).expect("cassette"))
            .expect("the cassette is JSON");
    assert_eq!(c["version"], 1);
    assert_eq!(names(&dir.path), ["c.json", "r.json", "r.xml"]);
}

/// A write that fails half-way (here: the file size limit, as good as a
/// full disk) keeps the previous file and leaves no temporary file.
#[cfg(unix)]
#[test]
fn a_failed_write_keeps_the_previous_file() {
    let dir = Dir::new();
    let json = dir.write("r.json", b"previous");
    // `ulimit -f 1`: no file may grow past 512 or 1024 bytes, and the JSON
    // report is larger. SIGXFSZ is ignored so that the write fails (EFBIG)
    // instead of killing rbk.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rbk"))
        .args(replay_args(&[
            "--report".into(),
            format!("json={}", json.display()),
        ]));
    let out = finish(cmd, Duration::from_secs(60));
    let err = out.usage();
    assert!(
        err.contains("cannot write") && err.contains(&json.display().to_string()),
        "{out}"
    );
    assert_eq!(std::fs::read(&json).expect("kept"), b"previous");
    assert_eq!(names(&dir.path), ["r.json"], "no temporary file");
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[cfg(unix)]
#[test]
#[ignore = "needs root to mount a tmpfs: run by .ci/run"]
fn a_full_disk_keeps_the_previous_file() {
    let dir = Dir::new();
    let mnt = dir.file("disk");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        mounted,
        "cannot mount a tmpfs at {} (needs root)",
        mnt.display()
    );
    let _guard = Mounted(mnt.clone());
    let json = mnt.join("r.json");
    std::fs::write(&json, b"previous").expect("write");
    // Fill the disk.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(mnt.join("filler")).expect("filler");
        let block = [0u8; 4096];
        while filler.write_all(&block).is_ok() {}
        let _ = filler.sync_all();
    }
    let out = replay(&["--report".into(), format!("json={}", json.display())]);
    let err = out.usage();
    assert!(
        err.contains("cannot write") && err.contains(&json.display().to_string()),
        "{out}"
    );
    assert_eq!(std::fs::read(&json).expect("kept"), b"previous");
    assert_eq!(names(&mnt), ["filler", "r.json"], "no temporary file");
    // With room again the same write succeeds.
    std::fs::remove_file(mnt.join("filler")).expect("rm filler");
    replay(&["--report".into(), format!("json={}", json.display())]).ok();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(names(&mnt), ["r.json"], "no temporary file");
}

const LOOP: &str = r#"
instance local { url = "@URL@" }

integration api { base_url = "{instance.url}" }

method api.item(id: int) {
  GET "/items/{id}"
  expect 200
  output { id: int = $.id }
}

runbook looped(ids: [int]) {
  for id in ids {
    step it = api.item(id: id)
  }
  return { n: len(it) }
}

runbook refuses() {
  step one = api.item(id: 1)
  fail "no, after one step"
}

runbook stepless() {
  return { n: 1 }
}
"#;

/// `tests` (and `failures`) on both elements; the testcases' count.
fn junit_counts(xml: &str) -> (Vec<String>, usize, usize) {
    let tags = xml_tags(xml);
    let cases = tags.iter().filter(|t| t.starts_with("testcase")).count();
    let failures = tags.iter().filter(|t| t.starts_with("failure")).count();
    let mut tests = Vec::new();
    for t in tags
        .iter()
        .filter(|t| t.starts_with("testsuites") || t.starts_with("testsuite "))
    {
        tests.push(xml_attr(t, "tests").expect("tests attribute"));
        assert_eq!(
            xml_attr(t, "failures").expect("failures attribute"),
            failures.to_string(),
            "failures counts the <failure> elements:\n{xml}"
        );
    }
    assert_eq!(tests.len(), 2, "a testsuites and a testsuite:\n{xml}");
    (tests, cases, failures)
}

#[test]
fn junit_tests_attribute_counts_the_testcases() {
    let server = Server::start(|r, _| {
        if r.path() == "/items/3" {
            Reply::status(500)
        } else {
            let id: i64 = r.path().trim_start_matches("/items/").parse().unwrap_or(0);
            Reply::json(serde_json::json!({ "id": id }))
        }
    });
    let dir = Dir::new();
    let file = dir.program(LOOP, &server.url);
    let f = file.to_string_lossy().into_owned();
    let junit = dir.file("r.xml").to_string_lossy().into_owned();
    let report = format!("junit={junit}");
    let cases: [(&[&str], Option<i32>, usize); 4] = [
        // A loop whose third step fails: 3 testcases, 1 failure.
        (&["looped", "--arg", "ids=[1,2,3,4]"], Some(1), 3),
        // A loop that passes: 2 testcases.
        (&["looped", "--arg", "ids=[1,2]"], Some(0), 2),
        // A step that passes, then `fail`: the step and the runbook.
        (&["refuses"], Some(1), 2),
        // No step at all: no testcase.
        (&["stepless"], Some(0), 0),
    ];
    for (args, code, want) in cases {
        let mut all = vec!["run", f.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--report", &report]);
        let out = rbk(&all);
        assert_eq!(out.code, code, "{args:?}:\n{out}");
        let xml = std::fs::read_to_string(&junit).expect("junit written");
        let (tests, n, _) = junit_counts(&xml);
        assert_eq!(n, want, "{args:?}: testcases:\n{xml}");
        for t in tests {
            assert_eq!(t, n.to_string(), "{args:?}: tests == testcases:\n{xml}");
        }
    }
}

#[cfg(unix)]
#[test]
fn fmt_does_not_replace_a_symlink() {
    let dir = Dir::new();
    let messy = "runbook   main() {\nreturn {a: 1}\n}\n";
    let real = dir.write("real.rbk", messy.as_bytes());
    let link = dir.file("link.rbk");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let l = link.to_string_lossy().into_owned();
    let out = rbk(&["fmt", &l]);
    refused(&out, &link, "symbolic link");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).expect("real"), messy);
    assert_eq!(names(&dir.path), ["link.rbk", "real.rbk"]);
    // The file itself is formatted in place, leaving no temporary file.
    let r = real.to_string_lossy().into_owned();
    let out = rbk(&["fmt", &r]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_ne!(std::fs::read_to_string(&real).expect("real"), messy);
    assert_eq!(names(&dir.path), ["link.rbk", "real.rbk"]);
}
