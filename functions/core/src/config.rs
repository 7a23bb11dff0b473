//! A function's configuration: what the provisioner gives a function through its environment.
//!
//! On AWS these are the Lambda's environment variables; on the local environment the provisioner
//! writes the same map to `functions/<name>.json` and `mlinfra serve` passes it in-process.
//! Secrets never travel here: only names and locations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FunctionName;

/// Environment variable names, one per field.
pub const ENV_STACK: &str = "MLINFRA_STACK";
pub const ENV_FUNCTION: &str = "MLINFRA_FUNCTION";
pub const ENV_LAKE: &str = "MLINFRA_LAKE";
pub const ENV_REGISTRY: &str = "MLINFRA_REGISTRY";
pub const ENV_MODEL: &str = "MLINFRA_MODEL";
pub const ENV_MAX_BATCH: &str = "MLINFRA_MAX_BATCH";
pub const ENV_MODEL_REFRESH_S: &str = "MLINFRA_MODEL_REFRESH_S";
pub const ENV_SAMPLE_RATE: &str = "MLINFRA_SAMPLE_RATE";
pub const ENV_PREDICTION_LOG_DAYS: &str = "MLINFRA_PREDICTION_LOG_DAYS";
pub const ENV_ALERTS_TOPIC: &str = "MLINFRA_ALERTS_TOPIC";
pub const ENV_RETRAIN_FUNCTION: &str = "MLINFRA_RETRAIN_FUNCTION";

/// How the prediction API serves: one contract for the `predict` function (its environment)
/// and `mlinfra serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingConfig {
    /// Most instances in one request (`api.max_batch`).
    pub max_batch: u32,
    /// Seconds between checks of the registry for a newly approved model (`api.model_refresh_s`).
    pub model_refresh_s: u32,
    /// Share of requests logged for monitoring, 0 to 1 (`monitoring.sample_rate`).
    pub sample_rate: f64,
    /// Days the prediction logs are kept, within which feedback finds its prediction
    /// (`lake.prediction_log_days`).
    pub prediction_log_days: u32,
}

impl ServingConfig {
    pub fn to_env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ENV_MAX_BATCH.to_string(), self.max_batch.to_string()),
            (
                ENV_MODEL_REFRESH_S.to_string(),
                self.model_refresh_s.to_string(),
            ),
            // As JSON writes it (`1.0`, not `1`), so a value read back compares equal.
            (
                ENV_SAMPLE_RATE.to_string(),
                serde_json::Value::from(self.sample_rate).to_string(),
            ),
            (
                ENV_PREDICTION_LOG_DAYS.to_string(),
                self.prediction_log_days.to_string(),
            ),
        ])
    }

    /// Read back; `None` when none of its variables is set (a function that does not serve).
    pub fn from_env(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        if [
            ENV_MAX_BATCH,
            ENV_MODEL_REFRESH_S,
            ENV_SAMPLE_RATE,
            ENV_PREDICTION_LOG_DAYS,
        ]
        .iter()
        .all(|n| get(n).is_none())
        {
            return Ok(None);
        }
        let req = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let whole = |name: &'static str| -> Result<u32, ConfigError> {
            let v = req(name)?;
            v.parse().map_err(|_| ConfigError::Invalid {
                name,
                value: v,
                expected: "expected a whole number".to_string(),
            })
        };
        let rate = req(ENV_SAMPLE_RATE)?;
        let sample_rate = rate
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| ConfigError::Invalid {
                name: ENV_SAMPLE_RATE,
                value: rate.clone(),
                expected: "expected a share from 0 to 1".to_string(),
            })?;
        Ok(Some(ServingConfig {
            max_batch: whole(ENV_MAX_BATCH)?,
            model_refresh_s: whole(ENV_MODEL_REFRESH_S)?,
            sample_rate,
            prediction_log_days: whole(ENV_PREDICTION_LOG_DAYS)?,
        }))
    }
}

/// Configuration of one deployed function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    pub stack: String,
    pub function: FunctionName,
    /// The data lake: `s3://bucket` on AWS, `file:///abs/path` locally.
    pub lake: String,
    /// The model registry: a DynamoDB table name on AWS, `file:///abs/path` locally.
    pub registry: String,
    /// The registered model name this stack trains and serves.
    pub model: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// The serving settings (`predict` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<ServingConfig>,
    /// The SNS topic (its name, in the function's own account and region) that alerts and
    /// training notifications are published to (`train` and `monitor` on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts_topic: Option<String>,
    /// The function the monitor invokes asynchronously when retraining is due, at its alias
    /// `live` (`monitor` on AWS; without it the monitor trains in-process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain_function: Option<String>,
}

/// Where a function's lake and registry are, read once from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local environment: the lake's and the registry's directories.
    Local {
        lake: std::path::PathBuf,
        registry: std::path::PathBuf,
    },
    /// AWS: the lake's S3 bucket and the registry's DynamoDB table.
    Aws { bucket: String, table: String },
    /// Azure: the lake's and the registry's blob containers, by URL.
    Azure { lake: String, registry: String },
}

impl Location {
    /// The environment a configuration's `lake` and `registry` name together: `file://` and
    /// `file://`, `s3://bucket` and a table name, or two `https://` container URLs.
    pub fn of(config: &FunctionConfig) -> Result<Location, ConfigError> {
        let (lake, registry) = (config.lake.as_str(), config.registry.as_str());
        let file = |uri: &str| uri.strip_prefix("file://").map(std::path::PathBuf::from);
        let url = |uri: &str| uri.starts_with("https://") || uri.starts_with("http://");
        if let Some(lake) = file(lake) {
            return match file(registry) {
                Some(registry) => Ok(Location::Local { lake, registry }),
                None => Err(ConfigError::Invalid {
                    name: ENV_REGISTRY,
                    value: registry.to_string(),
                    expected: "a `file://` directory, as the lake is".into(),
                }),
            };
        }
        if let Some(bucket) = lake.strip_prefix("s3://") {
            let bucket = bucket.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                return Err(ConfigError::Invalid {
                    name: ENV_LAKE,
                    value: lake.to_string(),
                    expected: "`s3://<bucket>`".into(),
                });
            }
            if registry.is_empty() || registry.contains("://") {
                return Err(ConfigError::Invalid {
                    name: ENV_REGISTRY,
                    value: registry.to_string(),
                    expected: "a DynamoDB table name, as the lake is in S3".into(),
                });
            }
            return Ok(Location::Aws {
                bucket: bucket.to_string(),
                table: registry.to_string(),
            });
        }
        if url(lake) {
            if !url(registry) {
                return Err(ConfigError::Invalid {
                    name: ENV_REGISTRY,
                    value: registry.to_string(),
                    expected: "a blob container URL, as the lake is one".into(),
                });
            }
            return Ok(Location::Azure {
                lake: lake.to_string(),
                registry: registry.to_string(),
            });
        }
        Err(ConfigError::Invalid {
            name: ENV_LAKE,
            value: lake.to_string(),
            expected: "`file:///path`, `s3://bucket` or a blob container URL".into(),
        })
    }
}

/// A configuration that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable `{0}` is not set; this function is deployed by `mlinfra up`")]
    Missing(&'static str),
    #[error("environment variable `{name}` is `{value}`: {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: String,
    },
}

impl FunctionConfig {
    /// The environment variables that carry this configuration.
    pub fn to_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::from([
            (ENV_STACK.to_string(), self.stack.clone()),
            (ENV_FUNCTION.to_string(), self.function.to_string()),
            (ENV_LAKE.to_string(), self.lake.clone()),
            (ENV_REGISTRY.to_string(), self.registry.clone()),
            (ENV_MODEL.to_string(), self.model.clone()),
            ("MLINFRA_MEMORY_MB".to_string(), self.memory_mb.to_string()),
            ("MLINFRA_TIMEOUT_S".to_string(), self.timeout_s.to_string()),
        ]);
        if let Some(s) = &self.serving {
            env.extend(s.to_env());
        }
        if let Some(t) = &self.alerts_topic {
            env.insert(ENV_ALERTS_TOPIC.to_string(), t.clone());
        }
        if let Some(f) = &self.retrain_function {
            env.insert(ENV_RETRAIN_FUNCTION.to_string(), f.clone());
        }
        env
    }

    /// Read the configuration back from a variable lookup (`std::env::var` in a function).
    ///
    /// ```
    /// use mlinfra_core::{ConfigError, FunctionConfig};
    ///
    /// let missing = FunctionConfig::from_env(|_| None).unwrap_err();
    /// assert_eq!(missing, ConfigError::Missing("MLINFRA_FUNCTION"));
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let num = |name: &'static str| -> Result<u32, ConfigError> {
            let v = req(name)?;
            v.parse().map_err(|_| ConfigError::Invalid {
                name,
                value: v,
                expected: "expected a whole number".to_string(),
            })
        };
        let f = req(ENV_FUNCTION)?;
        let function = f.parse().map_err(|e| ConfigError::Invalid {
            name: ENV_FUNCTION,
            value: f.clone(),
            expected: e,
        })?;
        Ok(FunctionConfig {
            stack: req(ENV_STACK)?,
            function,
            lake: req(ENV_LAKE)?,
            registry: req(ENV_REGISTRY)?,
            model: req(ENV_MODEL)?,
            memory_mb: num("MLINFRA_MEMORY_MB")?,
            timeout_s: num("MLINFRA_TIMEOUT_S")?,
            serving: ServingConfig::from_env(&get)?,
            alerts_topic: get(ENV_ALERTS_TOPIC).filter(|t| !t.is_empty()),
            retrain_function: get(ENV_RETRAIN_FUNCTION).filter(|f| !f.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FunctionConfig {
        FunctionConfig {
            stack: "heart-disease".into(),
            function: FunctionName::Predict,
            lake: "file:///tmp/lake".into(),
            registry: "file:///tmp/registry".into(),
            model: "heart-disease".into(),
            memory_mb: 256,
            timeout_s: 10,
            serving: Some(ServingConfig {
                max_batch: 1000,
                model_refresh_s: 30,
                sample_rate: 0.25,
                prediction_log_days: 90,
            }),
            alerts_topic: Some("heart-disease-alerts".into()),
            retrain_function: None,
        }
    }

    #[test]
    fn the_location_is_read_from_lake_and_registry_together() {
        let at = |lake: &str, registry: &str| {
            Location::of(&FunctionConfig {
                lake: lake.into(),
                registry: registry.into(),
                ..sample()
            })
        };
        assert_eq!(
            at("file:///l", "file:///r"),
            Ok(Location::Local {
                lake: "/l".into(),
                registry: "/r".into()
            })
        );
        assert_eq!(
            at("s3://bucket/", "table"),
            Ok(Location::Aws {
                bucket: "bucket".into(),
                table: "table".into()
            })
        );
        let blob = "http://127.0.0.1:10000/devstoreaccount1/lake?sv=1";
        assert!(matches!(at(blob, blob), Ok(Location::Azure { .. })));
        // Mixed or malformed: the variable, its value and what was expected.
        let e = at("file:///l", "table").expect_err("mixed");
        assert!(
            e.to_string().contains("`MLINFRA_REGISTRY` is `table`"),
            "{e}"
        );
        let e = at("s3://", "table").expect_err("no bucket");
        assert!(e.to_string().contains("`s3://<bucket>`"), "{e}");
        let e = at("gs://b", "t").expect_err("unknown");
        assert!(e.to_string().contains("`MLINFRA_LAKE` is `gs://b`"), "{e}");
    }

    #[test]
    fn env_round_trip() {
        let env = sample().to_env();
        let back = FunctionConfig::from_env(|k| env.get(k).cloned()).expect("round trip");
        assert_eq!(back, sample());
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let mut env = sample().to_env();
        env.remove(ENV_LAKE);
        assert_eq!(
            FunctionConfig::from_env(|k| env.get(k).cloned()),
            Err(ConfigError::Missing(ENV_LAKE))
        );
        let mut env = sample().to_env();
        env.insert("MLINFRA_MEMORY_MB".into(), "lots".into());
        let e = FunctionConfig::from_env(|k| env.get(k).cloned()).expect_err("invalid");
        assert!(
            e.to_string().contains("`MLINFRA_MEMORY_MB` is `lots`"),
            "{e}"
        );
        let mut env = sample().to_env();
        env.insert(ENV_SAMPLE_RATE.into(), "1.5".into());
        let e = FunctionConfig::from_env(|k| env.get(k).cloned()).expect_err("invalid");
        assert_eq!(
            e.to_string(),
            "environment variable `MLINFRA_SAMPLE_RATE` is `1.5`: expected a share from 0 to 1"
        );
        let mut env = sample().to_env();
        env.remove(ENV_MAX_BATCH);
        assert_eq!(
            FunctionConfig::from_env(|k| env.get(k).cloned()),
            Err(ConfigError::Missing(ENV_MAX_BATCH))
        );
    }
}
