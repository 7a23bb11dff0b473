//! `mlinfra outputs`: the values a user needs after `up` (where the lake is, the API URL, where
//! the API key is kept), read from the state. Secrets are never printed, only where they are.

use indexmap::IndexMap;
use serde_json::Value;

use super::{Context, Failure};
use crate::cli::{Global, OutputsArgs};
use crate::engine::State;

/// Outputs by name, in a stable order.
pub fn collect(state: &State) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let get = |addr: &str, key: &str| -> Option<String> {
        state
            .resources
            .get(addr)
            .and_then(|r| r.outputs.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    for (name, addr, key) in [
        ("lake_uri", "lake", "uri"),
        ("registry_uri", "registry", "uri"),
        ("registry_table", "registry", "table"),
        ("api_url", "api", "url"),
        ("api_url_path", "api", "path_url"),
        ("api_url_aws", "api", "aws_url"),
        ("api_key_id", "api_key.default", "id"),
        ("api_key_value_command", "api_key.default", "show_value"),
        ("api_key_file", "api_key.default", "key_file"),
        ("api_key_fingerprint", "api_key.default", "fingerprint"),
    ] {
        if let Some(v) = get(addr, key) {
            out.insert(name.to_string(), v);
        }
    }
    out
}

pub fn render(outputs: &IndexMap<String, String>) -> String {
    let width = outputs.keys().map(String::len).max().unwrap_or(0);
    outputs
        .iter()
        .map(|(k, v)| format!("  {k:<width$} = {v}\n"))
        .collect()
}

pub async fn run(g: &Global, args: &OutputsArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (_, store) = cx.infra().await?;
    let state = cx.state_in(&store).await?;
    let outputs = collect(&state);
    if outputs.is_empty() {
        return Err(Failure::new(format!(
            "stack `{}` has no outputs on `{}`: nothing is deployed\nhint: run `mlinfra up`",
            cx.stack_name(),
            cx.env.as_str()
        )));
    }
    match &args.name {
        Some(name) => match outputs.get(name) {
            Some(v) => cx.out.result(format!("{v}\n"), v),
            None => {
                return Err(Failure::new(format!(
                    "no output named `{name}`\nhint: the outputs are {}",
                    outputs
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
        None => cx.out.result(render(&outputs), &outputs),
    }
    Ok(0)
}
