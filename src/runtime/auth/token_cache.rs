//! Cached access tokens, keyed by (integration, instance, grant, token URL,
//! client id, scope, audience).

use std::collections::HashMap;
use std::sync::Mutex;

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
}

/// Tokens for a run (in memory for now; a file in the user's cache
/// directory, owner-only, is the next step).
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<TokenKey, Token>>,
}

impl TokenCache {
    pub fn in_memory() -> TokenCache {
        TokenCache::default()
    }

    pub fn get(&self, key: &TokenKey) -> Option<Token> {
        self.tokens.lock().ok()?.get(key).cloned()
    }

    pub fn put(&self, key: TokenKey, token: Token) {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(key, token);
        }
    }

    pub fn remove(&self, key: &TokenKey) {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(key);
        }
    }
}
