//! The kinds of run-time error, each with a stable code (in the style of
//! the `check` codes) and a one-line resolution. `docs/diagnostics.md`
//! lists them; the code is shown on stderr, in the JSON report (`code`)
//! and in JUnit (`<failure type="...">`).

/// What kind of thing went wrong at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ErrorKind {
    /// The request got no answer within its `timeout`.
    #[error("the request timed out")]
    HttpTimeout,
    /// The connection could not be made (refused, DNS, unreachable).
    #[error("the connection could not be made")]
    HttpConnect,
    /// The TLS handshake failed (certificate, protocol).
    #[error("the TLS handshake failed")]
    HttpTls,
    /// Too many redirects, or a redirect rbk refuses to follow.
    #[error("a redirect was not followed")]
    HttpRedirect,
    /// The status was not one the method's `expect` accepts.
    #[error("the status is not an expected one")]
    HttpStatus,
    /// Another transport failure (the connection broke, a bad header...).
    #[error("the request failed")]
    Http,
    /// A polling step's `until` was still false after `max` attempts.
    #[error("polling gave up")]
    PollExhausted,
    /// A declared output is absent or null.
    #[error("an output is missing")]
    OutputMissing,
    /// A declared output did not convert to its type.
    #[error("an output has the wrong type")]
    OutputType,
    /// A token endpoint (oauth2, jwt_assertion) failed or refused.
    #[error("no token was obtained")]
    AuthToken,
    /// Another authorization failure (a key or certificate that cannot be used).
    #[error("the request could not be authorized")]
    Auth,
    /// A response body over `max_response`.
    #[error("the response is too large")]
    LimitResponseSize,
    /// More statements than `--max-steps`.
    #[error("too many statements")]
    LimitMaxSteps,
    /// A list or object would nest more than `MAX_DEPTH` levels.
    #[error("a value nests too deep")]
    LimitDepth,
    /// `run` nested more than `MAX_RUN_DEPTH` runbooks.
    #[error("runbooks nest too deep")]
    LimitRunDepth,
    /// A path segment built from a value reads `.` or `..`.
    #[error("a path segment was refused")]
    PathSegment,
    /// `secret()` or `env()` names a variable that is not set.
    #[error("a secret is not set")]
    SecretUnset,
    /// `file()`, `bytes()` or a `bytes` body names a file outside the file
    /// root, not a regular file, or too large.
    #[error("a file was refused")]
    FileRefused,
    /// A `fail` statement ran.
    #[error("the runbook failed")]
    RunbookFail,
    /// An expression could not be evaluated.
    #[error("an expression could not be evaluated")]
    Eval,
    /// A replay found no recorded answer for a request.
    #[error("the cassette has no answer")]
    Replay,
    /// A signal stopped the run.
    #[error("the run was interrupted")]
    Interrupted,
    /// `rbk serve`: the run stopped without an end (cancelled, the server
    /// drains, or a request needs an operator's decision).
    #[error("the run stopped")]
    Stopped,
    /// `rbk serve`: the journal could not be written or read.
    #[error("the journal failed")]
    Journal,
    /// Anything not classified above.
    #[error("the run failed")]
    Failed,
}

impl ErrorKind {
    /// Every kind, in the order `docs/diagnostics.md` lists them.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::HttpTimeout,
        ErrorKind::HttpConnect,
        ErrorKind::HttpTls,
        ErrorKind::HttpRedirect,
        ErrorKind::HttpStatus,
        ErrorKind::Http,
        ErrorKind::PollExhausted,
        ErrorKind::OutputMissing,
        ErrorKind::OutputType,
        ErrorKind::AuthToken,
        ErrorKind::Auth,
        ErrorKind::LimitResponseSize,
        ErrorKind::LimitMaxSteps,
        ErrorKind::LimitDepth,
        ErrorKind::LimitRunDepth,
        ErrorKind::PathSegment,
        ErrorKind::SecretUnset,
        ErrorKind::FileRefused,
        ErrorKind::RunbookFail,
        ErrorKind::Eval,
        ErrorKind::Replay,
        ErrorKind::Interrupted,
        ErrorKind::Stopped,
        ErrorKind::Journal,
        ErrorKind::Failed,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::HttpTimeout => "rbk::http::timeout",
            ErrorKind::HttpConnect => "rbk::http::connect",
            ErrorKind::HttpTls => "rbk::http::tls",
            ErrorKind::HttpRedirect => "rbk::http::redirect",
            ErrorKind::HttpStatus => "rbk::http::status",
            ErrorKind::Http => "rbk::http::error",
            ErrorKind::PollExhausted => "rbk::poll::exhausted",
            ErrorKind::OutputMissing => "rbk::output::missing",
            ErrorKind::OutputType => "rbk::output::type",
            ErrorKind::AuthToken => "rbk::auth::token",
            ErrorKind::Auth => "rbk::auth::failed",
            ErrorKind::LimitResponseSize => "rbk::limit::response_size",
            ErrorKind::LimitMaxSteps => "rbk::limit::max_steps",
            ErrorKind::LimitDepth => "rbk::limit::value_depth",
            ErrorKind::LimitRunDepth => "rbk::limit::run_depth",
            ErrorKind::PathSegment => "rbk::path::segment",
            ErrorKind::SecretUnset => "rbk::secret::unset",
            ErrorKind::FileRefused => "rbk::file::refused",
            ErrorKind::RunbookFail => "rbk::runbook::fail",
            ErrorKind::Eval => "rbk::eval",
            ErrorKind::Replay => "rbk::replay::no_match",
            ErrorKind::Interrupted => "rbk::interrupted",
            ErrorKind::Stopped => "rbk::serve::stopped",
            ErrorKind::Journal => "rbk::serve::journal",
            ErrorKind::Failed => crate::diagnostic::codes::RUN_FAILED,
        }
    }

    /// One line on how to resolve it.
    pub fn help(self) -> &'static str {
        match self {
            ErrorKind::HttpTimeout => {
                "the server did not answer in time: raise `timeout` on the method or integration, or add `retry`"
            }
            ErrorKind::HttpConnect => {
                "check the URL (`base_url`, the instance), that the server is up, and the network, proxy and DNS"
            }
            ErrorKind::HttpTls => {
                "check the server's certificate and the integration's `tls` settings (ca, client certificate)"
            }
            ErrorKind::HttpRedirect => {
                "call the final URL directly, or list its origin in `trusted_origins`"
            }
            ErrorKind::HttpStatus => {
                "see the status and body in the message; widen the method's `expect` or handle it with an `else` arm"
            }
            ErrorKind::Http => "see the message; `-v` shows each request and what came back",
            ErrorKind::PollExhausted => {
                "raise the step's `until ... max`, or `every`, or handle it with an `else timeout` arm"
            }
            ErrorKind::OutputMissing => {
                "the response lacks this output: make its type optional (`T?`) or fix its query"
            }
            ErrorKind::OutputType => {
                "the response's value does not fit the output's type: change the type or the query"
            }
            ErrorKind::AuthToken => {
                "check the token URL, the client credentials and the scopes; `-v` shows the token request"
            }
            ErrorKind::Auth => "check the auth block's keys, certificates and secrets",
            ErrorKind::LimitResponseSize => {
                "raise `max_response` on the method or integration, or pass --max-response"
            }
            ErrorKind::LimitMaxSteps => {
                "look for an endless loop, or raise --max-steps if the run is meant to be this long"
            }
            ErrorKind::LimitDepth => {
                "collect items in a list (`items += [x]`) instead of wrapping the last value in a new one"
            }
            ErrorKind::LimitRunDepth => {
                "a runbook that runs itself needs a condition that ends the recursion; or loop with `for` instead"
            }
            ErrorKind::PathSegment => {
                "check the value before the step, or pass it as a query parameter"
            }
            ErrorKind::SecretUnset => {
                "export the variable or put it in the --env-file (`rbk run --dry-run` uses placeholders)"
            }
            ErrorKind::FileRefused => {
                "keep the file under the file root (--file-root) and within --max-file-size"
            }
            ErrorKind::RunbookFail => {
                "the runbook stopped itself with `fail`; its message says why"
            }
            ErrorKind::Eval => "see the message and the marked expression",
            ErrorKind::Replay => "record the cassette again (--record), or run without --replay",
            ErrorKind::Interrupted => "the run was stopped by a signal before it finished",
            ErrorKind::Stopped => {
                "the run was cancelled, or waits for the next start or an operator (`rbk runs show`)"
            }
            ErrorKind::Journal => {
                "check the journal's disk space and permissions; the run continues at the next start"
            }
            ErrorKind::Failed => "see the message; `-v` shows each request and what came back",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented() {
        let docs = include_str!("../../docs/diagnostics.md");
        let mut seen = std::collections::HashSet::new();
        for k in ErrorKind::ALL {
            assert!(seen.insert(k.code()), "{} twice", k.code());
            assert!(k.code().starts_with("rbk::"));
            assert!(!k.help().is_empty());
            assert!(
                docs.contains(&format!("`{}`", k.code())),
                "{} is not in docs/diagnostics.md",
                k.code()
            );
        }
    }
}
