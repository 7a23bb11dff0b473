//! Training runs as the CLI and the console read them: a run record by id or unique prefix, and
//! a model's parameters in one line.

use mlinfra_core::jobs::runs::Execution;
use mlinfra_core::lake::Lake;
use mlinfra_core::model::Params;
use mlinfra_core::pipeline::RunRecord;

use super::Failure;
use crate::report::num;

pub(crate) fn params_text(p: &Params) -> String {
    match p {
        Params::LogisticRegression { l2 } | Params::Ridge { l2 } => format!("l2={}", num(*l2)),
        Params::GradientBoostedTrees(g) => format!(
            "max_depth={} learning_rate={} rounds={} min_leaf={}",
            g.max_depth,
            num(g.learning_rate),
            g.rounds,
            g.min_leaf
        ),
    }
}

/// A run id from an id, a unique prefix of one, or an execution id.
pub(crate) fn resolve(executions: &[Execution], id: &str) -> Result<String, Failure> {
    if let Some(e) = executions.iter().find(|e| e.id == id) {
        return Ok(e.run_id.clone());
    }
    let mut runs: Vec<&str> = executions
        .iter()
        .map(|e| e.run_id.as_str())
        .filter(|r| r.starts_with(id))
        .collect();
    runs.sort_unstable();
    runs.dedup();
    match runs[..] {
        [one] => Ok(one.to_string()),
        [] => Err(Failure::new(format!(
            "no run `{id}`\nhint: `mlinfra runs list` shows the runs"
        ))),
        _ => Err(Failure::new(format!(
            "`{id}` is the start of several runs: {}\nhint: give more of the id",
            runs.iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(crate) async fn read_run(lake: &impl Lake, run_id: &str) -> Result<RunRecord, Failure> {
    let key = mlinfra_core::keys::run_record(run_id);
    let bytes = lake
        .get(&key)
        .await
        .map_err(|e| Failure::new(e.to_string()))?
        .ok_or_else(|| Failure::new(format!("`{}` does not exist", lake.uri(&key))))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(format!("`{}` is not a run record: {e}", lake.uri(&key))))
}
