//! `rbk import postman`: methods from a Postman collection (v2.1, also
//! v2.0, which has the same shape).
//!
//! Folders become commented sections, requests methods, `{{variables}}`
//! parameters (defaulting to the collection's value) or, when the
//! collection's first URL part is a variable, the instance URL. Collection
//! auth becomes the integration's auth block, folder and request auth the
//! method's. Credentials never reach the output: auth values and variables
//! that hold keys, tokens or passwords become `secret("...")`. The first
//! saved 2xx example with a JSON body gives the outputs.

use std::collections::HashMap;
use std::path::Path;

use super::emit::{self, Auth, Body, Entry, Method, Names, Output, Param};
use super::{Failure, Imported, Node, codes, get, get_str, items};
use crate::diagnostic::Diagnostic;

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The integration's name (default: from the collection's name).
    pub integration: Option<String>,
}

/// Variable names whose values are credentials.
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "key",
    "auth",
    "credential",
    "cookie",
    "session",
];

/// Marks a variable inside JSON text while it is parsed.
const MARK: char = '\u{E000}';
/// Marks a variable that stands where a JSON value would (unquoted).
const VALUE_MARK: char = '\u{E001}';

pub(super) fn is_secret_name(n: &str) -> bool {
    let n = n.to_ascii_lowercase().replace(['-', ' '], "_");
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

/// Imports the collection at `path`.
pub fn import(path: &Path, opts: &Options) -> Result<Imported, Failure> {
    let (sources, file) = super::read_input(path)?;
    let root = match super::parse_document(&sources, file) {
        Ok(v) => v,
        Err(d) => return Err(Failure::one(*d, sources)),
    };
    // v2.1, and v2.0 in the forms older exports wrote (`.../collection/v2/...`,
    // `_postman_schema: ...#2.0.0`); the shape is the same.
    let schema = get(&root, "info")
        .and_then(|i| get_str(i, "schema").or_else(|| get_str(i, "_postman_schema")));
    match schema {
        Some(s) if s.contains("/v2") || s.contains("#2.") => {}
        Some(s) => {
            let d = Diagnostic::error(
                codes::UNSUPPORTED_VERSION,
                format!("Postman collection schema `{s}` is not supported"),
            )
            .at(
                super::find_span(&sources, file, s, 0),
                "the schema is declared here",
            )
            .help("export the collection from Postman as Collection v2.1");
            return Err(Failure::one(d, sources));
        }
        None => {
            let d = Diagnostic::error(
                codes::INVALID_DOCUMENT,
                format!("{} is not a Postman collection", path.display()),
            )
            .at(
                super::find_span(&sources, file, "", 0),
                "expected `info.schema` naming collection v2.1",
            )
            .help("export the collection from Postman as Collection v2.1");
            return Err(Failure::one(d, sources));
        }
    }
    let program = Collection::new(&root, opts).generate(&root, path);
    super::finish(&program)
}

struct Collection {
    integ: String,
    vars: HashMap<String, (String, bool)>,
}

/// One request with where it sits.
struct Found<'a> {
    folders: Vec<String>,
    folder_docs: Vec<String>,
    /// The nearest folder's auth, with that folder's name.
    auth: Option<(&'a Node, String)>,
    item: &'a Node,
}

impl Collection {
    fn new(root: &Node, opts: &Options) -> Collection {
        let name = get(root, "info")
            .and_then(|i| get_str(i, "name"))
            .unwrap_or("collection");
        let integ = opts.integration.clone().unwrap_or_else(|| {
            let n = emit::ident(&name.to_lowercase(), "collection");
            let n = n
                .trim_end_matches("_collection")
                .trim_end_matches("_api")
                .to_string();
            if n.is_empty() { "collection".into() } else { n }
        });
        let mut vars = HashMap::new();
        for v in items(get(root, "variable").unwrap_or(&Node::Null)) {
            if let Some(k) = get_str(v, "key") {
                let value = get(v, "value").map(scalar_text).unwrap_or_default();
                let secret = get_str(v, "type") == Some("secret") || is_secret_name(k);
                vars.insert(k.to_string(), (value, secret));
            }
        }
        Collection { integ, vars }
    }

    fn env(&self, parts: &[&str]) -> String {
        let mut all = vec![self.integ.as_str()];
        all.extend_from_slice(parts);
        emit::env_name(&all)
    }

    fn generate(&self, root: &Node, path: &Path) -> emit::Program {
        let mut found = Vec::new();
        walk(
            get(root, "item").unwrap_or(&Node::Null),
            &mut Vec::new(),
            &mut Vec::new(),
            get(root, "auth").map(|a| (a, String::new())),
            &mut found,
        );
        let mut program = emit::Program::default();
        program.header.push(format!(
            "Generated by `rbk import postman` from {}.",
            path.file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default()
        ));
        program
            .header
            .push("Lines starting `# rbk import:` mark what could not be expressed.".into());
        let info = get(root, "info");
        let mut integ = emit::Integration {
            name: self.integ.clone(),
            ..Default::default()
        };
        if let Some(n) = info.and_then(|i| get_str(i, "name")) {
            integ.doc.extend(emit::doc_lines(n, 1));
        }
        if let Some(d) = info.and_then(|i| description(i)) {
            let lines = emit::doc_lines(d.split("\n\n").next().unwrap_or(""), 4);
            if !lines.is_empty() {
                integ.doc.push(String::new());
                integ.doc.extend(lines);
            }
        }
        if get(root, "event").is_some() {
            integ
                .warnings
                .push("the collection's pre-request and test scripts are not imported".into());
        }

        // The base: the most common first part of the request URLs.
        let mut origins: Vec<(String, usize)> = Vec::new();
        for f in &found {
            let (origin, _) = split_url(&raw_url(request(f.item)));
            match origins.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, n)) => *n += 1,
                None => origins.push((origin, 1)),
            }
        }
        origins.sort_by_key(|o| std::cmp::Reverse(o.1));
        let base = origins.first().map(|(o, _)| o.clone()).unwrap_or_default();
        match whole_var(&base) {
            Some(var) => {
                let url = self
                    .vars
                    .get(var)
                    .map(|(v, _)| v.clone())
                    .filter(|v| v.starts_with("http://") || v.starts_with("https://"))
                    .unwrap_or_else(|| {
                        integ.warnings.push(format!(
                            "the variable `{var}` has no URL value in the collection; http://localhost is assumed"
                        ));
                        "http://localhost".into()
                    });
                program.instances.push(emit::Instance {
                    name: self.integ.clone(),
                    doc: vec![format!("`{{{{{var}}}}}` in the collection")],
                    url: url.trim_end_matches('/').to_string(),
                });
                integ.base_url = "{instance.url}".into();
            }
            None => {
                integ.base_url = emit::escape(base.trim_end_matches('/'));
            }
        }
        integ.auth = match get(root, "auth") {
            Some(a) => self.auth(a, &[], &mut integ.warnings),
            None => None,
        };

        // Requests to other origins get an integration each.
        let mut others: Vec<(String, emit::Integration)> = Vec::new();
        let mut inames = Names::default();
        inames.unique(&self.integ);
        for (origin, _) in origins.iter().skip(1) {
            let mut other = emit::Integration {
                name: inames.unique(&format!("{}_{}", self.integ, origin_ident(origin))),
                auth: integ.auth.clone(),
                ..Default::default()
            };
            other.doc.push(format!("{origin} in the collection"));
            other.base_url = match whole_var(origin) {
                Some(var) => match self.vars.get(var) {
                    Some((v, false)) if v.starts_with("http") => {
                        emit::escape(v.trim_end_matches('/'))
                    }
                    _ => {
                        other.warnings.push(format!(
                            "the variable `{var}` has no URL value in the collection; http://localhost is assumed"
                        ));
                        "http://localhost".into()
                    }
                },
                None => emit::escape(origin.trim_end_matches('/')),
            };
            others.push((origin.clone(), other));
        }

        let mut names: HashMap<String, Names> = HashMap::new();
        let mut last_section: Vec<String> = Vec::new();
        for f in &found {
            let (origin, _) = split_url(&raw_url(request(f.item)));
            let target = others
                .iter()
                .find(|(o, _)| *o == origin)
                .map(|(_, i)| i)
                .unwrap_or(&integ);
            let mut m = self.method(
                f,
                &target.name,
                names.entry(target.name.clone()).or_default(),
                get(root, "auth"),
                &target.auth,
            );
            if f.folders != last_section && !f.folders.is_empty() {
                m.section.push(format!("── {} ──", f.folders.join(" / ")));
                m.section.extend(f.folder_docs.iter().cloned());
            }
            last_section = f.folders.clone();
            program.methods.push(m);
        }
        program.integrations.push(integ);
        program
            .integrations
            .extend(others.into_iter().map(|(_, i)| i));
        program
    }

    fn method(
        &self,
        f: &Found<'_>,
        integration: &str,
        names: &mut Names,
        collection_auth: Option<&Node>,
        integ_auth: &Option<Auth>,
    ) -> Method {
        let item = f.item;
        let req = request(item);
        let title = get_str(item, "name").unwrap_or("request");
        let mut m = Method {
            integration: integration.to_string(),
            name: names.unique(&emit::ident(title, "request")),
            ..Default::default()
        };
        m.doc.extend(emit::doc_lines(title, 1));
        if let Some(d) = description(req).or_else(|| description(item)) {
            let lines = emit::doc_lines(d.split("\n\n").next().unwrap_or(""), 4);
            if !lines.is_empty() && lines != m.doc {
                m.doc.push(String::new());
                m.doc.extend(lines);
            }
        }
        if get(item, "event").is_some() {
            m.warnings
                .push("this request's scripts are not imported".into());
        }
        let verb = get_str(req, "method").unwrap_or("GET").to_ascii_uppercase();
        let verb = if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
            .contains(&verb.as_str())
        {
            verb
        } else {
            m.warnings
                .push(format!("rbk cannot send `{verb}` requests; GET is used"));
            "GET".into()
        };
        m.verb = verb.clone();
        let mut pnames = Names::default();
        let mut params: Vec<Param> = Vec::new();

        // URL: the path after the base, `:name` path variables, query.
        let raw = raw_url(req);
        let (_, rest) = split_url(&raw);
        let url = get(req, "url");
        let path_vars: HashMap<String, String> = url
            .and_then(|u| get(u, "variable"))
            .map(items)
            .unwrap_or(&[])
            .iter()
            .filter_map(|v| {
                Some((
                    get_str(v, "key")?.to_string(),
                    get(v, "value").map(scalar_text).unwrap_or_default(),
                ))
            })
            .collect();
        let path_raw = rest.split(['?', '#']).next().unwrap_or("");
        let mut path = String::new();
        for (i, seg) in path_raw.split('/').enumerate() {
            if i > 0 {
                path.push('/');
            }
            if let Some(var) = seg.strip_prefix(':').filter(|v| !v.is_empty()) {
                let name = self.param(
                    &mut pnames,
                    &mut params,
                    var,
                    path_vars.get(var).filter(|v| !v.is_empty()).cloned(),
                );
                path.push('{');
                path.push_str(&name);
                path.push('}');
            } else {
                path.push_str(&self.template_inner(seg, &mut pnames, &mut params));
            }
        }
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        m.path = path;
        let query: Vec<(String, String)> = match url.and_then(|u| get(u, "query")) {
            Some(q) => items(q)
                .iter()
                .filter(|e| get(e, "disabled").and_then(Node::as_bool) != Some(true))
                .filter_map(|e| {
                    Some((
                        get_str(e, "key")?.to_string(),
                        get(e, "value").map(scalar_text).unwrap_or_default(),
                    ))
                })
                .collect(),
            None => rest
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
        };
        for (k, v) in query {
            let value = if whole_var(&v).is_none() && !v.contains("{{") {
                if is_secret_name(&k) {
                    emit::secret(&self.env(&[&k]))
                } else {
                    let name = pnames.unique(&emit::param_ident(&k));
                    params.push(Param {
                        name: name.clone(),
                        ty: "string".into(),
                        default: Some(emit::string(&v)),
                        doc: Vec::new(),
                    });
                    name
                }
            } else {
                self.template(&v, &mut pnames, &mut params)
            };
            m.query.push(Entry {
                key: k,
                value,
                doc: Vec::new(),
            });
        }

        // Headers.
        let mut content_type: Option<String> = None;
        for h in items(get(req, "header").unwrap_or(&Node::Null)) {
            if get(h, "disabled").and_then(Node::as_bool) == Some(true) {
                continue;
            }
            let Some(k) = get_str(h, "key") else { continue };
            let v = get(h, "value").map(scalar_text).unwrap_or_default();
            if k.eq_ignore_ascii_case("content-type") {
                content_type = Some(v);
                continue;
            }
            let value = if (is_secret_name(k) || k.eq_ignore_ascii_case("authorization"))
                && !v.contains("{{")
            {
                emit::secret(&self.env(&[k]))
            } else {
                self.template(&v, &mut pnames, &mut params)
            };
            m.headers.push(Entry {
                key: k.to_string(),
                value,
                doc: Vec::new(),
            });
        }

        // Body.
        if let Some(body) = get(req, "body") {
            m.body = self.body(
                body,
                &content_type,
                &mut m.warnings,
                &mut pnames,
                &mut params,
            );
            if m.body.is_some() && (verb == "GET" || verb == "HEAD") {
                m.warnings.push(format!(
                    "the request has a body, which rbk does not send with {verb}"
                ));
                m.body = None;
            }
        }
        if m.body.is_none()
            && let Some(ct) = content_type
        {
            m.headers.push(Entry {
                key: "Content-Type".into(),
                value: self.template(&ct, &mut pnames, &mut params),
                doc: Vec::new(),
            });
        }

        // Auth: the request's, else the nearest folder's, else the collection's.
        let own: Option<(&Node, String)> = match own_auth(req) {
            Some(a) => Some((a, m.name.clone())),
            None => f.auth.clone(),
        };
        let same_as_collection = match (&own, collection_auth) {
            (Some((a, _)), Some(c)) => std::ptr::eq(*a, c),
            (None, _) => true,
            _ => false,
        };
        if !same_as_collection && let Some((a, scope)) = own {
            let scope = emit::snake(&scope);
            let auth = self.auth(a, &[scope.as_str()], &mut m.warnings);
            m.auth = match (auth, integ_auth) {
                (None, Some(_)) => Some(Auth::None),
                (None, None) => None,
                (Some(a), Some(i)) if a == *i => None,
                (Some(a), _) => Some(a),
            };
        }

        // Outputs from the first 2xx example with a JSON body.
        for r in items(get(item, "response").unwrap_or(&Node::Null)) {
            let code = get(r, "code").and_then(Node::as_u64).unwrap_or(0);
            if !(200..300).contains(&code) {
                continue;
            }
            let Some(text) = get_str(r, "body") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Node>(text) else {
                continue;
            };
            outputs(&mut m, &v);
            break;
        }

        let (required, optional): (Vec<Param>, Vec<Param>) =
            params.into_iter().partition(|p| p.default.is_none());
        m.params = required;
        m.params.extend(optional);
        m
    }

    /// A parameter for a variable (once per name), with its default.
    fn param(
        &self,
        pnames: &mut Names,
        params: &mut Vec<Param>,
        var: &str,
        default: Option<String>,
    ) -> String {
        let base = emit::param_ident(var);
        if let Some(p) = params.iter().find(|p| p.name == base) {
            return p.name.clone();
        }
        let name = pnames.unique(&base);
        let default = default.or_else(|| {
            self.vars
                .get(var)
                .filter(|(_, secret)| !secret)
                .map(|(v, _)| v.clone())
        });
        params.push(Param {
            name: name.clone(),
            ty: "string".into(),
            default: default.map(|d| emit::string(&d)),
            doc: Vec::new(),
        });
        name
    }

    /// The expression for `{{var}}`: a secret for credentials, else a
    /// parameter.
    fn var_expr(&self, var: &str, pnames: &mut Names, params: &mut Vec<Param>) -> String {
        let secret = self.vars.get(var).map(|(_, s)| *s).unwrap_or(false) || is_secret_name(var);
        if secret {
            emit::secret(&self.env(&[var]))
        } else {
            self.param(pnames, params, var, None)
        }
    }

    /// A variable standing for a JSON value: a parameter typed by the
    /// collection's value (`42` → `int`), or a secret.
    fn typed_var_expr(&self, var: &str, pnames: &mut Names, params: &mut Vec<Param>) -> String {
        let known = self.vars.get(var).filter(|(_, secret)| !secret);
        let Some((value, _)) = known else {
            return self.var_expr(var, pnames, params);
        };
        let parsed = serde_json::from_str::<serde_json::Value>(value).ok();
        let ty = match &parsed {
            Some(serde_json::Value::Number(n)) if n.is_i64() => "int",
            Some(serde_json::Value::Number(_)) => "float",
            Some(serde_json::Value::Bool(_)) => "bool",
            _ => return self.var_expr(var, pnames, params),
        };
        let base = emit::param_ident(var);
        if let Some(p) = params.iter().find(|p| p.name == base) {
            return p.name.clone();
        }
        let name = pnames.unique(&base);
        params.push(Param {
            name: name.clone(),
            ty: ty.into(),
            default: Some(value.trim().to_string()),
            doc: Vec::new(),
        });
        name
    }

    /// Text with `{{var}}`s as an rbk expression.
    fn template(&self, text: &str, pnames: &mut Names, params: &mut Vec<Param>) -> String {
        if let Some(var) = whole_var(text) {
            return self.var_expr(var, pnames, params);
        }
        format!("\"{}\"", self.template_inner(text, pnames, params))
    }

    /// The inside of a string literal for text with `{{var}}`s.
    fn template_inner(&self, text: &str, pnames: &mut Names, params: &mut Vec<Param>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            out.push_str(&emit::escape(&rest[..open]));
            let var = after[..close].trim();
            let e = self.var_expr(var, pnames, params);
            out.push('{');
            out.push_str(&e);
            out.push('}');
            rest = &after[close + 2..];
        }
        out.push_str(&emit::escape(rest));
        out
    }

    fn body(
        &self,
        body: &Node,
        content_type: &Option<String>,
        warnings: &mut Vec<String>,
        pnames: &mut Names,
        params: &mut Vec<Param>,
    ) -> Option<Body> {
        let mode = get_str(body, "mode").unwrap_or("raw");
        match mode {
            "raw" => {
                let raw = get_str(body, "raw").unwrap_or("");
                if raw.trim().is_empty() {
                    return None;
                }
                let language = get(body, "options")
                    .and_then(|o| get(o, "raw"))
                    .and_then(|r| get_str(r, "language"))
                    .unwrap_or("text");
                let ct = content_type.clone().unwrap_or_else(|| {
                    match language {
                        "json" => "application/json",
                        "xml" => "application/xml",
                        "html" => "text/html",
                        "javascript" => "application/javascript",
                        _ => "text/plain",
                    }
                    .into()
                });
                if ct.to_ascii_lowercase().contains("json")
                    && let Some(v) = marked_json(raw)
                {
                    return Some(Body::Json(self.json_expr(&v, pnames, params)));
                }
                Some(Body::Text {
                    value: self.template(raw, pnames, params),
                    content_type: ct,
                })
            }
            "urlencoded" | "formdata" => {
                let mut list = Vec::new();
                for e in items(get(body, mode).unwrap_or(&Node::Null)) {
                    if get(e, "disabled").and_then(Node::as_bool) == Some(true) {
                        continue;
                    }
                    let Some(k) = get_str(e, "key") else { continue };
                    if get_str(e, "type") == Some("file") {
                        match get(e, "src") {
                            Some(Node::String(src)) if !src.is_empty() => list.push(Entry {
                                key: k.to_string(),
                                value: format!("bytes({})", emit::string(src)),
                                doc: Vec::new(),
                            }),
                            _ => warnings.push(format!(
                                "file field `{k}` has no file; add it as `{k} = bytes(\"FILE\")`"
                            )),
                        }
                        continue;
                    }
                    let v = get(e, "value").map(scalar_text).unwrap_or_default();
                    let value = if is_secret_name(k) && !v.contains("{{") {
                        emit::secret(&self.env(&[k]))
                    } else {
                        self.template(&v, pnames, params)
                    };
                    list.push(Entry {
                        key: k.to_string(),
                        value,
                        doc: Vec::new(),
                    });
                }
                if list.is_empty() {
                    return None;
                }
                Some(if mode == "urlencoded" {
                    Body::Form(list)
                } else {
                    Body::Multipart(list)
                })
            }
            "graphql" => {
                let g = get(body, "graphql")?;
                let query = get_str(g, "query").unwrap_or("");
                let mut fields = vec![format!(
                    "    query: {},\n",
                    self.template(query, pnames, params)
                )];
                if let Some(vars) = get_str(g, "variables").and_then(marked_json) {
                    fields.push(format!(
                        "    variables: {},\n",
                        self.json_expr(&vars, pnames, params)
                    ));
                }
                Some(Body::Json(format!("{{\n{}  }}", fields.concat())))
            }
            other => {
                warnings.push(format!("a `{other}` body is not imported"));
                None
            }
        }
    }

    /// A parsed JSON body as an rbk expression, marked variables resolved.
    fn json_expr(&self, v: &Node, pnames: &mut Names, params: &mut Vec<Param>) -> String {
        match v {
            Node::String(s)
                if s.starts_with(VALUE_MARK)
                    && s.ends_with(VALUE_MARK)
                    && s.chars().filter(|c| *c == VALUE_MARK).count() == 2 =>
            {
                let var = s.trim_matches(VALUE_MARK);
                self.typed_var_expr(var, pnames, params)
            }
            Node::String(s) if s.contains(MARK) => {
                let unmarked = unmark(s);
                self.template(&unmarked, pnames, params)
            }
            Node::Sequence(list) => {
                let parts: Vec<String> = list
                    .iter()
                    .map(|x| self.json_expr(x, pnames, params))
                    .collect();
                format!("[{}]", parts.join(", "))
            }
            Node::Mapping(_) => {
                let parts: Vec<String> = super::entries(v)
                    .map(|(k, x)| {
                        format!("{}: {}", emit::key(k), self.json_expr(x, pnames, params))
                    })
                    .collect();
                if parts.is_empty() {
                    "{}".into()
                } else {
                    format!("{{ {} }}", parts.join(", "))
                }
            }
            other => super::literal(other),
        }
    }

    /// An auth block from a Postman auth object; `scope` names the method
    /// for method-level secrets.
    fn auth(&self, a: &Node, scope: &[&str], warnings: &mut Vec<String>) -> Option<Auth> {
        let kind = get_str(a, "type").unwrap_or("noauth");
        let field = |name: &str| -> Option<String> {
            items(get(a, kind).unwrap_or(&Node::Null))
                .iter()
                .find(|e| get_str(e, "key") == Some(name))
                .and_then(|e| get(e, "value"))
                .map(scalar_text)
        };
        let env = |suffix: &str| {
            let mut parts: Vec<&str> = scope.to_vec();
            parts.push(suffix);
            emit::secret(&self.env(&parts))
        };
        let plain = |text: &str| -> String {
            // Non-secret settings (URLs, names) may use variables too.
            let mut out = String::new();
            let mut rest = text;
            while let Some(open) = rest.find("{{") {
                let after = &rest[open + 2..];
                let Some(close) = after.find("}}") else { break };
                out.push_str(&emit::escape(&rest[..open]));
                let var = after[..close].trim();
                let value = self
                    .vars
                    .get(var)
                    .map(|(v, _)| v.clone())
                    .unwrap_or_default();
                out.push_str(&emit::escape(&value));
                rest = &after[close + 2..];
            }
            out.push_str(&emit::escape(rest));
            format!("\"{out}\"")
        };
        match kind {
            "noauth" => None,
            "bearer" => Some(Auth::Bearer {
                token: env("token"),
                header: None,
                prefix: None,
            }),
            "basic" => Some(Auth::Basic {
                username: env("username"),
                password: env("password"),
            }),
            "apikey" => Some(Auth::ApiKey {
                name: field("key").unwrap_or_else(|| "X-API-Key".into()),
                value: env("api_key"),
                in_query: field("in").as_deref() == Some("query"),
            }),
            "oauth2" => {
                let grant = match field("grant_type").as_deref() {
                    Some("client_credentials") => "client_credentials",
                    Some("password_credentials") | Some("password") => "password",
                    Some("authorization_code_with_pkce") => "authorization_code_pkce",
                    Some("authorization_code") | None => "authorization_code",
                    Some(other) => {
                        warnings.push(format!(
                            "the OAuth 2.0 grant `{other}` is not supported; add the auth block by hand"
                        ));
                        return None;
                    }
                };
                let Some(token_url) = field("accessTokenUrl") else {
                    warnings.push("the OAuth 2.0 auth has no access token URL".into());
                    return None;
                };
                let mut fields = vec![
                    ("grant".to_string(), grant.to_string()),
                    ("token_url".into(), plain(&token_url)),
                ];
                if grant.starts_with("authorization_code") {
                    let Some(auth_url) = field("authUrl") else {
                        warnings.push("the OAuth 2.0 auth has no authorization URL".into());
                        return None;
                    };
                    fields.push(("auth_url".into(), plain(&auth_url)));
                }
                let mut cid = scope.to_vec();
                cid.push("client_id");
                fields.push((
                    "client_id".into(),
                    format!("env({})", emit::string(&self.env(&cid))),
                ));
                if grant != "authorization_code_pkce" {
                    fields.push(("client_secret".into(), env("client_secret")));
                }
                if grant == "password" {
                    fields.push(("username".into(), env("username")));
                    fields.push(("password".into(), env("password")));
                }
                if let Some(s) = field("scope").filter(|s| !s.is_empty()) {
                    fields.push(("scope".into(), plain(&s)));
                }
                Some(Auth::OAuth2 { fields })
            }
            other => {
                warnings.push(format!(
                    "Postman `{other}` auth cannot be expressed in rbk; add an auth block by hand"
                ));
                None
            }
        }
    }
}

fn walk<'a>(
    list: &'a Node,
    folders: &mut Vec<String>,
    docs: &mut Vec<String>,
    auth: Option<(&'a Node, String)>,
    out: &mut Vec<Found<'a>>,
) {
    for item in items(list) {
        if let Some(children) = get(item, "item") {
            folders.push(get_str(item, "name").unwrap_or("folder").to_string());
            let saved = docs.len();
            if let Some(d) = description(item) {
                docs.extend(emit::doc_lines(d.split("\n\n").next().unwrap_or(""), 3));
            }
            let name = folders.last().cloned().unwrap_or_default();
            let auth = own_auth(item).map(|a| (a, name)).or(auth.clone());
            walk(children, folders, docs, auth, out);
            docs.truncate(saved);
            folders.pop();
        } else if get(item, "request").is_some() {
            out.push(Found {
                folders: folders.clone(),
                folder_docs: docs.clone(),
                auth: auth.clone(),
                item,
            });
        }
    }
}

/// An item's own auth; `inherit` (as some exports write it) is none.
fn own_auth(v: &Node) -> Option<&Node> {
    get(v, "auth").filter(|a| get_str(a, "type") != Some("inherit"))
}

fn request(item: &Node) -> &Node {
    get(item, "request").unwrap_or(&Node::Null)
}

/// A description: text, or `{content: text}`.
fn description(v: &Node) -> Option<&str> {
    match get(v, "description")? {
        Node::String(s) => Some(s),
        d => get_str(d, "content"),
    }
}

/// The request's URL as text.
fn raw_url(req: &Node) -> String {
    match get(req, "url") {
        Some(Node::String(s)) => s.clone(),
        Some(u) => match get_str(u, "raw") {
            Some(r) => r.to_string(),
            None => {
                let host: Vec<String> = items(get(u, "host").unwrap_or(&Node::Null))
                    .iter()
                    .map(scalar_text)
                    .collect();
                let path: Vec<String> = items(get(u, "path").unwrap_or(&Node::Null))
                    .iter()
                    .map(scalar_text)
                    .collect();
                let proto = get_str(u, "protocol")
                    .map(|p| format!("{p}://"))
                    .unwrap_or_default();
                format!("{proto}{}/{}", host.join("."), path.join("/"))
            }
        },
        None => String::new(),
    }
}

/// `https://h/a/b?q` → (`https://h`, `/a/b?q`); `{{base}}/a` → (`{{base}}`, `/a`).
fn split_url(raw: &str) -> (String, String) {
    let raw = raw.trim();
    let after_scheme = raw.find("://").map(|i| i + 3).unwrap_or(0);
    let cut = raw[after_scheme..]
        .find(['/', '?'])
        .map(|i| i + after_scheme)
        .unwrap_or(raw.len());
    (raw[..cut].to_string(), raw[cut..].to_string())
}

/// `https://status.acme.example` → `status_acme`; `{{other}}` → `other`.
fn origin_ident(origin: &str) -> String {
    if let Some(v) = whole_var(origin) {
        return emit::ident(v, "api");
    }
    let host = origin.split("://").nth(1).unwrap_or(origin);
    let host = host.split(':').next().unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let keep = if labels.len() > 2 {
        &labels[..labels.len() - 1]
    } else {
        &labels[..1]
    };
    emit::ident(&keep.join("_"), "api")
}

/// `{{name}}` when the text is exactly one variable.
fn whole_var(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Parses JSON text holding `{{var}}`s: each is marked (U+E000 around the name), quoted
/// when it stands where a value would.
fn marked_json(raw: &str) -> Option<Node> {
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = raw;
    while !rest.is_empty() {
        if rest.starts_with("{{")
            && let Some(close) = rest[2..].find("}}")
        {
            let var = rest[2..2 + close].trim();
            if in_string {
                out.push_str(&format!("{MARK}{var}{MARK}"));
            } else {
                out.push_str(&format!("\"{VALUE_MARK}{var}{VALUE_MARK}\""));
            }
            rest = &rest[close + 4..];
            continue;
        }
        let c = rest.chars().next()?;
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str::<Node>(&out).ok()
}

/// Marked names back to `{{var}}`.
fn unmark(s: &str) -> String {
    let mut out = String::new();
    let mut parts = s.split(MARK);
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut is_var = true;
    for p in parts {
        if is_var {
            out.push_str("{{");
            out.push_str(p);
            out.push_str("}}");
        } else {
            out.push_str(p);
        }
        is_var = !is_var;
    }
    out
}

/// Outputs for the top-level fields of an example body.
fn outputs(m: &mut Method, v: &Node) {
    let mut names = Names::default();
    match v {
        Node::Mapping(_) => {
            for (k, x) in super::entries(v) {
                m.outputs.push(Output {
                    name: names.unique(&emit::output_ident(k)),
                    ty: Some(infer(x)),
                    expr: format!("${}", emit::jsonpath_member(k)),
                    doc: Vec::new(),
                });
            }
        }
        Node::Sequence(_) => m.outputs.push(Output {
            name: "items".into(),
            ty: Some("[json]".into()),
            expr: "$[*]".into(),
            doc: vec!["The items of the response".into()],
        }),
        _ => {}
    }
}

/// The rbk type of an example value.
fn infer(v: &Node) -> String {
    match v {
        Node::String(_) => "string".into(),
        Node::Bool(_) => "bool".into(),
        Node::Number(n) if n.is_i64() || n.is_u64() => "int".into(),
        Node::Number(_) => "float".into(),
        Node::Sequence(list) => {
            let tys: Vec<String> = list.iter().map(infer).collect();
            match tys.first() {
                Some(t) if !t.starts_with('[') && t != "json" && tys.iter().all(|x| x == t) => {
                    format!("[{t}]")
                }
                _ => "[json]".into(),
            }
        }
        _ => "json".into(),
    }
}

fn scalar_text(v: &Node) -> String {
    match v {
        Node::String(s) => s.clone(),
        Node::Number(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("{{baseUrl}}/tickets/:id?x=1"),
            ("{{baseUrl}}".into(), "/tickets/:id?x=1".into())
        );
        assert_eq!(
            split_url("https://h.example.com/a"),
            ("https://h.example.com".into(), "/a".into())
        );
        assert_eq!(whole_var(" {{token}} "), Some("token"));
    }

    #[test]
    fn json_with_variables_parses() {
        let v = marked_json(r#"{"a": {{count}}, "b": "x-{{name}}"}"#).expect("parses");
        assert_eq!(unmark(get_str(&v, "b").unwrap_or("")), "x-{{name}}");
    }
}
