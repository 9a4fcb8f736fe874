//! `rbk graph`: a runbook as a flow chart.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
}

pub fn run(_file: &Path, _runbook: &str, _format: Format) -> u8 {
    2
}
