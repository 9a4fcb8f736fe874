//! `rbk tokens list` and `rbk tokens clear [INTEGRATION]`: the cached
//! OAuth2 and JWT tokens (Halo's "Clear tokens"). Token values are never
//! shown.

use super::{EXIT_OK, EXIT_USAGE};
use crate::runtime::auth::token_cache::{Token, TokenCache};

fn open() -> Result<TokenCache, u8> {
    TokenCache::try_open().map_err(|m| {
        eprintln!("error: {m}");
        EXIT_USAGE
    })
}

fn expiry(t: &Token, now: i64) -> String {
    match t.expires_at {
        None => "never".to_string(),
        Some(e) => {
            let e = e as i64;
            let when = chrono::DateTime::from_timestamp(e, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| e.to_string());
            if e <= now {
                format!("{when} (expired)")
            } else {
                let left = e - now;
                let rel = if left >= 3600 {
                    format!("{}h{}m", left / 3600, (left % 3600) / 60)
                } else if left >= 60 {
                    format!("{}m{}s", left / 60, left % 60)
                } else {
                    format!("{left}s")
                };
                format!("{when} (in {rel})")
            }
        }
    }
}

/// `rbk tokens list`: one line per cached token, without its value.
pub fn list() -> u8 {
    let cache = match open() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let file = cache
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let tokens = cache.list();
    if tokens.is_empty() {
        println!("no cached tokens ({file})");
        return EXIT_OK;
    }
    let now = chrono::Utc::now().timestamp();
    let header = [
        "INTEGRATION",
        "INSTANCE",
        "GRANT",
        "CLIENT ID",
        "SCOPE",
        "EXPIRES",
        "REFRESH",
    ];
    let rows: Vec<[String; 7]> = tokens
        .iter()
        .map(|(k, t)| {
            [
                k.integration.clone(),
                if k.instance.is_empty() {
                    "-".into()
                } else {
                    k.instance.clone()
                },
                k.grant.clone(),
                if k.subject.is_empty() || k.subject == k.client_id {
                    k.client_id.clone()
                } else {
                    format!("{} (sub {})", k.client_id, k.subject)
                },
                if k.scope.is_empty() {
                    "-".into()
                } else {
                    k.scope.clone()
                },
                expiry(t, now),
                if t.refresh_token.is_some() {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    println!(
        "({} token{} in {file})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    EXIT_OK
}

/// `rbk tokens clear [INTEGRATION]`.
pub fn clear(integration: Option<&str>) -> u8 {
    let cache = match open() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let n = cache.clear(integration);
    let what = match integration {
        Some(i) => format!(" of integration `{i}`"),
        None => String::new(),
    };
    println!(
        "cleared {n} cached token{}{what}",
        if n == 1 { "" } else { "s" }
    );
    EXIT_OK
}
