//! `auth sign_x509 { certificate, algorithm, header, encoding, thumbprint_header }`:
//! an RSA signature of the exact body bytes sent, in a header.
//!
//! `rsa_sha256` is RSASSA-PKCS1-v1_5 with SHA-256; `rsa_pss_sha256` is
//! RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (the digest
//! length). The thumbprint is the SHA-1 of the leaf certificate's DER in
//! upper-case hex, as Windows and Halo show it.

use rsa::RsaPrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};

use super::sign_hmac::Encoding;
use super::{AuthEnv, Fields};
use crate::runtime::eval::EvalError;
use crate::runtime::http::Prepared;
use crate::runtime::value::Value;
use crate::syntax::ast::Span;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum X509Alg {
    RsaSha256,
    RsaPssSha256,
}

#[derive(Clone)]
pub struct SignX509 {
    key: RsaPrivateKey,
    thumbprint: String,
    algorithm: X509Alg,
    header: String,
    encoding: Encoding,
    thumbprint_header: Option<String>,
    span: Span,
}

impl std::fmt::Debug for SignX509 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignX509")
            .field("algorithm", &self.algorithm)
            .field("header", &self.header)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl SignX509 {
    pub(super) fn new(f: &Fields, span: Span) -> Result<SignX509, EvalError> {
        let cert = match f.value("certificate")? {
            Some(v) => match v.reveal() {
                Value::Cert(c) => c.clone(),
                other => {
                    return Err(EvalError::new(
                        span,
                        format!(
                            "auth sign_x509: `certificate` must be pem(...) or pfx(...), not {}",
                            other.type_name()
                        ),
                    ));
                }
            },
            None => return Err(EvalError::new(span, "auth needs `certificate`")),
        };
        let material = super::mtls::material(&cert)
            .map_err(|e| EvalError::new(span, format!("auth sign_x509: certificate: {e}")))?;
        let key = material
            .rsa_key()
            .map_err(|e| EvalError::new(span, format!("auth sign_x509: certificate: {e}")))?;
        let algorithm = match f.word("algorithm").as_deref() {
            None | Some("rsa_sha256") => X509Alg::RsaSha256,
            Some("rsa_pss_sha256") => X509Alg::RsaPssSha256,
            Some(other) => {
                return Err(EvalError::new(
                    span,
                    format!("`algorithm = {other}`: expected `rsa_sha256` or `rsa_pss_sha256`"),
                ));
            }
        };
        Ok(SignX509 {
            key,
            thumbprint: material.thumbprint_hex(),
            algorithm,
            header: f.text("header")?.unwrap_or_else(|| "X-Signature".into()),
            encoding: Encoding::read(f, Encoding::Base64, span)?,
            thumbprint_header: f.text("thumbprint_header")?,
            span,
        })
    }

    /// The signature header's name (redirects to another host drop it).
    pub fn header(&self) -> &str {
        &self.header
    }

    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, EvalError> {
        let fail = |e: rsa::signature::Error| {
            EvalError::new(self.span, format!("auth sign_x509: cannot sign: {e}"))
        };
        Ok(match self.algorithm {
            X509Alg::RsaSha256 => {
                let k = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone());
                k.try_sign(data).map_err(fail)?.to_vec()
            }
            X509Alg::RsaPssSha256 => {
                let k = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(self.key.clone());
                k.try_sign_with_rng(&mut rsa::rand_core::OsRng, data)
                    .map_err(fail)?
                    .to_vec()
            }
        })
    }

    pub fn apply(&self, req: &mut Prepared, _env: &AuthEnv<'_>) -> Result<(), EvalError> {
        let body: &[u8] = req.body.as_ref().map(|b| b.bytes.as_ref()).unwrap_or(&[]);
        let sig = self.sign(body)?;
        req.set_header(&self.header, self.encoding.encode(&sig));
        if let Some(h) = &self.thumbprint_header {
            req.set_header(h, self.thumbprint.clone());
        }
        Ok(())
    }
}
