//! The Open Inference Protocol v2 (KServe's and Triton's HTTP API) beside mlinfra's own routes,
//! so that their clients work unchanged: `GET /v2`, `GET /v2/health/live|ready`,
//! `GET /v2/models/{name}[/versions/{v}]`, `GET …/ready` and `POST …/infer`.
//!
//! A request's tensors become /predict's instances and go through the same validation, scoring
//! and prediction log (see [`super::Service`]): a text model takes one `BYTES` input of shape
//! `[N]`; a tabular model one input per feature (`[N]` or `[N, 1]`, named after it, `BYTES`
//! for text categories), or one numeric input `[N, F]` with every feature in order. The
//! answer has the outputs `label` (`BYTES [N]`), `confidence` (`FP32 [N]`) and
//! `probabilities` (`FP32 [N, C]`, the classes in the order of the model's metadata), a
//! regression's the output `value` (`FP32 [N]`), or those the request names. Tensors travel as JSON (`"data"`): the binary tensor extension is
//! refused with a hint.

use serde_json::{Value, json};

use super::api::ProxyResponse;
use super::served::Served;

/// A route of the protocol, parsed from a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2`: the server's metadata.
    Server,
    /// `GET /v2/health/live`.
    Live,
    /// `GET /v2/health/ready`.
    Ready,
    /// `GET /v2/models/{name}[/versions/{version}]`.
    Model(Target),
    /// `GET /v2/models/{name}[/versions/{version}]/ready`.
    ModelReady(Target),
    /// `POST /v2/models/{name}[/versions/{version}]/infer`.
    Infer(Target),
}

/// The model a route names: its name and, when given, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub version: Option<String>,
}

impl Route {
    /// The route of `path` (`None` when it is not under `/v2`, or not one of the protocol's).
    pub fn parse(path: &str) -> Option<Route> {
        let rest = path
            .trim_end_matches('/')
            .strip_prefix("/v2")
            .filter(|r| r.is_empty() || r.starts_with('/'))?;
        let parts: Vec<&str> = rest.split('/').skip(1).collect();
        Some(match parts.as_slice() {
            [] => Route::Server,
            ["health", "live"] => Route::Live,
            ["health", "ready"] => Route::Ready,
            ["models", name, tail @ ..] => {
                let (version, tail) = match tail {
                    ["versions", v, tail @ ..] => (Some(v.to_string()), tail),
                    _ => (None, tail),
                };
                let target = Target {
                    name: crate::urlencoding::decode(name),
                    version,
                };
                match tail {
                    [] => Route::Model(target),
                    ["ready"] => Route::ModelReady(target),
                    ["infer"] => Route::Infer(target),
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// The HTTP method the route takes.
    pub fn method(&self) -> &'static str {
        match self {
            Route::Infer(_) => "POST",
            _ => "GET",
        }
    }
}

/// The protocol's name of a model's input of this kind.
fn datatype(text: bool) -> &'static str {
    if text { "BYTES" } else { "FP64" }
}

/// `GET /v2/models/{name}`: the model's versions served, inputs and outputs.
pub fn metadata(name: &str, model: &Served, versions: &[u64]) -> Value {
    let inputs: Vec<Value> = if model.scorer.takes_text() {
        model
            .features
            .iter()
            .map(|f| json!({"name": f.name, "datatype": "BYTES", "shape": [-1]}))
            .collect()
    } else {
        model
            .features
            .iter()
            .map(|f| json!({"name": f.name, "datatype": datatype(f.text), "shape": [-1, 1]}))
            .collect()
    };
    json!({
        "name": name,
        "versions": versions.iter().map(u64::to_string).collect::<Vec<_>>(),
        "platform": "onnx",
        "inputs": inputs,
        "outputs": if model.regression {
            json!([{"name": "value", "datatype": "FP32", "shape": [-1]}])
        } else {
            json!([
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "confidence", "datatype": "FP32", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, model.classes.len()]},
            ])
        },
    })
}

/// The outputs a classification's answer can have.
pub const OUTPUTS: [&str; 3] = ["label", "confidence", "probabilities"];

/// The outputs `model`'s answer can have: a regression's value, or [`OUTPUTS`].
fn outputs_of(model: &Served) -> &'static [&'static str] {
    if model.regression {
        &["value"]
    } else {
        &OUTPUTS
    }
}

/// What an infer request asks.
#[derive(Debug)]
pub struct InferRequest {
    /// The request's own id, echoed in the answer.
    pub id: Option<String>,
    /// /predict's instances.
    pub instances: Vec<Value>,
    /// The outputs asked for, in order (all when the request names none).
    pub outputs: Vec<String>,
}

fn bad(message: &str, field: &str, detail: String, hint: Option<&str>) -> ProxyResponse {
    ProxyResponse::error(
        400,
        message,
        vec![json!({"field": field, "message": detail})],
        hint,
    )
}

const BINARY_HINT: &str = "send tensors as JSON `data`: in tritonclient, `set_data_from_numpy(array, binary_data=False)` and `InferRequestedOutput(name, binary_data=False)`";

/// Read an infer request's body for `model`.
pub fn request(model: &Served, body: &Value) -> Result<InferRequest, ProxyResponse> {
    let Value::Object(o) = body else {
        return Err(ProxyResponse::error(
            400,
            "the body must be an inference request: {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]}",
            vec![],
            None,
        ));
    };
    if o.get("parameters")
        .and_then(|p| p.get("binary_data_output"))
        .is_some_and(|b| b == &Value::Bool(true))
    {
        return Err(bad(
            "binary tensor data is not supported",
            "parameters.binary_data_output",
            "expected false or absent: outputs are answered as JSON".into(),
            Some(BINARY_HINT),
        ));
    }
    let id = o.get("id").and_then(Value::as_str).map(str::to_string);
    let Some(Value::Array(inputs)) = o.get("inputs") else {
        return Err(bad(
            "the inference request has no `inputs`",
            "inputs",
            "expected a list of tensors".into(),
            None,
        ));
    };
    let mut tensors = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.iter().enumerate() {
        tensors.push(tensor(t, &format!("inputs[{i}]"))?);
    }
    let instances = if model.scorer.takes_text() {
        text_instances(model, &tensors)?
    } else {
        tabular_instances(model, &tensors)?
    };
    let outputs = match o.get("outputs") {
        None => outputs_of(model).iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(asked)) => {
            let mut names = Vec::with_capacity(asked.len());
            for (i, a) in asked.iter().enumerate() {
                let field = format!("outputs[{i}]");
                if a.get("parameters")
                    .and_then(|p| p.get("binary_data"))
                    .is_some_and(|b| b == &Value::Bool(true))
                {
                    return Err(bad(
                        "binary tensor data is not supported",
                        &format!("{field}.parameters.binary_data"),
                        "expected false or absent".into(),
                        Some(BINARY_HINT),
                    ));
                }
                match a.get("name").and_then(Value::as_str) {
                    Some(n) if outputs_of(model).contains(&n) => names.push(n.to_string()),
                    other => {
                        return Err(bad(
                            "unknown output",
                            &format!("{field}.name"),
                            format!(
                                "`{}` is not an output; the outputs are {}",
                                other.unwrap_or_default(),
                                outputs_of(model).join(", ")
                            ),
                            None,
                        ));
                    }
                }
            }
            names
        }
        Some(_) => {
            return Err(bad(
                "`outputs` must be a list",
                "outputs",
                "expected [{\"name\": ...}]".into(),
                None,
            ));
        }
    };
    Ok(InferRequest {
        id,
        instances,
        outputs,
    })
}

/// One input tensor of a request: its name, shape and flattened data.
struct Tensor {
    name: String,
    field: String,
    shape: Vec<usize>,
    bytes: bool,
    data: Vec<Value>,
}

fn tensor(t: &Value, field: &str) -> Result<Tensor, ProxyResponse> {
    let name = t.get("name").and_then(Value::as_str).ok_or_else(|| {
        bad(
            "an input has no name",
            &format!("{field}.name"),
            "expected a string".into(),
            None,
        )
    })?;
    let field = format!("{field} ({name})");
    if t.get("parameters")
        .and_then(|p| p.get("binary_data_size"))
        .is_some()
    {
        return Err(bad(
            "binary tensor data is not supported",
            &format!("{field}.parameters.binary_data_size"),
            "expected the tensor's values in `data`".into(),
            Some(BINARY_HINT),
        ));
    }
    let shape: Option<Vec<usize>> = t
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|s| s.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
    let Some(shape) = shape.filter(|s| !s.is_empty() && s.len() <= 2) else {
        return Err(bad(
            "an input's shape is not [N] or [N, F]",
            &format!("{field}.shape"),
            format!(
                "expected one or two sizes, found {}",
                t.get("shape").unwrap_or(&Value::Null)
            ),
            None,
        ));
    };
    let datatype = t.get("datatype").and_then(Value::as_str).unwrap_or("");
    const TYPES: [&str; 14] = [
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
        "FP32", "FP64", "BF16", "BYTES",
    ];
    if !TYPES.contains(&datatype) {
        return Err(bad(
            "unknown datatype",
            &format!("{field}.datatype"),
            format!("`{datatype}` is none of {}", TYPES.join(", ")),
            None,
        ));
    }
    let mut data = Vec::new();
    flatten(t.get("data").unwrap_or(&Value::Null), &mut data);
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(bad(
            "an input's data does not fill its shape",
            &format!("{field}.data"),
            format!(
                "{} values for the shape {shape:?} ({expected} values)",
                data.len()
            ),
            None,
        ));
    }
    Ok(Tensor {
        name: name.to_string(),
        field,
        shape,
        bytes: datatype == "BYTES",
        data,
    })
}

/// The values of a (nested) list, in row-major order; a value that is no list is one value.
fn flatten(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        Value::Null => {}
        other => out.push(other.clone()),
    }
}

fn text_instances(model: &Served, tensors: &[Tensor]) -> Result<Vec<Value>, ProxyResponse> {
    let name = model.features.first().map_or("text", |f| f.name.as_str());
    let [t] = tensors else {
        return Err(bad(
            "a text model takes one input",
            "inputs",
            format!(
                "expected one BYTES tensor `{name}` of shape [N], found {} inputs",
                tensors.len()
            ),
            None,
        ));
    };
    if !t.bytes || (t.shape.len() == 2 && t.shape[1] != 1) {
        return Err(bad(
            "a text model takes one BYTES tensor of shape [N]",
            &t.field,
            "expected datatype BYTES and shape [N] or [N, 1]".into(),
            None,
        ));
    }
    Ok(t.data.iter().map(|v| json!({ name: v })).collect())
}

fn tabular_instances(model: &Served, tensors: &[Tensor]) -> Result<Vec<Value>, ProxyResponse> {
    let features = &model.features;
    // One tensor [N, F] with every feature in order.
    if let [t] = tensors
        && !features.iter().any(|f| f.name == t.name)
        && t.shape.len() == 2
        && t.shape[1] == features.len()
    {
        return Ok(t
            .data
            .chunks(features.len().max(1))
            .map(|row| {
                Value::Object(
                    features
                        .iter()
                        .zip(row)
                        .map(|(f, v)| (f.name.clone(), v.clone()))
                        .collect(),
                )
            })
            .collect());
    }
    let names: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
    let rows = tensors.first().map_or(0, |t| t.shape[0]);
    let mut instances = vec![serde_json::Map::new(); rows];
    for t in tensors {
        if !features.iter().any(|f| f.name == t.name) {
            return Err(bad(
                "unknown input",
                &t.field,
                format!(
                    "`{}` is not a feature: send one input per feature ({}) of shape [N] or [N, 1], or one numeric input [N, {}]",
                    t.name,
                    names.join(", "),
                    features.len()
                ),
                None,
            ));
        }
        if t.shape[0] != rows || (t.shape.len() == 2 && t.shape[1] != 1) {
            return Err(bad(
                "the inputs' shapes differ",
                &format!("{}.shape", t.field),
                format!("expected [{rows}] or [{rows}, 1], found {:?}", t.shape),
                None,
            ));
        }
        for (row, v) in instances.iter_mut().zip(&t.data) {
            row.insert(t.name.clone(), v.clone());
        }
    }
    // A feature without an input is reported by the validation, as a missing feature.
    Ok(instances.into_iter().map(Value::Object).collect())
}

/// The answer's outputs, as asked.
pub fn outputs(model: &Served, scores: &crate::scorer::Scores, asked: &[String]) -> Vec<Value> {
    let (labels, probabilities) = (&scores.labels, &scores.probabilities);
    let n = labels.len();
    let k = model.classes.len();
    asked
        .iter()
        .map(|name| match name.as_str() {
            "value" => json!({
                "name": "value", "datatype": "FP32", "shape": [scores.values.len()],
                "data": scores.values.iter().map(|v| f64::from(*v)).collect::<Vec<_>>(),
            }),
            "label" => json!({
                "name": "label", "datatype": "BYTES", "shape": [n],
                "data": labels.iter().map(|l| model.classes[model.class_index(*l)].clone()).collect::<Vec<_>>(),
            }),
            "confidence" => json!({
                "name": "confidence", "datatype": "FP32", "shape": [n],
                "data": labels.iter().enumerate().map(|(i, l)| f64::from(probabilities[i * k + model.class_index(*l)])).collect::<Vec<_>>(),
            }),
            _ => json!({
                "name": "probabilities", "datatype": "FP32", "shape": [n, k],
                "data": probabilities.iter().map(|p| f64::from(*p)).collect::<Vec<_>>(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_parsed_as_the_protocol_names_them() {
        let t = |name: &str, version: Option<&str>| Target {
            name: name.into(),
            version: version.map(str::to_string),
        };
        assert_eq!(Route::parse("/v2"), Some(Route::Server));
        assert_eq!(Route::parse("/v2/health/live"), Some(Route::Live));
        assert_eq!(Route::parse("/v2/health/ready/"), Some(Route::Ready));
        assert_eq!(
            Route::parse("/v2/models/heart-disease"),
            Some(Route::Model(t("heart-disease", None)))
        );
        assert_eq!(
            Route::parse("/v2/models/m/versions/3/infer"),
            Some(Route::Infer(t("m", Some("3"))))
        );
        assert_eq!(
            Route::parse("/v2/models/m/ready"),
            Some(Route::ModelReady(t("m", None)))
        );
        assert_eq!(Route::parse("/v2/models/m/explain"), None);
        assert_eq!(Route::parse("/v2x"), None);
        assert_eq!(Route::parse("/predict"), None);
        assert_eq!(Route::Infer(t("m", None)).method(), "POST");
    }

    #[test]
    fn nested_data_is_read_in_row_major_order() {
        let mut out = Vec::new();
        flatten(&json!([[1, 2], [3, 4]]), &mut out);
        assert_eq!(out, [json!(1), json!(2), json!(3), json!(4)]);
    }
}
