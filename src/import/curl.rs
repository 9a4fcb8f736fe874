//! `rbk import curl`: one integration and one method from a curl command
//! line, split into words by the `shell-words` crate (POSIX shell rules).
//!
//! The method sends what curl would: the same verb, path, query, the
//! headers the line sets, and the same body (a `-d` form body field by
//! field, `--json` as JSON, other data as text, `-F` as multipart). Values
//! become parameters with the line's values as defaults. Credentials (`-u`,
//! user info in the URL, an `Authorization` header, headers and query
//! parameters that carry keys or tokens, cookies) never reach the output:
//! they become `secret("...")` placeholders, in an auth block where one fits.

use super::emit::{self, Auth, Body, Entry, Method, Names, Param};
use super::{Failure, Imported, Node, codes};
use crate::diagnostic::Diagnostic;
use crate::syntax::span::{FileId, SourceMap, Span};

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The integration's name (default: from the host name).
    pub integration: Option<String>,
    /// The method's name (default: from the verb and path).
    pub name: Option<String>,
}

/// Options that take a value and change nothing rbk sends.
const IGNORED_WITH_VALUE: &[&str] = &[
    "-o",
    "--output",
    "-w",
    "--write-out",
    "--connect-timeout",
    "--max-redirs",
    "-D",
    "--dump-header",
    "--retry-delay",
    "--retry-max-time",
    "-c",
    "--cookie-jar",
    "--trace",
    "--trace-ascii",
    "--stderr",
];

/// Options without a value that change nothing rbk sends.
const IGNORED: &[&str] = &[
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-L",
    "--location",
    "-v",
    "--verbose",
    "-i",
    "--include",
    "-f",
    "--fail",
    "--fail-with-body",
    "-g",
    "--globoff",
    "--compressed",
    "-O",
    "--remote-name",
    "-N",
    "--no-buffer",
    "-#",
    "--progress-bar",
    "--http1.1",
    "--http2",
    "--create-dirs",
    "--no-progress-meter",
    "-n",
    "--netrc-optional",
];

/// Header names whose values are credentials.
const SECRET_HEADER_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "auth",
    "password",
    "signature",
    "session",
    "cookie",
    "credential",
];

/// Query parameter names whose values are credentials.
const SECRET_QUERY: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "auth",
    "signature",
    "sig",
    "password",
    "secret",
    "client_secret",
];

enum Data {
    /// `-d`, `--data`, `--data-ascii`, `--data-raw`: the text as given.
    Text(String),
    /// `--data-urlencode`: already encoded here, as curl does.
    Encoded(String),
    /// `--data-binary @FILE`.
    File(String),
}

#[derive(Default)]
struct Line {
    method: Option<String>,
    url: Option<(String, usize)>,
    headers: Vec<(String, String)>,
    data: Vec<Data>,
    json: Vec<String>,
    form: Vec<(String, String)>,
    user: Option<String>,
    oauth2_bearer: Option<String>,
    get: bool,
    head: bool,
    insecure: bool,
    timeout: Option<String>,
    retry: Option<u32>,
}

/// Imports one curl command line.
pub fn import(text: &str, opts: &Options) -> Result<Imported, Failure> {
    let mut sources = SourceMap::new();
    // A backslash-newline continues the line; two spaces keep the offsets.
    let joined = text.replace("\\\r\n", "   ").replace("\\\n", "  ");
    let fail = |d: Diagnostic, sources: SourceMap| Err(Failure::one(d, sources));
    let words = match shell_words::split(&joined) {
        Ok(w) => w,
        Err(e) => {
            // Without words there is no telling where credentials are, so
            // the line itself is not shown.
            return fail(
                Diagnostic::error(
                    codes::INVALID_CURL,
                    format!("cannot split the command: {e}"),
                )
                .with_path("<curl>")
                .help("close every quote; paste the command as the shell would run it"),
                sources,
            );
        }
    };
    // Diagnostics show the line; its credentials are masked there first
    // (same length, so every offset still holds).
    let mut shown = joined.clone();
    for secret in credentials(&words) {
        if secret.len() >= 3 {
            shown = shown.replace(&secret, &"*".repeat(secret.len()));
        }
    }
    let file = sources.add("<curl>".into(), shown);
    let mut words: Vec<String> = words;
    while words.first().is_some_and(|w| w == "$") {
        words.remove(0);
    }
    match words.first() {
        Some(w) if w == "curl" || w.ends_with("/curl") || w == "curl.exe" => {
            words.remove(0);
        }
        _ => {
            return fail(
                Diagnostic::error(codes::INVALID_CURL, "this is not a curl command")
                    .at(whole(&sources, file), "expected it to start with `curl`")
                    .help("give the command as copied, e.g. 'curl -X POST https://api.example.com/items -d a=1'"),
                sources,
            );
        }
    }
    let line = match parse(&words, &sources, file) {
        Ok(l) => l,
        Err(d) => return fail(*d, sources),
    };
    match build(line, opts, &sources, file) {
        Ok(p) => super::finish(&p),
        Err(d) => fail(*d, sources),
    }
}

/// The credential texts of a line (values of `-u`, `--oauth2-bearer`,
/// `-b`, secret headers, URL user info, secret query and form values), to
/// be masked wherever the line is shown.
fn credentials(words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        match w.as_str() {
            "-u" | "--user" | "--oauth2-bearer" | "-b" | "--cookie" => {
                if let Some(v) = it.next() {
                    out.extend(v.split(':').map(str::to_string));
                    out.push(v.clone());
                }
            }
            "-H" | "--header" => {
                if let Some(v) = it.next()
                    && let Some((k, val)) = v.split_once(':')
                    && (is_secret_header(k) || k.trim().eq_ignore_ascii_case("authorization"))
                {
                    let val = val.trim();
                    out.push(val.to_string());
                    if let Some((_, token)) = val.split_once(' ') {
                        out.push(token.trim().to_string());
                    }
                }
            }
            w if w.starts_with("-u") && w.len() > 2 && !w.starts_with("--") => {
                out.extend(w[2..].split(':').map(str::to_string));
                out.push(w[2..].to_string());
            }
            _ => {
                // URL user info, and secret query or form values.
                if let Some(rest) = w.split_once("://").map(|(_, r)| r) {
                    let authority = rest.split(['/', '?']).next().unwrap_or("");
                    if let Some((info, _)) = authority.rsplit_once('@') {
                        out.extend(info.split(':').map(str::to_string));
                    }
                }
                for pair in w.split(['?', '&']) {
                    if let Some((k, v)) = pair.split_once('=') {
                        let k = k.to_ascii_lowercase();
                        if SECRET_QUERY.contains(&k.as_str()) || is_secret_header(&k) {
                            out.push(v.to_string());
                        }
                    }
                }
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

fn whole(sources: &SourceMap, file: FileId) -> Span {
    let t = &sources.get(file).text;
    let start = t.len() - t.trim_start().len();
    Span::new(file, start, t.trim_end().len().max(start))
}

/// The span of `word` in the text at or after `*pos` (moving `*pos` past it).
fn word_span(sources: &SourceMap, file: FileId, word: &str, pos: &mut usize) -> Span {
    let text = &sources.get(file).text;
    match text.get(*pos..).and_then(|t| t.find(word)) {
        Some(i) => {
            let s = *pos + i;
            *pos = s + word.len();
            Span::new(file, s, s + word.len())
        }
        None => Span::new(file, *pos, (*pos).min(text.len())),
    }
}

fn parse(words: &[String], sources: &SourceMap, file: FileId) -> Result<Line, Box<Diagnostic>> {
    let mut l = Line::default();
    let mut pos = 0usize;
    // Position after `curl`.
    word_span(sources, file, "curl", &mut pos);
    let mut i = 0;
    // Short options may be bundled (`-sSL`) or carry their value (`-XPOST`).
    let mut expanded: Vec<String> = Vec::new();
    for w in words {
        if w.starts_with('-') && !w.starts_with("--") && w.len() > 2 {
            let flags: Vec<char> = w[1..].chars().collect();
            let mut j = 0;
            while j < flags.len() {
                let f = format!("-{}", flags[j]);
                expanded.push(f.clone());
                if takes_value(&f) {
                    let rest: String = flags[j + 1..].iter().collect();
                    if !rest.is_empty() {
                        expanded.push(rest);
                    }
                    break;
                }
                j += 1;
            }
        } else {
            expanded.push(w.clone());
        }
    }
    let words = expanded;
    while i < words.len() {
        let w = words[i].as_str();
        let span = word_span(sources, file, w, &mut pos);
        let mut value = || -> Result<String, Box<Diagnostic>> {
            i += 1;
            match words.get(i) {
                Some(v) => {
                    word_span(sources, file, v, &mut pos);
                    Ok(v.clone())
                }
                None => Err(Box::new(
                    Diagnostic::error(codes::INVALID_CURL, format!("`{w}` needs a value"))
                        .at(span, "this option has no value after it")
                        .help("give the option's value after it"),
                )),
            }
        };
        match w {
            "-X" | "--request" => l.method = Some(value()?.to_ascii_uppercase()),
            "-H" | "--header" => {
                let h = value()?;
                match h.split_once(':') {
                    Some((k, v)) => l.headers.push((k.trim().to_string(), v.trim().to_string())),
                    None => {
                        return Err(Box::new(
                            Diagnostic::error(
                                codes::INVALID_CURL,
                                format!("`{h}` is not a header (`Name: value`)"),
                            )
                            .at(span, "this header")
                            .help("write headers as -H 'Name: value'"),
                        ));
                    }
                }
            }
            "-d" | "--data" | "--data-ascii" | "--data-raw" => {
                let v = value()?;
                if v.starts_with('@') && w != "--data-raw" {
                    return Err(Box::new(
                        Diagnostic::error(
                            codes::CURL_UNKNOWN_FLAG,
                            format!("`{w} {v}` reads the body from a file, stripping its newlines"),
                        )
                        .at(span, "rbk cannot express this")
                        .help("use --data-binary @FILE to send the file as it is"),
                    ));
                }
                l.data.push(Data::Text(v));
            }
            "--data-binary" => {
                let v = value()?;
                match v.strip_prefix('@') {
                    Some(f) => l.data.push(Data::File(f.to_string())),
                    None => l.data.push(Data::Text(v)),
                }
            }
            "--data-urlencode" => {
                let v = value()?;
                // As curl does: unreserved characters kept, a space as `+`.
                let enc = |s: &str| {
                    s.split(' ')
                        .map(|p| percent_encoding::utf8_percent_encode(p, URLENCODE).to_string())
                        .collect::<Vec<_>>()
                        .join("+")
                };
                let encoded = if let Some(rest) = v.strip_prefix('=') {
                    enc(rest)
                } else if let Some((name, content)) = v.split_once('=') {
                    format!("{name}={}", enc(content))
                } else if v.contains('@') {
                    return Err(Box::new(
                        Diagnostic::error(
                            codes::CURL_UNKNOWN_FLAG,
                            "--data-urlencode from a file is not supported",
                        )
                        .at(span, "rbk cannot express this")
                        .help("give the content inline: --data-urlencode 'name=content'"),
                    ));
                } else {
                    enc(&v)
                };
                l.data.push(Data::Encoded(encoded));
            }
            "--json" => l.json.push(value()?),
            "-F" | "--form" | "--form-string" => {
                let v = value()?;
                match v.split_once('=') {
                    Some((k, val)) => l.form.push((k.to_string(), val.to_string())),
                    None => {
                        return Err(Box::new(
                            Diagnostic::error(
                                codes::INVALID_CURL,
                                format!("`{v}` is not a form field (`name=value`)"),
                            )
                            .at(span, "this field")
                            .help("write form fields as -F 'name=value' or -F 'file=@path'"),
                        ));
                    }
                }
            }
            "-u" | "--user" => l.user = Some(value()?),
            "--oauth2-bearer" => l.oauth2_bearer = Some(value()?),
            "-A" | "--user-agent" => l.headers.push(("User-Agent".into(), value()?)),
            "-e" | "--referer" => l.headers.push(("Referer".into(), value()?)),
            "-b" | "--cookie" => {
                let v = value()?;
                if !v.contains('=') {
                    return Err(Box::new(
                        Diagnostic::error(
                            codes::CURL_UNKNOWN_FLAG,
                            format!("`{w} {v}` reads cookies from a file"),
                        )
                        .at(span, "rbk cannot express this")
                        .help("give the cookies inline: -b 'name=value'"),
                    ));
                }
                l.headers.push(("Cookie".into(), v));
            }
            "-G" | "--get" => l.get = true,
            "-I" | "--head" => l.head = true,
            "-k" | "--insecure" => l.insecure = true,
            "-m" | "--max-time" => {
                let v = value()?;
                match v.parse::<f64>() {
                    Ok(s) if s > 0.0 && s.is_finite() => {
                        l.timeout = Some(if s.fract() == 0.0 {
                            format!("{}s", s as u64)
                        } else {
                            format!("{}ms", (s * 1000.0).round() as u64)
                        })
                    }
                    _ => {
                        return Err(Box::new(
                            Diagnostic::error(
                                codes::INVALID_CURL,
                                format!("`{v}` is not a number of seconds"),
                            )
                            .at(span, "this option")
                            .help("give the time in seconds, e.g. -m 10"),
                        ));
                    }
                }
            }
            "--retry" => {
                let v = value()?;
                l.retry = v.parse::<u32>().ok().map(|n| n.saturating_add(1).min(100));
            }
            "--url" => {
                let v = value()?;
                l.url = Some((v, span.start as usize));
            }
            w if IGNORED.contains(&w) => {}
            w if IGNORED_WITH_VALUE.contains(&w) => {
                value()?;
            }
            w if w.starts_with('-') && w.len() > 1 => {
                return Err(Box::new(
                    Diagnostic::error(
                        codes::CURL_UNKNOWN_FLAG,
                        format!("rbk does not know the curl option `{w}`"),
                    )
                    .at(span, "unknown or unsupported option")
                    .help(
                        "remove it if it does not change the request; rbk reads -X, -H, -d, \
                         --data-raw, --data-binary, --data-urlencode, --json, -F, -u, -A, -e, -b, \
                         -G, -I, -k, -m, --oauth2-bearer and --url (docs/import.md lists them all)",
                    ),
                ));
            }
            url => {
                if let Some((first, at)) = &l.url {
                    let _ = at;
                    return Err(Box::new(
                        Diagnostic::error(
                            codes::INVALID_CURL,
                            format!("a second URL `{url}` (the first was `{first}`)"),
                        )
                        .at(span, "one method sends one request")
                        .help("import one URL at a time"),
                    ));
                }
                l.url = Some((url.to_string(), span.start as usize));
            }
        }
        i += 1;
    }
    Ok(l)
}

fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "-X" | "-H" | "-d" | "-F" | "-u" | "-A" | "-e" | "-b" | "-m" | "-o" | "-w" | "-D" | "-c"
    )
}

/// `--data-urlencode` keeps unreserved characters, as curl does.
const URLENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_HEADER_WORDS.iter().any(|w| n.contains(w))
}

fn build(
    l: Line,
    opts: &Options,
    sources: &SourceMap,
    file: FileId,
) -> Result<emit::Program, Box<Diagnostic>> {
    let Some((raw_url, at)) = l.url.clone() else {
        return Err(Box::new(
            Diagnostic::error(codes::INVALID_CURL, "the command has no URL")
                .at(whole(sources, file), "no URL in this command")
                .help("add the URL, e.g. curl https://api.example.com/items"),
        ));
    };
    let url_span = Span::new(
        file,
        at,
        at + raw_url.len().min(sources.get(file).text.len() - at),
    );
    let url = raw_url.split('#').next().unwrap_or("").to_string();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r.to_string()),
        None => ("http".to_string(), url.clone()),
    };
    if scheme != "http" && scheme != "https" {
        return Err(Box::new(
            Diagnostic::error(codes::INVALID_CURL, format!("`{scheme}` URLs are not HTTP"))
                .at(url_span, "this URL")
                .help("rbk sends http:// and https:// requests"),
        ));
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (mut authority, target) = (rest[..split].to_string(), rest[split..].to_string());
    let mut user = l.user.clone();
    if let Some((info, host)) = authority.rsplit_once('@') {
        user = Some(
            percent_encoding::percent_decode_str(info)
                .decode_utf8_lossy()
                .into_owned(),
        );
        authority = host.to_string();
    }
    if authority.is_empty() {
        return Err(Box::new(
            Diagnostic::error(codes::INVALID_CURL, format!("`{raw_url}` has no host"))
                .at(url_span, "this URL")
                .help("give a full URL, e.g. https://api.example.com/items"),
        ));
    }
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.clone(), None),
    };
    let path = if raw_path.is_empty() {
        "/".to_string()
    } else {
        raw_path
    };
    let host = authority
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(&authority)
        .to_string();
    let integ = opts.integration.clone().unwrap_or_else(|| host_name(&host));
    let env = |suffix: &str| emit::env_name(&[&integ, suffix]);

    let mut integration = emit::Integration {
        name: integ.clone(),
        base_url: emit::escape(&format!("{scheme}://{authority}")),
        insecure: l.insecure,
        timeout: l.timeout.clone(),
        ..Default::default()
    };
    integration.doc = vec![format!(
        "{scheme}://{authority}, imported from a curl command"
    )];
    let mut m = Method {
        integration: integ.clone(),
        ..Default::default()
    };
    let mut pnames = Names::default();

    // Verb.
    let has_body = !l.data.is_empty() || !l.json.is_empty() || !l.form.is_empty();
    let verb = match &l.method {
        Some(v) => v.clone(),
        None if l.head => "HEAD".into(),
        None if l.get => "GET".into(),
        None if has_body => "POST".into(),
        None => "GET".into(),
    };
    if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&verb.as_str()) {
        return Err(Box::new(
            Diagnostic::error(
                codes::CURL_UNKNOWN_FLAG,
                format!("rbk cannot send `{verb}` requests"),
            )
            .at(super::find_span(sources, file, &verb, 0), "this verb")
            .help("rbk sends GET, POST, PUT, PATCH, DELETE, HEAD and OPTIONS"),
        ));
    }
    m.verb = verb.clone();
    m.name = opts
        .name
        .clone()
        .unwrap_or_else(|| method_name(&verb, &path));

    // Credentials: -u / user info, --oauth2-bearer.
    let mut auth: Option<Auth> = None;
    if let Some(u) = &user {
        let _ = u;
        auth = Some(Auth::Basic {
            username: emit::secret(&env("username")),
            password: emit::secret(&env("password")),
        });
    }
    if l.oauth2_bearer.is_some() {
        auth = Some(Auth::Bearer {
            token: emit::secret(&env("token")),
            header: None,
            prefix: None,
        });
    }

    // Query: data with -G joins it.
    let mut query_text = raw_query.unwrap_or_default();
    let data_text = || -> String {
        l.data
            .iter()
            .map(|d| match d {
                Data::Text(t) | Data::Encoded(t) => t.clone(),
                Data::File(f) => format!("@{f}"),
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    if l.get && !l.data.is_empty() {
        if l.data.iter().any(|d| matches!(d, Data::File(_))) {
            return Err(Box::new(
                Diagnostic::error(codes::CURL_UNKNOWN_FLAG, "-G with data from a file")
                    .at(whole(sources, file), "rbk cannot express this")
                    .help("give the query inline"),
            ));
        }
        if !query_text.is_empty() {
            query_text.push('&');
        }
        query_text.push_str(&data_text());
    }
    let mut path_text = emit::escape(&path);
    if !query_text.is_empty() {
        let pairs: Vec<(String, String, String)> = query_text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (p.to_string(), decode(k), decode(v))
            })
            .collect();
        let canonical = pairs
            .iter()
            .all(|(raw, k, v)| raw.contains('=') && crate::runtime::http::query_pair(k, v) == *raw);
        if canonical {
            for (_, k, v) in pairs {
                let lower = k.to_ascii_lowercase();
                if SECRET_QUERY.contains(&lower.as_str()) {
                    // In its place in the query (an `auth api_key` would
                    // move it to the end).
                    m.query.push(Entry {
                        key: k.clone(),
                        value: emit::secret(&env(&k)),
                        doc: Vec::new(),
                    });
                    continue;
                }
                let name = pnames.unique(&emit::param_ident(&k));
                m.params.push(Param {
                    name: name.clone(),
                    ty: infer_type(&v).into(),
                    default: Some(infer_literal(&v)),
                    doc: Vec::new(),
                });
                m.query.push(Entry {
                    key: k,
                    value: name,
                    doc: Vec::new(),
                });
            }
        } else {
            m.warnings.push(
                "the query is kept in the path as written (its encoding differs from rbk's)".into(),
            );
            // Credentials still move out of the text into secrets.
            let mut kept = Vec::new();
            for (raw, k, _) in pairs {
                if SECRET_QUERY.contains(&k.to_ascii_lowercase().as_str()) {
                    let value = emit::secret(&env(&k));
                    if auth.is_none() {
                        auth = Some(Auth::ApiKey {
                            name: k,
                            value,
                            in_query: true,
                        });
                    } else {
                        m.query.push(Entry {
                            key: k,
                            value,
                            doc: Vec::new(),
                        });
                    }
                } else {
                    kept.push(raw);
                }
            }
            if !kept.is_empty() {
                path_text.push('?');
                path_text.push_str(&emit::escape(&kept.join("&")));
            }
        }
    }
    m.path = path_text;

    // Headers.
    let mut content_type: Option<String> = None;
    for (k, v) in &l.headers {
        let lower = k.to_ascii_lowercase();
        if lower == "content-type" {
            content_type = Some(v.clone());
            continue;
        }
        if lower == "authorization" {
            let (scheme_word, _) = v.split_once(' ').unwrap_or((v.as_str(), ""));
            let a = match scheme_word.to_ascii_lowercase().as_str() {
                "basic" => Auth::Basic {
                    username: emit::secret(&env("username")),
                    password: emit::secret(&env("password")),
                },
                "bearer" => Auth::Bearer {
                    token: emit::secret(&env("token")),
                    header: None,
                    prefix: None,
                },
                _ if v.contains(' ') => Auth::Bearer {
                    token: emit::secret(&env("token")),
                    header: None,
                    prefix: Some(scheme_word.to_string()),
                },
                _ => {
                    m.headers.push(Entry {
                        key: k.clone(),
                        value: emit::secret(&env("authorization")),
                        doc: Vec::new(),
                    });
                    continue;
                }
            };
            if auth.is_none() {
                auth = Some(a);
            } else {
                m.headers.push(Entry {
                    key: k.clone(),
                    value: emit::secret(&env("authorization")),
                    doc: Vec::new(),
                });
            }
            continue;
        }
        if is_secret_header(k) {
            let keyish = lower.contains("key") || lower.contains("token");
            if auth.is_none() && keyish {
                auth = Some(Auth::ApiKey {
                    name: k.clone(),
                    value: emit::secret(&env(k)),
                    in_query: false,
                });
            } else {
                m.headers.push(Entry {
                    key: k.clone(),
                    value: emit::secret(&env(k)),
                    doc: Vec::new(),
                });
            }
            continue;
        }
        m.headers.push(Entry {
            key: k.clone(),
            value: emit::string(v),
            doc: Vec::new(),
        });
    }

    // Body.
    if !l.form.is_empty() {
        let mut list = Vec::new();
        for (k, v) in &l.form {
            if let Some(f) = v.strip_prefix('@').or_else(|| v.strip_prefix('<')) {
                let (path, ty) = match f.split_once(";type=") {
                    Some((p, t)) => (p, Some(t)),
                    None => (f, None),
                };
                let mut value = format!("bytes({})", emit::string(path));
                if let Some(t) = ty {
                    value.push_str(&format!(" as {}", emit::string(t)));
                }
                if v.starts_with('<') {
                    m.warnings.push(format!(
                        "`{k}=<{path}` sends the file's text as a field; rbk sends it as a file part"
                    ));
                }
                list.push(Entry {
                    key: k.clone(),
                    value,
                    doc: Vec::new(),
                });
            } else {
                let name = pnames.unique(&emit::param_ident(k));
                m.params.push(Param {
                    name: name.clone(),
                    ty: "string".into(),
                    default: Some(emit::string(v)),
                    doc: Vec::new(),
                });
                list.push(Entry {
                    key: k.clone(),
                    value: name,
                    doc: Vec::new(),
                });
            }
        }
        m.body = Some(Body::Multipart(list));
        if content_type.is_some() {
            m.warnings
                .push("the Content-Type header is replaced by multipart/form-data".into());
        }
    } else if !l.json.is_empty() {
        let text = l.json.concat();
        m.body = Some(
            json_body(&text, &mut m.params, &mut pnames).unwrap_or_else(|| Body::Text {
                value: emit::string(&text),
                content_type: content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".into()),
            }),
        );
        if !l
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            m.headers.push(Entry {
                key: "Accept".into(),
                value: emit::string("application/json"),
                doc: Vec::new(),
            });
        }
    } else if !l.data.is_empty() && !l.get {
        if let [Data::File(f)] = l.data.as_slice() {
            m.body = Some(Body::Bytes {
                path: f.clone(),
                content_type: content_type
                    .clone()
                    .unwrap_or_else(|| "application/x-www-form-urlencoded".into()),
            });
        } else if l.data.iter().any(|d| matches!(d, Data::File(_))) {
            return Err(Box::new(
                Diagnostic::error(
                    codes::CURL_UNKNOWN_FLAG,
                    "a body joined from a file and other data",
                )
                .at(whole(sources, file), "rbk cannot express this")
                .help("send the file alone with --data-binary @FILE"),
            ));
        } else {
            let text = data_text();
            let ct = content_type
                .clone()
                .unwrap_or_else(|| "application/x-www-form-urlencoded".into());
            let ct_lower = ct.to_ascii_lowercase();
            m.body = Some(
                if ct_lower.starts_with("application/x-www-form-urlencoded")
                    && ct_lower == "application/x-www-form-urlencoded"
                {
                    form_body(&text, &mut m, &mut pnames, &env, &mut auth).unwrap_or(Body::Text {
                        value: emit::string(&text),
                        content_type: ct,
                    })
                } else if ct_lower.starts_with("application/json") && ct_lower == "application/json"
                {
                    json_body(&text, &mut m.params, &mut pnames).unwrap_or(Body::Text {
                        value: emit::string(&text),
                        content_type: ct,
                    })
                } else {
                    Body::Text {
                        value: emit::string(&text),
                        content_type: ct,
                    }
                },
            );
        }
    } else if let Some(ct) = content_type {
        m.headers.push(Entry {
            key: "Content-Type".into(),
            value: emit::string(&ct),
            doc: Vec::new(),
        });
    }
    if m.body.is_some() && (verb == "GET" || verb == "HEAD") {
        m.warnings.push(format!(
            "curl sends a body with {verb}; rbk does not allow one"
        ));
        m.body = None;
    }
    if let Some(n) = l.retry {
        m.warnings.push(format!(
            "--retry: add `retry {{ attempts = {n} }}` to retry failed requests"
        ));
    }
    m.doc = vec![format!("`{verb} {path}`, imported from a curl command")];
    integration.auth = auth;
    if integration.auth.is_none() {
        integration.auth = Some(Auth::None);
    }
    // Required parameters first (all of these have defaults, keep order).
    Ok(emit::Program {
        header: vec!["Generated by `rbk import curl`.".into()],
        instances: Vec::new(),
        integrations: vec![integration],
        methods: vec![m],
    })
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `a=1&b=two` as `body form`, when rbk's encoder writes the same bytes.
fn form_body(
    text: &str,
    m: &mut Method,
    pnames: &mut Names,
    env: &dyn Fn(&str) -> String,
    auth: &mut Option<Auth>,
) -> Option<Body> {
    let mut entries = Vec::new();
    let mut params = Vec::new();
    for raw in text.split('&') {
        let (k, v) = raw.split_once('=')?;
        let dk = form_decode(k)?;
        let dv = form_decode(v)?;
        if crate::runtime::http::form_encode(&dk) != k
            || crate::runtime::http::form_encode(&dv) != v
        {
            return None;
        }
        if is_secret_header(&dk) || SECRET_QUERY.contains(&dk.to_ascii_lowercase().as_str()) {
            let _ = &auth;
            entries.push(Entry {
                key: dk.clone(),
                value: emit::secret(&env(&dk)),
                doc: Vec::new(),
            });
            continue;
        }
        let name = pnames.unique(&emit::param_ident(&dk));
        params.push(Param {
            name: name.clone(),
            ty: "string".into(),
            default: Some(emit::string(&dv)),
            doc: Vec::new(),
        });
        entries.push(Entry {
            key: dk,
            value: name,
            doc: Vec::new(),
        });
    }
    m.params.extend(params);
    Some(Body::Form(entries))
}

fn form_decode(s: &str) -> Option<String> {
    let replaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&replaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// JSON text as `body json`, its top-level scalar fields made parameters
/// with the line's values as defaults.
fn json_body(text: &str, params: &mut Vec<Param>, pnames: &mut Names) -> Option<Body> {
    let v: Node = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|_| serde_json::from_str::<Node>(text).ok())?;
    match &v {
        Node::Mapping(_) => {
            let mut parts = Vec::new();
            for (k, val) in super::entries(&v) {
                let ty = match val {
                    Node::String(_) => Some("string"),
                    Node::Bool(_) => Some("bool"),
                    Node::Number(n) if n.is_i64() || n.is_u64() => Some("int"),
                    Node::Number(_) => Some("float"),
                    _ => None,
                };
                match ty {
                    Some(t) => {
                        let name = pnames.unique(&emit::param_ident(k));
                        params.push(Param {
                            name: name.clone(),
                            ty: t.into(),
                            default: Some(super::literal(val)),
                            doc: Vec::new(),
                        });
                        parts.push(format!("    {}: {name},\n", emit::key(k)));
                    }
                    None => parts.push(format!("    {}: {},\n", emit::key(k), super::literal(val))),
                }
            }
            Some(Body::Json(format!("{{\n{}  }}", parts.concat())))
        }
        other => Some(Body::Json(super::literal(other))),
    }
}

fn infer_type(v: &str) -> &'static str {
    if is_plain_int(v) {
        "int"
    } else if v == "true" || v == "false" {
        "bool"
    } else {
        "string"
    }
}

fn infer_literal(v: &str) -> String {
    if is_plain_int(v) || v == "true" || v == "false" {
        v.to_string()
    } else {
        emit::string(v)
    }
}

fn is_plain_int(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.len() <= 18
        && digits.chars().all(|c| c.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && v != "-0"
}

/// `api.github.com` → `github`; an address or `localhost` → `api`.
fn host_name(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok()
        || host.starts_with('[')
        || host.eq_ignore_ascii_case("localhost")
    {
        return "api".into();
    }
    let labels: Vec<&str> = host.split('.').collect();
    let core = if labels.len() >= 2 {
        labels[labels.len() - 2]
    } else {
        labels[0]
    };
    emit::ident(core, "api")
}

/// `POST /v1/items/42` → `post_items`.
fn method_name(verb: &str, path: &str) -> String {
    let segs: Vec<&str> = path
        .split('/')
        .filter(|s| {
            let version =
                s.len() <= 3 && s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit());
            !(s.is_empty() || s.chars().all(|c| c.is_ascii_digit()) || version)
        })
        .collect();
    let tail = segs
        .iter()
        .rev()
        .take(2)
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join("_");
    let base = if tail.is_empty() {
        format!("{}_root", verb.to_ascii_lowercase())
    } else {
        format!("{}_{tail}", verb.to_ascii_lowercase())
    };
    emit::ident(&base, "call")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(host_name("api.github.com"), "github");
        assert_eq!(host_name("127.0.0.1"), "api");
        assert_eq!(method_name("POST", "/v1/items/42"), "post_items");
        assert_eq!(method_name("GET", "/"), "get_root");
    }
}
