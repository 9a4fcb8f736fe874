//! `auth sign_x509 { ... }` — not implemented yet.

use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::syntax::ast::Span;

#[derive(Debug, Clone)]
pub struct SignX509 {}

impl SignX509 {
    pub(super) fn new(_f: &Fields, span: Span) -> Result<SignX509, EvalError> {
        Err(EvalError::new(
            span,
            "`auth sign_x509` cannot be used by this version of rbk yet; it arrives with the authorization release",
        ))
    }
}

impl SignX509 {
    pub fn apply(&self, _req: &mut Prepared, _env: &AuthEnv<'_>) -> Result<(), EvalError> {
        Ok(())
    }
}
