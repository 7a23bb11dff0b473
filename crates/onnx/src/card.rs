//! The model card of an imported model: what its ONNX graph takes and answers, in the terms a
//! request uses. The CLI reads it from YAML (`mlinfra models import --card`), checks it against
//! the graph ([`crate::import::Imported::check`]) and stores it in the registered model file as
//! the `mlinfra.card` metadata entry (JSON), where serving reads it.
//!
//! Version 1 describes tabular models (one graph input per column, as skl2onnx names them, or
//! one float tensor `[N, F]` with its columns in the order given) and text models (one text
//! feature, tokenized by a Hugging Face `tokenizer.json` into the graph's `input_ids`,
//! `attention_mask` and `token_type_ids`: see [`TextInput`]) and image models (one picture,
//! decoded, resized and normalised into the graph's one input: see [`ImageInput`]).

use serde::{Deserialize, Serialize};

/// The card format this release writes and reads.
pub const VERSION: u32 = 1;

/// The metadata entry of a registered model file that holds its card.
pub const METADATA_KEY: &str = "mlinfra.card";
/// The metadata entry of a registered text model that holds its `tokenizer.json`.
pub const TOKENIZER_KEY: &str = "mlinfra.tokenizer";
/// The metadata entry that holds the sha256 of the file as it was imported.
pub const SOURCE_KEY: &str = "mlinfra.imported_from";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub version: u32,
    pub task: Task,
    pub input: Input,
    pub output: Output,
}

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A class among [`Output::classes`], with probabilities.
    #[default]
    Classification,
    /// A number.
    Regression,
}

impl Task {
    pub const NAMES: &'static [&'static str] = &["classification", "regression"];

    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

/// What the graph takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The features, in the order of the tensor's columns when there is one tensor.
    pub features: Vec<Feature>,
    /// The graph input that takes every feature as one float tensor `[N, F]`; `None` when each
    /// feature is a graph input of its own, named after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor: Option<String>,
    /// A text model: its one feature (of type text) is tokenized into the graph's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextInput>,
    /// An image model: its one feature (of type image) is decoded, resized and normalised
    /// into the graph's one input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInput>,
}

/// How an image model's one feature (a PNG or JPEG picture) becomes the graph's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInput {
    /// The graph input that takes the pixels.
    pub tensor: String,
    pub width: u32,
    pub height: u32,
    /// How a picture of another size is brought to `width × height`.
    #[serde(default)]
    pub resize: Resize,
    /// The order of the colour channels.
    #[serde(default)]
    pub channels: Channels,
    /// Where the channels are: `[N, C, H, W]` or `[N, H, W, C]`.
    #[serde(default)]
    pub layout: Layout,
    /// Each 0–255 value is multiplied by it (1/255 for pixels in [0, 1]).
    #[serde(default = "per_255")]
    pub scale: f32,
    /// Subtracted from each scaled value, per channel (in `channels` order); none when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f32>,
    /// Each value divided by it after the mean, per channel; none when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub std: Vec<f32>,
}

fn per_255() -> f32 {
    1.0 / 255.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// To `width × height` whatever the picture's proportions (Pillow's bilinear `resize`).
    #[default]
    Stretch,
    /// Scaled, bilinear, until it covers `width × height`, then the centre cut out
    /// (torchvision's `Resize` then `CenterCrop`).
    CenterCrop,
}

impl Resize {
    pub const NAMES: &'static [&'static str] = &["stretch", "center_crop"];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    #[default]
    Rgb,
    Bgr,
}

impl Channels {
    pub const NAMES: &'static [&'static str] = &["rgb", "bgr"];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

impl Layout {
    pub const NAMES: &'static [&'static str] = &["nchw", "nhwc"];
}

/// How a text model's one feature becomes the graph's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextInput {
    /// The Hugging Face tokenizer file (`tokenizer.json`), relative to the card. The registered
    /// model file carries its content as the `mlinfra.tokenizer` metadata entry.
    pub tokenizer: String,
    /// The most tokens a text becomes (special tokens included).
    pub max_length: usize,
    /// Whether a longer text is cut to `max_length` (the answer says so); else it is refused.
    #[serde(default = "yes")]
    pub truncation: bool,
    /// How a batch is padded: to its longest text, or always to `max_length`.
    #[serde(default)]
    pub padding: Padding,
    /// The graph input that takes the token ids `[N, L]`.
    pub input_ids: String,
    /// The graph input that takes the attention mask `[N, L]` (1 for a token, 0 for padding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_mask: Option<String>,
    /// The graph input that takes the token type ids `[N, L]` (the segment; 0 for one text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_ids: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// To the longest text of the batch.
    #[default]
    Longest,
    /// To `max_length`, whatever the batch.
    MaxLength,
}

impl Padding {
    pub const NAMES: &'static [&'static str] = &["longest", "max_length"];
}

/// One feature of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeatureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number (a float input).
    Number,
    /// A text category (a string input); a text model's text.
    Text,
    /// An image model's picture (PNG or JPEG).
    Image,
}

impl FeatureKind {
    pub const NAMES: &'static [&'static str] = &["number", "text", "image"];

    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Number => "number",
            FeatureKind::Text => "text",
            FeatureKind::Image => "image",
        }
    }
}

/// What the graph answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Output {
    /// Classification: the graph output with the class probabilities `[N, C]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<String>,
    /// Classification: the class names, in the order of the probabilities' columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Classification: the graph output with the class scores before softmax `[N, C]` (a
    /// sigmoid when one column scores the second of two classes), instead of probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logits: Option<String>,
    /// Regression: the graph output with the predicted value `[N]` or `[N, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Card {
    /// The card as JSON, as it is stored in the model file.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The graph input of each feature, in order: the tensor's name for every feature when
    /// there is one tensor.
    pub fn input_of(&self, feature: &Feature) -> String {
        self.input
            .tensor
            .clone()
            .unwrap_or_else(|| feature.name.clone())
    }
}

/// `bytes`, an ONNX model, with `entries` added to its metadata (`metadata_props`): appended as
/// protobuf fields, which a reader merges into the message, so every other byte of the file
/// stays as it was (fields that mlinfra's own schema does not know included).
pub fn with_metadata(bytes: &[u8], entries: &[(&str, &str)]) -> Vec<u8> {
    use prost::Message as _;
    let mut out = bytes.to_vec();
    for (key, value) in entries {
        let entry = crate::proto::StringStringEntryProto {
            key: key.to_string(),
            value: value.to_string(),
        };
        // Field 14 of ModelProto (metadata_props), length-delimited.
        prost::encoding::encode_key(14, prost::encoding::WireType::LengthDelimited, &mut out);
        // Writing to a Vec cannot fail.
        let _ = entry.encode_length_delimited(&mut out);
    }
    out
}

/// The card stored in a model file's metadata: `None` when it has none.
pub fn stored<'a>(
    props: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Result<Card, serde_json::Error>> {
    props
        .into_iter()
        .find(|(k, _)| *k == METADATA_KEY)
        .map(|(_, v)| serde_json::from_str(v))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn metadata_is_appended_and_the_rest_of_the_file_kept() {
        let model = crate::proto::ModelProto {
            ir_version: 8,
            producer_name: "skl2onnx".into(),
            ..Default::default()
        };
        let bytes = model.encode_to_vec();
        let out = with_metadata(&bytes, &[("mlinfra.card", "{}"), ("k", "v")]);
        assert_eq!(
            &out[..bytes.len()],
            &bytes[..],
            "the original bytes, unchanged"
        );
        let back = crate::proto::ModelProto::decode(&out[..]).unwrap();
        assert_eq!(back.producer_name, "skl2onnx");
        let props: Vec<(&str, &str)> = back
            .metadata_props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(props, [("mlinfra.card", "{}"), ("k", "v")]);
    }
}
