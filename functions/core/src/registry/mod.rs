//! Model registry: versions, stages (None → Staging → Production → Archived), transition requests
//! approved or rejected by someone other than the requester, automatic archiving of the previous
//! Production version, rollback, and an append-only audit trail.
//!
//! The workflow is written once, over a [`Store`] that commits a model's document with a
//! compare-and-swap on its revision together with the new audit events, atomically. Two racing
//! transitions read the same revision; exactly one commit succeeds, the other gets
//! [`RegistryError::Conflict`]. Backends: [`local::LocalStore`] (a directory), DynamoDB, and
//! Azure blobs with ETag compare-and-swap.

#[cfg(feature = "azure")]
pub mod blob;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod local;
pub mod model;

use std::collections::BTreeMap;

pub use model::{
    Action, Current, Event, ModelDoc, Pointer, Request, RequestStatus, Stage, Version,
};

/// The audit trail of a store that keeps its last commit's events in an outbox beside the
/// document: the events `listed` as written (those numbered past the document's `audit_seq`
/// are not committed and are left out), completed with the outbox's, in order.
pub(crate) fn with_outbox(listed: Vec<Event>, outbox: Vec<Event>, audit_seq: u64) -> Vec<Event> {
    let mut events: Vec<Event> = listed.into_iter().filter(|e| e.seq <= audit_seq).collect();
    for e in outbox {
        if !events.iter().any(|x| x.seq == e.seq) {
            events.push(e);
        }
    }
    events.sort_by_key(|e| e.seq);
    events
}

/// The promotion policy from the stack.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub metric: crate::metrics::Metric,
    pub min_metric: f64,
    /// A registered version moves to Staging by itself.
    pub staging_automatic: bool,
    /// Production without approval (only when the stack says so explicitly).
    pub production_automatic: bool,
    /// Rollback without approval (audited either way).
    pub emergency_rollback: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    #[error("no model `{0}` in the registry")]
    UnknownModel(String),
    #[error("model `{model}` has no version {version}; its versions are {available}")]
    UnknownVersion {
        model: String,
        version: u64,
        available: String,
    },
    #[error("model `{model}` has no transition request `{id}`")]
    UnknownRequest { model: String, id: String },
    #[error("an identity is required: pass `--as NAME` or set MLINFRA_USER")]
    NoIdentity,
    #[error("{0}")]
    Refused(String),
    /// The model file is already a version of the model: registering it again would add
    /// nothing (a retraining that reproduced the same model says so and registers nothing).
    #[error("this model file ({sha256}) is already registered as version {version} of `{model}`")]
    AlreadyRegistered {
        model: String,
        version: u64,
        sha256: String,
    },
    #[error(
        "the registry changed while this {0} was being applied (another transition won); nothing was written\nhint: check `mlinfra models show` and retry if still needed"
    )]
    Conflict(String),
    #[error("{0}")]
    Integrity(String),
    /// The store refused or could not read what it holds (a malformed document, a bad name).
    #[error("registry store: {0}")]
    Store(String),
    /// The store's service failed: its error code when it answered, and whether a retry can
    /// help (a throttled table, a dropped connection) or not (access denied).
    #[error("registry store: {message}")]
    Service {
        message: String,
        code: Option<String>,
        retryable: bool,
    },
}

impl RegistryError {
    /// Whether trying again later can succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            RegistryError::Service {
                retryable: true,
                ..
            }
        )
    }
}

impl From<crate::lake::LakeError> for RegistryError {
    fn from(e: crate::lake::LakeError) -> Self {
        RegistryError::Service {
            message: e.to_string(),
            code: e.code,
            retryable: e.retryable,
        }
    }
}

/// Storage of model documents and audit events.
#[allow(async_fn_in_trait)]
pub trait Store {
    async fn load(&self, model: &str) -> Result<Option<ModelDoc>, RegistryError>;
    /// Write `doc` (whose `rev` is `expected_rev + 1`) and `events`, atomically, only if the
    /// stored revision is still `expected_rev` (0: the model does not exist yet).
    async fn commit(
        &self,
        doc: &ModelDoc,
        expected_rev: u64,
        events: &[Event],
    ) -> Result<(), RegistryError>;
    async fn audit(&self, model: &str) -> Result<Vec<Event>, RegistryError>;
    async fn models(&self) -> Result<Vec<String>, RegistryError>;
    /// The Production and Staging pointers in one read.
    async fn current(&self, model: &str) -> Result<Option<Current>, RegistryError>;
}

/// What a registration records about a trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub artifact_uri: String,
    pub sha256: String,
    pub run_id: String,
    pub data_hash: String,
    pub schema_version: String,
    pub metrics: BTreeMap<String, f64>,
}

pub struct Registry<S> {
    pub store: S,
    pub policy: Policy,
}

fn check_actor(actor: &str) -> Result<(), RegistryError> {
    if actor.trim().is_empty() {
        Err(RegistryError::NoIdentity)
    } else {
        Ok(())
    }
}

fn now() -> String {
    crate::clock::now_rfc3339()
}

fn event(
    doc: &mut ModelDoc,
    actor: &str,
    action: Action,
    v: &Version,
    (from, to): (Option<Stage>, Option<Stage>),
    comment: &str,
    request: Option<&str>,
) -> Event {
    doc.audit_seq += 1;
    Event {
        seq: doc.audit_seq,
        at: now(),
        actor: actor.to_string(),
        action,
        model: doc.model.clone(),
        version: v.version,
        from,
        to,
        comment: comment.to_string(),
        request: request.map(str::to_string),
        model_sha256: v.sha256.clone(),
        run_id: v.run_id.clone(),
        data_hash: v.data_hash.clone(),
    }
}

/// Move version `v` to `to` inside `doc`, archiving the current Production version when `to` is
/// Production; returns the events. The move itself is recorded as `action` (`Promote`, or
/// `Rollback` when an archived version comes back).
fn transition(
    doc: &mut ModelDoc,
    actor: &str,
    v: u64,
    to: Stage,
    action: Action,
    comment: &str,
    request: Option<&str>,
) -> Vec<Event> {
    let mut events = Vec::new();
    // The version that holds the target stage leaves it: Production's is archived, Staging's
    // goes back to None.
    let displaced = match to {
        Stage::Production => Some((Stage::Archived, "replaced in Production")),
        Stage::Staging => Some((Stage::None, "replaced in Staging")),
        _ => None,
    };
    if let Some((demoted, why)) = displaced
        && let Some(i) = doc
            .versions
            .iter()
            .position(|x| x.stage == to && x.version != v)
    {
        let old = doc.versions[i].clone();
        doc.versions[i].stage = demoted;
        events.push(event(
            doc,
            actor,
            Action::Archive,
            &old,
            (Some(to), Some(demoted)),
            why,
            request,
        ));
    }
    if let Some(i) = doc.versions.iter().position(|x| x.version == v) {
        let from = doc.versions[i].stage;
        doc.versions[i].stage = to;
        let ver = doc.versions[i].clone();
        events.push(event(
            doc,
            actor,
            action,
            &ver,
            (Some(from), Some(to)),
            comment,
            request,
        ));
    }
    events
}

/// Open a pending request for version `v` to move to `to`: allocate its id, add it to `doc`,
/// and return it with its `Request` audit event.
fn open_request(
    doc: &mut ModelDoc,
    v: &Version,
    to: Stage,
    rollback: bool,
    actor: &str,
    comment: &str,
) -> (Request, Event) {
    let id = format!("r{}", doc.next_request);
    doc.next_request += 1;
    let req = Request {
        id: id.clone(),
        version: v.version,
        from: v.stage,
        to,
        rollback,
        requested_by: actor.to_string(),
        requested_at: now(),
        comment: comment.to_string(),
        status: RequestStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_comment: String::new(),
    };
    doc.requests.push(req.clone());
    let e = event(
        doc,
        actor,
        Action::Request,
        v,
        (Some(v.stage), Some(to)),
        comment,
        Some(&id),
    );
    (req, e)
}

impl<S: Store> Registry<S> {
    pub fn new(store: S, policy: Policy) -> Self {
        Registry { store, policy }
    }

    pub async fn doc(&self, model: &str) -> Result<ModelDoc, RegistryError> {
        self.store
            .load(model)
            .await?
            .ok_or_else(|| RegistryError::UnknownModel(model.to_string()))
    }

    async fn commit(
        &self,
        doc: ModelDoc,
        events: Vec<Event>,
        what: &str,
    ) -> Result<ModelDoc, RegistryError> {
        let expected = doc.rev;
        let mut doc = doc;
        doc.rev += 1;
        match self.store.commit(&doc, expected, &events).await {
            Err(RegistryError::Conflict(_)) => Err(RegistryError::Conflict(what.to_string())),
            Err(e) => Err(e),
            Ok(()) => Ok(doc),
        }
    }

    /// Register a new version (stage None, or Staging when the policy makes Staging automatic).
    pub async fn register(
        &self,
        model: &str,
        c: Candidate,
        actor: &str,
    ) -> Result<Version, RegistryError> {
        check_actor(actor)?;
        let mut doc = self
            .store
            .load(model)
            .await?
            .unwrap_or_else(|| ModelDoc::new(model));
        if let Some(v) = doc.versions.iter().find(|v| v.sha256 == c.sha256) {
            return Err(RegistryError::AlreadyRegistered {
                model: model.to_string(),
                version: v.version,
                sha256: c.sha256,
            });
        }
        let number = doc.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
        let v = Version {
            version: number,
            stage: Stage::None,
            artifact_uri: c.artifact_uri,
            sha256: c.sha256,
            run_id: c.run_id,
            data_hash: c.data_hash,
            schema_version: c.schema_version,
            metrics: c.metrics,
            tags: BTreeMap::new(),
            created_by: actor.to_string(),
            created_at: now(),
        };
        doc.versions.push(v.clone());
        let mut events = vec![event(
            &mut doc,
            actor,
            Action::Register,
            &v,
            (None, Some(Stage::None)),
            "",
            None,
        )];
        if self.policy.staging_automatic && self.meets_minimum(&v).is_ok() {
            events.extend(transition(
                &mut doc,
                actor,
                number,
                Stage::Staging,
                Action::Promote,
                "automatic by policy",
                None,
            ));
        }
        let doc = self.commit(doc, events, "registration").await?;
        Ok(doc.version(number).cloned().unwrap_or(v))
    }

    fn meets_minimum(&self, v: &Version) -> Result<(), RegistryError> {
        let m = self.policy.metric;
        let value = v.metrics.get(m.name()).copied();
        match value {
            Some(x) if m.reaches(x, self.policy.min_metric) => Ok(()),
            Some(x) => Err(RegistryError::Refused(format!(
                "version {} has {m} {x:.4}, below the policy's minimum {:.4} (`promotion.min_metric`)",
                v.version, self.policy.min_metric
            ))),
            None => Err(RegistryError::Refused(format!(
                "version {} has no `{m}` metric to check against the policy",
                v.version
            ))),
        }
    }

    fn version(doc: &ModelDoc, v: u64) -> Result<&Version, RegistryError> {
        doc.version(v).ok_or_else(|| RegistryError::UnknownVersion {
            model: doc.model.clone(),
            version: v,
            available: doc
                .versions
                .iter()
                .map(|x| x.version.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Request the transition of `version` to Staging or Production.
    pub async fn request(
        &self,
        model: &str,
        version: u64,
        to: Stage,
        comment: &str,
        actor: &str,
    ) -> Result<Request, RegistryError> {
        check_actor(actor)?;
        let mut doc = self.doc(model).await?;
        let v = Self::version(&doc, version)?.clone();
        let allowed = matches!(
            (v.stage, to),
            (Stage::None, Stage::Staging) | (Stage::Staging, Stage::Production)
        );
        if !allowed {
            let hint = match (v.stage, to) {
                (Stage::None, Stage::Production) => {
                    "; request Staging first: Production takes a version from Staging".to_string()
                }
                (Stage::Archived, Stage::Production) => {
                    "; to bring an archived version back, use `rollback`".to_string()
                }
                _ => String::new(),
            };
            return Err(RegistryError::Refused(format!(
                "version {version} is in {}; it cannot move to {to}{hint}",
                v.stage
            )));
        }
        self.meets_minimum(&v)?;
        if let Some(r) = doc
            .requests
            .iter()
            .find(|r| r.version == version && r.to == to && r.status == RequestStatus::Pending)
        {
            return Err(RegistryError::Refused(format!(
                "request `{}` for version {version} to {to} is already pending (by {})",
                r.id, r.requested_by
            )));
        }
        let (req, request_event) = open_request(&mut doc, &v, to, false, actor, comment);
        let id = req.id.clone();
        let mut events = vec![request_event];
        let automatic = (to == Stage::Staging && self.policy.staging_automatic)
            || (to == Stage::Production && self.policy.production_automatic);
        if automatic {
            events.extend(Self::decide(
                &mut doc,
                &id,
                true,
                "policy:automatic",
                "automatic by policy",
            )?);
        }
        let doc = self.commit(doc, events, "request").await?;
        Ok(doc
            .requests
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .unwrap_or(req))
    }

    fn decide(
        doc: &mut ModelDoc,
        id: &str,
        approve: bool,
        actor: &str,
        comment: &str,
    ) -> Result<Vec<Event>, RegistryError> {
        let i = doc
            .requests
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| RegistryError::UnknownRequest {
                model: doc.model.clone(),
                id: id.to_string(),
            })?;
        let r = doc.requests[i].clone();
        if r.status != RequestStatus::Pending {
            return Err(RegistryError::Refused(format!(
                "request `{id}` was already {} by {} at {}",
                if r.status == RequestStatus::Approved {
                    "approved"
                } else {
                    "rejected"
                },
                r.decided_by.as_deref().unwrap_or("?"),
                r.decided_at.as_deref().unwrap_or("?")
            )));
        }
        if r.requested_by == actor {
            return Err(RegistryError::Refused(format!(
                "{actor} requested this transition (`{id}`); a different person must {} it",
                if approve { "approve" } else { "reject" }
            )));
        }
        let v = doc.version(r.version).cloned().ok_or_else(|| {
            RegistryError::Store(format!("request `{id}` names a missing version"))
        })?;
        if approve && v.stage != r.from {
            return Err(RegistryError::Refused(format!(
                "version {} moved from {} to {} since `{id}` was requested; request again",
                v.version, r.from, v.stage
            )));
        }
        let at = now();
        let req = &mut doc.requests[i];
        req.status = if approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Rejected
        };
        req.decided_by = Some(actor.to_string());
        req.decided_at = Some(at);
        req.decision_comment = comment.to_string();
        let mut events = vec![event(
            doc,
            actor,
            if approve {
                Action::Approve
            } else {
                Action::Reject
            },
            &v,
            (Some(r.from), Some(r.to)),
            comment,
            Some(id),
        )];
        if approve {
            let action = if r.rollback {
                Action::Rollback
            } else {
                Action::Promote
            };
            events.extend(transition(
                doc,
                actor,
                r.version,
                r.to,
                action,
                comment,
                Some(id),
            ));
        }
        Ok(events)
    }

    pub async fn approve(
        &self,
        model: &str,
        id: &str,
        comment: &str,
        actor: &str,
    ) -> Result<Request, RegistryError> {
        self.decide_and_commit(model, id, true, comment, actor)
            .await
    }

    pub async fn reject(
        &self,
        model: &str,
        id: &str,
        comment: &str,
        actor: &str,
    ) -> Result<Request, RegistryError> {
        self.decide_and_commit(model, id, false, comment, actor)
            .await
    }

    async fn decide_and_commit(
        &self,
        model: &str,
        id: &str,
        approve: bool,
        comment: &str,
        actor: &str,
    ) -> Result<Request, RegistryError> {
        check_actor(actor)?;
        let mut doc = self.doc(model).await?;
        let events = Self::decide(&mut doc, id, approve, actor, comment)?;
        let doc = self
            .commit(doc, events, if approve { "approval" } else { "rejection" })
            .await?;
        doc.requests
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| RegistryError::Store("request vanished".into()))
    }

    /// Bring back the most recently archived version. With `promotion.emergency_rollback` it
    /// happens at once; otherwise it is a request that someone else approves.
    pub async fn rollback(
        &self,
        model: &str,
        comment: &str,
        actor: &str,
    ) -> Result<RollbackOutcome, RegistryError> {
        check_actor(actor)?;
        let mut doc = self.doc(model).await?;
        let audit = self.store.audit(model).await?;
        let last_archived = audit
            .iter()
            .rev()
            .filter(|e| e.action == Action::Archive && e.from == Some(Stage::Production))
            .find_map(|e| {
                doc.version(e.version)
                    .filter(|v| v.stage == Stage::Archived)
                    .cloned()
            })
            .ok_or_else(|| {
                RegistryError::Refused(format!(
                    "model `{model}` has no archived Production version to roll back to"
                ))
            })?;
        if self.policy.emergency_rollback {
            let events = transition(
                &mut doc,
                actor,
                last_archived.version,
                Stage::Production,
                Action::Rollback,
                comment,
                None,
            );
            self.commit(doc, events, "rollback").await?;
            return Ok(RollbackOutcome::Done(last_archived.version));
        }
        if let Some(r) = doc
            .requests
            .iter()
            .find(|r| r.rollback && r.status == RequestStatus::Pending)
        {
            return Err(RegistryError::Refused(format!(
                "rollback request `{}` is already pending (by {})",
                r.id, r.requested_by
            )));
        }
        let (req, request_event) = open_request(
            &mut doc,
            &last_archived,
            Stage::Production,
            true,
            actor,
            comment,
        );
        let events = vec![request_event];
        self.commit(doc, events, "rollback request").await?;
        Ok(RollbackOutcome::Requested(req))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RollbackOutcome {
    Done(u64),
    Requested(Request),
}

/// Check an artifact's bytes against the sha256 the registry recorded.
pub fn verify(bytes: &[u8], expected: &str, what: &str) -> Result<(), RegistryError> {
    let actual = format!("sha256:{}", crate::pipeline::sha256_hex(bytes));
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::Integrity(format!(
            "{what} does not match its recorded checksum: the registry has {expected}, the file is {actual}; refusing to use it"
        )))
    }
}

/// Read an artifact by URI (`file://` on the local environment) and check its sha256.
pub fn read_artifact(uri: &str, sha256: &str) -> Result<Vec<u8>, RegistryError> {
    let path = uri.strip_prefix("file://").ok_or_else(|| {
        RegistryError::Store(format!(
            "cannot read `{uri}` here: only file:// artifacts are local"
        ))
    })?;
    let bytes = std::fs::read(path)
        .map_err(|e| RegistryError::Store(format!("cannot read `{path}`: {e}")))?;
    verify(&bytes, sha256, &format!("`{path}`"))?;
    Ok(bytes)
}
