//! `rbk import openapi`: one integration and one method per operation from
//! an OpenAPI 3.0 or 3.1 document (JSON or YAML).
//!
//! The document is read as a plain tree (see `super::Node`) rather than
//! into a typed OpenAPI model: the well-kept model crates each cover one
//! version (`openapiv3` 3.0, `oas3` 3.1), while rbk needs both, and only a
//! small part of either (servers, security schemes, operations, the top
//! level of schemas). `$ref`s are resolved here, within the document and
//! into local files beside it (`other.yaml#/components/schemas/Pet`); every
//! reference is checked once up front, so an unresolvable one is an error
//! that names the place, whether or not a selected operation uses it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::emit::{self, Auth, Body, Entry, Method, Names, Output, Param};
use super::{Failure, Imported, Node, codes, entries, get, get_str, items};
use crate::diagnostic::Diagnostic;
use crate::syntax::span::{FileId, SourceMap};

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The integration's name (default: from `info.title`).
    pub integration: Option<String>,
    /// Only operations with one of these tags.
    pub tags: Vec<String>,
    /// Only these operations (by `operationId`, or the method name).
    pub operations: Vec<String>,
}

const VERBS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];
/// The largest file a `$ref` may read.
const MAX_REF_FILE: u64 = 64 << 20;
/// Deepest `$ref` chain followed (a loop of references stops here).
const MAX_REF_CHAIN: usize = 64;

/// Imports the document at `path`.
pub fn import(path: &Path, opts: &Options) -> Result<Imported, Failure> {
    let (sources, file) = super::read_input(path)?;
    let mut spec = Spec {
        sources,
        docs: Vec::new(),
        by_path: HashMap::new(),
    };
    let root = match super::parse_document(&spec.sources, file) {
        Ok(v) => v,
        Err(d) => return Err(Failure::one(*d, spec.sources)),
    };
    spec.by_path.insert(canonical(path), 0);
    spec.docs.push(Doc {
        file,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        root,
    });
    if let Err(d) = spec.check_version() {
        return Err(Failure::one(*d, spec.sources));
    }
    let mut errors = spec.load_and_check_refs();
    if !errors.is_empty() {
        errors.truncate(20);
        return Err(Failure {
            diagnostics: errors,
            sources: spec.sources,
        });
    }
    let program = spec.generate(opts)?;
    super::finish(&program)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

struct Doc {
    file: FileId,
    dir: PathBuf,
    root: Node,
}

struct Spec {
    sources: SourceMap,
    docs: Vec<Doc>,
    by_path: HashMap<PathBuf, usize>,
}

/// A node and the document it lives in (for the `$ref`s inside it).
type At<'a> = (usize, &'a Node);

/// An object schema's properties (in order) and its required names.
type Props<'a> = (Vec<(String, At<'a>)>, Vec<String>);

/// A rbk type, and whether `null` is allowed.
#[derive(Debug, Clone, PartialEq)]
struct Ty {
    base: String,
    nullable: bool,
}

impl Ty {
    fn json() -> Ty {
        Ty {
            base: "json".into(),
            nullable: false,
        }
    }
    fn text(&self, optional: bool) -> String {
        if (self.nullable || optional) && self.base != "json" {
            format!("{}?", self.base)
        } else {
            self.base.clone()
        }
    }
}

impl Spec {
    fn root(&self) -> &Node {
        &self.docs[0].root
    }

    fn check_version(&self) -> Result<(), Box<Diagnostic>> {
        let file = self.docs[0].file;
        let root = self.root();
        if root.as_mapping().is_none() {
            return Err(Box::new(
                Diagnostic::error(
                    codes::INVALID_DOCUMENT,
                    "an OpenAPI document is an object at the top level",
                )
                .at(
                    super::find_span(&self.sources, file, "", 0),
                    "this is not an object",
                )
                .help("give an OpenAPI 3.0 or 3.1 document"),
            ));
        }
        if let Some(v) = get(root, "swagger") {
            let text = scalar_text(v);
            return Err(Box::new(
                Diagnostic::error(
                    codes::UNSUPPORTED_VERSION,
                    format!("Swagger {text} documents are not supported"),
                )
                .at(
                    super::find_span(&self.sources, file, &text, 0),
                    "the version is declared here",
                )
                .help(
                    "convert it to OpenAPI 3 first (e.g. with swagger2openapi), then import that",
                ),
            ));
        }
        match get(root, "openapi").map(scalar_text) {
            Some(v) if v.starts_with("3.0") || v.starts_with("3.1") => Ok(()),
            Some(v) => Err(Box::new(
                Diagnostic::error(
                    codes::UNSUPPORTED_VERSION,
                    format!("OpenAPI {v} is not supported"),
                )
                .at(
                    super::find_span(&self.sources, file, &v, 0),
                    "the version is declared here",
                )
                .help("rbk imports OpenAPI 3.0 and 3.1 documents"),
            )),
            None => Err(Box::new(
                Diagnostic::error(
                    codes::UNSUPPORTED_VERSION,
                    "the document has no `openapi` version field",
                )
                .at(
                    super::find_span(&self.sources, file, "", 0),
                    "expected `openapi: 3.0.x` or `3.1.x` at the top level",
                )
                .help("rbk imports OpenAPI 3.0 and 3.1 documents"),
            )),
        }
    }

    /// Loads every local file a `$ref` names (transitively) and checks that
    /// every reference resolves. Returns the errors.
    fn load_and_check_refs(&mut self) -> Vec<Diagnostic> {
        let mut errors = Vec::new();
        let mut i = 0;
        while i < self.docs.len() {
            let mut refs = Vec::new();
            collect_refs(&self.docs[i].root, &mut String::new(), &mut refs);
            for (r, at) in &refs {
                let (file_part, _) = split_ref(r);
                if file_part.is_empty() || is_remote(file_part) {
                    continue;
                }
                let path = self.docs[i].dir.join(file_part);
                let key = canonical(&path);
                if self.by_path.contains_key(&key) {
                    continue;
                }
                // Only regular files under the document's own directory, of
                // a sane size: a document may not make rbk read (and show,
                // in an error) files elsewhere on the machine.
                let base = canonical(&self.docs[0].dir);
                let base = if base.as_os_str().is_empty() {
                    canonical(Path::new("."))
                } else {
                    base
                };
                let refused = match std::fs::metadata(&key) {
                    Ok(m) if !m.is_file() => Some("it is not a regular file".to_string()),
                    Ok(m) if m.len() > MAX_REF_FILE => {
                        Some(format!("it is larger than {} MB", MAX_REF_FILE >> 20))
                    }
                    Ok(_) if !key.starts_with(&base) => Some(format!(
                        "it is outside the document's directory {}",
                        base.display()
                    )),
                    _ => None,
                };
                if let Some(why) = refused {
                    errors.push(self.ref_error(
                        i,
                        r,
                        at,
                        &format!("{} is refused: {why}", path.display()),
                    ));
                    continue;
                }
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let file = self.sources.add(path.clone(), text);
                        match super::parse_document(&self.sources, file) {
                            Ok(root) => {
                                self.by_path.insert(key, self.docs.len());
                                self.docs.push(Doc {
                                    file,
                                    dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                                    root,
                                });
                            }
                            Err(d) => {
                                errors.push(*d);
                                return errors;
                            }
                        }
                    }
                    Err(e) => errors.push(self.ref_error(
                        i,
                        r,
                        at,
                        &format!("cannot read {}: {e}", path.display()),
                    )),
                }
            }
            for (r, at) in &refs {
                if let Err(why) = self.lookup(i, r) {
                    errors.push(self.ref_error(i, r, at, &why));
                }
            }
            if !errors.is_empty() {
                return errors;
            }
            i += 1;
        }
        errors
    }

    fn ref_error(&self, doc: usize, r: &str, at: &str, why: &str) -> Diagnostic {
        let file = self.docs[doc].file;
        Diagnostic::error(
            codes::UNRESOLVED_REF,
            format!("cannot resolve $ref `{r}` at {at}: {why}"),
        )
        .at(
            super::find_span(&self.sources, file, r, 0),
            "this reference points at nothing",
        )
        .help(if is_remote(r) {
            "rbk does not fetch remote documents: save it beside this one and refer to it by a relative path"
        } else {
            "refer to a component that exists, e.g. `#/components/schemas/Name`, or a file beside this document"
        })
    }

    /// The node a reference names, and its document.
    fn lookup(&self, doc: usize, r: &str) -> Result<At<'_>, String> {
        let (file_part, pointer) = split_ref(r);
        if is_remote(file_part) {
            return Err("remote references are not fetched".into());
        }
        let target = if file_part.is_empty() {
            doc
        } else {
            let key = canonical(&self.docs[doc].dir.join(file_part));
            *self
                .by_path
                .get(&key)
                .ok_or_else(|| format!("the file {file_part} was not loaded"))?
        };
        let mut node = &self.docs[target].root;
        if pointer.is_empty() || pointer == "/" {
            return Ok((target, node));
        }
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(format!("`{pointer}` is not a JSON pointer"));
        };
        for raw in rest.split('/') {
            let token = percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .replace("~1", "/")
                .replace("~0", "~");
            node = match node {
                Node::Mapping(_) => get(node, &token),
                Node::Sequence(s) => token.parse::<usize>().ok().and_then(|i| s.get(i)),
                _ => None,
            }
            .ok_or_else(|| format!("there is no `{token}` there"))?;
        }
        Ok((target, node))
    }

    /// Follows `$ref`s until a node that is not one (on failure, the node
    /// itself: every reference was checked up front).
    fn deref<'a>(&'a self, at: At<'a>) -> At<'a> {
        let mut cur = at;
        for _ in 0..MAX_REF_CHAIN {
            match get_str(cur.1, "$ref") {
                Some(r) => match self.lookup(cur.0, r) {
                    Ok(next) => cur = next,
                    Err(_) => return cur,
                },
                None => return cur,
            }
        }
        cur
    }

    // ------------------------------------------------------------ types

    fn ty(&self, at: At<'_>) -> Ty {
        self.ty_depth(at, 0)
    }

    fn ty_depth(&self, at: At<'_>, depth: usize) -> Ty {
        if depth > 16 {
            return Ty::json();
        }
        let (d, s) = self.deref(at);
        let mut nullable = get(s, "nullable").and_then(Node::as_bool) == Some(true);
        let mut kind: Option<String> = None;
        match get(s, "type") {
            Some(Node::String(t)) => kind = Some(t.clone()),
            Some(Node::Sequence(list)) => {
                let names: Vec<&str> = list.iter().filter_map(Node::as_str).collect();
                if names.contains(&"null") {
                    nullable = true;
                }
                let rest: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
                if rest.len() == 1 {
                    kind = Some(rest[0].to_string());
                } else {
                    return Ty {
                        base: "json".into(),
                        nullable,
                    };
                }
            }
            _ => {}
        }
        if kind.is_none() {
            for combo in ["allOf", "anyOf", "oneOf"] {
                if let Some(list) = get(s, combo).map(items) {
                    let members: Vec<&Node> = list
                        .iter()
                        .filter(|m| {
                            let (_, m) = self.deref((d, m));
                            get_str(m, "type") != Some("null")
                        })
                        .collect();
                    if members.len() < list.len() {
                        nullable = true;
                    }
                    let tys: Vec<Ty> = members
                        .iter()
                        .map(|m| self.ty_depth((d, m), depth + 1))
                        .collect();
                    if let Some(first) = tys.first()
                        && (combo != "allOf" || tys.len() == 1)
                        && tys.iter().all(|t| t.base == first.base)
                    {
                        return Ty {
                            base: first.base.clone(),
                            nullable: nullable || tys.iter().any(|t| t.nullable),
                        };
                    }
                    return Ty {
                        base: "json".into(),
                        nullable,
                    };
                }
            }
            if get(s, "properties").is_some() {
                kind = Some("object".into());
            } else if get(s, "items").is_some() {
                kind = Some("array".into());
            } else if let Some(e) = get(s, "enum").map(items)
                && !e.is_empty()
                && e.iter().all(|v| v.is_string() || v.is_null())
            {
                kind = Some("string".into());
            }
        }
        let base = match kind.as_deref() {
            Some("string") => "string".to_string(),
            Some("integer") => "int".to_string(),
            Some("number") => "float".to_string(),
            Some("boolean") => "bool".to_string(),
            Some("array") => match get(s, "items") {
                Some(it) => {
                    let inner = self.ty_depth((d, it), depth + 1);
                    if inner.nullable || inner.base.starts_with('[') {
                        "[json]".to_string()
                    } else {
                        format!("[{}]", inner.base)
                    }
                }
                None => "[json]".to_string(),
            },
            _ => "json".to_string(),
        };
        Ty { base, nullable }
    }

    /// The top-level properties of an object schema (allOf merged), with
    /// the required names; `None` when it is not an object with properties.
    fn props<'a>(&'a self, at: At<'a>) -> Option<Props<'a>> {
        let mut out = Vec::new();
        let mut required = Vec::new();
        self.collect_props(at, &mut out, &mut required, 0);
        if out.is_empty() {
            None
        } else {
            Some((out, required))
        }
    }

    fn collect_props<'a>(
        &'a self,
        at: At<'a>,
        out: &mut Vec<(String, At<'a>)>,
        required: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 16 {
            return;
        }
        let (d, s) = self.deref(at);
        for m in get(s, "allOf").map(items).unwrap_or(&[]) {
            self.collect_props((d, m), out, required, depth + 1);
        }
        for (k, v) in get(s, "properties").map(entries).into_iter().flatten() {
            if let Some(slot) = out.iter_mut().find(|(n, _)| n == k) {
                slot.1 = (d, v);
            } else {
                out.push((k.to_string(), (d, v)));
            }
        }
        for r in get(s, "required").map(items).unwrap_or(&[]) {
            if let Some(r) = r.as_str()
                && !required.iter().any(|x| x == r)
            {
                required.push(r.to_string());
            }
        }
    }

    fn has_combinator(&self, at: At<'_>) -> bool {
        let (_, s) = self.deref(at);
        get(s, "oneOf").is_some() || get(s, "anyOf").is_some()
    }

    // ------------------------------------------------------------ output

    fn generate(&self, opts: &Options) -> Result<super::emit::Program, Failure> {
        let root = self.root();
        let info = get(root, "info");
        let title = info.and_then(|i| get_str(i, "title")).unwrap_or("api");
        let name = match &opts.integration {
            Some(n) => n.clone(),
            None => integration_name(title),
        };
        let mut program = super::emit::Program::default();
        let file = &self.sources.get(self.docs[0].file).path;
        program.header.push(format!(
            "Generated by `rbk import openapi` from {} (OpenAPI {}).",
            file.file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default(),
            get(root, "openapi").map(scalar_text).unwrap_or_default()
        ));
        program
            .header
            .push("Lines starting `# rbk import:` mark what could not be expressed.".into());

        let mut integ = emit::Integration {
            name: name.clone(),
            version: info.and_then(|i| get(i, "version")).map(scalar_text),
            ..Default::default()
        };
        integ.doc = emit::doc_lines(title, 1);
        if let Some(desc) = info.and_then(|i| get_str(i, "description")) {
            let first = desc.split("\n\n").next().unwrap_or("");
            let lines = emit::doc_lines(first, 4);
            if !lines.is_empty() {
                integ.doc.push(String::new());
                integ.doc.extend(lines);
            }
        }
        let (instances, base) = self.servers(&name, &mut integ.warnings);
        program.instances = instances;
        integ.base_url = base;

        // Operations, selected.
        let mut ops: Vec<(String, String, At<'_>, Option<At<'_>>)> = Vec::new();
        for (path, item) in get(root, "paths").map(entries).into_iter().flatten() {
            let (d, item) = self.deref((0, item));
            if get(item, "trace").is_some() {
                integ.warnings.push(format!(
                    "TRACE {path} is not imported: rbk does not send TRACE requests"
                ));
            }
            for verb in VERBS {
                if let Some(op) = get(item, verb) {
                    // An operation may itself be a `$ref` (into another file).
                    let op = self.deref((d, op));
                    ops.push((path.to_string(), verb.to_string(), op, Some((d, item))));
                }
            }
        }
        let total_in_doc = ops.len();
        ops.retain(|(_, _, (_, op), _)| {
            let tag_ok = opts.tags.is_empty()
                || get(op, "tags")
                    .map(items)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Node::as_str)
                    .any(|t| opts.tags.iter().any(|w| w == t));
            let id = get_str(op, "operationId");
            let op_ok = opts.operations.is_empty()
                || id.is_some_and(|id| {
                    opts.operations
                        .iter()
                        .any(|w| w == id || *w == emit::ident(id, "op"))
                });
            tag_ok && op_ok
        });
        if ops.is_empty() && total_in_doc > 0 {
            let sources = self.sources.clone();
            return Err(Failure::one(
                Diagnostic::error(
                    codes::NOTHING_SELECTED,
                    format!(
                        "no operation of {} matches the --tag / --operation filters",
                        file.display()
                    ),
                )
                .with_path(file)
                .help("list the tags and operationIds in the document; names match exactly"),
                sources,
            ));
        }

        // The integration's auth: the document's `security`, else the
        // scheme the operations use most.
        let schemes = get(root, "components").and_then(|c| get(c, "securitySchemes"));
        let mut integ_scheme: Option<(String, Vec<String>)> = None;
        if let Some(sec) = get(root, "security") {
            integ_scheme = self.pick_scheme(sec, schemes);
        }
        if integ_scheme.is_none() {
            let mut counts: Vec<((String, Vec<String>), usize)> = Vec::new();
            for (_, _, (_, op), _) in &ops {
                if let Some(sec) = get(op, "security")
                    && let Some(s) = self.pick_scheme(sec, schemes)
                {
                    match counts.iter_mut().find(|(k, _)| k.0 == s.0) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((s, 1)),
                    }
                }
            }
            integ_scheme = counts.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k);
        }
        integ.auth = match &integ_scheme {
            Some((s, scopes)) => self.auth(&name, s, scopes, schemes, &mut integ.warnings),
            None => None,
        };

        let mut names = Names::default();
        for (path, verb, op, item) in &ops {
            let m = self.method(
                &name,
                path,
                verb,
                *op,
                *item,
                &mut names,
                schemes,
                &integ_scheme,
            );
            program.methods.push(m);
        }
        program.integrations.push(integ);
        Ok(program)
    }

    /// The first expressible scheme of a security requirement list.
    fn pick_scheme(&self, sec: &Node, schemes: Option<&Node>) -> Option<(String, Vec<String>)> {
        let reqs = items(sec);
        for req in reqs {
            for (name, scopes) in entries(req) {
                let ok = schemes
                    .and_then(|s| get(s, name))
                    .map(|s| self.expressible(self.deref((0, s)).1))
                    .unwrap_or(false);
                if ok {
                    let scopes = items(scopes)
                        .iter()
                        .filter_map(Node::as_str)
                        .map(str::to_string)
                        .collect();
                    return Some((name.to_string(), scopes));
                }
            }
        }
        None
    }

    fn expressible(&self, s: &Node) -> bool {
        match get_str(s, "type") {
            Some("apiKey") => matches!(get_str(s, "in"), Some("header" | "query")),
            Some("http") => matches!(
                get_str(s, "scheme").map(str::to_ascii_lowercase).as_deref(),
                Some("basic" | "bearer")
            ),
            Some("oauth2") => get(s, "flows").is_some_and(|f| {
                ["clientCredentials", "authorizationCode", "password"]
                    .iter()
                    .any(|k| get(f, k).is_some())
            }),
            Some("openIdConnect") => true,
            _ => false,
        }
    }

    /// The auth block for a security scheme; warnings for what is lost.
    fn auth(
        &self,
        integ: &str,
        scheme: &str,
        scopes: &[String],
        schemes: Option<&Node>,
        warnings: &mut Vec<String>,
    ) -> Option<Auth> {
        let s = self.deref((0, schemes.and_then(|s| get(s, scheme))?)).1;
        let env = |suffix: &str| emit::env_name(&[integ, suffix]);
        match get_str(s, "type") {
            Some("apiKey") => {
                let name = get_str(s, "name").unwrap_or("X-API-Key");
                match get_str(s, "in") {
                    Some(where_ @ ("header" | "query")) => Some(Auth::ApiKey {
                        name: name.to_string(),
                        value: emit::secret(&env(scheme)),
                        in_query: where_ == "query",
                    }),
                    other => {
                        warnings.push(format!(
                            "security scheme `{scheme}` sends its key in {}, which rbk cannot express",
                            other.unwrap_or("an unknown place")
                        ));
                        None
                    }
                }
            }
            Some("http") => match get_str(s, "scheme").map(str::to_ascii_lowercase).as_deref() {
                Some("basic") => Some(Auth::Basic {
                    username: format!("env({})", emit::string(&env("username"))),
                    password: emit::secret(&env("password")),
                }),
                Some("bearer") => Some(Auth::Bearer {
                    token: emit::secret(&env("token")),
                    header: None,
                    prefix: None,
                }),
                other => {
                    warnings.push(format!(
                        "security scheme `{scheme}` uses HTTP `{}` authentication, which rbk cannot express",
                        other.unwrap_or("?")
                    ));
                    None
                }
            },
            Some("oauth2") => {
                let flows = get(s, "flows")?;
                let scope = if scopes.is_empty() {
                    None
                } else {
                    Some(scopes.join(" "))
                };
                let mut fields = Vec::new();
                let flow_url = |f: &Node, k: &str| get_str(f, k).map(emit::string);
                if let Some(f) = get(flows, "clientCredentials") {
                    fields.push(("grant".into(), "client_credentials".into()));
                    fields.push(("token_url".into(), flow_url(f, "tokenUrl")?));
                } else if let Some(f) = get(flows, "authorizationCode") {
                    fields.push(("grant".into(), "authorization_code".into()));
                    fields.push(("auth_url".into(), flow_url(f, "authorizationUrl")?));
                    fields.push(("token_url".into(), flow_url(f, "tokenUrl")?));
                } else if let Some(f) = get(flows, "password") {
                    fields.push(("grant".into(), "password".into()));
                    fields.push(("token_url".into(), flow_url(f, "tokenUrl")?));
                    fields.push((
                        "username".into(),
                        format!("env({})", emit::string(&env("username"))),
                    ));
                    fields.push(("password".into(), emit::secret(&env("password"))));
                } else {
                    warnings.push(format!(
                        "security scheme `{scheme}` has only the implicit flow, which rbk cannot use"
                    ));
                    return None;
                }
                fields.push((
                    "client_id".into(),
                    format!("env({})", emit::string(&env("client_id"))),
                ));
                fields.push(("client_secret".into(), emit::secret(&env("client_secret"))));
                if let Some(sc) = scope {
                    fields.push(("scope".into(), emit::string(&sc)));
                }
                Some(Auth::OAuth2 { fields })
            }
            Some("openIdConnect") => {
                let url = get_str(s, "openIdConnectUrl").unwrap_or("");
                warnings.push(format!(
                    "security scheme `{scheme}` is OpenID Connect: set {} and {} from the \
                     authorization_endpoint and token_endpoint of {url}",
                    env("auth_url"),
                    env("token_url")
                ));
                let mut fields = vec![
                    ("grant".to_string(), "authorization_code_pkce".to_string()),
                    (
                        "auth_url".into(),
                        format!("env({})", emit::string(&env("auth_url"))),
                    ),
                    (
                        "token_url".into(),
                        format!("env({})", emit::string(&env("token_url"))),
                    ),
                    (
                        "client_id".into(),
                        format!("env({})", emit::string(&env("client_id"))),
                    ),
                ];
                let mut sc = scopes.to_vec();
                if !sc.iter().any(|s| s == "openid") {
                    sc.insert(0, "openid".into());
                }
                fields.push(("scope".into(), emit::string(&sc.join(" "))));
                Some(Auth::OAuth2 { fields })
            }
            _ => {
                warnings.push(format!(
                    "security scheme `{scheme}` is of a kind rbk cannot express"
                ));
                None
            }
        }
    }

    /// Instances from `servers` (server variables at their defaults) and
    /// the base URL.
    fn servers(&self, integ: &str, warnings: &mut Vec<String>) -> (Vec<emit::Instance>, String) {
        let list = get(self.root(), "servers").map(items).unwrap_or(&[]);
        let mut out = Vec::new();
        let mut names = Names::default();
        for (i, s) in list.iter().enumerate() {
            let Some(mut url) = get_str(s, "url").map(str::to_string) else {
                continue;
            };
            let mut doc = Vec::new();
            if let Some(d) = get_str(s, "description") {
                doc.extend(emit::doc_lines(d, 2));
            }
            for (var, v) in get(s, "variables").map(entries).into_iter().flatten() {
                let default = get(v, "default").map(scalar_text).unwrap_or_default();
                url = url.replace(&format!("{{{var}}}"), &default);
                let choices: Vec<String> = get(v, "enum")
                    .map(items)
                    .unwrap_or(&[])
                    .iter()
                    .map(scalar_text)
                    .collect();
                if choices.len() > 1 {
                    doc.push(format!(
                        "server variable `{var}`: {} (default {default})",
                        choices.join(", ")
                    ));
                } else {
                    doc.push(format!("server variable `{var}` = {default}"));
                }
            }
            if !url.starts_with("http://") && !url.starts_with("https://") {
                warnings.push(format!(
                    "server URL `{url}` is relative; http://localhost is assumed"
                ));
                url = format!(
                    "http://localhost{}{url}",
                    if url.starts_with('/') { "" } else { "/" }
                );
            }
            let url = url.trim_end_matches('/').to_string();
            let base = match get_str(s, "description") {
                Some(d) if !d.is_empty() && d.split_whitespace().count() <= 3 => {
                    emit::ident(d, "server")
                }
                _ if i == 0 => integ.to_string(),
                _ => format!("{integ}_{}", i + 1),
            };
            let name = names.unique(&base);
            out.push(emit::Instance { name, doc, url });
        }
        if out.is_empty() {
            warnings.push("the document names no server; http://localhost is assumed".into());
            out.push(emit::Instance {
                name: integ.to_string(),
                doc: Vec::new(),
                url: "http://localhost".into(),
            });
        }
        (out, "{instance.url}".into())
    }

    #[allow(clippy::too_many_arguments)]
    fn method(
        &self,
        integ: &str,
        path: &str,
        verb: &str,
        op_at: At<'_>,
        item: Option<At<'_>>,
        method_names: &mut Names,
        schemes: Option<&Node>,
        integ_scheme: &Option<(String, Vec<String>)>,
    ) -> Method {
        let (d, op) = op_at;
        let upper = verb.to_ascii_uppercase();
        let base_name = match get_str(op, "operationId") {
            Some(id) => emit::ident(id, "op"),
            None => fallback_name(verb, path),
        };
        let mut m = Method {
            integration: integ.to_string(),
            name: method_names.unique(&base_name),
            verb: upper.clone(),
            ..Default::default()
        };
        // Docs.
        if let Some(s) = get_str(op, "summary") {
            m.doc.extend(emit::doc_lines(s, 2));
        }
        if let Some(desc) = get_str(op, "description") {
            let first = desc.split("\n\n").next().unwrap_or("");
            let lines = emit::doc_lines(first, 6);
            if !lines.is_empty() && lines != m.doc {
                if !m.doc.is_empty() {
                    m.doc.push(String::new());
                }
                m.doc.extend(lines);
            }
        }
        if get(op, "deprecated").and_then(Node::as_bool) == Some(true) {
            m.doc.push("Deprecated.".into());
        }
        m.doc.push(format!(
            "`{upper} {path}`{}",
            get_str(op, "operationId")
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        ));

        let mut pnames = Names::default();
        // Parameters: the path item's, overridden by the operation's.
        let mut params: Vec<At<'_>> = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for src in [Some((d, op)), item].into_iter().flatten() {
            for p in get(src.1, "parameters").map(items).unwrap_or(&[]) {
                let (pd, p) = self.deref((src.0, p));
                let key = (
                    get_str(p, "name").unwrap_or("").to_string(),
                    get_str(p, "in").unwrap_or("").to_string(),
                );
                if !seen.contains(&key) {
                    seen.push(key);
                    params.push((pd, p));
                }
            }
        }
        let mut path_names: HashMap<String, String> = HashMap::new();
        let mut required_params = Vec::new();
        let mut optional_params = Vec::new();
        for (pd, p) in params {
            let Some(pname) = get_str(p, "name") else {
                continue;
            };
            let place = get_str(p, "in").unwrap_or("query");
            if place == "cookie" {
                m.warnings.push(format!(
                    "cookie parameter `{pname}` is not sent (rbk has no cookie parameters); add a `Cookie` header if it is needed"
                ));
                continue;
            }
            if place == "header"
                && ["accept", "content-type", "authorization"]
                    .contains(&pname.to_ascii_lowercase().as_str())
            {
                continue;
            }
            let required =
                place == "path" || get(p, "required").and_then(Node::as_bool) == Some(true);
            let schema = get(p, "schema");
            let ty = match schema {
                Some(s) => self.ty((pd, s)),
                None => Ty::json(),
            };
            let style =
                get_str(p, "style").unwrap_or(if place == "query" { "form" } else { "simple" });
            if place == "query" && style == "deepObject" {
                m.warnings.push(format!(
                    "query parameter `{pname}` uses style deepObject, which rbk cannot express; it is not sent"
                ));
                continue;
            }
            let name = pnames.unique(&emit::param_ident(pname));
            let mut doc = get_str(p, "description")
                .map(|t| emit::doc_lines(t, 3))
                .unwrap_or_default();
            let default = schema
                .map(|s| self.deref((pd, s)).1)
                .and_then(|s| get(s, "default"))
                .and_then(|v| default_literal(v, &ty));
            let mut param = if required {
                Param {
                    name: name.clone(),
                    ty: ty.text(false),
                    default: None,
                    doc: std::mem::take(&mut doc),
                }
            } else if let Some(def) = default {
                Param {
                    name: name.clone(),
                    ty: ty.text(false),
                    default: Some(def),
                    doc: std::mem::take(&mut doc),
                }
            } else {
                Param {
                    name: name.clone(),
                    ty: ty.text(true),
                    default: Some("null".into()),
                    doc: std::mem::take(&mut doc),
                }
            };
            let value_expr = if ty.base.starts_with('[') {
                let explode = get(p, "explode")
                    .and_then(Node::as_bool)
                    .unwrap_or(style == "form");
                let sep = match style {
                    "spaceDelimited" => " ",
                    "pipeDelimited" => "|",
                    _ => ",",
                };
                if place == "query" && explode {
                    name.clone()
                } else if param.default.as_deref() == Some("null") || ty.nullable {
                    // `join` cannot take a null: the caller writes the
                    // joined text, which is sent as it is.
                    param.ty = "string?".into();
                    param.default = Some("null".into());
                    param
                        .doc
                        .push(format!("A list, written as one text separated by {sep:?}"));
                    name.clone()
                } else {
                    format!("join({name}, {})", emit::string(sep))
                }
            } else {
                name.clone()
            };
            match place {
                "path" => {
                    path_names.insert(pname.to_string(), value_expr);
                }
                "query" => m.query.push(Entry {
                    key: pname.to_string(),
                    value: value_expr,
                    doc: Vec::new(),
                }),
                "header" => m.headers.push(Entry {
                    key: pname.to_string(),
                    value: value_expr,
                    doc: Vec::new(),
                }),
                _ => {
                    m.warnings
                        .push(format!("parameter `{pname}` in `{place}` is not sent"));
                    continue;
                }
            }
            if param.default.is_none() {
                required_params.push(param);
            } else {
                optional_params.push(param);
            }
        }

        // The path, placeholders renamed.
        let mut path_text = String::new();
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            path_text.push_str(&emit::escape(&rest[..open]));
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let orig = &after[..close];
                    let expr = match path_names.get(orig) {
                        Some(e) => e.clone(),
                        None => {
                            let name = pnames.unique(&emit::param_ident(orig));
                            m.warnings.push(format!(
                                "path parameter `{orig}` is not declared; it is taken as a string"
                            ));
                            required_params.push(Param {
                                name: name.clone(),
                                ty: "string".into(),
                                default: None,
                                doc: Vec::new(),
                            });
                            path_names.insert(orig.to_string(), name.clone());
                            name
                        }
                    };
                    path_text.push('{');
                    path_text.push_str(&expr);
                    path_text.push('}');
                    rest = &after[close + 1..];
                }
                None => {
                    path_text.push_str(&emit::escape(&rest[open..]));
                    rest = "";
                }
            }
        }
        path_text.push_str(&emit::escape(rest));
        m.path = path_text;

        // Request body.
        if let Some(rb) = get(op, "requestBody") {
            let (bd, rb) = self.deref((d, rb));
            let body_required = get(rb, "required").and_then(Node::as_bool) == Some(true);
            if upper == "GET" || upper == "HEAD" {
                m.warnings.push(format!(
                    "the document gives {upper} a request body, which rbk does not send"
                ));
            } else if let Some(content) = get(rb, "content") {
                let types: Vec<(&str, &Node)> = entries(content).collect();
                let pick = types
                    .iter()
                    .find(|(t, _)| is_json(t))
                    .or_else(|| {
                        types
                            .iter()
                            .find(|(t, _)| t.starts_with("application/x-www-form-urlencoded"))
                    })
                    .or_else(|| {
                        types
                            .iter()
                            .find(|(t, _)| t.starts_with("multipart/form-data"))
                    })
                    .or_else(|| types.first());
                if let Some((ct, media)) = pick {
                    if types.len() > 1 {
                        let others: Vec<&str> =
                            types.iter().map(|(t, _)| *t).filter(|t| t != ct).collect();
                        m.warnings.push(format!(
                            "the body is also accepted as {}; rbk sends {ct}",
                            others.join(", ")
                        ));
                    }
                    let schema = get(media, "schema").map(|s| (bd, s));
                    self.body(
                        &mut m,
                        ct,
                        schema,
                        body_required,
                        &mut pnames,
                        &mut required_params,
                        &mut optional_params,
                    );
                }
            }
        }
        m.params = required_params;
        m.params.extend(optional_params);

        // Auth.
        if let Some(sec) = get(op, "security") {
            let reqs = items(sec);
            if reqs.is_empty() || reqs.iter().any(|r| entries(r).next().is_none()) {
                if integ_scheme.is_some() && reqs.is_empty() {
                    m.auth = Some(Auth::None);
                }
            } else {
                match self.pick_scheme(sec, schemes) {
                    Some((s, scopes)) => {
                        if integ_scheme.as_ref().map(|(n, _)| n) != Some(&s) {
                            m.auth = self.auth(integ, &s, &scopes, schemes, &mut m.warnings);
                        }
                    }
                    None => {
                        let names: Vec<&str> =
                            reqs.iter().flat_map(entries).map(|(k, _)| k).collect();
                        m.warnings.push(format!(
                            "security {} cannot be expressed; the integration's auth is used",
                            names.join(", ")
                        ));
                    }
                }
            }
        }

        // Responses.
        let responses = get(op, "responses");
        let mut codes: Vec<(u16, &Node)> = Vec::new();
        let mut range = false;
        for (code, r) in responses.map(entries).into_iter().flatten() {
            if code.eq_ignore_ascii_case("2XX") {
                range = true;
                codes.push((299, r));
            } else if let Ok(c) = code.parse::<u16>()
                && (200..300).contains(&c)
            {
                codes.push((c, r));
            }
        }
        codes.sort_by_key(|(c, _)| *c);
        if !range {
            m.expect = codes.iter().map(|(c, _)| c.to_string()).collect();
        }
        let success = codes.first().map(|(_, r)| self.deref((d, r)));
        if let Some((rd, resp)) = success {
            let media = get(resp, "content")
                .and_then(|c| entries(c).find(|(t, _)| is_json(t)).map(|(_, v)| v));
            if let Some(schema) = media.and_then(|md| get(md, "schema")) {
                self.outputs(&mut m, (rd, schema));
            }
            // Pagination.
            if upper == "GET" {
                let link = get(resp, "headers")
                    .map(entries)
                    .into_iter()
                    .flatten()
                    .any(|(h, _)| h.eq_ignore_ascii_case("link"));
                m.paginate = self.paginate(
                    &m,
                    media.and_then(|md| get(md, "schema")).map(|s| (rd, s)),
                    link,
                );
            }
        }
        m
    }

    #[allow(clippy::too_many_arguments)]
    fn body(
        &self,
        m: &mut Method,
        ct: &str,
        schema: Option<At<'_>>,
        body_required: bool,
        pnames: &mut Names,
        required_params: &mut Vec<Param>,
        optional_params: &mut Vec<Param>,
    ) {
        let form = ct.starts_with("application/x-www-form-urlencoded");
        let multipart = ct.starts_with("multipart/form-data");
        let json = is_json(ct);
        if !(json || form || multipart) {
            let name = pnames.unique("content");
            if !ct.starts_with("text/") && !ct.contains("xml") {
                m.warnings.push(format!(
                    "the body is {ct}; rbk sends it from the text parameter `{name}`"
                ));
            }
            required_params.push(Param {
                name: name.clone(),
                ty: "string".into(),
                default: None,
                doc: vec![format!("The request body ({ct})")],
            });
            m.body = Some(Body::Text {
                value: name,
                content_type: ct.to_string(),
            });
            return;
        }
        let props = schema.and_then(|s| {
            if self.has_combinator(s) && !json {
                None
            } else {
                self.props(s)
            }
        });
        let Some((props, required)) = props else {
            if form || multipart {
                m.warnings.push(format!(
                    "the {ct} body has no properties rbk can read; nothing is sent"
                ));
                return;
            }
            if let Some(s) = schema
                && self.has_combinator(s)
            {
                m.warnings.push(
                    "the body schema is a oneOf/anyOf; pass the whole body as `payload`".into(),
                );
            }
            let name = pnames.unique("payload");
            let p = Param {
                name: name.clone(),
                ty: "json".into(),
                default: if body_required {
                    None
                } else {
                    Some("null".into())
                },
                doc: vec!["The request body (JSON)".into()],
            };
            if body_required {
                required_params.push(p);
            } else {
                optional_params.push(p);
            }
            m.body = Some(Body::Json(name));
            return;
        };
        if let Some(s) = schema
            && self.has_combinator(s)
        {
            m.warnings.push(
                "the body schema also has oneOf/anyOf alternatives; only its common properties are parameters".into(),
            );
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut entries_out: Vec<Entry> = Vec::new();
        // A required member that may be null must be sent as null, so
        // `compact` (which leaves out every null) cannot be used then.
        let mut required_nullable = false;
        let mut optional_null = false;
        for (pname, at) in props {
            let (_, ps) = self.deref(at);
            if get(ps, "readOnly").and_then(Node::as_bool) == Some(true) {
                continue;
            }
            let ty = self.ty(at);
            let binary = get_str(ps, "format").is_some_and(|f| f == "binary" || f == "base64")
                || get(ps, "contentMediaType").is_some()
                || (ty.base == "[json]"
                    && get(ps, "items").is_some_and(|i| {
                        get_str(self.deref((at.0, i)).1, "format") == Some("binary")
                    }));
            if multipart && binary {
                m.warnings.push(format!(
                    "file part `{pname}` cannot be a parameter; add it as `{pname} = bytes(\"FILE\") as \"TYPE\"`"
                ));
                continue;
            }
            let required = required.contains(&pname);
            required_nullable |= required && ty.nullable;
            let name = pnames.unique(&emit::param_ident(&pname));
            let doc = get_str(ps, "description")
                .map(|t| emit::doc_lines(t, 3))
                .unwrap_or_default();
            let default = get(ps, "default").and_then(|v| default_literal(v, &ty));
            let value = if (form || multipart) && ty.base == "json" {
                if required {
                    format!("to_json({name})")
                } else {
                    m.warnings.push(format!(
                        "object field `{pname}` is sent as JSON text only when given as a string"
                    ));
                    name.clone()
                }
            } else {
                name.clone()
            };
            let p = if required {
                Param {
                    name: name.clone(),
                    ty: ty.text(false),
                    default: None,
                    doc,
                }
            } else {
                Param {
                    name: name.clone(),
                    ty: if default.is_some() {
                        ty.text(false)
                    } else {
                        ty.text(true)
                    },
                    default: Some(default.unwrap_or_else(|| "null".into())),
                    doc,
                }
            };
            optional_null |= p.default.as_deref() == Some("null");
            if p.default.is_none() {
                required_params.push(p);
            } else {
                optional_params.push(p);
            }
            if json {
                fields.push((pname.clone(), value));
            } else {
                entries_out.push(Entry {
                    key: pname.clone(),
                    value,
                    doc: Vec::new(),
                });
            }
        }
        if json {
            // Optional members the caller leaves out are `null`: `compact`
            // leaves them out of the body instead of sending `null`.
            let compact = optional_null && !required_nullable;
            if optional_null && required_nullable {
                m.warnings.push(
                    "a required member may be null, so optional members not given are sent as null too"
                        .into(),
                );
            }
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("    {}: {v},\n", emit::key(k)))
                .collect();
            let object = format!("{{\n{}  }}", parts.concat());
            m.body = Some(Body::Json(if compact {
                format!("compact({object})")
            } else {
                object
            }));
        } else if form {
            m.body = Some(Body::Form(entries_out));
        } else {
            if entries_out.is_empty() {
                m.warnings
                    .push("the multipart body has no text parts; nothing is sent".into());
                return;
            }
            m.body = Some(Body::Multipart(entries_out));
        }
    }

    fn outputs(&self, m: &mut Method, schema: At<'_>) {
        let mut names = Names::default();
        if let Some((props, required)) = self.props(schema) {
            for (pname, at) in props {
                let ty = self.ty(at);
                let (_, ps) = self.deref(at);
                let optional = !required.contains(&pname);
                let name = names.unique(&emit::output_ident(&pname));
                m.outputs.push(Output {
                    name,
                    ty: Some(ty.text(optional)),
                    expr: format!("${}", emit::jsonpath_member(&pname)),
                    doc: get_str(ps, "description")
                        .map(|t| emit::doc_lines(t, 2))
                        .unwrap_or_default(),
                });
            }
            return;
        }
        let ty = self.ty(schema);
        if ty.base.starts_with('[') {
            m.outputs.push(Output {
                name: "items".into(),
                ty: Some(ty.base.clone()),
                expr: "$[*]".into(),
                doc: vec!["The items of the response".into()],
            });
        } else if ty.base == "json" {
            m.outputs.push(Output {
                name: "result".into(),
                ty: None,
                expr: "json".into(),
                doc: vec!["The whole response body".into()],
            });
        } else {
            m.outputs.push(Output {
                name: "result".into(),
                ty: Some(ty.text(false)),
                expr: "$".into(),
                doc: vec!["The response body".into()],
            });
        }
    }

    /// `paginate` when the response documents a next link or a cursor.
    fn paginate(&self, m: &Method, schema: Option<At<'_>>, link: bool) -> Option<String> {
        let props: Vec<(String, At<'_>)> = schema
            .and_then(|s| self.props(s))
            .map(|(p, _)| p)
            .unwrap_or_default();
        let has = |n: &str| props.iter().any(|(k, _)| k == n);
        for next in [
            "next",
            "next_url",
            "nextUrl",
            "next_link",
            "nextLink",
            "@odata.nextLink",
            "next_page_url",
            "next_page_uri",
            "nextPageUrl",
        ] {
            if has(next) {
                let ty = props
                    .iter()
                    .find(|(k, _)| k == next)
                    .map(|(_, at)| self.ty(*at));
                if ty.is_some_and(|t| t.base == "string") {
                    return Some(format!("next_url = ${}", emit::jsonpath_member(next)));
                }
            }
        }
        for nest in ["links", "_links", "paging"] {
            if let Some((_, at)) = props.iter().find(|(k, _)| k == nest)
                && let Some((inner, _)) = self.props(*at)
                && inner.iter().any(|(k, _)| k == "next")
            {
                return Some(format!("next_url = ${}.next", emit::jsonpath_member(nest)));
            }
        }
        if link {
            return Some("link_header".into());
        }
        let cursor_param = [
            "cursor",
            "after",
            "starting_after",
            "page_token",
            "pageToken",
            "next_token",
            "continuation_token",
            "marker",
        ]
        .into_iter()
        .find(|p| m.query.iter().any(|e| e.key == *p))?;
        let next = [
            "next_cursor",
            "nextCursor",
            "next_page_token",
            "nextPageToken",
            "next_token",
            "last_id",
            "continuation_token",
            "next_marker",
            "cursor",
        ]
        .into_iter()
        .find(|n| has(n))?;
        Some(format!(
            "cursor {{\n    param = {}\n    next = ${}\n  }}",
            emit::string(cursor_param),
            emit::jsonpath_member(next)
        ))
    }
}

/// `{"$ref": ...}` strings under `v`, with where they are.
fn collect_refs(v: &Node, at: &mut String, out: &mut Vec<(String, String)>) {
    match v {
        Node::Mapping(_) => {
            for (k, child) in entries(v) {
                if k == "$ref"
                    && let Some(r) = child.as_str()
                {
                    out.push((
                        r.to_string(),
                        if at.is_empty() {
                            "#".into()
                        } else {
                            format!("#{at}")
                        },
                    ));
                    continue;
                }
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                collect_refs(child, at, out);
                at.truncate(len);
            }
        }
        Node::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                collect_refs(child, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// `other.yaml#/a/b` → (`other.yaml`, `/a/b`).
fn split_ref(r: &str) -> (&str, &str) {
    match r.split_once('#') {
        Some((f, p)) => (f, p),
        None => (r, ""),
    }
}

fn is_remote(r: &str) -> bool {
    r.starts_with("http://") || r.starts_with("https://") || r.starts_with("//")
}

fn is_json(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    ct.starts_with("application/json") || ct.contains("+json")
}

fn scalar_text(v: &Node) -> String {
    match v {
        Node::String(s) => s.clone(),
        Node::Number(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A schema default as a literal of the parameter's type, when it fits.
fn default_literal(v: &Node, ty: &Ty) -> Option<String> {
    let fits = match (ty.base.as_str(), v) {
        ("string", Node::String(_)) => true,
        ("int", Node::Number(n)) => n.as_i64().is_some(),
        ("float", Node::Number(_)) => true,
        ("bool", Node::Bool(_)) => true,
        ("[string]", Node::Sequence(s)) => s.iter().all(Node::is_string),
        ("[int]", Node::Sequence(s)) => s.iter().all(|x| x.as_i64().is_some()),
        _ => false,
    };
    if !fits {
        return None;
    }
    let lit = super::literal(v);
    if ty.base == "float" && !lit.contains(['.', 'e', 'E']) {
        return Some(format!("{lit}.0"));
    }
    Some(lit)
}

/// `Swagger Petstore - OpenAPI 3.0` → `swagger_petstore`.
fn integration_name(title: &str) -> String {
    let cut = title
        .split([' ', '\t'])
        .take_while(|w| !w.starts_with(['-', '(', '|', ':', '–']))
        .collect::<Vec<_>>()
        .join(" ");
    // Lower-cased first: brand names (`GitHub`, `OpenAI`) stay one word.
    let n = emit::ident(&cut.to_lowercase(), "api");
    let n = n.trim_end_matches("_api").to_string();
    if n.is_empty() { "api".into() } else { n }
}

/// A method name from the verb and path: `GET /pets/{id}` → `get_pets_by_id`.
fn fallback_name(verb: &str, path: &str) -> String {
    let mut parts = vec![verb.to_string()];
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            parts.push(format!("by_{}", emit::snake(p)));
        } else {
            parts.push(emit::snake(seg));
        }
    }
    emit::ident(&parts.join("_"), "op")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            integration_name("Swagger Petstore - OpenAPI 3.0"),
            "swagger_petstore"
        );
        assert_eq!(integration_name("OpenAI API"), "openai");
        assert_eq!(integration_name("Twilio - Api"), "twilio");
        assert_eq!(integration_name("GitHub v3 REST API"), "github_v3_rest");
        assert_eq!(
            fallback_name("get", "/pets/{petId}/photos"),
            "get_pets_by_pet_id_photos"
        );
    }
}
