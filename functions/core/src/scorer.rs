//! Running an exported model with tract: load once, then score batches of raw feature rows.

use tract_onnx::prelude::*;

/// A loaded, optimised ONNX model.
pub struct Scorer {
    plan: std::sync::Arc<TypedSimplePlan>,
    pub features: usize,
    pub classes: usize,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("features", &self.features)
            .field("classes", &self.classes)
            .finish()
    }
}

/// Labels and probabilities of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub labels: Vec<i64>,
    /// Row-major `rows × classes`.
    pub probabilities: Vec<f32>,
}

impl Scorer {
    /// Load ONNX bytes. `features` and `classes` are the model's input and output widths.
    pub fn load(bytes: &[u8], features: usize, classes: usize) -> TractResult<Scorer> {
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])?
            .into_optimized()?
            .into_runnable()?;
        Ok(Scorer {
            plan,
            features,
            classes,
        })
    }

    /// Score `rows` rows given row-major (NaN = missing).
    pub fn score(&self, rows: usize, data: &[f32]) -> TractResult<Scores> {
        let input = Tensor::from_shape(&[rows, self.features], data)?;
        let out = self.plan.run(tvec!(input.into_tvalue()))?;
        let labels = out[0]
            .cast_to::<i64>()?
            .to_plain_array_view::<i64>()?
            .iter()
            .copied()
            .collect();
        let probabilities = out[1]
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect();
        Ok(Scores {
            labels,
            probabilities,
        })
    }
}
