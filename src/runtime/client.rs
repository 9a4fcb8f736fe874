//! Builds the HTTP client of an integration: TLS roots, proxy, timeouts.

use super::Context;
use super::eval::{Vars, eval};
use crate::syntax::ast::{EntryValue, Integration};

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
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}
