//! `rbk import curl`.
use super::{Failure, Imported};

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub integration: Option<String>,
    pub name: Option<String>,
}

pub fn import(_text: &str, _o: &Options) -> Result<Imported, Failure> {
    todo!()
}
