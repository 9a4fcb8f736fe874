//! Builds the HTTP client of an integration: TLS roots, proxy, timeouts,
//! the `auth mtls` client certificate; redirects are not followed here
//! (see `send.rs`).

use super::Context;
use super::eval::{Vars, eval};
use crate::syntax::ast::{Block, EntryValue, Integration, MethodItem};

/// Which client certificate a method's requests present.
pub enum Identity<'a> {
    /// The integration's `auth mtls` (or none when its auth is another kind).
    Integration,
    /// None: the method says `auth none` on an integration whose auth is
    /// `mtls`.
    None,
    /// The method's own `auth mtls { certificate = ... }`.
    Method(&'a Block),
}

/// The certificate source for `method` of `integ`.
pub fn identity_of<'a>(cx: &'a Context, integ: &Integration, method: &str) -> Identity<'a> {
    let own = cx.program.method(&integ.name.name, method).and_then(|m| {
        m.items.iter().find_map(|i| match i {
            MethodItem::Entry(e) if e.key.name == "auth" => Some(&e.value),
            _ => None,
        })
    });
    let integ_mtls = matches!(
        integ.body.get("auth").map(|e| &e.value),
        Some(EntryValue::Block { label: Some(k), .. }) if k.name == "mtls"
    );
    match own {
        Some(EntryValue::Block {
            label: Some(k),
            block,
        }) if k.name == "mtls" => Identity::Method(block),
        Some(EntryValue::Label(l)) if l.name == "none" && integ_mtls => Identity::None,
        // Another kind (a bearer token, a signature) adds to the
        // integration's certificate: mTLS is the transport under it.
        _ => Identity::Integration,
    }
}

/// One client per integration (and per method with its own certificate);
/// connections are pooled and reused.
pub fn build(
    cx: &Context,
    integ: &Integration,
    identity: Identity<'_>,
) -> Result<reqwest::Client, String> {
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
    let mtls = match identity {
        Identity::Method(block) => Some(block),
        Identity::None => None,
        Identity::Integration => match integ.body.get("auth").map(|e| &e.value) {
            Some(EntryValue::Block {
                label: Some(kind),
                block,
            }) if kind.name == "mtls" => Some(block),
            _ => None,
        },
    };
    if let Some(block) = mtls {
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
    // Redirects are followed by the runtime, hop by hop, so that each hop
    // is authorized (or not) for its own origin; token requests are never
    // redirected (the oauth2 crate's advice against SSRF).
    b = b.redirect(reqwest::redirect::Policy::none());
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// How many requests may be in flight at once: the soft limit on open file
/// descriptors, raised to the hard limit where the system allows (once per
/// process), less a margin for files, the terminal and the runtime, halved
/// (a connection may briefly need a second descriptor). `for ... parallel N`
/// is capped by it instead of failing with "too many open files".
pub fn max_parallel() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        #[cfg(unix)]
        {
            let soft = rlimit::increase_nofile_limit(u64::MAX)
                .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
                .unwrap_or(1024);
            (soft.saturating_sub(64) / 2).clamp(1, 1 << 20) as usize
        }
        #[cfg(not(unix))]
        {
            512
        }
    })
}
