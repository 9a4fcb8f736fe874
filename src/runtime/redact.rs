//! Masks secret text in everything rbk writes: progress, traces, errors,
//! reports, cassettes and dry runs.
//!
//! Taint tracking on values decides what is secret; this registry is the
//! last line: every secret text that leaves a value (into a header, a URL,
//! a body) is registered, and every output passes through [`Redactor::mask`].

use std::sync::RwLock;

use super::value::MASK;

/// Secrets shorter than this are not searched for in output text: masking
/// every `a` would garble everything. They are still masked as values.
pub const MIN_SECRET_LEN: usize = 3;

#[derive(Debug, Default)]
pub struct Redactor {
    secrets: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Registers a secret text (and its common encodings).
    pub fn register(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let Ok(mut list) = self.secrets.write() else {
            return;
        };
        let mut add = |s: String| {
            if s.len() >= MIN_SECRET_LEN && !list.contains(&s) {
                list.push(s);
            }
        };
        add(secret.to_string());
        let encoded: String =
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        add(encoded);
        let form: String = super::http::form_encode(secret);
        add(form);
        if let Ok(json) = serde_json::to_string(secret) {
            add(json.trim_matches('"').to_string());
        }
        // Longest first, so that a secret containing another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every registered secret replaced by `•••`.
    pub fn mask(&self, text: &str) -> String {
        let Ok(list) = self.secrets.read() else {
            return text.to_string();
        };
        let mut out = text.to_string();
        for s in list.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// True when `text` holds a registered secret.
    pub fn contains_secret(&self, text: &str) -> bool {
        self.secrets
            .read()
            .map(|list| list.iter().any(|s| text.contains(s.as_str())))
            .unwrap_or(false)
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|l| l.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_registered_secret_and_its_encodings() {
        let r = Redactor::new();
        r.register("p@ss word");
        assert_eq!(r.mask("a p@ss word b"), "a ••• b");
        assert_eq!(r.mask("q=p%40ss%20word"), "q=•••");
        assert_eq!(r.mask("q=p%40ss+word"), "q=•••");
        assert_eq!(r.mask("nothing here"), "nothing here");
    }

    #[test]
    fn short_secrets_are_not_searched() {
        let r = Redactor::new();
        r.register("ab");
        assert_eq!(r.mask("abc"), "abc");
        assert!(r.is_empty());
    }
}
