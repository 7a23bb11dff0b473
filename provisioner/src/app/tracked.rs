//! Runs from the user's own code (logged through the MLflow API, [`mlinfra_core::tracking`]) as
//! the CLI and the console show them beside the pipeline's: each with its experiment's name,
//! the models it logged and the registry versions made from them.

use mlinfra_core::lake::Lake;
use mlinfra_core::tracking::{LoggedModel, Point, Run, Tracking};

use super::Failure;

/// A tracked run and what became of it.
#[derive(Debug, Clone)]
pub struct TrackedRun {
    pub run: Run,
    pub experiment: String,
    /// The models it logged.
    pub models: Vec<LoggedModel>,
    /// The registry versions made from its models: (registered model, version).
    pub versions: Vec<(String, u64)>,
}

impl TrackedRun {
    pub fn id(&self) -> &str {
        &self.run.info.run_id
    }

    /// The run's duration in seconds, when it ended.
    pub fn seconds(&self) -> Option<f64> {
        self.run
            .info
            .end_time
            .map(|e| (e - self.run.info.start_time) as f64 / 1000.0)
    }

    /// `heart-disease v2, ...`, or `-`.
    pub fn versions_text(&self) -> String {
        if self.versions.is_empty() {
            return "-".into();
        }
        self.versions
            .iter()
            .map(|(m, v)| format!("{m} v{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new(e.to_string())
}

/// Every active tracked run, the latest first.
pub async fn list<L: Lake>(t: &Tracking<L>) -> Result<Vec<TrackedRun>, Failure> {
    let experiments = t.experiments().await.map_err(failure)?;
    let models = t.models().await.map_err(failure)?;
    let registered = t.registered_all().await.map_err(failure)?;
    let mut out: Vec<TrackedRun> = t
        .runs()
        .await
        .map_err(failure)?
        .into_iter()
        .filter(|r| r.info.lifecycle_stage == "active")
        .map(|run| {
            let id = run.info.run_id.clone();
            let experiment = experiments
                .iter()
                .find(|e| e.experiment_id == run.info.experiment_id)
                .map_or_else(|| run.info.experiment_id.clone(), |e| e.name.clone());
            let models: Vec<LoggedModel> = models
                .iter()
                .filter(|m| m.source_run_id == id)
                .cloned()
                .collect();
            let versions = registered
                .iter()
                .flat_map(|r| {
                    r.versions
                        .iter()
                        .filter(|(_, x)| {
                            x.run_id == id || models.iter().any(|m| m.model_id == x.model_id)
                        })
                        .map(|(v, _)| (r.name.clone(), *v))
                })
                .collect();
            TrackedRun {
                run,
                experiment,
                models,
                versions,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.run
            .info
            .start_time
            .cmp(&a.run.info.start_time)
            .then_with(|| a.id().cmp(b.id()))
    });
    Ok(out)
}

/// The tracked run `id` names (the whole id or a unique prefix), `None` when none does.
pub fn find<'a>(runs: &'a [TrackedRun], id: &str) -> Result<Option<&'a TrackedRun>, Failure> {
    let found: Vec<&TrackedRun> = runs.iter().filter(|r| r.id().starts_with(id)).collect();
    match found[..] {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ if found.iter().any(|r| r.id() == id) => Ok(found.into_iter().find(|r| r.id() == id)),
        _ => Err(Failure::new(format!(
            "`{id}` is the start of several runs: {}\nhint: give more of the id",
            found
                .iter()
                .map(|r| format!("`{}`", r.id()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A run's metric histories, each in step order.
pub async fn histories<L: Lake>(
    t: &Tracking<L>,
    run: &TrackedRun,
) -> Result<Vec<(String, Vec<Point>)>, Failure> {
    let mut h: Vec<(String, Vec<Point>)> = t
        .histories(run.id())
        .await
        .map_err(failure)?
        .into_iter()
        .collect();
    for (_, points) in &mut h {
        points.sort_by_key(|p| (p.step, p.timestamp));
    }
    Ok(h)
}

/// A run's artifact files, relative to its artifact root, with their sizes.
pub async fn artifacts<L: Lake>(
    t: &Tracking<L>,
    run: &TrackedRun,
) -> Result<Vec<(String, usize)>, Failure> {
    let root = run
        .run
        .info
        .artifact_uri
        .strip_prefix("mlflow-artifacts:/")
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    for path in t.list_files(&root).await.map_err(failure)? {
        let size = t
            .get_file(&path)
            .await
            .map_err(failure)?
            .map_or(0, |b| b.len());
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .trim_start_matches('/')
            .to_string();
        out.push((rel, size));
    }
    Ok(out)
}
