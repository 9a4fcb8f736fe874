//! Signed JWTs for `jwt_assertion` (and, later, oauth2's
//! `client_assertion`): the fields `algorithm key key_id issuer subject
//! audience lifetime claims`.
//!
//! Header: `alg`, `typ = JWT`, `kid` (`key_id`, else the certificate's
//! SHA-1 thumbprint in upper-case hex), and with a certificate also `x5t`
//! (base64url SHA-1 of the DER) and `x5t#S256`. Claims: `iss sub aud iat
//! nbf exp jti`; `claims { }` adds more and may override all but `iat nbf
//! exp jti`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;

use super::Fields;
use crate::runtime::eval::EvalError;
use crate::runtime::value::Value;
use crate::syntax::ast::{EntryValue, Span};

#[derive(Clone)]
pub struct JwtSigner {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: Option<String>,
    x5t: Option<String>,
    x5t_s256: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub audience: String,
    pub lifetime: Duration,
    claims: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// Reads the JWT fields of `f`; `what` names the block in errors
    /// (e.g. "auth jwt_assertion").
    pub(super) fn from_fields(
        f: &Fields,
        default_audience: &str,
        what: &str,
        span: Span,
    ) -> Result<JwtSigner, EvalError> {
        let err = |m: String| EvalError::new(span, format!("{what}: {m}"));
        let algorithm = match f.word("algorithm").as_deref() {
            Some("HS256") => Algorithm::HS256,
            Some("RS256") => Algorithm::RS256,
            Some("PS256") => Algorithm::PS256,
            Some(other) => {
                return Err(err(format!(
                    "`algorithm = {other}`: expected `HS256`, `RS256` or `PS256`"
                )));
            }
            None => return Err(err("needs `algorithm` (HS256, RS256 or PS256)".into())),
        };
        let Some(key) = f.value("key")? else {
            return Err(err("needs `key`".into()));
        };
        let mut kid = None;
        let mut x5t = None;
        let mut x5t_s256 = None;
        let enc = match (key.reveal(), algorithm) {
            (Value::Cert(_), Algorithm::HS256) => {
                return Err(err(
                    "`key`: HS256 needs the shared secret text, not a certificate".into(),
                ));
            }
            (Value::Cert(c), _) => {
                let m =
                    super::mtls::material(c).map_err(|e| err(format!("`key` certificate: {e}")))?;
                let rsa = m.rsa_key().map_err(|e| err(format!("`key`: {e}")))?;
                kid = Some(m.thumbprint_hex());
                x5t = Some(m.x5t());
                x5t_s256 = Some(m.x5t_s256());
                rsa_encoding_key(&rsa).map_err(|e| err(format!("`key`: {e}")))?
            }
            (v, Algorithm::HS256) => {
                let text = v.to_text();
                f.secret(&text);
                EncodingKey::from_secret(text.as_bytes())
            }
            (v, _) => {
                let text = v.to_text();
                f.secret(&text);
                let k = super::mtls::read_key_pem(&text, None)
                    .map_err(|e| err(format!("`key`: {e}")))?;
                let m = super::mtls::Material {
                    chain: Vec::new(),
                    key: k,
                };
                let rsa = m.rsa_key().map_err(|e| err(format!("`key`: {e}")))?;
                rsa_encoding_key(&rsa).map_err(|e| err(format!("`key`: {e}")))?
            }
        };
        if let Some(id) = f.text("key_id")? {
            kid = Some(id);
        }
        let issuer = f.text("issuer")?;
        let subject = f.text("subject")?.or_else(|| issuer.clone());
        let audience = f
            .text("audience")?
            .unwrap_or_else(|| default_audience.to_string());
        let lifetime = match f.value("lifetime")?.as_ref().map(|v| v.reveal()) {
            None => Duration::from_secs(300),
            Some(Value::Duration(d)) => *d,
            Some(other) => {
                return Err(err(format!(
                    "`lifetime` must be a duration such as 5m, not {}",
                    other.type_name()
                )));
            }
        };
        let mut claims = serde_json::Map::new();
        if let Some(block) = f.block("claims") {
            let nested = f.nested(block);
            for e in &block.entries {
                if let EntryValue::Expr { .. } = &e.value
                    && let Some(v) = nested.value(&e.key.name)?
                {
                    claims.insert(e.key.name.clone(), v.to_json(true));
                }
            }
        }
        Ok(JwtSigner {
            algorithm,
            key: enc,
            kid,
            x5t,
            x5t_s256,
            issuer,
            subject,
            audience,
            lifetime,
            claims,
        })
    }

    /// A short digest of the extra claims (empty without any), so that a
    /// token fetched with other claims is not reused.
    pub fn claims_digest(&self) -> String {
        use sha2::Digest;
        if self.claims.is_empty() {
            return String::new();
        }
        let mut sorted: Vec<(&String, &serde_json::Value)> = self.claims.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let text = serde_json::to_string(&sorted).unwrap_or_default();
        let digest = sha2::Sha256::digest(text.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A freshly signed JWT and its `exp` (Unix seconds).
    pub fn sign(&self) -> Result<(String, u64), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let exp = now + self.lifetime.as_secs().max(1);
        let mut header = Header::new(self.algorithm);
        header.typ = Some("JWT".into());
        header.kid = self.kid.clone();
        header.x5t = self.x5t.clone();
        header.x5t_s256 = self.x5t_s256.clone();
        let mut c = serde_json::Map::new();
        if let Some(i) = &self.issuer {
            c.insert("iss".into(), i.clone().into());
        }
        if let Some(s) = &self.subject {
            c.insert("sub".into(), s.clone().into());
        }
        if !self.audience.is_empty() {
            c.insert("aud".into(), self.audience.clone().into());
        }
        for (k, v) in &self.claims {
            c.insert(k.clone(), v.clone());
        }
        c.insert("iat".into(), now.into());
        c.insert("nbf".into(), now.into());
        c.insert("exp".into(), exp.into());
        c.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        let token = jsonwebtoken::encode(&header, &c, &self.key)
            .map_err(|e| format!("cannot sign the JWT: {e}"))?;
        Ok((token, exp))
    }
}

fn rsa_encoding_key(key: &rsa::RsaPrivateKey) -> Result<EncodingKey, String> {
    let der = key
        .to_pkcs1_der()
        .map_err(|e| format!("cannot encode the RSA key: {e}"))?;
    Ok(EncodingKey::from_rsa_der(der.as_bytes()))
}
