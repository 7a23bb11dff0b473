//! The file-based model source and feedback sink: the local environment's registry and lake
//! (`file://` URIs), used by `mlinfra serve` and by the `predict` binary when its configuration
//! points at a local environment.

use std::path::PathBuf;

use serde_json::Value;

use super::{FeedbackSink, ModelSource};
use crate::registry::local::LocalStore;
use crate::registry::{Current, Pointer, read_artifact};

pub struct LocalSource {
    pub store: LocalStore,
    pub model: String,
}

impl ModelSource for LocalSource {
    fn current(&self) -> Result<Option<Current>, String> {
        self.store
            .current_now(&self.model)
            .map_err(|e| e.to_string())
    }

    fn fetch(&self, p: &Pointer) -> Result<Vec<u8>, String> {
        read_artifact(&p.artifact_uri, &p.sha256).map_err(|e| e.to_string())
    }
}

/// Feedback as one JSON file per request id under the lake's `feedback/`; a later feedback for
/// the same request replaces the earlier one (a correction). Request ids are looked up in the
/// lake's `predictions/<day>/` logs of the last `retention_days` days.
pub struct LocalFeedback {
    /// The lake directory (holding `feedback/` and `predictions/`).
    pub lake: PathBuf,
    pub retention_days: u32,
}

impl FeedbackSink for LocalFeedback {
    fn store(&self, request_id: &str, record: &Value) -> Result<bool, String> {
        let dir = self.lake.join("feedback");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{request_id}.json"));
        let tmp = dir.join(format!(".{request_id}.json.tmp"));
        let replaced = path.exists();
        std::fs::write(&tmp, format!("{record}\n")).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        Ok(replaced)
    }

    fn logged(&self, request_id: &str) -> Result<Option<u64>, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let first = crate::registry::local::rfc3339(
            now.saturating_sub(u64::from(self.retention_days) * 86_400),
        )[..10]
            .to_string();
        let needle = format!("\"request_id\":\"{request_id}\"");
        let days = match std::fs::read_dir(self.lake.join("predictions")) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        for day in days.flatten() {
            if day.file_name().to_string_lossy().as_ref() < first.as_str() {
                continue;
            }
            for file in std::fs::read_dir(day.path())
                .map_err(|e| e.to_string())?
                .flatten()
            {
                let text = std::fs::read_to_string(file.path()).unwrap_or_default();
                if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
                    let version = serde_json::from_str::<Value>(line)
                        .ok()
                        .and_then(|v| v["version"].as_u64())
                        .unwrap_or(0);
                    return Ok(Some(version));
                }
            }
        }
        Ok(None)
    }
}

/// A `file://` URI as a path.
pub fn file_path(uri: &str) -> Option<PathBuf> {
    uri.strip_prefix("file://").map(PathBuf::from)
}
