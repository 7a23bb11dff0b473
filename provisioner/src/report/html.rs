//! Self-contained HTML pages (no script, no external resource): the statistics with a histogram
//! per numeric feature and a bar chart per categorical one, the schema, the anomalies.

use std::fmt::Write as _;

use mlinfra_core::schema::Schema;
use mlinfra_core::stats::{FeatureStats, Statistics};
use mlinfra_core::validate::Anomalies;

use super::num;

use mlinfra_core::html::escape as esc;

/// The pages' style, also used by the console around the same fragments.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.feature{display:inline-block;margin:0 1.5rem 1.5rem 0;vertical-align:top}.error{color:#b00020}.warning{color:#a15c00}svg text{font-size:10px}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\n<body><h1>{t}</h1>\n{body}</body></html>\n",
        t = esc(title)
    )
}

/// Bars as inline SVG: `labels[i]` under a bar of height proportional to `values[i]`.
fn bars(labels: &[String], values: &[usize], title: &str) -> String {
    let (w, h, pad) = (320.0, 140.0, 20.0);
    let max = values.iter().copied().max().unwrap_or(1).max(1) as f64;
    let n = values.len().max(1) as f64;
    let bw = (w - 2.0 * pad) / n;
    let mut s = format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, v) in values.iter().enumerate() {
        let bh = (h - 2.0 * pad) * (*v as f64) / max;
        let x = pad + bw * i as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#4a78c2\"><title>{}: {v}</title></rect>",
            h - pad - bh,
            (bw - 1.0).max(1.0),
            esc(&labels[i])
        );
    }
    if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
        let _ = write!(
            s,
            "<text x=\"{pad}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            h - 5.0,
            esc(first),
            w - pad,
            h - 5.0,
            esc(last)
        );
    }
    s.push_str("</svg>");
    s
}

fn chart(f: &FeatureStats) -> String {
    if let Some(n) = &f.numeric {
        let labels: Vec<String> = n
            .histogram
            .edges
            .windows(2)
            .map(|e| format!("{}–{}", num(e[0]), num(e[1])))
            .collect();
        bars(&labels, &n.histogram.counts, &f.name)
    } else {
        let labels: Vec<String> = f.categories.iter().map(|(c, _)| c.clone()).collect();
        let values: Vec<usize> = f.categories.iter().map(|(_, n)| *n).collect();
        bars(&labels, &values, &f.name)
    }
}

pub fn statistics(title: &str, s: &Statistics) -> String {
    page(title, &statistics_body(s))
}

/// The page's content without the page around it.
pub fn statistics_body(s: &Statistics) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<p>{} rows, {} features.</p>", s.rows, s.features.len());
    b.push_str("<table><tr><th>feature</th><th>kind</th><th>count</th><th>missing</th><th>mean</th><th>std</th><th>min</th><th>p25</th><th>p50</th><th>p75</th><th>max</th></tr>\n");
    for f in &s.features {
        let cells: Vec<String> = match &f.numeric {
            Some(n) => vec![
                num(n.mean),
                num(n.std),
                num(n.min),
                num(n.quantiles[2]),
                num(n.quantiles[3]),
                num(n.quantiles[4]),
                num(n.max),
            ],
            None => vec!["".into(); 7],
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(&f.name),
            f.kind,
            f.count,
            f.missing,
            cells
                .iter()
                .map(|c| format!("<td>{c}</td>"))
                .collect::<String>()
        );
    }
    b.push_str("</table>\n<h2>Distributions</h2>\n");
    for f in &s.features {
        let _ = writeln!(
            b,
            "<div class=\"feature\"><h3>{} <small>({})</small></h3>{}</div>",
            esc(&f.name),
            f.kind,
            chart(f)
        );
    }
    if let Some(l) = &s.label {
        b.push_str("<h2>Label</h2>\n");
        b.push_str(&bars(&l.classes, &l.counts, "label"));
    }
    b
}

pub fn schema(title: &str, s: &Schema) -> String {
    page(title, &schema_body(s))
}

/// The page's content without the page around it.
pub fn schema_body(s: &Schema) -> String {
    let mut b = format!(
        "<p>Schema version <code>{}</code>.</p>\n",
        esc(&s.version())
    );
    b.push_str("<table><tr><th>feature</th><th>kind</th><th>type</th><th>required</th><th>range or domain</th><th>max missing</th></tr>\n");
    for f in &s.features {
        let allowed = match (&f.range, &f.domain) {
            (Some([lo, hi]), _) => format!("[{}, {}]", num(*lo), num(*hi)),
            (_, Some(d)) => d.join(", "),
            _ => String::new(),
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}%</td></tr>",
            esc(&f.name),
            f.kind,
            esc(&f.dtype),
            f.required,
            esc(&allowed),
            num(f.max_missing_share * 100.0)
        );
    }
    b.push_str("</table>\n");
    b
}

pub fn anomalies(title: &str, a: &Anomalies) -> String {
    page(title, &anomalies_body(a))
}

/// The page's content without the page around it.
pub fn anomalies_body(a: &Anomalies) -> String {
    let mut b = format!(
        "<p>{} rows checked, {} anomalies.</p>\n",
        a.rows,
        a.anomalies.len()
    );
    if !a.anomalies.is_empty() {
        b.push_str("<table><tr><th>column</th><th>anomaly</th><th>severity</th><th>count</th><th>examples</th><th>message</th></tr>\n");
        for x in &a.anomalies {
            let sev = format!("{:?}", x.severity).to_lowercase();
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.column),
                esc(&serde_json::to_string(&x.kind)
                    .unwrap_or_default()
                    .replace('"', "")),
                x.count,
                esc(&x.examples.join(", ")),
                esc(&x.message)
            );
        }
        b.push_str("</table>\n");
    }
    b
}
