//! A model ready to serve: the ONNX graph loaded in tract, and what its metadata says about its
//! inputs (feature names, kinds, categories; the schema's ranges and domains) and outputs.

use prost::Message as _;
use serde::Deserialize;

use crate::data::Kind;
use crate::registry::Stage;
use crate::schema::Schema;
use crate::scorer::Scorer;

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub kind: Kind,
    pub categories: Vec<String>,
    pub range: Option<[f64; 2]>,
    pub domain: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct Served {
    pub model: String,
    pub version: u64,
    pub stage: Stage,
    pub sha256: String,
    pub features: Vec<Feature>,
    pub classes: Vec<String>,
    pub class_values: Vec<i64>,
    pub scorer: Scorer,
}

#[derive(Deserialize)]
struct MetaFeature {
    name: String,
    kind: Kind,
    #[serde(default)]
    categories: Vec<String>,
}

impl Served {
    /// Load ONNX bytes exported by mlinfra (the metadata describes the inputs).
    pub fn load(
        bytes: &[u8],
        model: &str,
        version: u64,
        stage: Stage,
        sha256: &str,
    ) -> Result<Served, String> {
        let proto = tract_onnx::pb::ModelProto::decode(bytes)
            .map_err(|e| format!("not an ONNX model: {e}"))?;
        let meta = |k: &str| {
            proto
                .metadata_props
                .iter()
                .find(|p| p.key == k)
                .map(|p| p.value.clone())
        };
        let features: Vec<MetaFeature> = serde_json::from_str(
            &meta("mlinfra.features").ok_or("the model has no `mlinfra.features` metadata")?,
        )
        .map_err(|e| format!("`mlinfra.features` metadata: {e}"))?;
        let classes: Vec<String> = serde_json::from_str(
            &meta("mlinfra.classes").ok_or("the model has no `mlinfra.classes` metadata")?,
        )
        .map_err(|e| format!("`mlinfra.classes` metadata: {e}"))?;
        let class_values: Option<Vec<i64>> = meta("mlinfra.class_values")
            .and_then(|v| serde_json::from_str(&v).ok())
            .flatten();
        let schema: Option<Schema> =
            meta("mlinfra.schema").and_then(|v| serde_json::from_str(&v).ok());
        let features: Vec<Feature> = features
            .into_iter()
            .map(|f| {
                let s = schema.as_ref().and_then(|s| s.feature(&f.name));
                Feature {
                    range: s.and_then(|s| s.range),
                    domain: s.and_then(|s| s.domain.clone()),
                    name: f.name,
                    kind: f.kind,
                    categories: f.categories,
                }
            })
            .collect();
        let scorer = Scorer::load(bytes, features.len(), classes.len())
            .map_err(|e| format!("tract cannot load the model: {e}"))?;
        Ok(Served {
            model: model.to_string(),
            version,
            stage,
            sha256: sha256.to_string(),
            class_values: class_values.unwrap_or_else(|| (0..classes.len() as i64).collect()),
            features,
            classes,
            scorer,
        })
    }
}
