//! API Gateway REST API (v1) Lambda proxy events: the request and response shapes the handler
//! speaks, on AWS and under `mlinfra serve`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyRequest {
    pub http_method: String,
    /// The resource path, without the stage (`/predict`).
    pub path: String,
    #[serde(default)]
    pub query_string_parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
    #[serde(default)]
    pub request_context: RequestContext,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub stage: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

/// A URL's query string as API Gateway's `queryStringParameters`: `a=1&b` gives `a: 1`, `b: ""`,
/// names and values percent-decoded, the last of a repeated name kept.
pub fn query_parameters(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                .map(|(k, v)| (crate::urlencoding::decode(k), crate::urlencoding::decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

impl ProxyRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .as_ref()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query_string_parameters
            .as_ref()?
            .get(name)
            .map(String::as_str)
    }
}

impl ProxyResponse {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        ProxyResponse {
            status_code: status,
            headers: BTreeMap::from([("content-type".to_string(), "application/json".to_string())]),
            body: body.to_string(),
            is_base64_encoded: false,
        }
    }

    pub fn error(
        status: u16,
        message: &str,
        details: Vec<serde_json::Value>,
        hint: Option<&str>,
    ) -> Self {
        let mut body = serde_json::json!({ "error": message });
        if !details.is_empty() {
            body["details"] = serde_json::Value::Array(details);
        }
        if let Some(h) = hint {
            body["hint"] = serde_json::Value::String(h.to_string());
        }
        ProxyResponse::json(status, &body)
    }
}
