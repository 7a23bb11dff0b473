//! Registry records: versions, stages, transition requests, audit events.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The lifecycle stage of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    /// The stage's name, as displayed and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Stage::None),
            "staging" => Ok(Stage::Staging),
            "production" => Ok(Stage::Production),
            "archived" => Ok(Stage::Archived),
            _ => Err(format!(
                "unknown stage `{s}`, expected one of staging, production"
            )),
        }
    }
}

/// One registered version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    pub stage: Stage,
    /// Where the ONNX file is (`file://...` locally, `s3://...` on AWS).
    pub artifact_uri: String,
    pub sha256: String,
    pub run_id: String,
    pub data_hash: String,
    pub schema_version: String,
    /// Headline metrics of the run (roc_auc, accuracy, f1, log_loss).
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
}

/// A requested stage transition, decided by someone other than its requester.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub version: u64,
    pub from: Stage,
    pub to: Stage,
    /// A rollback request: approving it also archives the current Production version.
    #[serde(default)]
    pub rollback: bool,
    pub requested_by: String,
    pub requested_at: String,
    pub comment: String,
    pub status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub decision_comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Register,
    Request,
    Approve,
    Reject,
    Promote,
    Archive,
    Rollback,
    Deploy,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// One entry of the audit trail. Entries are written once and never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: Action,
    pub model: String,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Stage>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    pub model_sha256: String,
    pub run_id: String,
    pub data_hash: String,
}

/// Everything the registry knows about one model; changed only by compare-and-swap on `rev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDoc {
    pub model: String,
    pub rev: u64,
    pub versions: Vec<Version>,
    pub requests: Vec<Request>,
    /// Number of audit events committed.
    pub audit_seq: u64,
    pub next_request: u64,
}

impl ModelDoc {
    pub fn new(model: &str) -> Self {
        ModelDoc {
            model: model.to_string(),
            rev: 0,
            versions: Vec::new(),
            requests: Vec::new(),
            audit_seq: 0,
            next_request: 1,
        }
    }

    pub fn version(&self, v: u64) -> Option<&Version> {
        self.versions.iter().find(|x| x.version == v)
    }

    pub fn in_stage(&self, s: Stage) -> Option<&Version> {
        self.versions.iter().find(|x| x.stage == s)
    }

    /// The cheap read for serving.
    pub fn current(&self) -> Current {
        let pick = |s| {
            self.in_stage(s).map(|v| Pointer {
                version: v.version,
                artifact_uri: v.artifact_uri.clone(),
                sha256: v.sha256.clone(),
            })
        };
        Current {
            model: self.model.clone(),
            production: pick(Stage::Production),
            staging: pick(Stage::Staging),
        }
    }
}

/// Which versions serve, for `predict`: one small record, read in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Current {
    pub model: String,
    pub production: Option<Pointer>,
    pub staging: Option<Pointer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub version: u64,
    pub artifact_uri: String,
    pub sha256: String,
}
