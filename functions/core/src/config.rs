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

/// Configuration of one deployed function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        BTreeMap::from([
            (ENV_STACK.to_string(), self.stack.clone()),
            (ENV_FUNCTION.to_string(), self.function.to_string()),
            (ENV_LAKE.to_string(), self.lake.clone()),
            (ENV_REGISTRY.to_string(), self.registry.clone()),
            (ENV_MODEL.to_string(), self.model.clone()),
            ("MLINFRA_MEMORY_MB".to_string(), self.memory_mb.to_string()),
            ("MLINFRA_TIMEOUT_S".to_string(), self.timeout_s.to_string()),
        ])
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
        }
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
    }
}
