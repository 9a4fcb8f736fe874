//! `rbk completions SHELL` and `rbk man`: the bash script is loaded by a
//! real bash and asked to complete; the man pages are rendered by man(1).

use std::path::Path;
use std::process::Command;

fn rbk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rbk"))
}

fn stdout(args: &[&str]) -> String {
    let out = rbk().args(args).output().expect("run rbk");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Loads the bash script, completes `words` (the last is the word being
/// typed) and prints the candidates.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let bin = env!("CARGO_BIN_EXE_rbk");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len();
    let cur = words.last().copied().unwrap_or("");
    let prev = if words.len() >= 2 {
        words[words.len() - 2]
    } else {
        bin
    };
    let script = format!(
        r#"set -e
source <('{bin}' completions bash)
COMP_WORDS=('{bin}' {words})
COMP_CWORD={cword}
complete -p rbk >/dev/null
fn=$(complete -p rbk | sed -E 's/.*-F ([^ ]+).*/\1/')
"$fn" '{bin}' '{cur}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" "),
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_options_and_runbook_names() {
    let all = bash_complete(&[""]);
    for want in ["check", "run", "fmt", "lsp", "completions", "man", "--help"] {
        assert!(all.contains(&want.to_string()), "{want}: {all:?}");
    }
    assert!(!all.iter().any(|c| c.starts_with("__")), "{all:?}");
    assert_eq!(bash_complete(&["ch"]), ["check"]);
    let opts = bash_complete(&["check", "--f"]);
    assert!(opts.contains(&"--format".to_string()), "{opts:?}");
    let shells = bash_complete(&["completions", ""]);
    for s in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.contains(&s.to_string()), "{shells:?}");
    }
    // Runbook names of the file given to `run`.
    let dir = tempfile::Builder::new()
        .prefix("rbk-compl")
        .tempdir()
        .expect("tempdir");
    let file = dir.path().join("two.rbk");
    std::fs::write(
        &file,
        "runbook nightly() {\n  log \"a\"\n}\n\nrunbook weekly() {\n  log \"b\"\n}\n",
    )
    .expect("write");
    let f = file.to_string_lossy();
    assert_eq!(bash_complete(&["run", &f, ""]), ["nightly", "weekly"]);
    assert_eq!(bash_complete(&["graph", &f, "w"]), ["weekly"]);
}

#[test]
fn every_shell_gets_a_script_naming_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef rbk"),
        ("fish", "complete -c rbk"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let s = stdout(&["completions", shell]);
        assert!(s.contains(marker), "{shell}: no `{marker}`");
        assert!(s.contains("lsp") && s.contains("check"), "{shell}");
        assert!(
            !s.contains("__runbooks") || shell == "bash",
            "{shell} lists the hidden helper"
        );
    }
    let out = rbk().args(["completions", "tcsh"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_runbooks_helper_is_silent_on_a_missing_file() {
    let out = rbk()
        .args(["__runbooks", "/nonexistent/x.rbk"])
        .output()
        .expect("run");
    assert!(out.stdout.is_empty());
}

fn render(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .expect("man");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain text: drop the overstrike (`c\bc` bold, `_\bc` underline) and
    // typographic hyphens.
    let mut plain: Vec<char> = Vec::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            plain.pop();
            continue;
        }
        plain.push(match c {
            '\u{2010}' | '\u{2212}' => '-',
            c => c,
        });
    }
    plain.into_iter().collect()
}

#[test]
fn man_prints_the_page() {
    let page = stdout(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH rbk 1"),
        "{page}"
    );
    assert!(page.contains(".TH rbk 1"));
    for sub in ["check", "fmt", "lsp", "completions"] {
        assert!(page.contains(sub), "{sub}");
    }
}

#[test]
#[ignore = "needs man(1) and groff"]
fn man_pages_render_one_per_subcommand() {
    let dir = tempfile::Builder::new()
        .prefix("rbk-man")
        .tempdir()
        .expect("tempdir");
    let listed = stdout(&["man", "--dir", &dir.path().to_string_lossy()]);
    let names: Vec<String> = listed
        .lines()
        .filter_map(|l| {
            Path::new(l)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
        })
        .collect();
    for want in [
        "rbk.1",
        "rbk-check.1",
        "rbk-run.1",
        "rbk-lsp.1",
        "rbk-completions.1",
        "rbk-man.1",
    ] {
        assert!(names.contains(&want.to_string()), "{want}: {names:?}");
    }
    let main = render(&dir.path().join("rbk.1"));
    assert!(
        main.contains("Check, run, format and draw .rbk integration runbooks"),
        "{main}"
    );
    let check = render(&dir.path().join("rbk-check.1"));
    assert!(
        check.contains("rbk-check") && check.contains("--deny-warnings"),
        "{check}"
    );
}

#[test]
fn man_into_an_unwritable_place_is_a_usage_error() {
    let dir = tempfile::Builder::new()
        .prefix("rbk-man")
        .tempdir()
        .expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let out = rbk()
        .args(["man", "--dir"])
        .arg(file.join("sub"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rbk::io") && err.contains("cannot write the man page"),
        "{err}"
    );
}
