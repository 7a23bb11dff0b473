//! The registry's SageMaker mirror as the commands use it: set up from the stack
//! (`registry.sagemaker_mirror`, on `--env aws|localstack`), brought in step after every command
//! that changes the registry (a failure is reported, and the change stands), checked by `models
//! show`, repaired by `models sync`. The mirror itself is [`crate::mirror::sagemaker`].

use mlinfra_core::registry::{Registry, Store};

use super::{Context, Failure};
use crate::mirror::sagemaker::{Drift, desired};

/// The SageMaker mirror of this environment, when the stack asks for one.
pub struct SageMaker {
    mirror: crate::mirror::sagemaker::Mirror,
    bucket: String,
}

/// Whether the mirror is in step, for `models show`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MirrorState {
    pub in_step: bool,
    pub drift: Vec<String>,
    /// Set when SageMaker could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MirrorState {
    pub fn line(&self) -> String {
        match (&self.error, self.in_step) {
            (Some(e), _) => format!("unknown: {e}"),
            (None, true) => "in step".to_string(),
            (None, false) => format!(
                "out of step: {}; `mlinfra models sync` repairs it",
                self.drift.join("; ")
            ),
        }
    }
}

/// The mirror of `cx`'s environment: `None` when the stack does not ask for one or the
/// environment has no SageMaker (`local`, `azurite`); an error when this mlinfra was built
/// without the `sagemaker` feature, before anything changes.
pub async fn sagemaker(cx: &Context) -> Result<Option<SageMaker>, Failure> {
    use crate::stack::EnvKind;
    if !cx.loaded.stack.registry.sagemaker_mirror
        || !matches!(cx.env, EnvKind::Aws | EnvKind::Localstack)
    {
        return Ok(None);
    }
    #[cfg(not(feature = "sagemaker"))]
    {
        Err(Failure::new(
            "`registry.sagemaker_mirror: true`, but this mlinfra was built without the SageMaker mirror\nhint: install it with the `sagemaker` feature (`cargo install mlinfra --features sagemaker`), or set `registry.sagemaker_mirror: false`",
        ))
    }
    #[cfg(feature = "sagemaker")]
    {
        let (provider, _) = cx.infra().await?;
        let crate::providers::AnyProvider::Aws(p) = provider else {
            return Ok(None);
        };
        Ok(Some(SageMaker {
            mirror: crate::mirror::sagemaker::Mirror::new(
                &p.clients.sdk,
                &cx.loaded.stack.model.name,
            ),
            bucket: p.settings.bucket.clone(),
        }))
    }
}

impl SageMaker {
    /// Bring SageMaker in step with the registry after a change. A failure (after the SDK's
    /// retries) is reported on stderr with what repairs it; the registry change stands.
    pub async fn follow<S: Store>(&self, reg: &Registry<S>, model: &str) {
        if let Err(e) = self.sync(reg, model).await {
            eprintln!(
                "warning: the SageMaker mirror is out of step: {e}\nhint: the registry change stands (the registry is the source of truth); `mlinfra models sync` brings SageMaker in step, and so does the next `mlinfra models` command that changes the registry"
            );
        }
    }

    /// What SageMaker should hold now.
    async fn desired<S: Store>(
        &self,
        reg: &Registry<S>,
        model: &str,
    ) -> Result<Vec<crate::mirror::sagemaker::Desired>, String> {
        let doc = reg.doc(model).await.map_err(|e| e.to_string())?;
        Ok(desired(&doc, Some(&self.bucket)))
    }

    /// Reconcile: what was created and updated.
    pub async fn sync<S: Store>(
        &self,
        reg: &Registry<S>,
        model: &str,
    ) -> Result<crate::mirror::sagemaker::Synced, String> {
        let want = self.desired(reg, model).await?;
        self.mirror.sync(&want).await
    }

    /// Whether SageMaker holds what the registry says.
    pub async fn state<S: Store>(&self, reg: &Registry<S>, model: &str) -> MirrorState {
        let drift: Result<Vec<Drift>, String> = match self.desired(reg, model).await {
            Ok(want) => self.mirror.check(&want).await,
            Err(e) => Err(e),
        };
        match drift {
            Ok(d) => MirrorState {
                in_step: d.is_empty(),
                drift: d.iter().map(ToString::to_string).collect(),
                error: None,
            },
            Err(e) => MirrorState {
                in_step: false,
                drift: Vec::new(),
                error: Some(e),
            },
        }
    }
}
