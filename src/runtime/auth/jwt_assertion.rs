//! `auth jwt_assertion { ... }`: the JWT bearer grant (RFC 7523).
//!
//! `request = form` (the default) posts
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`
//! (and `scope`) to `token_url`; `request = json` posts to `token_url` with
//! `Authorization: Bearer JWT` and a JSON body (`grant_type`, `assertion`,
//! `scope`). Either way the answer's access token is cached until 30 s
//! before it expires and sent as `Authorization: Bearer TOKEN`.
//! `request = direct` (an rbk extension) exchanges nothing: every request
//! carries a freshly signed JWT as its bearer token.

use std::time::Duration;

use super::token_cache::now;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::jwt::JwtSigner;
use super::token_cache::{Token, TokenKey};
use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::runtime::value::Value;
use crate::syntax::ast::Span;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
#[derive(Debug, Clone, Copy, PartialEq)]
enum Request {
    Form,
    Json,
    Direct,
}

#[derive(Debug, Clone)]
pub struct JwtAssertion {
    jwt: JwtSigner,
    /// Empty only with `request = direct`.
    token_url: String,
    scope: Option<String>,
    request: Request,
    header: String,
    prefix: String,
    default_expiry: Option<Duration>,
    span: Span,
}

impl JwtAssertion {
    /// True when authorizing means asking the token endpoint first.
    pub fn fetches_tokens(&self) -> bool {
        self.request != Request::Direct
    }
}

impl JwtAssertion {
    pub(super) fn new(f: &Fields, span: Span) -> Result<JwtAssertion, EvalError> {
        let request = match f.word("request").as_deref() {
            None | Some("form") => Request::Form,
            Some("json") => Request::Json,
            Some("direct") => Request::Direct,
            Some(other) => {
                return Err(EvalError::new(
                    span,
                    format!("`request = {other}`: expected `form`, `json` or `direct`"),
                ));
            }
        };
        let token_url = match f.text("token_url")? {
            Some(u) => u,
            None if request == Request::Direct => String::new(),
            None => {
                return Err(EvalError::new(
                    span,
                    "auth jwt_assertion needs `token_url`".to_string(),
                ));
            }
        };
        let jwt = JwtSigner::from_fields(f, &token_url, "auth jwt_assertion", span)?;
        let default_expiry = match f.value("default_expiry")?.as_ref().map(|v| v.reveal()) {
            None => None,
            Some(Value::Duration(d)) => Some(*d),
            Some(other) => {
                return Err(EvalError::new(
                    span,
                    format!(
                        "`default_expiry` must be a duration such as 1h, not {}",
                        other.type_name()
                    ),
                ));
            }
        };
        Ok(JwtAssertion {
            jwt,
            token_url,
            scope: f.text("scope")?,
            request,
            header: f.text("header")?.unwrap_or_else(|| "Authorization".into()),
            prefix: f.text("prefix")?.unwrap_or_else(|| "Bearer".into()),
            default_expiry,
            span,
        })
    }

    /// The header the token is sent in.
    pub fn header(&self) -> &str {
        &self.header
    }

    fn key(&self, env: &AuthEnv<'_>) -> TokenKey {
        TokenKey {
            integration: env.integration.to_string(),
            instance: env.cx.instance_name.clone(),
            grant: "jwt_bearer".into(),
            token_url: self.token_url.clone(),
            client_id: self.jwt.issuer.clone().unwrap_or_default(),
            scope: self.scope.clone().unwrap_or_default(),
            audience: self.jwt.audience.clone(),
            subject: self.jwt.subject.clone().unwrap_or_default(),
            claims: self.jwt.claims_digest(),
        }
    }

    fn set(&self, req: &mut Prepared, env: &AuthEnv<'_>, token: &str) {
        env.cx.redactor.register(token);
        let value = if self.prefix.is_empty() {
            token.to_string()
        } else {
            format!("{} {token}", self.prefix)
        };
        env.cx.redactor.register(&value);
        req.set_header(&self.header, value);
    }

    fn error(&self, env: &AuthEnv<'_>, msg: String) -> EvalError {
        EvalError::new(
            self.span,
            format!(
                "integration `{}`: auth jwt_assertion: {msg}",
                env.integration
            ),
        )
    }

    pub async fn apply(&self, req: &mut Prepared, env: &AuthEnv<'_>) -> Result<(), EvalError> {
        if self.request == Request::Direct {
            let (jwt, _) = self.jwt.sign().map_err(|e| {
                self.error(env, e)
                    .with_kind(crate::runtime::ErrorKind::Auth)
            })?;
            self.set(req, env, &jwt);
            return Ok(());
        }
        let key = self.key(env);
        if let Some(t) = env.tokens.get(&key)
            && t.is_fresh()
        {
            self.set(req, env, &t.access_token);
            return Ok(());
        }
        if env.cx.dry_run {
            // A dry run sends nothing, token requests included.
            super::dry_run_token(req, &self.header, &self.prefix, &self.token_url);
            return Ok(());
        }
        // One token request at a time: parallel steps that waited find the
        // new token cached.
        let _guard = env.tokens.lock().await;
        if let Some(t) = env.tokens.get(&key)
            && t.is_fresh()
        {
            self.set(req, env, &t.access_token);
            return Ok(());
        }
        let token = self.fetch(env).await.map_err(|e| {
            self.error(env, e)
                .with_kind(crate::runtime::ErrorKind::AuthToken)
        })?;
        self.set(req, env, &token.access_token);
        env.tokens.put(key, token);
        Ok(())
    }

    /// After a 401: forgets the token so that the next try fetches one.
    pub async fn unauthorized(&self, env: &AuthEnv<'_>) -> bool {
        match self.request {
            Request::Form | Request::Json => {
                env.tokens.remove(&self.key(env));
                true
            }
            Request::Direct => false,
        }
    }

    async fn fetch(&self, env: &AuthEnv<'_>) -> Result<Token, String> {
        let (assertion, _) = self.jwt.sign()?;
        env.cx.redactor.register(&assertion);
        let url = &self.token_url;
        let request = env.client.post(url).header("accept", "application/json");
        let request = match self.request {
            Request::Json => {
                let mut body = serde_json::Map::new();
                body.insert("grant_type".into(), GRANT.into());
                body.insert("assertion".into(), assertion.clone().into());
                if let Some(s) = &self.scope {
                    body.insert("scope".into(), s.clone().into());
                }
                let bearer = format!("Bearer {assertion}");
                env.cx.redactor.register(&bearer);
                request
                    .header("authorization", bearer)
                    .header("content-type", "application/json")
                    .body(serde_json::Value::Object(body).to_string())
            }
            _ => {
                let mut form = format!(
                    "grant_type={}&assertion={}",
                    utf8_percent_encode(GRANT, NON_ALPHANUMERIC),
                    utf8_percent_encode(&assertion, NON_ALPHANUMERIC)
                );
                if let Some(s) = &self.scope {
                    form.push_str("&scope=");
                    form.push_str(&utf8_percent_encode(s, NON_ALPHANUMERIC).to_string());
                }
                request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
            }
        };
        let started = std::time::Instant::now();
        let what = match self.request {
            Request::Json => "auth jwt_assertion (json)",
            _ => "auth jwt_assertion (jwt-bearer)",
        };
        let sent = request.timeout(Duration::from_secs(30)).send().await;
        super::trace_token_request(
            env,
            what,
            url,
            sent.as_ref()
                .ok()
                .map(|r| (r.status().as_u16(), started.elapsed())),
        );
        let resp =
            sent.map_err(|e| format!("cannot reach `token_url` ({url}): {}", super::chain(&e)))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("`token_url` ({url}): cannot read the answer: {e}"))?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let Some(json) = json else {
            let looks_html = content_type.contains("html")
                || body
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|b| *b == b'<');
            let what = if looks_html {
                "an HTML page".to_string()
            } else if body.is_empty() {
                "an empty body".to_string()
            } else {
                format!("a body that is not JSON (content-type `{content_type}`)")
            };
            return Err(format!(
                "`token_url` ({url}) answered HTTP {} with {what}, not a JSON token; is `token_url` the token endpoint?",
                status.as_u16()
            ));
        };
        if !status.is_success() {
            let error = json.get("error").and_then(|v| v.as_str()).unwrap_or("");
            let desc = json
                .get("error_description")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let detail = match (error, desc) {
                ("", "") => String::new(),
                (e, "") => format!(": {e}"),
                (e, d) => format!(": {e}: {d}"),
            };
            return Err(format!(
                "`token_url` ({url}) refused the assertion, HTTP {}{detail}",
                status.as_u16()
            ));
        }
        // RFC 6749 names first; `token`/`accessToken` and `expiresIn` are
        // what JSON-style JWT logins (e.g. Webex guest issuers) answer.
        let field = |names: &[&str]| names.iter().find_map(|n| json.get(*n));
        let Some(access_token) =
            field(&["access_token", "accessToken", "token"]).and_then(|v| v.as_str())
        else {
            let fields: Vec<String> = json
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            return Err(format!(
                "the JSON answer of `token_url` ({url}) has no `access_token` (it has: {})",
                if fields.is_empty() {
                    "no fields".to_string()
                } else {
                    fields.join(", ")
                }
            ));
        };
        env.cx.redactor.register(access_token);
        let expires_in = match field(&["expires_in", "expiresIn"]) {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        }
        .or(self.default_expiry.map(|d| d.as_secs()));
        Ok(Token {
            access_token: access_token.to_string(),
            token_type: json
                .get("token_type")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            refresh_token: None,
            expires_at: expires_in.map(|s| now() + s),
            scope: json
                .get("scope")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
    }
}
