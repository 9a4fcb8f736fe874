//! `auth oauth2 { ... }`: client_credentials, password, authorization_code
//! and authorization_code_pkce, with refresh tokens, per-instance client
//! credentials and RFC 7523 client assertions.
//!
//! Token requests are built by the `oauth2` crate and sent through the
//! integration's own reqwest client (its proxy, TLS and connections).
//! Tokens live in the run's [`TokenCache`](super::token_cache::TokenCache)
//! (the user's cache file for `rbk run`), are renewed 30 s before they
//! expire (with the refresh token when there is one), and are sent as
//! `header: prefix TOKEN` (default `Authorization: Bearer TOKEN`).

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::token_cache::now;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, RedirectUrl, RefreshToken,
    RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse,
    TokenUrl,
};

use super::token_cache::{Token, TokenKey};
use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::runtime::value::Value;
use crate::syntax::ast::{Block, EntryValue, Span};

/// A cached token is renewed this long before it expires.
/// How long the token endpoint may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long rbk waits for the browser to come back (code grants).
const REDIRECT_TIMEOUT: Duration = Duration::from_secs(300);
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    ClientCredentials,
    Password,
    AuthorizationCode,
    AuthorizationCodePkce,
}

impl Grant {
    fn name(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
            Grant::AuthorizationCode => "authorization_code",
            Grant::AuthorizationCodePkce => "authorization_code_pkce",
        }
    }

    fn is_code(self) -> bool {
        matches!(
            self,
            Grant::AuthorizationCode | Grant::AuthorizationCodePkce
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Hs256,
    Rs256,
    Ps256,
}

/// `client_assertion { }`: a JWT signed for each token request.
#[derive(Debug, Clone)]
struct Assertion {
    alg: Alg,
    key: String,
    key_id: Option<String>,
    issuer: Option<String>,
    subject: Option<String>,
    audience: Option<String>,
    lifetime: Duration,
    claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct OAuth2 {
    grant: Grant,
    token_url: String,
    auth_url: Option<String>,
    redirect_url: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    scope: Option<String>,
    audience: Option<String>,
    extra: Vec<(String, String)>,
    client_auth_body: bool,
    header: String,
    prefix: String,
    default_expiry: Option<Duration>,
    assertion: Option<Assertion>,
    span: Span,
}

fn duration(f: &Fields, key: &str, span: Span) -> Result<Option<Duration>, EvalError> {
    match f.value(key)?.as_ref().map(|v| v.reveal()) {
        None => Ok(None),
        Some(Value::Duration(d)) => Ok(Some(*d)),
        Some(other) => Err(EvalError::new(
            span,
            format!(
                "auth oauth2: `{key}` must be a duration such as 1h, not {}",
                other.type_name()
            ),
        )),
    }
}

impl OAuth2 {
    pub(super) fn new(f: &Fields, span: Span) -> Result<OAuth2, EvalError> {
        let err = |m: String| EvalError::new(span, format!("auth oauth2: {m}"));
        let grant = match f.word("grant").as_deref() {
            Some("client_credentials") => Grant::ClientCredentials,
            Some("password") => Grant::Password,
            Some("authorization_code") => Grant::AuthorizationCode,
            Some("authorization_code_pkce") => Grant::AuthorizationCodePkce,
            Some(other) => {
                return Err(err(format!(
                    "`grant = {other}`: expected client_credentials, password, authorization_code or authorization_code_pkce"
                )));
            }
            None => return Err(err("needs `grant`".into())),
        };
        // The run's instance may override some fields.
        let inst_block: Option<&Block> = f
            .block("per_instance")
            .and_then(|b| b.get(&f.cx.instance_name))
            .and_then(|e| match &e.value {
                EntryValue::Block { block, .. } => Some(block),
                _ => None,
            });
        let inst = inst_block.map(|b| f.nested(b));
        let text = |key: &str| -> Result<Option<String>, EvalError> {
            if let Some(i) = &inst
                && let Some(v) = i.text(key)?
            {
                return Ok(Some(v));
            }
            f.text(key)
        };
        let token_url = text("token_url")?.ok_or_else(|| err("needs `token_url`".into()))?;
        let client_id = text("client_id")?.ok_or_else(|| {
            err(format!(
                "needs `client_id` (here or in `per_instance {{ {} {{ }} }}`)",
                f.cx.instance_name
            ))
        })?;
        let client_secret = text("client_secret")?;
        let username = text("username")?;
        let password = text("password")?;
        // Credentials are secrets however they were written.
        for s in [&client_secret, &password].into_iter().flatten() {
            f.secret(s);
        }
        let assertion_block = inst
            .as_ref()
            .and_then(|i| i.block("client_assertion"))
            .or_else(|| f.block("client_assertion"));
        let assertion = match assertion_block {
            Some(b) => Some(Self::assertion(&f.nested(b), span)?),
            None => None,
        };
        if client_secret.is_none() && assertion.is_none() && grant != Grant::AuthorizationCodePkce {
            return Err(err(format!(
                "the {} grant needs `client_secret` (or `client_assertion {{ }}`)",
                grant.name()
            )));
        }
        if grant == Grant::Password && (username.is_none() || password.is_none()) {
            return Err(err(
                "the password grant needs `username` and `password`".into()
            ));
        }
        let auth_url = text("auth_url")?;
        if grant.is_code() && auth_url.is_none() {
            return Err(err(format!("the {} grant needs `auth_url`", grant.name())));
        }
        let client_auth_body = match f.word("client_auth").as_deref() {
            None | Some("basic") => false,
            Some("body") => true,
            Some(other) => {
                return Err(err(format!(
                    "`client_auth = {other}`: expected `basic` or `body`"
                )));
            }
        };
        let mut extra = Vec::new();
        if let Some(b) = f.block("extra") {
            let ef = f.nested(b);
            for e in &b.entries {
                if let Some(v) = ef.text(&e.key.name)? {
                    extra.push((e.key.name.clone(), v));
                }
            }
        }
        Ok(OAuth2 {
            grant,
            token_url,
            auth_url,
            redirect_url: f.text("redirect_url")?,
            client_id,
            client_secret,
            username,
            password,
            scope: text("scope")?,
            audience: text("audience")?,
            extra,
            client_auth_body,
            header: f.text("header")?.unwrap_or_else(|| "Authorization".into()),
            prefix: f.text("prefix")?.unwrap_or_else(|| "Bearer".into()),
            default_expiry: duration(f, "default_expiry", span)?,
            assertion,
            span,
        })
    }

    fn assertion(f: &Fields, span: Span) -> Result<Assertion, EvalError> {
        let err = |m: String| EvalError::new(span, format!("auth oauth2: client_assertion: {m}"));
        let alg = match f.word("algorithm").as_deref() {
            Some("HS256") => Alg::Hs256,
            Some("RS256") | None => Alg::Rs256,
            Some("PS256") => Alg::Ps256,
            Some(other) => {
                return Err(err(format!(
                    "`algorithm = {other}`: expected HS256, RS256 or PS256"
                )));
            }
        };
        let key = f.text("key")?.ok_or_else(|| {
            err(
                "needs `key` (the client secret for HS256, a PEM private key for RS256/PS256)"
                    .into(),
            )
        })?;
        f.secret(&key);
        let mut claims = serde_json::Map::new();
        if let Some(b) = f.block("claims") {
            let cf = f.nested(b);
            for e in &b.entries {
                if let Some(v) = cf.value(&e.key.name)? {
                    claims.insert(e.key.name.clone(), v.to_json(true));
                }
            }
        }
        let a = Assertion {
            alg,
            key,
            key_id: f.text("key_id")?,
            issuer: f.text("issuer")?,
            subject: f.text("subject")?,
            audience: f.text("audience")?,
            lifetime: duration(f, "lifetime", span)?.unwrap_or(Duration::from_secs(300)),
            claims,
        };
        // Fail early on a key that cannot sign.
        a.encoding_key().map_err(err)?;
        Ok(a)
    }

    fn key(&self, env: &AuthEnv<'_>) -> TokenKey {
        TokenKey {
            integration: env.integration.to_string(),
            instance: env.cx.instance_name.clone(),
            grant: self.grant.name().to_string(),
            token_url: self.token_url.clone(),
            client_id: self.client_id.clone(),
            scope: self.scope.clone().unwrap_or_default(),
            audience: self.audience.clone().unwrap_or_default(),
            subject: String::new(),
            claims: String::new(),
        }
    }

    fn error(&self, env: &AuthEnv<'_>, msg: String) -> EvalError {
        EvalError::new(
            self.span,
            format!("integration `{}`: auth oauth2: {msg}", env.integration),
        )
        .with_kind(crate::runtime::ErrorKind::AuthToken)
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

    fn register(env: &AuthEnv<'_>, t: &Token) {
        env.cx.redactor.register(&t.access_token);
        if let Some(r) = &t.refresh_token {
            env.cx.redactor.register(r);
        }
    }

    pub async fn apply(&self, req: &mut Prepared, env: &AuthEnv<'_>) -> Result<(), EvalError> {
        let key = self.key(env);
        if let Some(t) = env.tokens.get(&key) {
            Self::register(env, &t);
            if t.is_fresh() {
                self.set(req, env, &t.access_token);
                return Ok(());
            }
        }
        if env.cx.dry_run {
            // A dry run sends nothing, token requests included.
            super::dry_run_token(req, &self.header, &self.prefix, &self.token_url);
            return Ok(());
        }
        // One token request at a time (a single browser window for the
        // code grants); whoever waited finds the new token cached.
        let _guard = env.tokens.lock().await;
        let cached = env.tokens.get(&key);
        if let Some(t) = &cached
            && t.is_fresh()
        {
            self.set(req, env, &t.access_token);
            return Ok(());
        }
        let refreshed = match cached.and_then(|t| t.refresh_token) {
            Some(rt) => match self.refresh(env, &rt).await {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!(
                        "note: integration `{}`: the refresh token was not accepted ({}); requesting a new token",
                        env.integration,
                        env.cx.redactor.mask(&e)
                    );
                    None
                }
            },
            None => None,
        };
        let token = match refreshed {
            Some(t) => t,
            None => self.obtain(env).await.map_err(|e| self.error(env, e))?,
        };
        self.set(req, env, &token.access_token);
        env.tokens.put(key, token);
        Ok(())
    }

    /// After a 401: the access token is dropped (the refresh token kept),
    /// so the resend refreshes or fetches a new one.
    pub async fn unauthorized(&self, env: &AuthEnv<'_>) -> bool {
        let key = self.key(env);
        match env.tokens.get(&key) {
            Some(t) if t.refresh_token.is_some() => env.tokens.put(
                key,
                Token {
                    expires_at: Some(0),
                    ..t
                },
            ),
            _ => env.tokens.remove(&key),
        }
        true
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(|s| Scope::new(s.to_string()))
            .collect()
    }

    /// Parameters every token request carries besides the grant's own.
    fn params(&self) -> Result<Vec<(String, String)>, String> {
        let mut p = Vec::new();
        if let Some(a) = &self.audience {
            p.push(("audience".to_string(), a.clone()));
        }
        p.extend(self.extra.iter().cloned());
        if let Some(a) = &self.assertion {
            p.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
            p.push((
                "client_assertion".into(),
                a.sign(&self.client_id, &self.token_url)?,
            ));
        }
        Ok(p)
    }

    fn client(
        &self,
    ) -> Result<
        BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>,
        String,
    > {
        let token_url = TokenUrl::new(self.token_url.clone())
            .map_err(|e| format!("`token_url` ({}) is not a valid URL: {e}", self.token_url))?;
        let mut c =
            BasicClient::new(ClientId::new(self.client_id.clone())).set_token_uri(token_url);
        // With a client assertion, the secret is never sent.
        if self.assertion.is_none()
            && let Some(s) = &self.client_secret
        {
            c = c.set_client_secret(ClientSecret::new(s.clone()));
        }
        let auth = if self.client_auth_body || self.assertion.is_some() {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        Ok(c.set_auth_type(auth))
    }

    async fn refresh(&self, env: &AuthEnv<'_>, refresh: &str) -> Result<Token, String> {
        let client = self.client()?;
        let http = Http::new(env.client);
        let rt = RefreshToken::new(refresh.to_string());
        let mut r = client.exchange_refresh_token(&rt);
        for (k, v) in self.params()? {
            r = r.add_extra_param(k, v);
        }
        let res = r.request_async(&http).await;
        let mut t = self.token(env, &http, res, "refresh_token")?;
        if t.refresh_token.is_none() {
            t.refresh_token = Some(refresh.to_string());
        }
        Ok(t)
    }

    /// Runs the grant from the start.
    async fn obtain(&self, env: &AuthEnv<'_>) -> Result<Token, String> {
        let client = self.client()?;
        let http = Http::new(env.client);
        let params = self.params()?;
        match self.grant {
            Grant::ClientCredentials => {
                let mut r = client
                    .exchange_client_credentials()
                    .add_scopes(self.scopes());
                for (k, v) in params {
                    r = r.add_extra_param(k, v);
                }
                let res = r.request_async(&http).await;
                self.token(env, &http, res, "client_credentials")
            }
            Grant::Password => {
                let user = ResourceOwnerUsername::new(self.username.clone().unwrap_or_default());
                let pass = ResourceOwnerPassword::new(self.password.clone().unwrap_or_default());
                let mut r = client
                    .exchange_password(&user, &pass)
                    .add_scopes(self.scopes());
                for (k, v) in params {
                    r = r.add_extra_param(k, v);
                }
                let res = r.request_async(&http).await;
                self.token(env, &http, res, "password")
            }
            Grant::AuthorizationCode | Grant::AuthorizationCodePkce => {
                self.code_flow(env, client, &http).await
            }
        }
    }

    async fn code_flow(
        &self,
        env: &AuthEnv<'_>,
        client: BasicClient<
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointSet,
        >,
        http: &Http,
    ) -> Result<Token, String> {
        let auth_url = self.auth_url.clone().unwrap_or_default();
        let auth = AuthUrl::new(auth_url.clone())
            .map_err(|e| format!("`auth_url` ({auth_url}) is not a valid URL: {e}"))?;
        let listener = Loopback::bind(self.redirect_url.as_deref())?;
        let redirect = RedirectUrl::new(listener.url.clone())
            .map_err(|e| format!("`redirect_url` ({}) is not a valid URL: {e}", listener.url))?;
        let client = client.set_auth_uri(auth).set_redirect_uri(redirect);
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes());
        if let Some(a) = &self.audience {
            req = req.add_extra_param("audience", a.clone());
        }
        for (k, v) in &self.extra {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let verifier = if self.grant == Grant::AuthorizationCodePkce {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            req = req.set_pkce_challenge(challenge);
            Some(verifier)
        } else {
            None
        };
        let (url, state) = req.url();
        eprintln!(
            "integration `{}` needs your authorization; open this URL in a browser:\n  {url}\nwaiting for the redirect to {} ...",
            env.integration, listener.url
        );
        let no_browser = |v: Option<&String>| v.is_some_and(|v| !v.is_empty() && v != "0");
        if !no_browser(env.cx.env.get("RBK_NO_BROWSER"))
            && !no_browser(std::env::var("RBK_NO_BROWSER").ok().as_ref())
        {
            open_browser(url.as_str());
        }
        let expected = state.secret().clone();
        let code = tokio::task::spawn_blocking(move || listener.wait(&expected))
            .await
            .map_err(|e| format!("waiting for the redirect failed: {e}"))??;
        env.cx.redactor.register(&code);
        let code = AuthorizationCode::new(code);
        let mut r = client.exchange_code(code);
        if let Some(v) = verifier {
            r = r.set_pkce_verifier(v);
        }
        for (k, v) in self.params()? {
            r = r.add_extra_param(k, v);
        }
        let res = r.request_async(http).await;
        self.token(env, http, res, "authorization_code")
    }

    /// The token from the server's answer, or an error that says what was
    /// wrong with it (never the credentials).
    fn token(
        &self,
        env: &AuthEnv<'_>,
        http: &Http,
        res: Result<BasicTokenResponse, RequestTokenError<HttpError, BasicErrorResponse>>,
        grant: &str,
    ) -> Result<Token, String> {
        let url = &self.token_url;
        let raw = http.raw.lock().ok().and_then(|r| r.clone());
        super::trace_token_request(
            env,
            &format!("auth oauth2 ({grant})"),
            url,
            raw.as_ref().map(|r| (r.status, r.elapsed)),
        );
        let r = match res {
            Ok(r) => r,
            Err(RequestTokenError::Request(e)) => {
                return Err(format!("cannot reach `token_url` ({url}): {}", e.0));
            }
            Err(e) => return Err(self.diagnose(http, &e)),
        };
        let access = r.access_token().secret().clone();
        env.cx.redactor.register(&access);
        let refresh = r.refresh_token().map(|t| t.secret().clone());
        if let Some(t) = &refresh {
            env.cx.redactor.register(t);
        }
        let expires_in = r
            .expires_in()
            .map(|d| d.as_secs())
            .or(self.default_expiry.map(|d| d.as_secs()));
        Ok(Token {
            access_token: access,
            token_type: Some(format!("{:?}", r.token_type()).to_lowercase()),
            refresh_token: refresh,
            expires_at: expires_in.map(|s| now() + s),
            scope: r.scopes().map(|s| {
                s.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        })
    }

    fn diagnose(
        &self,
        http: &Http,
        e: &RequestTokenError<HttpError, BasicErrorResponse>,
    ) -> String {
        let url = &self.token_url;
        let raw = http.raw.lock().ok().and_then(|r| r.clone());
        let Some(raw) = raw else {
            return format!("`token_url` ({url}): {e}");
        };
        let json: Option<serde_json::Value> = serde_json::from_slice(&raw.body).ok();
        let Some(json) = json else {
            let looks_html = raw.content_type.contains("html")
                || raw
                    .body
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|b| *b == b'<');
            let what = if looks_html {
                "an HTML page".to_string()
            } else if raw.body.is_empty() {
                "an empty body".to_string()
            } else {
                format!(
                    "a body that is not JSON (content-type `{}`)",
                    raw.content_type
                )
            };
            return format!(
                "`token_url` ({url}) answered HTTP {} with {what}, not a JSON token; is `token_url` the token endpoint?",
                raw.status
            );
        };
        if !(200..300).contains(&raw.status) {
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
            let hint = match error {
                "invalid_client" | "unauthorized_client" => {
                    if self.assertion.is_some() {
                        "; check `client_id` and `client_assertion`"
                    } else {
                        "; check `client_id`, `client_secret` and `client_auth` (basic or body)"
                    }
                }
                "invalid_grant" if self.grant == Grant::Password => {
                    "; check `username` and `password`"
                }
                "invalid_scope" => "; check `scope`",
                _ => "",
            };
            return format!(
                "`token_url` ({url}) refused the {} request, HTTP {}{detail}{hint}",
                self.grant.name(),
                raw.status
            );
        }
        if json.get("access_token").and_then(|v| v.as_str()).is_none() {
            let fields: Vec<String> = json
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            return format!(
                "the JSON answer of `token_url` ({url}) has no `access_token` (it has: {})",
                if fields.is_empty() {
                    "no fields".to_string()
                } else {
                    fields.join(", ")
                }
            );
        }
        match e {
            RequestTokenError::Parse(p, _) => format!(
                "the answer of `token_url` ({url}) is not a valid token response (at `{}`)",
                p.path()
            ),
            other => format!("`token_url` ({url}): {other}"),
        }
    }
}

impl Assertion {
    fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, String> {
        match self.alg {
            Alg::Hs256 => Ok(jsonwebtoken::EncodingKey::from_secret(self.key.as_bytes())),
            Alg::Rs256 | Alg::Ps256 => jsonwebtoken::EncodingKey::from_rsa_pem(self.key.as_bytes())
                .map_err(|_| "`key` is not a PEM RSA private key (PKCS#1 or PKCS#8)".to_string()),
        }
    }

    /// A fresh signed JWT: iss and sub the client id, aud the token URL.
    fn sign(&self, client_id: &str, token_url: &str) -> Result<String, String> {
        let alg = match self.alg {
            Alg::Hs256 => jsonwebtoken::Algorithm::HS256,
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Ps256 => jsonwebtoken::Algorithm::PS256,
        };
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = self.key_id.clone();
        let iat = now();
        let mut claims = serde_json::Map::new();
        let s = |v: &str| serde_json::Value::String(v.to_string());
        claims.insert("iss".into(), s(self.issuer.as_deref().unwrap_or(client_id)));
        claims.insert(
            "sub".into(),
            s(self.subject.as_deref().unwrap_or(client_id)),
        );
        claims.insert(
            "aud".into(),
            s(self.audience.as_deref().unwrap_or(token_url)),
        );
        claims.insert("iat".into(), iat.into());
        claims.insert("nbf".into(), iat.into());
        claims.insert("exp".into(), (iat + self.lifetime.as_secs().max(1)).into());
        claims.insert("jti".into(), s(&uuid::Uuid::new_v4().to_string()));
        for (k, v) in &self.claims {
            claims.insert(k.clone(), v.clone());
        }
        let key = self.encoding_key()?;
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| format!("client_assertion: cannot sign the JWT: {e}"))
    }
}

/// The last answer of the token endpoint, for error messages.
#[derive(Debug, Clone)]
struct Raw {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    elapsed: std::time::Duration,
}

#[derive(Debug)]
struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// The `oauth2` crate's HTTP client: the integration's reqwest client,
/// remembering the raw answer.
struct Http {
    client: reqwest::Client,
    raw: Arc<Mutex<Option<Raw>>>,
}

impl Http {
    fn new(client: &reqwest::Client) -> Http {
        Http {
            client: client.clone(),
            raw: Arc::new(Mutex::new(None)),
        }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut req = reqwest::Request::try_from(request).map_err(|e| {
                HttpError(format!("cannot build the request: {}", super::chain(&e)))
            })?;
            *req.timeout_mut() = Some(TOKEN_TIMEOUT);
            let started = std::time::Instant::now();
            let resp = self
                .client
                .execute(req)
                .await
                .map_err(|e| HttpError(super::chain(&e)))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| HttpError(format!("cannot read the answer: {}", super::chain(&e))))?
                .to_vec();
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if let Ok(mut r) = self.raw.lock() {
                *r = Some(Raw {
                    status: status.as_u16(),
                    content_type: content_type.clone(),
                    body: body.clone(),
                    elapsed: started.elapsed(),
                });
            }
            // Leniency the crate lacks: a JSON token without `token_type`
            // (it is a bearer token), `expires_in` as a numeric string,
            // `text/plain` or a missing content type on JSON, any 2xx status.
            let mut body = body;
            let mut status = status;
            if let Ok(serde_json::Value::Object(mut o)) =
                serde_json::from_slice::<serde_json::Value>(&body)
            {
                if status.is_success() {
                    status = reqwest::StatusCode::OK;
                }
                if o.contains_key("access_token") && !o.contains_key("token_type") {
                    o.insert("token_type".into(), "bearer".into());
                }
                // `"expires_in": "3600"` (Azure AD v1, some gateways).
                if let Some(serde_json::Value::String(t)) = o.get("expires_in")
                    && let Ok(n) = t.trim().parse::<u64>()
                {
                    o.insert("expires_in".into(), n.into());
                }
                body = serde_json::to_vec(&o).unwrap_or(body);
                let mut b = oauth2::http::Response::builder().status(status.as_u16());
                b = b.header("content-type", "application/json");
                return b.body(body).map_err(|e| HttpError(e.to_string()));
            }
            let mut b = oauth2::http::Response::builder().status(status.as_u16());
            for (name, value) in headers.iter() {
                b = b.header(name.as_str(), value.as_bytes());
            }
            b.body(body).map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// The loopback listener that receives the authorization code.
struct Loopback {
    listener: std::net::TcpListener,
    url: String,
    path: String,
}

impl Loopback {
    fn bind(redirect_url: Option<&str>) -> Result<Loopback, String> {
        let (host, port, path) = match redirect_url {
            None => ("127.0.0.1".to_string(), 0u16, "/callback".to_string()),
            Some(u) => {
                let parsed = oauth2::url::Url::parse(u)
                    .map_err(|e| format!("`redirect_url` ({u}) is not a valid URL: {e}"))?;
                let host = parsed.host_str().unwrap_or("").to_string();
                if parsed.scheme() != "http"
                    || !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]")
                {
                    return Err(format!(
                        "`redirect_url` ({u}) must be an http://127.0.0.1, http://[::1] or http://localhost URL that rbk can listen on"
                    ));
                }
                let path = if parsed.path().is_empty() {
                    "/".to_string()
                } else {
                    parsed.path().to_string()
                };
                (host, parsed.port().unwrap_or(80), path)
            }
        };
        let bind_host = match host.as_str() {
            "localhost" => "127.0.0.1",
            "[::1]" => "[::1]",
            h => h,
        };
        let listener = std::net::TcpListener::bind(format!("{bind_host}:{port}"))
            .map_err(|e| format!("cannot listen on {host}:{port} for `redirect_url`: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot listen for `redirect_url`: {e}"))?
            .port();
        let url = match redirect_url {
            Some(u) => u.to_string(),
            None => format!("http://127.0.0.1:{port}{path}"),
        };
        Ok(Loopback {
            listener,
            url,
            path,
        })
    }

    /// Waits for the browser's redirect and returns the code.
    fn wait(self, state: &str) -> Result<String, String> {
        let deadline = std::time::Instant::now() + REDIRECT_TIMEOUT;
        self.listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot wait for the redirect: {e}"))?;
        loop {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "no authorization arrived at {} within {} minutes",
                    self.url,
                    REDIRECT_TIMEOUT.as_secs() / 60
                ));
            }
            let mut stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(format!("cannot accept the redirect: {e}")),
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 2048];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let text = String::from_utf8_lossy(&buf);
            let target = text
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("")
                .to_string();
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            if path != self.path {
                respond(&mut stream, 404, "Not found.");
                continue;
            }
            let mut code = None;
            let mut got_state = None;
            let mut error = None;
            let mut desc = None;
            for (k, v) in oauth2::url::form_urlencoded::parse(query.as_bytes()) {
                match k.as_ref() {
                    "code" => code = Some(v.into_owned()),
                    "state" => got_state = Some(v.into_owned()),
                    "error" => error = Some(v.into_owned()),
                    "error_description" => desc = Some(v.into_owned()),
                    _ => {}
                }
            }
            if got_state.as_deref() != Some(state) {
                respond(
                    &mut stream,
                    400,
                    "The state does not match this authorization request; rbk ignored it.",
                );
                if code.is_some() || error.is_some() {
                    return Err(
                        "the redirect's `state` does not match the authorization request (a forged or stale redirect); try again".into(),
                    );
                }
                continue;
            }
            if let Some(e) = error {
                respond(
                    &mut stream,
                    400,
                    "Authorization was refused; see rbk's output.",
                );
                return Err(match desc {
                    Some(d) => format!("the authorization server refused: {e}: {d}"),
                    None => format!("the authorization server refused: {e}"),
                });
            }
            match code {
                Some(c) => {
                    respond(
                        &mut stream,
                        200,
                        "rbk received the authorization; you can close this window.",
                    );
                    return Ok(c);
                }
                None => respond(&mut stream, 400, "No authorization code in this request."),
            }
        }
    }
}

fn respond(stream: &mut std::net::TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><title>rbk</title></head><body><p>{text}</p></body></html>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// Opens the URL with `$BROWSER` when set, else the system's default
/// handler (the `opener` crate). A failure is only a note: the URL is
/// already printed.
fn open_browser(url: &str) {
    if let Err(e) = opener::open_browser(url) {
        eprintln!("note: could not open a browser ({e}); open the URL above yourself");
    }
}
