//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/<path>`): `PUT` uploads a
//! file, `GET` downloads it, `GET ...?path=<dir>` lists a directory, `DELETE` removes a file.
//! Files are kept in the lake under the run or the logged model they belong to; a path must
//! name one that exists (`<experiment>/<run>/artifacts/...` or
//! `<experiment>/models/<model>/artifacts/...`).

use serde_json::{Value, json};

use super::{Api, ApiError, Call, Reply, Result};
use crate::lake::Lake;
use crate::registry::Store;
use crate::tracking::Tracking;

/// The entries of directory `dir` (a path under the artifact root), as MLflow lists them:
/// paths relative to `relative_to`, directories once.
pub(super) async fn listing<L: Lake>(
    t: &Tracking<L>,
    dir: &str,
    relative_to: &str,
) -> Result<Vec<Value>> {
    let dir = dir.trim_matches('/');
    let mut out: Vec<Value> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for path in t.list_files(dir).await? {
        let Some(rest) = path
            .strip_prefix(dir)
            .map(|r| r.trim_start_matches('/'))
            .filter(|r| !r.is_empty())
        else {
            continue;
        };
        let rel_base = relative_to.trim_matches('/');
        let rel = |p: &str| -> String {
            p.strip_prefix(rel_base)
                .map(|r| r.trim_start_matches('/').to_string())
                .unwrap_or_else(|| p.to_string())
        };
        match rest.split_once('/') {
            Some((first, _)) => {
                let d = format!("{dir}/{first}");
                if !dirs.contains(&d) {
                    dirs.push(d.clone());
                    out.push(json!({"path": rel(&d), "is_dir": true}));
                }
            }
            None => {
                let size = t.get_file(&path).await?.map_or(0, |b| b.len());
                out.push(json!({"path": rel(&path), "is_dir": false, "file_size": size}));
            }
        }
    }
    Ok(out)
}

impl<L: Lake, S: Store> Api<L, S> {
    /// Check that `path` is under a run or a logged model that exists.
    async fn owner(&self, path: &str) -> Result<()> {
        let parts: Vec<&str> = path.split('/').collect();
        let ok = match parts.as_slice() {
            [exp, "models", model, "artifacts", _, ..] => self
                .tracking
                .model(model)
                .await
                .is_ok_and(|m| &m.experiment_id == exp),
            [exp, run, "artifacts", _, ..] => self
                .tracking
                .run(run)
                .await
                .is_ok_and(|r| &r.info.experiment_id == exp),
            _ => false,
        };
        if !ok {
            return Err(ApiError::invalid(format!(
                "artifact path `{path}` names no run or logged model of this server: expected `<experiment id>/<run id>/artifacts/<file>` or `<experiment id>/models/<model id>/artifacts/<file>`"
            )));
        }
        Ok(())
    }

    pub(super) async fn artifacts(&self, call: &Call<'_>, route: &str) -> Result<Reply> {
        let path = match route.strip_prefix("artifacts") {
            Some(rest) => {
                crate::urlencoding::decode(&rest.trim_start_matches('/').replace('+', "%2B"))
            }
            None => {
                return Err(ApiError::new(
                    "ENDPOINT_NOT_FOUND",
                    format!(
                        "No API endpoint `{} {}` here (multipart uploads are not offered: unset MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD)",
                        call.method, call.path
                    ),
                ));
            }
        };
        match (call.method, path.is_empty()) {
            ("GET", true) => {
                let given = super::Params::read(call)?.str("path")?;
                let dir = crate::tracking::normal_path(&given);
                if !given.is_empty() {
                    crate::tracking::check_path(&dir).map_err(|_| {
                        ApiError::invalid(format!(
                            "Invalid path `{given}`: expected a relative path without `..`"
                        ))
                    })?;
                }
                let files = listing(&self.tracking, &dir, &dir).await?;
                Ok(Reply::json(&json!({ "files": files })))
            }
            ("GET", false) => match self.tracking.get_file(&path).await? {
                Some(bytes) => Ok(Reply {
                    status: 200,
                    content_type: "application/octet-stream",
                    body: bytes,
                }),
                None => Err(ApiError::new(
                    "RESOURCE_DOES_NOT_EXIST",
                    format!("artifact `{path}` does not exist"),
                )),
            },
            ("PUT", false) => {
                crate::tracking::check_path(&path)?;
                self.owner(&path).await?;
                self.tracking.put_file(&path, call.body).await?;
                Ok(Reply::json(&json!({})))
            }
            ("DELETE", false) => {
                crate::tracking::check_path(&path)?;
                self.owner(&path).await?;
                self.tracking
                    .lake()
                    .delete(&crate::tracking::file_key(&path))
                    .await?;
                Ok(Reply::json(&json!({})))
            }
            _ => Err(ApiError::new(
                "ENDPOINT_NOT_FOUND",
                format!("No API endpoint `{} {}` here", call.method, call.path),
            )),
        }
    }
}
