//! rbk: a compiler and interpreter for `.rbk` integration runbooks.
//!
//! The pipeline runs one way: [`syntax`] (text to AST), [`check`] (AST to
//! a checked program), then the runtime; the CLI drives them.

pub mod builtins;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod files;
pub mod import;
pub mod load;
pub mod lsp;
pub mod memory;
pub mod repl;
pub mod runtime;
pub mod serve;
pub mod syntax;
pub mod text;
pub mod units;
