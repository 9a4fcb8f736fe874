//! Helpers shared by the tests against third-party authorization servers
//! (tests/auth_oauth2.rs, tests/auth_jwt_bearer.rs): a temporary directory
//! with its own token cache, output text, JSON from a server, and the
//! secret-leak assertion.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value as Json;

/// A temporary directory (removed on drop) whose `cache/` is the token
/// cache of the runs made in it.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "rbk-auth-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    pub fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }

    pub fn tokens_file(&self) -> String {
        std::fs::read_to_string(self.cache().join("tokens.json")).unwrap_or_default()
    }

    /// The access and refresh tokens in the cache file.
    pub fn cached_tokens(&self) -> Vec<String> {
        let j: Json = serde_json::from_str(&self.tokens_file()).unwrap_or(Json::Null);
        let mut v = Vec::new();
        for e in j["tokens"].as_array().into_iter().flatten() {
            for f in ["access_token", "refresh_token"] {
                if let Some(t) = e["token"][f].as_str() {
                    v.push(t.to_string());
                }
            }
        }
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// GETs `url` and parses the answer as JSON.
pub fn get_json(url: &str) -> Json {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let body = reqwest::get(url).await.unwrap().text().await.unwrap();
        serde_json::from_str::<Json>(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
    })
}

/// None of `secrets` (those of 8 characters or more) is in `text`.
pub fn assert_no_secrets<S: AsRef<str>>(what: &str, text: &str, secrets: &[S]) {
    for s in secrets {
        let s = s.as_ref();
        assert!(
            s.len() < 8 || !text.contains(s),
            "{what} shows a secret ({s}):\n{text}"
        );
    }
}
