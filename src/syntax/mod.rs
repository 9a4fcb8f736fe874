//! Text: the grammar binding, the AST with spans, the parser and the formatter.
//! Knows nothing of types or HTTP.

pub mod ast;
mod errors;
pub use errors::RESERVED;
pub mod format;
pub mod highlight;
pub mod parser;
pub mod span;
pub mod visit;

pub use parser::{ReplInput, parse, parse_expr, parse_repl};
