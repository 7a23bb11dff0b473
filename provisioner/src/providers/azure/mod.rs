//! The Azure provider's storage side, on Azurite (`--env azurite`): the data lake and the
//! model registry are blob containers of the storage account, the jobs' settings a blob in the
//! lake, the state and its lease lock in the lake ([`state`]).
//!
//! Azurite emulates storage only. The platform's compute (the functions, their triggers and
//! schedules, the API and its key, the alert routes and alarms) is what `mlinfra serve --env
//! azurite` runs on this machine; its definitions are records in a local directory
//! (`.mlinfra/<stack>/azurite/`), kept by the local provider. Each container carries the
//! properties it was created with in a manifest blob, `.mlinfra-resource.json`, since the
//! emulator has no account settings to read back.
//!
//! Beside it: [`add_defaults`] (what Azure adds to the desired graph), [`ncrontab`] (the
//! schedules as Functions timers) and [`arm`] (the platform as an ARM template, for `--env
//! azure`).

pub mod arm;
pub mod ncrontab;
pub mod state;

use mlinfra_core::azure::Account;
use mlinfra_core::azure::blob::BlobLake;
use mlinfra_core::lake::{Lake as _, LakeError};
use serde_json::{Value, json};

use crate::engine::graph::Resource;
use crate::engine::{Change, ResourceKind, ResourceState};
use crate::providers::local::LocalProvider;
use crate::providers::{DeleteOptions, Deleted, Provider, ProviderError, settings};

/// What Azure adds to the desired graph: the functions' runtime (`custom`: Azure Functions'
/// worker runtime of a custom handler), and each schedule's timer in NCRONTAB (`ncrontab`), or
/// the error, with its hint, of a schedule Azure cannot express.
pub fn add_defaults(graph: &mut crate::engine::Graph) -> Result<(), String> {
    for r in graph
        .resources
        .values_mut()
        .filter(|r| r.kind == ResourceKind::Function)
    {
        r.props["runtime"] = json!("custom");
    }
    for r in graph
        .resources
        .values_mut()
        .filter(|r| r.kind == ResourceKind::Schedule)
    {
        let expr = r.props["expression"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let parsed = crate::stack::schedule::Schedule::parse(&expr).map_err(|e| e.message)?;
        let timer = ncrontab::ncrontab(&expr, &parsed).map_err(|e| {
            format!(
                "{}: {}{}",
                r.addr,
                e.message,
                e.hint.map(|h| format!("\nhint: {h}")).unwrap_or_default()
            )
        })?;
        r.props["ncrontab"] = json!(timer);
    }
    Ok(())
}

/// The manifest blob of a container.
const MANIFEST: &str = ".mlinfra-resource.json";

/// The provider of `--env azurite`.
#[derive(Debug)]
pub struct AzuriteProvider {
    pub account: Account,
    /// The data lake container (named like the stack's lake bucket).
    pub lake: BlobLake,
    /// The registry's container, `<stack>-registry`.
    pub registry: BlobLake,
    /// The compute's definitions, run by `serve --env azurite`.
    local: LocalProvider,
}

/// A container name as Azure requires it: 3–63 lowercase letters, digits and single hyphens,
/// starting and ending with a letter or digit.
pub fn check_container_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` cannot name a blob container: expected 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
        ))
    }
}

/// A container's URL without authorisation: `<blob endpoint>/<container>`.
fn container_url(c: &BlobLake) -> String {
    c.uri("").trim_end_matches('/').to_string()
}

fn container_outputs(c: &BlobLake) -> Value {
    json!({ "uri": c.uri(""), "container": c.container })
}

/// The service's name in errors.
const CODE: &str = "AzureStorage";

fn error(addr: &str, e: LakeError) -> ProviderError {
    ProviderError::new(addr, CODE, e.to_string())
}

impl AzuriteProvider {
    pub fn new(
        account: Account,
        lake_container: &str,
        registry_container: &str,
        local: LocalProvider,
    ) -> Result<Self, String> {
        check_container_name(lake_container).map_err(|e| format!("lake.bucket: {e}"))?;
        check_container_name(registry_container).map_err(|e| format!("the registry: {e}"))?;
        let lake = BlobLake::new(&account, lake_container).map_err(|e| e.message)?;
        let registry = BlobLake::new(&account, registry_container).map_err(|e| e.message)?;
        // The functions' configuration names the containers (their URLs, never a key or SAS).
        let local = local.with_sources(container_url(&lake), container_url(&registry));
        Ok(AzuriteProvider {
            account,
            lake,
            registry,
            local,
        })
    }

    fn container(&self, kind: ResourceKind) -> Option<&BlobLake> {
        match kind {
            ResourceKind::Lake => Some(&self.lake),
            ResourceKind::Registry => Some(&self.registry),
            _ => None,
        }
    }

    /// Create the container if needed and record its properties in its manifest.
    async fn put_container(&self, r: &Resource, c: &BlobLake) -> Result<Value, ProviderError> {
        c.create_container().await.map_err(|e| error(&r.addr, e))?;
        let doc = json!({ "addr": r.addr, "kind": r.kind, "props": r.props });
        let mut bytes = serde_json::to_vec_pretty(&doc)
            .map_err(|e| ProviderError::new(&r.addr, "Encode", e.to_string()))?;
        bytes.push(b'\n');
        c.put(MANIFEST, &bytes)
            .await
            .map_err(|e| error(&r.addr, e))?;
        Ok(container_outputs(c))
    }

    async fn put(&self, r: &Resource) -> Result<Value, ProviderError> {
        match r.kind {
            ResourceKind::Lake | ResourceKind::Registry => {
                let c = self.container(r.kind).unwrap_or(&self.lake);
                self.put_container(r, c).await
            }
            ResourceKind::Settings => settings::put(&self.lake, CODE, r).await,
            _ => self.local.create(r).await,
        }
    }

    /// The data blobs of a container (everything but its manifest).
    async fn contents(&self, addr: &str, c: &BlobLake) -> Result<Vec<String>, ProviderError> {
        Ok(c.list("")
            .await
            .map_err(|e| error(addr, e))?
            .into_iter()
            .filter(|k| k != MANIFEST)
            .collect())
    }
}

impl Provider for AzuriteProvider {
    fn adopted_outputs(&self, r: &Resource) -> Value {
        match r.kind {
            // The lake container `up` creates before the state exists (it holds the state).
            ResourceKind::Lake | ResourceKind::Registry => {
                container_outputs(self.container(r.kind).unwrap_or(&self.lake))
            }
            _ => self.local.adopted_outputs(r),
        }
    }

    fn target(&self) -> String {
        format!(
            "storage account `{}` at {}",
            self.account.name, self.account.blob_endpoint
        )
    }

    async fn read(
        &self,
        addr: &str,
        kind: ResourceKind,
        recorded: Option<&ResourceState>,
    ) -> Result<Option<Value>, ProviderError> {
        match kind {
            ResourceKind::Lake | ResourceKind::Registry => {
                let c = self.container(kind).unwrap_or(&self.lake);
                if !c.container_exists().await.map_err(|e| error(addr, e))? {
                    return Ok(None);
                }
                Ok(Some(
                    match c.get(MANIFEST).await.map_err(|e| error(addr, e))? {
                        Some(bytes) => serde_json::from_slice::<Value>(&bytes)
                            .ok()
                            .and_then(|d| d.get("props").cloned())
                            .unwrap_or(json!({ "corrupt_manifest": true })),
                        // A container made before its manifest (the state's bootstrap, a run
                        // stopped between the two): different from any desired value, so `up`
                        // writes the manifest.
                        None => json!({}),
                    },
                ))
            }
            ResourceKind::Settings => settings::read(&self.lake, CODE, addr).await,
            _ => self.local.read(addr, kind, recorded).await,
        }
    }

    async fn create(&self, r: &Resource) -> Result<Value, ProviderError> {
        self.put(r).await
    }

    async fn update(&self, r: &Resource, _changes: &[Change]) -> Result<Value, ProviderError> {
        self.put(r).await
    }

    async fn delete(
        &self,
        addr: &str,
        recorded: &ResourceState,
        opts: DeleteOptions,
    ) -> Result<Deleted, ProviderError> {
        let kind = super::recorded_kind(addr, recorded)?;
        match kind {
            ResourceKind::Lake | ResourceKind::Registry => {
                let c = self.container(kind).unwrap_or(&self.lake);
                if !c.container_exists().await.map_err(|e| error(addr, e))? {
                    return Ok(Deleted::AlreadyGone);
                }
                // The state and its lock are the platform's bookkeeping, not data.
                let data: Vec<String> = self
                    .contents(addr, c)
                    .await?
                    .into_iter()
                    .filter(|k| !(kind == ResourceKind::Lake && k.starts_with("state/")))
                    .collect();
                let what = if kind == ResourceKind::Lake {
                    "data lake"
                } else {
                    "model registry"
                };
                if !data.is_empty() && !opts.delete_data {
                    return Ok(Deleted::Retained(format!(
                        "kept the {what} container `{}`: {} blob{}; `mlinfra down --delete-data` deletes {}",
                        c.container,
                        data.len(),
                        if data.len() == 1 { "" } else { "s" },
                        if data.len() == 1 { "it" } else { "them" }
                    )));
                }
                c.delete_container().await.map_err(|e| error(addr, e))?;
                Ok(if data.is_empty() {
                    Deleted::Deleted
                } else {
                    Deleted::Emptied(format!(
                        "deleted the {what} container with its {} blob{}",
                        data.len(),
                        if data.len() == 1 { "" } else { "s" }
                    ))
                })
            }
            ResourceKind::Settings => settings::delete(&self.lake, CODE, addr).await,
            _ => self.local.delete(addr, recorded, opts).await,
        }
    }
}
