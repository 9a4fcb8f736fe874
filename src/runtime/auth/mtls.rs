//! `auth mtls { certificate }`: the client certificate is configured on the
//! integration's HTTP client (see `runtime::client`), not per request.
//!
//! This file also reads certificates for the other kinds that use one
//! (`sign_x509`, `jwt_assertion`): a [`Material`] is the certificate chain
//! (DER) and the private key, from `pem(...)` or `pfx(...)`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::runtime::value::Certificate;

/// The private key as read.
#[derive(Clone)]
pub enum Key {
    /// PKCS#8 DER (any algorithm).
    Pkcs8(Vec<u8>),
    /// PKCS#1 DER (RSA).
    Pkcs1(Vec<u8>),
    /// SEC1 DER (EC), usable for TLS only.
    Sec1(Vec<u8>),
}

/// A certificate chain (leaf first) and its private key.
#[derive(Clone)]
pub struct Material {
    pub chain: Vec<Vec<u8>>,
    pub key: Key,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never show the key.
        write!(
            f,
            "Material {{ certificates: {}, key: <hidden> }}",
            self.chain.len()
        )
    }
}

/// One `-----BEGIN LABEL-----` block: its label and decoded bytes.
pub fn pem_blocks(text: &str) -> Vec<(String, Result<Vec<u8>, String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            out.push((label, Err("the PEM block has no END line".into())));
            break;
        };
        let body = &body_start[..end];
        // Encrypted PKCS#1 keys carry "Proc-Type:" headers: not base64.
        let data = if body.contains(':') {
            Err("PEM headers (an encrypted PKCS#1 key?) are not supported; use PKCS#8".into())
        } else {
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| format!("the PEM block is not valid base64: {e}"))
        };
        out.push((label, data));
        rest = &body_start[end + end_marker.len()..];
    }
    out
}

/// PEM text of DER bytes.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Reads a PEM private key (PKCS#8, encrypted PKCS#8 with a password,
/// PKCS#1 or SEC1).
pub fn read_key_pem(text: &str, password: Option<&str>) -> Result<Key, String> {
    let blocks = pem_blocks(text);
    if blocks.is_empty() {
        return Err("the key is not PEM text (no -----BEGIN ... PRIVATE KEY----- line)".into());
    }
    for (label, data) in blocks {
        match label.as_str() {
            "PRIVATE KEY" => return Ok(Key::Pkcs8(data?)),
            "RSA PRIVATE KEY" => return Ok(Key::Pkcs1(data?)),
            "EC PRIVATE KEY" => return Ok(Key::Sec1(data?)),
            "ENCRYPTED PRIVATE KEY" => {
                let Some(pw) = password else {
                    return Err(
                        "the key is encrypted: give its password with pem(..., password: secret(\"...\"))"
                            .into(),
                    );
                };
                let der = data?;
                let key = RsaPrivateKey::from_pkcs8_encrypted_der(&der, pw).map_err(|_| {
                    "cannot decrypt the key: wrong password, or not an RSA key".to_string()
                })?;
                let plain = key
                    .to_pkcs8_der()
                    .map_err(|e| format!("cannot re-encode the key: {e}"))?;
                return Ok(Key::Pkcs8(plain.as_bytes().to_vec()));
            }
            _ => {}
        }
    }
    Err("the PEM text holds no private key (expected -----BEGIN PRIVATE KEY-----)".into())
}

/// Reads the certificate chain and key of a `pem(...)` or `pfx(...)`.
pub fn material(cert: &Certificate) -> Result<Material, String> {
    match cert {
        Certificate::Pem {
            cert,
            key,
            password,
        } => {
            let mut chain = Vec::new();
            for (label, data) in pem_blocks(cert) {
                if label == "CERTIFICATE" {
                    chain.push(data.map_err(|e| format!("cert: {e}"))?);
                }
            }
            if chain.is_empty() {
                return Err(
                    "cert: no -----BEGIN CERTIFICATE----- block (is `cert:` the certificate PEM?)"
                        .into(),
                );
            }
            let key = read_key_pem(key, password.as_deref()).map_err(|e| format!("key: {e}"))?;
            Ok(Material { chain, key })
        }
        Certificate::Pfx { der, password } => {
            let pw = password.as_deref().unwrap_or("");
            let store = p12_keystore::KeyStore::from_pkcs12(
                der,
                pw,
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| match e {
                p12_keystore::error::Error::MacError(_) => {
                    "cannot open the PFX: wrong password".to_string()
                }
                other => {
                    format!("cannot open the PFX (wrong password, or not a PKCS#12 file): {other}")
                }
            })?;
            let Some((_, kc)) = store.private_key_chain() else {
                return Err("the PFX holds no private key with its certificate".into());
            };
            let chain: Vec<Vec<u8>> = kc.certs().iter().map(|c| c.as_der().to_vec()).collect();
            if chain.is_empty() {
                return Err("the PFX holds a private key but no certificate".into());
            }
            Ok(Material {
                chain,
                key: Key::Pkcs8(kc.key().as_der().to_vec()),
            })
        }
    }
}

impl Material {
    /// The leaf certificate's DER.
    pub fn leaf(&self) -> &[u8] {
        &self.chain[0]
    }

    /// SHA-1 of the leaf DER in upper-case hex, as Windows and Halo show
    /// a thumbprint.
    pub fn thumbprint_hex(&self) -> String {
        hex_upper(&Sha1::digest(self.leaf()))
    }

    /// `x5t`: base64url SHA-1 of the leaf DER.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha1::digest(self.leaf()))
    }

    /// `x5t#S256`: base64url SHA-256 of the leaf DER.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.leaf()))
    }

    /// The RSA private key (signing needs RSA).
    pub fn rsa_key(&self) -> Result<RsaPrivateKey, String> {
        match &self.key {
            Key::Pkcs8(der) => RsaPrivateKey::from_pkcs8_der(der)
                .map_err(|_| "the private key is not an RSA key (signing needs RSA)".into()),
            Key::Pkcs1(der) => RsaPrivateKey::from_pkcs1_der(der)
                .map_err(|e| format!("the RSA private key cannot be read: {e}")),
            Key::Sec1(_) => Err("the private key is an EC key; signing needs RSA".into()),
        }
    }

    /// Certificate chain and key as one PEM text, for a TLS identity.
    pub fn identity_pem(&self) -> String {
        let mut s = String::new();
        for c in &self.chain {
            s.push_str(&pem_encode("CERTIFICATE", c));
        }
        s.push_str(&match &self.key {
            Key::Pkcs8(d) => pem_encode("PRIVATE KEY", d),
            Key::Pkcs1(d) => pem_encode("RSA PRIVATE KEY", d),
            Key::Sec1(d) => pem_encode("EC PRIVATE KEY", d),
        });
        s
    }
}

/// The TLS client identity of `auth mtls { certificate }`.
pub fn identity(cert: &Certificate) -> Result<reqwest::Identity, String> {
    let m = material(cert)?;
    reqwest::Identity::from_pem(m.identity_pem().as_bytes())
        .map_err(|e| format!("not a usable client certificate and key: {e}"))
}

pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
