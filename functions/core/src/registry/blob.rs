//! The registry in an Azure blob container (the `azure` and `azurite` environments).
//!
//! ```text
//! <model>/doc.json            the model document and the outbox of its last commit
//! <model>/audit/<seq>.json    audit events, each created once (`If-None-Match: *`)
//! ```
//! A commit reads the document with its ETag, checks the stored revision, writes the previous
//! commit's outbox events that may not have been written yet, then replaces the document with
//! `If-Match: <ETag>` — the commit point: of two racing commits exactly one matches — carrying
//! the new events in its outbox, and finally creates their blobs. A crash after the commit point
//! leaves the events in the outbox; they count as written and the next commit creates them.

use serde::{Deserialize, Serialize};

use super::{Current, Event, ModelDoc, RegistryError, Store};
use crate::azure::blob::BlobLake;
use crate::lake::{Lake as _, LakeError};

/// The registry in the container of `lake` (its own container, not the data lake's).
#[derive(Debug, Clone)]
pub struct BlobStore {
    pub lake: BlobLake,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    doc: ModelDoc,
    #[serde(default)]
    outbox: Vec<Event>,
}

fn store_err(e: LakeError) -> RegistryError {
    e.into()
}

fn check_name(model: &str) -> Result<(), RegistryError> {
    if model.is_empty() || model.contains('/') || model.starts_with('.') {
        return Err(RegistryError::Store(format!(
            "model name `{model}` cannot name a blob prefix; expected letters, digits, `-` or `_`"
        )));
    }
    Ok(())
}

impl BlobStore {
    pub fn new(lake: BlobLake) -> Self {
        BlobStore { lake }
    }

    fn doc_key(model: &str) -> String {
        format!("{model}/doc.json")
    }

    fn event_key(model: &str, seq: u64) -> String {
        format!("{model}/audit/{seq:010}.json")
    }

    /// The stored document with its ETag.
    async fn read(&self, model: &str) -> Result<Option<(Stored, String)>, RegistryError> {
        check_name(model)?;
        let key = Self::doc_key(model);
        match self.lake.get_tagged(&key).await.map_err(store_err)? {
            None => Ok(None),
            Some((bytes, etag)) => {
                let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| {
                    RegistryError::Store(format!(
                        "`{}` is not a valid model document: {e}",
                        self.lake.uri(&key)
                    ))
                })?;
                Ok(Some((stored, etag)))
            }
        }
    }

    /// Create each event's blob once; one that exists was written by an earlier flush.
    async fn flush(&self, model: &str, events: &[Event]) -> Result<(), RegistryError> {
        for e in events {
            let body = serde_json::to_vec_pretty(e)
                .map_err(|err| RegistryError::Store(format!("audit event: {err}")))?;
            self.lake
                .put_if_absent(&Self::event_key(model, e.seq), &body)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }
}

impl Store for BlobStore {
    async fn load(&self, model: &str) -> Result<Option<ModelDoc>, RegistryError> {
        Ok(self.read(model).await?.map(|(s, _)| s.doc))
    }

    async fn commit(
        &self,
        doc: &ModelDoc,
        expected_rev: u64,
        events: &[Event],
    ) -> Result<(), RegistryError> {
        let model = &doc.model;
        let stored = self.read(model).await?;
        let current_rev = stored.as_ref().map_or(0, |(s, _)| s.doc.rev);
        // A stale revision, or an event numbered like one already recorded: refused as a whole
        // (an audit entry is never rewritten).
        let recorded = stored.as_ref().map_or(0, |(s, _)| s.doc.audit_seq);
        if current_rev != expected_rev || events.iter().any(|e| e.seq <= recorded) {
            return Err(RegistryError::Conflict(String::new()));
        }
        if let Some((s, _)) = &stored {
            self.flush(model, &s.outbox).await?;
        }
        let next = Stored {
            doc: doc.clone(),
            outbox: events.to_vec(),
        };
        let body = serde_json::to_vec_pretty(&next)
            .map_err(|e| RegistryError::Store(format!("model document: {e}")))?;
        let key = Self::doc_key(model);
        // The commit point.
        let committed = match &stored {
            None => self.lake.put_if_absent(&key, &body).await,
            Some((_, etag)) => self.lake.put_if_match(&key, &body, etag).await,
        }
        .map_err(store_err)?;
        if !committed {
            // Another commit won, unless a retried request of ours already wrote this very
            // document.
            let ours = self
                .read(model)
                .await?
                .is_some_and(|(s, _)| serde_json::to_vec_pretty(&s).ok() == Some(body.clone()));
            if !ours {
                return Err(RegistryError::Conflict(String::new()));
            }
        }
        self.flush(model, events).await
    }

    async fn audit(&self, model: &str) -> Result<Vec<Event>, RegistryError> {
        let Some((stored, _)) = self.read(model).await? else {
            return Err(RegistryError::UnknownModel(model.to_string()));
        };
        let prefix = format!("{model}/audit/");
        let mut events: Vec<Event> = Vec::new();
        for key in self.lake.list(&prefix).await.map_err(store_err)? {
            let Some(bytes) = self.lake.get(&key).await.map_err(store_err)? else {
                continue;
            };
            let ev: Event = serde_json::from_slice(&bytes).map_err(|e| {
                RegistryError::Store(format!(
                    "`{}` is not a valid audit entry: {e}",
                    self.lake.uri(&key)
                ))
            })?;
            events.push(ev);
        }
        Ok(super::with_outbox(
            events,
            stored.outbox,
            stored.doc.audit_seq,
        ))
    }

    async fn models(&self) -> Result<Vec<String>, RegistryError> {
        let mut out: Vec<String> = self
            .lake
            .list("")
            .await
            .map_err(store_err)?
            .into_iter()
            .filter_map(|k| k.strip_suffix("/doc.json").map(str::to_string))
            .filter(|m| !m.contains('/'))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn current(&self, model: &str) -> Result<Option<Current>, RegistryError> {
        Ok(self.read(model).await?.map(|(s, _)| s.doc.current()))
    }
}
