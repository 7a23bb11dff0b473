//! The model source and feedback sink over the application's own seams: the registry [`Store`]
//! gives the serving pointers, the [`Lake`] holds the model artifacts, the prediction logs and
//! the feedback. The same code serves a local environment (`file://` directories) and the cloud
//! ones (the DynamoDB `CURRENT` item, S3 objects), in `mlinfra serve`, batch `predict` and the
//! `predict` function.

use serde_json::Value;

use super::{FeedbackSink, ModelSource};
use crate::lake::Lake;
use crate::registry::{Current, Pointer, Store};

/// The Production and Staging pointers of `model` from a registry store; the artifacts from the
/// lake they were written to (a `file://` artifact outside the lake, registered by hand, is read
/// where it is).
pub struct RegistrySource<S, L> {
    pub store: S,
    pub lake: L,
    pub model: String,
}

impl<S: Store + Send + Sync, L: Lake + Send + Sync> ModelSource for RegistrySource<S, L> {
    async fn current(&self) -> Result<Option<Current>, String> {
        self.store
            .current(&self.model)
            .await
            .map_err(|e| format!("the registry cannot be read: {e}"))
    }

    async fn fetch(&self, p: &Pointer) -> Result<Vec<u8>, String> {
        crate::jobs::read_registered(&self.lake, p)
            .await
            .map(|(_, bytes)| bytes)
            .map_err(|e| e.to_string())
    }
}

/// Feedback as one JSON object per request id under the lake's `feedback/`; a later feedback for
/// the same request replaces the earlier one (a correction). Request ids are looked up in the
/// lake's `predictions/<day>/` logs of the last `retention_days` days, newest first.
pub struct LakeFeedback<L> {
    pub lake: L,
    pub retention_days: u32,
}

impl<L: Lake + Send + Sync> FeedbackSink for LakeFeedback<L> {
    async fn store(&self, request_id: &str, record: &Value) -> Result<bool, String> {
        let key = crate::keys::feedback(request_id);
        let replaced = self
            .lake
            .get(&key)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        self.lake
            .put(&key, format!("{record}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        Ok(replaced)
    }

    async fn logged(&self, request_id: &str) -> Result<Option<u64>, String> {
        let first = format!(
            "{}{}",
            crate::keys::PREDICTIONS,
            &crate::clock::rfc3339(
                crate::jobs::now().saturating_sub(u64::from(self.retention_days) * 86_400),
            )[..10]
        );
        let needle = format!("\"request_id\":\"{request_id}\"");
        let mut keys = self
            .lake
            .list(crate::keys::PREDICTIONS)
            .await
            .map_err(|e| e.to_string())?;
        keys.retain(|k| k.as_str() >= first.as_str());
        for key in keys.iter().rev() {
            let Some(bytes) = self.lake.get(key).await.map_err(|e| e.to_string())? else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
                let version = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v["version"].as_u64())
                    .unwrap_or(0);
                return Ok(Some(version));
            }
        }
        Ok(None)
    }
}
