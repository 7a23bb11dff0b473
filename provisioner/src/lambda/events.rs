//! The events AWS delivers to the functions, delivered here to the executors: the Lambda `Invoke`
//! API (`POST /2015-03-31/functions/{name}/invocations`, `RequestResponse`, `Event` and `DryRun`,
//! served on loopback so that a function pointed at it with `AWS_ENDPOINT_URL_LAMBDA` invokes
//! another here), the EventBridge rules' scheduled events (each enabled rule of the environment
//! fires on its expression, to its Lambda target), and the bucket's `ObjectCreated` notifications
//! (new objects under a notification's prefix, found by listing the bucket, sent to its
//! function). Event bodies are shaped as AWS sends them.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};

use super::deployed::sdk_failure;
use super::{Executor, Outcome};
use crate::providers::aws::AwsProvider;

/// The executors by function name.
pub type Functions = Arc<HashMap<String, Arc<Executor>>>;

/// The function a name, a qualified name or an ARN designates (`f`, `f:live`,
/// `arn:aws:lambda:r:a:function:f[:live]`).
pub fn function_name(s: &str) -> &str {
    match s.strip_prefix("arn:") {
        Some(_) => s.split(':').nth(6).unwrap_or(s),
        None => s.split(':').next().unwrap_or(s),
    }
}

/// The scheduled event EventBridge sends for the rule `rule_arn`.
pub fn scheduled_event(rule_arn: &str, region: &str, account: &str) -> Value {
    json!({
        "version": "0",
        "id": super::request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": mlinfra_core::clock::now_rfc3339(),
        "region": region,
        "resources": [rule_arn],
        "detail": {}
    })
}

/// The S3 `ObjectCreated:Put` event of `key` in `bucket`.
pub fn object_created_event(bucket: &str, key: &str, size: i64, region: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": mlinfra_core::clock::now_rfc3339(),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "mlinfra",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": size}
        }
    }]})
}

/// Invoke `name` with `event` and log how it ended (for events nobody waits on).
async fn deliver(functions: &Functions, name: &str, event: Value, why: &str) {
    let Some(ex) = functions.get(name) else {
        eprintln!("[events] {why}: no function `{name}` runs here");
        return;
    };
    let id = super::request_id();
    let outcome = ex.invoke(&id, Bytes::from(event.to_string())).await;
    let said = match outcome {
        Ok(Outcome::Response(_)) => "done".to_string(),
        Ok(Outcome::Error(f)) => format!("failed: {f}"),
        Err(e) => format!("not run: {e}"),
    };
    eprintln!("[events] {why} -> {name} ({id}): {said}");
}

/// Serve the Lambda `Invoke` API on `listener` (loopback: the functions reach it through
/// `AWS_ENDPOINT_URL_LAMBDA`).
pub fn serve_invoke_api(listener: tokio::net::TcpListener, functions: Functions) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let functions = Arc::clone(&functions);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let functions = Arc::clone(&functions);
                    async move { Ok::<_, Infallible>(invoke(&functions, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

/// One `Invoke` call.
async fn invoke(functions: &Functions, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let target = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|p| p.strip_suffix("/invocations"))
        .map(|f| {
            // The name may be an ARN, URL-encoded.
            f.replace("%3A", ":").replace("%3a", ":")
        });
    let Some(target) = target.filter(|_| req.method() == hyper::Method::POST) else {
        return lambda_error(
            404,
            "UnknownOperationException",
            &format!("no operation at {path}"),
        );
    };
    let name = function_name(&target).to_string();
    let kind = req
        .headers()
        .get("X-Amz-Invocation-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_string();
    let Some(ex) = functions.get(&name).cloned() else {
        return lambda_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {target}"),
        );
    };
    let payload = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let id = super::request_id();
    let mut r = match kind.as_str() {
        "DryRun" => respond(204, Bytes::new()),
        "Event" => {
            let functions = Arc::clone(functions);
            let event: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            tokio::spawn(async move { deliver(&functions, &name, event, "Invoke (Event)").await });
            respond(202, Bytes::new())
        }
        "RequestResponse" => match ex.invoke(&id, payload).await {
            Ok(Outcome::Response(b)) => respond(200, b),
            Ok(Outcome::Error(f)) => {
                let mut r = respond(200, Bytes::from(f.body().to_string()));
                r.headers_mut().insert(
                    "X-Amz-Function-Error",
                    hyper::header::HeaderValue::from_static("Unhandled"),
                );
                r
            }
            Err(e) => lambda_error(502, "ServiceException", &e),
        },
        other => {
            return lambda_error(
                400,
                "InvalidParameterValueException",
                &format!(
                    "X-Amz-Invocation-Type `{other}`: expected RequestResponse, Event or DryRun"
                ),
            );
        }
    };
    if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
        r.headers_mut().insert("x-amzn-RequestId", v);
    }
    r.headers_mut().insert(
        "X-Amz-Executed-Version",
        hyper::header::HeaderValue::from_static("$LATEST"),
    );
    r
}

fn respond(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn lambda_error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let mut r = respond(
        status,
        Bytes::from(json!({"Type": "User", "message": message}).to_string()),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

/// A rule of the environment with a Lambda target.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub expression: String,
    pub function: String,
}

/// The enabled scheduled rules named `{prefix}…` and their Lambda targets.
pub async fn rules(p: &AwsProvider, prefix: &str) -> Result<Vec<Rule>, String> {
    let events = &p.clients.events;
    let listed = events
        .list_rules()
        .name_prefix(prefix)
        .limit(100)
        .send()
        .await
        .map_err(|e| sdk_failure("events:ListRules", &e))?;
    let mut out = Vec::new();
    for r in listed.rules.unwrap_or_default() {
        let (Some(name), Some(arn), Some(expression)) = (r.name, r.arn, r.schedule_expression)
        else {
            continue;
        };
        if r.state.as_ref().map(|s| s.as_str()) != Some("ENABLED") {
            continue;
        }
        let targets = events
            .list_targets_by_rule()
            .rule(&name)
            .send()
            .await
            .map_err(|e| sdk_failure("events:ListTargetsByRule", &e))?;
        for t in targets.targets.unwrap_or_default() {
            if t.arn.starts_with("arn:aws:lambda:") {
                out.push(Rule {
                    name: name.clone(),
                    arn: arn.clone(),
                    expression: expression.clone(),
                    function: function_name(&t.arn).to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Fire each rule on its expression, for as long as the task lives.
pub fn fire_rules(rules: Vec<Rule>, functions: Functions, region: String, account: String) {
    for rule in rules {
        let Ok(schedule) = crate::stack::schedule::Schedule::parse(&rule.expression) else {
            eprintln!(
                "[events] rule `{}`: cannot read `{}`; it does not fire here",
                rule.name, rule.expression
            );
            continue;
        };
        let (functions, region, account) =
            (Arc::clone(&functions), region.clone(), account.clone());
        tokio::spawn(async move {
            let now = || mlinfra_core::jobs::now();
            let mut last = now();
            while let Some(next) = schedule.next_after(last) {
                tokio::time::sleep(Duration::from_secs(next.saturating_sub(now()))).await;
                let event = scheduled_event(&rule.arn, &region, &account);
                deliver(
                    &functions,
                    &rule.function,
                    event,
                    &format!("rule `{}`", rule.name),
                )
                .await;
                last = next.max(now());
            }
        });
    }
}

/// The bucket's notifications to Lambda: (function, key prefix) of each `s3:ObjectCreated:*`.
pub async fn notifications(p: &AwsProvider, bucket: &str) -> Result<Vec<(String, String)>, String> {
    let conf = p
        .clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| sdk_failure("s3:GetBucketNotificationConfiguration", &e))?;
    let mut out = Vec::new();
    for c in conf.lambda_function_configurations.unwrap_or_default() {
        let created = c
            .events
            .iter()
            .any(|e| e.as_str().starts_with("s3:ObjectCreated:"));
        if !created {
            continue;
        }
        let prefix = c
            .filter
            .and_then(|f| f.key)
            .and_then(|k| k.filter_rules)
            .unwrap_or_default()
            .into_iter()
            .find(|r| {
                r.name.as_ref().map(|n| n.as_str().to_ascii_lowercase()) == Some("prefix".into())
            })
            .and_then(|r| r.value)
            .unwrap_or_default();
        out.push((function_name(&c.lambda_function_arn).to_string(), prefix));
    }
    Ok(out)
}

/// Deliver an `ObjectCreated` event for each object created under a notification's prefix
/// after the start (the bucket listed every `every`).
pub fn watch_bucket(
    s3: aws_sdk_s3::Client,
    region: String,
    bucket: String,
    watched: Vec<(String, String)>,
    functions: Functions,
    every: Duration,
) {
    tokio::spawn(async move {
        let list = |prefix: String| {
            let s3 = s3.clone();
            let bucket = bucket.clone();
            async move {
                let mut out = HashMap::new();
                let mut token = None;
                loop {
                    let page = s3
                        .list_objects_v2()
                        .bucket(&bucket)
                        .prefix(&prefix)
                        .set_continuation_token(token)
                        .send()
                        .await
                        .ok()?;
                    for o in page.contents.unwrap_or_default() {
                        if let Some(k) = o.key {
                            out.insert(k, o.size.unwrap_or(0));
                        }
                    }
                    token = page.next_continuation_token;
                    if token.is_none() {
                        return Some(out);
                    }
                }
            }
        };
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (_, prefix) in &watched {
            seen.extend(list(prefix.clone()).await.unwrap_or_default().into_keys());
        }
        loop {
            tokio::time::sleep(every).await;
            for (function, prefix) in &watched {
                let Some(objects) = list(prefix.clone()).await else {
                    continue;
                };
                for (key, size) in objects {
                    if seen.insert(key.clone()) {
                        let event = object_created_event(&bucket, &key, size, &region);
                        let functions = Arc::clone(&functions);
                        let function = function.clone();
                        tokio::spawn(async move {
                            deliver(&functions, &function, event, &format!("s3://{}", key)).await;
                        });
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_named_by_name_qualified_name_or_arn() {
        assert_eq!(function_name("heart-disease-train"), "heart-disease-train");
        assert_eq!(
            function_name("heart-disease-train:live"),
            "heart-disease-train"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:000000000000:function:heart-disease-etl:live"),
            "heart-disease-etl"
        );
    }
}
