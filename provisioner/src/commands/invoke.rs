//! `mlinfra invoke FUNCTION`: one invocation of a function's packaged `bootstrap` on this machine,
//! through the Lambda executor ([`crate::lambda`]), with the configuration the environment gave
//! it: on `local` the one `up` wrote (`functions/<name>.json`); on `localstack` and `aws` the
//! deployed function's (`GetFunctionConfiguration`), with the environment's endpoint and region
//! and the caller's credentials, after checking that the package is the deployed code. The
//! event is a file, a schedule's scheduled event, or an S3 `ObjectCreated` event for a lake key.
//! Prints the response (or the function error) and passes the function's logs to stderr.

use std::time::Duration;

use hyper::body::Bytes;
use mlinfra_core::FunctionName;
use serde_json::Value;

use super::{Context, Failure};
use crate::cli::{Global, InvokeArgs};
use crate::lambda::{Executor, FunctionSpec, Outcome, deployed, events, request_id};
use crate::stack::EnvKind;

pub async fn run(g: &Global, args: &InvokeArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let stack = &cx.loaded.stack;
    let function = parse_function(&args.function)?;
    let name = crate::engine::graph::physical_name(stack, function.as_str());
    let settings = stack.functions.get(&function);
    let region = match cx.env {
        EnvKind::Local => "us-east-1".to_string(),
        _ => cx.aws_settings()?.region,
    };
    let account = "000000000000";
    let event = event(&cx, args, &region, account)?;
    let package = cx.package(function.as_str())?;
    let dir = cx.root.join("invoke").join(function.as_str());
    let spec = match cx.env {
        EnvKind::Local => {
            let d = local_config(&cx, function)?;
            FunctionSpec {
                name: name.clone(),
                bootstrap: dir.join("bootstrap"),
                env: d.env,
                memory_mb: d
                    .memory_mb
                    .unwrap_or(settings.map_or(128, |s| s.memory_mb as u32)),
                timeout: Duration::from_secs(
                    d.timeout_s.unwrap_or(settings.map_or(3, |s| s.timeout_s)),
                ),
                concurrency: 1,
                arn: format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            }
        }
        _ => {
            let p = cx.aws_provider().await?;
            deployed::function(&p, &name, &package, &dir, args.local_build)
                .await
                .map_err(Failure::new)?
        }
    };
    deployed::unpack(&package, &dir).map_err(Failure::new)?;
    let timeout_s = spec.timeout.as_secs();
    cx.out.progress(format!(
        "invoking `{name}` ({} MB, {timeout_s} s timeout) on {}",
        spec.memory_mb,
        cx.env.as_str()
    ));
    let executor = Executor::new(spec, crate::lambda::stderr_sink());
    let id = request_id();
    let outcome = executor
        .invoke(&id, Bytes::from(event.to_string()))
        .await
        .map_err(Failure::new)?;
    executor.shutdown(Duration::from_secs(2)).await;
    match outcome {
        Outcome::Response(body) => {
            let text = String::from_utf8_lossy(&body);
            match serde_json::from_slice::<Value>(&body) {
                Ok(v) => println!(
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string())
                ),
                Err(_) => println!("{text}"),
            }
            Ok(0)
        }
        Outcome::Error(f) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&f.body()).unwrap_or_default()
            );
            Err(Failure::new(format!("`{name}` failed: {f}")))
        }
    }
}

fn parse_function(s: &str) -> Result<FunctionName, Failure> {
    FunctionName::ALL
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| {
            Failure::new(format!(
                "no function `{s}`: expected one of etl, train, predict, monitor"
            ))
        })
}

/// The event: `--event FILE`, `--schedule NAME` or `--s3-key KEY`.
fn event(cx: &Context, args: &InvokeArgs, region: &str, account: &str) -> Result<Value, Failure> {
    let stack = &cx.loaded.stack;
    if let Some(path) = &args.event {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", path.display())))?;
        return serde_json::from_str(&text).map_err(|e| {
            Failure::new(format!(
                "`{}` is not a JSON event: {e}\nhint: an event is one JSON document, as Lambda passes it",
                path.display()
            ))
        });
    }
    if let Some(schedule) = &args.schedule {
        if !stack.schedules.contains_key(schedule) {
            let known: Vec<&str> = stack.schedules.keys().map(String::as_str).collect();
            return Err(Failure::new(format!(
                "no schedule `{schedule}` in the stack: expected one of {}",
                known.join(", ")
            )));
        }
        let rule = crate::engine::graph::physical_name(stack, schedule);
        let arn = format!("arn:aws:events:{region}:{account}:rule/{rule}");
        return Ok(events::scheduled_event(&arn, region, account));
    }
    if let Some(key) = &args.s3_key {
        return Ok(events::object_created_event(
            &stack.lake.bucket,
            key,
            0,
            region,
        ));
    }
    Err(Failure::new(
        "no event: give `--event FILE`, `--schedule NAME` or `--s3-key KEY`",
    ))
}

/// A function's configuration as the environment has it (memory and timeout when recorded).
struct Deployed {
    env: Vec<(String, String)>,
    memory_mb: Option<u32>,
    timeout_s: Option<u64>,
}

/// The configuration `up` wrote for the function on `local`.
fn local_config(cx: &Context, function: FunctionName) -> Result<Deployed, Failure> {
    let path = cx
        .root
        .join("functions")
        .join(format!("{}.json", function.as_str()));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(format!(
            "cannot read `{}`: {e}\nhint: run `mlinfra up` first",
            path.display()
        ))
    })?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::new(format!("`{}`: {e}", path.display())))?;
    let env = doc["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let memory = doc["config"]["memory_mb"]
        .as_u64()
        .and_then(|m| u32::try_from(m).ok());
    let timeout = doc["config"]["timeout_s"].as_u64();
    Ok(Deployed {
        env,
        memory_mb: memory,
        timeout_s: timeout,
    })
}
