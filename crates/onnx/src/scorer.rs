//! Running an exported model with tract: load once, then score batches of raw feature rows.
//!
//! A row is one `f32` per feature in training order, NaN for a missing value; a text feature's
//! cell is its category's index in the model's categories (-1 for a category the model has not
//! seen), which the serving and batch paths compute once while validating. The graph takes text
//! as strings ([`crate::export()`]), so the scorer gives it the category itself (`""` when missing,
//! a string outside the categories when unseen) and the graph maps it again.

use prost::Message as _;
use tract_onnx::prelude::*;

/// A loaded, optimised ONNX model.
pub struct Scorer {
    /// mlinfra's own export; `None` for an imported model.
    plan: Option<std::sync::Arc<TypedSimplePlan>>,
    /// An imported model and its card (see [`Scorer::imported`]).
    imported: Option<(crate::import::Imported, crate::card::Card)>,
    pub features: usize,
    pub classes: usize,
    /// Positions of the features that are numbers (the graph's `features` input).
    numbers: Vec<usize>,
    /// The text features: position, categories, and a string that is none of them.
    text: Vec<(usize, Vec<String>, String)>,
}

/// The text features of `features` (from the model's metadata): position, categories, and a
/// string that is none of them.
fn text_features(features: &[crate::FeatureMeta]) -> Vec<(usize, Vec<String>, String)> {
    features
        .iter()
        .enumerate()
        .filter(|(_, m)| m.text)
        .map(|(j, m)| {
            let mut unseen = String::from("\u{1}");
            while m.categories.contains(&unseen) {
                unseen.push('\u{1}');
            }
            (j, m.categories.clone(), unseen)
        })
        .collect()
}

/// A text cell of the row format as the graph takes it: its category, `""` when missing, a
/// string that is no category when unseen.
fn category(x: f32, categories: &[String], unseen: &str) -> String {
    if x.is_nan() {
        String::new()
    } else if x >= 0.0 && x.fract() == 0.0 && (x as usize) < categories.len() {
        categories[x as usize].clone()
    } else {
        unseen.to_string()
    }
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("features", &self.features)
            .field("classes", &self.classes)
            .finish()
    }
}

/// Labels and probabilities of a batch, or a regression's values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scores {
    /// A classification's predicted classes (empty for a regression).
    pub labels: Vec<i64>,
    /// Row-major `rows × classes` (empty for a regression).
    pub probabilities: Vec<f32>,
    /// A regression's predicted value per row (empty for a classification).
    pub values: Vec<f32>,
}

impl Scorer {
    /// Load ONNX bytes. `features` and `classes` are the model's input and output widths; which
    /// features are text comes from the model's metadata (all numbers when it has none).
    pub fn load(bytes: &[u8], features: usize, classes: usize) -> TractResult<Scorer> {
        let proto = tract_onnx::pb::ModelProto::decode(bytes)?;
        let metas = crate::feature_meta(
            proto
                .metadata_props
                .iter()
                .map(|p| (p.key.as_str(), p.value.as_str())),
        )
        .transpose()?;
        if let Some(m) = &metas
            && m.len() != features
        {
            tract_onnx::prelude::tract_data::internal::bail!(
                "the model describes {} features, not {features}",
                m.len()
            );
        }
        let metas = metas.unwrap_or_default();
        Scorer::with_features(bytes, &metas, features, classes)
    }

    /// Load ONNX bytes whose metadata's features (`metas`, read by the caller) are known.
    /// `classes` 0: a regression, whose graph answers values ([`crate::export::REGRESSION_OUTPUT`]).
    pub fn with_features(
        bytes: &[u8],
        metas: &[crate::FeatureMeta],
        features: usize,
        classes: usize,
    ) -> TractResult<Scorer> {
        let plan = if classes == 0 {
            crate::import::normalized_plan(bytes)?
        } else {
            tract_onnx::onnx()
                .model_for_read(&mut &bytes[..])?
                .into_optimized()?
                .into_runnable()?
        };
        let text = text_features(metas);
        let numbers = (0..features)
            .filter(|j| !text.iter().any(|t| t.0 == *j))
            .collect();
        Ok(Scorer {
            plan: Some(plan),
            imported: None,
            features,
            classes,
            numbers,
            text,
        })
    }

    /// An imported classification or regression model described by `card` (stored in its
    /// file), scored in the same row format: its features as the card lists them, each text feature's categories
    /// the ones its graph maps (a text feature whose graph takes any string is refused, since
    /// the row format carries a category's index). The features' metadata, for the caller.
    pub fn imported(
        bytes: &[u8],
        card: crate::card::Card,
    ) -> Result<(Scorer, Vec<crate::FeatureMeta>), String> {
        use crate::card::FeatureKind;
        let mut model = crate::import::Imported::load(bytes).map_err(|e| e.to_string())?;
        model
            .use_text(&card, None)
            .map_err(|e| format!("`input.text.tokenizer`: {e}"))?;
        let errors = model.check(&card);
        if !errors.is_empty() {
            return Err(format!(
                "the card does not match the graph: {}",
                errors.join("; ")
            ));
        }
        let mut metas = Vec::with_capacity(card.input.features.len());
        for f in &card.input.features {
            let text = f.kind == FeatureKind::Text;
            // A text model's text is any string, tokenized ([`Scorer::score_texts`]); an image
            // model's picture is decoded ([`Scorer::score_images`]).
            let categories = if text && card.input.text.is_none() {
                model.categories.get(&card.input_of(f)).cloned().ok_or_else(|| {
                    format!(
                        "the text feature `{}` goes into the graph as any string; mlinfra serves text features the graph maps through categories (OneHotEncoder, CategoryMapper)",
                        f.name
                    )
                })?
            } else {
                Vec::new()
            };
            metas.push(crate::FeatureMeta {
                name: f.name.clone(),
                kind: if text {
                    mlinfra_ml::data::Kind::Categorical
                } else {
                    mlinfra_ml::data::Kind::Numeric
                },
                categories,
                text,
            });
        }
        let text = text_features(&metas);
        let numbers = (0..metas.len())
            .filter(|j| !text.iter().any(|t| t.0 == *j))
            .collect();
        let scorer = Scorer {
            plan: None,
            features: metas.len(),
            classes: card.output.classes.len(),
            imported: Some((model, card)),
            numbers,
            text,
        };
        Ok((scorer, metas))
    }

    /// An imported model's answer for rows in the row format: the class with the highest
    /// probability (its index) as the label.
    fn score_imported(
        &self,
        model: &crate::import::Imported,
        card: &crate::card::Card,
        rows: usize,
        data: &[f32],
    ) -> TractResult<Scores> {
        use crate::import::Column;
        let columns: Vec<Column> = (0..self.features)
            .map(|j| match self.text.iter().find(|t| t.0 == j) {
                Some((_, categories, unseen)) => Column::Texts(
                    data.chunks_exact(self.features)
                        .map(|row| category(row[j], categories, unseen))
                        .collect(),
                ),
                None => Column::Numbers(data.chunks_exact(self.features).map(|r| r[j]).collect()),
            })
            .collect();
        let predictions = model
            .predict(card, &columns)
            .map_err(|e| tract_onnx::prelude::tract_data::internal::anyhow!(e))?;
        self.scores_of(predictions, rows)
    }

    /// A text model's card section (`None` for other models).
    pub fn text_spec(&self) -> Option<&crate::card::TextInput> {
        self.imported
            .as_ref()
            .and_then(|(_, card)| card.input.text.as_ref())
    }

    /// An image model's card section (`None` for other models).
    pub fn image_spec(&self) -> Option<&crate::card::ImageInput> {
        self.imported
            .as_ref()
            .and_then(|(_, card)| card.input.image.as_ref())
    }

    /// Score decoded pictures with an imported image model.
    pub fn score_images(&self, pictures: &[image::RgbImage]) -> TractResult<Scores> {
        let Some((model, card)) = &self.imported else {
            tract_onnx::prelude::tract_data::internal::bail!("the model takes no pictures");
        };
        let predictions = model
            .predict_images(card, pictures)
            .map_err(|e| tract_onnx::prelude::tract_data::internal::anyhow!(e))?;
        self.scores_of(predictions, pictures.len())
    }

    /// Whether the model takes text to tokenize ([`Scorer::score_texts`]) rather than rows.
    pub fn takes_text(&self) -> bool {
        self.imported
            .as_ref()
            .is_some_and(|(_, card)| card.input.text.is_some())
    }

    /// Score texts with an imported text model: the answers, and the tokens (how many, how
    /// many unknown, whether each text was cut to the card's `max_length`).
    pub fn score_texts(&self, texts: &[String]) -> TractResult<(Scores, crate::text::Tokens)> {
        let Some((model, card)) = &self.imported else {
            tract_onnx::prelude::tract_data::internal::bail!("the model takes no text");
        };
        let (predictions, tokens) = model
            .predict_text(card, texts)
            .map_err(|e| tract_onnx::prelude::tract_data::internal::anyhow!(e))?;
        Ok((self.scores_of(predictions, texts.len())?, tokens))
    }

    /// Labels (the most probable class's index) and probabilities of an imported model's
    /// answer for `rows` rows, or a regression's values.
    fn scores_of(
        &self,
        predictions: crate::import::Predictions,
        rows: usize,
    ) -> TractResult<Scores> {
        let (classes, values) = match predictions {
            crate::import::Predictions::Probabilities { classes, values } => (classes, values),
            crate::import::Predictions::Values(values) if self.classes == 0 => {
                if values.len() != rows {
                    tract_onnx::prelude::tract_data::internal::bail!(
                        "the model answered {} values for {rows} rows",
                        values.len()
                    );
                }
                return Ok(Scores {
                    values,
                    ..Scores::default()
                });
            }
            crate::import::Predictions::Values(_) => {
                tract_onnx::prelude::tract_data::internal::bail!(
                    "the model answers values, not probabilities"
                );
            }
        };
        if classes != self.classes || values.len() != rows * classes {
            tract_onnx::prelude::tract_data::internal::bail!(
                "the model answered {} values for {rows} rows of {} classes",
                values.len(),
                self.classes
            );
        }
        let labels = values
            .chunks_exact(classes.max(1))
            .map(|p| {
                let mut best = 0;
                for (k, v) in p.iter().enumerate() {
                    if *v > p[best] {
                        best = k;
                    }
                }
                best as i64
            })
            .collect();
        Ok(Scores {
            labels,
            probabilities: values,
            values: Vec::new(),
        })
    }

    /// The graph's inputs for `rows` rows given row-major (see the module's row format).
    fn inputs(&self, rows: usize, data: &[f32]) -> TractResult<TVec<TValue>> {
        if data.len() != rows * self.features {
            tract_onnx::prelude::tract_data::internal::bail!(
                "{} values for {rows} rows of {} features",
                data.len(),
                self.features
            );
        }
        if self.text.is_empty() {
            return Ok(tvec!(
                Tensor::from_shape(&[rows, self.features], data)?.into_tvalue()
            ));
        }
        let mut inputs = TVec::new();
        if !self.numbers.is_empty() {
            let mut numbers = Vec::with_capacity(rows * self.numbers.len());
            for row in data.chunks_exact(self.features) {
                numbers.extend(self.numbers.iter().map(|&j| row[j]));
            }
            inputs.push(Tensor::from_shape(&[rows, self.numbers.len()], &numbers)?.into_tvalue());
        }
        for (j, categories, unseen) in &self.text {
            let cells: Vec<String> = data
                .chunks_exact(self.features)
                .map(|row| category(row[*j], categories, unseen))
                .collect();
            let cells = tract_ndarray::Array2::from_shape_vec((rows, 1), cells)?;
            inputs.push(cells.into_tensor().into_tvalue());
        }
        Ok(inputs)
    }

    /// Score `rows` rows given row-major (see the module's row format).
    pub fn score(&self, rows: usize, data: &[f32]) -> TractResult<Scores> {
        if let Some((model, card)) = &self.imported {
            return self.score_imported(model, card, rows, data);
        }
        let Some(plan) = &self.plan else {
            tract_onnx::prelude::tract_data::internal::bail!("no model loaded");
        };
        let out = plan.run(self.inputs(rows, data)?)?;
        if self.classes == 0 {
            let values = out[0]
                .to_plain_array_view::<f32>()?
                .iter()
                .copied()
                .collect();
            return Ok(Scores {
                values,
                ..Scores::default()
            });
        }
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
            values: Vec::new(),
        })
    }
}
