//! mlinfra's models as ONNX files: [`export`] writes a trained model with its preprocessing
//! (imputation, scaling, one-hot and text categories) inside the graph, using only operators
//! that both tract and onnxruntime run, and its metadata (`mlinfra.*` entries) beside it;
//! [`proto`] is the part of the ONNX schema that takes. With the feature `runtime`, [`scorer`]
//! runs such a file with tract, and [`import`] makes files exported by other tools (skl2onnx,
//! onnxmltools, torch.onnx) runnable by it, with [`text`] tokenizing for text models and [`images`] decoding
//! pictures for image models.
//!
//! Training links only the export; serving links the runtime too.

pub mod card;
mod export;
#[cfg(feature = "runtime")]
pub mod images;
#[cfg(feature = "runtime")]
pub mod import;
pub mod proto;
#[cfg(feature = "runtime")]
pub mod scorer;
#[cfg(feature = "runtime")]
pub mod text;
#[cfg(feature = "runtime")]
pub mod trees;

pub use export::*;
