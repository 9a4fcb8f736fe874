//! Prometheus metrics (prometheus-client): runs by state, queue depth,
//! request latency, webhook answers by code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::journal::RunState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

pub struct Metrics {
    registry: Registry,
    pub runs: Family<StateLabel, Gauge>,
    pub finished: Family<StateLabel, Counter>,
    pub queue_depth: Gauge,
    pub step_seconds: Histogram,
    pub webhooks: Family<CodeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rbk");
        let runs = Family::<StateLabel, Gauge>::default();
        let finished = Family::<StateLabel, Counter>::default();
        let queue_depth = Gauge::default();
        let step_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let webhooks = Family::<CodeLabel, Counter>::default();
        registry.register("runs", "Runs in the journal by state", runs.clone());
        registry.register(
            "runs_ended",
            "Runs this process brought to a state",
            finished.clone(),
        );
        registry.register(
            "queue_depth",
            "Runs accepted and not yet started",
            queue_depth.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time of each request a step sent",
            step_seconds.clone(),
        );
        registry.register(
            "webhook_responses",
            "Webhook answers by status code",
            webhooks.clone(),
        );
        Metrics {
            registry,
            runs,
            finished,
            queue_depth,
            step_seconds,
            webhooks,
        }
    }

    pub fn finished(&self, s: RunState) {
        self.finished
            .get_or_create(&StateLabel {
                state: s.as_str().into(),
            })
            .inc();
    }

    pub fn webhook(&self, code: u16) {
        self.webhooks
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc();
    }

    /// The text exposition, after setting the run gauges to `counts`.
    pub fn render(&self, counts: &[(RunState, i64)]) -> String {
        for s in RunState::ALL {
            let n = counts
                .iter()
                .find(|(k, _)| *k == s)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            self.runs
                .get_or_create(&StateLabel {
                    state: s.as_str().into(),
                })
                .set(n);
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
