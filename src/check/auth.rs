//! Auth blocks: every kind's fields, grant-specific requirements, and
//! `per_instance` coverage.

use std::collections::HashMap;

use super::Cx;
use super::expr::Scope;
use super::settings::{Codes, Field, Kind, f, field_names, instance_names, req};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

const AUTH_CODES: Codes = Codes {
    unknown: codes::AUTH_UNKNOWN_FIELD,
    missing: codes::AUTH_MISSING_FIELD,
};

const JWT_ALGORITHMS: &[&str] = &["HS256", "RS256", "PS256"];
const GRANTS: &[&str] = &[
    "client_credentials",
    "password",
    "authorization_code",
    "authorization_code_pkce",
];

/// The auth kinds, for "did you mean" and docs.
pub(crate) const KINDS: &[&str] = &[
    "none",
    "api_key",
    "bearer",
    "basic",
    "oauth2",
    "jwt_assertion",
    "sign_hmac",
    "sign_x509",
    "mtls",
];

const CLIENT_ASSERTION: &[Field] = &[
    req("algorithm", Kind::Enum(JWT_ALGORITHMS)),
    req("key", Kind::KeyOrCert),
    f("key_id", Kind::Str),
    f("issuer", Kind::Str),
    f("subject", Kind::Str),
    f("audience", Kind::Str),
    f("lifetime", Kind::Duration),
    f("claims", Kind::Map),
];

const PER_INSTANCE: &[Field] = &[
    f("client_id", Kind::Str),
    f("client_secret", Kind::Str),
    f("username", Kind::Str),
    f("password", Kind::Str),
    f("scope", Kind::Str),
    f("audience", Kind::Str),
    f("token_url", Kind::Str),
    f("auth_url", Kind::Str),
    f("client_assertion", Kind::Block(CLIENT_ASSERTION)),
];

const NONE_FIELDS: &[Field] = &[];

const API_KEY_FIELDS: &[Field] = &[
    req("name", Kind::Str),
    req("value", Kind::Str),
    f("in", Kind::Enum(&["header", "query"])),
];

const BEARER_FIELDS: &[Field] = &[
    req("token", Kind::Str),
    f("header", Kind::Str),
    f("prefix", Kind::Str),
];

const BASIC_FIELDS: &[Field] = &[req("username", Kind::Str), req("password", Kind::Str)];

const OAUTH2_FIELDS: &[Field] = &[
    req("grant", Kind::Enum(GRANTS)),
    req("token_url", Kind::Str),
    f("auth_url", Kind::Str),
    f("redirect_url", Kind::Str),
    f("client_id", Kind::Str),
    f("client_secret", Kind::Str),
    f("username", Kind::Str),
    f("password", Kind::Str),
    f("scope", Kind::Str),
    f("audience", Kind::Str),
    f("extra", Kind::Map),
    f("client_auth", Kind::Enum(&["basic", "body"])),
    f("header", Kind::Str),
    f("prefix", Kind::Str),
    f("default_expiry", Kind::Duration),
    f("per_instance", Kind::Custom),
    f("client_assertion", Kind::Block(CLIENT_ASSERTION)),
];

const JWT_ASSERTION_FIELDS: &[Field] = &[
    req("algorithm", Kind::Enum(JWT_ALGORITHMS)),
    req("key", Kind::KeyOrCert),
    // Required unless `request = direct` (checked in check_jwt_assertion).
    f("token_url", Kind::Str),
    f("key_id", Kind::Str),
    f("issuer", Kind::Str),
    f("subject", Kind::Str),
    f("audience", Kind::Str),
    f("scope", Kind::Str),
    f("lifetime", Kind::Duration),
    f("claims", Kind::Map),
    f("request", Kind::Enum(&["form", "json", "direct"])),
    f("header", Kind::Str),
    f("prefix", Kind::Str),
    f("default_expiry", Kind::Duration),
];

const SIGN_HMAC_FIELDS: &[Field] = &[
    req("key", Kind::Str),
    f("algorithm", Kind::Enum(&["sha256", "sha512", "sha1"])),
    f("header", Kind::Str),
    f("encoding", Kind::Enum(&["hex", "base64"])),
    f("prefix", Kind::Str),
    f("timestamp_header", Kind::Str),
];

const SIGN_X509_FIELDS: &[Field] = &[
    req("certificate", Kind::Cert),
    f("algorithm", Kind::Enum(&["rsa_sha256", "rsa_pss_sha256"])),
    f("header", Kind::Str),
    f("encoding", Kind::Enum(&["base64", "hex"])),
    f("thumbprint_header", Kind::Str),
];

const MTLS_FIELDS: &[Field] = &[req("certificate", Kind::Cert)];

/// The fields of each kind. Grant-specific rules for oauth2 are in code.
pub(crate) fn fields(kind: &str) -> Option<&'static [Field]> {
    Some(match kind {
        "none" => NONE_FIELDS,
        "api_key" => API_KEY_FIELDS,
        "bearer" => BEARER_FIELDS,
        "basic" => BASIC_FIELDS,
        "oauth2" => OAUTH2_FIELDS,
        "jwt_assertion" => JWT_ASSERTION_FIELDS,
        "sign_hmac" => SIGN_HMAC_FIELDS,
        "sign_x509" => SIGN_X509_FIELDS,
        "mtls" => MTLS_FIELDS,
        _ => return None,
    })
}

impl Cx<'_> {
    /// Checks `auth KIND { ... }` (or `auth none`, or in a method `auth inherit`).
    pub(crate) fn check_auth_entry(&mut self, e: &Entry, scope: &Scope, in_method: bool) {
        let (label, block) = match &e.value {
            EntryValue::Label(l) => (l, None),
            EntryValue::Block {
                label: Some(l),
                block,
            } => (l, Some(block)),
            _ => {
                self.report(
                    Diagnostic::error(codes::UNKNOWN_AUTH_KIND, "`auth` needs a kind")
                        .at(e.span, "expected `auth KIND { ... }`")
                        .help(format!("the kinds are: {}", KINDS.join(", "))),
                );
                return;
            }
        };
        self.check_auth(label, block, e.key.span, scope, in_method);
    }

    pub(crate) fn check_auth(
        &mut self,
        label: &Ident,
        block: Option<&Block>,
        anchor: Span,
        scope: &Scope,
        in_method: bool,
    ) {
        let kind = label.name.as_str();
        if kind == "inherit" && in_method {
            if let Some(b) = block {
                self.report(
                    Diagnostic::error(codes::AUTH_UNKNOWN_FIELD, "`auth inherit` takes no fields")
                        .at(b.span, "remove this block")
                        .help("`auth inherit` uses the integration's auth as it is"),
                );
            }
            return;
        }
        let Some(fields) = fields(kind) else {
            let mut options: Vec<&str> = KINDS.to_vec();
            if in_method {
                options.push("inherit");
            }
            let help = match super::suggest(kind, options.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? the kinds are: {}", options.join(", ")),
                None => format!("the kinds are: {}", options.join(", ")),
            };
            self.report(
                Diagnostic::error(
                    codes::UNKNOWN_AUTH_KIND,
                    format!("there is no auth kind `{kind}`"),
                )
                .at(label.span, "unknown auth kind")
                .help(help),
            );
            return;
        };
        let empty = Block {
            entries: Vec::new(),
            span: label.span,
        };
        let block = block.unwrap_or(&empty);
        let what = format!("`auth {kind}`");
        // Grant-specific requirements are checked below; the table's own
        // required fields are checked here.
        self.check_block(
            block,
            fields,
            scope,
            AUTH_CODES,
            &what,
            label.span.to(anchor),
        );
        self.hardcoded(block);
        for nested in ["per_instance", "client_assertion"] {
            if let Some(EntryValue::Block { block: b, .. }) = block.get(nested).map(|e| &e.value) {
                self.hardcoded(b);
                for inner in &b.entries {
                    if let EntryValue::Block { block: ib, .. } = &inner.value {
                        self.hardcoded(ib);
                    }
                }
            }
        }
        match kind {
            "oauth2" => self.check_oauth2(block, label, scope),
            "jwt_assertion" => {
                self.check_jwt_key(block);
                self.check_jwt_assertion(block, label);
            }
            _ => {}
        }
        if let Some(ca) = block.get("client_assertion")
            && let EntryValue::Block { block: inner, .. } = &ca.value
        {
            self.check_jwt_key(inner);
        }
    }

    fn check_oauth2(&mut self, block: &Block, label: &Ident, scope: &Scope) {
        let grant = block.get("grant").and_then(|e| match &e.value {
            EntryValue::Expr { value, .. } => match &value.kind {
                ExprKind::Name(id) => Some(id.name.clone()),
                ExprKind::Str(s) => s.as_plain(),
                _ => None,
            },
            _ => None,
        });
        let Some(grant) = grant.filter(|g| GRANTS.contains(&g.as_str())) else {
            return;
        };
        let code_grant = grant.starts_with("authorization_code");
        let per_instance = block.get("per_instance");
        let per = per_instance.and_then(|e| match &e.value {
            EntryValue::Block { label: None, block } => Some(block),
            _ => None,
        });
        // A field is provided when the block has it, or when per_instance
        // gives it for every instance.
        let provided = |name: &str| -> bool {
            if block.get(name).is_some() {
                return true;
            }
            match per {
                Some(p) => {
                    !p.entries.is_empty()
                        && p.entries.iter().all(|inst| match &inst.value {
                            EntryValue::Block { block: b, .. } => b.get(name).is_some(),
                            _ => false,
                        })
                }
                None => false,
            }
        };
        let mut need = vec!["client_id"];
        match grant.as_str() {
            "client_credentials" | "password" | "authorization_code"
                if !provided("client_assertion") =>
            {
                need.push("client_secret");
            }
            _ => {}
        }
        if grant == "password" {
            need.extend(["username", "password"]);
        }
        if code_grant {
            need.push("auth_url");
        }
        for n in need {
            if !provided(n) {
                self.report(
                    Diagnostic::error(
                        codes::AUTH_MISSING_FIELD,
                        format!("`auth oauth2` with `grant = {grant}` needs `{n}`"),
                    )
                    .at(label.span, format!("`{n}` missing"))
                    .help(format!(
                        "add `{n} = ...` to the block (or to every instance in `per_instance`)"
                    )),
                );
            }
        }
        let only = |field: &str| -> Option<&'static str> {
            match field {
                "username" | "password" => Some("password"),
                "auth_url" | "redirect_url" => {
                    Some("authorization_code or authorization_code_pkce")
                }
                _ => None,
            }
        };
        for e in &block.entries {
            if let Some(grants) = only(&e.key.name) {
                let fits = match e.key.name.as_str() {
                    "username" | "password" => grant == "password",
                    _ => code_grant,
                };
                if !fits {
                    self.report(
                        Diagnostic::error(
                            codes::AUTH_UNKNOWN_FIELD,
                            format!("`{}` has no use with `grant = {grant}`", e.key.name),
                        )
                        .at(e.key.span, "not used by this grant")
                        .help(format!("`{}` is only for `grant = {grants}`", e.key.name)),
                    );
                }
            }
        }
        if let Some(pi) = per_instance {
            self.check_per_instance(pi, scope);
        }
    }

    fn check_per_instance(&mut self, e: &Entry, scope: &Scope) {
        let EntryValue::Block { label: None, block } = &e.value else {
            self.report(
                Diagnostic::error(codes::INVALID_SETTING, "`per_instance` is a block")
                    .at(e.span, "expected `per_instance { INSTANCE { ... } }`")
                    .help("write `per_instance { prod { client_id = \"...\" } uat { ... } }`"),
            );
            return;
        };
        let declared = instance_names(self.program);
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for inst in &block.entries {
            if let Some(first) = seen.insert(&inst.key.name, inst.key.span) {
                self.duplicate_key(inst, first);
                continue;
            }
            if !declared.contains(&inst.key.name) {
                let help = super::resolve::did_you_mean(
                    &inst.key.name,
                    declared.iter().map(String::as_str),
                    "instances",
                );
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_INSTANCE,
                        format!("there is no instance `{}`", inst.key.name),
                    )
                    .at(inst.key.span, "unknown instance")
                    .help(help),
                );
            }
            match &inst.value {
                EntryValue::Block {
                    label: None,
                    block: b,
                } => {
                    let what = format!("`per_instance.{}`", inst.key.name);
                    self.check_block(b, PER_INSTANCE, scope, AUTH_CODES, &what, inst.key.span);
                }
                _ => self.report(
                    Diagnostic::error(
                        codes::INVALID_SETTING,
                        format!("`{}` in `per_instance` is a block", inst.key.name),
                    )
                    .at(inst.span, "expected `{ ... }`")
                    .help(format!("fields: {}", field_names(PER_INSTANCE))),
                ),
            }
        }
        let missing: Vec<&String> = declared
            .iter()
            .filter(|d| !seen.contains_key(d.as_str()))
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.report(
                Diagnostic::warning(
                    codes::PER_INSTANCE_INCOMPLETE,
                    format!("`per_instance` does not cover {list}"),
                )
                .at(e.key.span, "some instances are missing")
                .help("those instances use the block's own fields; add them to `per_instance` if they need their own credentials"),
            );
        }
    }

    /// Credentials written as plain text in the file.
    pub(super) fn hardcoded(&mut self, block: &Block) {
        for e in &block.entries {
            if !matches!(
                e.key.name.as_str(),
                "client_secret" | "password" | "token" | "key" | "value"
            ) {
                continue;
            }
            let EntryValue::Expr { value, .. } = &e.value else {
                continue;
            };
            if let ExprKind::Str(s) = &value.kind
                && s.as_plain().is_some_and(|t| !t.is_empty())
            {
                self.report(
                    Diagnostic::warning(
                        codes::HARDCODED_SECRET,
                        format!("`{}` is written into the file", e.key.name),
                    )
                    .at(value.span, "a credential in plain text")
                    .help(format!(
                        "read it at run time instead: `{} = secret(\"NAME\")`; anything in the file ends up in git",
                        e.key.name
                    )),
                );
            }
        }
    }

    /// HS256 takes a secret string, not a certificate.
    /// `token_url` is required unless `request = direct` (no exchange).
    fn check_jwt_assertion(&mut self, block: &Block, label: &Ident) {
        let direct = block.get("request").is_some_and(|e| match &e.value {
            EntryValue::Expr { value, .. } => match &value.kind {
                ExprKind::Name(id) => id.name == "direct",
                ExprKind::Str(s) => s.as_plain().as_deref() == Some("direct"),
                _ => false,
            },
            _ => false,
        });
        if !direct && block.get("token_url").is_none() {
            self.report(
                Diagnostic::error(
                    codes::AUTH_MISSING_FIELD,
                    "`auth jwt_assertion` needs `token_url`",
                )
                .at(label.span, "`token_url` missing")
                .help(
                    "add `token_url = \"...\"` (where the JWT is exchanged for a token), or `request = direct` to send the JWT itself as the bearer token",
                ),
            );
        }
    }

    fn check_jwt_key(&mut self, block: &Block) {
        let alg = block.get("algorithm").and_then(|e| match &e.value {
            EntryValue::Expr { value, .. } => match &value.kind {
                ExprKind::Name(id) => Some(id.name.clone()),
                _ => None,
            },
            _ => None,
        });
        if alg.as_deref() != Some("HS256") {
            return;
        }
        if let Some(key) = block.get("key")
            && let EntryValue::Expr { value, .. } = &key.value
            && let ExprKind::Call(c) = &value.kind
            && (c.func.name == "pem" || c.func.name == "pfx")
        {
            self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                "HS256 signs with a shared secret, not a certificate",
                            )
                            .at(value.span, "a certificate")
                            .help("use `key = secret(\"NAME\")` with HS256, or choose RS256/PS256 for a certificate"),
                        );
        }
    }
}
