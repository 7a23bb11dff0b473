//! Data: the statistics and schema of the curated data training uses now, its anomalies, and the
//! files ETL quarantined with what was wrong with each.

use std::fmt::Write as _;

use mlinfra_core::jobs::{CuratedPointer, read_json};
use mlinfra_core::keys::QUARANTINE;
use mlinfra_core::keys::{self, CURATED_LATEST};
use mlinfra_core::lake::Lake as _;
use mlinfra_core::pipeline::sha256_hex;
use mlinfra_core::schema::Schema;
use mlinfra_core::stats::Statistics;
use mlinfra_core::validate::Anomalies;

use super::Console;
use super::page::{Page, esc, table};
use crate::report::html;

/// Quarantined files shown at most (the newest).
const QUARANTINE_SHOWN: usize = 50;

pub async fn page(c: &Console) -> Page {
    let lake = &c.lake;
    let mut b = String::new();
    match read_json::<CuratedPointer>(lake, CURATED_LATEST).await {
        Ok(Some(p)) => {
            let _ = write!(
                b,
                "<p id=\"curated\">Training uses <code>{}</code>: {} rows from {} raw file{}, curated {}.</p>",
                esc(&lake.uri(&p.key)),
                p.rows,
                p.sources.len(),
                if p.sources.len() == 1 { "" } else { "s" },
                esc(&p.created_at)
            );
            match read_json::<Statistics>(lake, &keys::statistics(&p.data_hash)).await {
                Ok(Some(s)) => {
                    b.push_str("<h2>Statistics</h2>");
                    b.push_str(&html::statistics_body(&s));
                }
                _ => b.push_str("<p>No statistics recorded for this data version yet.</p>"),
            }
            if let Some(v) = &p.schema_version {
                let key = keys::schema(v);
                if let Ok(Some(bytes)) = lake.get(&key).await
                    && let Ok(s) = Schema::from_json(&String::from_utf8_lossy(&bytes))
                {
                    b.push_str("<h2>Schema</h2>");
                    b.push_str(&html::schema_body(&s));
                }
            }
            if let Ok(Some(a)) =
                read_json::<Anomalies>(lake, &keys::anomalies(&p.data_hash)).await
            {
                b.push_str("<h2>Anomalies</h2>");
                b.push_str(&html::anomalies_body(&a));
            }
        }
        Ok(None) => b.push_str(
            "<p id=\"curated\">No curated data yet: put a file in the lake's <code>raw/</code> (<code>mlinfra data ingest FILE</code>).</p>",
        ),
        Err(e) => return Page::error(500, "Data", &e.to_string()),
    }
    b.push_str("<h2>Quarantine</h2>");
    let mut keys = match lake.list(QUARANTINE).await {
        Ok(k) => k,
        Err(e) => return Page::error(500, "Data", &e.to_string()),
    };
    if keys.is_empty() {
        b.push_str("<p id=\"quarantine\">No file failed validation.</p>");
    } else {
        keys.sort();
        let total = keys.len();
        let mut rows = Vec::new();
        for k in keys.iter().rev().take(QUARANTINE_SHOWN) {
            let problems = match lake.get(k).await {
                Ok(Some(bytes)) => {
                    let key = keys::anomalies(&sha256_hex(&bytes));
                    match read_json::<Anomalies>(lake, &key).await {
                        Ok(Some(a)) => a
                            .errors()
                            .map(|x| esc(&x.message))
                            .collect::<Vec<_>>()
                            .join("<br>"),
                        _ => "(no anomalies recorded)".into(),
                    }
                }
                _ => "(gone)".into(),
            };
            rows.push(vec![
                format!("<code>{}</code>", esc(&lake.uri(k))),
                problems,
            ]);
        }
        if total > QUARANTINE_SHOWN {
            let _ = write!(b, "<p>The newest {QUARANTINE_SHOWN} of {total} files.</p>");
        }
        b.push_str(&table("quarantine", &["file", "what is wrong"], &rows));
    }
    Page::ok("Data", b)
}
