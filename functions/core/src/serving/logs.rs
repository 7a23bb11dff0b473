//! Sampled predictions to the lake, off the response path: the handler only appends the record
//! to a [`LogBuffer`] (an uncontended lock and a few copies, no wake-up of another thread);
//! the writer takes what waits and writes one object per batch under `predictions/<day>/`, every
//! `every`, as soon as the buffer holds its `max` records, and when `stop` resolves (the Lambda
//! runtime's shutdown signal). A batch that cannot be written is kept and retried at the next
//! flush (and counted): nothing sampled is dropped silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use serde_json::Value;

use super::PredictionLog;
use crate::lake::Lake;
use crate::registry::Stage;

/// Counters of the writer, readable while it runs.
#[derive(Debug, Default)]
pub struct LogStats {
    pub written: AtomicU64,
    pub failed_flushes: AtomicU64,
}

/// A sampled request as the handler holds it: borrowed, so that recording it allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub request_id: &'a str,
    /// When it was answered (seconds since the epoch).
    pub at: u64,
    pub model: &'a str,
    pub version: u64,
    pub stage: Stage,
    /// The request body as received.
    pub body: &'a str,
    /// The predicted labels as the API answered them.
    pub labels: &'a [Value],
    /// Each class's probability, row after row.
    pub probabilities: &'a [f32],
}

/// Where the handlers leave sampled records for the writer: one growing byte string the records
/// are appended to (length-prefixed fields), so that a sampled request costs a lock and a few
/// copies, and no allocation that another thread would have to free. The writer decodes what it
/// takes ([`LogBuffer::take`]).
#[derive(Debug)]
pub struct LogBuffer {
    waiting: Mutex<Waiting>,
    /// Woken when `max` records wait, so that a burst is written before the timer.
    full: Notify,
    max: usize,
}

#[derive(Debug, Default)]
struct Waiting {
    bytes: Vec<u8>,
    records: usize,
}

impl LogBuffer {
    /// A buffer whose writer is woken once `max` records wait.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(LogBuffer {
            waiting: Mutex::new(Waiting::default()),
            full: Notify::new(),
            max: max.max(1),
        })
    }

    /// Leave one record for the writer. The writer is woken only when the buffer is full:
    /// otherwise its timer collects the record.
    pub fn record(&self, s: &Sample<'_>) {
        let records = {
            let mut w = self.lock();
            encode(&mut w.bytes, s);
            w.records += 1;
            w.records
        };
        if records >= self.max {
            self.full.notify_one();
        }
    }

    /// Everything waiting, decoded, leaving the buffer empty.
    pub fn take(&self) -> Vec<PredictionLog> {
        let (bytes, records) = {
            let mut w = self.lock();
            (std::mem::take(&mut w.bytes), std::mem::take(&mut w.records))
        };
        let logs = decode(&bytes, records);
        if logs.len() < records {
            // Only a bug in `encode`/`decode` gets here; it is said, not hidden.
            eprintln!(
                "prediction log: {} of {records} records could not be decoded",
                records - logs.len()
            );
        }
        logs
    }

    /// How many records wait.
    pub fn waiting(&self) -> usize {
        self.lock().records
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Append one record: request id, at, model, version, stage, body, labels (JSON text),
/// probabilities (count, then little-endian `f32`s).
fn encode(out: &mut Vec<u8>, s: &Sample<'_>) {
    put_bytes(out, s.request_id.as_bytes());
    out.extend_from_slice(&s.at.to_le_bytes());
    put_bytes(out, s.model.as_bytes());
    out.extend_from_slice(&s.version.to_le_bytes());
    put_bytes(out, s.stage.as_str().as_bytes());
    put_bytes(out, s.body.as_bytes());
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    // Writing JSON values into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s.labels);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(s.probabilities.len() as u32).to_le_bytes());
    for p in s.probabilities {
        out.extend_from_slice(&p.to_le_bytes());
    }
}

/// Read back what [`encode`] wrote; stops at the first record that does not read.
fn decode(mut bytes: &[u8], records: usize) -> Vec<PredictionLog> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = b.split_at_checked(n)?;
        *b = tail;
        Some(head)
    }
    fn u32_(b: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize)
    }
    fn u64_(b: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn text(b: &mut &[u8]) -> Option<String> {
        let n = u32_(b)?;
        String::from_utf8(take(b, n)?.to_vec()).ok()
    }
    fn one(b: &mut &[u8]) -> Option<PredictionLog> {
        let request_id = text(b)?;
        let at = u64_(b)?;
        let model = text(b)?;
        let version = u64_(b)?;
        let stage = text(b)?.parse().ok()?;
        let body = text(b)?;
        let labels = serde_json::from_str(&text(b)?).ok()?;
        let n = u32_(b)?;
        let probabilities = take(b, n.checked_mul(4)?)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(PredictionLog {
            request_id,
            at,
            model,
            version,
            stage,
            body,
            labels,
            probabilities,
        })
    }
    let mut logs = Vec::with_capacity(records);
    while !bytes.is_empty() {
        match one(&mut bytes) {
            Some(l) => logs.push(l),
            None => break,
        }
    }
    logs
}

/// Write what `buffer` collects for as long as the process runs.
pub async fn write_logs<L: Lake>(
    lake: L,
    buffer: Arc<LogBuffer>,
    every: Duration,
    stats: Arc<LogStats>,
) {
    write_logs_until(lake, buffer, every, stats, std::future::pending()).await;
}

/// Write what `buffer` collects until `stop` resolves; then what is waiting is written at once
/// (one retry a moment later), and what still could not be written is said.
pub async fn write_logs_until<L: Lake>(
    lake: L,
    buffer: Arc<LogBuffer>,
    every: Duration,
    stats: Arc<LogStats>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut pending: Vec<PredictionLog> = Vec::new();
    let mut n = 0u64;
    loop {
        let stopping = tokio::select! {
            () = buffer.full.notified() => false,
            () = tokio::time::sleep(every) => false,
            () = &mut stop => true,
        };
        pending.append(&mut buffer.take());
        if !pending.is_empty() {
            n += 1;
            flush(&lake, &mut pending, n, &stats).await;
        }
        if stopping {
            if !pending.is_empty() {
                // One more try after a short pause, then say what is lost.
                tokio::time::sleep(every.min(Duration::from_millis(100))).await;
                pending.append(&mut buffer.take());
                flush(&lake, &mut pending, n + 1, &stats).await;
            }
            if !pending.is_empty() {
                eprintln!(
                    "prediction log: {} records could not be written",
                    pending.len()
                );
            }
            return;
        }
    }
}

/// Write `batch` as one object; it is emptied only when the write succeeded.
async fn flush<L: Lake>(lake: &L, batch: &mut Vec<PredictionLog>, n: u64, stats: &LogStats) {
    let text: String = batch.iter().map(|l| l.line() + "\n").collect();
    match lake
        .put(
            &crate::keys::prediction_batch(crate::jobs::now(), n),
            text.as_bytes(),
        )
        .await
    {
        Ok(()) => {
            stats
                .written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
        Err(e) => {
            stats.failed_flushes.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "prediction log: {} records not written yet, retrying: {e}",
                batch.len()
            );
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::LakeError;

    /// A lake whose first `fail` writes fail.
    #[derive(Default)]
    struct Flaky {
        fail: AtomicU64,
        objects: Mutex<Vec<(String, Vec<u8>)>>,
    }

    impl Lake for &Flaky {
        async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, LakeError> {
            Ok(None)
        }
        async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
            if self.fail.load(Ordering::SeqCst) > 0 {
                self.fail.fetch_sub(1, Ordering::SeqCst);
                return Err(LakeError::service(key, "unavailable", Some(503), None));
            }
            self.objects
                .lock()
                .expect("lock")
                .push((key.into(), bytes.to_vec()));
            Ok(())
        }
        async fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, LakeError> {
            self.put(key, bytes).await.map(|()| true)
        }
        async fn list(&self, _: &str) -> Result<Vec<String>, LakeError> {
            Ok(vec![])
        }
        async fn delete(&self, _: &str) -> Result<(), LakeError> {
            Ok(())
        }
        fn uri(&self, key: &str) -> String {
            format!("mem://{key}")
        }
    }

    fn record(buffer: &LogBuffer, i: usize) {
        buffer.record(&Sample {
            request_id: &format!("r{i}"),
            at: 0,
            model: "m",
            version: 1,
            stage: Stage::Production,
            body: r#"{"instances": [{"x": 1}]}"#,
            labels: &[serde_json::json!(1)],
            probabilities: &[0.25, 0.75],
        });
    }

    #[test]
    fn records_read_back_as_they_were_left() {
        let buffer = LogBuffer::new(10);
        let labels = [serde_json::json!("malignant"), serde_json::json!(0)];
        let samples = [
            Sample {
                request_id: "a",
                at: 1_700_000_000,
                model: "heart",
                version: 7,
                stage: Stage::Staging,
                body: r#"{"instances": [{"ville": "Zürich"}, {"ville": ""}]}"#,
                labels: &labels,
                probabilities: &[0.1, 0.9, 1.0, 0.0],
            },
            Sample {
                request_id: "",
                at: 0,
                model: "m",
                version: u64::MAX,
                stage: Stage::Production,
                body: "",
                labels: &[],
                probabilities: &[],
            },
        ];
        for s in &samples {
            buffer.record(s);
        }
        assert_eq!(buffer.waiting(), 2);
        let logs = buffer.take();
        assert_eq!(buffer.waiting(), 0);
        assert_eq!(logs.len(), 2);
        for (l, s) in logs.iter().zip(&samples) {
            assert_eq!(l.request_id, s.request_id);
            assert_eq!(l.at, s.at);
            assert_eq!(l.model, s.model);
            assert_eq!(l.version, s.version);
            assert_eq!(l.stage, s.stage);
            assert_eq!(l.body, s.body);
            assert_eq!(l.labels, s.labels);
            assert_eq!(l.probabilities, s.probabilities);
        }
        let line: serde_json::Value = serde_json::from_str(&logs[0].line()).expect("JSON");
        assert_eq!(line["instances"][0]["ville"], "Zürich");
        assert_eq!(
            line["probabilities"],
            serde_json::json!([[0.1f32, 0.9f32], [1.0, 0.0]])
        );
        assert!(buffer.take().is_empty());
    }

    /// The text of every record written.
    fn lines(lake: &Flaky) -> Vec<String> {
        lake.objects
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|(_, b)| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_failed_write_is_retried_at_stop_without_losing_records() {
        let lake = Flaky::default();
        lake.fail.store(1, Ordering::SeqCst);
        let buffer = LogBuffer::new(1000);
        for i in 0..5 {
            record(&buffer, i);
        }
        let stats = Arc::new(LogStats::default());
        write_logs_until(
            &lake,
            buffer.clone(),
            Duration::from_millis(10),
            stats.clone(),
            std::future::ready(()),
        )
        .await;
        let lines = lines(&lake);
        assert_eq!(lines.len(), 5, "every record written once: {lines:?}");
        let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON line");
        assert_eq!(first["instances"], serde_json::json!([{"x": 1}]));
        assert_eq!(first["labels"], serde_json::json!([1]));
        assert_eq!(first["probabilities"], serde_json::json!([[0.25, 0.75]]));
        assert_eq!(first["stage"], "Production");
        for i in 0..5 {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.contains(&format!("\"r{i}\"")))
                    .count(),
                1
            );
        }
        assert!(
            lake.objects
                .lock()
                .expect("lock")
                .iter()
                .all(|(k, _)| k.starts_with("predictions/"))
        );
        assert_eq!(stats.failed_flushes.load(Ordering::Relaxed), 1);
        assert_eq!(stats.written.load(Ordering::Relaxed), 5);
        assert_eq!(buffer.waiting(), 0);
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_before_the_timer() {
        let lake: &'static Flaky = Box::leak(Box::default());
        let buffer = LogBuffer::new(3);
        let stats = Arc::new(LogStats::default());
        let writer = tokio::spawn(write_logs(
            lake,
            buffer.clone(),
            Duration::from_secs(3600),
            stats.clone(),
        ));
        record(&buffer, 0);
        record(&buffer, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(lines(lake).len(), 0, "below `max`, the timer decides");
        record(&buffer, 2);
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while stats.written.load(Ordering::Relaxed) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        writer.abort();
        assert!(waited.is_ok(), "the full buffer was not written");
        assert_eq!(lines(lake).len(), 3);
    }
}
