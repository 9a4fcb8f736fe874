//! `auth sign_hmac { key, algorithm, header, encoding, prefix, timestamp_header }`:
//! an HMAC of the exact body bytes sent (or of `TIMESTAMP.BODY`) in a header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};

use super::mtls::hex_lower;
use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::syntax::ast::Span;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HmacAlg {
    Sha256,
    Sha512,
    Sha1,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex_lower(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
        }
    }

    pub(super) fn read(f: &Fields, default: Encoding, span: Span) -> Result<Encoding, EvalError> {
        match f.word("encoding").as_deref() {
            None => Ok(default),
            Some("hex") => Ok(Encoding::Hex),
            Some("base64") => Ok(Encoding::Base64),
            Some(other) => Err(EvalError::new(
                span,
                format!("`encoding = {other}`: expected `hex` or `base64`"),
            )),
        }
    }
}

#[derive(Clone)]
pub struct SignHmac {
    key: Vec<u8>,
    algorithm: HmacAlg,
    header: String,
    encoding: Encoding,
    prefix: String,
    timestamp_header: Option<String>,
    span: Span,
}

impl std::fmt::Debug for SignHmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignHmac")
            .field("algorithm", &self.algorithm)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl SignHmac {
    pub(super) fn new(f: &Fields, span: Span) -> Result<SignHmac, EvalError> {
        let key = f.required("key")?;
        // The key is a credential even when written without secret().
        f.secret(&key);
        let algorithm = match f.word("algorithm").as_deref() {
            None | Some("sha256") => HmacAlg::Sha256,
            Some("sha512") => HmacAlg::Sha512,
            Some("sha1") => HmacAlg::Sha1,
            Some(other) => {
                return Err(EvalError::new(
                    span,
                    format!("`algorithm = {other}`: expected `sha256`, `sha512` or `sha1`"),
                ));
            }
        };
        Ok(SignHmac {
            key: key.into_bytes(),
            algorithm,
            header: f.text("header")?.unwrap_or_else(|| "X-Signature".into()),
            encoding: Encoding::read(f, Encoding::Hex, span)?,
            prefix: f.text("prefix")?.unwrap_or_default(),
            timestamp_header: f.text("timestamp_header")?,
            span,
        })
    }

    /// The signature header's name (redirects to another host drop it).
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The HMAC of `data` in the configured algorithm.
    pub fn mac(&self, data: &[u8]) -> Result<Vec<u8>, EvalError> {
        let bad = |_| EvalError::new(self.span, "auth sign_hmac: the key cannot be used");
        Ok(match self.algorithm {
            HmacAlg::Sha256 => {
                let mut m = Hmac::<sha2::Sha256>::new_from_slice(&self.key).map_err(bad)?;
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            HmacAlg::Sha512 => {
                let mut m = Hmac::<sha2::Sha512>::new_from_slice(&self.key).map_err(bad)?;
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            HmacAlg::Sha1 => {
                let mut m = Hmac::<sha1::Sha1>::new_from_slice(&self.key).map_err(bad)?;
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        })
    }

    /// Checks a received request's signature (a webhook's `verify`): the
    /// header holds `prefix` and the MAC of the body (or of
    /// `TIMESTAMP.BODY` with `timestamp_header`, the timestamp no older
    /// than `max_age`), compared in constant time. `Err` says why not.
    pub fn verify(
        &self,
        body: &[u8],
        header: impl Fn(&str) -> Option<String>,
        max_age: Option<std::time::Duration>,
    ) -> Result<(), &'static str> {
        let given = header(&self.header).ok_or("the signature header is missing")?;
        let given = given
            .trim()
            .strip_prefix(self.prefix.as_str())
            .ok_or("the signature does not start with the expected prefix")?;
        let given = match self.encoding {
            Encoding::Hex => decode_hex(given),
            Encoding::Base64 => STANDARD.decode(given).ok(),
        }
        .ok_or("the signature is not well-formed")?;
        let data = match &self.timestamp_header {
            Some(h) => {
                let ts = header(h).ok_or("the timestamp header is missing")?;
                let secs: u64 = ts
                    .trim()
                    .parse()
                    .map_err(|_| "the timestamp is not a number")?;
                if let Some(age) = max_age {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    if now.abs_diff(secs) > age.as_secs() {
                        return Err("the timestamp is older than max_age (or in the future)");
                    }
                }
                let mut text = Vec::with_capacity(ts.len() + 1 + body.len());
                text.extend_from_slice(ts.trim().as_bytes());
                text.push(b'.');
                text.extend_from_slice(body);
                text
            }
            None => body.to_vec(),
        };
        let ok = match self.algorithm {
            HmacAlg::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(&self.key)
                .map(|mut m| {
                    m.update(&data);
                    m.verify_slice(&given).is_ok()
                })
                .unwrap_or(false),
            HmacAlg::Sha512 => Hmac::<sha2::Sha512>::new_from_slice(&self.key)
                .map(|mut m| {
                    m.update(&data);
                    m.verify_slice(&given).is_ok()
                })
                .unwrap_or(false),
            HmacAlg::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(&self.key)
                .map(|mut m| {
                    m.update(&data);
                    m.verify_slice(&given).is_ok()
                })
                .unwrap_or(false),
        };
        if ok {
            Ok(())
        } else {
            Err("the signature does not match")
        }
    }

    pub fn apply(&self, req: &mut Prepared, _env: &AuthEnv<'_>) -> Result<(), EvalError> {
        let body: &[u8] = req.body.as_ref().map(|b| b.bytes.as_ref()).unwrap_or(&[]);
        let signed = match &self.timestamp_header {
            Some(_) => {
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
                    .to_string();
                let mut text = Vec::with_capacity(ts.len() + 1 + body.len());
                text.extend_from_slice(ts.as_bytes());
                text.push(b'.');
                text.extend_from_slice(body);
                Some((ts, text))
            }
            None => None,
        };
        let mac = match &signed {
            Some((_, text)) => self.mac(text)?,
            None => self.mac(body)?,
        };
        let value = format!("{}{}", self.prefix, self.encoding.encode(&mac));
        if let (Some(h), Some((ts, _))) = (&self.timestamp_header, signed) {
            req.set_header(h, ts);
        }
        req.set_header(&self.header, value);
        Ok(())
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}
