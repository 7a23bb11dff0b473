//! Shared by the core's integration tests: the heart disease data as the stack reads it.

#![allow(dead_code, clippy::unwrap_used)]

use mlinfra_core::data::{Frame, LabelRule, Labels, ReadOptions, read_csv, take_label};

pub const HEART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/heart-disease/processed.cleveland.csv"
);

/// The read options of `stacks/heart-disease.yaml`.
pub fn heart_options() -> ReadOptions {
    ReadOptions {
        categorical: [
            "sex", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal",
        ]
        .map(String::from)
        .to_vec(),
        ..ReadOptions::default()
    }
}

/// `num > 0`.
pub fn binary() -> LabelRule {
    LabelRule::Binary {
        op: mlinfra_core::data::Compare::Gt,
        threshold: 0.0,
    }
}

pub fn heart(rule: &LabelRule) -> (Frame, Labels) {
    let mut f = read_csv(std::fs::File::open(HEART).unwrap(), &heart_options()).unwrap();
    let (l, _) = take_label(&mut f, "num", rule).unwrap();
    (f, l)
}
