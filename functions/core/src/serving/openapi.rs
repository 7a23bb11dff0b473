//! The OpenAPI 3 document of the prediction API, generated from the served model's features: the
//! contract [`super::Service`] keeps. Every status an operation can answer is listed with its
//! body; the request schemas are exactly what the handler accepts (`additionalProperties`, the
//! numbers an `f32` holds, the batch limit, the feedback id's alphabet), so a request the document
//! calls valid is never refused with a 400, and one it calls invalid is never answered 200. Served
//! by `mlinfra serve` at `/openapi.json` and printed by `mlinfra api spec`; the same document
//! describes the `predict` Lambda behind API Gateway, whose own answers (a missing key, the usage
//! plan's throttle) are listed too.

use serde_json::{Map, Value, json};

use super::served::Served;
use crate::data::Kind;

/// The largest magnitude a feature value may have: what an `f32` holds.
pub const MAX_VALUE: f64 = f32::MAX as f64;

/// The feedback `request_id` alphabet and length the handler accepts.
pub const REQUEST_ID_PATTERN: &str = "^[A-Za-z0-9-]{1,128}$";

/// How a caller shows the API key, when the API takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// API Gateway's usage plan (and `mlinfra serve` on `local`): `x-api-key`, else
    /// `403 {"message": "Forbidden"}`; past the plan's throttle, 429.
    ApiGateway,
    /// Azure Functions' function key: `x-functions-key` or `?code=`, else 401.
    AzureFunctions,
}

/// What the document depends on besides the model.
pub struct Contract<'a> {
    pub model: &'a str,
    /// The path every route is under: `/v1` (the API Gateway stage), `/api/v1` on Azure
    /// Functions.
    pub base_path: &'a str,
    /// Whether, and how, every operation needs the key.
    pub key: Option<KeyCheck>,
    /// The most instances one `/predict` takes.
    pub max_batch: usize,
}

/// The document for the model `served` (the Production one; `None` before there is one: then the
/// instances' properties are unknown).
pub fn spec(c: &Contract, served: Option<&Served>) -> Value {
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("{} prediction API", c.model),
            "version": served.map_or("none".to_string(), |m| m.version.to_string()),
            "description": "Predictions with confidence scores and explanations from the model in Production (or Staging), and ground-truth feedback. Errors are JSON: `error`, a `hint` when one helps, and `details` naming each invalid field; what API Gateway answers itself (a missing key, the usage plan's throttle) carries `message`.",
        },
        "servers": [{"url": c.base_path}],
        "paths": {
            "/predict": {"post": predict(c)},
            "/feedback": {"post": feedback(c)},
            "/health": {"get": health(c)},
        },
        "components": {"schemas": schemas(c, served)},
    });
    match c.key {
        Some(KeyCheck::ApiGateway) => {
            doc["components"]["securitySchemes"] =
                json!({"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}});
            doc["security"] = json!([{"apiKey": []}]);
        }
        Some(KeyCheck::AzureFunctions) => {
            doc["components"]["securitySchemes"] = json!({
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionCode": {"type": "apiKey", "in": "query", "name": "code"},
            });
            doc["security"] = json!([{"functionKey": []}, {"functionCode": []}]);
        }
        None => {}
    }
    doc
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The answers every operation may get besides its own: the key check and the throttle.
fn common(c: &Contract, responses: &mut Map<String, Value>) {
    match c.key {
        Some(KeyCheck::ApiGateway) => {
            responses.insert(
                "403".into(),
                error("No API key, or a wrong one in `x-api-key` (`{\"message\": \"Forbidden\"}`)"),
            );
            responses.insert(
                "429".into(),
                error("Past the usage plan's rate or burst (API Gateway; `{\"message\": \"Too Many Requests\"}`)"),
            );
        }
        Some(KeyCheck::AzureFunctions) => {
            responses.insert(
                "401".into(),
                error("No function key, or a wrong one, in `x-functions-key` or `?code=`"),
            );
        }
        None => {}
    }
}

fn predict(c: &Contract) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "One prediction per instance, in order",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Predictions"}}},
        "links": {"Feedback": {
            "operationId": "feedback",
            "description": "The ground truth of this prediction, once known",
            "requestBody": {"request_id": "$response.body#/request_id", "label": "$response.body#/predictions/0/label"}
        }}
    }));
    responses.insert("400".into(), error(&format!("Invalid request: the body is not JSON or not of the schema's shape, more than {} instances, a feature is missing, unknown or of the wrong type, or a parameter has another value; `details` names each invalid field", c.max_batch)));
    responses.insert(
        "404".into(),
        error("No model is in that stage yet; the hint says how to put one there"),
    );
    responses.insert("409".into(), error("`explain=true` for a version that cannot be explained (trained before explanations existed)"));
    responses.insert(
        "413".into(),
        error("A request over the payload limits: 10 MiB with `serve`; on AWS, API Gateway takes 10 MB and the function 6 MB (pictures base64-encoded)"),
    );
    responses.insert(
        "415".into(),
        error("A content type other than `application/json`"),
    );
    common(c, &mut responses);
    json!({
        "operationId": "predict",
        "summary": "Predict with confidence scores",
        "parameters": [
            {"name": "stage", "in": "query", "required": false, "description": "The model to ask (default `production`)", "schema": {"type": "string", "enum": ["production", "staging"]}},
            {"name": "explain", "in": "query", "required": false, "description": "`true`: each prediction's explanation (SHAP values of the margin per raw feature)", "schema": {"type": "boolean"}},
            {"name": "top_k", "in": "query", "required": false, "description": "Each prediction's `probabilities` list only its K most probable classes", "schema": {"type": "integer", "minimum": 1}},
            {"name": "X-Mlinfra-Monitor", "in": "header", "required": false, "description": "`false`: answer, but keep this request out of the logs and of monitoring (a smoke or load test)", "schema": {"type": "string", "enum": ["true", "false"]}}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["instances"], "properties": {"instances": {"type": "array", "minItems": 1, "maxItems": c.max_batch, "items": {"$ref": "#/components/schemas/Instance"}}}},
            {"type": "object", "additionalProperties": false, "required": ["features"], "properties": {"features": {"$ref": "#/components/schemas/Instance"}}}
        ]}}}},
        "responses": responses,
    })
}

fn feedback(c: &Contract) -> Value {
    let mut responses = Map::new();
    responses.insert("202".into(), json!({"description": "Stored; `replaced` when it corrects earlier feedback for the request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackStored"}}}}));
    responses.insert(
        "400".into(),
        error(
            "Not JSON, a malformed `request_id`, or a label that is not one of the model's classes",
        ),
    );
    responses.insert("404".into(), error("No logged prediction has this request id, or no model is served to check the label against"));
    responses.insert(
        "415".into(),
        error("A content type other than `application/json`"),
    );
    responses.insert(
        "503".into(),
        error("The prediction logs could not be read or the feedback could not be stored; retry"),
    );
    common(c, &mut responses);
    json!({
        "operationId": "feedback",
        "summary": "The ground truth of a logged prediction",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Feedback"}}}},
        "responses": responses,
    })
}

fn health(c: &Contract) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({"description": "The versions being served", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}));
    common(c, &mut responses);
    json!({"operationId": "health", "summary": "Which versions serve", "responses": responses})
}

fn schemas(c: &Contract, served: Option<&Served>) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    let text = served.and_then(|m| m.scorer.text_spec());
    let image = served.and_then(|m| m.scorer.image_spec());
    for f in served.map_or(&[][..], |m| &m.features) {
        // A model imported with a text or image card takes one text or one picture.
        if let Some(t) = text {
            props.insert(
                f.name.clone(),
                json!({"type": "string", "description": format!(
                    "the text, tokenized by the model's tokenizer; longer than {} tokens, it is {}",
                    t.max_length,
                    if t.truncation { "cut (the answer says so)" } else { "refused" }
                )}),
            );
            required.push(json!(f.name));
            continue;
        }
        if let Some(i) = image {
            props.insert(
                f.name.clone(),
                json!({
                    "type": "object",
                    "properties": {"b64": {"type": "string", "format": "byte"}},
                    "required": ["b64"],
                    "additionalProperties": false,
                    "description": format!(
                        "a PNG or JPEG picture in base64, brought to {}×{} pixels (at most {} a side)",
                        i.width, i.height, crate::onnx::images::MAX_SIDE
                    ),
                }),
            );
            required.push(json!(f.name));
            continue;
        }
        let mut p = if f.text {
            json!({
                "type": "string",
                "nullable": true,
                "description": format!(
                    "category{}; a category not seen in training is answered with a warning; null or \"\" for a missing value",
                    if f.categories.is_empty() { String::new() } else { format!(", one of {}", f.categories.join(", ")) }
                ),
            })
        } else {
            json!({"type": "number", "nullable": true, "minimum": -MAX_VALUE, "maximum": MAX_VALUE})
        };
        if !f.text {
            let mut words = Vec::new();
            if f.kind == Kind::Categorical {
                words.push(format!("category, one of {}", f.categories.join(", ")));
            }
            if let Some([lo, hi]) = f.range {
                words.push(format!(
                    "training range [{lo}, {hi}] (outside it: a warning)"
                ));
            }
            words.push("null for a missing value".into());
            p["description"] = json!(words.join("; "));
        }
        if f.kind == Kind::Categorical && !f.text {
            let values: Vec<Value> = f
                .categories
                .iter()
                .filter_map(|c| c.parse::<f64>().ok())
                .map(|v| json!(v))
                .collect();
            p["x-categories"] = Value::Array(values);
        }
        props.insert(f.name.clone(), p);
        required.push(json!(f.name));
    }
    let mut instance =
        json!({"type": "object", "additionalProperties": false, "properties": props});
    if !required.is_empty() {
        instance["required"] = Value::Array(required);
    }
    // A label is the class as the API answers it: an integer for integer classes (also accepted
    // as its name, `"1"`), else its name.
    let regression = served.is_some_and(|m| m.regression);
    let (label, names) = match served {
        // A regression's label is the true value.
        Some(m) if m.regression => (json!({"type": "number"}), Vec::new()),
        Some(m) => {
            let values: Vec<Value> = m.class_values.iter().map(|v| m.label_value(*v)).collect();
            let names: Vec<Value> = m.classes.iter().map(|c| json!(c)).collect();
            let label = if values.iter().all(Value::is_i64) {
                json!({"anyOf": [{"type": "integer", "enum": values}, {"type": "string", "enum": names}]})
            } else {
                json!({"type": "string", "enum": names})
            };
            (label, m.classes.clone())
        }
        None => (
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
            Vec::new(),
        ),
    };
    let answered_label = match served {
        Some(m) => {
            let values: Vec<Value> = m.class_values.iter().map(|v| m.label_value(*v)).collect();
            if values.iter().all(Value::is_i64) {
                json!({"type": "integer", "enum": values})
            } else {
                json!({"type": "string", "enum": values})
            }
        }
        None => json!({}),
    };
    let probabilities: Map<String, Value> = names
        .iter()
        .map(|c| {
            (
                c.clone(),
                json!({"type": "number", "minimum": 0, "maximum": 1}),
            )
        })
        .collect();
    let mut probabilities = json!({"type": "object", "description": "Every class's probability; with `top_k`, the K most probable classes'", "properties": probabilities, "minProperties": 1});
    if !names.is_empty() {
        probabilities["additionalProperties"] = json!(false);
    }
    let prediction = if regression {
        json!({"type": "object", "required": ["value"], "properties": {
            "value": {"type": "number", "description": "The predicted value"},
            "interval": {"type": "object", "required": ["level", "low", "high"], "description": "The prediction interval: the true value is in [low, high] with probability `level` (conformal, calibrated on rows held out from the fits)", "properties": {
                "level": {"type": "number", "minimum": 0, "maximum": 1},
                "low": {"type": "number"},
                "high": {"type": "number"}
            }},
            "explanation": {"$ref": "#/components/schemas/Explanation"}
        }})
    } else {
        json!({"type": "object", "required": ["label", "confidence", "probabilities"], "properties": {
            "label": answered_label,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "The probability of `label`"},
            "probabilities": probabilities,
            "explanation": {"$ref": "#/components/schemas/Explanation"}
        }})
    };
    let stored = if regression {
        json!({"type": "object", "required": ["stored", "request_id", "label", "replaced"], "properties": {
            "stored": {"type": "boolean"}, "request_id": {"type": "string"}, "label": {"type": "number"}, "replaced": {"type": "boolean"}
        }})
    } else {
        json!({"type": "object", "required": ["stored", "request_id", "class", "replaced"], "properties": {
            "stored": {"type": "boolean"}, "request_id": {"type": "string"}, "class": {"type": "string"}, "replaced": {"type": "boolean"}
        }})
    };
    let version = json!({"type": "object", "nullable": true, "required": ["version", "sha256"], "properties": {"version": {"type": "integer"}, "sha256": {"type": "string"}}});
    let warning = json!({"type": "object", "required": ["field", "message"], "properties": {"field": {"type": "string"}, "message": {"type": "string"}}});
    json!({
        "Instance": instance,
        "Predictions": {"type": "object", "required": ["request_id", "model", "predictions"], "properties": {
            "request_id": {"type": "string", "pattern": REQUEST_ID_PATTERN, "description": "Send it back with `/feedback`"},
            "model": {"type": "object", "required": ["name", "version", "stage"], "properties": {"name": {"type": "string", "enum": [c.model]}, "version": {"type": "integer"}, "stage": {"type": "string", "enum": ["Production", "Staging"]}}},
            "predictions": {"type": "array", "items": prediction},
            "warnings": {"type": "array", "items": warning, "description": "Values outside the training range, categories not seen in training"},
            "monitored": {"type": "boolean", "description": "`false` when `X-Mlinfra-Monitor: false` kept the request out of the logs"}
        }},
        "Explanation": {"type": "object", "required": ["output", "base", "contributions", "margin"], "description": "With `explain=true`: base + the sum of the contributions = margin", "properties": {
            "output": {"type": "string", "description": "`log_odds(<positive class>)`, the predicted class, or a regression's `value`"},
            "base": {"type": "number", "description": "The model's expected margin over its training rows"},
            "contributions": {"type": "object", "additionalProperties": {"type": "number"}},
            "margin": {"type": "number"}
        }},
        "Feedback": {"type": "object", "required": ["request_id", "label"], "properties": {
            "request_id": {"type": "string", "pattern": REQUEST_ID_PATTERN, "description": "The `request_id` of a logged `/predict` answer"},
            "label": label
        }},
        "FeedbackStored": stored,
        "Health": {"type": "object", "required": ["status", "model", "production", "staging"], "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "model": {"type": "string"},
            "production": version.clone(),
            "staging": version
        }},
        "Error": {
            "type": "object",
            "description": "`error` (with `hint` and `details`) from the handler; `message` from API Gateway itself",
            "anyOf": [{"required": ["error"]}, {"required": ["message"]}],
            "properties": {
                "error": {"type": "string"},
                "hint": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": warning}
            }
        }
    })
}
