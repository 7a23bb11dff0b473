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

/// Feedback as one JSON file per request id under the lake's `feedback/`.
pub struct LocalFeedback {
    pub dir: PathBuf,
}

impl FeedbackSink for LocalFeedback {
    fn store(&self, request_id: &str, record: &Value) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let path = self.dir.join(format!("{request_id}.json"));
        let tmp = self.dir.join(format!(".{request_id}.json.tmp"));
        std::fs::write(&tmp, format!("{record}\n")).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
    }
}

/// A `file://` URI as a path.
pub fn file_path(uri: &str) -> Option<PathBuf> {
    uri.strip_prefix("file://").map(PathBuf::from)
}
