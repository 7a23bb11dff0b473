//! Mirrors of the model registry in other tools' registries. The registry (DynamoDB on AWS)
//! stays the source of truth: a mirror is reconciled to it after every command that changes the
//! registry, never the other way, and `mlinfra models show` says whether it is in step.

pub mod sagemaker;
