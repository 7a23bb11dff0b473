//! A [`Report`] as metrics: CloudWatch embedded metric format (one JSON line per metric set,
//! written to the function's log, turned into metrics by CloudWatch without an API call) and
//! Prometheus text (served by `mlinfra serve` at `/metrics`).
//!
//! The names match the CloudWatch alarms `mlinfra up` creates: namespace `mlinfra`, dimension
//! `Stack`, metrics `DatasetDriftShare`, `Accuracy`, `F1`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::Report;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "mlinfra";

fn emf(
    stack: &str,
    at_ms: u64,
    dims: &[&str],
    extra: &[(&str, &str)],
    metrics: &[(&str, f64)],
) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "None"})).collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("Stack".into(), json!(stack));
    for (k, v) in extra {
        root.insert((*k).into(), json!(v));
    }
    for (n, v) in metrics {
        root.insert((*n).into(), json!(v));
    }
    Value::Object(root).to_string()
}

/// Embedded-metric-format lines: the dataset's metrics, then one line per feature.
/// Metrics without a value (no feedback yet) are left out rather than sent as 0.
pub fn emf_lines(stack: &str, report: &Report, at_ms: u64) -> Vec<String> {
    let mut m: Vec<(&str, f64)> = vec![
        ("DatasetDriftShare", report.dataset.share),
        (
            "DriftedFeatures",
            report.dataset.drifted_features.len() as f64,
        ),
        ("Predictions", report.current_rows as f64),
    ];
    if report.performance.judged {
        if let Some(a) = report.performance.accuracy {
            m.push(("Accuracy", a));
        }
        if let Some(f) = report.performance.f1 {
            m.push(("F1", f));
        }
    }
    let mut out = vec![emf(stack, at_ms, &["Stack"], &[], &m)];
    for f in &report.features {
        out.push(emf(
            stack,
            at_ms,
            &["Stack", "Feature"],
            &[("Feature", &f.name)],
            &[
                ("FeatureDrifted", f64::from(u8::from(f.drifted))),
                (
                    "FeaturePsi",
                    f.statistics.get("psi").copied().unwrap_or(0.0),
                ),
            ],
        ));
    }
    out
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ")
}

fn value(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{x}")
    }
}

/// Prometheus text exposition of the latest report.
pub fn prometheus(report: &Report, generated_at_s: u64) -> String {
    let mut o = String::new();
    let gauge = |o: &mut String, name: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    gauge(
        &mut o,
        "mlinfra_monitor_last_run_timestamp_seconds",
        "When the last monitoring report was made.",
    );
    let _ = writeln!(
        o,
        "mlinfra_monitor_last_run_timestamp_seconds {generated_at_s}"
    );
    gauge(
        &mut o,
        "mlinfra_dataset_drift_share",
        "Share of features drifting in the last report.",
    );
    let _ = writeln!(
        o,
        "mlinfra_dataset_drift_share {}",
        value(report.dataset.share)
    );
    gauge(
        &mut o,
        "mlinfra_dataset_drift",
        "1 when the share reaches dataset_drift_share.",
    );
    let _ = writeln!(
        o,
        "mlinfra_dataset_drift {}",
        u8::from(report.dataset.drifted)
    );
    gauge(
        &mut o,
        "mlinfra_feature_drift",
        "1 when the feature drifts by its deciding test.",
    );
    for f in &report.features {
        let _ = writeln!(
            o,
            "mlinfra_feature_drift{{feature=\"{}\"}} {}",
            label(&f.name),
            u8::from(f.drifted)
        );
    }
    gauge(
        &mut o,
        "mlinfra_feature_drift_statistic",
        "Every drift statistic of every feature.",
    );
    for f in &report.features {
        for (k, v) in &f.statistics {
            let _ = writeln!(
                o,
                "mlinfra_feature_drift_statistic{{feature=\"{}\",statistic=\"{k}\"}} {}",
                label(&f.name),
                value(*v)
            );
        }
    }
    // NaN when no prediction in the window has feedback (a gap in a graph, not a zero).
    gauge(
        &mut o,
        "mlinfra_accuracy",
        "Accuracy of the labelled predictions in the window.",
    );
    let _ = writeln!(
        o,
        "mlinfra_accuracy {}",
        value(report.performance.accuracy.unwrap_or(f64::NAN))
    );
    gauge(
        &mut o,
        "mlinfra_f1",
        "F1 of the labelled predictions in the window.",
    );
    let _ = writeln!(
        o,
        "mlinfra_f1 {}",
        value(report.performance.f1.unwrap_or(f64::NAN))
    );
    gauge(
        &mut o,
        "mlinfra_labelled_predictions",
        "Predictions in the window with feedback.",
    );
    let _ = writeln!(
        o,
        "mlinfra_labelled_predictions {}",
        report.performance.labelled
    );
    o
}
