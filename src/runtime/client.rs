//! Builds the HTTP client of an integration: TLS roots, proxy, timeouts,
//! the `auth mtls` client certificate and the redirect policy.

use super::Context;
use super::eval::{Vars, eval};
use crate::syntax::ast::{EntryValue, Integration, MethodItem};

/// One client per integration; connections are pooled and reused.
pub fn build(cx: &Context, integ: &Integration) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("rbk/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true);
    let setting = |block: &crate::syntax::ast::Block,
                   key: &str|
     -> Result<Option<super::value::Value>, String> {
        match block.get(key).map(|e| &e.value) {
            Some(EntryValue::Expr { value, .. }) => eval(value, &Vars::new(), cx, None)
                .map(Some)
                .map_err(|e| format!("{key}: {}", e.message)),
            _ => Ok(None),
        }
    };
    if let Some(EntryValue::Block { block, .. }) = integ.body.get("tls").map(|e| &e.value) {
        if let Some(ca) = setting(block, "ca_cert")? {
            let cert = reqwest::Certificate::from_pem(ca.to_text().as_bytes())
                .map_err(|e| format!("tls.ca_cert is not a PEM certificate: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        if let Some(v) = setting(block, "insecure")?
            && v.as_bool() == Some(true)
        {
            eprintln!(
                "warning: integration `{}` does not verify TLS certificates (tls.insecure = true)",
                integ.name.name
            );
            b = b.danger_accept_invalid_certs(true);
        }
    }
    if let Some(EntryValue::Block { block, .. }) = integ.body.get("proxy").map(|e| &e.value) {
        if let Some(url) = setting(block, "url")? {
            let mut proxy = reqwest::Proxy::all(url.to_text())
                .map_err(|e| format!("proxy.url is not a proxy URL: {e}"))?;
            if let (Some(u), Some(p)) = (setting(block, "username")?, setting(block, "password")?) {
                cx.redactor.register(&p.to_text());
                proxy = proxy.basic_auth(&u.to_text(), &p.to_text());
            }
            b = b.proxy(proxy);
        }
        if let Some(ca) = setting(block, "ca_cert")? {
            let cert = reqwest::Certificate::from_pem(ca.to_text().as_bytes())
                .map_err(|e| format!("proxy.ca_cert is not a PEM certificate: {e}"))?;
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(EntryValue::Block {
        label: Some(kind),
        block,
    }) = integ.body.get("auth").map(|e| &e.value)
        && kind.name == "mtls"
    {
        match setting(block, "certificate")? {
            Some(v) => match v.reveal() {
                super::value::Value::Cert(c) => {
                    let id = super::auth::mtls::identity(c)
                        .map_err(|e| format!("auth mtls: certificate: {e}"))?;
                    b = b.identity(id);
                }
                other => {
                    return Err(format!(
                        "auth mtls: certificate must be pem(...) or pfx(...), not {}",
                        other.type_name()
                    ));
                }
            },
            None => return Err("auth mtls needs `certificate`".into()),
        }
    }
    if sends_custom_auth_headers(cx, integ) {
        b = b.redirect(stop_at_other_origin());
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// True when the integration's auth, or a method's own, puts credentials
/// in a header other than `Authorization` (signatures, API keys, custom
/// token headers). reqwest drops `Authorization`, `Cookie` and
/// `Proxy-Authorization` when a redirect leads to another host, but keeps
/// every other header.
fn sends_custom_auth_headers(cx: &Context, integ: &Integration) -> bool {
    let custom = |v: &EntryValue| match v {
        EntryValue::Block {
            label: Some(kind),
            block,
        } => match kind.name.as_str() {
            "sign_hmac" | "sign_x509" | "api_key" => true,
            "bearer" | "oauth2" | "jwt_assertion" => block.get("header").is_some(),
            _ => false,
        },
        _ => false,
    };
    if integ.body.get("auth").is_some_and(|e| custom(&e.value)) {
        return true;
    }
    cx.program
        .methods
        .keys()
        .filter(|(i, _)| *i == integ.name.name)
        .filter_map(|(i, m)| cx.program.method(i, m))
        .any(|m| {
            m.items.iter().any(|item| match item {
                MethodItem::Entry(e) if e.key.name == "auth" => custom(&e.value),
                _ => false,
            })
        })
}

/// Follows redirects on the same scheme, host and port (up to 10); a
/// redirect to another origin is not followed: the 3xx answer is the
/// method's response, so no signature or key header reaches that host.
fn stop_at_other_origin() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("too many redirects (10)");
        }
        let next = attempt.url();
        let cross = attempt.previous().last().is_some_and(|p| {
            p.scheme() != next.scheme()
                || p.host_str() != next.host_str()
                || p.port_or_known_default() != next.port_or_known_default()
        });
        if cross {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}
