//! What `up` deployed, read back from the environment's endpoint so that the executor and the
//! API Gateway front run what is deployed, not what the stack file says: a function's
//! configuration (`GetFunctionConfiguration`, its package checked against the deployed
//! `CodeSha256`), and the REST API's routes (`GetResources` with their methods, `GetMethod`
//! whose answer carries the integration), its API keys and its usage plan's throttle.

use std::path::Path;
use std::time::Duration;

use aws_sdk_lambda::config::ProvideCredentials as _;

use super::FunctionSpec;
use crate::providers::aws::{AwsError, AwsProvider};

/// One method of the deployed REST API.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The resource path (`/predict`).
    pub path: String,
    pub method: String,
    pub resource_id: String,
    pub key_required: bool,
    /// The function an `AWS_PROXY` integration invokes (its name), `None` for another kind.
    pub function: Option<String>,
}

/// The deployed REST API of the stack, as API Gateway would serve it.
#[derive(Debug, Clone)]
pub struct DeployedApi {
    pub id: String,
    pub stage: String,
    pub routes: Vec<Route>,
    /// Values and ids of the enabled API keys of the usage plans on this stage.
    pub keys: Vec<(String, String)>,
    /// The usage plan's throttle: steady requests per second and burst.
    pub throttle: Option<(f64, u32)>,
    /// The media types whose bodies reach the function base64-encoded.
    pub binary_media_types: Vec<String>,
    /// The `REQUEST_TOO_LARGE` gateway response set on the API: status and body.
    pub too_large: Option<(u16, String)>,
}

pub(super) fn sdk_failure<E>(
    what: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let e = AwsError::from_sdk(e);
    format!("{what}: {}: {}", e.code, e.message)
}

/// The function name an API Gateway Lambda integration URI invokes
/// (`arn:aws:apigateway:R:lambda:path/2015-03-31/functions/arn:aws:lambda:R:A:function:NAME[:ALIAS]/invocations`).
pub fn integration_function(uri: &str) -> Option<String> {
    let arn = uri
        .split_once("/functions/")?
        .1
        .strip_suffix("/invocations")?;
    arn.split(':').nth(6).map(str::to_string)
}

/// Read the stack's REST API (`name`) and its `stage` from the environment.
pub async fn api(p: &AwsProvider, name: &str, stage: &str) -> Result<DeployedApi, String> {
    let apigw = &p.clients.apigw;
    let id = p
        .rest_api_id("api", name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no REST API `{name}` is deployed"))?;
    let routes = crate::providers::aws::apigw::methods(p, "api", &id)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|m| Route {
            function: m
                .uri
                .as_deref()
                .filter(|_| m.integration.as_deref() == Some("AWS_PROXY"))
                .and_then(integration_function),
            path: m.path,
            method: m.method,
            resource_id: m.resource_id,
            key_required: m.key_required,
        })
        .collect();
    let plans = apigw
        .get_usage_plans()
        .limit(500)
        .send()
        .await
        .map_err(|e| sdk_failure("apigateway:GetUsagePlans", &e))?;
    let mut keys = Vec::new();
    let mut throttle = None;
    for plan in plans.items.unwrap_or_default() {
        let on_stage = plan
            .api_stages
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|s| s.api_id.as_deref() == Some(&id) && s.stage.as_deref() == Some(stage));
        let Some(plan_id) = plan.id.as_deref().filter(|_| on_stage) else {
            continue;
        };
        if let Some(t) = &plan.throttle {
            throttle = Some((t.rate_limit, u32::try_from(t.burst_limit).unwrap_or(0)));
        }
        let plan_keys = apigw
            .get_usage_plan_keys()
            .usage_plan_id(plan_id)
            .limit(500)
            .send()
            .await
            .map_err(|e| sdk_failure("apigateway:GetUsagePlanKeys", &e))?
            .items
            .unwrap_or_default();
        for k in plan_keys {
            let Some(kid) = k.id else { continue };
            let key = apigw
                .get_api_key()
                .api_key(&kid)
                .include_value(true)
                .send()
                .await
                .map_err(|e| sdk_failure("apigateway:GetApiKey", &e))?;
            if let (Some(value), true) = (key.value, key.enabled) {
                keys.push((value, kid));
            }
        }
    }
    let binary_media_types = crate::providers::aws::apigw::binary_media_types(p, "api", &id)
        .await
        .map_err(|e| e.to_string())?;
    let too_large =
        crate::providers::aws::apigw::gateway_response(p, "api", &id, "REQUEST_TOO_LARGE")
            .await
            .map_err(|e| e.to_string())?
            .and_then(|r| {
                Some((
                    r["status"].as_u64()? as u16,
                    r["body"].as_str()?.to_string(),
                ))
            });
    Ok(DeployedApi {
        id,
        stage: stage.to_string(),
        routes,
        keys,
        throttle,
        binary_media_types,
        too_large,
    })
}

/// How to run the deployed function `name` here: its package from `artifacts` (refused when it
/// is not the deployed code, unless `local_build`), unpacked under `root`, with the deployed
/// configuration, the environment's endpoint and region and the caller's credentials.
pub async fn function(
    p: &AwsProvider,
    name: &str,
    package: &[u8],
    unpacked: &Path,
    local_build: bool,
) -> Result<FunctionSpec, String> {
    let env_name = p.settings.env;
    let conf = p
        .clients
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(|e| {
            let e = AwsError::from_sdk(&e);
            format!(
                "cannot read the configuration of `{name}` on {env_name}: {}: {}\nhint: deploy it with `mlinfra up --env {env_name}`",
                e.code, e.message
            )
        })?;
    let local = crate::build::code_sha256(package);
    let deployed = conf.code_sha256().unwrap_or_default();
    if deployed != local && !local_build {
        return Err(format!(
            "the local `{name}` package (CodeSha256 {local}) is not the deployed code ({deployed})\nhint: deploy it with `mlinfra up --env {env_name}`, or run the local build anyway with `--local-build`"
        ));
    }
    let mut env: Vec<(String, String)> = conf
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    env.push(("AWS_REGION".into(), p.settings.region.clone()));
    if let Some(ep) = &p.settings.endpoint {
        env.push(("AWS_ENDPOINT_URL".into(), ep.clone()));
    }
    env.extend(caller_credentials(p).await?);
    Ok(FunctionSpec {
        name: name.to_string(),
        bootstrap: unpacked.join("bootstrap"),
        env,
        memory_mb: conf
            .memory_size()
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(128),
        timeout: Duration::from_secs(
            conf.timeout()
                .and_then(|t| u64::try_from(t).ok())
                .unwrap_or(3),
        ),
        concurrency: 1,
        arn: conf
            .function_arn()
            .map_or_else(|| name.to_string(), str::to_string),
    })
}

/// The caller's credentials as the variables Lambda gives a function its role's.
async fn caller_credentials(p: &AwsProvider) -> Result<Vec<(String, String)>, String> {
    const HINT: &str = "hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE";
    let Some(provider) = p.clients.sdk.credentials_provider() else {
        return Err(format!(
            "no AWS credentials to run the function with\n{HINT}"
        ));
    };
    let c = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials to run the function with: {e}\n{HINT}"))?;
    let mut v = vec![
        (
            "AWS_ACCESS_KEY_ID".to_string(),
            c.access_key_id().to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            c.secret_access_key().to_string(),
        ),
    ];
    if let Some(t) = c.session_token() {
        v.push(("AWS_SESSION_TOKEN".to_string(), t.to_string()));
    }
    Ok(v)
}

/// Take `bootstrap` out of a function's package into `dir` (replaced whole, never half-written).
pub fn unpack(package: &[u8], dir: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!("cannot unpack the package into `{}`: {e}", dir.display())
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(package)).map_err(|e| fail(&e))?;
    let mut entry = archive.by_name("bootstrap").map_err(|e| fail(&e))?;
    let tmp = dir.join("bootstrap.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| fail(&e))?;
    std::io::copy(&mut entry, &mut f).map_err(|e| fail(&e))?;
    drop(f);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, dir.join("bootstrap")).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_of_an_integration_uri() {
        assert_eq!(
            integration_function(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:heart-disease-predict:live/invocations"
            )
            .as_deref(),
            Some("heart-disease-predict")
        );
        assert_eq!(integration_function("https://example.com/backend"), None);
    }
}
