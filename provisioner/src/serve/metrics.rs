//! Prometheus metrics of `mlinfra serve`: requests by route and status, a latency histogram, the
//! Production version, predictions by class.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    predictions: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.inner.lock() {
            *m.requests.entry((route.to_string(), status)).or_default() += 1;
            let s = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    m.buckets[i] += 1;
                }
            }
            m.count += 1;
            m.sum += s;
        }
    }

    pub fn predicted(&self, class: &str) {
        if let Ok(mut m) = self.inner.lock() {
            match m.predictions.get_mut(class) {
                Some(n) => *n += 1,
                None => {
                    m.predictions.insert(class.to_string(), 1);
                }
            }
        }
    }

    pub fn render(&self, production_version: Option<u64>) -> String {
        let Ok(m) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        out.push_str("# HELP mlinfra_requests_total Requests by route and status.\n# TYPE mlinfra_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "mlinfra_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP mlinfra_request_duration_seconds Request latency.\n# TYPE mlinfra_request_duration_seconds histogram\n");
        for (b, n) in BUCKETS.iter().zip(m.buckets) {
            let _ = writeln!(
                out,
                "mlinfra_request_duration_seconds_bucket{{le=\"{b}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "mlinfra_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            m.count
        );
        let _ = writeln!(out, "mlinfra_request_duration_seconds_sum {}", m.sum);
        let _ = writeln!(out, "mlinfra_request_duration_seconds_count {}", m.count);
        out.push_str("# HELP mlinfra_model_version The Production version being served (0: none).\n# TYPE mlinfra_model_version gauge\n");
        let _ = writeln!(
            out,
            "mlinfra_model_version {}",
            production_version.unwrap_or(0)
        );
        out.push_str("# HELP mlinfra_predictions_total Predictions by class.\n# TYPE mlinfra_predictions_total counter\n");
        for (label, n) in &m.predictions {
            let label = label
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = writeln!(out, "mlinfra_predictions_total{{class=\"{label}\"}} {n}");
        }
        out
    }
}
