//! The platform's outputs (URIs, the API's URL, the key's file and fingerprint) from the
//! recorded state, as `up` and `outputs` print them.

use indexmap::IndexMap;
use serde_json::Value;

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
