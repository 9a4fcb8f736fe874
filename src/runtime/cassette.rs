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
    pub response: RecordedResponse,
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

/// Writes the exchanges that got a response as a cassette (atomically).
pub fn write(path: &Path, exchanges: &[Exchange]) -> std::io::Result<()> {
    let cassette = Cassette {
        version: 1,
        interactions: exchanges
            .iter()
            .filter_map(|e| {
                Some(Interaction {
                    request: RecordedRequest {
                        method: e.method.clone(),
                        url: e.url.clone(),
                        headers: e.request_headers.clone(),
                        body: e.request_body.clone(),
                    },
                    response: RecordedResponse {
                        status: e.status?,
                        headers: e.response_headers.clone(),
                        body: e.response_body.clone(),
                    },
                })
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&cassette).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
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

    pub fn answer(&self, method: &str, url: &str, body: &str) -> Result<Response, String> {
        let mut used = self
            .used
            .lock()
            .map_err(|_| "cassette lock poisoned".to_string())?;
        let fits = |i: &Interaction| {
            i.request.method == method
                && i.request.url == url
                && super::runbook::normalise_multipart(&i.request.body) == body
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
                Ok(Response::new(
                    i.response.status,
                    i.response.headers.clone(),
                    i.response.body.clone().into_bytes(),
                ))
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
