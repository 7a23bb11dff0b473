//! The `local` environment: the platform in a directory on this machine, nothing to install.
//!
//! ```text
//! .mlinfra/<stack>/
//!   lake/{raw,curated,artifacts,models,predictions,feedback,state}/   the data lake
//!   registry/                                                          the model registry store
//!   functions/<fn>.json     each function's configuration (what Lambda gets as environment)
//!   iam/<fn>.json           each function's permissions
//!   schedules/, notifications/, api/, alerts/, alarms/                 the rest of the platform
//!   secrets/api-key         the API key (mode 0600; the state records only its fingerprint)
//!   state.json, state.lock  the engine's state and lock
//! ```
//! Each resource is a JSON manifest holding the properties it was applied with (and, for data
//! directories, the directory itself). Reading a resource reads its manifest back, so a file
//! edited or deleted by hand shows in `mlinfra diff` like an out-of-band change on a cloud.

use std::path::{Path, PathBuf};

use mlinfra_core::{FunctionConfig, FunctionName};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::{DeleteOptions, Deleted, Provider, ProviderError};
use crate::engine::graph::LAKE_PREFIXES;
use crate::engine::state::write_atomic;
use crate::engine::{Change, Resource, ResourceKind, ResourceState};

/// The manifest file name inside data directories (the lake, the registry).
const DATA_MANIFEST: &str = ".mlinfra-resource.json";

#[derive(Debug, Clone)]
pub struct LocalProvider {
    root: PathBuf,
    stack: String,
    model: String,
    /// The lake and registry URIs the functions' configuration names, when they are not this
    /// directory's (the blob containers of `--env azurite`).
    sources: Option<(String, String)>,
}

impl LocalProvider {
    pub fn new(root: PathBuf, stack: &str, model: &str) -> Self {
        LocalProvider {
            root,
            stack: stack.to_string(),
            model: model.to_string(),
            sources: None,
        }
    }

    /// Records whose functions read the lake and the registry at these URIs.
    pub fn with_sources(mut self, lake: String, registry: String) -> Self {
        self.sources = Some((lake, registry));
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn abs(&self, p: &Path) -> PathBuf {
        std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
    }

    fn uri(&self, dir: &str) -> String {
        format!("file://{}", self.abs(&self.root.join(dir)).display())
    }

    /// The name after the dot of an address: `function.predict` → `predict`.
    fn leaf(addr: &str) -> &str {
        addr.split_once('.').map_or(addr, |(_, l)| l)
    }

    /// Where a resource's manifest lives, and its data directory if it has one.
    fn paths(&self, addr: &str, kind: ResourceKind) -> (PathBuf, Option<PathBuf>) {
        let leaf = Self::leaf(addr);
        let file = |dir: &str| self.root.join(dir).join(format!("{leaf}.json"));
        match kind {
            ResourceKind::Lake => (
                self.root.join("lake").join(DATA_MANIFEST),
                Some(self.root.join("lake")),
            ),
            ResourceKind::Registry => (
                self.root.join("registry").join(DATA_MANIFEST),
                Some(self.root.join("registry")),
            ),
            ResourceKind::Role => (file("iam"), None),
            ResourceKind::Function => (file("functions"), None),
            ResourceKind::Notification => (file("notifications"), None),
            ResourceKind::Schedule => (file("schedules"), None),
            ResourceKind::Api => (self.root.join("api").join("api.json"), None),
            ResourceKind::ApiKey => (
                self.root
                    .join("api")
                    .join("keys")
                    .join(format!("{leaf}.json")),
                None,
            ),
            ResourceKind::Topic => (file("alerts"), None),
            // The document the jobs read, in the lake itself (not a manifest around it).
            ResourceKind::Settings => (
                self.root.join("lake").join(mlinfra_core::keys::SETTINGS),
                None,
            ),
            ResourceKind::Alarm => (file("alarms"), None),
        }
    }

    fn secret_path(&self, leaf: &str) -> PathBuf {
        let name = if leaf == "default" {
            "api-key".to_string()
        } else {
            format!("api-key-{leaf}")
        };
        self.root.join("secrets").join(name)
    }

    fn write_json(&self, addr: &str, path: &Path, v: &Value) -> Result<(), ProviderError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ProviderError::io(addr, "create directory", dir, &e))?;
        }
        let mut text = serde_json::to_string_pretty(v)
            .map_err(|e| ProviderError::new(addr, "Encode", e.to_string()))?;
        text.push('\n');
        write_atomic(path, text.as_bytes()).map_err(|e| ProviderError::io(addr, "write", path, &e))
    }

    /// Create or bring a resource to its desired properties (both are the same operation here).
    fn put(&self, r: &Resource) -> Result<Value, ProviderError> {
        let (manifest, data_dir) = self.paths(&r.addr, r.kind);
        if r.kind == ResourceKind::Settings {
            self.write_json(&r.addr, &manifest, &r.props)?;
            return Ok(json!({ "uri": format!("file://{}", self.abs(&manifest).display()) }));
        }
        let mut doc = json!({ "addr": r.addr, "kind": r.kind, "props": r.props });
        let mut outputs = json!({ "manifest": self.abs(&manifest).display().to_string() });
        if let Some(dir) = &data_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| ProviderError::io(&r.addr, "create directory", dir, &e))?;
            if r.kind == ResourceKind::Lake {
                for p in LAKE_PREFIXES {
                    let d = dir.join(p.trim_end_matches('/'));
                    std::fs::create_dir_all(&d)
                        .map_err(|e| ProviderError::io(&r.addr, "create directory", &d, &e))?;
                }
            }
            outputs["uri"] = json!(self.uri(if r.kind == ResourceKind::Lake {
                "lake"
            } else {
                "registry"
            }));
        }
        match r.kind {
            ResourceKind::Function => {
                let function: FunctionName = serde_json::from_value(r.props["function"].clone())
                    .map_err(|e| ProviderError::new(&r.addr, "InvalidProps", e.to_string()))?;
                let num = |k: &str| {
                    r.props[k]
                        .as_u64()
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(0)
                };
                let (lake, registry) = self
                    .sources
                    .clone()
                    .unwrap_or_else(|| (self.uri("lake"), self.uri("registry")));
                let config = FunctionConfig {
                    stack: self.stack.clone(),
                    function,
                    lake,
                    registry,
                    model: self.model.clone(),
                    memory_mb: num("memory_mb"),
                    timeout_s: num("timeout_s"),
                    serving: crate::engine::graph::serving_of(&r.props),
                    // Locally, alerts go to the log and the stack's webhooks, and the monitor
                    // retrains in-process.
                    alerts_topic: None,
                    retrain_function: None,
                };
                doc["env"] = json!(config.to_env());
                doc["config"] = json!(config);
            }
            ResourceKind::ApiKey => {
                let secret = self.secret_path(Self::leaf(&r.addr));
                let key = match std::fs::read_to_string(&secret) {
                    Ok(k) if k.trim().len() >= 32 => k.trim().to_string(),
                    _ => {
                        let mut bytes = [0u8; 24];
                        getrandom::fill(&mut bytes)
                            .map_err(|e| ProviderError::new(&r.addr, "Random", e.to_string()))?;
                        let key = format!("mlk_{}", hex::encode(bytes));
                        write_secret(&secret, &key)
                            .map_err(|e| ProviderError::io(&r.addr, "write", &secret, &e))?;
                        key
                    }
                };
                let fp = fingerprint(&key);
                doc["fingerprint"] = json!(fp);
                outputs["key_file"] = json!(self.abs(&secret).display().to_string());
                outputs["fingerprint"] = json!(fp);
            }
            ResourceKind::Api => {
                let port = r.props["port"].as_u64().unwrap_or(8080);
                let stage = r.props["stage"].as_str().unwrap_or("v1");
                outputs["url"] = json!(format!("http://127.0.0.1:{port}/{stage}/"));
            }
            _ => {}
        }
        self.write_json(&r.addr, &manifest, &doc)?;
        Ok(outputs)
    }
}

/// A short, non-reversible fingerprint of a secret, safe to record and show.
pub fn fingerprint(secret: &str) -> String {
    let d = sha2::Sha256::digest(secret.as_bytes());
    format!("sha256:{}", &hex::encode(d)[..16])
}

fn write_secret(path: &Path, value: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }
    #[cfg(not(unix))]
    {
        write_atomic(path, value.as_bytes())
    }
}

/// Files under a data directory, other than its manifest: (count, bytes).
pub fn data_contents(dir: &Path) -> (u64, u64) {
    let mut count = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) if p.file_name().is_some_and(|n| n == DATA_MANIFEST) => {}
                Ok(_) => {
                    count += 1;
                    bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                }
                Err(_) => {}
            }
        }
    }
    (count, bytes)
}

fn remove_file(addr: &str, p: &Path) -> Result<bool, ProviderError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ProviderError::io(addr, "delete", p, &e)),
    }
}

/// Remove now-empty directories from `dir` up to (and including) `root`.
fn prune_empty(dir: &Path, root: &Path) {
    let mut d = Some(dir);
    while let Some(cur) = d {
        if !cur.starts_with(root) || std::fs::remove_dir(cur).is_err() {
            break;
        }
        if cur == root {
            break;
        }
        d = cur.parent();
    }
}

impl Provider for LocalProvider {
    fn target(&self) -> String {
        format!("local directory `{}`", crate::stack::shown(&self.root))
    }

    async fn read(
        &self,
        addr: &str,
        kind: ResourceKind,
        _recorded: Option<&ResourceState>,
    ) -> Result<Option<Value>, ProviderError> {
        let (manifest, _) = self.paths(addr, kind);
        let text = match std::fs::read_to_string(&manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ProviderError::io(addr, "read", &manifest, &e)),
        };
        let doc: Value = match serde_json::from_str(&text) {
            Ok(d) => d,
            // A manifest mangled by hand: treat as drifted so `up` rewrites it.
            Err(_) => return Ok(Some(json!({ "corrupt_manifest": true }))),
        };
        if kind == ResourceKind::ApiKey && !self.secret_path(Self::leaf(addr)).exists() {
            return Ok(None);
        }
        if kind == ResourceKind::Settings {
            return Ok(Some(doc));
        }
        Ok(Some(doc.get("props").cloned().unwrap_or(Value::Null)))
    }

    async fn create(&self, r: &Resource) -> Result<Value, ProviderError> {
        self.put(r)
    }

    async fn update(&self, r: &Resource, _changes: &[Change]) -> Result<Value, ProviderError> {
        self.put(r)
    }

    async fn delete(
        &self,
        addr: &str,
        recorded: &ResourceState,
        opts: DeleteOptions,
    ) -> Result<Deleted, ProviderError> {
        let kind = super::recorded_kind(addr, recorded)?;
        let (manifest, data_dir) = self.paths(addr, kind);
        if let Some(dir) = data_dir {
            if !dir.exists() {
                return Ok(Deleted::AlreadyGone);
            }
            if kind == ResourceKind::Lake {
                // The jobs' settings are the platform's configuration (written by `up`), not
                // data: they go with the functions.
                let settings = dir.join(mlinfra_core::keys::SETTINGS);
                let _ = std::fs::remove_file(&settings);
                for d in settings.ancestors().skip(1).take_while(|d| *d != dir) {
                    let _ = std::fs::remove_dir(d); // only when empty
                }
            }
            let (count, bytes) = data_contents(&dir);
            let what = if kind == ResourceKind::Lake {
                "data lake"
            } else {
                "model registry"
            };
            if count > 0 && !opts.delete_data {
                return Ok(Deleted::Retained(format!(
                    "kept the {what} `{}`: {count} object{} ({bytes} bytes); `mlinfra down --delete-data` deletes {}",
                    dir.display(),
                    if count == 1 { "" } else { "s" },
                    if count == 1 { "it" } else { "them" }
                )));
            }
            std::fs::remove_dir_all(&dir)
                .map_err(|e| ProviderError::io(addr, "delete", &dir, &e))?;
            if let Some(parent) = dir.parent() {
                prune_empty(parent, &self.root);
            }
            return Ok(if count > 0 {
                Deleted::Emptied(format!(
                    "deleted the {what} with its {count} object{}",
                    if count == 1 { "" } else { "s" }
                ))
            } else {
                Deleted::Deleted
            });
        }
        let mut existed = remove_file(addr, &manifest)?;
        if kind == ResourceKind::ApiKey {
            let secret = self.secret_path(Self::leaf(addr));
            existed |= remove_file(addr, &secret)?;
            if let Some(parent) = secret.parent() {
                prune_empty(parent, &self.root);
            }
        }
        if let Some(parent) = manifest.parent() {
            prune_empty(parent, &self.root);
        }
        Ok(Deleted::if_existed(existed))
    }
}
