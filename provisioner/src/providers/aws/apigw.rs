//! The prediction API: an API Gateway REST API (v1) with `POST /predict`, `POST /feedback`,
//! `GET /health` and the Open Inference Protocol's `GET /v2` and `ANY /v2/{proxy+}` proxied to
//! the `predict` function's `live` alias, a deployment and stage, a usage plan with the stack's
//! throttling and daily quota, and the API key attached to it; pictures' media types declared
//! binary, and a 413 gateway response that names the payload limits.
//! The key's value stays in API Gateway: the state records only its id.

use std::collections::BTreeMap;

use aws_sdk_apigateway::types::{
    ApiStage, EndpointConfiguration, EndpointType, GatewayResponseType, IntegrationType, Op,
    PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings,
};
use serde_json::{Value, json};

use super::{AwsProvider, Ctx as _, invalid, prop_str, recorded_or, touched};
use crate::engine::{Change, Resource};
use crate::providers::{Deleted, ProviderError};

/// The id of the invoke permission API Gateway gets on `predict`.
const PERMISSION_ID: &str = "mlinfra-api";

impl AwsProvider {
    /// The id of the REST API of this name, if one exists.
    pub async fn rest_api_id(
        &self,
        addr: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        let mut position = None;
        loop {
            let out = self
                .clients
                .apigw
                .get_rest_apis()
                .limit(500)
                .set_position(position)
                .send()
                .await
                .ctx(addr, "apigateway:GetRestApis")?;
            if let Some(api) = out
                .items
                .unwrap_or_default()
                .into_iter()
                .find(|a| a.name.as_deref() == Some(name))
            {
                return Ok(api.id);
            }
            match out.position {
                Some(p) if !p.is_empty() => position = Some(p),
                _ => return Ok(None),
            }
        }
    }

    /// The usage plan of this name: (id, rate, burst, daily quota).
    async fn usage_plan(
        &self,
        addr: &str,
        name: &str,
    ) -> Result<Option<aws_sdk_apigateway::types::UsagePlan>, ProviderError> {
        let out = self
            .clients
            .apigw
            .get_usage_plans()
            .limit(500)
            .send()
            .await
            .ctx(addr, "apigateway:GetUsagePlans")?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .find(|u| u.name.as_deref() == Some(name)))
    }

    /// The invoke URL of a stage: AWS's form, or LocalStack's on an emulator.
    pub fn invoke_url(&self, id: &str, stage: &str) -> String {
        match &self.settings.endpoint {
            Some(ep) => {
                let port = ep
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.trim_end_matches('/').parse::<u16>().ok())
                    .unwrap_or(4566);
                format!("http://{id}.execute-api.localhost.localstack.cloud:{port}/{stage}/")
            }
            None => format!(
                "https://{id}.execute-api.{}.amazonaws.com/{stage}/",
                self.region()
            ),
        }
    }
}

/// One method of a deployed REST API, with its integration.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiMethod {
    /// The resource path (`/predict`).
    pub path: String,
    pub method: String,
    pub resource_id: String,
    pub key_required: bool,
    /// The integration's type (`AWS_PROXY`) and URI.
    pub integration: Option<String>,
    pub uri: Option<String>,
}

/// Every method of the REST API `id` (`GetResources` with their methods, then `GetMethod`,
/// whose answer carries the integration), by path and method.
pub async fn methods(
    p: &AwsProvider,
    addr: &str,
    id: &str,
) -> Result<Vec<ApiMethod>, ProviderError> {
    let apigw = &p.clients.apigw;
    let resources = apigw
        .get_resources()
        .rest_api_id(id)
        .embed("methods")
        .limit(500)
        .send()
        .await
        .ctx(addr, "apigateway:GetResources")?
        .items
        .unwrap_or_default();
    let mut out = Vec::new();
    for r in &resources {
        let (Some(path), Some(rid)) = (&r.path, &r.id) else {
            continue;
        };
        let mut names: Vec<&String> = r
            .resource_methods
            .as_ref()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        names.sort();
        for m in names {
            let method = apigw
                .get_method()
                .rest_api_id(id)
                .resource_id(rid)
                .http_method(m)
                .send()
                .await
                .ctx(addr, "apigateway:GetMethod")?;
            let integration = method.method_integration;
            out.push(ApiMethod {
                path: path.clone(),
                method: m.clone(),
                resource_id: rid.clone(),
                key_required: method.api_key_required == Some(true),
                integration: integration
                    .as_ref()
                    .and_then(|i| i.r#type.as_ref())
                    .map(|t| t.as_str().to_string()),
                uri: integration.and_then(|i| i.uri),
            });
        }
    }
    Ok(out)
}

/// The strings of a JSON array (none when it is not one).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The binary media types of the REST API `id`, sorted.
pub async fn binary_media_types(
    p: &AwsProvider,
    addr: &str,
    id: &str,
) -> Result<Vec<String>, ProviderError> {
    let mut types = p
        .clients
        .apigw
        .get_rest_api()
        .rest_api_id(id)
        .send()
        .await
        .ctx(addr, "apigateway:GetRestApi")?
        .binary_media_types
        .unwrap_or_default();
    types.sort();
    Ok(types)
}

/// The gateway response of `kind` (`REQUEST_TOO_LARGE`) set on the REST API `id` as the stack
/// describes one: `{"status", "body"}` (its `application/json` template); `None` when the API
/// answers with API Gateway's default.
pub async fn gateway_response(
    p: &AwsProvider,
    addr: &str,
    id: &str,
    kind: &str,
) -> Result<Option<Value>, ProviderError> {
    let r = p
        .clients
        .apigw
        .get_gateway_response()
        .rest_api_id(id)
        .response_type(GatewayResponseType::from(kind))
        .send()
        .await
        .found(addr, "apigateway:GetGatewayResponse")?;
    Ok(r.filter(|r| !r.default_response).map(|r| {
        json!({
            "status": r.status_code.and_then(|s| s.parse::<u64>().ok()),
            "body": r.response_templates.and_then(|t| t.get("application/json").cloned()),
        })
    }))
}

fn api_name(p: &AwsProvider, live: &Value) -> String {
    recorded_or(live, "name", || p.name("api"))
}

fn plan_name(api: &str) -> String {
    format!("{api}-plan")
}

fn integration_uri(p: &AwsProvider, alias_arn: &str) -> String {
    format!(
        "arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/{alias_arn}/invocations",
        p.region()
    )
}

pub async fn read(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let name = api_name(p, &live);
    let Some(id) = p.rest_api_id(addr, &name).await? else {
        return Ok(None);
    };
    let apigw = &p.clients.apigw;
    live["name"] = json!(name);
    let predict_uri = integration_uri(p, &p.alias_arn("predict").await?);
    let mut routes = Vec::new();
    let mut keyed = Vec::new();
    for m in methods(p, addr, &id).await? {
        keyed.push(m.key_required);
        let function = if m.uri.as_deref() == Some(predict_uri.as_str()) {
            json!("predict")
        } else {
            json!(m.uri)
        };
        routes.push(json!({"method": m.method, "path": m.path, "function": function}));
    }
    // The stack lists routes in its own order; compare as sets by sorting both ways.
    let order = |v: &Value| {
        (
            v["path"].as_str().unwrap_or("").to_string(),
            v["method"].as_str().unwrap_or("").to_string(),
        )
    };
    let mut recorded: Vec<Value> = live["routes"].as_array().cloned().unwrap_or_default();
    recorded.sort_by_key(order);
    routes.sort_by_key(order);
    if recorded != routes {
        live["routes"] = json!(routes);
    }
    live["binary_media_types"] = json!(binary_media_types(p, addr, &id).await?);
    let mut responses = serde_json::Map::new();
    let kinds: Vec<String> = live["gateway_responses"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    for kind in kinds {
        if let Some(r) = gateway_response(p, addr, &id, &kind).await? {
            responses.insert(kind, r);
        }
    }
    live["gateway_responses"] = Value::Object(responses);
    live["auth"] = json!(if !keyed.is_empty() && keyed.iter().all(|k| *k) {
        "api_key"
    } else {
        "none"
    });
    let stage = live["stage"].as_str().unwrap_or("").to_string();
    let stage_live = if stage.is_empty() {
        None
    } else {
        apigw
            .get_stage()
            .rest_api_id(&id)
            .stage_name(&stage)
            .send()
            .await
            .found(addr, "apigateway:GetStage")?
    };
    live["stage"] = json!(stage_live.and_then(|s| s.stage_name));
    let plan = p.usage_plan(addr, &plan_name(&name)).await?;
    match plan {
        None => {
            live["throttle"] = Value::Null;
            live["quota_per_day"] = Value::Null;
        }
        Some(u) => {
            live["throttle"] = json!({
                "rate_per_second": u.throttle.as_ref().map(|t| t.rate_limit),
                "burst": u.throttle.as_ref().map(|t| t.burst_limit),
            });
            live["quota_per_day"] = json!(
                u.quota
                    .filter(|q| q.period == Some(QuotaPeriodType::Day))
                    .map(|q| q.limit)
            );
        }
    }
    if !p
        .invoke_statements(addr, "predict")
        .await?
        .iter()
        .any(|s| s == PERMISSION_ID)
    {
        live["permission"] = json!("missing");
    }
    Ok(Some(live))
}

pub async fn put(
    p: &AwsProvider,
    r: &Resource,
    changes: Option<&[Change]>,
) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let stage = prop_str(r, "stage")?;
    let keyed = r.props["auth"] == "api_key";
    let apigw = &p.clients.apigw;
    let touched = |f: &str| touched(changes, f);
    let id = match p.rest_api_id(addr, name).await? {
        Some(id) => id,
        None => apigw
            .create_rest_api()
            .name(name)
            .set_binary_media_types(Some(strings(&r.props["binary_media_types"])))
            .description(format!(
                "mlinfra: the prediction API of stack {}",
                p.settings.stack
            ))
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .send()
            .await
            .ctx(addr, "apigateway:CreateRestApi")?
            .id
            .ok_or_else(|| invalid(addr, "CreateRestApi returned no id"))?,
    };
    let fresh = changes.is_none();
    // Set at creation too; an emulator that ignores them there gets them by the patch.
    if fresh || touched("binary_media_types") {
        let wanted = strings(&r.props["binary_media_types"]);
        let have = binary_media_types(p, addr, &id).await?;
        // A media type's `/` is `~1` in a patch path. The type is the value too, which API
        // Gateway does not need and the moto server reads instead of the path.
        let op = |op: Op, t: &str| {
            PatchOperation::builder()
                .op(op)
                .path(format!("/binaryMediaTypes/{}", t.replace('/', "~1")))
                .value(t)
                .build()
        };
        let ops: Vec<PatchOperation> = wanted
            .iter()
            .filter(|t| !have.contains(t))
            .map(|t| op(Op::Add, t))
            .chain(
                have.iter()
                    .filter(|t| !wanted.contains(t))
                    .map(|t| op(Op::Remove, t)),
            )
            .collect();
        if !ops.is_empty() {
            apigw
                .update_rest_api()
                .rest_api_id(&id)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .ctx(addr, "apigateway:UpdateRestApi")?;
        }
    }
    if (fresh || touched("gateway_responses"))
        && let Some(responses) = r.props["gateway_responses"].as_object()
    {
        for (kind, g) in responses {
            apigw
                .put_gateway_response()
                .rest_api_id(&id)
                .response_type(GatewayResponseType::from(kind.as_str()))
                .status_code(g["status"].to_string())
                .response_templates("application/json", g["body"].as_str().unwrap_or(""))
                .send()
                .await
                .ctx(addr, "apigateway:PutGatewayResponse")?;
        }
    }
    // API settings (routes, binary media types, gateway responses) take effect with a new
    // deployment of the stage.
    if fresh
        || touched("routes")
        || touched("auth")
        || touched("stage")
        || touched("name")
        || touched("binary_media_types")
        || touched("gateway_responses")
    {
        let existing = apigw
            .get_resources()
            .rest_api_id(&id)
            .limit(500)
            .send()
            .await
            .ctx(addr, "apigateway:GetResources")?
            .items
            .unwrap_or_default();
        let mut by_path: BTreeMap<String, (String, Vec<String>)> = existing
            .into_iter()
            .filter_map(|r| {
                let methods = r
                    .resource_methods
                    .map(|m| m.into_keys().collect())
                    .unwrap_or_default();
                Some((r.path?, (r.id?, methods)))
            })
            .collect();
        let root = by_path
            .get("/")
            .map(|(id, _)| id.clone())
            .ok_or_else(|| invalid(addr, "the REST API has no root resource"))?;
        let routes = r.props["routes"].as_array().cloned().unwrap_or_default();
        for route in &routes {
            let (Some(method), Some(path), Some(function)) = (
                route["method"].as_str(),
                route["path"].as_str(),
                route["function"].as_str(),
            ) else {
                return Err(invalid(addr, format!("malformed route {route}")));
            };
            // The resource of each segment, created under its parent when missing
            // (`/v2/{proxy+}` under `/v2`).
            let mut parent = root.clone();
            let mut at = String::new();
            for segment in path.trim_start_matches('/').split('/') {
                at.push('/');
                at.push_str(segment);
                parent = match by_path.get(&at) {
                    Some((rid, _)) => rid.clone(),
                    None => {
                        let rid = apigw
                            .create_resource()
                            .rest_api_id(&id)
                            .parent_id(&parent)
                            .path_part(segment)
                            .send()
                            .await
                            .ctx(addr, "apigateway:CreateResource")?
                            .id
                            .ok_or_else(|| invalid(addr, "CreateResource returned no id"))?;
                        by_path.insert(at.clone(), (rid.clone(), Vec::new()));
                        rid
                    }
                };
            }
            let rid = parent;
            if by_path
                .get(path)
                .is_some_and(|(_, ms)| ms.iter().any(|m| m == method))
            {
                apigw
                    .delete_method()
                    .rest_api_id(&id)
                    .resource_id(&rid)
                    .http_method(method)
                    .send()
                    .await
                    .found(addr, "apigateway:DeleteMethod")?;
            }
            apigw
                .put_method()
                .rest_api_id(&id)
                .resource_id(&rid)
                .http_method(method)
                .authorization_type("NONE")
                .api_key_required(keyed)
                .send()
                .await
                .ctx(addr, "apigateway:PutMethod")?;
            apigw
                .put_integration()
                .rest_api_id(&id)
                .resource_id(&rid)
                .http_method(method)
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(integration_uri(p, &p.alias_arn(function).await?))
                .send()
                .await
                .ctx(addr, "apigateway:PutIntegration")?;
        }
        let source = p.arn("execute-api", &format!("{id}/*")).await?;
        p.allow_invoke(
            addr,
            "predict",
            PERMISSION_ID,
            "apigateway.amazonaws.com",
            &source,
        )
        .await?;
        apigw
            .create_deployment()
            .rest_api_id(&id)
            .stage_name(stage)
            .description("mlinfra up")
            .send()
            .await
            .ctx(addr, "apigateway:CreateDeployment")?;
    } else if touched("permission") {
        let source = p.arn("execute-api", &format!("{id}/*")).await?;
        p.allow_invoke(
            addr,
            "predict",
            PERMISSION_ID,
            "apigateway.amazonaws.com",
            &source,
        )
        .await?;
    }
    let rate = r.props["throttle"]["rate_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let burst = r.props["throttle"]["burst"].as_i64().unwrap_or(0) as i32;
    let quota = r.props["quota_per_day"].as_i64().unwrap_or(0) as i32;
    let plan = plan_name(name);
    let plan_id = match p.usage_plan(addr, &plan).await? {
        None => apigw
            .create_usage_plan()
            .name(&plan)
            .description(format!("mlinfra: throttling of {name}"))
            .throttle(
                ThrottleSettings::builder()
                    .rate_limit(rate)
                    .burst_limit(burst)
                    .build(),
            )
            .quota(
                QuotaSettings::builder()
                    .limit(quota)
                    .period(QuotaPeriodType::Day)
                    .build(),
            )
            .api_stages(ApiStage::builder().api_id(&id).stage(stage).build())
            .send()
            .await
            .ctx(addr, "apigateway:CreateUsagePlan")?
            .id
            .ok_or_else(|| invalid(addr, "CreateUsagePlan returned no id"))?,
        Some(u) => {
            let uid = u.id.clone().unwrap_or_default();
            if touched("throttle") || touched("quota_per_day") {
                let op = |path: &str, value: String| {
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path(path)
                        .value(value)
                        .build()
                };
                apigw
                    .update_usage_plan()
                    .usage_plan_id(&uid)
                    .patch_operations(op("/throttle/rateLimit", rate.to_string()))
                    .patch_operations(op("/throttle/burstLimit", burst.to_string()))
                    .patch_operations(op("/quota/limit", quota.to_string()))
                    .send()
                    .await
                    .ctx(addr, "apigateway:UpdateUsagePlan")?;
            }
            uid
        }
    };
    let mut out = json!({
        "id": id,
        "url": p.invoke_url(&id, stage),
        "aws_url": format!("https://{id}.execute-api.{}.amazonaws.com/{stage}/", p.region()),
        "usage_plan": plan_id,
    });
    if let Some(ep) = &p.settings.endpoint {
        // The emulator's path form needs no DNS name (`*.localhost.localstack.cloud` does).
        out["path_url"] = json!(format!(
            "{}/_aws/execute-api/{id}/{stage}/",
            ep.trim_end_matches('/')
        ));
    }
    Ok(out)
}

pub async fn delete(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
    _outputs: &Value,
) -> Result<Deleted, ProviderError> {
    let name = api_name(p, props);
    let apigw = &p.clients.apigw;
    if let Some(u) = p.usage_plan(addr, &plan_name(&name)).await? {
        let uid = u.id.unwrap_or_default();
        // A usage plan still bound to a stage cannot be deleted: unbind it first.
        for s in u.api_stages.unwrap_or_default() {
            let path = "/apiStages";
            let value = format!(
                "{}:{}",
                s.api_id.unwrap_or_default(),
                s.stage.unwrap_or_default()
            );
            apigw
                .update_usage_plan()
                .usage_plan_id(&uid)
                .patch_operations(
                    PatchOperation::builder()
                        .op(Op::Remove)
                        .path(path)
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .found(addr, "apigateway:UpdateUsagePlan")?;
        }
        apigw
            .delete_usage_plan()
            .usage_plan_id(&uid)
            .send()
            .await
            .found(addr, "apigateway:DeleteUsagePlan")?;
    }
    let existed = match p.rest_api_id(addr, &name).await? {
        Some(id) => apigw
            .delete_rest_api()
            .rest_api_id(&id)
            .send()
            .await
            .found(addr, "apigateway:DeleteRestApi")?
            .is_some(),
        None => false,
    };
    p.revoke_invoke(addr, "predict", PERMISSION_ID).await?;
    Ok(Deleted::if_existed(existed))
}

async fn key_id(p: &AwsProvider, addr: &str, name: &str) -> Result<Option<String>, ProviderError> {
    Ok(p.clients
        .apigw
        .get_api_keys()
        .name_query(name)
        .limit(500)
        .send()
        .await
        .ctx(addr, "apigateway:GetApiKeys")?
        .items
        .unwrap_or_default()
        .into_iter()
        .find(|k| k.name.as_deref() == Some(name))
        .and_then(|k| k.id))
}

fn key_name(p: &AwsProvider, live: &Value) -> String {
    recorded_or(live, "name", || p.name("key"))
}

pub async fn read_key(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let name = key_name(p, &live);
    let Some(id) = key_id(p, addr, &name).await? else {
        return Ok(None);
    };
    live["name"] = json!(name);
    let api = recorded_or(&live, "api", || p.name("api"));
    let attached = match p.usage_plan(addr, &plan_name(&api)).await? {
        Some(u) => p
            .clients
            .apigw
            .get_usage_plan_keys()
            .usage_plan_id(u.id.unwrap_or_default())
            .limit(500)
            .send()
            .await
            .ctx(addr, "apigateway:GetUsagePlanKeys")?
            .items
            .unwrap_or_default()
            .iter()
            .any(|k| k.id.as_deref() == Some(id.as_str())),
        None => false,
    };
    live["api"] = if attached { json!(api) } else { Value::Null };
    Ok(Some(live))
}

pub async fn put_key(p: &AwsProvider, r: &Resource) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let api = prop_str(r, "api")?;
    let apigw = &p.clients.apigw;
    let id = match key_id(p, addr, name).await? {
        Some(id) => id,
        None => apigw
            .create_api_key()
            .name(name)
            .description(format!(
                "mlinfra: the API key of stack {}",
                p.settings.stack
            ))
            .enabled(true)
            .send()
            .await
            .ctx(addr, "apigateway:CreateApiKey")?
            .id
            .ok_or_else(|| invalid(addr, "CreateApiKey returned no id"))?,
    };
    let plan = p
        .usage_plan(addr, &plan_name(api))
        .await?
        .and_then(|u| u.id)
        .ok_or_else(|| {
            ProviderError::new(
                addr,
                "NoUsagePlan",
                format!("the usage plan of `{api}` does not exist"),
            )
        })?;
    let res = apigw
        .create_usage_plan_key()
        .usage_plan_id(&plan)
        .key_id(&id)
        .key_type("API_KEY")
        .send()
        .await;
    if let Err(e) = res {
        let a = super::AwsError::from_sdk(&e);
        if a.code != "ConflictException" {
            return Err(a.into_provider(addr, "apigateway:CreateUsagePlanKey"));
        }
    }
    Ok(json!({
        "id": id,
        "show_value": format!("aws apigateway get-api-key --api-key {id} --include-value --query value --output text"),
    }))
}

pub async fn delete_key(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
) -> Result<Deleted, ProviderError> {
    let name = key_name(p, props);
    let Some(id) = key_id(p, addr, &name).await? else {
        return Ok(Deleted::AlreadyGone);
    };
    Ok(Deleted::if_existed(
        p.clients
            .apigw
            .delete_api_key()
            .api_key(&id)
            .send()
            .await
            .found(addr, "apigateway:DeleteApiKey")?
            .is_some(),
    ))
}
