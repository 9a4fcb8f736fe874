//! `auth bearer { token, header = "Authorization", prefix = "Bearer" }`

use super::Fields;
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;

#[derive(Debug, Clone)]
pub struct Bearer {
    header: String,
    value: String,
}

impl Bearer {
    pub(super) fn new(f: &Fields) -> Result<Bearer, EvalError> {
        let token = f.required("token")?;
        let header = f.text("header")?.unwrap_or_else(|| "Authorization".into());
        let prefix = f.text("prefix")?.unwrap_or_else(|| "Bearer".into());
        let value = if prefix.is_empty() {
            token
        } else {
            format!("{prefix} {token}")
        };
        f.secret(&value);
        Ok(Bearer { header, value })
    }

    pub fn apply(&self, req: &mut Prepared) {
        req.set_header(&self.header, self.value.clone());
    }
}
