//! Lambda functions (`provided.al2023`, a `bootstrap` zip from `mlinfra build`) with their
//! environment, memory, timeout and the alias `live`; and the S3 notification `raw/` → `etl`
//! with the permission it needs.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter,
};
use mlinfra_core::{FunctionConfig, FunctionName};
use serde_json::{Value, json};

use super::{AwsError, AwsProvider, Ctx as _, invalid, prop_str, recorded_or, touched, wait_for};
use crate::engine::{Change, Resource};
use crate::providers::{Deleted, ProviderError};

/// The alias every invoker (S3, EventBridge, API Gateway) targets.
pub const ALIAS: &str = "live";
/// The id of the bucket notification and of its invoke permission.
const NOTIFICATION_ID: &str = "mlinfra-raw-to-etl";

fn function_of(addr: &str) -> &str {
    addr.strip_prefix("function.").unwrap_or(addr)
}

impl AwsProvider {
    /// `arn:aws:lambda:<region>:<account>:function:<stack>-<fn>:live`.
    pub async fn alias_arn(&self, function: &str) -> Result<String, ProviderError> {
        self.arn(
            "lambda",
            &format!("function:{}:{ALIAS}", self.name(function)),
        )
        .await
    }

    /// Allow `principal` to invoke a function's `live` alias from `source_arn`; an existing
    /// statement of the same id is kept.
    pub async fn allow_invoke(
        &self,
        addr: &str,
        function: &str,
        sid: &str,
        principal: &str,
        source_arn: &str,
    ) -> Result<(), ProviderError> {
        let res = self
            .clients
            .lambda
            .add_permission()
            .function_name(self.name(function))
            .qualifier(ALIAS)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .source_arn(source_arn)
            .source_account(self.account().await?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.code == "ResourceConflictException" {
                    Ok(())
                } else {
                    Err(a.into_provider(addr, "lambda:AddPermission"))
                }
            }
        }
    }

    /// Remove an invoke permission; a missing one (or function) is fine.
    pub async fn revoke_invoke(
        &self,
        addr: &str,
        function: &str,
        sid: &str,
    ) -> Result<(), ProviderError> {
        self.clients
            .lambda
            .remove_permission()
            .function_name(self.name(function))
            .qualifier(ALIAS)
            .statement_id(sid)
            .send()
            .await
            .found(addr, "lambda:RemovePermission")?;
        Ok(())
    }

    /// The statement ids of the resource policy of a function's alias.
    pub async fn invoke_statements(
        &self,
        addr: &str,
        function: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let policy = self
            .clients
            .lambda
            .get_policy()
            .function_name(self.name(function))
            .qualifier(ALIAS)
            .send()
            .await
            .found(addr, "lambda:GetPolicy")?
            .and_then(|o| o.policy)
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        Ok(policy
            .and_then(|p| p["Statement"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["Sid"].as_str().map(str::to_string))
            .collect())
    }
}

/// The environment variables of a function: the `FunctionConfig` contract, plus the serving
/// settings of `predict`.
pub fn environment(p: &AwsProvider, props: &Value) -> Option<HashMap<String, String>> {
    environment_of(
        &p.settings.stack,
        &p.settings.bucket,
        &p.settings.model,
        props,
    )
}

/// [`environment`] from the stack's name, bucket and model (what `export terraform` writes).
pub fn environment_of(
    stack: &str,
    bucket: &str,
    model: &str,
    props: &Value,
) -> Option<HashMap<String, String>> {
    let function: FunctionName = serde_json::from_value(props["function"].clone()).ok()?;
    let num = |k: &str| props[k].as_u64().and_then(|v| u32::try_from(v).ok());
    let name = |suffix: &str| format!("{stack}-{suffix}");
    let config = FunctionConfig {
        stack: stack.to_string(),
        function,
        lake: format!("s3://{bucket}"),
        registry: name("registry"),
        model: model.to_string(),
        memory_mb: num("memory_mb")?,
        timeout_s: num("timeout_s")?,
        serving: crate::engine::graph::serving_of(props),
        alerts_topic: matches!(function, FunctionName::Train | FunctionName::Monitor)
            .then(|| name("alerts")),
        retrain_function: (function == FunctionName::Monitor).then(|| name("train")),
    };
    Some(config.to_env().into_iter().collect())
}

pub async fn read(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let function = function_of(addr);
    let name = recorded_or(&live, "name", || p.name(function));
    let lambda = &p.clients.lambda;
    let Some(conf) = lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .found(addr, "lambda:GetFunction")?
        .and_then(|o| o.configuration)
    else {
        return Ok(None);
    };
    live["name"] = json!(name);
    live["function"] = json!(function);
    live["runtime"] = json!(conf.runtime.as_ref().map(|r| r.as_str()));
    live["memory_mb"] = json!(conf.memory_size);
    live["timeout_s"] = json!(conf.timeout);
    live["code_sha256"] = json!(conf.code_sha256);
    let alias = lambda
        .get_alias()
        .function_name(&name)
        .name(ALIAS)
        .send()
        .await
        .found(addr, "lambda:GetAlias")?;
    live["alias"] = json!(alias.map(|_| ALIAS));
    let env = conf
        .environment
        .and_then(|e| e.variables)
        .unwrap_or_default();
    for (k, var) in [
        ("model_refresh_s", mlinfra_core::config::ENV_MODEL_REFRESH_S),
        ("max_batch", mlinfra_core::config::ENV_MAX_BATCH),
        ("sample_rate", mlinfra_core::config::ENV_SAMPLE_RATE),
        (
            "prediction_log_days",
            mlinfra_core::config::ENV_PREDICTION_LOG_DAYS,
        ),
    ] {
        if let Some(v) = env.get(var) {
            live[k] = serde_json::from_str(v).unwrap_or(json!(v));
        } else if !live[k].is_null() {
            live[k] = Value::Null;
        }
    }
    if environment(p, &live).as_ref() != Some(&env) {
        live["environment"] = json!(env);
    }
    Ok(Some(live))
}

fn zip_path(p: &AwsProvider, function: &str) -> std::path::PathBuf {
    p.settings.artifacts.join(function).join("bootstrap.zip")
}

fn read_zip(p: &AwsProvider, addr: &str, function: &str) -> Result<Vec<u8>, ProviderError> {
    let path = zip_path(p, function);
    std::fs::read(&path).map_err(|e| {
        ProviderError::new(
            addr,
            "NoArtifact",
            format!(
                "cannot read `{}`: {e}\nhint: run `mlinfra build` first",
                path.display()
            ),
        )
    })
}

/// Wait until the function is Active and its last update finished.
async fn wait_ready(p: &AwsProvider, addr: &str, name: &str) -> Result<(), ProviderError> {
    wait_for(
        addr,
        "the function to become Active",
        Duration::from_secs(300),
        || async {
            let c = p
                .clients
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .ctx(addr, "lambda:GetFunctionConfiguration")?;
            if c.state == Some(State::Failed)
                || c.last_update_status == Some(LastUpdateStatus::Failed)
            {
                return Err(ProviderError::new(
                    addr,
                    "FunctionFailed",
                    c.state_reason
                        .or(c.last_update_status_reason)
                        .unwrap_or_else(|| "the function failed to deploy".into()),
                ));
            }
            let active = c.state.is_none_or(|s| s == State::Active);
            let updated = c
                .last_update_status
                .is_none_or(|s| s == LastUpdateStatus::Successful);
            Ok((active && updated).then_some(()))
        },
    )
    .await
}

pub async fn put(
    p: &AwsProvider,
    r: &Resource,
    changes: Option<&[Change]>,
) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let function = prop_str(r, "function")?;
    let lambda = &p.clients.lambda;
    let env =
        environment(p, &r.props).ok_or_else(|| invalid(addr, "incomplete function properties"))?;
    let memory = r.props["memory_mb"].as_i64().map(|v| v as i32);
    let timeout = r.props["timeout_s"].as_i64().map(|v| v as i32);
    let role = format!(
        "arn:aws:iam::{}:role/{}",
        p.account().await?,
        p.name(&format!("{function}-role"))
    );
    let environment = Environment::builder().set_variables(Some(env)).build();
    // An update that renames the function creates the new one.
    let exists = changes.is_some() && !touched(changes, "name");
    if !exists {
        let zip = read_zip(p, addr, function)?;
        // A new role takes a few seconds before Lambda may assume it: retry while Lambda
        // says so, rather than sleeping a fixed time.
        wait_for(
            addr,
            "the IAM role to become assumable by Lambda",
            Duration::from_secs(120),
            || async {
                let res = lambda
                    .create_function()
                    .function_name(name)
                    .runtime(Runtime::Providedal2023)
                    .architectures(Architecture::X8664)
                    .handler("bootstrap")
                    .role(&role)
                    .code(
                        FunctionCode::builder()
                            .zip_file(Blob::new(zip.clone()))
                            .build(),
                    )
                    .set_memory_size(memory)
                    .set_timeout(timeout)
                    .environment(environment.clone())
                    .description(format!("mlinfra: {function} of stack {}", p.settings.stack))
                    .send()
                    .await;
                match res {
                    Ok(_) => Ok(Some(())),
                    Err(e) => {
                        let a = AwsError::from_sdk(&e);
                        if a.code == "InvalidParameterValueException"
                            && a.message.contains("assume")
                        {
                            Ok(None)
                        } else if a.code == "ResourceConflictException" {
                            // Created by an earlier, interrupted apply: converge it below.
                            Ok(Some(()))
                        } else {
                            Err(a.into_provider(addr, "lambda:CreateFunction"))
                        }
                    }
                }
            },
        )
        .await?;
        wait_ready(p, addr, name).await?;
    }
    let touched = |f: &str| touched(changes, f);
    if exists && touched("code_sha256") {
        let zip = read_zip(p, addr, function)?;
        lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip))
            .send()
            .await
            .ctx(addr, "lambda:UpdateFunctionCode")?;
        wait_ready(p, addr, name).await?;
    }
    let config_fields = [
        "runtime",
        "memory_mb",
        "timeout_s",
        "environment",
        "model_refresh_s",
        "max_batch",
        "sample_rate",
        "prediction_log_days",
        "function",
    ];
    if exists && config_fields.iter().any(|f| touched(f)) {
        lambda
            .update_function_configuration()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .set_memory_size(memory)
            .set_timeout(timeout)
            .environment(environment)
            .send()
            .await
            .ctx(addr, "lambda:UpdateFunctionConfiguration")?;
        wait_ready(p, addr, name).await?;
    }
    let version = lambda
        .publish_version()
        .function_name(name)
        .send()
        .await
        .ctx(addr, "lambda:PublishVersion")?
        .version
        .ok_or_else(|| invalid(addr, "PublishVersion returned no version"))?;
    let updated = lambda
        .update_alias()
        .function_name(name)
        .name(ALIAS)
        .function_version(&version)
        .send()
        .await
        .found(addr, "lambda:UpdateAlias")?;
    if updated.is_none() {
        lambda
            .create_alias()
            .function_name(name)
            .name(ALIAS)
            .function_version(&version)
            .send()
            .await
            .ctx(addr, "lambda:CreateAlias")?;
    }
    Ok(json!({
        "arn": p.arn("lambda", &format!("function:{name}")).await?,
        "alias_arn": p.alias_arn(function).await?,
        "version": version,
    }))
}

pub async fn delete(p: &AwsProvider, addr: &str, props: &Value) -> Result<Deleted, ProviderError> {
    let name = recorded_or(props, "name", || p.name(function_of(addr)));
    Ok(Deleted::if_existed(
        p.clients
            .lambda
            .delete_function()
            .function_name(&name)
            .send()
            .await
            .found(addr, "lambda:DeleteFunction")?
            .is_some(),
    ))
}

async fn notification_config(
    p: &AwsProvider,
    addr: &str,
    bucket: &str,
) -> Result<Option<NotificationConfiguration>, ProviderError> {
    let res = p
        .clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await;
    let out = match res {
        Ok(out) => out,
        Err(e) => {
            let a = AwsError::from_sdk(&e);
            if a.is_not_found() {
                return Ok(None);
            }
            // A bucket without notifications: some emulators (moto) answer 200 with a
            // `GetBucketNotificationResponse` root element the SDK does not parse.
            if a.status == Some(200) {
                return Ok(Some(NotificationConfiguration::builder().build()));
            }
            return Err(a.into_provider(addr, "s3:GetBucketNotificationConfiguration"));
        }
    };
    Ok(Some(
        NotificationConfiguration::builder()
            .set_lambda_function_configurations(out.lambda_function_configurations)
            .set_queue_configurations(out.queue_configurations)
            .set_topic_configurations(out.topic_configurations)
            .set_event_bridge_configuration(out.event_bridge_configuration)
            .build(),
    ))
}

pub async fn read_notification(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let bucket = recorded_or(&live, "bucket", || p.settings.bucket.clone());
    let Some(conf) = notification_config(p, addr, &bucket).await? else {
        return Ok(None);
    };
    let Some(ours) = conf
        .lambda_function_configurations
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.id.as_deref() == Some(NOTIFICATION_ID))
    else {
        return Ok(None);
    };
    live["bucket"] = json!(bucket);
    let prefix = ours
        .filter
        .and_then(|f| f.key)
        .and_then(|k| k.filter_rules)
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.name == Some(FilterRuleName::Prefix))
        .and_then(|r| r.value);
    live["prefix"] = json!(prefix);
    let target = ours.lambda_function_arn;
    live["function"] = if target == p.alias_arn("etl").await? {
        json!("etl")
    } else {
        json!(target)
    };
    if !p
        .invoke_statements(addr, "etl")
        .await?
        .iter()
        .any(|s| s == NOTIFICATION_ID)
    {
        live["permission"] = json!("missing");
    }
    Ok(Some(live))
}

pub async fn put_notification(p: &AwsProvider, r: &Resource) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let bucket = prop_str(r, "bucket")?;
    let prefix = prop_str(r, "prefix")?;
    let function = prop_str(r, "function")?;
    p.allow_invoke(
        addr,
        function,
        NOTIFICATION_ID,
        "s3.amazonaws.com",
        &format!("arn:aws:s3:::{bucket}"),
    )
    .await?;
    let ours = LambdaFunctionConfiguration::builder()
        .id(NOTIFICATION_ID)
        .lambda_function_arn(p.alias_arn(function).await?)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(
            NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(
                            FilterRule::builder()
                                .name(FilterRuleName::Prefix)
                                .value(prefix)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build()
        .map_err(|e| invalid(addr, e.to_string()))?;
    let current = notification_config(p, addr, bucket).await?;
    let mut lambdas: Vec<LambdaFunctionConfiguration> = current
        .as_ref()
        .and_then(|c| c.lambda_function_configurations.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.id.as_deref() != Some(NOTIFICATION_ID))
        .collect();
    lambdas.push(ours);
    let conf = NotificationConfiguration::builder()
        .set_lambda_function_configurations(Some(lambdas))
        .set_queue_configurations(
            current
                .as_ref()
                .and_then(|c| c.queue_configurations.clone()),
        )
        .set_topic_configurations(
            current
                .as_ref()
                .and_then(|c| c.topic_configurations.clone()),
        )
        .build();
    p.clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(conf)
        .send()
        .await
        .ctx(addr, "s3:PutBucketNotificationConfiguration")?;
    Ok(json!({ "id": NOTIFICATION_ID }))
}

pub async fn delete_notification(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
) -> Result<Deleted, ProviderError> {
    let bucket = recorded_or(props, "bucket", || p.settings.bucket.clone());
    let function = props["function"].as_str().unwrap_or("etl");
    let mut existed = false;
    if let Some(current) = notification_config(p, addr, &bucket).await? {
        let all = current
            .lambda_function_configurations
            .clone()
            .unwrap_or_default();
        existed = all.iter().any(|c| c.id.as_deref() == Some(NOTIFICATION_ID));
        if existed {
            let rest: Vec<_> = all
                .into_iter()
                .filter(|c| c.id.as_deref() != Some(NOTIFICATION_ID))
                .collect();
            let conf = NotificationConfiguration::builder()
                .set_lambda_function_configurations(Some(rest))
                .set_queue_configurations(current.queue_configurations)
                .set_topic_configurations(current.topic_configurations)
                .build();
            p.clients
                .s3
                .put_bucket_notification_configuration()
                .bucket(&bucket)
                .notification_configuration(conf)
                .send()
                .await
                .ctx(addr, "s3:PutBucketNotificationConfiguration")?;
        }
    }
    p.revoke_invoke(addr, function, NOTIFICATION_ID).await?;
    Ok(Deleted::if_existed(existed))
}
