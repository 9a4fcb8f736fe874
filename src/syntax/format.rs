//! The canonical formatter (being written; this placeholder returns the text unchanged).

use super::ast::Module;

/// Formats a parsed module canonically, keeping every comment.
pub fn format_module(_module: &Module, src: &str) -> String {
    src.to_string()
}

/// Parses and formats; None when the text has syntax errors.
pub fn format_source(text: &str) -> Option<String> {
    let (module, diags) = super::parse(super::span::FileId(0), text);
    if diags.iter().any(|d| d.is_error()) {
        return None;
    }
    Some(format_module(&module, text))
}
