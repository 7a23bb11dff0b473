//! A [`Report`] as one self-contained HTML page: no script, no external file. Inline SVG charts:
//! for each feature, the reference and current distributions overlaid; over the reports kept,
//! the dataset drift share, accuracy and F1 over time.

use std::fmt::Write as _;

use super::{FeatureDrift, Histogram, Report};

use crate::html::escape as esc;

fn num(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x == f64::INFINITY {
        "∞".into()
    } else if x != 0.0 && x.abs() < 1e-4 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

/// Bars of both samples per bin, reference behind current.
fn overlay(h: &Histogram) -> String {
    let (w, ht) = (360.0, 120.0);
    let n = h.bins.len().max(1) as f64;
    let top = h
        .reference
        .iter()
        .chain(&h.current)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let bw = w / n;
    let mut s = format!(
        "<svg viewBox=\"0 0 {w} {}\" width=\"{w}\" height=\"{}\" role=\"img\">",
        ht + 16.0,
        ht + 16.0
    );
    for (i, (r, c)) in h.reference.iter().zip(&h.current).enumerate() {
        let x = i as f64 * bw;
        let (hr, hc) = (r / top * ht, c / top * ht);
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hr:.1}\" class=\"ref\"><title>{} reference {}</title></rect>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hc:.1}\" class=\"cur\"><title>{} current {}</title></rect>",
            ht - hr,
            bw * 0.9,
            esc(&h.bins[i]),
            num(*r),
            x + bw * 0.25,
            ht - hc,
            bw * 0.5,
            esc(&h.bins[i]),
            num(*c)
        );
    }
    if let (Some(first), Some(last)) = (h.bins.first(), h.bins.last()) {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            ht + 13.0,
            esc(first),
            ht + 13.0,
            esc(last)
        );
    }
    s.push_str("</svg>");
    s
}

/// A line per series over the reports' times, values in `[0, 1]`.
fn over_time(history: &[Report]) -> String {
    let (w, ht) = (560.0, 160.0);
    let n = history.len();
    let x = |i: usize| {
        if n < 2 {
            w / 2.0
        } else {
            i as f64 / (n - 1) as f64 * w
        }
    };
    let y = |v: f64| ht - v.clamp(0.0, 1.0) * ht;
    fn share(r: &Report) -> Option<f64> {
        Some(r.dataset.share)
    }
    fn accuracy(r: &Report) -> Option<f64> {
        r.performance.accuracy
    }
    fn f1(r: &Report) -> Option<f64> {
        r.performance.f1
    }
    type Series = (&'static str, &'static str, fn(&Report) -> Option<f64>);
    let series: [Series; 3] = [
        ("dataset drift share", "drift", share),
        ("accuracy", "acc", accuracy),
        ("F1", "f1", f1),
    ];
    let mut s = format!(
        "<svg viewBox=\"0 0 {w} {}\" width=\"{w}\" height=\"{}\" role=\"img\">",
        ht + 16.0,
        ht + 16.0
    );
    for (name, class, f) in &series {
        let pts: Vec<String> = history
            .iter()
            .enumerate()
            .filter_map(|(i, r)| f(r).map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect();
        if !pts.is_empty() {
            let _ = write!(
                s,
                "<polyline class=\"{class}\" points=\"{}\"><title>{name}</title></polyline>",
                pts.join(" ")
            );
        }
    }
    if let (Some(a), Some(b)) = (history.first(), history.last()) {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            ht + 13.0,
            esc(&a.generated_at),
            ht + 13.0,
            esc(&b.generated_at)
        );
    }
    s.push_str("</svg>");
    s
}

fn feature(f: &FeatureDrift) -> String {
    let stats: Vec<String> = f
        .statistics
        .iter()
        .map(|(k, v)| format!("{k} {}", num(*v)))
        .collect();
    format!(
        "<section class=\"{}\"><h3>{} <small>{} · {} {} (threshold {}) · {}</small></h3>{}<p>{}{}</p></section>",
        if f.drifted { "drift" } else { "ok" },
        esc(&f.name),
        f.kind,
        f.test,
        num(f.value),
        num(f.threshold),
        if f.drifted { "DRIFT" } else { "no drift" },
        overlay(&f.histogram),
        esc(&stats.join(" · ")),
        if f.new_categories.is_empty() {
            String::new()
        } else {
            format!(" · new categories: {}", esc(&f.new_categories.join(", ")))
        }
    )
}

/// The page for `report`, with `history` (oldest first, `report` included) for the trends.
pub fn render(report: &Report, history: &[Report]) -> String {
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlinfra monitoring</title><style>{STYLE}</style></head><body>"
    );
    h.push_str(&body(report, history));
    h.push_str("</body></html>\n");
    h
}

/// The page's style, also used by the console around [`body`].
pub const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}section{display:inline-block;vertical-align:top;margin:0 1em 1em 0;padding:.5em;border:1px solid #ddd}\
         section.drift{border-color:#c33}h3{margin:.2em 0;font-size:15px}small{color:#666;font-weight:normal}\
         .ref{fill:#9ab}.cur{fill:#e73;opacity:.75}polyline{fill:none;stroke-width:2}.drift{stroke:#c33}.acc{stroke:#36a}.f1{stroke:#3a6}\
         td,th{padding:2px 8px;text-align:left}.bad{color:#c33;font-weight:bold}";

/// The report's content without the page around it.
pub fn body(report: &Report, history: &[Report]) -> String {
    let r = report;
    let p = &r.performance;
    let mut h = String::new();
    let _ = write!(
        h,
        "<h1>Monitoring: {} version {}</h1><p>{} · window {} days · {} requests, {} instances against {} training rows</p>",
        esc(&r.model),
        r.version.map_or("–".into(), |v| v.to_string()),
        esc(&r.generated_at),
        r.window_days,
        r.requests,
        r.current_rows,
        r.reference_rows
    );
    let _ = write!(
        h,
        "<table><tr><th>dataset drift</th><td class=\"{}\">{} of {} features ({}; threshold {})</td></tr>\
         <tr><th>accuracy</th><td class=\"{}\">{} (min {}; {} labelled{})</td></tr>\
         <tr><th>F1</th><td class=\"{}\">{}{} (min {})</td></tr>\
         <tr><th>decision</th><td>{}</td></tr></table>",
        if r.dataset.drifted { "bad" } else { "" },
        r.dataset.drifted_features.len(),
        r.dataset.features,
        num(r.dataset.share),
        num(r.dataset.threshold),
        if p.accuracy_violated { "bad" } else { "" },
        p.accuracy.map_or("–".into(), num),
        num(p.min_accuracy),
        p.labelled,
        if p.judged { "" } else { ", too few to judge" },
        if p.f1_violated { "bad" } else { "" },
        p.f1.map_or("–".into(), num),
        esc(&p
            .f1_average
            .as_ref()
            .map_or(String::new(), |a| format!(", {a}"))),
        num(p.min_f1),
        esc(&if r.decision.violations.is_empty() {
            "no threshold crossed".to_string()
        } else {
            format!(
                "crossed: {}; {}",
                r.decision.violations.join(", "),
                if r.decision.retrain {
                    format!("retrain ({})", r.decision.retrain_reasons.join(", "))
                } else if let Some(u) = &r.decision.cooldown_until {
                    format!("retraining waits for the cooldown until {u}")
                } else {
                    "no retraining by policy".to_string()
                }
            )
        })
    );
    let _ = write!(
        h,
        "<h2>Over time</h2><p><span class=\"bad\">—</span> dataset drift share · <span style=\"color:#36a\">—</span> accuracy · <span style=\"color:#3a6\">—</span> F1</p>{}",
        over_time(history)
    );
    h.push_str("<h2>Features</h2><p><span style=\"color:#9ab\">■</span> training data · <span style=\"color:#e73\">■</span> served traffic</p>");
    for f in &r.features {
        h.push_str(&feature(f));
    }
    if let Some(pd) = &r.prediction {
        let _ = write!(
            h,
            "<h2>Predictions</h2><section class=\"{}\"><h3>predicted class <small>{} {} (threshold {})</small></h3>{}</section>",
            if pd.drifted { "drift" } else { "ok" },
            pd.test,
            num(pd.value),
            num(pd.threshold),
            overlay(&pd.histogram)
        );
    }
    h
}
