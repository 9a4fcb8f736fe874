//! Sending one prepared request: replay, retries with backoff, rate
//! limits, the 401 resend with a fresh token, and redirects hop by hop.

use std::time::{Duration, Instant, SystemTime};

use super::auth::Auth;
use super::http::{self, Prepared, Transport, send_once};
use super::outputs::Response;
use super::retry::retry_after;
use super::{ErrorKind, Exchange, RunError, Runtime};
use crate::syntax::ast::*;

use super::runbook::*;

impl Runtime {
    /// Sends, following redirects (up to [`MAX_REDIRECTS`]) hop by hop:
    /// each hop to the request's own origin is authorized afresh (a new
    /// signature over the body actually sent, the current token); a hop to
    /// another origin carries no auth and none of the method's headers that
    /// hold a secret. A 3xx that the method's `expect` accepts is its
    /// answer, not followed. `Ok(Err(..))` is a transport failure.
    pub(super) async fn send(
        &self,
        step: &str,
        integ: &Integration,
        unsigned: &Prepared,
        auth: &Auth,
    ) -> Res<Result<Response, Transport>> {
        let no_auth = Auth::None;
        // An absolute URL from a value, on an untrusted origin: as a hop
        // to another origin, no credentials go with it.
        let (first, auth) = if unsigned.foreign {
            let mut bare = unsigned.clone();
            self.strip_credentials(&mut bare);
            (self.send_hop(step, integ, &bare, &no_auth).await?, &no_auth)
        } else {
            (self.send_hop(step, integ, unsigned, auth).await?, auth)
        };
        let mut hop = match redirect_of(unsigned, &first) {
            Some(next) => next,
            None => return Ok(first),
        };
        let own = http::origin_of(&unsigned.url);
        for _ in 0..MAX_REDIRECTS {
            // The request's own origin, or one the integration trusts.
            let same = !unsigned.foreign
                && http::origin_of(&hop.url)
                    .is_some_and(|o| own.as_ref() == Some(&o) || hop.trusted_origins.contains(&o));
            if !same {
                self.strip_credentials(&mut hop);
                // A 307/308 resends the body: never one holding a secret.
                if let Some(b) = &hop.body
                    && self
                        .cx
                        .redactor
                        .contains_secret(&String::from_utf8_lossy(&b.bytes))
                {
                    return Ok(Err(Transport::Error(
                        ErrorKind::HttpRedirect,
                        format!(
                            "not following the redirect to {}: it is another origin, and the request body holds a secret (rbk does not resend a secret to another origin)",
                            self.mask(&hop.url)
                        ),
                    )));
                }
            }
            let r = self
                .send_hop(step, integ, &hop, if same { auth } else { &no_auth })
                .await?;
            match redirect_of(&hop, &r) {
                Some(next) => hop = next,
                None => return Ok(r),
            }
        }
        Ok(Err(Transport::Error(
            ErrorKind::HttpRedirect,
            format!(
                "too many redirects (more than {MAX_REDIRECTS}), last to {}",
                self.mask(&hop.url)
            ),
        )))
    }

    /// Removes what must not reach another origin: authorization, cookies,
    /// and every header whose value came from `secret()` or `env()`.
    pub(super) fn strip_credentials(&self, p: &mut Prepared) {
        let redactor = &self.cx.redactor;
        p.headers.retain(|(k, v)| {
            !(k.eq_ignore_ascii_case("authorization")
                || k.eq_ignore_ascii_case("cookie")
                || k.eq_ignore_ascii_case("proxy-authorization")
                || redactor.contains_sensitive(v))
        });
    }

    /// Sends one request (no redirects followed) with the retry policy, rate
    /// limits and one resend after a 401; `Ok(Err(..))` is a transport
    /// failure after the last try.
    pub(super) async fn send_hop(
        &self,
        step: &str,
        integ: &Integration,
        unsigned: &Prepared,
        auth: &Auth,
    ) -> Res<Result<Response, Transport>> {
        if let Some(replay) = &self.replay {
            let mut authorized = unsigned.clone();
            // A token would come from the network; cassettes match on
            // method, URL and body, which a bearer token never changes.
            if !auth.fetches_tokens()
                && let Ok(client) = self.pool.client(&self.cx, integ, &unsigned.method)
            {
                let env = self.auth_env(integ, &client);
                auth.apply(&mut authorized, &env)
                    .await
                    .map_err(|e| self.masked(e.into()))?;
            }
            let p = &authorized;
            let masked = self.masked_request(p);
            // The cassette holds every try of a retried request: answer the
            // retries from it too (without waiting), as the recording went.
            let mut attempt = 0u32;
            let mut reauthorized = false;
            loop {
                attempt += 1;
                let r = replay
                    .answer(&masked.0, &masked.1, &masked.2)
                    .map_err(|msg| RunError {
                        message: msg,
                        span: None,
                        step: Some(step.to_string()),
                        usage: false,
                        kind: ErrorKind::Replay,
                    })?;
                if self.records() {
                    self.record(self.exchange(
                        step,
                        p,
                        r.as_ref().map_err(|t| t.clone()),
                        SystemTime::now(),
                        Duration::ZERO,
                        attempt,
                    ));
                }
                // A recorded 401 that made rbk fetch a new token and resend:
                // the resend is the next recording, replayed the same way.
                if let Ok(resp) = &r
                    && resp.status == 401
                    && auth.fetches_tokens()
                    && !reauthorized
                    && replay.has_unused(&masked.0, &masked.1, &masked.2)
                {
                    reauthorized = true;
                    attempt -= 1;
                    continue;
                }
                let more = p.retry.retries_verb(p.verb) && attempt < p.retry.attempts;
                let retried = match &r {
                    Ok(resp) => more && p.retry.retries_status(resp.status),
                    Err(_) => more,
                };
                if !retried {
                    return Ok(r);
                }
            }
        }
        let client = self
            .pool
            .client(&self.cx, integ, &unsigned.method)
            .map_err(|m| {
                RunError::at(
                    integ.name.span,
                    self.mask(&format!("integration `{}`: {m}", integ.name.name)),
                )
            })?;
        let limit = self.pool.limit(&self.cx, integ);
        let env = self.auth_env(integ, &client);
        let mut attempt = 0u32;
        let mut reauthorized = false;
        loop {
            attempt += 1;
            // Authorize each try afresh: signatures carry timestamps, and a
            // token may have been refreshed. Nothing to add: no copy.
            let authorized = if auth.adds_nothing() {
                std::borrow::Cow::Borrowed(unsigned)
            } else {
                let mut a = unsigned.clone();
                auth.apply(&mut a, &env)
                    .await
                    .map_err(|e| self.masked(e.into()))?;
                std::borrow::Cow::Owned(a)
            };
            let p = &*authorized;
            // Many processes on one journal share the slots; else ours.
            let slot = match limit.slots {
                Some(n) => {
                    super::durable::shared_slot(
                        &integ.name.name,
                        n,
                        p.timeout + Duration::from_secs(5),
                    )
                    .await?
                }
                None => None,
            };
            let _permit = match &limit.concurrency {
                Some(_) if slot.is_some() => None,
                Some(s) => Some(
                    s.clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| RunError::at(integ.name.span, e.to_string()))?,
                ),
                None => None,
            };
            // Many processes on one journal share the bucket; else ours.
            let shared = match limit.rate {
                Some((requests, per)) => {
                    super::durable::shared_rate(&integ.name.name, requests, per).await?
                }
                None => false,
            };
            if !shared {
                limit.take().await;
            }
            let started_at = SystemTime::now();
            let started = Instant::now();
            let r = send_once(&client, p).await;
            let elapsed = started.elapsed();
            drop(_permit);
            drop(slot);
            if self.records() {
                self.record(self.exchange(
                    step,
                    p,
                    r.as_ref().map_err(|t| t.clone()),
                    started_at,
                    elapsed,
                    attempt,
                ));
            }
            // A 401 with a token: fetch a new token and resend, once.
            if let Ok(resp) = &r
                && resp.status == 401
                && !reauthorized
                && auth.unauthorized(&env).await
            {
                reauthorized = true;
                attempt -= 1;
                continue;
            }
            let retryable = p.retry.retries_verb(p.verb) && attempt < p.retry.attempts;
            let wait = match &r {
                Ok(resp) if retryable && p.retry.retries_status(resp.status) => Some(
                    resp.header("retry-after")
                        .and_then(|h| retry_after(&h))
                        .map(|d| d.min(p.retry.max_backoff))
                        .unwrap_or_else(|| p.retry.delay(attempt)),
                ),
                Err(Transport::Refused(..)) => None,
                Err(_) if retryable => Some(p.retry.delay(attempt)),
                _ => None,
            };
            match wait {
                Some(w) => {
                    self.observer.note(&format!(
                        "retrying {} {} in {} (attempt {} of {})",
                        p.verb.as_str(),
                        self.mask(&p.url),
                        super::value::format_duration(w),
                        attempt + 1,
                        p.retry.attempts
                    ));
                    tokio::time::sleep(w).await;
                }
                None => return Ok(r),
            }
        }
    }

    pub(super) fn auth_env<'a>(
        &'a self,
        integ: &'a Integration,
        client: &'a reqwest::Client,
    ) -> super::auth::AuthEnv<'a> {
        super::auth::AuthEnv {
            cx: &self.cx,
            client,
            integration: &integ.name.name,
            tokens: &self.tokens,
            observer: &*self.observer,
        }
    }

    pub(super) fn masked_request(&self, p: &Prepared) -> (String, String, String) {
        let body = p
            .body
            .as_ref()
            .map(|b| String::from_utf8_lossy(&b.bytes).into_owned())
            .unwrap_or_default();
        (
            p.verb.as_str().to_string(),
            self.mask(&p.url),
            self.mask(&normalise_multipart(&body)),
        )
    }

    pub(super) fn exchange(
        &self,
        step: &str,
        p: &Prepared,
        r: Result<&Response, Transport>,
        started: SystemTime,
        elapsed: Duration,
        attempt: u32,
    ) -> Exchange {
        let (method, url, body) = self.masked_request(p);
        let mut headers: Vec<(String, String)> = p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), mask_header(k, &self.mask(v))))
            .collect();
        if let Some(b) = &p.body
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), b.content_type.to_string()));
        }
        let timed_out = matches!(r, Err(Transport::Timeout(_)));
        let (status, response_headers, response_body, error) = match r {
            Ok(resp) => (
                Some(resp.status),
                resp.headers()
                    .iter()
                    .map(|(k, v)| (k.clone(), mask_header(k, &self.mask(v))))
                    .collect(),
                self.mask(&resp.text()),
                None,
            ),
            Err(t) => (
                None,
                Vec::new(),
                String::new(),
                Some(self.mask(t.message())),
            ),
        };
        Exchange {
            timed_out,
            step: step.to_string(),
            method,
            url,
            request_headers: headers,
            request_body: body,
            status,
            response_headers,
            response_body,
            error,
            started,
            elapsed,
            attempt,
        }
    }
}

/// Authorization-like headers never appear in traces, even when not secret.
pub fn mask_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    // A dry run's `Bearer <token from URL>` holds no credential: shown.
    if matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
    ) && !(value.contains("<token from ") && value.ends_with('>'))
    {
        super::value::MASK.to_string()
    } else {
        value.to_string()
    }
}

/// Multipart boundaries are random; cassettes compare bodies without them.
pub fn normalise_multipart(body: &str) -> String {
    let mut out = body.to_string();
    while let Some(i) = out.find("rbk-") {
        let end = out[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map(|e| i + e)
            .unwrap_or(out.len());
        if end - i < 20 {
            break;
        }
        out.replace_range(i..end, "BOUNDARY");
    }
    out
}

/// Redirects followed per request.
pub const MAX_REDIRECTS: usize = 10;

/// The next request when `r` is a redirect to follow: a 301, 302, 303,
/// 307 or 308 with a usable `Location` that the method's `expect` does not
/// accept. 303, and 301/302 after a POST, become a GET without a body (as
/// browsers do); 307 and 308 resend the same method and body.
pub(super) fn redirect_of(p: &Prepared, r: &Result<Response, Transport>) -> Option<Prepared> {
    let resp = r.as_ref().ok()?;
    if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) || p.accepts(resp.status) {
        return None;
    }
    let location = resp.header("location")?;
    let url = reqwest::Url::parse(&p.url)
        .ok()?
        .join(location.trim())
        .ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut next = p.clone();
    next.url = url.to_string();
    let to_get = resp.status == 303 && p.verb != Verb::Head
        || matches!(resp.status, 301 | 302) && p.verb == Verb::Post;
    if to_get {
        next.verb = Verb::Get;
        next.body = None;
        next.headers.retain(|(k, _)| {
            !(k.eq_ignore_ascii_case("content-type") || k.eq_ignore_ascii_case("content-length"))
        });
    }
    Some(next)
}
