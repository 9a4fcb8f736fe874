//! Cassettes: every exchange of a run written to a JSON file (`--record`),
//! and answers from such a file instead of the network (`--replay`).
//! Secrets and authorization headers are masked in the file; replay
//! matches on method, URL and body, masked the same way.

use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Exchange;
use super::outputs::Response;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cassette {
    pub version: u32,
    pub interactions: Vec<Interaction>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub request: RecordedRequest,
    /// What came back; absent when the request got no response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    /// Why there was no response (a timeout or a transport error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RecordedFailure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedFailure {
    pub timeout: bool,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: String,
}

/// Writes the exchanges that got a response as a cassette (atomically; a target
/// that is not a regular file is refused).
pub fn write(path: &Path, exchanges: &[Exchange]) -> std::io::Result<()> {
    let cassette = Cassette {
        version: 1,
        interactions: exchanges
            .iter()
            .map(|e| Interaction {
                request: RecordedRequest {
                    method: e.method.clone(),
                    url: e.url.clone(),
                    headers: e.request_headers.clone(),
                    body: e.request_body.clone(),
                },
                response: e.status.map(|status| RecordedResponse {
                    status,
                    headers: e.response_headers.clone(),
                    body: e.response_body.clone(),
                }),
                failure: match (e.status, &e.error) {
                    (None, Some(m)) => Some(RecordedFailure {
                        timeout: e.timed_out,
                        message: m.clone(),
                    }),
                    (None, None) => Some(RecordedFailure {
                        timeout: false,
                        message: "no response".into(),
                    }),
                    _ => None,
                },
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&cassette).map_err(std::io::Error::other)?;
    super::atomic_write::write(path, (text + "\n").as_bytes())
}

/// Answers requests from a cassette: the first unused recording with the
/// same method, URL and body; a request never recorded is an error.
pub struct Replay {
    interactions: Vec<Interaction>,
    used: Mutex<Vec<bool>>,
}

impl Replay {
    pub fn load(path: &Path) -> Result<Replay, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the cassette {}: {e}", path.display()))?;
        let c: Cassette = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a cassette: {e}", path.display()))?;
        let n = c.interactions.len();
        Ok(Replay {
            interactions: c.interactions,
            used: Mutex::new(vec![false; n]),
        })
    }

    /// True when a recording for this request has not been answered yet.
    pub fn has_unused(&self, method: &str, url: &str, body: &str) -> bool {
        let Ok(used) = self.used.lock() else {
            return false;
        };
        self.interactions.iter().enumerate().any(|(n, i)| {
            !used[n]
                && i.request.method == method
                && i.request.url == url
                && super::send::normalise_multipart(&i.request.body) == body
        })
    }

    pub fn answer(
        &self,
        method: &str,
        url: &str,
        body: &str,
    ) -> Result<Result<Response, super::http::Transport>, String> {
        let mut used = self
            .used
            .lock()
            .map_err(|_| "cassette lock poisoned".to_string())?;
        let fits = |i: &Interaction| {
            i.request.method == method
                && i.request.url == url
                && super::send::normalise_multipart(&i.request.body) == body
        };
        let pick = self
            .interactions
            .iter()
            .enumerate()
            .find(|(n, i)| !used[*n] && fits(i))
            .or_else(|| {
                self.interactions
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, i)| fits(i))
            });
        match pick {
            Some((n, i)) => {
                used[n] = true;
                Ok(match (&i.response, &i.failure) {
                    (Some(r), _) => Ok(Response::new(
                        r.status,
                        r.headers.clone(),
                        r.body.clone().into_bytes(),
                    )),
                    (None, Some(f)) if f.timeout => {
                        Err(super::http::Transport::Timeout(f.message.clone()))
                    }
                    (None, Some(f)) => Err(super::http::Transport::Error(
                        super::http::kind_of_message(&f.message),
                        f.message.clone(),
                    )),
                    (None, None) => Err(super::http::Transport::Error(
                        super::ErrorKind::Replay,
                        "no response was recorded".into(),
                    )),
                })
            }
            None => {
                let near: Vec<String> = self
                    .interactions
                    .iter()
                    .filter(|i| i.request.method == method)
                    .take(3)
                    .map(|i| format!("  {} {}", i.request.method, i.request.url))
                    .collect();
                Err(format!(
                    "no recorded answer for {method} {url}{}{}",
                    if body.is_empty() {
                        ""
                    } else {
                        " (with this body)"
                    },
                    if near.is_empty() {
                        String::new()
                    } else {
                        format!("; the cassette has:\n{}", near.join("\n"))
                    }
                ))
            }
        }
    }
}
