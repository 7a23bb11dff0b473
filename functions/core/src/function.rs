//! The fixed set of functions a stack deploys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the platform's functions. Each is its own crate and Lambda binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionName {
    Etl,
    Train,
    Predict,
    Monitor,
}

impl FunctionName {
    /// Every function, in deployment order.
    pub const ALL: [FunctionName; 4] = [
        FunctionName::Etl,
        FunctionName::Train,
        FunctionName::Predict,
        FunctionName::Monitor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FunctionName::Etl => "etl",
            FunctionName::Train => "train",
            FunctionName::Predict => "predict",
            FunctionName::Monitor => "monitor",
        }
    }

    /// What the function does, for help texts and the stack reference.
    pub fn purpose(self) -> &'static str {
        match self {
            FunctionName::Etl => "validates new data in `raw/`, computes statistics, curates it",
            FunctionName::Train => "trains, tunes and evaluates a model, registers it when blessed",
            FunctionName::Predict => "serves predictions with confidence scores behind the API",
            FunctionName::Monitor => {
                "checks drift and accuracy, raises alerts, triggers retraining"
            }
        }
    }
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FunctionName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FunctionName::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown function `{s}`, expected one of etl, train, predict, monitor")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in FunctionName::ALL {
            assert_eq!(f.as_str().parse::<FunctionName>(), Ok(f));
            assert_eq!(
                serde_json::to_string(&f).expect("serialize"),
                format!("\"{f}\"")
            );
        }
        assert!("trian".parse::<FunctionName>().is_err());
    }
}
