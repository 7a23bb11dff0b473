//! The model registry endpoints over mlinfra's registry. A model version is created by
//! importing the ONNX model the source names (`models:/<id>`, `runs:/<run>/<path>` or
//! `mlflow-artifacts:/...`): its card inferred from the graph and named by the MLflow signature,
//! evaluated on the platform's curated data, blessed by the stack's policy, registered. Stages
//! move as the registry allows: a transition (or the alias `champion`/`challenger`) requests
//! it, and the same call by a different account approves it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Api, ApiError, Params, Result, page, pairs_json};
use crate::jobs::import::{self, ToImport};
use crate::lake::Lake;
use crate::registry::{ModelDoc, RequestStatus, Stage, Store, Version};
use crate::tracking::filter::{self, Key};
use crate::tracking::{RegisteredModel, VersionExtra};

/// Aliases and the stage each stands for.
pub const ALIASES: &[(&str, Stage)] = &[
    ("champion", Stage::Production),
    ("production", Stage::Production),
    ("challenger", Stage::Staging),
    ("staging", Stage::Staging),
];

fn alias_stage(alias: &str) -> Result<Stage> {
    ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(alias))
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "alias `{alias}`: this registry's aliases are its stages: `champion` (Production) and `challenger` (Staging)"
            ))
        })
}

fn ms(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

fn aliases_of(v: &Version) -> Vec<&'static str> {
    match v.stage {
        Stage::Production => vec!["champion"],
        Stage::Staging => vec!["challenger"],
        _ => vec![],
    }
}

pub fn version_json(model: &str, v: &Version, extra: Option<&VersionExtra>) -> Value {
    let e = extra.cloned().unwrap_or_default();
    let mut tags = v.tags.clone();
    tags.extend(e.tags.clone());
    let mut j = json!({
        "name": model,
        "version": v.version.to_string(),
        "creation_timestamp": ms(&v.created_at),
        "last_updated_timestamp": e.last_updated_timestamp.max(ms(&v.created_at)),
        "user_id": v.created_by,
        "current_stage": v.stage.as_str(),
        "description": e.description,
        "source": if e.source.is_empty() { v.artifact_uri.clone() } else { e.source.clone() },
        "run_id": if e.run_id.is_empty() { v.run_id.clone() } else { e.run_id.clone() },
        "status": "READY",
        "tags": pairs_json(&tags),
        "aliases": aliases_of(v),
    });
    if !e.model_id.is_empty() {
        j["model_id"] = json!(e.model_id);
    }
    j
}

fn registered_json(name: &str, doc: Option<&ModelDoc>, rec: Option<&RegisteredModel>) -> Value {
    let r = rec.cloned().unwrap_or_default();
    let versions: &[Version] = doc.map_or(&[], |d| &d.versions);
    let created = versions
        .iter()
        .map(|v| ms(&v.created_at))
        .min()
        .unwrap_or(0);
    let creation = if r.creation_timestamp > 0 {
        r.creation_timestamp
    } else {
        created
    };
    let updated = versions
        .iter()
        .map(|v| ms(&v.created_at))
        .max()
        .unwrap_or(0)
        .max(r.last_updated_timestamp);
    // The latest version in each stage, as MLflow's `latest_versions`.
    let mut latest: BTreeMap<Stage, &Version> = BTreeMap::new();
    for v in versions {
        latest
            .entry(v.stage)
            .and_modify(|x| {
                if v.version > x.version {
                    *x = v;
                }
            })
            .or_insert(v);
    }
    let aliases: Vec<Value> = versions
        .iter()
        .flat_map(|v| {
            aliases_of(v)
                .into_iter()
                .map(move |a| json!({"alias": a, "version": v.version.to_string()}))
        })
        .collect();
    json!({
        "name": name,
        "creation_timestamp": creation,
        "last_updated_timestamp": updated,
        "user_id": r.user_id,
        "description": r.description,
        "latest_versions": latest.values().map(|v| version_json(name, v, r.versions.get(&v.version))).collect::<Vec<_>>(),
        "tags": pairs_json(&r.tags),
        "aliases": aliases,
    })
}

fn version_number(p: &Params) -> Result<u64> {
    let v = p.required("version")?;
    v.parse().map_err(|_| {
        ApiError::invalid(format!(
            "Invalid value `{v}` for parameter 'version': expected a version number"
        ))
    })
}

/// The ONNX file and the input names of an `MLmodel` file.
struct Logged {
    onnx: Option<String>,
    flavors: Vec<String>,
    /// The signature's columns: name and MLflow type, when it is column-based.
    columns: Option<Vec<(String, String)>>,
}

fn mlmodel(text: &str) -> Result<Logged> {
    use yaml_rust2::{Yaml, YamlLoader};
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| ApiError::invalid(format!("the model's MLmodel file is not YAML: {e}")))?;
    let doc = docs.first().cloned().unwrap_or(Yaml::Null);
    let flavors: Vec<String> = doc["flavors"]
        .as_hash()
        .map(|h| {
            h.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let onnx = doc["flavors"]["onnx"]["data"].as_str().map(str::to_string);
    let columns = doc["signature"]["inputs"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .and_then(|cols| {
            cols.iter()
                .map(|c| {
                    Some((
                        c.get("name")?.as_str()?.to_string(),
                        c.get("type")?.as_str()?.to_string(),
                    ))
                })
                .collect::<Option<Vec<_>>>()
        })
        .filter(|c| !c.is_empty());
    Ok(Logged {
        onnx,
        flavors,
        columns,
    })
}

/// Name the card's features after the signature's columns: the one float tensor's columns in
/// order, or the graph's own inputs when they already carry the names.
fn name_features(card: &mut crate::onnx::card::Card, logged: &Logged) -> Result<()> {
    use crate::onnx::card::FeatureKind;
    let generic = card
        .input
        .features
        .iter()
        .enumerate()
        .all(|(j, f)| f.name == format!("feature_{j}"));
    match (&logged.columns, card.input.tensor.is_some() && generic) {
        (Some(cols), true) => {
            if cols.len() != card.input.features.len() {
                return Err(ApiError::invalid(format!(
                    "the model's signature names {} columns but its graph takes {} values per row: log the model with the signature of the data it was trained on (`signature=infer_signature(X_train, ...)`)",
                    cols.len(),
                    card.input.features.len()
                )));
            }
            for (f, (name, ty)) in card.input.features.iter_mut().zip(cols) {
                f.name = name.clone();
                if ty == "string" {
                    return Err(ApiError::invalid(format!(
                        "the signature's column `{name}` is a string but the graph takes numbers in one tensor"
                    )));
                }
                f.kind = FeatureKind::Number;
            }
            Ok(())
        }
        (None, true) => Err(ApiError::invalid(
            "the model's graph takes one tensor of numbers and its MLflow signature names no columns: log it with a signature inferred from a DataFrame (`mlflow.onnx.log_model(onx, name=..., signature=infer_signature(X_train, y_pred))`), so that each value is a named feature",
        )),
        _ => Ok(()),
    }
}

impl<L: Lake, S: Store> Api<L, S> {
    async fn doc(&self, name: &str) -> Result<Option<ModelDoc>> {
        Ok(self.registry.store.load(name).await?)
    }

    /// The model must exist: in the registry, or created through this API.
    async fn existing(&self, name: &str) -> Result<(Option<ModelDoc>, Option<RegisteredModel>)> {
        let doc = self.doc(name).await?;
        let rec = self.tracking.registered(name).await?;
        if doc.is_none() && rec.is_none() {
            return Err(ApiError::new(
                "RESOURCE_DOES_NOT_EXIST",
                format!("Registered Model with name={name} not found"),
            ));
        }
        Ok((doc, rec))
    }

    async fn version(&self, name: &str, number: u64) -> Result<(Version, Option<VersionExtra>)> {
        let (doc, rec) = self.existing(name).await?;
        let v = doc
            .as_ref()
            .and_then(|d| d.version(number))
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    "RESOURCE_DOES_NOT_EXIST",
                    format!("Model Version (name={name}, version={number}) not found"),
                )
            })?;
        Ok((v, rec.and_then(|r| r.versions.get(&number).cloned())))
    }

    async fn version_reply(&self, name: &str, number: u64) -> Result<Value> {
        let (v, e) = self.version(name, number).await?;
        Ok(json!({ "model_version": version_json(name, &v, e.as_ref()) }))
    }

    pub(super) async fn create_registered_model(&self, p: &Params, actor: &str) -> Result<Value> {
        let name = p.required("name")?;
        crate::tracking::check_key("registered model", &name)?;
        if self.doc(&name).await?.is_some() || self.tracking.registered(&name).await?.is_some() {
            return Err(ApiError::new(
                "RESOURCE_ALREADY_EXISTS",
                format!("Registered Model (name={name}) already exists."),
            ));
        }
        let tags: BTreeMap<String, String> = p.pairs("tags")?.into_iter().collect();
        let description = p.str("description")?;
        let actor = actor.to_string();
        let rec = self
            .tracking
            .update_registered(&name, move |r| {
                r.user_id = actor;
                r.tags = tags;
                r.description = description;
                Ok(())
            })
            .await?;
        Ok(json!({ "registered_model": registered_json(&name, None, Some(&rec)) }))
    }

    pub(super) async fn get_registered_model(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let (doc, rec) = self.existing(&name).await?;
        Ok(json!({ "registered_model": registered_json(&name, doc.as_ref(), rec.as_ref()) }))
    }

    async fn all_names(&self) -> Result<Vec<String>> {
        let mut names = self.registry.store.models().await?;
        names.extend(
            self.tracking
                .registered_all()
                .await?
                .into_iter()
                .map(|r| r.name),
        );
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub(super) async fn search_registered_models(&self, p: &Params) -> Result<Value> {
        let clauses = filter::parse(&p.str("filter")?, &["name"])?;
        let max = super::runs::max_results(p, 100, 1000)?;
        let mut out = Vec::new();
        for name in self.all_names().await? {
            let rec = self.tracking.registered(&name).await?;
            let ok = clauses.iter().all(|c| match &c.key {
                Key::Attribute(_) => filter::text_matches(Some(&name), c.op, &c.value),
                // MLflow's client leaves prompts out with `tag.mlflow.prompt.is_prompt !=
                // 'true'`, which a model without the tag satisfies.
                Key::Tag(t) => match rec.as_ref().and_then(|r| r.tags.get(t)) {
                    None => matches!(c.op, filter::Op::Ne | filter::Op::NotIn),
                    Some(v) => filter::text_matches(Some(v), c.op, &c.value),
                },
                _ => false,
            });
            if ok {
                let doc = self.doc(&name).await?;
                out.push(registered_json(&name, doc.as_ref(), rec.as_ref()));
            }
        }
        let (items, next) = page(out, &p.str("page_token")?, max)?;
        let mut v = json!({ "registered_models": items });
        if let Some(n) = next {
            v["next_page_token"] = json!(n);
        }
        Ok(v)
    }

    pub(super) async fn update_registered_model(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        self.existing(&name).await?;
        let description = p.str("description")?;
        let rec = self
            .tracking
            .update_registered(&name, move |r| {
                r.description = description;
                Ok(())
            })
            .await?;
        let doc = self.doc(&name).await?;
        Ok(json!({ "registered_model": registered_json(&name, doc.as_ref(), Some(&rec)) }))
    }

    pub(super) async fn delete_registered_model(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let (doc, _) = self.existing(&name).await?;
        if let Some(d) = doc.filter(|d| !d.versions.is_empty()) {
            return Err(ApiError::new(
                "INVALID_STATE",
                format!(
                    "`{name}` has {} registered versions: they are kept for the audit trail, so the model cannot be deleted",
                    d.versions.len()
                ),
            ));
        }
        self.tracking.remove_registered(&name).await?;
        Ok(json!({}))
    }

    pub(super) async fn latest_versions(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let stages: Vec<Stage> = p
            .strings("stages")?
            .iter()
            .map(|s| {
                s.parse::<Stage>().map_err(|_| {
                    ApiError::invalid(format!(
                        "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let (doc, rec) = self.existing(&name).await?;
        let mut latest: BTreeMap<Stage, Version> = BTreeMap::new();
        for v in doc.iter().flat_map(|d| d.versions.iter()) {
            if (stages.is_empty() || stages.contains(&v.stage))
                && latest.get(&v.stage).is_none_or(|x| v.version > x.version)
            {
                latest.insert(v.stage, v.clone());
            }
        }
        let extra = |n: u64| rec.as_ref().and_then(|r| r.versions.get(&n));
        Ok(json!({
            "model_versions": latest.values().map(|v| version_json(&name, v, extra(v.version))).collect::<Vec<_>>()
        }))
    }

    pub(super) async fn registered_tag(&self, p: &Params, set: bool) -> Result<Value> {
        let name = p.required("name")?;
        let key = p.required("key")?;
        crate::tracking::check_key("tag", &key)?;
        self.existing(&name).await?;
        let value = p.str("value")?;
        self.tracking
            .update_registered(&name, move |r| {
                if set {
                    r.tags.insert(key, value);
                } else {
                    r.tags.remove(&key);
                }
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn version_tag(&self, p: &Params, set: bool) -> Result<Value> {
        let name = p.required("name")?;
        let number = version_number(p)?;
        let key = p.required("key")?;
        crate::tracking::check_key("tag", &key)?;
        self.version(&name, number).await?;
        let value = p.str("value")?;
        self.tracking
            .update_registered(&name, move |r| {
                let e = r.versions.entry(number).or_default();
                if set {
                    e.tags.insert(key, value);
                } else {
                    e.tags.remove(&key);
                }
                e.last_updated_timestamp = crate::tracking::now_ms();
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn get_model_version(&self, p: &Params) -> Result<Value> {
        self.version_reply(&p.required("name")?, version_number(p)?)
            .await
    }

    pub(super) async fn update_model_version(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let number = version_number(p)?;
        self.version(&name, number).await?;
        let description = p.str("description")?;
        self.tracking
            .update_registered(&name, move |r| {
                let e = r.versions.entry(number).or_default();
                e.description = description;
                e.last_updated_timestamp = crate::tracking::now_ms();
                Ok(())
            })
            .await?;
        self.version_reply(&name, number).await
    }

    pub(super) async fn search_model_versions(&self, p: &Params) -> Result<Value> {
        let clauses = filter::parse(
            &p.str("filter")?,
            &["name", "run_id", "source_path", "version_number"],
        )?;
        let max = super::runs::max_results(p, 10_000, 200_000)?;
        let mut out = Vec::new();
        for name in self.all_names().await? {
            let Some(doc) = self.doc(&name).await? else {
                continue;
            };
            let rec = self.tracking.registered(&name).await?;
            for v in doc.versions.iter().rev() {
                let e = rec.as_ref().and_then(|r| r.versions.get(&v.version));
                let j = version_json(&name, v, e);
                let ok = clauses.iter().all(|c| {
                    let field = match &c.key {
                        Key::Attribute(a) => match a.as_str() {
                            "name" => Some(name.clone()),
                            "run_id" => j["run_id"].as_str().map(str::to_string),
                            "source_path" => j["source"].as_str().map(str::to_string),
                            "version_number" => Some(v.version.to_string()),
                            _ => None,
                        },
                        Key::Tag(t) => {
                            let tag = e.and_then(|e| e.tags.get(t)).or_else(|| v.tags.get(t));
                            if tag.is_none() {
                                return matches!(c.op, filter::Op::Ne | filter::Op::NotIn);
                            }
                            tag.cloned()
                        }
                        _ => None,
                    };
                    filter::text_matches(field.as_deref(), c.op, &c.value)
                });
                if ok {
                    out.push(j);
                }
            }
        }
        let (items, next) = page(out, &p.str("page_token")?, max)?;
        let mut v = json!({ "model_versions": items });
        if let Some(n) = next {
            v["next_page_token"] = json!(n);
        }
        Ok(v)
    }

    pub(super) async fn download_uri(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let (v, e) = self.version(&name, version_number(p)?).await?;
        let uri = e
            .map(|e| e.source)
            .filter(|s| s.starts_with("mlflow-artifacts:"))
            .unwrap_or(v.artifact_uri);
        Ok(json!({ "artifact_uri": uri }))
    }

    /// The artifact directory a version's source names.
    async fn source_dir(&self, source: &str, model_id: &str) -> Result<(String, String)> {
        let logged = |id: String| async move {
            let m = self.tracking.model(&id).await?;
            Ok::<_, ApiError>((m.artifact_uri, m.model_id))
        };
        let (uri, model) = if let Some(id) = source.strip_prefix("models:/") {
            if id.contains('/') {
                return Err(ApiError::invalid(format!(
                    "source `{source}`: expected `models:/<model id>`"
                )));
            }
            logged(id.to_string()).await?
        } else if let Some(rest) = source.strip_prefix("runs:/") {
            let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
            let r = self.tracking.run(run).await?;
            (
                format!("{}/{}", r.info.artifact_uri, path.trim_matches('/')),
                model_id.to_string(),
            )
        } else if source.starts_with("mlflow-artifacts:") {
            (source.to_string(), model_id.to_string())
        } else {
            return Err(ApiError::invalid(format!(
                "source `{source}`: this registry imports models stored through this server's artifact proxy (`models:/<id>`, `runs:/<run id>/<path>` or `mlflow-artifacts:/...`); log the model with this server as the tracking URI"
            )));
        };
        let dir = uri
            .strip_prefix("mlflow-artifacts:")
            .map(|p| p.trim_start_matches('/').trim_end_matches('/').to_string())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "source `{source}` is not in this server's artifact store"
                ))
            })?;
        crate::tracking::check_path(&dir)?;
        Ok((dir, model))
    }

    /// The curated data training uses, with the label as the classes the models answer: the
    /// data to evaluate an imported version on.
    async fn evaluation_data(&self, settings: &crate::jobs::Settings) -> Result<(Vec<u8>, String)> {
        let lake = self.lake();
        let pointer: Option<crate::jobs::CuratedPointer> =
            crate::jobs::read_json(lake, crate::keys::CURATED_LATEST)
                .await
                .map_err(|e| ApiError::new("INTERNAL_ERROR", e.to_string()))?;
        let Some(pointer) = pointer else {
            return Err(ApiError::new(
                "INVALID_STATE",
                "there is no curated data to evaluate the model on yet: ingest data first (`mlinfra data ingest FILE`, or `mlinfra pipeline run`)",
            ));
        };
        let bytes = lake.get(&pointer.key).await?.ok_or_else(|| {
            ApiError::new(
                "INTERNAL_ERROR",
                format!("`{}` does not exist", lake.uri(&pointer.key)),
            )
        })?;
        let name = format!("the curated data {}", lake.uri(&pointer.key));
        // Missing values as the stack marks them become empty cells, and a `positive_when`
        // label the classes `0` and `1`, as training reads them.
        let rule = &settings.pipeline.rule;
        let missing = &settings.pipeline.read.missing;
        let label = &settings.pipeline.label;
        let mut r = csv::ReaderBuilder::new().from_reader(&bytes[..]);
        let header = r
            .headers()
            .map_err(|e| ApiError::new("INTERNAL_ERROR", format!("{name}: {e}")))?
            .clone();
        let j = header.iter().position(|h| h == label).ok_or_else(|| {
            ApiError::new(
                "INTERNAL_ERROR",
                format!("{name} has no label column `{label}`"),
            )
        })?;
        let binary = matches!(rule, crate::data::LabelRule::Binary { .. });
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| ApiError::new("INTERNAL_ERROR", format!("{name}: {e}"));
        w.write_record(&header).map_err(io)?;
        for rec in r.records() {
            let rec = rec.map_err(io)?;
            let cell = rec.get(j).unwrap_or_default().trim();
            let class = if binary {
                match cell.parse::<f64>() {
                    Ok(x) if rule.positive(x) => "1",
                    Ok(_) => "0",
                    Err(_) => continue, // no label: not a row to evaluate on
                }
            } else if missing.iter().any(|m| m == cell) {
                continue;
            } else {
                cell
            };
            let row: Vec<&str> = rec
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == j {
                        class
                    } else if missing.iter().any(|m| m == c.trim()) {
                        ""
                    } else {
                        c
                    }
                })
                .collect();
            w.write_record(&row).map_err(io)?;
        }
        let out = w
            .into_inner()
            .map_err(|e| ApiError::new("INTERNAL_ERROR", e.to_string()))?;
        Ok((out, name))
    }

    pub(super) async fn create_model_version(&self, p: &Params, actor: &str) -> Result<Value> {
        let name = p.required("name")?;
        crate::tracking::check_key("registered model", &name)?;
        let source = p.required("source")?;
        let (dir, model_id) = self.source_dir(&source, &p.str("model_id")?).await?;
        let text = self
            .tracking
            .get_file(&format!("{dir}/MLmodel"))
            .await?
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "source `{source}` has no MLmodel file: log the model with `mlflow.onnx.log_model`"
                ))
            })?;
        let logged = mlmodel(&String::from_utf8_lossy(&text))?;
        let Some(file) = &logged.onnx else {
            return Err(ApiError::invalid(format!(
                "source `{source}` is a model of the flavor(s) {}: this registry serves ONNX models; convert it (skl2onnx for scikit-learn, onnxmltools for XGBoost and LightGBM, torch.onnx for PyTorch) and log it with `mlflow.onnx.log_model`",
                logged.flavors.join(", ")
            )));
        };
        let onnx_path = format!("{dir}/{file}");
        let bytes = self.tracking.get_file(&onnx_path).await?.ok_or_else(|| {
            ApiError::invalid(format!("source `{source}`: `{file}` was never uploaded"))
        })?;
        let imported = crate::onnx::import::Imported::load(&bytes)
            .map_err(|e| ApiError::invalid(format!("source `{source}`: `{file}`: {e}")))?;
        let mut card = imported.infer_card();
        name_features(&mut card, &logged)?;
        let settings = crate::jobs::settings(self.lake())
            .await
            .map_err(|e| ApiError::new("INVALID_STATE", e.to_string()))?;
        let (data, data_name) = self.evaluation_data(&settings).await?;
        let no_pictures = |_: &str| -> std::result::Result<Vec<u8>, String> {
            Err("image models are imported with `mlinfra models import`".into())
        };
        let what = ToImport {
            model: &name,
            bytes: &bytes,
            card: &card,
            tokenizer: None,
            pictures: &no_pictures,
            data: &data,
            data_name: &data_name,
            label: &settings.pipeline.label,
            policy: &settings.pipeline.policy,
            interval_level: settings.pipeline.interval_level,
            actor,
        };
        let out = import::import(self.lake(), &self.registry, &what)
            .await
            .map_err(|e| match e {
                crate::jobs::JobError::Registry(r) => ApiError::from(r),
                crate::jobs::JobError::Lake(l) => ApiError::from(l),
                e => ApiError::invalid(format!("source `{source}`: {e}")),
            })?;
        let metrics = out.evaluation.metrics();
        let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let Some(v) = out.registered else {
            return Err(ApiError::new(
                "INVALID_STATE",
                format!(
                    "`{name}` from `{source}` was evaluated on {data_name} ({}) and not blessed: {}; nothing was registered",
                    shown.join(", "),
                    out.blessing.reason
                ),
            ));
        };
        let mut tags: BTreeMap<String, String> = p.pairs("tags")?.into_iter().collect();
        tags.insert("mlinfra.evaluation".into(), shown.join(", "));
        tags.insert("mlinfra.blessing".into(), out.blessing.reason.clone());
        let extra = VersionExtra {
            source: source.clone(),
            run_id: p.str("run_id")?,
            model_id,
            description: p.str("description")?,
            tags,
            last_updated_timestamp: crate::tracking::now_ms(),
        };
        let number = v.version;
        let user = actor.to_string();
        self.tracking
            .update_registered(&name, move |r| {
                if r.user_id.is_empty() {
                    r.user_id = user;
                }
                r.versions.insert(number, extra);
                Ok(())
            })
            .await?;
        self.version_reply(&name, number).await
    }

    /// Move `number` to `to`: approve the pending request of someone else, or request it.
    async fn move_to(&self, name: &str, number: u64, to: Stage, actor: &str) -> Result<Value> {
        if !matches!(to, Stage::Staging | Stage::Production) {
            return Err(ApiError::new(
                "INVALID_STATE",
                format!(
                    "a version moves to {to} by itself in this registry: it is archived when another version is approved for Production (`mlinfra models rollback` brings the previous one back)"
                ),
            ));
        }
        let (v, _) = self.version(name, number).await?;
        if v.stage == to {
            return self.version_reply(name, number).await;
        }
        if actor == "anonymous" {
            return Err(ApiError::new(
                "UNAUTHENTICATED",
                "a stage transition is requested and approved by named people: authenticate (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)",
            ));
        }
        let doc = self.doc(name).await?.unwrap_or_else(|| ModelDoc::new(name));
        let pending = doc
            .requests
            .iter()
            .find(|r| r.version == number && r.to == to && r.status == RequestStatus::Pending)
            .cloned();
        if let Some(r) = pending {
            if r.requested_by == actor {
                return Err(ApiError::new(
                    "PERMISSION_DENIED",
                    format!(
                        "{actor} requested this transition (request {} of `{name}` version {number} to {to}); a different person must approve it",
                        r.id
                    ),
                ));
            }
            self.registry
                .approve(name, &r.id, "approved through the MLflow API", actor)
                .await?;
            return self.version_reply(name, number).await;
        }
        let req = self
            .registry
            .request(name, number, to, "requested through the MLflow API", actor)
            .await?;
        if req.status == RequestStatus::Approved {
            return self.version_reply(name, number).await;
        }
        Err(ApiError::new(
            "INVALID_STATE",
            format!(
                "requested: `{name}` version {number} to {to} is request {} by {actor}, pending; a different person must approve it: the same call by another account, `mlinfra models approve {} --model {name}`, or the console",
                req.id, req.id
            ),
        ))
    }

    pub(super) async fn transition(&self, p: &Params, actor: &str) -> Result<Value> {
        let name = p.required("name")?;
        let number = version_number(p)?;
        let stage = p.required("stage")?;
        let to: Stage = stage.parse().map_err(|_| {
            ApiError::invalid(format!(
                "Invalid Model Version stage: {stage}. Value must be one of None, Staging, Production, Archived."
            ))
        })?;
        self.move_to(&name, number, to, actor).await
    }

    pub(super) async fn set_alias(&self, p: &Params, actor: &str) -> Result<Value> {
        let name = p.required("name")?;
        let to = alias_stage(&p.required("alias")?)?;
        let number = version_number(p)?;
        self.move_to(&name, number, to, actor).await?;
        Ok(json!({}))
    }

    pub(super) async fn delete_alias(&self, p: &Params) -> Result<Value> {
        let alias = p.required("alias")?;
        alias_stage(&alias)?;
        Err(ApiError::new(
            "INVALID_STATE",
            format!(
                "`{alias}` is a stage of this registry: a version leaves it when another is approved in its place"
            ),
        ))
    }

    pub(super) async fn version_by_alias(&self, p: &Params) -> Result<Value> {
        let name = p.required("name")?;
        let alias = p.required("alias")?;
        let stage = alias_stage(&alias)?;
        let (doc, rec) = self.existing(&name).await?;
        let v = doc
            .as_ref()
            .and_then(|d| d.in_stage(stage))
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    "RESOURCE_DOES_NOT_EXIST",
                    format!("Registered model alias {alias} not found: `{name}` has no version in {stage}"),
                )
            })?;
        let e = rec.as_ref().and_then(|r| r.versions.get(&v.version));
        Ok(json!({ "model_version": version_json(&name, &v, e) }))
    }
}
