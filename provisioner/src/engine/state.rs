//! State: what mlinfra created for one stack on one environment, as a versioned JSON document.
//!
//! The document is written atomically (a temporary file in the same directory, flushed, then
//! renamed over the old one), so a crash leaves either the old or the new state, never half of
//! one. The previous version is kept beside it as `state.json.bak`. No secret is ever recorded:
//! resources that hold one record a fingerprint.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The state format this mlinfra writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: u32,
    pub stack: String,
    pub env: String,
    /// Incremented on every write.
    pub serial: u64,
    pub mlinfra_version: String,
    pub updated_at: String,
    /// Resources by address, in the order they were created.
    pub resources: IndexMap<String, ResourceState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    pub kind: String,
    /// The properties the resource was last applied with.
    pub props: Value,
    /// What the provider reported back (paths, ids, URLs).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub outputs: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// A state document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file `{path}` is not valid: {detail}\nhint: if it was edited by hand, restore `{path}.bak` (the previous version), or move it away to start over"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "state file `{path}` has format {found}, this mlinfra reads format {FORMAT}\nhint: it was written by a newer mlinfra: upgrade mlinfra"
    )]
    Newer { path: PathBuf, found: u32 },
    #[error("cannot {what} the remote state `{uri}`: {detail}")]
    Remote {
        uri: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "state file `{path}` belongs to stack `{found_stack}` on `{found_env}`, not `{stack}` on `{env}`"
    )]
    Mismatch {
        path: PathBuf,
        stack: String,
        env: String,
        found_stack: String,
        found_env: String,
    },
}

impl State {
    /// Bump the serial and timestamp, and encode the document to write.
    pub fn next_version(&mut self, path: &Path) -> Result<String, StateError> {
        self.serial += 1;
        self.updated_at = mlinfra_core::clock::now_rfc3339();
        self.mlinfra_version = env!("CARGO_PKG_VERSION").to_string();
        let mut text = serde_json::to_string_pretty(self).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        text.push('\n');
        Ok(text)
    }

    pub fn new(stack: &str, env: &str) -> Self {
        State {
            format: FORMAT,
            stack: stack.to_string(),
            env: env.to_string(),
            serial: 0,
            mlinfra_version: env!("CARGO_PKG_VERSION").to_string(),
            updated_at: mlinfra_core::clock::now_rfc3339(),
            resources: IndexMap::new(),
        }
    }

    /// Parse and check a state document.
    pub fn from_json(path: &Path, text: &str, stack: &str, env: &str) -> Result<State, StateError> {
        let raw: Value = serde_json::from_str(text).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("line {} column {}: {e}", e.line(), e.column()),
        })?;
        if let Some(f) = raw.get("format").and_then(Value::as_u64)
            && f > u64::from(FORMAT)
        {
            return Err(StateError::Newer {
                path: path.to_path_buf(),
                found: u32::try_from(f).unwrap_or(u32::MAX),
            });
        }
        let state: State = serde_json::from_value(raw).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        if state.stack != stack || state.env != env {
            return Err(StateError::Mismatch {
                path: path.to_path_buf(),
                stack: stack.to_string(),
                env: env.to_string(),
                found_stack: state.stack,
                found_env: state.env,
            });
        }
        Ok(state)
    }
}

/// A state document kept in a file on this machine.
#[derive(Debug, Clone)]
pub struct FileStore {
    pub path: PathBuf,
}

impl FileStore {
    pub fn new(path: PathBuf) -> Self {
        FileStore { path }
    }

    /// The recorded state, or `None` when nothing was ever applied.
    pub fn load(&self, stack: &str, env: &str) -> Result<Option<State>, StateError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => State::from_json(&self.path, &text, stack, env).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::Io {
                path: self.path.clone(),
                source: e,
            }),
        }
    }

    /// Write the state atomically and bump its serial.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        let text = state.next_version(&self.path)?;
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if self.path.exists() {
            let bak = self.path.with_extension("json.bak");
            std::fs::copy(&self.path, bak).map_err(io)?;
        }
        write_atomic(&self.path, text.as_bytes()).map_err(io)
    }

    /// Remove the state (after everything it recorded was deleted).
    pub fn remove(&self) -> Result<(), StateError> {
        for p in [self.path.clone(), self.path.with_extension("json.bak")] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StateError::Io { path: p, source: e }),
            }
        }
        Ok(())
    }
}

/// Write a file so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip_and_bump_serial() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("state.json"));
        assert!(store.load("s", "local").expect("load").is_none());
        let mut st = State::new("s", "local");
        st.resources.insert(
            "lake".into(),
            ResourceState {
                kind: "lake".into(),
                props: serde_json::json!({"bucket": "b"}),
                outputs: Value::Null,
                depends_on: vec![],
            },
        );
        store.save(&mut st).expect("save");
        store.save(&mut st).expect("save again");
        let back = store.load("s", "local").expect("load").expect("present");
        assert_eq!(back.serial, 2);
        assert_eq!(back.resources, st.resources);
        assert!(dir.path().join("state.json.bak").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn corrupt_newer_and_foreign_states_are_refused_with_a_hint() {
        let p = Path::new("state.json");
        let e = State::from_json(p, "{\"format\": 1,", "s", "local").expect_err("corrupt");
        assert!(e.to_string().contains("is not valid: line 1"), "{e}");
        assert!(e.to_string().contains("hint: "), "{e}");
        let e = State::from_json(p, "{\"format\": 9}", "s", "local").expect_err("newer");
        assert!(e.to_string().contains("format 9"), "{e}");
        let mut other = State::new("other", "local");
        other.serial = 1;
        let text = serde_json::to_string(&other).expect("json");
        let e = State::from_json(p, &text, "s", "local").expect_err("foreign");
        assert!(e.to_string().contains("belongs to stack `other`"), "{e}");
    }
}
