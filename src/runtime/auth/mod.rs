//! Authorization: one kind per file behind [`Auth`]. A method uses its own
//! `auth` block, `auth none`, or (by default) its integration's.

mod api_key;
mod basic;
mod bearer;

use super::Context;
use super::eval::{EvalError, Vars, eval};
use super::http::Prepared;

use crate::syntax::ast::*;

/// An evaluated auth block, ready to apply to requests.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    ApiKey(api_key::ApiKey),
    Bearer(bearer::Bearer),
    Basic(basic::Basic),
}

impl Auth {
    /// Resolves the auth a method uses and evaluates its fields.
    pub fn for_method(
        cx: &Context,
        integ: &Integration,
        m: &Method,
        vars: &Vars,
    ) -> Result<Auth, EvalError> {
        let own = m.items.iter().find_map(|i| match i {
            MethodItem::Entry(e) if e.key.name == "auth" => Some(e),
            _ => None,
        });
        match own.map(|e| &e.value) {
            Some(EntryValue::Label(l)) if l.name == "inherit" => {}
            Some(EntryValue::Label(l)) if l.name == "none" => return Ok(Auth::None),
            Some(EntryValue::Block {
                label: Some(kind),
                block,
            }) => return Auth::from_block(cx, kind, block, vars),
            _ => {}
        }
        match integ.body.get("auth").map(|e| &e.value) {
            Some(EntryValue::Block {
                label: Some(kind),
                block,
            }) => Auth::from_block(cx, kind, block, &Vars::new()),
            _ => Ok(Auth::None),
        }
    }

    fn from_block(
        cx: &Context,
        kind: &Ident,
        block: &Block,
        vars: &Vars,
    ) -> Result<Auth, EvalError> {
        let fields = Fields { cx, block, vars };
        Ok(match kind.name.as_str() {
            "none" => Auth::None,
            "api_key" => Auth::ApiKey(api_key::ApiKey::new(&fields)?),
            "bearer" => Auth::Bearer(bearer::Bearer::new(&fields)?),
            "basic" => Auth::Basic(basic::Basic::new(&fields)?),
            other => {
                return Err(EvalError::new(
                    kind.span,
                    format!(
                        "`auth {other}` cannot be used by this version of rbk yet; it arrives with the authorization release"
                    ),
                ));
            }
        })
    }

    /// Adds the credentials to a prepared request.
    pub async fn apply(&self, req: &mut Prepared) -> Result<(), EvalError> {
        match self {
            Auth::None => Ok(()),
            Auth::ApiKey(a) => {
                a.apply(req);
                Ok(())
            }
            Auth::Bearer(a) => {
                a.apply(req);
                Ok(())
            }
            Auth::Basic(a) => {
                a.apply(req);
                Ok(())
            }
        }
    }
}

/// Reads the fields of an auth block.
pub(crate) struct Fields<'a> {
    cx: &'a Context,
    block: &'a Block,
    vars: &'a Vars,
}

impl Fields<'_> {
    /// The field's text (registered as a secret when it is one).
    pub fn text(&self, key: &str) -> Result<Option<String>, EvalError> {
        match self.block.get(key).map(|e| &e.value) {
            Some(EntryValue::Expr { value, .. }) => {
                let v = eval(value, self.vars, self.cx, None)?;
                if v.is_secret() {
                    self.cx.redactor.register(&v.to_text());
                }
                Ok(Some(v.to_text()))
            }
            Some(EntryValue::Label(l)) => Ok(Some(l.name.clone())),
            _ => Ok(None),
        }
    }

    /// A bare-word setting such as `in = query`.
    pub fn word(&self, key: &str) -> Option<String> {
        match self.block.get(key).map(|e| &e.value) {
            Some(EntryValue::Expr { value, .. }) => match &value.kind {
                ExprKind::Name(id) => Some(id.name.clone()),
                ExprKind::Str(s) => s.as_plain(),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn required(&self, key: &str) -> Result<String, EvalError> {
        self.text(key)?
            .ok_or_else(|| EvalError::new(self.block.span, format!("auth needs `{key}`")))
    }

    /// Registers a derived credential (e.g. an encoded header) as secret.
    pub fn secret(&self, text: &str) {
        self.cx.redactor.register(text);
    }
}
