//! Reports of a run: JUnit XML (one testcase per step) and JSON (every
//! exchange with its timings). All text in them is already masked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Exchange;

/// One finished step, as reports show it.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub step: String,
    pub target: String,
    pub ok: bool,
    pub status: i64,
    pub error: Option<String>,
    /// The error's code (`rbk::http::status`...) when the step failed.
    pub code: Option<&'static str>,
    pub elapsed: Duration,
}

/// How a run ended, for the JUnit report.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    Ok,
    /// The run failed with this (masked) message and this code.
    Failed(&'a str, &'a str),
    /// A signal (its name, e.g. `SIGTERM`) stopped the run.
    Interrupted(&'a str),
}

/// JUnit XML: a testsuite for the runbook, a testcase per finished step,
/// plus one testcase for a failure that no step accounts for, or for an
/// interruption (as an `<error>`). `tests` counts the testcases.
pub fn junit(runbook: &str, steps: &[StepRecord], ending: Ending<'_>, total: Duration) -> String {
    // The extra testcase: (its name, the element, its code, its message).
    let extra: Option<(&str, &str, &str, String)> = match ending {
        Ending::Ok => None,
        Ending::Failed(f, code) if steps.iter().all(|s| s.ok) => {
            Some(("runbook", "failure", code, f.to_string()))
        }
        Ending::Failed(..) => None,
        Ending::Interrupted(sig) => Some((
            "interrupted",
            "error",
            super::ErrorKind::Interrupted.code(),
            format!("the run was interrupted by {sig} before it finished"),
        )),
    };
    let tests = steps.len() + usize::from(extra.is_some());
    let failures = steps.iter().filter(|s| !s.ok).count()
        + usize::from(matches!(extra, Some((_, "failure", _, _))));
    let errors = usize::from(matches!(extra, Some((_, "error", _, _))));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"rbk\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">\n",
        total.as_secs_f64()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">\n",
        xml(runbook),
        total.as_secs_f64()
    ));
    if let Ending::Interrupted(sig) = ending {
        out.push_str(&format!(
            "    <properties>\n      <property name=\"interrupted\" value=\"{}\"/>\n    </properties>\n",
            xml(sig)
        ));
    }
    for (s, name) in steps.iter().zip(unique_names(steps)) {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(runbook),
            xml(&format!("{name} ({})", s.target)),
            s.elapsed.as_secs_f64()
        ));
        if s.ok {
            out.push_str("/>\n");
        } else {
            let reason = s
                .error
                .clone()
                .unwrap_or_else(|| format!("status {}", s.status));
            let code = s.code.unwrap_or(crate::diagnostic::codes::RUN_FAILED);
            out.push_str(&format!(
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                xml(code),
                xml(&reason),
                xml(&reason)
            ));
        }
    }
    if let Some((case, element, code, message)) = extra {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{case}\" time=\"{:.3}\">\n      <{element} type=\"{}\" message=\"{}\">{}</{element}>\n    </testcase>\n",
            xml(runbook),
            total.as_secs_f64(),
            xml(code),
            xml(&message),
            xml(&message)
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// JSON: the outcome (and the signal, if one stopped the run), every step
/// and every exchange with timings. A failed run's `error` comes with its
/// `code`, and so does each failed step's.
pub fn json(
    runbook: &str,
    steps: &[StepRecord],
    exchanges: &[Exchange],
    result: Result<&serde_json::Value, (&str, &str)>,
    interrupted: Option<&str>,
    total: Duration,
) -> serde_json::Value {
    serde_json::json!({
        "runbook": runbook,
        "ok": result.is_ok() && interrupted.is_none(),
        // The signal that stopped the run (e.g. "SIGTERM"), or null.
        "interrupted": interrupted,
        "result": result.ok(),
        "error": result.err().map(|(m, _)| m),
        "code": result.err().map(|(_, c)| c),
        "duration_ms": ms(total),
        "steps": steps.iter().map(|s| serde_json::json!({
            "step": s.step,
            "target": s.target,
            "ok": s.ok,
            "status": s.status,
            "error": s.error,
            "code": s.code,
            "duration_ms": ms(s.elapsed),
        })).collect::<Vec<_>>(),
        "exchanges": exchanges.iter().map(|e| serde_json::json!({
            "step": e.step,
            "attempt": e.attempt,
            "started": e.started.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            "duration_ms": ms(e.elapsed),
            "request": {
                "method": e.method,
                "url": e.url,
                "headers": e.request_headers,
                "body": e.request_body,
            },
            "response": e.status.map(|s| serde_json::json!({
                "status": s,
                "headers": e.response_headers,
                "body": e.response_body,
            })),
            "error": e.error,
        })).collect::<Vec<_>>(),
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Step names made unique for test reports: a name that recurs (a step in
/// a loop, a polled page) is numbered in order, `t[1]`, `t[2]`...
fn unique_names(steps: &[StepRecord]) -> Vec<String> {
    let mut total: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for s in steps {
        *total.entry(s.step.as_str()).or_default() += 1;
    }
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    steps
        .iter()
        .map(|s| {
            if total.get(s.step.as_str()).copied().unwrap_or(0) < 2 {
                return s.step.clone();
            }
            let n = seen.entry(s.step.as_str()).or_default();
            *n += 1;
            format!("{}[{n}]", s.step)
        })
        .collect()
}

fn xml(s: &str) -> String {
    crate::text::xml_escape(s)
}

/// Seconds since the epoch now (for report file names and stamps).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, ok: bool, error: Option<&str>) -> StepRecord {
        StepRecord {
            step: name.to_string(),
            target: "api.get".to_string(),
            ok,
            status: if ok { 200 } else { 500 },
            error: error.map(str::to_string),
            code: (!ok).then_some("rbk::http::status"),
            elapsed: Duration::from_millis(5),
        }
    }

    #[test]
    fn junit_counts_names_and_escapes() {
        let steps = [
            step("t", true, None),
            step("t", true, None),
            step("<b>", false, Some("status 500 & \"bad\"\x1b")),
        ];
        let xml = junit("main", &steps, Ending::Ok, Duration::from_millis(20));
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(xml.contains(r#"tests="3" failures="1""#), "{xml}");
        assert!(xml.contains(r#"name="t[1] (api.get)""#), "{xml}");
        assert!(xml.contains(r#"name="t[2] (api.get)""#), "{xml}");
        assert!(xml.contains("&lt;b&gt;"), "{xml}");
        assert!(xml.contains(r#"type="rbk::http::status""#), "{xml}");
        assert!(xml.contains("status 500 &amp; &quot;bad&quot;"), "{xml}");
        assert!(!xml.contains('\x1b'), "no control character in XML: {xml}");
        // A failure outside any step is one more testcase, counted.
        let xml = junit(
            "main",
            &steps[..1],
            Ending::Failed("boom", "rbk::runbook::fail"),
            Duration::ZERO,
        );
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert!(xml.contains(r#"tests="2""#), "{xml}");
    }
}
