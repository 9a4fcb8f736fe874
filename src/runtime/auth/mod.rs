//! Authorization: one kind per file behind [`Auth`]. A method uses its own
//! `auth` block, `auth none`, or (by default) its integration's.

mod api_key;
mod basic;
mod bearer;
pub mod jwt;
pub mod jwt_assertion;
pub mod mtls;
pub mod oauth2;
pub mod sign_hmac;
pub mod sign_x509;
pub mod token_cache;

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
    OAuth2(Box<oauth2::OAuth2>),
    JwtAssertion(Box<jwt_assertion::JwtAssertion>),
    SignHmac(sign_hmac::SignHmac),
    SignX509(Box<sign_x509::SignX509>),
    /// The client certificate is set on the integration's HTTP client;
    /// nothing is added per request.
    Mtls,
}

/// What an auth kind may use while it authorizes a request.
pub struct AuthEnv<'a> {
    pub cx: &'a Context,
    /// The integration's HTTP client (token requests reuse its connections,
    /// proxy and TLS settings).
    pub client: &'a reqwest::Client,
    pub integration: &'a str,
    pub tokens: &'a token_cache::TokenCache,
    /// Told of every token request (`-v` shows them).
    pub observer: &'a dyn super::Observer,
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

    /// A webhook's `verify KIND { ... }` (rbk serve), read as the auth
    /// kind of that name.
    pub fn verifier(cx: &Context, kind: &Ident, block: &Block) -> Result<Auth, EvalError> {
        Auth::from_block(cx, kind, block, &Vars::new())
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
            "oauth2" => Auth::OAuth2(Box::new(oauth2::OAuth2::new(&fields, kind.span)?)),
            "jwt_assertion" => Auth::JwtAssertion(Box::new(jwt_assertion::JwtAssertion::new(
                &fields, kind.span,
            )?)),
            "sign_hmac" => Auth::SignHmac(sign_hmac::SignHmac::new(&fields, kind.span)?),
            "sign_x509" => Auth::SignX509(Box::new(sign_x509::SignX509::new(&fields, kind.span)?)),
            "mtls" => Auth::Mtls,
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

    /// Adds the credentials to a prepared request (called for every try).
    /// True when [`Auth::apply`] changes no request (no auth, or a client
    /// certificate that is on the HTTP client).
    pub fn adds_nothing(&self) -> bool {
        matches!(self, Auth::None | Auth::Mtls)
    }

    pub async fn apply(&self, req: &mut Prepared, env: &AuthEnv<'_>) -> Result<(), EvalError> {
        match self {
            Auth::None | Auth::Mtls => Ok(()),
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
            Auth::OAuth2(a) => a.apply(req, env).await,
            Auth::JwtAssertion(a) => a.apply(req, env).await,
            Auth::SignHmac(a) => a.apply(req, env),
            Auth::SignX509(a) => a.apply(req, env),
        }
    }

    /// True when authorizing a request first asks a token endpoint; a
    /// replay (which answers without a network) leaves such auth out.
    pub fn fetches_tokens(&self) -> bool {
        match self {
            Auth::OAuth2(_) => true,
            Auth::JwtAssertion(a) => a.fetches_tokens(),
            _ => false,
        }
    }

    /// After a 401: forgets the cached token. True when fetching a new
    /// token and resending may help.
    pub async fn unauthorized(&self, env: &AuthEnv<'_>) -> bool {
        match self {
            Auth::OAuth2(a) => a.unauthorized(env).await,
            Auth::JwtAssertion(a) => a.unauthorized(env).await,
            _ => false,
        }
    }
}

/// Tells the observer of a token request: `what` (e.g. `auth oauth2
/// (client_credentials)`), the token URL, and the answer's status and time
/// (`None`: no answer). Masked like everything else.
pub(crate) fn trace_token_request(
    env: &AuthEnv<'_>,
    what: &str,
    url: &str,
    answer: Option<(u16, std::time::Duration)>,
) {
    let outcome = match answer {
        Some((status, elapsed)) => format!("{status} ({}ms)", elapsed.as_millis()),
        None => "no answer".to_string(),
    };
    let text = format!(
        "integration `{}`: {what}: POST {url} → {outcome}",
        env.integration
    );
    env.observer.token_request(&env.cx.redactor.mask(&text));
}

/// An error with its sources (the useful part: connection refused, DNS...).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg = format!("{msg}: {t}");
        }
        source = s.source();
    }
    msg
}

/// What a dry run shows instead of a token it would have fetched.
pub(crate) fn dry_run_token(req: &mut Prepared, header: &str, prefix: &str, token_url: &str) {
    req.set_header(
        header,
        format!("{prefix} <token from {token_url}>")
            .trim_start()
            .to_string(),
    );
}

/// Reads the fields of an auth block.
pub(crate) struct Fields<'a> {
    pub cx: &'a Context,
    pub block: &'a Block,
    pub vars: &'a Vars,
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

    /// The field's value as evaluated (certificates, nested blocks aside).
    #[allow(dead_code)]
    pub fn value(&self, key: &str) -> Result<Option<super::value::Value>, EvalError> {
        match self.block.get(key).map(|e| &e.value) {
            Some(EntryValue::Expr { value, .. }) => {
                let v = eval(value, self.vars, self.cx, None)?;
                if v.is_secret() {
                    self.cx.redactor.register(&v.to_text());
                }
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    }

    /// A nested block such as `claims { }`, `extra { }`, `per_instance { }`.
    #[allow(dead_code)]
    pub fn block(&self, key: &str) -> Option<&Block> {
        match self.block.get(key).map(|e| &e.value) {
            Some(EntryValue::Block { block, .. }) => Some(block),
            _ => None,
        }
    }

    /// The same reader over a nested block.
    #[allow(dead_code)]
    pub fn nested<'b>(&'b self, block: &'b Block) -> Fields<'b> {
        Fields {
            cx: self.cx,
            block,
            vars: self.vars,
        }
    }

    /// Registers a derived credential (e.g. an encoded header) as secret.
    pub fn secret(&self, text: &str) {
        self.cx.redactor.register(text);
    }
}
