//! The OpenAPI 3 description of the prediction API, generated from the served model's features.

use mlinfra_core::data::Kind;
use mlinfra_core::serving::Served;
use serde_json::{Map, Value, json};

pub fn spec(model: &str, stage: &str, served: Option<&Served>, api_key: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    if let Some(m) = served {
        for f in &m.features {
            let mut p = json!({"type": "number", "nullable": true});
            if let Some([lo, hi]) = f.range {
                p["description"] = json!(format!(
                    "training range [{lo}, {hi}]; null for a missing value"
                ));
            }
            if f.text {
                let mut values: Vec<Value> = f.categories.iter().map(|c| json!(c)).collect();
                values.push(Value::Null);
                p = json!({
                    "type": "string",
                    "nullable": true,
                    "enum": values,
                    "description": "category; null for a missing value",
                });
            } else if f.kind == Kind::Categorical {
                let values: Vec<Value> = f
                    .categories
                    .iter()
                    .filter_map(|c| c.parse::<f64>().ok())
                    .map(|v| json!(v))
                    .collect();
                p["description"] = json!(format!(
                    "category, one of {}; null for a missing value",
                    f.categories.join(", ")
                ));
                p["x-categories"] = Value::Array(values);
            }
            props.insert(f.name.clone(), p);
            required.push(json!(f.name));
        }
    }
    let classes: Vec<Value> = served
        .map(|m| m.classes.iter().map(|c| json!(c)).collect())
        .unwrap_or_default();
    // A label is the class as the API answers it: an integer for integer classes, else its name.
    let label = match served {
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
    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {"title": format!("{model} prediction API"), "version": served.map_or("none".to_string(), |m| m.version.to_string())},
        "servers": [{"url": format!("/{stage}")}],
        "paths": {
            "/predict": {"post": {
                "summary": "Predict with confidence scores",
                "parameters": [
                    {"name": "stage", "in": "query", "required": false, "schema": {"type": "string", "enum": ["production", "staging"]}},
                    {"name": "explain", "in": "query", "required": false, "description": "`true`: each prediction's explanation (SHAP values of the margin per raw feature)", "schema": {"type": "boolean"}},
                    {"name": "X-Mlinfra-Monitor", "in": "header", "required": false, "description": "`false`: answer, but keep this request out of the logs and of monitoring (a smoke or load test)", "schema": {"type": "string", "enum": ["true", "false"]}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                    {"type": "object", "required": ["instances"], "properties": {"instances": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Instance"}}}},
                    {"type": "object", "required": ["features"], "properties": {"features": {"$ref": "#/components/schemas/Instance"}}}
                ]}}}},
                "responses": {
                    "200": {"description": "Predictions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Predictions"}}}},
                    "400": {"description": "Invalid request; `details` names each invalid field", "content": {"application/json": {"schema": error}}},
                    "409": {"description": "`explain=true` for a model version that cannot be explained (trained before explanations existed)", "content": {"application/json": {"schema": error}}},
                    "413": {"description": "Too many instances", "content": {"application/json": {"schema": error}}},
                    "503": {"description": "No model to serve in that stage", "content": {"application/json": {"schema": error}}}
                }
            }},
            "/feedback": {"post": {
                "summary": "Ground truth for a prediction",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["request_id", "label"], "properties": {"request_id": {"type": "string"}, "label": label.clone()}}}}},
                "responses": {
                    "202": {"description": "Stored; `replaced` when it corrects earlier feedback for the request"},
                    "400": {"description": "Invalid, or a class the model does not have", "content": {"application/json": {"schema": error}}},
                    "404": {"description": "No logged prediction has this request id", "content": {"application/json": {"schema": error}}},
                    "503": {"description": "No model is served to check the label against", "content": {"application/json": {"schema": error}}}
                }
            }},
            "/health": {"get": {"summary": "Which versions serve", "responses": {"200": {"description": "OK"}}}}
        },
        "components": {"schemas": {
            "Instance": {"type": "object", "additionalProperties": false, "required": required, "properties": props},
            "Predictions": {"type": "object", "properties": {
                "request_id": {"type": "string"},
                "model": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "integer"}, "stage": {"type": "string"}}},
                "predictions": {"type": "array", "items": {"type": "object", "properties": {
                    "label": label, "confidence": {"type": "number"},
                    "probabilities": {"type": "object", "properties": classes.iter().filter_map(|c| c.as_str()).map(|c| (c.to_string(), json!({"type": "number"}))).collect::<Map<String, Value>>()},
                    "explanation": {"$ref": "#/components/schemas/Explanation"}
                }}},
                "warnings": {"type": "array", "items": {"type": "object"}}
            }},
            "Explanation": {"type": "object", "description": "With `explain=true`: base + the sum of the contributions = margin", "properties": {
                "output": {"type": "string", "description": "`log_odds(<positive class>)`, or the predicted class"},
                "base": {"type": "number", "description": "The model's expected margin over its training rows"},
                "contributions": {"type": "object", "additionalProperties": {"type": "number"}},
                "margin": {"type": "number"}
            }},
            "Error": {"type": "object", "properties": {"error": {"type": "string"}, "hint": {"type": "string"}, "details": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}
        }}
    });
    if api_key {
        doc["components"]["securitySchemes"] =
            json!({"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}});
        doc["security"] = json!([{"apiKey": []}]);
    }
    doc
}
