//! Text for an imported model: a Hugging Face `tokenizer.json` (the `tokenizers` crate, the code
//! the Python package runs, so the ids are the ones it gives) turns strings into the graph's
//! `input_ids`, `attention_mask` and `token_type_ids`, truncated and padded as the model card's
//! [`TextInput`] says rather than as the file does.
//!
//! A tokenizer file is untrusted input: its size is bounded and every failure to read it is an
//! error that says so.

use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use crate::card::{Padding, TextInput};

/// The largest tokenizer file read (a large multilingual vocabulary is ~17 MB).
pub const MAX_TOKENIZER_BYTES: usize = 64 * 1024 * 1024;

/// The largest `max_length` a card may give.
pub const MAX_LENGTH: usize = 8192;

/// A tokenizer configured by a card.
#[derive(Clone)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    spec: TextInput,
    /// The id of the unknown token, when the vocabulary has one.
    unknown: Option<u32>,
    /// The vocabulary's size, added tokens included: every id is below it.
    pub vocabulary: usize,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("spec", &self.spec)
            .field("vocabulary", &self.vocabulary)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// When the card does not allow truncation, the error for the first text that was cut
    /// (`what` names the texts: `instances`, a file's lines).
    pub fn refused(&self, spec: &TextInput, what: &dyn Fn(usize) -> String) -> Option<String> {
        let i = self.truncated.iter().position(|t| *t)?;
        (!spec.truncation).then(|| {
            format!(
                "{} is longer than `max_length` ({} tokens), and the model card says `truncation: false`",
                what(i),
                spec.max_length
            )
        })
    }
}

/// A batch of texts as token ids, row-major `rows × length`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tokens {
    pub rows: usize,
    pub length: usize,
    pub ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub type_ids: Vec<i64>,
    /// Per text: its tokens before padding (special tokens included).
    pub counts: Vec<usize>,
    /// Per text: whether it was cut to `max_length`.
    pub truncated: Vec<bool>,
    /// Per text: how many of its tokens are the unknown token.
    pub unknown: Vec<usize>,
}

impl TextEncoder {
    /// Read a `tokenizer.json` and configure it as `spec` says.
    pub fn new(json: &[u8], spec: &TextInput) -> Result<TextEncoder, String> {
        if json.len() > MAX_TOKENIZER_BYTES {
            return Err(format!(
                "the tokenizer file is {} bytes, over the limit of {MAX_TOKENIZER_BYTES}",
                json.len()
            ));
        }
        if spec.max_length == 0 || spec.max_length > MAX_LENGTH {
            return Err(format!(
                "`input.text.max_length` is {}; expected 1 to {MAX_LENGTH}",
                spec.max_length
            ));
        }
        // One request's texts are few and short: tokenizing them on the caller's thread costs
        // microseconds, where rayon's pool would contend with the server's own threads.
        tokenizers::utils::parallelism::set_parallelism(false);
        let mut tokenizer = Tokenizer::from_bytes(json)
            .map_err(|e| format!("the tokenizer file is not a Hugging Face tokenizer.json: {e}"))?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| (p.pad_id, p.pad_token.clone()));
        let (pad_id, pad_token) = pad_id
            .or_else(|| {
                ["[PAD]", "<pad>", "<PAD>"]
                    .iter()
                    .find_map(|t| Some((tokenizer.token_to_id(t)?, t.to_string())))
            })
            .unwrap_or((0, String::new()));
        let unknown = ["[UNK]", "<unk>", "<UNK>"]
            .iter()
            .find_map(|t| tokenizer.token_to_id(t));
        // The card decides: a longer text is cut (and the answer says so) or found and refused.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: spec.max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| format!("the tokenizer cannot truncate to {}: {e}", spec.max_length))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: match spec.padding {
                Padding::Longest => PaddingStrategy::BatchLongest,
                Padding::MaxLength => PaddingStrategy::Fixed(spec.max_length),
            },
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        let vocabulary = tokenizer.get_vocab_size(true);
        Ok(TextEncoder {
            tokenizer,
            spec: spec.clone(),
            unknown,
            vocabulary,
        })
    }

    /// The card's text section.
    pub fn spec(&self) -> &TextInput {
        &self.spec
    }

    /// Tokenize a batch. A text longer than `max_length` tokens is cut (see
    /// [`Tokens::truncated`]); a caller whose card says `truncation: false` refuses it with
    /// [`Tokens::refused`].
    pub fn encode(&self, texts: &[String]) -> Result<Tokens, String> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| format!("tokenizing failed: {e}"))?;
        let length = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut tokens = Tokens {
            rows: encodings.len(),
            length,
            ..Tokens::default()
        };
        for e in &encodings {
            if e.get_ids().len() != length {
                return Err("the tokenizer padded texts to different lengths".into());
            }
            let truncated = !e.get_overflowing().is_empty();
            tokens.ids.extend(e.get_ids().iter().map(|&x| i64::from(x)));
            tokens
                .attention_mask
                .extend(e.get_attention_mask().iter().map(|&x| i64::from(x)));
            tokens
                .type_ids
                .extend(e.get_type_ids().iter().map(|&x| i64::from(x)));
            tokens
                .counts
                .push(e.get_attention_mask().iter().filter(|m| **m == 1).count());
            tokens.truncated.push(truncated);
            tokens.unknown.push(
                self.unknown
                    .map_or(0, |u| e.get_ids().iter().filter(|x| **x == u).count()),
            );
        }
        Ok(tokens)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A WordPiece tokenizer of a few tokens, as `tokenizers` writes one.
    fn tokenizer() -> Vec<u8> {
        serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [
                {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
            ],
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
            "decoder": null,
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "fire": 4, "help": 5, "the": 6, "##s": 7}}
        })
        .to_string()
        .into_bytes()
    }

    fn spec(max_length: usize, truncation: bool) -> TextInput {
        TextInput {
            tokenizer: "tokenizer.json".into(),
            max_length,
            truncation,
            padding: Padding::Longest,
            input_ids: "input_ids".into(),
            attention_mask: Some("attention_mask".into()),
            token_type_ids: None,
        }
    }

    #[test]
    fn a_batch_is_padded_to_its_longest_text_and_unknown_tokens_counted() {
        let enc = TextEncoder::new(&tokenizer(), &spec(16, true)).unwrap();
        let t = enc
            .encode(&["Fire!".into(), "help the fires".into()])
            .unwrap();
        assert_eq!((t.rows, t.length), (2, 6));
        assert_eq!(t.ids, [2, 4, 1, 3, 0, 0, 2, 5, 6, 4, 7, 3]);
        assert_eq!(t.attention_mask, [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(t.counts, [4, 6]);
        assert_eq!(t.unknown, [1, 0]);
        assert_eq!(t.truncated, [false, false]);
        assert_eq!(enc.vocabulary, 8);
    }

    #[test]
    fn a_long_text_is_cut_when_the_card_allows_it_and_refused_when_not() {
        let long = "help ".repeat(20);
        let t = TextEncoder::new(&tokenizer(), &spec(5, true))
            .unwrap()
            .encode(std::slice::from_ref(&long))
            .unwrap();
        assert_eq!(t.ids, [2, 5, 5, 5, 3]);
        assert_eq!(t.truncated, [true]);
        let strict = spec(5, false);
        let err = TextEncoder::new(&tokenizer(), &strict)
            .unwrap()
            .encode(&["help".into(), long])
            .unwrap()
            .refused(&strict, &|i| format!("instances[{i}].text"))
            .unwrap();
        assert!(
            err.starts_with("instances[1].text is longer than `max_length` (5 tokens)"),
            "{err}"
        );
        assert_eq!(t.refused(&spec(5, true), &|i| i.to_string()), None);
    }

    #[test]
    fn a_file_that_is_no_tokenizer_is_an_error() {
        let err = TextEncoder::new(b"{\"model\": 3}", &spec(8, true)).unwrap_err();
        assert!(err.contains("not a Hugging Face tokenizer.json"), "{err}");
        let err = TextEncoder::new(&tokenizer(), &spec(0, true)).unwrap_err();
        assert!(err.contains("`input.text.max_length` is 0"), "{err}");
    }
}
