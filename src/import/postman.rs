//! `rbk import postman`.
use super::{Failure, Imported};

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub integration: Option<String>,
}

pub fn import(_p: &std::path::Path, _o: &Options) -> Result<Imported, Failure> {
    todo!()
}
