//! Every key of the lake, in one place. The layout is a stored format (an existing lake must
//! keep working with a new release, `provisioner/tests/compat.rs`): the ingested files under
//! [`RAW`], validated data versions under `curated/<short hash>/`, the pipeline's and the
//! monitor's records under `artifacts/`, model files under `models/<name>/<run>/`, and what
//! serving writes under [`PREDICTIONS`] and [`FEEDBACK`]. Nothing else spells a key (the IAM
//! policies grant the top-level folders, in the provisioner's resource graph).

/// Ingested files, as they arrived: an upload here is what starts the ETL.
pub const RAW: &str = "raw/";
/// Ingested files that failed validation, with their anomalies (the ETL never reads them again).
pub const QUARANTINE: &str = "raw/quarantine/";
/// The pointer to the curated data version training uses ([`crate::jobs::CuratedPointer`]).
pub const CURATED_LATEST: &str = "curated/latest.json";
/// The jobs' settings, written by `up`, so that a function needs only its configuration.
pub const SETTINGS: &str = "artifacts/config/jobs.json";
/// One record per pipeline execution ([`crate::jobs::runs`]).
pub const EXECUTIONS: &str = "artifacts/executions/";
/// One file per alert raised.
pub const ALERTS: &str = "artifacts/alerts/";
/// The raw feedback files the ETL has already joined to their predictions.
pub const FEEDBACK_INGESTED: &str = "artifacts/feedback/ingested.json";
/// The monitor's state between checks.
pub const MONITORING_STATE: &str = "artifacts/monitoring/state.json";
/// One report per monitoring check.
pub const MONITORING_REPORTS: &str = "artifacts/monitoring/reports/";
/// One object per retraining the monitor started, `<n>.json`, created only if absent.
pub const RETRAINS: &str = "artifacts/monitoring/retrains/";
/// Time ranges of traffic the monitor leaves out (a load test, an incident), as recorded by
/// `mlinfra monitor ignore`.
pub const IGNORED: &str = "artifacts/monitoring/ignored.json";
/// Experiment tracking from the user's own code through the MLflow API: experiments, runs,
/// logged models and artifacts ([`crate::tracking`]).
pub const TRACKING: &str = "artifacts/tracking/";
/// Prediction logs, one folder per day.
pub const PREDICTIONS: &str = "predictions/";
/// Labelled feedback, one file per request.
pub const FEEDBACK: &str = "feedback/";

/// The first 16 hex digits of a `sha256:` hash: the key of a curated data version. Applied to
/// its own result it changes nothing, so a key function takes a full hash or a short one.
pub fn short_hash(hash: &str) -> String {
    let h = hash.trim_start_matches("sha256:");
    h.get(..16).unwrap_or(h).to_string()
}

/// `raw/<file name>`: where an ingested file lands.
pub fn raw(file_name: &str) -> String {
    format!("{RAW}{file_name}")
}

/// `raw/feedback-<now>.csv`: the labelled feedback the ETL gathers at `now` (Unix seconds).
pub fn raw_feedback(now: u64) -> String {
    format!("{RAW}feedback-{now:011}.csv")
}

/// The `n`-th file of feedback gathered in the same second `now`: [`raw_feedback`] for the
/// first, `raw/feedback-<now>-<n>.csv` after it (a raw file is never rewritten).
pub fn raw_feedback_n(now: u64, n: u32) -> String {
    if n == 0 {
        raw_feedback(now)
    } else {
        format!("{RAW}feedback-{now:011}-{n}.csv")
    }
}

/// `curated/<short hash>/data.csv`: the curated data whose hash is `data_hash`.
pub fn curated_data(data_hash: &str) -> String {
    format!("curated/{}/data.csv", short_hash(data_hash))
}

/// `curated/<short hash>/split.json`: how that data version was split for evaluation.
pub fn curated_split(data_hash: &str) -> String {
    format!("curated/{}/split.json", short_hash(data_hash))
}

/// `artifacts/statistics/<short hash>.json`: the statistics of a data version.
pub fn statistics(data_hash: &str) -> String {
    format!("artifacts/statistics/{}.json", short_hash(data_hash))
}

/// `artifacts/anomalies/<short hash>.json`: what validation found in a data version.
pub fn anomalies(data_hash: &str) -> String {
    format!("artifacts/anomalies/{}.json", short_hash(data_hash))
}

/// `artifacts/schema/<hash>.json`: a schema version, by its full hash.
pub fn schema(schema_version: &str) -> String {
    format!(
        "artifacts/schema/{}.json",
        schema_version.trim_start_matches("sha256:")
    )
}

/// `artifacts/runs/<run>/run.json`: a run's record, written last (its presence says the run's
/// artifacts are complete).
pub fn run_record(run_id: &str) -> String {
    format!("artifacts/runs/{run_id}/run.json")
}

/// `artifacts/runs/<run>/search.json`: a run's hyperparameter search.
pub fn run_search(run_id: &str) -> String {
    format!("artifacts/runs/{run_id}/search.json")
}

/// `artifacts/runs/<run>/evaluation.json`: a run's evaluation against the baseline.
pub fn run_evaluation(run_id: &str) -> String {
    format!("artifacts/runs/{run_id}/evaluation.json")
}

/// `artifacts/runs/<run>/timings.json`: where a run spent its time.
pub fn run_timings(run_id: &str) -> String {
    format!("artifacts/runs/{run_id}/timings.json")
}

/// `models/<model>/<run>/model.onnx`: the ONNX file a run exported.
pub fn model_onnx(model: &str, run_id: &str) -> String {
    format!("models/{model}/{run_id}/model.onnx")
}

/// `models/<model>/<run>/reference.csv`: what the monitor compares an imported model's traffic
/// with: one row per row of its evaluation set (what the model answered it, and what the
/// requests' log records of a text or a picture).
pub fn imported_reference(model: &str, run_id: &str) -> String {
    format!("models/{model}/{run_id}/reference.csv")
}

/// `models/<model>/<run>/model.json`: the native model beside it.
pub fn model_json(model: &str, run_id: &str) -> String {
    format!("models/{model}/{run_id}/model.json")
}

/// `artifacts/alerts/<id>.json`: one alert.
pub fn alert(id: &str) -> String {
    format!("{ALERTS}{id}.json")
}

/// `predictions/<YYYY-MM-DD>/<secs>-<pid>-<n>.jsonl`: the `n`-th batch of prediction logs
/// this process wrote at `secs`.
pub fn prediction_batch(secs: u64, n: u64) -> String {
    let day = &crate::clock::rfc3339(secs)[..10];
    format!("{PREDICTIONS}{day}/{secs}-{}-{n}.jsonl", std::process::id())
}

/// `feedback/<request id>.json`: the label a caller sent for one prediction.
pub fn feedback(request_id: &str) -> String {
    format!("{FEEDBACK}{request_id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout is a stored format: these are the keys an existing lake holds.
    #[test]
    fn keys_are_the_stored_layout() {
        let h = "sha256:0123456789abcdef0123456789abcdef";
        assert_eq!(short_hash(h), "0123456789abcdef");
        assert_eq!(short_hash(&short_hash(h)), "0123456789abcdef");
        assert_eq!(short_hash("sha256:ab"), "ab");
        assert_eq!(curated_data(h), "curated/0123456789abcdef/data.csv");
        assert_eq!(
            curated_split("0123456789abcdef"),
            "curated/0123456789abcdef/split.json"
        );
        assert_eq!(statistics(h), "artifacts/statistics/0123456789abcdef.json");
        assert_eq!(anomalies(h), "artifacts/anomalies/0123456789abcdef.json");
        assert_eq!(
            schema(h),
            "artifacts/schema/0123456789abcdef0123456789abcdef.json"
        );
        assert_eq!(run_record("r1"), "artifacts/runs/r1/run.json");
        assert_eq!(run_search("r1"), "artifacts/runs/r1/search.json");
        assert_eq!(run_evaluation("r1"), "artifacts/runs/r1/evaluation.json");
        assert_eq!(run_timings("r1"), "artifacts/runs/r1/timings.json");
        assert_eq!(model_onnx("m", "r1"), "models/m/r1/model.onnx");
        assert_eq!(model_json("m", "r1"), "models/m/r1/model.json");
        assert_eq!(alert("a"), "artifacts/alerts/a.json");
        assert_eq!(feedback("q"), "feedback/q.json");
        assert_eq!(raw("x.csv"), "raw/x.csv");
        assert_eq!(raw_feedback(42), "raw/feedback-00000000042.csv");
        assert_eq!(raw_feedback_n(42, 0), "raw/feedback-00000000042.csv");
        assert_eq!(raw_feedback_n(42, 2), "raw/feedback-00000000042-2.csv");
        let pid = std::process::id();
        assert_eq!(
            prediction_batch(86_400, 3),
            format!("predictions/1970-01-02/86400-{pid}-3.jsonl")
        );
    }
}
