//! A real editor as the client: headless Neovim (Debian's, 0.7 or later)
//! runs `tests/nvim/lsp_check.lua`, which starts `rbk lsp`, opens a file
//! with an error, and writes the diagnostics, hover and definition it got.
//! `.ci/setup-nvim.sh` installs Neovim; without it the test is ignored.

use std::path::PathBuf;
use std::process::Command;

const LIB: &str = r#"## The ticket system.
integration tickets {
  base_url = "https://tickets.example"
}

## Reads one ticket.
method tickets.get(id: int) {
  GET "/tickets/{id}"
  output {
    ## The ticket's title
    title: string = $.title
  }
}
"#;

const MAIN: &str = r#"import "lib.rbk"

runbook close(number: int) {
  step ticket = tickets.get(id: number)
  log "😀 é {ticket.title}"
  log "{numbr}"
}
"#;

fn nvim() -> Option<PathBuf> {
    let path = std::env::var_os("RBK_NVIM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "nvim".into());
    Command::new(&path)
        .arg("--version")
        .output()
        .ok()?
        .status
        .success()
        .then_some(path)
}

#[test]
#[ignore = "needs Neovim (nvim); .ci/setup-nvim.sh installs it"]
fn neovim_gets_diagnostics_hover_and_definition() {
    let nvim = nvim().expect("nvim on PATH (or RBK_NVIM): run .ci/setup-nvim.sh");
    let dir = tempfile::Builder::new()
        .prefix("rbk-nvim")
        .tempdir()
        .expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::write(root.join("rbk.toml"), "").expect("write");
    std::fs::write(root.join("lib.rbk"), LIB).expect("write");
    std::fs::write(root.join("main.rbk"), MAIN).expect("write");
    let out = root.join("out.txt");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/nvim/lsp_check.lua");
    let status = Command::new(nvim)
        .args(["--headless", "--clean", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("RBK_BIN", env!("CARGO_BIN_EXE_rbk"))
        .env("RBK_NVIM_FILE", root.join("main.rbk"))
        .env("RBK_NVIM_OUT", &out)
        .current_dir(&root)
        .output()
        .expect("run nvim");
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(status.status.success(), "nvim failed: {status:?}\n{got}");
    println!("{got}");
    let lines: Vec<&str> = got.lines().collect();
    assert!(!got.contains("lua-error"), "{got}");
    assert!(lines.contains(&"diagnostics-arrived true"), "{got}");
    // The unknown name, at its line and (byte) column as Neovim keeps them.
    assert!(
        lines.contains(&"diagnostic 6:9 rbk::unknown_name `numbr` is not defined here"),
        "{got}"
    );
    assert!(lines.contains(&"hover ```rbk"), "{got}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("hover step ticket: result of tickets.get")),
        "{got}"
    );
    // Neovim converted the cursor's byte column to UTF-16 (😀 is 2 units, é 1).
    assert!(lines.contains(&"hover-range 4:13 4:19"), "{got}");
    assert!(lines.contains(&"definition lib.rbk 7:16"), "{got}");
    // After Neovim's own edits: the fix clears the error, and positions
    // moved down one line.
    assert!(lines.contains(&"diagnostics-after-edit true 0"), "{got}");
    assert!(lines.contains(&"hover-range-after-edit 5:13 5:19"), "{got}");
    assert!(lines.contains(&"done"), "{got}");
}
