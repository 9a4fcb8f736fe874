//! `auth mtls { certificate }`: the client certificate is configured on the
//! integration's HTTP client (see `runtime::client`), not per request.
//!
//! This file also reads certificates for the other kinds that use one
//! (`sign_x509`, `jwt_assertion`): a [`Material`] is the certificate chain
//! (DER) and the private key, from `pem(...)` or `pfx(...)`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

/// Every `-----BEGIN LABEL-----` block of `text`, parsed by the `pem`
/// crate: its label and decoded bytes. A text that does not parse gives one
/// entry with the reason (never the text: it may be a key).
pub fn pem_blocks(text: &str) -> Vec<(String, Result<Vec<u8>, String>)> {
    if !text.contains("-----BEGIN ") {
        return Vec::new();
    }
    let begins = text.matches("-----BEGIN ").count();
    match pem::parse_many(text) {
        // The crate skips a block that has no END line: say so.
        Ok(blocks) if blocks.len() < begins => {
            let mut out: Vec<(String, Result<Vec<u8>, String>)> = blocks
                .into_iter()
                .map(|p| (p.tag().to_string(), Ok(p.contents().to_vec())))
                .collect();
            out.push((String::new(), Err("the PEM block has no END line".into())));
            out
        }
        Ok(blocks) => blocks
            .into_iter()
            .map(|p| {
                // Encrypted PKCS#1 keys carry "Proc-Type:" headers.
                let data = if p.headers().iter().next().is_some() {
                    Err(
                        "PEM headers (an encrypted PKCS#1 key?) are not supported; use PKCS#8"
                            .to_string(),
                    )
                } else {
                    Ok(p.contents().to_vec())
                };
                (p.tag().to_string(), data)
            })
            .collect(),
        Err(e) => vec![(String::new(), Err(pem_error(&e)))],
    }
}

fn pem_error(e: &pem::PemError) -> String {
    match e {
        pem::PemError::MissingEndTag | pem::PemError::MalformedFraming => {
            "the PEM block has no END line".to_string()
        }
        pem::PemError::MismatchedTags(..) => {
            "a PEM block's BEGIN and END labels differ".to_string()
        }
        pem::PemError::InvalidData(err) => format!("the PEM block is not valid base64: {err}"),
        _ => "the text is not valid PEM".to_string(),
    }
}

/// PEM text of DER bytes.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_round_trip_and_report_problems() {
        let der = (0u8..=200).collect::<Vec<u8>>();
        let text = pem_encode("CERTIFICATE", &der) + &pem_encode("PRIVATE KEY", b"key");
        let blocks = pem_blocks(&format!("junk before\n{text}junk after"));
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].0, "CERTIFICATE");
        assert_eq!(blocks[0].1.as_deref(), Ok(der.as_slice()));
        assert_eq!(blocks[1].0, "PRIVATE KEY");
        assert!(pem_blocks("no pem here").is_empty());
        let cut = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        let blocks = pem_blocks(cut);
        let e = blocks
            .last()
            .and_then(|b| b.1.clone().err())
            .unwrap_or_default();
        assert!(e.contains("no END line"), "{e}");
        let headers = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let e = pem_blocks(headers).remove(0).1.unwrap_err();
        assert!(e.contains("PKCS#8"), "{e}");
        let bad = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let e = pem_blocks(bad).remove(0).1.unwrap_err();
        assert!(e.contains("base64"), "{e}");
    }
}
