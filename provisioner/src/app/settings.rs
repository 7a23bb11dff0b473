//! The stack file as the settings of the use cases: the pipeline's configuration, the
//! registry's promotion policy, the monitor's policy, and the jobs' settings document that holds
//! them for the functions. One place, so that the CLI, `serve` and the deployed functions (which
//! read the document `up` wrote) act on the same values.

use std::path::Path;

use mlinfra_core::jobs;
use mlinfra_core::metrics::Policy as BlessingPolicy;
use mlinfra_core::monitor::{Policy as MonitorPolicy, Thresholds};
use mlinfra_core::pipeline::Config;
use mlinfra_core::registry::Policy as RegistryPolicy;
use mlinfra_core::tune::{SearchConfig, Space};

use super::Failure;
use super::input::{label_rule, load_schema, read_options};
use crate::stack::Stack;

/// The stack's `monitoring` section as the monitor's policy.
pub fn monitoring_policy(stack: &Stack) -> MonitorPolicy {
    let m = &stack.monitoring;
    MonitorPolicy {
        window_days: u32::try_from(m.window_days).unwrap_or(u32::MAX),
        drift: Thresholds {
            psi: m.drift.psi,
            ks_p_value: m.drift.ks_p_value,
            wasserstein: m.drift.wasserstein,
            jensen_shannon: m.drift.jensen_shannon,
            chi2_p_value: m.drift.chi2_p_value,
            dataset_drift_share: m.drift.dataset_drift_share,
        },
        min_accuracy: m.min_accuracy,
        min_f1: m.min_f1,
        max_rmse: m.max_rmse,
        max_mae: m.max_mae,
        min_coverage: m.min_coverage,
        retrain_on: m.retrain_on.clone(),
        cooldown_hours: u32::try_from(m.cooldown_hours).unwrap_or(u32::MAX),
    }
}

/// The stack's settings for the jobs (a planned resource, `settings.jobs`, that the functions
/// read from the lake).
pub fn jobs(stack: &Stack) -> Result<jobs::Settings, Failure> {
    Ok(jobs::Settings {
        stack: stack.name.clone(),
        pipeline: pipeline(stack, None)?,
        promotion: registry_policy(stack),
        monitoring: monitoring_policy(stack),
    })
}

/// The stack's `promotion` section as the registry's policy.
pub fn registry_policy(stack: &Stack) -> RegistryPolicy {
    RegistryPolicy {
        metric: stack.promotion.metric,
        min_metric: stack.promotion.min_metric,
        staging_automatic: stack.promotion.staging == crate::stack::schema::Approval::Automatic,
        production_automatic: stack.promotion.production
            == crate::stack::schema::Approval::Automatic,
        emergency_rollback: stack.promotion.emergency_rollback,
    }
}

/// The pipeline configuration a stack describes (its schema file read when it names one), the
/// label column replaced by `label` when given.
pub fn pipeline(stack: &Stack, label: Option<&str>) -> Result<Config, Failure> {
    let t = &stack.model.tuning;
    let schema = match &stack.dataset.schema {
        Some(p) => Some(load_schema(Path::new(p))?),
        None => None,
    };
    Ok(Config {
        model_name: stack.model.name.clone(),
        task: stack.model.task,
        loss: stack.model.loss,
        interval_level: stack.model.interval_level,
        label: label.unwrap_or(&stack.dataset.label.column).to_string(),
        rule: label_rule(Some(stack)),
        read: read_options(Some(stack)),
        eval_fraction: stack.dataset.split.eval_fraction,
        split_seed: stack.dataset.split.seed,
        space: Space {
            families: stack.model.families.clone(),
            l2: if stack.model.task == mlinfra_core::onnx::card::Task::Regression {
                t.ridge.l2.clone()
            } else {
                t.logistic_regression.l2.clone()
            },
            max_depth: t.gradient_boosted_trees.max_depth.clone(),
            learning_rate: t.gradient_boosted_trees.learning_rate.clone(),
            rounds: t.gradient_boosted_trees.rounds.clone(),
            min_leaf: t.gradient_boosted_trees.min_leaf.clone(),
        },
        search: SearchConfig {
            strategy: t.strategy,
            trials: t.trials as usize,
            folds: t.folds as usize,
            metric: t.metric,
            seed: t.seed,
            early_stopping_rounds: t.early_stopping_rounds as usize,
        },
        policy: BlessingPolicy {
            metric: stack.promotion.metric,
            min_metric: stack.promotion.min_metric,
            min_improvement: stack.promotion.min_improvement,
        },
        schema,
    })
}
