//! `for page in integ.method(...)`: one iteration per page, following
//! `next_url`, `link_header`, `cursor` or `page` pagination.

use std::sync::Arc;

use super::auth::Auth;
use super::eval::{Vars, eval};
use super::http::{self, bind, prepare};
use super::outputs::Response;
use super::value::{StepResult, Value};
use super::{ErrorKind, RunError, Runtime};
use crate::syntax::ast::*;

use super::runbook::*;

impl Runtime {
    pub(super) async fn pages(
        &self,
        f: &For,
        env: &mut Vars,
        integration: &str,
        method: &str,
        args: Vec<(Option<String>, Value)>,
        steps: &[String],
    ) -> Res<Pages> {
        let program = self.cx.program.clone();
        let span = f.iter.span;
        let m = program
            .method(integration, method)
            .ok_or_else(|| RunError::at(span, format!("no method `{integration}.{method}`")))?;
        let integ = program
            .integration(integration)
            .ok_or_else(|| RunError::at(span, format!("no integration `{integration}`")))?;
        let paginate = m.items.iter().find_map(|i| match i {
            MethodItem::Paginate(p) => Some(p),
            _ => None,
        });
        let vars = bind(&m.params, args, &self.cx, span).map_err(|e| self.masked(e.into()))?;
        let mut first = prepare(&self.cx, integ, m, &vars).map_err(|e| self.masked(e.into()))?;
        let auth =
            Auth::for_method(&self.cx, integ, m, &vars).map_err(|e| self.masked(e.into()))?;
        let option = |key: &str| -> Option<Value> {
            let block = paginate?.options.as_ref()?;
            match &block.get(key)?.value {
                EntryValue::Expr { value, .. } => eval(value, &vars, &self.cx, None).ok(),
                _ => None,
            }
        };
        let max_pages = match option("max_pages").as_ref().map(Value::reveal) {
            Some(Value::Int(n)) if *n > 0 => *n as usize,
            _ => 100,
        };
        let kind = paginate.map(|p| p.kind.name.as_str()).unwrap_or("");
        let page_param = option("param").map(|v| v.to_text());
        let size = match option("size").as_ref().map(Value::reveal) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let mut page_no = match option("start").as_ref().map(Value::reveal) {
            Some(Value::Int(n)) => *n,
            _ => 1,
        };
        if kind == "page" {
            if let Some(p) = &page_param {
                set_query(&mut first.url, p, &page_no.to_string());
            }
            if let (Some(sp), Some(sz)) = (option("size_param"), size) {
                set_query(&mut first.url, &sp.to_text(), &sz.to_string());
            }
        }
        let writes: Vec<String> = outer_writes(&f.body.stmts)
            .into_iter()
            .filter(|n| env.contains_key(n))
            .collect();
        let mut per_step: Vec<Vec<Value>> = vec![Vec::new(); steps.len()];
        let mut next = Some(first);
        let mut count = 0usize;
        while let Some(unsigned) = next.take() {
            count += 1;
            // The next page is built from the request before auth, so an
            // API key in the query is not added twice.
            let response_req = unsigned.clone();
            let req = unsigned;
            let step_name = qualified(&format!("{}[page {count}]", f.var.name));
            self.observer
                .step_started(&step_name, &format!("{integration}.{method}"));
            let outcome = self
                .send_and_read(&step_name, integ, m, &vars, req, &auth, true)
                .await?;
            self.observer.step_finished(
                &step_name,
                &format!("{integration}.{method}"),
                &outcome.result,
            );
            if outcome.failure.is_some() {
                return Err(RunError {
                    message: self.mask(&format!(
                        "page {count} of `{integration}.{method}` ({}) failed: {}",
                        outcome.request,
                        outcome.result.error.clone().unwrap_or_default()
                    )),
                    span: Some(span),
                    step: Some(step_name),
                    usage: false,
                    kind: outcome.result.error_kind.unwrap_or(ErrorKind::Failed),
                });
            }
            let result = outcome.result;
            // Work out the next page before the body runs.
            if !self.cx.dry_run {
                let response = Response::new(
                    result.status as u16,
                    result.headers().to_vec(),
                    result.body().as_bytes().to_vec(),
                );
                let base_url = response_req.url.clone();
                let mut follow = |url: String| {
                    let mut r = response_req.clone();
                    r.url = url;
                    next = Some(r);
                };
                match kind {
                    "next_url" => {
                        if let Some(e) = paginate.and_then(|p| p.value.as_ref()) {
                            let v =
                                eval(e, &vars, &self.cx, Some(&response)).unwrap_or(Value::Null);
                            let t = v.to_text();
                            if !v.is_null() && !t.is_empty() {
                                follow(resolve_url(&base_url, &t));
                            }
                        }
                    }
                    "link_header" => {
                        if let Some(link) = response.header("link").and_then(|l| next_link(&l)) {
                            follow(resolve_url(&base_url, &link));
                        }
                    }
                    "cursor" => {
                        let next_e = paginate
                            .and_then(|p| p.options.as_ref())
                            .and_then(|b| b.get("next"))
                            .and_then(|e| match &e.value {
                                EntryValue::Expr { value, .. } => Some(value),
                                _ => None,
                            });
                        if let (Some(e), Some(param)) = (next_e, &page_param) {
                            let v =
                                eval(e, &vars, &self.cx, Some(&response)).unwrap_or(Value::Null);
                            let t = v.to_text();
                            if !v.is_null() && !t.is_empty() {
                                let mut url = base_url.clone();
                                set_query(&mut url, param, &t);
                                follow(url);
                            }
                        }
                    }
                    "page" => {
                        let items = first_list_len(&result);
                        let full = match (items, size) {
                            (Some(n), Some(sz)) => n as i64 >= sz,
                            (Some(n), None) => n > 0,
                            (None, _) => false,
                        };
                        if full && let Some(p) = &page_param {
                            page_no += 1;
                            let mut url = base_url.clone();
                            set_query(&mut url, p, &page_no.to_string());
                            follow(url);
                        }
                    }
                    _ => {}
                }
                if count >= max_pages && next.take().is_some() {
                    self.observer.note(&format!(
                        "stopped `{integration}.{method}` after {max_pages} pages (max_pages); there are more"
                    ));
                }
            }
            let mut local = item_scope(env, 1 + steps.len());
            local.insert(f.var.name.clone(), Value::Step(Arc::new(result)));
            let flow = self.block(&f.body.stmts, &mut local).await?;
            copy_back(&writes, &local, env);
            if let Flow::Return(v) = flow {
                return Ok((Vec::new(), Some(v)));
            }
            for (i, name) in steps.iter().enumerate() {
                if let Some(v) = local.get(name) {
                    per_step[i].push(v.clone());
                }
            }
        }
        Ok((steps.iter().cloned().zip(per_step).collect(), None))
    }
}

/// Sets query parameter `key` of `url` to `value`: the other parameters stay
/// as they were written, the new one is encoded like every query parameter
/// ([`http::query_pair`]).
pub(super) fn set_query(url: &mut String, key: &str, value: &str) {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b.to_string(), format!("#{f}")),
        None => (url.clone(), String::new()),
    };
    let (path, query) = base.split_once('?').unwrap_or((&base, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let k = p.split_once('=').map(|(k, _)| k).unwrap_or(p);
            percent_encoding::percent_decode_str(&k.replace('+', " ")).decode_utf8_lossy() != key
        })
        .map(str::to_string)
        .collect();
    pairs.push(http::query_pair(key, value));
    *url = format!("{path}?{}{fragment}", pairs.join("&"));
}

pub(super) fn resolve_url(base: &str, next: &str) -> String {
    match reqwest::Url::parse(base).and_then(|b| b.join(next)) {
        Ok(u) => u.to_string(),
        Err(_) => next.to_string(),
    }
}

/// The `rel="next"` target of an RFC 8288 Link header.
pub fn next_link(header: &str) -> Option<String> {
    // Link values are `<URI>; param=value; param="quoted, value"`, separated
    // by commas; a comma or semicolon inside `<...>` or quotes is part of it.
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let mut params = String::new();
        let mut quoted = false;
        let mut end = rest.len();
        for (i, c) in rest[close + 1..].char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = close + 1 + i + 1;
                    break;
                }
                _ => {}
            }
            params.push(c);
        }
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        if end >= rest.len() {
            return None;
        }
        rest = &rest[end..];
    }
}

pub(super) fn first_list_len(r: &StepResult) -> Option<usize> {
    r.outputs.iter().find_map(|(_, v)| match v.reveal() {
        Value::List(l) => Some(l.len()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let h =
            r#"<https://api.x/repos?page=2>; rel="next", <https://api.x/repos?page=5>; rel="last""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.x/repos?page=2"));
        assert_eq!(
            next_link(r#"<https://api.x/repos?page=5>; rel="last""#),
            None
        );
    }

    #[test]
    fn link_header_commas_and_semicolons_inside_targets_and_quotes() {
        let h = r#"<https://api.x/r?ids=1,2;v=3>; rel="prev", <https://api.x/r?ids=3,4>; title="a, b; c"; rel="next""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.x/r?ids=3,4"));
        assert_eq!(
            next_link(r#"<https://api.x/n>; rel="last next""#).as_deref(),
            Some("https://api.x/n")
        );
        assert_eq!(
            next_link("<https://api.x/n>; rel=next").as_deref(),
            Some("https://api.x/n")
        );
        assert_eq!(next_link(r#"<https://api.x/n>; rel="nextish""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("<unclosed; rel=next"), None);
    }

    #[test]
    fn query_params_are_replaced() {
        let mut u = "http://h/x?a=1&page=1".to_string();
        set_query(&mut u, "page", "2");
        assert_eq!(u, "http://h/x?a=1&page=2");
        // The other parameters keep their bytes; the new one is encoded as
        // every query parameter is (a space as %20, `~` kept).
        let mut u = "http://h/x?q=a%20b&page=1&t=x+y#frag".to_string();
        set_query(&mut u, "cursor", "c d~/");
        assert_eq!(u, "http://h/x?q=a%20b&page=1&t=x+y&cursor=c%20d~%2F#frag");
        let mut u = "http://h/x".to_string();
        set_query(&mut u, "page", "1");
        assert_eq!(u, "http://h/x?page=1");
    }
}
