//! Try it: a form generated from the serving model's schema (Production or Staging), and a CSV
//! upload for a small batch. Both go through the same service as the API's
//! `POST /predict?explain=true` (without explanations for a model imported from another tool),
//! and show the label, the confidence, every class's probability and the explanation (base
//! value + each raw feature's contribution = the model's margin), or a regression's value.

use std::fmt::Write as _;

use mlinfra_core::data::Kind;
use mlinfra_core::registry::Stage;
use mlinfra_core::serving::served::Served;
use mlinfra_core::serving::{ProxyRequest, RequestContext};
use serde_json::{Map, Value, json};

use super::form::{self, Form};
use super::page::{Page, csrf_field, esc, flash, num, table};
use super::session::Session;
use super::{Console, Req};

/// Rows an upload may have (a larger batch is `mlinfra predict`'s).
pub const MAX_UPLOAD_ROWS: usize = 1000;

fn stage_of(value: Option<&str>) -> Result<Stage, String> {
    match value.unwrap_or("production") {
        "production" => Ok(Stage::Production),
        "staging" => Ok(Stage::Staging),
        other => Err(format!(
            "stage `{other}`: expected `production` or `staging`"
        )),
    }
}

async fn serving(c: &Console, stage: Stage) -> Result<std::sync::Arc<Served>, String> {
    c.gateway.service.refresh(false).await;
    c.gateway.service.serving(stage).ok_or_else(|| {
        format!(
            "no {stage} model to serve yet: a version reaches {stage} through a request that someone else approves (Models page)"
        )
    })
}

/// A cell as the API takes it: empty or `?` is missing, a number is a number, anything else
/// is text (the API checks it against the schema and names the field when it is wrong).
fn cell(s: &str) -> Value {
    let t = s.trim();
    if t.is_empty() || t == "?" {
        return Value::Null;
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() => json!(x),
        _ => Value::String(t.to_string()),
    }
}

/// The predictions of `instances` with explanations, through the API's own service: the
/// `predictions` array, or the API's error as a message.
async fn predict_api(
    c: &Console,
    stage: Stage,
    explain: bool,
    instances: Vec<Value>,
) -> Result<Value, (u16, String)> {
    let mut query = std::collections::BTreeMap::new();
    query.insert("explain".to_string(), explain.to_string());
    query.insert("stage".to_string(), stage.as_str().to_ascii_lowercase());
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("content-type".to_string(), "application/json".to_string());
    let req = ProxyRequest {
        http_method: "POST".into(),
        path: "/predict".into(),
        query_string_parameters: Some(query),
        headers: Some(headers),
        body: Some(json!({ "instances": instances }).to_string()),
        is_base64_encoded: false,
        request_context: RequestContext {
            request_id: String::new(),
            stage: c.stack.api.stage.clone(),
        },
    };
    let out = c.gateway.service.handle(&req).await;
    for label in &out.labels {
        c.gateway.metrics.predicted(label);
    }
    let body: Value = serde_json::from_str(&out.response.body).unwrap_or(Value::Null);
    if out.response.status_code != 200 {
        let mut m = body["error"]
            .as_str()
            .unwrap_or("the prediction failed")
            .to_string();
        for e in body["errors"].as_array().into_iter().flatten() {
            let _ = write!(
                m,
                "\n{}: {}",
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            );
        }
        if let Some(h) = body["hint"].as_str() {
            let _ = write!(m, "\nhint: {h}");
        }
        return Err((out.response.status_code, m));
    }
    Ok(body)
}

fn stage_links(stage: Stage) -> String {
    let link = |s: Stage, v: &str| {
        if s == stage {
            format!("<strong>{s}</strong>")
        } else {
            format!("<a href=\"/ui/try?stage={v}\">{s}</a>")
        }
    };
    format!(
        "<p>Model in {} · {}</p>",
        link(Stage::Production, "production"),
        link(Stage::Staging, "staging")
    )
}

/// The form for one instance, with `values` filled in.
fn instance_form(model: &Served, stage: Stage, csrf: &str, values: &Form) -> String {
    let mut h = format!(
        "<form method=\"post\" action=\"/ui/try\" id=\"try-form\">{}<input type=\"hidden\" name=\"stage\" value=\"{}\"><fieldset><legend>One instance: version {} ({})</legend>",
        csrf_field(csrf),
        stage.as_str().to_ascii_lowercase(),
        model.version,
        stage
    );
    for f in &model.features {
        let name = format!("x.{}", f.name);
        let id = format!("x-{}", f.name);
        let value = values.get(&name).unwrap_or("");
        let input = match (&f.kind, &f.domain) {
            (Kind::Categorical, Some(domain)) if !domain.is_empty() => {
                let mut s = format!(
                    "<select id=\"{}\" name=\"{}\"><option value=\"\">(missing)</option>",
                    esc(&id),
                    esc(&name)
                );
                for d in domain {
                    let _ = write!(
                        s,
                        "<option{}>{}</option>",
                        if d == value { " selected" } else { "" },
                        esc(d)
                    );
                }
                s + "</select>"
            }
            _ if f.text => format!(
                "<input id=\"{}\" name=\"{}\" value=\"{}\">",
                esc(&id),
                esc(&name),
                esc(value)
            ),
            _ => format!(
                "<input id=\"{}\" name=\"{}\" value=\"{}\" inputmode=\"decimal\"{}>",
                esc(&id),
                esc(&name),
                esc(value),
                f.range.map_or(String::new(), |[lo, hi]| format!(
                    " placeholder=\"{} to {}\"",
                    num(lo),
                    num(hi)
                ))
            ),
        };
        let _ = write!(
            h,
            "<p><label for=\"{}\">{}</label>{input} <small>{}</small></p>",
            esc(&id),
            esc(&f.name),
            f.kind
        );
    }
    h.push_str("<p><small>An empty field is a missing value.</small></p><button id=\"predict\">Predict</button></fieldset></form>");
    let _ = write!(
        h,
        "<form method=\"post\" action=\"/ui/try/upload\" enctype=\"multipart/form-data\" id=\"upload-form\">{}<input type=\"hidden\" name=\"stage\" value=\"{}\"><fieldset><legend>A small batch: a CSV file with a header row (at most {MAX_UPLOAD_ROWS} rows)</legend>\
         <input type=\"file\" id=\"csv\" name=\"file\" accept=\".csv,text/csv\"> <button id=\"upload\">Predict the file</button></fieldset></form>",
        csrf_field(csrf),
        stage.as_str().to_ascii_lowercase()
    );
    h
}

pub async fn form(c: &Console, s: &Session, q: &Form) -> Page {
    let stage = match stage_of(q.get("stage")) {
        Ok(st) => st,
        Err(e) => return Page::error(400, "Try it", &e),
    };
    let mut b = stage_links(stage);
    match serving(c, stage).await {
        Ok(model) => b.push_str(&instance_form(&model, stage, &s.csrf, &Form::default())),
        Err(e) => b.push_str(&flash(false, &e)),
    }
    Page::ok("Try it", b)
}

/// One prediction's probabilities and explanation, or a regression's value.
fn prediction(p: &Value) -> String {
    if let Some(v) = p["value"].as_f64() {
        let i = &p["interval"];
        let interval = match (i["level"].as_f64(), i["low"].as_f64(), i["high"].as_f64()) {
            (Some(level), Some(low), Some(high)) => format!(
                ", <span id=\"interval\">{}% interval {} to {}</span>",
                num(level * 100.0),
                num(low),
                num(high)
            ),
            _ => String::new(),
        };
        return format!("<p>Value <strong id=\"value\">{v}</strong>{interval}.</p>");
    }
    let mut h = format!(
        "<p>Label <strong id=\"label\">{}</strong> with confidence <strong id=\"confidence\">{}</strong>.</p>",
        esc(&label_text(&p["label"])),
        p["confidence"]
            .as_f64()
            .map_or("–".into(), |x| x.to_string())
    );
    let probs: Vec<Vec<String>> = p["probabilities"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(class, v)| {
            vec![
                esc(class),
                format!(
                    "<span id=\"p-{}\">{}</span>",
                    esc(class),
                    v.as_f64().map_or("–".into(), |x| x.to_string())
                ),
            ]
        })
        .collect();
    h.push_str(&table("probabilities", &["class", "probability"], &probs));
    let e = &p["explanation"];
    if let Some(contributions) = e["contributions"].as_object() {
        let mut sorted: Vec<(&String, f64)> = contributions
            .iter()
            .map(|(k, v)| (k, v.as_f64().unwrap_or(0.0)))
            .collect();
        sorted.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        let max = sorted.first().map_or(1.0, |x| x.1.abs()).max(1e-12);
        let mut rows = vec![vec![
            "<em>base value</em>".to_string(),
            num(e["base"].as_f64().unwrap_or(f64::NAN)),
            String::new(),
        ]];
        for (f, v) in &sorted {
            let width = (v.abs() / max * 120.0).round();
            rows.push(vec![
                esc(f),
                format!("<span class=\"{}\">{}{}</span>", if *v >= 0.0 { "pos" } else { "neg" }, if *v >= 0.0 { "+" } else { "" }, num(*v)),
                format!(
                    "<svg width=\"122\" height=\"10\" aria-hidden=\"true\"><rect width=\"{width}\" height=\"10\" fill=\"{}\"/></svg>",
                    if *v >= 0.0 { "#b02a00" } else { "#0b5cad" }
                ),
            ]);
        }
        rows.push(vec![
            "<em>= margin</em>".into(),
            num(e["margin"].as_f64().unwrap_or(f64::NAN)),
            String::new(),
        ]);
        let _ = write!(
            h,
            "<h3>Why: contributions to <code>{}</code></h3>{}",
            esc(e["output"].as_str().unwrap_or("")),
            table("explanation", &["feature", "contribution", ""], &rows)
        );
    }
    h
}

fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn predict(c: &Console, s: &Session, f: &Form) -> Page {
    let stage = match stage_of(f.get("stage")) {
        Ok(st) => st,
        Err(e) => return Page::error(400, "Try it", &e),
    };
    let model = match serving(c, stage).await {
        Ok(m) => m,
        Err(e) => return Page::error(409, "Try it", &e),
    };
    let mut instance = Map::new();
    for feat in &model.features {
        let v = f.get(&format!("x.{}", feat.name)).unwrap_or("");
        let v = if feat.text && !v.trim().is_empty() {
            Value::String(v.trim().to_string())
        } else {
            cell(v)
        };
        instance.insert(feat.name.clone(), v);
    }
    let mut b = stage_links(stage);
    // A model without its own evaluator (one imported from another tool) is not explained.
    let explain = model.is_native();
    let status = match predict_api(c, stage, explain, vec![Value::Object(instance)]).await {
        Ok(body) => {
            let _ = write!(
                b,
                "<section id=\"result\"><h2>Version {} ({})</h2>{}</section>",
                body["model"]["version"],
                esc(body["model"]["stage"].as_str().unwrap_or("")),
                prediction(&body["predictions"][0])
            );
            200
        }
        Err((status, m)) => {
            b.push_str(&flash(false, &m));
            status
        }
    };
    b.push_str(&instance_form(&model, stage, &s.csrf, f));
    let mut p = Page::ok("Try it", b);
    p.status = status;
    p
}

pub async fn upload(c: &Console, s: &Session, r: &Req) -> Page {
    let Some(boundary) = form::boundary(&r.content_type) else {
        return Page::error(
            400,
            "Try it",
            "the upload is not `multipart/form-data`: use the form's file field",
        );
    };
    let parts = match form::multipart(&r.body, &boundary) {
        Ok(p) => p,
        Err(e) => return Page::error(400, "Try it", &format!("the upload cannot be read: {e}")),
    };
    let field = |n: &str| parts.iter().find(|p| p.name == n);
    let stage = match stage_of(field("stage").map(|p| std::str::from_utf8(p.body).unwrap_or("?"))) {
        Ok(st) => st,
        Err(e) => return Page::error(400, "Try it", &e),
    };
    let Some(file) = field("file").filter(|p| !p.body.is_empty()) else {
        return Page::error(
            400,
            "Try it",
            "no file was chosen: pick a CSV file with a header row",
        );
    };
    let model = match serving(c, stage).await {
        Ok(m) => m,
        Err(e) => return Page::error(409, "Try it", &e),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(file.body);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|x| x.trim().to_string()).collect(),
        Err(e) => {
            return Page::error(
                400,
                "Try it",
                &format!("the file's header row cannot be read: {e}"),
            );
        }
    };
    let missing: Vec<&str> = model
        .features
        .iter()
        .filter(|f| !header.contains(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    let ignored: Vec<&str> = header
        .iter()
        .filter(|h| !model.features.iter().any(|f| &f.name == *h))
        .map(String::as_str)
        .collect();
    let mut instances = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return Page::error(400, "Try it", &format!("row {}: {e}", i + 2)),
        };
        if instances.len() == MAX_UPLOAD_ROWS {
            return Page::error(
                413,
                "Try it",
                &format!(
                    "the file has more than {MAX_UPLOAD_ROWS} rows\nhint: `mlinfra predict --input FILE --explain` predicts a file of any size"
                ),
            );
        }
        let mut obj = Map::new();
        for (h, v) in header.iter().zip(rec.iter()) {
            if let Some(f) = model.features.iter().find(|f| &f.name == h) {
                let v = if f.text && !v.trim().is_empty() && v.trim() != "?" {
                    Value::String(v.trim().to_string())
                } else {
                    cell(v)
                };
                obj.insert(h.clone(), v);
            }
        }
        instances.push(Value::Object(obj));
    }
    if instances.is_empty() {
        return Page::error(400, "Try it", "the file has a header row and no data rows");
    }
    let n = instances.len();
    let mut b = stage_links(stage);
    let name = file.filename.clone().unwrap_or_default();
    let _ = write!(
        b,
        "<p>{} row{} of <code>{}</code>.",
        n,
        if n == 1 { "" } else { "s" },
        esc(&name)
    );
    if !ignored.is_empty() {
        let _ = write!(
            b,
            " Columns not used by the model: {}.",
            esc(&ignored.join(", "))
        );
    }
    if !missing.is_empty() {
        let _ = write!(
            b,
            " Missing columns (sent as missing values): {}.",
            esc(&missing.join(", "))
        );
    }
    b.push_str("</p>");
    let status = match predict_api(c, stage, model.is_native(), instances).await {
        Ok(body) => {
            let classes: Vec<String> = model.classes.clone();
            let rows: Vec<Vec<String>> = body["predictions"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, p)| {
                    let mut row = vec![
                        (i + 1).to_string(),
                        esc(&label_text(&p["label"])),
                        p["confidence"].as_f64().map_or("–".into(), num),
                    ];
                    for c in &classes {
                        row.push(p["probabilities"][c].as_f64().map_or("–".into(), num));
                    }
                    let mut contributions: Vec<(String, f64)> = p["explanation"]["contributions"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                        .collect();
                    contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
                    row.push(
                        contributions
                            .iter()
                            .take(3)
                            .map(|(k, v)| {
                                format!(
                                    "{} {}{}",
                                    esc(k),
                                    if *v >= 0.0 { "+" } else { "" },
                                    num(*v)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                    row
                })
                .collect();
            let mut headers = vec!["row".to_string(), "label".into(), "confidence".into()];
            headers.extend(classes.iter().map(|c| format!("P({c})")));
            headers.push("strongest contributions".into());
            let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
            let _ = write!(
                b,
                "<section id=\"result\"><h2>Version {} ({})</h2>{}</section>",
                body["model"]["version"],
                esc(body["model"]["stage"].as_str().unwrap_or("")),
                table("batch", &hdr, &rows)
            );
            200
        }
        Err((status, m)) => {
            b.push_str(&flash(false, &m));
            status
        }
    };
    b.push_str(&instance_form(&model, stage, &s.csrf, &Form::default()));
    let mut p = Page::ok("Try it", b);
    p.status = status;
    p
}
