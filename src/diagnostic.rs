//! The one diagnostic type every stage reports with, and its renderers
//! (human via miette, JSON, GitHub Actions annotations).

use std::fmt;
use std::path::PathBuf;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::syntax::span::{SourceMap, Span};

pub mod codes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// A problem found in a program, with a stable code and the exact place.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Stable code, e.g. `rbk::unknown_method`; see `docs/diagnostics.md`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is; `None` only for problems outside any file text.
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    /// The file concerned when there is no span (e.g. an unreadable file).
    pub path: Option<PathBuf>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            path: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Sets the primary label.
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.primary = Some(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a secondary label.
    pub fn also(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Diagnostic {
        self.path = Some(path.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// File path, 1-based line and column of the primary label.
    pub fn location(&self, sources: &SourceMap) -> Option<Location> {
        let label = self.primary.as_ref()?;
        let file = sources.get(label.span.file);
        let (line, column) = file.line_col(label.span.start as usize);
        let (end_line, end_column) = file.line_col(label.span.end as usize);
        Some(Location {
            path: file.path.clone(),
            line,
            column,
            end_line,
            end_column,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// Sorts diagnostics by file, position, then severity, and drops exact repeats.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| {
        (
            d.primary.as_ref().map(|l| (l.span.file, l.span.start)),
            d.severity,
        )
    });
    diags.dedup();
}

// ---------------------------------------------------------------- human

/// Renders diagnostics as a person reads them: file:line:col, the code,
/// the source with the span underlined, and the help line.
pub fn render_human(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        // A blank line between two diagnostics.
        if i > 0 {
            out.push('\n');
        }
        let view = MietteView::new(d, sources);
        let mut rendered = String::new();
        if handler.render_report(&mut rendered, &view).is_err() {
            rendered = format!("{}: {}\n", d.code, d.message);
        }
        out.push_str(&rendered);
        if !rendered.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Adapts one [`Diagnostic`] to miette for rendering.
struct MietteView {
    code: &'static str,
    severity: Severity,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
}

impl MietteView {
    fn new(d: &Diagnostic, sources: &SourceMap) -> MietteView {
        let mut labels = Vec::new();
        let mut source = None;
        let mut help = d.help.clone();
        if let Some(primary) = &d.primary {
            let file = sources.get(primary.span.file);
            source = Some(
                NamedSource::new(
                    crate::text::printable(&file.path.display().to_string()),
                    crate::text::same_length_printable(&file.text),
                )
                .with_language("rbk"),
            );
            labels.push(LabeledSpan::new_primary_with_span(
                non_empty(&primary.message),
                (primary.span.start as usize, primary.span.len()),
            ));
            for s in &d.secondary {
                if s.span.file == primary.span.file {
                    labels.push(LabeledSpan::new_with_span(
                        non_empty(&s.message),
                        (s.span.start as usize, s.span.len()),
                    ));
                } else {
                    // miette shows one source per report; name the other place.
                    let other = sources.get(s.span.file);
                    let (line, col) = other.line_col(s.span.start as usize);
                    let note = format!("{} ({}:{}:{})", s.message, other.path.display(), line, col);
                    help = Some(match help {
                        Some(h) => format!("{h}\n{note}"),
                        None => note,
                    });
                }
            }
        }
        // A program under review may be hostile: what came from it is
        // shown, never obeyed by the terminal (escape sequences, CR).
        MietteView {
            code: d.code,
            severity: d.severity,
            message: crate::text::printable(&d.message).into_owned(),
            help: help.map(|h| {
                h.lines()
                    .map(|l| crate::text::printable(l).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
            source,
            labels,
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(crate::text::printable(s).into_owned())
    }
}

impl fmt::Debug for MietteView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl fmt::Display for MietteView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for MietteView {}

impl miette::Diagnostic for MietteView {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}

// ---------------------------------------------------------------- machine formats

/// One diagnostic as a JSON object (the shape `rbk check --format json` prints).
pub fn to_json(d: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let mut obj = serde_json::json!({
        "code": d.code,
        "severity": d.severity.as_str(),
        "message": d.message,
        "help": d.help,
    });
    if let Some(loc) = d.location(sources) {
        obj["file"] = loc.path.display().to_string().into();
        obj["line"] = loc.line.into();
        obj["column"] = loc.column.into();
        obj["end_line"] = loc.end_line.into();
        obj["end_column"] = loc.end_column.into();
    } else if let Some(path) = &d.path {
        obj["file"] = path.display().to_string().into();
    }
    let labels: Vec<serde_json::Value> = d
        .secondary
        .iter()
        .map(|l| {
            let f = sources.get(l.span.file);
            let (line, column) = f.line_col(l.span.start as usize);
            serde_json::json!({
                "file": f.path.display().to_string(),
                "line": line,
                "column": column,
                "message": l.message,
            })
        })
        .collect();
    if !labels.is_empty() {
        obj["related"] = labels.into();
    }
    obj
}

/// One diagnostic as a GitHub Actions workflow command.
pub fn to_github(d: &Diagnostic, sources: &SourceMap) -> String {
    let kind = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = Vec::new();
    if let Some(loc) = d.location(sources) {
        props.push(format!(
            "file={}",
            escape_property(&loc.path.display().to_string())
        ));
        props.push(format!("line={}", loc.line));
        props.push(format!("col={}", loc.column));
        props.push(format!("endLine={}", loc.end_line));
        props.push(format!("endColumn={}", loc.end_column));
    } else if let Some(path) = &d.path {
        props.push(format!(
            "file={}",
            escape_property(&path.display().to_string())
        ));
    }
    props.push(format!("title={}", escape_property(d.code)));
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!("::{kind} {}::{}", props.join(","), escape_data(&message))
}

fn escape_data(s: &str) -> String {
    // Line breaks are encoded below; every other control character is
    // shown escaped, so that a program cannot drive the CI log.
    let s: String = s
        .split('\n')
        .map(|l| {
            l.split('\r')
                .map(|p| crate::text::printable(p).into_owned())
                .collect::<Vec<_>>()
                .join("\r")
        })
        .collect::<Vec<_>>()
        .join("\n");
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
