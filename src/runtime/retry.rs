//! The retry policy: attempts, exponential backoff with full jitter, a cap,
//! the statuses to retry on, and which verbs may be retried.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use super::Context;
use super::eval::{EvalError, Vars, eval};
use super::http::statuses;
use super::value::Value;
use crate::syntax::ast::{Block, EntryValue, Verb};

/// The longest `Retry-After` rbk honours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total tries, the first included (1 = no retry).
    pub attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub on: Cow<'static, [(i64, i64)]>,
    /// Verbs that may be retried; POST and PATCH only when listed.
    pub methods: Cow<'static, [Verb]>,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            // Static: a policy is built for every request.
            on: Cow::Borrowed(&[(429, 429), (502, 504)]),
            methods: Cow::Borrowed(&[
                Verb::Get,
                Verb::Head,
                Verb::Options,
                Verb::Put,
                Verb::Delete,
            ]),
        }
    }
}

impl RetryPolicy {
    pub fn from_block(block: &Block, vars: &Vars, cx: &Context) -> Result<RetryPolicy, EvalError> {
        let mut p = RetryPolicy::default();
        for e in &block.entries {
            let EntryValue::Expr { value, .. } = &e.value else {
                continue;
            };
            if e.key.name == "methods" {
                let items: Vec<&crate::syntax::ast::Expr> = match &value.kind {
                    crate::syntax::ast::ExprKind::List(items) => items.iter().collect(),
                    _ => vec![value],
                };
                p.methods = items
                    .iter()
                    .filter_map(|i| match &i.kind {
                        crate::syntax::ast::ExprKind::Name(id) => Verb::parse(&id.name),
                        crate::syntax::ast::ExprKind::Str(s) => {
                            s.as_plain().and_then(|t| Verb::parse(&t))
                        }
                        _ => None,
                    })
                    .collect();
                continue;
            }
            let v = eval(value, vars, cx, None)?;
            match (e.key.name.as_str(), v.reveal()) {
                ("attempts", Value::Int(n)) => p.attempts = (*n).clamp(1, 100) as u32,
                ("backoff", Value::Duration(d)) => p.backoff = *d,
                ("max_backoff", Value::Duration(d)) => p.max_backoff = *d,
                ("on", _) => p.on = statuses(&v).into(),
                _ => {}
            }
        }
        Ok(p)
    }

    pub fn retries_verb(&self, verb: Verb) -> bool {
        self.methods.contains(&verb)
    }

    pub fn retries_status(&self, status: u16) -> bool {
        let s = status as i64;
        self.on.iter().any(|(a, b)| (*a..=*b).contains(&s))
    }

    /// The wait before try `attempt + 1` (attempt counts from 1): full
    /// jitter over an exponential backoff, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let cap = exp.min(self.max_backoff);
        cap.mul_f64(fastrand::f64())
    }
}

/// `Retry-After` as seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let when = httpdate::parse_http_date(v).ok()?;
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(d.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("99999"), Some(MAX_RETRY_AFTER));
        let soon = SystemTime::now() + Duration::from_secs(20);
        let d = retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            d <= Duration::from_secs(20) && d >= Duration::from_secs(18),
            "{d:?}"
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(250),
            ..RetryPolicy::default()
        };
        for attempt in 1..10 {
            assert!(p.delay(attempt) <= Duration::from_millis(250));
        }
        assert!(!p.retries_verb(Verb::Post));
        assert!(p.retries_verb(Verb::Get));
    }
}
