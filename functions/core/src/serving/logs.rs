//! Sampled predictions to the lake, off the response path: the handler only sends the record on
//! a channel; this writer batches them and writes one object per batch under
//! `predictions/<day>/`, at most every `every` or when `max` records wait, and when the channel
//! closes or `stop` resolves (the Lambda runtime's shutdown signal). A batch that cannot be
//! written is kept and retried at the next flush (and counted): nothing sampled is dropped
//! silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::PredictionLog;
use crate::lake::Lake;

/// Counters of the writer, readable while it runs.
#[derive(Debug, Default)]
pub struct LogStats {
    pub written: AtomicU64,
    pub failed_flushes: AtomicU64,
}

/// The key of the `n`-th batch written at `secs` by this process.
pub fn batch_key(secs: u64, n: u64) -> String {
    let day = &crate::registry::local::rfc3339(secs)[..10];
    format!("predictions/{day}/{secs}-{}-{n}.jsonl", std::process::id())
}

/// Write what arrives on `rx` until the channel closes.
pub async fn write_logs<L: Lake>(
    lake: L,
    rx: UnboundedReceiver<PredictionLog>,
    every: Duration,
    max: usize,
    stats: Arc<LogStats>,
) {
    write_logs_until(lake, rx, every, max, stats, std::future::pending()).await;
}

/// Write what arrives on `rx` until the channel closes or `stop` resolves; then what is waiting
/// is written at once (one retry a moment later), and what still could not be written is said.
pub async fn write_logs_until<L: Lake>(
    lake: L,
    mut rx: UnboundedReceiver<PredictionLog>,
    every: Duration,
    max: usize,
    stats: Arc<LogStats>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut stopping = false;
    let mut batch: Vec<PredictionLog> = Vec::new();
    let mut n = 0u64;
    loop {
        let flush_at = tokio::time::sleep(every);
        tokio::pin!(flush_at);
        let closed = loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => {
                        batch.push(m);
                        if batch.len() >= max {
                            break false;
                        }
                    }
                    None => break true,
                },
                () = &mut stop, if !stopping => {
                    // No more records are taken; those already sent are drained, then the
                    // channel reports closed.
                    stopping = true;
                    rx.close();
                }
                () = &mut flush_at => break false,
            }
        };
        if !batch.is_empty() {
            n += 1;
            flush(&lake, &mut batch, n, &stats).await;
        }
        if closed {
            if !batch.is_empty() {
                // The channel is gone: one more try after a short pause, then say what is lost.
                tokio::time::sleep(every.min(Duration::from_millis(100))).await;
                flush(&lake, &mut batch, n + 1, &stats).await;
            }
            if !batch.is_empty() {
                eprintln!(
                    "prediction log: {} records could not be written",
                    batch.len()
                );
            }
            return;
        }
    }
}

/// Write `batch` as one object; it is emptied only when the write succeeded.
async fn flush<L: Lake>(lake: &L, batch: &mut Vec<PredictionLog>, n: u64, stats: &LogStats) {
    let text: String = batch
        .iter()
        .filter_map(|l| serde_json::to_string(l).ok())
        .map(|l| l + "\n")
        .collect();
    match lake
        .put(&batch_key(crate::jobs::now(), n), text.as_bytes())
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
    use crate::registry::Stage;
    use std::sync::Mutex;

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
                return Err(LakeError {
                    key: key.into(),
                    message: "unavailable".into(),
                });
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

    fn log(i: usize) -> PredictionLog {
        PredictionLog {
            request_id: format!("r{i}"),
            at: 0,
            model: "m".into(),
            version: 1,
            stage: Stage::Production,
            instances: vec![],
            labels: vec![],
            probabilities: vec![],
        }
    }

    #[tokio::test]
    async fn batches_by_count_and_retries_a_failed_write_without_losing_records() {
        let lake = Flaky::default();
        lake.fail.store(1, Ordering::SeqCst);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..5 {
            tx.send(log(i)).expect("send");
        }
        drop(tx);
        let stats = Arc::new(LogStats::default());
        write_logs(&lake, rx, Duration::from_millis(10), 2, stats.clone()).await;
        let objects = lake.objects.lock().expect("lock");
        let lines: Vec<String> = objects
            .iter()
            .flat_map(|(_, b)| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(lines.len(), 5, "every record written once: {lines:?}");
        for i in 0..5 {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.contains(&format!("\"r{i}\"")))
                    .count(),
                1
            );
        }
        assert!(objects.iter().all(|(k, _)| k.starts_with("predictions/")));
        assert_eq!(stats.failed_flushes.load(Ordering::Relaxed), 1);
        assert_eq!(stats.written.load(Ordering::Relaxed), 5);
    }
}
