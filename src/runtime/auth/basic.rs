//! `auth basic { username, password }` (RFC 7617).

use base64::Engine as _;

use super::Fields;
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;

#[derive(Debug, Clone)]
pub struct Basic {
    header: String,
}

impl Basic {
    pub(super) fn new(f: &Fields) -> Result<Basic, EvalError> {
        let user = f.required("username")?;
        let pass = f.required("password")?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        f.secret(&encoded);
        Ok(Basic {
            header: format!("Basic {encoded}"),
        })
    }

    pub fn apply(&self, req: &mut Prepared) {
        req.set_header("Authorization", self.header.clone());
    }
}
