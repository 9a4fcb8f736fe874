//! The checker remembers croner's and jsonpath-rust's verdicts per thread
//! (`src/check/triggers.rs`, `src/check/expr.rs`). A remembered verdict must
//! give exactly what a fresh one gives: the same diagnostics on every check,
//! for valid and invalid text alike, in any order.

use std::path::Path;

const PROGRAM: &str = r#"
integration svc {
  base_url = "https://example.test"
}

method svc.get() {
  GET "/items"
  output {
    good: int = $.count
    bad: int = $.items[id]
    good_again: int = $.count
    bad_again: int = $.items[id]
  }
}

runbook every_minute() {
  trigger schedule "* * * * *"
  log "ok"
}

runbook broken_minute() {
  trigger schedule "61 * * * *"
  log "no"
}

runbook broken_again() {
  trigger schedule "61 * * * *"
  log "no"
}
"#;

/// Code, message and primary span of one diagnostic.
type Seen = (String, String, Option<(u32, u32)>);

fn diagnostics(text: &str) -> Vec<Seen> {
    let checked = rbk::check::check(rbk::load::load_source(
        Path::new("cache.rbk"),
        text.to_string(),
    ));
    checked
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.to_string(),
                d.message.clone(),
                d.primary.as_ref().map(|l| (l.span.start, l.span.end)),
            )
        })
        .collect()
}

#[test]
fn remembered_verdicts_give_the_same_diagnostics() {
    let first = diagnostics(PROGRAM);
    let jsonpath: Vec<_> = first
        .iter()
        .filter(|d| d.0 == "rbk::invalid_jsonpath")
        .collect();
    assert_eq!(jsonpath.len(), 2, "both bad paths are reported: {first:#?}");
    let cron: Vec<_> = first
        .iter()
        .filter(|d| d.1.starts_with("this is not a valid cron schedule"))
        .collect();
    assert_eq!(cron.len(), 2, "both bad schedules are reported: {first:#?}");
    assert!(
        cron.iter().all(|d| d.1.contains("minute field `61`")),
        "{cron:#?}"
    );
    // Again in the same thread (every verdict now remembered), and in a
    // fresh thread (nothing remembered).
    assert_eq!(diagnostics(PROGRAM), first);
    let fresh = std::thread::spawn(|| diagnostics(PROGRAM))
        .join()
        .expect("the check does not panic");
    assert_eq!(fresh, first);
}
