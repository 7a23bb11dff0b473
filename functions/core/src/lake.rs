//! The data lake as the jobs see it: keys under the prefixes `raw/ curated/ artifacts/ models/
//! predictions/ feedback/`. [`LocalLake`] is the local environment's directory (`file://`);
//! every write goes to a temporary file renamed into place, so a reader never sees half an
//! object.

use std::path::{Path, PathBuf};

/// A lake operation that failed, with the key, the service's error code when a service
/// answered (`AccessDenied`, `SlowDown`), and whether trying again can help: a throttled or
/// failed service call or a dropped connection can succeed later, a denied or malformed one
/// cannot.
#[derive(Debug, thiserror::Error)]
#[error("data lake `{key}`: {message}")]
pub struct LakeError {
    pub key: String,
    pub message: String,
    pub code: Option<String>,
    pub retryable: bool,
}

impl LakeError {
    /// A failure no retry mends (a bad key, a local file system error, a malformed answer).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        LakeError {
            key: key.into(),
            message: message.into(),
            code: None,
            retryable: false,
        }
    }

    /// A service's answer (`status` and `code` when it gave them; neither when the call never
    /// got one), retryable as [`crate::cloud_error::retryable`] says.
    pub fn service(
        key: impl Into<String>,
        message: impl Into<String>,
        status: Option<u16>,
        code: Option<&str>,
    ) -> Self {
        LakeError {
            key: key.into(),
            message: message.into(),
            code: code.map(str::to_string),
            retryable: crate::cloud_error::retryable(status, code),
        }
    }
}

/// The lake's operations. Async, so that a cloud lake (S3) is one more implementation and the
/// jobs run unchanged on it.
#[allow(async_fn_in_trait)]
pub trait Lake {
    /// The object's bytes, `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError>;
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError>;
    /// Write only when no object has the key; `false` when one already does (nothing written).
    async fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, LakeError>;
    /// Every key under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError>;
    async fn delete(&self, key: &str) -> Result<(), LakeError>;
    /// The object's URI (`file:///…`, `s3://…`), for records and messages.
    fn uri(&self, key: &str) -> String;
}

/// A lake in a local directory.
#[derive(Debug, Clone)]
pub struct LocalLake {
    pub root: PathBuf,
}

/// A `file://` URI as a path (a local environment's lake, registry or artifact).
pub fn file_path(uri: &str) -> Option<PathBuf> {
    uri.strip_prefix("file://").map(PathBuf::from)
}

fn err(key: &str, e: impl std::fmt::Display) -> LakeError {
    LakeError::new(key, e.to_string())
}

fn check(key: &str) -> Result<(), LakeError> {
    let bad =
        key.is_empty() || key.starts_with('/') || key.split('/').any(|p| p == ".." || p == ".");
    if bad {
        Err(err(
            key,
            "expected a relative key without `.` or `..` parts",
        ))
    } else {
        Ok(())
    }
}

impl LocalLake {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalLake { root: root.into() }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // temporary files of writes in flight
        }
        if entry.file_type()?.is_dir() {
            walk(&p, root, out)?;
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

impl Lake for LocalLake {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        self.get_sync(key)
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        self.put_sync(key, bytes)
    }

    async fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, LakeError> {
        // Written in full beside it, then linked into place: `hard_link` fails when the key
        // exists, so exactly one writer wins and no reader sees half an object.
        let (tmp, path) = self.write_beside(key, bytes, "new")?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(err(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        self.list_sync(prefix)
    }

    async fn delete(&self, key: &str) -> Result<(), LakeError> {
        check(key)?;
        match std::fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(key, e)),
        }
    }

    fn uri(&self, key: &str) -> String {
        let abs = std::path::absolute(self.path(key)).unwrap_or_else(|_| self.path(key));
        format!("file://{}", abs.display())
    }
}

impl LocalLake {
    /// [`Lake::get`] without a runtime, for the local environment's synchronous callers.
    pub fn get_sync(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        check(key)?;
        match std::fs::read(self.path(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(key, e)),
        }
    }

    /// [`Lake::put`] without a runtime.
    pub fn put_sync(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let (tmp, path) = self.write_beside(key, bytes, "tmp")?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(key, e)
        })
    }

    /// Write `bytes` to a hidden temporary file beside the key's path (which listings skip);
    /// returns the temporary file and the key's path.
    fn write_beside(
        &self,
        key: &str,
        bytes: &[u8],
        suffix: &str,
    ) -> Result<(PathBuf, PathBuf), LakeError> {
        check(key)?;
        let path = self.path(key);
        let dir = path
            .parent()
            .ok_or_else(|| err(key, "no parent directory"))?;
        std::fs::create_dir_all(dir).map_err(|e| err(key, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // Unique per write, so concurrent writers of one process never share a temporary file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.{suffix}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| err(key, e))?;
        Ok((tmp, path))
    }

    /// [`Lake::list`] without a runtime.
    pub fn list_sync(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let (dir, rest) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let base = self.root.join(dir);
        let mut out = vec![];
        if base.is_dir() {
            walk(&base, &self.root, &mut out).map_err(|e| err(prefix, e))?;
        }
        out.retain(|k| k.starts_with(dir) && k[dir.len()..].starts_with(rest));
        out.sort();
        Ok(out)
    }
}

/// The key of an object of `lake` named by its URI (an artifact URI the registry recorded),
/// `None` when the URI is not in this lake.
pub fn key_of(lake: &impl Lake, uri: &str) -> Option<String> {
    let root = lake.uri("");
    uri.strip_prefix(root.trim_end_matches('/'))?
        .strip_prefix('/')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_delete() {
        let d = tempfile::tempdir().expect("tempdir");
        let lake = LocalLake::new(d.path());
        lake.put("raw/a.csv", b"x").await.expect("put");
        lake.put("raw/quarantine/b.csv", b"y").await.expect("put");
        lake.put("curated/c/data.csv", b"z").await.expect("put");
        assert_eq!(
            lake.get("raw/a.csv").await.expect("get"),
            Some(b"x".to_vec())
        );
        assert_eq!(lake.get("raw/none").await.expect("get"), None);
        assert_eq!(
            lake.list("raw/").await.expect("list"),
            vec!["raw/a.csv", "raw/quarantine/b.csv"]
        );
        assert_eq!(
            lake.list("raw/quar").await.expect("list"),
            vec!["raw/quarantine/b.csv"]
        );
        lake.delete("raw/a.csv").await.expect("delete");
        assert_eq!(
            lake.list("raw/").await.expect("list"),
            vec!["raw/quarantine/b.csv"]
        );
        assert!(lake.put("../escape", b"no").await.is_err());
        assert!(lake.put_if_absent("state/lock", b"a").await.expect("first"));
        assert!(
            !lake
                .put_if_absent("state/lock", b"b")
                .await
                .expect("second")
        );
        assert_eq!(
            lake.get("state/lock").await.expect("get"),
            Some(b"a".to_vec())
        );
        assert_eq!(file_path("s3://bucket"), None);
    }
}
