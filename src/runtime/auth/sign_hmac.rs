//! `auth sign_hmac { ... }` — not implemented yet.

use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::syntax::ast::Span;

#[derive(Debug, Clone)]
pub struct SignHmac {}

impl SignHmac {
    pub(super) fn new(_f: &Fields, span: Span) -> Result<SignHmac, EvalError> {
        Err(EvalError::new(
            span,
            "`auth sign_hmac` cannot be used by this version of rbk yet; it arrives with the authorization release",
        ))
    }
}

impl SignHmac {
    pub fn apply(&self, _req: &mut Prepared, _env: &AuthEnv<'_>) -> Result<(), EvalError> {
        Ok(())
    }
}
