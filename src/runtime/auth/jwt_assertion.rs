//! `auth jwt_assertion { ... }` — not implemented yet.

use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::syntax::ast::Span;

#[derive(Debug, Clone)]
pub struct JwtAssertion {}

impl JwtAssertion {
    pub(super) fn new(_f: &Fields, span: Span) -> Result<JwtAssertion, EvalError> {
        Err(EvalError::new(
            span,
            "`auth jwt_assertion` cannot be used by this version of rbk yet; it arrives with the authorization release",
        ))
    }
}

impl JwtAssertion {
    pub async fn apply(&self, _req: &mut Prepared, _env: &AuthEnv<'_>) -> Result<(), EvalError> {
        Ok(())
    }

    pub async fn unauthorized(&self, _env: &AuthEnv<'_>) -> bool {
        false
    }
}
