//! Monitoring: the drift report over time (`mlinfra monitor check` writes one per run), the
//! latest report's per-feature reference and served distributions, accuracy and F1 from
//! feedback, the alerts, and whether a retraining waits out its cooldown.

use mlinfra_core::jobs::monitor::history;
use mlinfra_core::jobs::{Alert, read_json};
use mlinfra_core::lake::Lake as _;
use mlinfra_core::monitor::html;

use super::Console;
use super::page::{Page, esc, num, table};

/// Alerts shown (the newest).
const ALERTS_SHOWN: usize = 20;

pub async fn page(c: &Console) -> Page {
    let reports = match history(&c.lake).await {
        Ok(r) => r,
        Err(e) => return Page::error(500, "Monitoring", &e.to_string()),
    };
    let mut b = String::new();
    let Some(latest) = reports.last() else {
        b.push_str("<p id=\"no-reports\">No monitoring report yet: <code>mlinfra monitor check</code> (or the <code>monitor</code> schedule) compares the served traffic with the training data.</p>");
        b.push_str(&alerts(c).await);
        return Page::ok("Monitoring", b);
    };
    let drifted = &latest.dataset.drifted_features;
    b.push_str(&format!(
        "<p id=\"summary\">Latest check {}: {} requests against {} training rows; drifting features: <strong id=\"drifted\">{}</strong>.</p>",
        esc(&latest.generated_at),
        latest.requests,
        latest.reference_rows,
        if drifted.is_empty() { "none".to_string() } else { esc(&drifted.join(", ")) }
    ));
    let retraining = if latest.decision.retrain {
        format!(
            "retraining started ({})",
            esc(&latest.decision.retrain_reasons.join(", "))
        )
    } else if let Some(u) = &latest.decision.cooldown_until {
        format!(
            "retraining is wanted and waits out its cooldown until {}",
            esc(u)
        )
    } else if let Some(why) = &latest.decision.retrain_skipped {
        format!("retraining is wanted but skipped: {}", esc(why))
    } else {
        "no retraining wanted".to_string()
    };
    b.push_str(&format!("<p id=\"retraining\">{retraining}</p>"));
    let rows: Vec<Vec<String>> = reports
        .iter()
        .rev()
        .map(|r| {
            vec![
                esc(&r.generated_at),
                r.version.map_or("–".into(), |v| format!("v{v}")),
                r.requests.to_string(),
                format!(
                    "{} of {}",
                    r.dataset.drifted_features.len(),
                    r.dataset.features
                ),
                r.performance.accuracy.map_or("–".into(), num),
                r.performance.f1.map_or("–".into(), num),
                esc(&r.decision.violations.join(", ")),
            ]
        })
        .collect();
    b.push_str("<h2>Checks</h2>");
    b.push_str(&table(
        "checks",
        &[
            "at",
            "version",
            "requests",
            "drifting features",
            "accuracy",
            "F1",
            "crossed",
        ],
        &rows,
    ));
    b.push_str(&alerts(c).await);
    b.push_str(&html::body(latest, &reports));
    Page::ok("Monitoring", b)
}

async fn alerts(c: &Console) -> String {
    let Ok(mut keys) = c.lake.list(mlinfra_core::keys::ALERTS).await else {
        return String::new();
    };
    keys.sort();
    let mut rows = Vec::new();
    for k in keys.iter().rev().take(ALERTS_SHOWN) {
        if let Ok(Some(a)) = read_json::<Alert>(&c.lake, k).await {
            rows.push(vec![
                esc(&a.at),
                esc(&a.source),
                format!(
                    "{}{}",
                    esc(&a.summary),
                    a.details
                        .iter()
                        .map(|d| format!("<br><small>{}</small>", esc(d)))
                        .collect::<String>()
                ),
            ]);
        }
    }
    if rows.is_empty() {
        return "<h2>Alerts</h2><p id=\"alerts\">No alert.</p>".into();
    }
    format!(
        "<h2>Alerts</h2>{}",
        table("alerts", &["at", "source", "alert"], &rows)
    )
}
