//! The VS Code extension (editors/vscode): it compiles, its TextMate
//! grammar passes its assertion and snapshot tests (vscode-tmgrammar-test),
//! and `vsce` packages it into a .vsix holding the grammar, the language
//! configuration, the compiled client and vscode-languageclient.
//! `.ci/setup-vscode.sh` installs the npm packages; without them the test
//! is ignored.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("editors/vscode")
}

fn npm(args: &[&str]) -> String {
    let out = Command::new("npm")
        .args(args)
        .current_dir(dir())
        .output()
        .expect("npm");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "npm {args:?} failed:\n{text}");
    text
}

fn zip_names(vsix: &Path) -> Vec<String> {
    let script = "import sys, zipfile\nfor n in zipfile.ZipFile(sys.argv[1]).namelist(): print(n)";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(vsix)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "needs the extension's npm packages; .ci/setup-vscode.sh installs them"]
fn the_extension_builds_its_grammar_passes_and_it_packages() {
    assert!(
        dir().join("node_modules/.bin/vsce").exists(),
        "run .ci/setup-vscode.sh first"
    );
    npm(&["run", "-s", "compile"]);
    let js = std::fs::read_to_string(dir().join("out/extension.js")).expect("compiled");
    assert!(
        js.contains("\"lsp\"") && js.contains("vscode-languageclient/node"),
        "{js}"
    );
    let grammar = npm(&["run", "-s", "test:grammar"]);
    assert!(
        grammar.contains("basics.test.rbk run successfuly"),
        "{grammar}"
    );
    let out = tempfile::Builder::new()
        .prefix("rbk-vsix")
        .tempdir()
        .expect("tempdir");
    let vsix = out.path().join("rbk.vsix");
    let status = Command::new(dir().join("node_modules/.bin/vsce"))
        .args([
            "package",
            "--allow-missing-repository",
            "--skip-license",
            "-o",
        ])
        .arg(&vsix)
        .current_dir(dir())
        .output()
        .expect("vsce");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let names = zip_names(&vsix);
    for want in [
        "extension/package.json",
        "extension/language-configuration.json",
        "extension/syntaxes/rbk.tmLanguage.json",
        "extension/out/extension.js",
        "extension/node_modules/vscode-languageclient/package.json",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not in the .vsix: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("extension/src/")),
        "sources packaged"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("package.json")).expect("read"))
            .expect("package.json");
    assert_eq!(
        manifest["contributes"]["languages"][0]["extensions"][0],
        ".rbk"
    );
}
