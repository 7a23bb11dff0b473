//! `mlinfra export arm|terraform`: the platform in another tool's terms, from the stack file
//! alone (pure: no network): an Azure Resource Manager template for `az deployment group
//! create --template-file`, or the inputs of the Terraform module `terraform/aws`.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::{Failure, desired_graph, load_stack};
use crate::cli::Global;
use crate::engine::ResourceKind;
use crate::providers::azure::{self, arm};
use crate::stack::EnvKind;

pub fn arm(g: &Global, out: Option<&Path>) -> Result<i32, Failure> {
    let loaded = load_stack(g)?;
    let stack = &loaded.stack;
    let mut graph = desired_graph(stack)?;
    azure::add_defaults(&mut graph).map_err(Failure::new)?;
    azure::check_container_name(&stack.lake.bucket)
        .map_err(|e| Failure::new(format!("lake.bucket: {e}")))?;
    let registry = format!("{}-registry", stack.name);
    let template = arm::template(&graph, &stack.name, &stack.lake.bucket, &registry);
    write(&template, out, "the ARM template")
}

fn write(v: &Value, out: Option<&Path>, what: &str) -> Result<i32, Failure> {
    let mut text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::new(format!("cannot encode {what}: {e}")))?;
    text.push('\n');
    match out {
        None => print!("{text}"),
        Some(p) => {
            std::fs::write(p, &text)
                .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", p.display())))?;
            eprintln!("wrote {what} to {}", p.display());
        }
    }
    Ok(0)
}

pub fn terraform(g: &Global, out: Option<&Path>) -> Result<i32, Failure> {
    if let Some(env) = g.env
        && env != EnvKind::Aws
    {
        return Err(Failure::new(format!(
            "`export terraform` writes the inputs of the AWS module (terraform/aws), not `--env {}`\nhint: leave out `--env`, or pass `--env aws`",
            env.as_str()
        )));
    }
    let loaded = load_stack(g)?;
    let inputs = terraform_inputs(&loaded.stack, &g.artifacts)?;
    write(&inputs, out, "the Terraform module's inputs")
}

/// The inputs of `terraform/aws` for `stack`, with the packages in `artifacts`.
pub fn terraform_inputs(stack: &crate::stack::Stack, artifacts: &Path) -> Result<Value, Failure> {
    let Some(region) = stack.environments.aws.region.clone() else {
        return Err(Failure::new(format!(
            "stack `{}` has no AWS settings: `environments.aws.region` is not set, and the module's provider needs a region\nhint: add\n  environments:\n    aws:\n      region: eu-west-1",
            stack.name
        )));
    };
    let graph = desired_graph(stack)?;
    let of_kind = |k: ResourceKind| graph.resources.values().filter(move |r| r.kind == k);
    let mut functions = Map::new();
    for r in of_kind(ResourceKind::Function) {
        let f = r.props["function"].as_str().unwrap_or_default().to_string();
        let env = crate::providers::aws::lambda::environment_of(
            &stack.name,
            &stack.lake.bucket,
            &stack.model.name,
            &r.props,
        )
        .ok_or_else(|| Failure::new(format!("function `{f}`: incomplete settings")))?;
        let env: std::collections::BTreeMap<_, _> = env.into_iter().collect();
        let package = artifacts.join(&f).join("bootstrap.zip");
        let sha256 = std::fs::read(&package)
            .ok()
            .map(|b| mlinfra_core::pipeline::sha256_hex(&b));
        functions.insert(
            f,
            json!({
                "memory_mb": r.props["memory_mb"],
                "timeout_s": r.props["timeout_s"],
                "package": package.display().to_string(),
                "package_sha256": sha256,
                "environment": env,
            }),
        );
    }
    let schedules: Map<String, Value> = stack
        .schedules
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                json!({"expression": s.expression, "function": s.function, "enabled": s.enabled}),
            )
        })
        .collect();
    let api = graph
        .get("api")
        .map(|r| r.props.clone())
        .unwrap_or(Value::Null);
    let topic = graph
        .get("topic.alerts")
        .map(|r| r.props["subscriptions"].clone())
        .unwrap_or(json!([]));
    let thresholds: Map<String, Value> = of_kind(ResourceKind::Alarm)
        .map(|r| {
            (
                r.addr.trim_start_matches("alarm.").to_string(),
                r.props["threshold"].clone(),
            )
        })
        .collect();
    let settings = graph
        .get("settings.jobs")
        .map(|r| r.props.clone())
        .unwrap_or(Value::Null);
    let mut settings_json = serde_json::to_string_pretty(&settings)
        .map_err(|e| Failure::new(format!("cannot encode the jobs' settings: {e}")))?;
    settings_json.push('\n');
    Ok(json!({
        "stack": stack.name,
        "model": stack.model.name,
        "region": region,
        "bucket": stack.lake.bucket,
        "prediction_log_days": stack.lake.prediction_log_days,
        "functions": functions,
        "schedules": schedules,
        "api": {
            "stage": api["stage"],
            "auth": api["auth"],
            "rate_per_second": api["throttle"]["rate_per_second"],
            "burst": api["throttle"]["burst"],
            "quota_per_day": api["quota_per_day"],
            "binary_media_types": api["binary_media_types"],
            "too_large": api["gateway_responses"]["REQUEST_TOO_LARGE"]["body"],
        },
        "alerts": topic,
        "alarm_thresholds": thresholds,
        "settings_json": settings_json,
    }))
}
