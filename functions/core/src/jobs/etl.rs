//! ETL for one new object in `raw/`: read it, validate it against the schema, and either add
//! its rows to a new curated data version or move it to `raw/quarantine/` with its anomalies.
//! Nothing is lost on either path: the file is copied before the original is deleted, and the
//! pointer `curated/latest.json` moves only once the new version is written.

use serde::Serialize;

use super::{Alert, CuratedPointer, JobError, alert_id, json_bytes, read_json};
use crate::data::{DataError, Frame, LabelRule, ReadOptions, read_csv, take_label, take_target};
use crate::keys::{self, CURATED_LATEST, FEEDBACK_INGESTED, QUARANTINE};
use crate::lake::Lake;
use crate::pipeline::sha256_hex;
use crate::schema::Schema;
use crate::stats::compute;
use crate::validate::{Anomalies, Anomaly, AnomalyKind, Severity, validate};

/// What the ETL did with one raw object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Ingested {
    Curated {
        source: String,
        data_key: String,
        data_hash: String,
        rows_added: usize,
        rows: usize,
        warnings: usize,
    },
    Quarantined {
        source: String,
        quarantined: String,
        anomalies_key: String,
        anomalies: Anomalies,
        #[serde(skip_serializing_if = "Option::is_none")]
        alert: Option<Alert>,
    },
    /// Not ETL's input (the quarantine itself, or outside `raw/`).
    Skipped { source: String, reason: String },
}

/// The stack's reading of its data.
pub struct Job<'a> {
    pub model: &'a str,
    pub read: &'a ReadOptions,
    pub label: &'a str,
    pub rule: &'a LabelRule,
    /// What the stack's model predicts: a regression's data is not curated yet.
    pub task: crate::onnx::card::Task,
    /// The stack's curated schema; else the current curated version's; else inferred.
    pub schema: Option<&'a Schema>,
    pub now: u64,
}

fn anomaly(column: &str, kind: AnomalyKind, message: String) -> Anomaly {
    Anomaly {
        column: column.to_string(),
        kind,
        severity: Severity::Error,
        count: 1,
        examples: vec![],
        message,
    }
}

/// The header and records of a CSV.
fn records(bytes: &[u8]) -> Result<(Vec<String>, Vec<csv::StringRecord>), String> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let rows = r
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((header, rows))
}

/// The curated columns (`order`, else the file's own) and the file's rows in that order.
type Curatable = (Vec<String>, Vec<Vec<String>>);

/// Validate `bytes`; the anomalies (errors block) and, when it passes, its rows in `order`
/// (the curated columns; the file's own header when there is no curated data yet).
fn check(
    bytes: &[u8],
    job: &Job<'_>,
    schema: Option<&Schema>,
    order: Option<&[String]>,
) -> (Anomalies, Option<Curatable>) {
    let fail = |a: Anomaly| {
        (
            Anomalies {
                rows: 0,
                anomalies: vec![a],
            },
            None,
        )
    };
    let converted = match crate::data::parquet::to_csv(bytes) {
        Ok(c) => c,
        Err(e) => return fail(anomaly("", AnomalyKind::WrongType, e.to_string())),
    };
    let bytes = &converted[..];
    let (header, rows) = match records(bytes) {
        Ok(x) => x,
        Err(e) => {
            return fail(anomaly(
                "",
                AnomalyKind::WrongType,
                format!("not a readable CSV: {e}"),
            ));
        }
    };
    let mut frame = match read_csv(bytes, job.read) {
        Ok(f) => f,
        Err(e) => return fail(anomaly("", AnomalyKind::WrongType, e.to_string())),
    };
    if let Err(e) = take_label_of(&mut frame, job) {
        // One class, or one target value, is a property of the whole data, not of a file added
        // to it (a gathering of feedback may hold a single row): it is checked when the
        // curated data is trained on.
        let of_the_whole = matches!(
            e,
            crate::data::DataError::SingleClass { .. }
                | crate::data::DataError::ConstantTarget { .. }
        );
        if !(of_the_whole && order.is_some()) {
            return fail(anomaly(
                job.label,
                AnomalyKind::MissingColumn,
                e.to_string(),
            ));
        }
    }
    let schema = schema
        .cloned()
        .unwrap_or_else(|| Schema::infer(&compute(&frame, None)));
    let mut anomalies = validate(&frame, &schema);
    let order: Vec<String> = order.map_or_else(|| header.clone(), <[String]>::to_vec);
    let index: Vec<Option<usize>> = order
        .iter()
        .map(|c| header.iter().position(|h| h == c))
        .collect();
    for (c, i) in order.iter().zip(&index) {
        if i.is_none() && !anomalies.anomalies.iter().any(|a| &a.column == c) {
            anomalies.anomalies.push(anomaly(
                c,
                AnomalyKind::MissingColumn,
                format!("column `{c}` of the curated data is missing"),
            ));
        }
    }
    for h in &header {
        if !order.contains(h) && !anomalies.anomalies.iter().any(|a| &a.column == h) {
            anomalies.anomalies.push(anomaly(
                h,
                AnomalyKind::UnexpectedColumn,
                format!("column `{h}` is not in the curated data"),
            ));
        }
    }
    if anomalies.has_errors() {
        return (anomalies, None);
    }
    let out = rows
        .iter()
        .map(|r| {
            index
                .iter()
                .map(|i| i.and_then(|i| r.get(i)).unwrap_or("").to_string())
                .collect()
        })
        .collect();
    (anomalies, Some((order, out)))
}

fn csv_bytes(
    header: &[String],
    rows: &[Vec<String>],
    previous: Option<&[u8]>,
) -> Result<Vec<u8>, JobError> {
    let mut w = csv::Writer::from_writer(vec![]);
    let io = |e: csv::Error| JobError::Input(format!("cannot write the curated CSV: {e}"));
    if previous.is_none() {
        w.write_record(header).map_err(io)?;
    }
    for r in rows {
        w.write_record(r).map_err(io)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| JobError::Input(format!("cannot write the curated CSV: {e}")))?;
    Ok(match previous {
        None => body,
        Some(p) => {
            let mut v = p.to_vec();
            if !v.ends_with(b"\n") {
                v.push(b'\n');
            }
            v.extend_from_slice(&body);
            v
        }
    })
}

/// Labelled feedback as training data: each logged single-instance prediction whose true label
/// came back and that is not yet curated becomes a row (the logged features and the label as
/// the data states it), written to `raw/feedback-<now>.csv` and put through [`ingest`] like any
/// other new file: validated, then curated or quarantined. `None` when there is nothing new.
pub async fn ingest_feedback(
    lake: &impl Lake,
    logs: &[crate::monitor::Logged],
    feedback: &std::collections::BTreeMap<String, String>,
    job: &Job<'_>,
) -> Result<Option<Ingested>, JobError> {
    let Some(pointer) = read_json::<CuratedPointer>(lake, CURATED_LATEST).await? else {
        return Ok(None); // no curated data to add to: its columns are not known yet
    };
    let Some(data) = lake.get(&pointer.key).await? else {
        return Ok(None);
    };
    let header: Vec<String> = csv::ReaderBuilder::new()
        .from_reader(&data[..])
        .headers()
        .map_err(|e| JobError::Input(format!("`{}`: {e}", lake.uri(&pointer.key))))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut done: std::collections::BTreeSet<String> = read_json(lake, FEEDBACK_INGESTED)
        .await?
        .unwrap_or_default();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut ids = Vec::new();
    for l in logs.iter().filter(|l| l.instances.len() == 1) {
        if done.contains(&l.request_id) {
            continue;
        }
        let Some(class) = feedback.get(&l.request_id) else {
            continue;
        };
        // A regression's feedback is the true value (checked to be a number when it was
        // given); a classification's, a class that the label rule gives back as a value.
        let label = if job.task == crate::onnx::card::Task::Regression {
            class.clone()
        } else {
            let Some(label) = job.rule.value_for_class(class) else {
                continue;
            };
            label
        };
        let row = header
            .iter()
            .map(|h| {
                if h == job.label {
                    return label.clone();
                }
                match &l.instances[0][h.as_str()] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                }
            })
            .collect();
        rows.push(row);
        ids.push(l.request_id.clone());
    }
    if rows.is_empty() {
        return Ok(None);
    }
    // A new file each time, even within the same second: rewriting one the ETL has already
    // read would lose its new rows (the ETL takes each raw file once).
    let bytes = csv_bytes(&header, &rows, None)?;
    let mut n = 0;
    let key = loop {
        let key = keys::raw_feedback_n(job.now, n);
        if lake.put_if_absent(&key, &bytes).await? {
            break key;
        }
        n += 1;
    };
    done.extend(ids);
    lake.put(FEEDBACK_INGESTED, &json_bytes(&done)).await?;
    ingest(lake, &key, job).await.map(Some)
}

/// A file's bytes into the lake at `raw/<file name>`, only when no raw file has that name yet
/// (every raw file stays as it was delivered); its key. Uploading is what starts the ETL in the
/// cloud; locally the caller runs [`ingest_and_notify`] on the key.
pub async fn upload(lake: &impl Lake, file_name: &str, bytes: &[u8]) -> Result<String, JobError> {
    let key = keys::raw(file_name);
    if !lake.put_if_absent(&key, bytes).await? {
        return Err(JobError::Input(format!(
            "`{}` already exists in the lake\nhint: give the file a new name (e.g. with the date) so every raw file stays",
            lake.uri(&key)
        )));
    }
    Ok(key)
}

/// The ETL use case: [`ingest`] the raw object at `key`, and a quarantine's alert delivered
/// through `notifier` (it is recorded in the lake first, whatever the delivery does).
pub async fn ingest_and_notify(
    lake: &impl Lake,
    key: &str,
    job: &Job<'_>,
    notifier: &impl crate::notify::Notifier,
) -> Result<Ingested, JobError> {
    let done = ingest(lake, key, job).await?;
    if let Ingested::Quarantined { alert: Some(a), .. } = &done {
        let _ = super::deliver(notifier, lake, a).await;
    }
    Ok(done)
}

/// Split the label off a frame as the task reads it: a regression's numeric target, or a
/// classification's classes.
fn take_label_of(frame: &mut Frame, job: &Job<'_>) -> Result<(), DataError> {
    if job.task == crate::onnx::card::Task::Regression {
        take_target(frame, job.label).map(|_| ())
    } else {
        take_label(frame, job.label, job.rule).map(|_| ())
    }
}

/// Process the raw object at `key`.
pub async fn ingest(lake: &impl Lake, key: &str, job: &Job<'_>) -> Result<Ingested, JobError> {
    if key.starts_with(QUARANTINE) || !key.starts_with(keys::RAW) {
        return Ok(Ingested::Skipped {
            source: key.to_string(),
            reason: if key.starts_with(QUARANTINE) {
                "a quarantined file is not read again".into()
            } else {
                "ETL reads objects under raw/ only".into()
            },
        });
    }
    let Some(bytes) = lake.get(key).await? else {
        return Err(JobError::Input(format!(
            "`{}` does not exist",
            lake.uri(key)
        )));
    };
    let previous = read_json::<CuratedPointer>(lake, CURATED_LATEST).await?;
    if previous
        .as_ref()
        .is_some_and(|p| p.sources.iter().any(|s| s == key))
    {
        // S3 delivers an event at least once: the same object is curated once.
        return Ok(Ingested::Skipped {
            source: key.to_string(),
            reason: "already part of the curated data".into(),
        });
    }
    let previous_data = match &previous {
        Some(p) => lake.get(&p.key).await?,
        None => None,
    };
    let curated_schema = match previous.as_ref().and_then(|p| p.schema_version.clone()) {
        Some(v) if job.schema.is_none() => match lake.get(&keys::schema(&v)).await? {
            Some(b) => {
                Some(Schema::from_json(&String::from_utf8_lossy(&b)).map_err(JobError::Input)?)
            }
            None => None,
        },
        _ => None,
    };
    let schema = job.schema.or(curated_schema.as_ref());
    let order = match &previous_data {
        Some(d) => Some(records(d).map_err(JobError::Input)?.0),
        None => None,
    };
    let (anomalies, rows) = check(&bytes, job, schema, order.as_deref());
    let Some((header, rows)) = rows else {
        let name = &key[keys::RAW.len()..];
        let quarantined = format!("{QUARANTINE}{name}");
        lake.put(&quarantined, &bytes).await?;
        let anomalies_key = keys::anomalies(&sha256_hex(&bytes));
        lake.put(&anomalies_key, &json_bytes(&anomalies)).await?;
        lake.delete(key).await?;
        let alert = Alert {
            id: alert_id(job.now, "etl", lake).await?,
            at: crate::clock::rfc3339(job.now),
            source: "etl".into(),
            model: job.model.to_string(),
            summary: format!(
                "`{key}` failed validation ({} errors) and was moved to `{quarantined}`",
                anomalies.errors().count()
            ),
            details: anomalies.errors().map(|a| a.message.clone()).collect(),
            evidence: anomalies_key.clone(),
        };
        super::record_alert(lake, &alert).await?;
        return Ok(Ingested::Quarantined {
            source: key.to_string(),
            quarantined,
            anomalies_key,
            anomalies,
            alert: Some(alert),
        });
    };
    let data = csv_bytes(&header, &rows, previous_data.as_deref())?;
    let data_hash = format!("sha256:{}", sha256_hex(&data));
    let data_key = keys::curated_data(&data_hash);
    lake.put(&data_key, &data).await?;
    let total = previous.as_ref().map_or(0, |p| p.rows) + rows.len();
    let combined = read_csv(&data[..], job.read);
    if let Ok(frame) = &combined {
        lake.put(
            &keys::statistics(&data_hash),
            &json_bytes(&compute(frame, None)),
        )
        .await?;
    }
    let mut sources = previous
        .as_ref()
        .map(|p| p.sources.clone())
        .unwrap_or_default();
    sources.push(key.to_string());
    let schema_version = match schema {
        Some(s) => Some(s.version()),
        None => {
            // The first curated version: its inferred schema becomes the curated one.
            let mut f = combined.map_err(|e| JobError::Input(e.to_string()))?;
            let _ = take_label_of(&mut f, job);
            let s = Schema::infer(&compute(&f, None));
            lake.put(&keys::schema(&s.version()), s.to_json().as_bytes())
                .await?;
            Some(s.version())
        }
    };
    let pointer = CuratedPointer {
        data_hash: data_hash.clone(),
        key: data_key.clone(),
        rows: total,
        sources,
        schema_version,
        created_at: crate::clock::rfc3339(job.now),
    };
    pointer.write(lake).await?;
    Ok(Ingested::Curated {
        source: key.to_string(),
        data_key,
        data_hash,
        rows_added: rows.len(),
        rows: total,
        warnings: anomalies.anomalies.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::lake::LocalLake;

    fn logged(id: &str, x: f64) -> crate::monitor::Logged {
        serde_json::from_value(serde_json::json!({
            "request_id": id, "instances": [{"x": x, "z": x * 2.0}], "labels": ["a"],
        }))
        .unwrap()
    }

    /// Two gatherings of feedback in the same second (the monitor run twice, say): the second
    /// file does not replace the first, which the ETL has already read, and its one row of one
    /// class is curated with the rest, so no row is lost. A first file of one class is refused.
    #[tokio::test]
    async fn feedback_gathered_twice_in_one_second_loses_no_row() {
        let d = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(d.path());
        let read = ReadOptions::default();
        let rule = LabelRule::Multiclass;
        let job = Job {
            model: "m",
            read: &read,
            label: "y",
            rule: &rule,
            task: crate::onnx::card::Task::Classification,
            schema: None,
            now: 1_000,
        };
        lake.put("raw/one-class.csv", b"x,z,y\n1,2,a\n2,4,a\n")
            .await
            .unwrap();
        let refused = ingest(&lake, "raw/one-class.csv", &job).await.unwrap();
        assert!(
            matches!(refused, Ingested::Quarantined { .. }),
            "{refused:?}"
        );
        let mut csv = String::from("x,z,y\n");
        for i in 0..40 {
            csv.push_str(&format!(
                "{i},{},{}\n",
                i * 2,
                if i % 2 == 0 { "a" } else { "b" }
            ));
        }
        lake.put("raw/first.csv", csv.as_bytes()).await.unwrap();
        ingest(&lake, "raw/first.csv", &job).await.unwrap();
        // The second gathering holds one row, of one class: added to data of two classes.
        let mut logs = vec![logged("r1", 1.0), logged("r2", 2.0)];
        let mut feedback = std::collections::BTreeMap::new();
        feedback.insert("r1".to_string(), "a".to_string());
        feedback.insert("r2".to_string(), "b".to_string());
        let first = ingest_feedback(&lake, &logs, &feedback, &job)
            .await
            .unwrap();
        assert!(
            matches!(first, Some(Ingested::Curated { rows: 42, .. })),
            "{first:?}"
        );
        logs.push(logged("r3", 3.0));
        feedback.insert("r3".to_string(), "b".to_string());
        let second = ingest_feedback(&lake, &logs, &feedback, &job)
            .await
            .unwrap();
        assert!(
            matches!(second, Some(Ingested::Curated { rows: 43, .. })),
            "{second:?}"
        );
        assert_eq!(
            lake.list("raw/feedback-").await.unwrap(),
            [
                "raw/feedback-00000001000-1.csv",
                "raw/feedback-00000001000.csv"
            ]
        );
    }
}
