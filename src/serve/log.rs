//! One line per run and step event on stderr, human or JSON. Every text
//! that reaches here is masked by the caller (the server masks with every
//! program's secrets).

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

pub struct Logger {
    format: Format,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Logger {
    pub fn new(format: Format) -> Logger {
        Logger { format }
    }

    fn line(&self, fields: serde_json::Value, human: String) {
        let text = match self.format {
            Format::Json => {
                let mut f = fields;
                if let Some(o) = f.as_object_mut() {
                    o.insert("ts".into(), now().into());
                }
                f.to_string()
            }
            Format::Human => format!("{} {human}", now()),
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    pub fn run(&self, id: i64, runbook: &str, state: &str, detail: &str) {
        self.line(
            serde_json::json!({"event": "run", "run": id, "runbook": runbook, "state": state, "detail": detail}),
            format!(
                "run {id} {runbook}: {state}{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            ),
        );
    }

    pub fn step(&self, id: i64, step: &str, state: &str, detail: &str) {
        self.line(
            serde_json::json!({"event": "step", "run": id, "step": step, "state": state, "detail": detail}),
            format!("run {id} step {step}: {state} {detail}"),
        );
    }

    /// A runbook's `log` statement.
    pub fn runlog(&self, id: i64, text: &str) {
        self.line(
            serde_json::json!({"event": "log", "run": id, "message": text}),
            format!("run {id} log: {text}"),
        );
    }

    pub fn info(&self, text: &str) {
        self.line(
            serde_json::json!({"event": "info", "message": text}),
            text.to_string(),
        );
    }

    pub fn error(&self, text: &str) {
        self.line(
            serde_json::json!({"event": "error", "message": text}),
            format!("error: {text}"),
        );
    }
}
