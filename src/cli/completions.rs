//! `rbk completions SHELL` and `rbk man`: shell completion scripts (by
//! clap_complete) and man pages (by clap_mangen) from the one clap
//! definition in `main.rs`.

use std::io::Write;
use std::path::Path;

use super::{EXIT_OK, EXIT_USAGE};
use crate::diagnostic::{Diagnostic, codes};

pub use clap_complete::Shell;

/// Bash: after `rbk run FILE` or `rbk graph FILE`, offer the runbooks of
/// FILE (read by the hidden `rbk __runbooks FILE`); else clap's completion.
const BASH_RUNBOOKS: &str = r#"
_rbk_with_runbooks() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    if [[ ${COMP_CWORD} -eq 3 && ( "${COMP_WORDS[1]}" == run || "${COMP_WORDS[1]}" == graph ) && "$cur" != -* ]]; then
        local names
        names="$("${COMP_WORDS[0]}" __runbooks "${COMP_WORDS[2]}" 2>/dev/null)"
        if [[ -n "$names" ]]; then
            COMPREPLY=( $(compgen -W "$names" -- "$cur") )
            return 0
        fi
    fi
    _rbk "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _rbk_with_runbooks -o nosort -o bashdefault -o default rbk
else
    complete -F _rbk_with_runbooks -o bashdefault -o default rbk
fi
"#;

/// Prints the completion script for `shell` on stdout.
pub fn completions(mut cmd: clap::Command, shell: Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "rbk", &mut script);
    if shell == Shell::Bash {
        script.extend_from_slice(BASH_RUNBOOKS.as_bytes());
    }
    let _ = std::io::stdout().lock().write_all(&script);
    EXIT_OK
}

/// The runbook names of `file`, one a line (for shell completion; silent
/// when the file cannot be read).
pub fn runbooks(file: &Path) -> u8 {
    let loaded = crate::load::load_file(file);
    let mut out = std::io::stdout().lock();
    for m in loaded.modules.iter().filter(|m| m.file == loaded.root) {
        for item in &m.items {
            if let crate::syntax::ast::Item::Runbook(rb) = item {
                let _ = writeln!(out, "{}", rb.name.name);
            }
        }
    }
    EXIT_OK
}

/// Writes `rbk.1` on stdout, or with `dir`, `rbk.1` and one `rbk-CMD.1`
/// per subcommand into it.
pub fn man(cmd: clap::Command, dir: Option<&Path>) -> u8 {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
            return fail(None, &e);
        }
        let _ = std::io::stdout().lock().write_all(&page);
        return EXIT_OK;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(Some(dir), &e);
    }
    let mut pages = vec![("rbk".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("rbk-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .version(cmd.get_version().unwrap_or_default().to_string());
        pages.push((name, page));
    }
    let mut out = std::io::stdout().lock();
    for (name, c) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        let written = clap_mangen::Man::new(c)
            .title(name.as_str())
            .render(&mut page)
            .and_then(|()| crate::runtime::atomic_write::write(&path, &page));
        if let Err(e) = written {
            return fail(Some(&path), &e);
        }
        let _ = writeln!(out, "{}", path.display());
    }
    EXIT_OK
}

fn fail(path: Option<&Path>, e: &std::io::Error) -> u8 {
    let mut d = Diagnostic::error(codes::IO, format!("cannot write the man page: {e}"))
        .help("give a directory you can write to with --dir");
    if let Some(p) = path {
        d = d.with_path(p);
    }
    eprint!(
        "{}",
        crate::diagnostic::render_human(
            &[d],
            &crate::syntax::span::SourceMap::new(),
            super::color_stderr()
        )
    );
    EXIT_USAGE
}
