//! The SageMaker Model Registry mirror (`registry.sagemaker_mirror: true` on `--env
//! aws|localstack`; the client needs mlinfra built with the `sagemaker` cargo feature, because
//! `aws-sdk-sagemaker` is a very large crate).
//!
//! One model package group per model, named as the model; one model package per registered
//! version, created in version order, carrying the model's S3 URI (`SourceUri`), its evaluation
//! (`ModelMetrics`, the run's `evaluation.json` in the lake) and its lineage in the description
//! (`<model> version N · run … · data … · sha256 … · registered by …`), which is also how a
//! package is matched to its version. The registry's stage decides `ModelApprovalStatus`:
//! Production → `Approved`, Archived or a rejected request → `Rejected`, otherwise
//! `PendingManualApproval`. [`desired`] and [`drift`] are pure; [`Mirror`] (with the feature)
//! reads and writes SageMaker.

use std::collections::BTreeMap;

use mlinfra_core::registry::{ModelDoc, RequestStatus, Stage, Version};

/// A model package's `ModelApprovalStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Approved,
    Rejected,
    PendingManualApproval,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Approved => "Approved",
            Approval::Rejected => "Rejected",
            Approval::PendingManualApproval => "PendingManualApproval",
        }
    }

    pub fn parse(s: &str) -> Option<Approval> {
        match s {
            "Approved" => Some(Approval::Approved),
            "Rejected" => Some(Approval::Rejected),
            "PendingManualApproval" => Some(Approval::PendingManualApproval),
            _ => None,
        }
    }
}

/// What SageMaker should hold for one version.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub version: u64,
    pub status: Approval,
    /// Why, for `ApprovalDescription` (`Production, approved by bob (r2)`).
    pub why: String,
    pub description: String,
    /// The ONNX file (`s3://…`).
    pub model_uri: String,
    /// The run's evaluation in the lake (`s3://…/evaluation.json`).
    pub metrics_uri: Option<String>,
}

/// What SageMaker holds for one version: the package's ARN and status.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub arn: String,
    pub status: Option<Approval>,
}

/// A version where SageMaker differs from the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub version: u64,
    pub expected: Approval,
    /// `None`: no model package for the version.
    pub found: Option<Option<Approval>>,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.found {
            None => write!(
                f,
                "version {} has no model package (expected {})",
                self.version,
                self.expected.as_str()
            ),
            Some(found) => write!(
                f,
                "version {} is {} in SageMaker, expected {}",
                self.version,
                found.map_or("without a status", Approval::as_str),
                self.expected.as_str()
            ),
        }
    }
}

/// The model package group of a model.
pub fn group_name(model: &str) -> String {
    model.to_string()
}

/// A version's package description: its lineage, starting with `<model> version N ` (how a
/// package is matched to its version).
pub fn description(model: &str, v: &Version) -> String {
    format!(
        "{model} version {} · run {} · data {} · sha256 {} · registered by {}",
        v.version, v.run_id, v.data_hash, v.sha256, v.created_by
    )
}

/// The version a package's description names (`None` for a package mlinfra did not write).
pub fn version_of(model: &str, description: &str) -> Option<u64> {
    description
        .strip_prefix(model)?
        .strip_prefix(" version ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// What SageMaker should hold for every version of `doc`; `bucket` is the lake (for the
/// evaluation's URI).
pub fn desired(doc: &ModelDoc, bucket: Option<&str>) -> Vec<Desired> {
    doc.versions
        .iter()
        .map(|v| {
            // The version's last request (the registry appends them in order); a pending one
            // after a rejection makes the version pending again.
            let last = doc.requests.iter().rfind(|r| r.version == v.version);
            let (status, why) = match v.stage {
                Stage::Production => (
                    Approval::Approved,
                    match last.filter(|r| r.status == RequestStatus::Approved) {
                        Some(r) => format!(
                            "Production, approved by {} ({})",
                            r.decided_by.as_deref().unwrap_or("?"),
                            r.id
                        ),
                        None => "Production".to_string(),
                    },
                ),
                Stage::Archived => (Approval::Rejected, "Archived".to_string()),
                _ => match last.filter(|r| r.status == RequestStatus::Rejected) {
                    Some(r) => (
                        Approval::Rejected,
                        format!(
                            "{} to {} rejected by {} ({})",
                            v.stage,
                            r.to,
                            r.decided_by.as_deref().unwrap_or("?"),
                            r.id
                        ),
                    ),
                    None => (Approval::PendingManualApproval, v.stage.to_string()),
                },
            };
            Desired {
                version: v.version,
                status,
                why,
                description: description(&doc.model, v),
                model_uri: v.artifact_uri.clone(),
                metrics_uri: bucket
                    .map(|b| format!("s3://{b}/{}", mlinfra_core::keys::run_evaluation(&v.run_id))),
            }
        })
        .collect()
}

/// Where SageMaker (`found`, by version) differs from `desired`, in version order.
pub fn drift(desired: &[Desired], found: &BTreeMap<u64, Found>) -> Vec<Drift> {
    desired
        .iter()
        .filter_map(|d| match found.get(&d.version) {
            None => Some(Drift {
                version: d.version,
                expected: d.status,
                found: None,
            }),
            Some(f) if f.status != Some(d.status) => Some(Drift {
                version: d.version,
                expected: d.status,
                found: Some(f.status),
            }),
            Some(_) => None,
        })
        .collect()
}

/// What a reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Synced {
    pub created: Vec<u64>,
    pub updated: Vec<u64>,
}

#[cfg(feature = "sagemaker")]
pub use client::Mirror;

/// Without the `sagemaker` feature there is no client: a `Mirror` cannot be made
/// (`app::mirror::sagemaker` stops with the hint to build with the feature first), and
/// this type only keeps the callers' code the same in both builds.
#[cfg(not(feature = "sagemaker"))]
pub enum Mirror {}

#[cfg(not(feature = "sagemaker"))]
impl Mirror {
    pub async fn sync(&self, _: &[Desired]) -> Result<Synced, String> {
        match *self {}
    }

    pub async fn check(&self, _: &[Desired]) -> Result<Vec<Drift>, String> {
        match *self {}
    }
}

#[cfg(feature = "sagemaker")]
mod client {
    use std::collections::BTreeMap;

    use aws_sdk_sagemaker::types::{
        MetadataProperties, MetricsSource, ModelApprovalStatus, ModelMetrics, ModelPackageType,
        ModelQuality,
    };

    use super::{Approval, Desired, Drift, Found, Synced, drift, group_name, version_of};
    use crate::providers::aws::AwsError;

    /// The SageMaker Model Registry of one model.
    pub struct Mirror {
        client: aws_sdk_sagemaker::Client,
        model: String,
    }

    fn status(a: Approval) -> ModelApprovalStatus {
        match a {
            Approval::Approved => ModelApprovalStatus::Approved,
            Approval::Rejected => ModelApprovalStatus::Rejected,
            Approval::PendingManualApproval => ModelApprovalStatus::PendingManualApproval,
        }
    }

    fn err<E>(
        op: &str,
        e: &aws_sdk_sagemaker::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> String
    where
        E: aws_sdk_sagemaker::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let a = AwsError::from_sdk(e);
        format!("sagemaker:{op}: {}", a.message)
    }

    impl Mirror {
        /// The mirror over the environment's SDK configuration; `MLINFRA_SAGEMAKER_ENDPOINT`
        /// overrides the SageMaker API endpoint (a VPC endpoint).
        pub fn new(sdk: &aws_config::SdkConfig, model: &str) -> Mirror {
            let mut config = aws_sdk_sagemaker::config::Builder::from(sdk);
            if let Ok(url) = std::env::var("MLINFRA_SAGEMAKER_ENDPOINT")
                && !url.is_empty()
            {
                config = config.endpoint_url(url);
            }
            Mirror {
                client: aws_sdk_sagemaker::Client::from_conf(config.build()),
                model: model.to_string(),
            }
        }

        /// The packages of the model's group, by the version their description names (an empty
        /// map when the group does not exist yet).
        pub async fn found(&self) -> Result<BTreeMap<u64, Found>, String> {
            if !self.group_exists().await? {
                return Ok(BTreeMap::new());
            }
            let mut out = BTreeMap::new();
            let mut token = None;
            loop {
                let page = self
                    .client
                    .list_model_packages()
                    .model_package_group_name(group_name(&self.model))
                    .model_package_type(ModelPackageType::Versioned)
                    .max_results(100)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| err("ListModelPackages", &e))?;
                for p in page.model_package_summary_list() {
                    let (Some(v), Some(arn)) = (
                        p.model_package_description()
                            .and_then(|d| version_of(&self.model, d)),
                        p.model_package_arn(),
                    ) else {
                        continue;
                    };
                    out.insert(
                        v,
                        Found {
                            arn: arn.to_string(),
                            status: p
                                .model_approval_status()
                                .and_then(|s| Approval::parse(s.as_str())),
                        },
                    );
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(out);
                }
            }
        }

        async fn group_exists(&self) -> Result<bool, String> {
            match self
                .client
                .describe_model_package_group()
                .model_package_group_name(group_name(&self.model))
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => {
                    let a = AwsError::from_sdk(&e);
                    if a.code == "ValidationException" && a.message.contains("does not exist") {
                        Ok(false)
                    } else {
                        Err(format!(
                            "sagemaker:DescribeModelPackageGroup: {}",
                            a.message
                        ))
                    }
                }
            }
        }

        /// Where SageMaker differs from `desired`.
        pub async fn check(&self, desired: &[Desired]) -> Result<Vec<Drift>, String> {
            Ok(drift(desired, &self.found().await?))
        }

        /// Bring SageMaker in step with `desired`: the group if missing, the missing packages
        /// in version order, the statuses that differ. Each call is retried by the SDK
        /// (standard mode); the first that still fails stops it with its error, and the next
        /// reconciliation carries on from what SageMaker then holds.
        pub async fn sync(&self, desired: &[Desired]) -> Result<Synced, String> {
            let group = group_name(&self.model);
            if !self.group_exists().await? {
                self.client
                    .create_model_package_group()
                    .model_package_group_name(&group)
                    .model_package_group_description(format!(
                        "mlinfra model `{}`: a mirror of its registry (the registry is the source of truth)",
                        self.model
                    ))
                    .send()
                    .await
                    .map_err(|e| err("CreateModelPackageGroup", &e))?;
            }
            let found = self.found().await?;
            let mut done = Synced::default();
            for d in drift(desired, &found) {
                let Some(want) = desired.iter().find(|x| x.version == d.version) else {
                    continue;
                };
                match found.get(&d.version) {
                    None => {
                        let mut create = self
                            .client
                            .create_model_package()
                            .model_package_group_name(&group)
                            .model_package_description(&want.description)
                            .model_approval_status(status(want.status))
                            .source_uri(&want.model_uri)
                            .metadata_properties(
                                MetadataProperties::builder()
                                    .generated_by("mlinfra")
                                    .project_id(&self.model)
                                    .build(),
                            );
                        if let Some(uri) = &want.metrics_uri {
                            let source = MetricsSource::builder()
                                .content_type("application/json")
                                .s3_uri(uri)
                                .build();
                            create = create.model_metrics(
                                ModelMetrics::builder()
                                    .model_quality(
                                        ModelQuality::builder().statistics(source).build(),
                                    )
                                    .build(),
                            );
                        }
                        create
                            .send()
                            .await
                            .map_err(|e| err("CreateModelPackage", &e))?;
                        done.created.push(d.version);
                    }
                    Some(f) => {
                        self.client
                            .update_model_package()
                            .model_package_arn(&f.arn)
                            .model_approval_status(status(want.status))
                            .approval_description(&want.why)
                            .send()
                            .await
                            .map_err(|e| err("UpdateModelPackage", &e))?;
                        done.updated.push(d.version);
                    }
                }
            }
            Ok(done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlinfra_core::registry::Request;

    fn version(n: u64, stage: Stage) -> Version {
        Version {
            version: n,
            stage,
            artifact_uri: format!("s3://lake/models/m/{n}/model.onnx"),
            sha256: format!("sha256:{n}"),
            run_id: format!("run{n}"),
            data_hash: "sha256:data".into(),
            schema_version: "1".into(),
            metrics: BTreeMap::new(),
            tags: BTreeMap::new(),
            created_by: "alice".into(),
            created_at: "2026-11-30T00:00:00Z".into(),
        }
    }

    fn request(id: &str, version: u64, status: RequestStatus) -> Request {
        Request {
            id: id.into(),
            version,
            from: Stage::Staging,
            to: Stage::Production,
            rollback: false,
            requested_by: "alice".into(),
            requested_at: String::new(),
            comment: String::new(),
            status,
            decided_by: Some("bob".into()),
            decided_at: None,
            decision_comment: String::new(),
        }
    }

    #[test]
    fn the_registry_stage_decides_the_approval_status() {
        let mut doc = ModelDoc::new("m");
        doc.versions = vec![
            version(1, Stage::Archived),
            version(2, Stage::Production),
            version(3, Stage::Staging),
            version(4, Stage::Staging),
            version(5, Stage::None),
        ];
        doc.requests = vec![
            request("r1", 2, RequestStatus::Approved),
            request("r2", 3, RequestStatus::Rejected),
            request("r3", 4, RequestStatus::Rejected),
            request("r4", 4, RequestStatus::Pending),
        ];
        let d = desired(&doc, Some("lake"));
        let statuses: Vec<Approval> = d.iter().map(|d| d.status).collect();
        assert_eq!(
            statuses,
            [
                Approval::Rejected,
                Approval::Approved,
                Approval::Rejected,
                Approval::PendingManualApproval,
                Approval::PendingManualApproval,
            ]
        );
        assert_eq!(d[1].why, "Production, approved by bob (r1)");
        assert_eq!(
            d[0].metrics_uri.as_deref(),
            Some("s3://lake/artifacts/runs/run1/evaluation.json")
        );
        assert_eq!(version_of("m", &d[2].description), Some(3));
        assert_eq!(version_of("m", "other version 3"), None);
        assert_eq!(version_of("m", "m version x"), None);
    }

    #[test]
    fn drift_names_missing_packages_and_wrong_statuses() {
        let mut doc = ModelDoc::new("m");
        doc.versions = vec![
            version(1, Stage::Archived),
            version(2, Stage::Production),
            version(3, Stage::Staging),
        ];
        let d = desired(&doc, None);
        let found = BTreeMap::from([
            (
                1,
                Found {
                    arn: "a1".into(),
                    status: Some(Approval::Rejected),
                },
            ),
            (
                2,
                Found {
                    arn: "a2".into(),
                    status: Some(Approval::PendingManualApproval),
                },
            ),
        ]);
        let drifts = drift(&d, &found);
        assert_eq!(drifts.len(), 2);
        assert_eq!(
            drifts[0].to_string(),
            "version 2 is PendingManualApproval in SageMaker, expected Approved"
        );
        assert_eq!(
            drifts[1].to_string(),
            "version 3 has no model package (expected PendingManualApproval)"
        );
    }
}
