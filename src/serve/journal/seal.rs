//! Sealing journal values that may hold secrets: XChaCha20-Poly1305 (an
//! AEAD, RustCrypto's `chacha20poly1305`) under a 256-bit key from
//! `RBK_JOURNAL_KEY` (64 hex digits or base64 of 32 bytes), or from a key
//! file beside the journal created owner-only (0600) on first use.

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// What sealed bytes start with: the format's version.
const MAGIC: &[u8; 4] = b"rbk1";

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The key from `env_value` (`RBK_JOURNAL_KEY`) when given, else from
    /// `key_file`, created with a fresh random key (mode 0600) if missing.
    pub fn open(env_value: Option<&str>, key_file: &Path) -> Result<Sealer, String> {
        if let Some(text) = env_value {
            return parse_key(text.trim())
                .map(|k| Sealer::from_key(&k))
                .ok_or_else(|| {
                    "RBK_JOURNAL_KEY is not a 256-bit key: give 64 hex digits or the base64 of 32 bytes"
                        .to_string()
                });
        }
        match std::fs::read_to_string(key_file) {
            Ok(text) => parse_key(text.trim())
                .map(|k| Sealer::from_key(&k))
                .ok_or_else(|| format!("{} does not hold a 256-bit key", key_file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                write_owner_only(key_file, format!("{hex}\n").as_bytes()).map_err(|e| {
                    format!("cannot create the key file {}: {e}", key_file.display())
                })?;
                let mut k = [0u8; 32];
                k.copy_from_slice(&key);
                Ok(Sealer::from_key(&k))
            }
            Err(e) => Err(format!(
                "cannot read the key file {}: {e}",
                key_file.display()
            )),
        }
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption fails only for inputs over 256 GiB.
        let sealed = self.cipher.encrypt(&nonce, plain).unwrap_or_default();
        let mut out = Vec::with_capacity(4 + nonce.len() + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open_sealed(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        if data.len() < 4 + 24 || &data[..4] != MAGIC {
            return Err("a sealed journal value is malformed".into());
        }
        let nonce = XNonce::from_slice(&data[4..28]);
        self.cipher.decrypt(nonce, &data[28..]).map_err(|_| {
            "a sealed journal value does not open with this key (was RBK_JOURNAL_KEY or the key file changed?)"
                .to_string()
        })
    }
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    bytes.try_into().ok()
}

/// Creates `path` exclusively, readable by its owner only.
fn write_owner_only(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_another_key() {
        let a = Sealer::from_key(&[7; 32]);
        let b = Sealer::from_key(&[8; 32]);
        let s = a.seal(b"hunter2");
        assert!(!s.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(a.open_sealed(&s).unwrap(), b"hunter2");
        assert!(b.open_sealed(&s).is_err());
        assert!(a.open_sealed(b"rbk1short").is_err());
    }

    #[test]
    fn keys_from_hex_or_base64() {
        assert!(parse_key(&"ab".repeat(32)).is_some());
        assert!(parse_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])).is_some());
        assert!(parse_key("short").is_none());
    }

    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.key");
        let a = Sealer::open(None, &path).unwrap();
        let b = Sealer::open(None, &path).unwrap();
        assert_eq!(b.open_sealed(&a.seal(b"x")).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
