//! `auth api_key { name, value, in = header | query }`

use super::Fields;
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;

#[derive(Debug, Clone)]
pub struct ApiKey {
    name: String,
    value: String,
    in_query: bool,
}

impl ApiKey {
    pub(super) fn new(f: &Fields) -> Result<ApiKey, EvalError> {
        Ok(ApiKey {
            name: f.required("name")?,
            value: f.required("value")?,
            in_query: f.word("in").as_deref() == Some("query"),
        })
    }

    pub fn apply(&self, req: &mut Prepared) {
        if self.in_query {
            req.add_query(&self.name, &self.value);
        } else {
            req.set_header(&self.name, self.value.clone());
        }
    }
}
