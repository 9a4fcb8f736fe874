//! Cached access tokens, keyed by (integration, instance, grant, token URL,
//! client id, scope, audience).
//!
//! [`TokenCache::open`] keeps them in `tokens.json` in the user's cache
//! directory (`RBK_CACHE_DIR`, else `<cache dir>/rbk`): created readable
//! only by its owner (0600), written atomically (a temporary file in the
//! same directory renamed over it), reloaded at start. A corrupt file is
//! reported once and ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// One cached token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Seconds since the Unix epoch; `None`: never expires.
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// A token is renewed this many seconds before it expires.
pub const EARLY: u64 = 30;

impl Token {
    /// Usable for at least [`EARLY`] more seconds (or never expires).
    pub fn is_fresh(&self) -> bool {
        self.expires_at.is_none_or(|e| now() + EARLY < e)
    }
}

/// What a token is cached under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenKey {
    pub integration: String,
    pub instance: String,
    pub grant: String,
    pub token_url: String,
    pub client_id: String,
    pub scope: String,
    pub audience: String,
    /// jwt_assertion: the JWT's `sub` (a token is the subject's own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// jwt_assertion: a digest of the extra `claims` (they may carry the
    /// scopes, as Google's do).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claims: String,
}

/// The file's layout.
#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    tokens: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: TokenKey,
    token: Token,
}

/// Tokens for a run: in memory, or backed by the user's cache file.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<TokenKey, Token>>,
    /// The cache file; `None`: memory only.
    path: Option<PathBuf>,
    /// A corrupt file is reported once.
    warned: AtomicBool,
    /// Serialises token requests (see [`TokenCache::lock`]).
    fetching: tokio::sync::Mutex<()>,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenCache {
    pub fn in_memory() -> TokenCache {
        TokenCache::default()
    }

    /// The directory of the cache file: `RBK_CACHE_DIR`, else the user's
    /// cache directory + `rbk`.
    pub fn dir() -> Option<PathBuf> {
        match std::env::var_os("RBK_CACHE_DIR") {
            Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
            _ => dirs::cache_dir().map(|d| d.join("rbk")),
        }
    }

    /// The user's token file, or memory only (with a warning) when its
    /// directory cannot be created.
    pub fn open() -> TokenCache {
        match TokenCache::try_open() {
            Ok(c) => c,
            Err(m) => {
                eprintln!("warning: {m}; tokens are kept for this run only");
                TokenCache::in_memory()
            }
        }
    }

    /// The user's token file.
    pub fn try_open() -> Result<TokenCache, String> {
        let dir = TokenCache::dir()
            .ok_or_else(|| "cannot find the user's cache directory for tokens".to_string())?;
        TokenCache::open_in(&dir)
    }

    /// The token file in `dir` (created owner-only when missing).
    pub fn open_in(dir: &Path) -> Result<TokenCache, String> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| format!("cannot create the token cache {}: {e}", dir.display()))?;
        let cache = TokenCache {
            path: Some(dir.join("tokens.json")),
            ..TokenCache::default()
        };
        let loaded = cache.load();
        if let Ok(mut t) = cache.tokens.lock() {
            *t = loaded.unwrap_or_default();
        }
        Ok(cache)
    }

    /// The cache file, if there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The file's tokens; `None` when there is no file or it is corrupt
    /// (reported once).
    fn load(&self) -> Option<HashMap<TokenKey, Token>> {
        let path = self.path.as_ref()?;
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.warn(&format!(
                    "cannot read the token cache {}: {e}; ignoring it",
                    path.display()
                ));
                return None;
            }
        };
        match serde_json::from_slice::<File>(&bytes) {
            Ok(f) => Some(f.tokens.into_iter().map(|e| (e.key, e.token)).collect()),
            Err(_) => {
                self.warn(&format!(
                    "the token cache {} is corrupt; ignoring it (it is rewritten when a token is cached; `rbk tokens clear` removes it)",
                    path.display()
                ));
                None
            }
        }
    }

    fn warn(&self, msg: &str) {
        if !self.warned.swap(true, Ordering::SeqCst) {
            eprintln!("warning: {msg}");
        }
    }

    /// Applies `change` to the tokens and, with a file, to the file as it
    /// is now (other runs may have written to it), atomically.
    fn update<R>(&self, change: impl FnOnce(&mut HashMap<TokenKey, Token>) -> R) -> Option<R> {
        let mut mem = self.tokens.lock().ok()?;
        let Some(path) = &self.path else {
            return Some(change(&mut mem));
        };
        let mut map = self.load().unwrap_or_else(|| mem.clone());
        let r = change(&mut map);
        // Drop what can never be used again.
        let t = now();
        map.retain(|_, v| v.refresh_token.is_some() || v.expires_at.is_none_or(|e| e > t));
        if let Err(e) = write_atomic(path, &map) {
            eprintln!(
                "warning: cannot write the token cache {}: {e}",
                path.display()
            );
        }
        *mem = map;
        Some(r)
    }

    pub fn get(&self, key: &TokenKey) -> Option<Token> {
        self.tokens.lock().ok()?.get(key).cloned()
    }

    pub fn put(&self, key: TokenKey, token: Token) {
        self.update(|m| {
            m.insert(key, token);
        });
    }

    pub fn remove(&self, key: &TokenKey) {
        self.update(|m| {
            m.remove(key);
        });
    }

    /// Every cached token, sorted by key.
    pub fn list(&self) -> Vec<(TokenKey, Token)> {
        let mut v: Vec<(TokenKey, Token)> = match self.tokens.lock() {
            Ok(t) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => Vec::new(),
        };
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Forgets the tokens of one integration, or all; how many.
    pub fn clear(&self, integration: Option<&str>) -> usize {
        self.update(|m| {
            let before = m.len();
            m.retain(|k, _| integration.is_some_and(|i| k.integration != i));
            before - m.len()
        })
        .unwrap_or(0)
    }

    /// Held while a token is requested, so that concurrent requests of a
    /// run wait for one token instead of each fetching their own.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.fetching.lock().await
    }
}

/// Writes the tokens owner-only (0600 on Unix) through a temporary file
/// renamed over `path` (see `atomic_write`).
fn write_atomic(path: &Path, map: &HashMap<TokenKey, Token>) -> std::io::Result<()> {
    let mut tokens: Vec<Entry> = map
        .iter()
        .map(|(k, v)| Entry {
            key: k.clone(),
            token: v.clone(),
        })
        .collect();
    tokens.sort_by(|a, b| a.key.cmp(&b.key));
    let json = serde_json::to_vec_pretty(&File { version: 1, tokens })
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    crate::runtime::atomic_write::write_private(path, &json)
}
