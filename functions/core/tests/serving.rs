//! The predict handler with a real model (logistic regression on heart, exported to ONNX, run by
//! tract): a fuzz of arbitrary bodies never panics and never answers 5xx; valid requests agree
//! with the in-memory model.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use mlinfra_core::data::split::split;
use mlinfra_core::model::{Model, Params};
use mlinfra_core::onnx::{Metadata, export};
use mlinfra_core::registry::{Current, Pointer, Stage};
use mlinfra_core::serving::{Config, FeedbackSink, ModelSource, ProxyRequest, Service};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Run a future that completes without waiting (the sources here answer at once): no runtime's
/// overhead in what is measured.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

struct Fixture {
    bytes: Vec<u8>,
    sha: String,
}

impl ModelSource for &'static Fixture {
    async fn current(&self) -> Result<Option<Current>, String> {
        Ok(Some(Current {
            model: "heart".into(),
            production: Some(Pointer {
                version: 1,
                artifact_uri: "memory://model".into(),
                sha256: self.sha.clone(),
            }),
            staging: None,
        }))
    }

    async fn fetch(&self, p: &Pointer) -> Result<Vec<u8>, String> {
        mlinfra_core::registry::verify(&self.bytes, &p.sha256, "fixture")
            .map_err(|e| e.to_string())?;
        Ok(self.bytes.clone())
    }
}

struct Discard;

impl FeedbackSink for Discard {
    async fn store(&self, _: &str, _: &Value) -> Result<bool, String> {
        Ok(false)
    }

    async fn logged(&self, _: &str) -> Result<Option<u64>, String> {
        Ok(None)
    }
}

/// Logistic regression on 80% of the heart rows (`num > 0`).
fn logistic() -> Model {
    let (f, l) = common::heart(&common::binary());
    let s = split(&f, &l, 0.2, 42);
    Model::fit(
        &f,
        &l.y,
        &s.train,
        &l,
        &Params::LogisticRegression { l2: 1.0 },
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (f, l) = common::heart(&common::binary());
        let m = logistic();
        let schema =
            mlinfra_core::schema::Schema::infer(&mlinfra_core::stats::compute(&f, Some(&l)));
        // As the pipeline exports it: the schema, and the model itself (its own evaluator,
        // which explanations need).
        let meta = Metadata {
            entries: vec![
                (
                    "mlinfra.schema".into(),
                    serde_json::to_string(&schema).unwrap(),
                ),
                ("mlinfra.model".into(), serde_json::to_string(&m).unwrap()),
            ],
        };
        let bytes = export(&m, &meta).unwrap();
        let sha = format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(&bytes));
        Fixture { bytes, sha }
    })
}

fn service() -> &'static Service<&'static Fixture, Discard> {
    static SERVICE: OnceLock<Service<&'static Fixture, Discard>> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let fixture = fixture();
        let config = Config {
            model: "heart".into(),
            max_batch: 100,
            refresh: Duration::from_secs(3600),
            sample_rate: 0.0,
        };
        Service::new(config, fixture, Discard)
    })
}

fn post(path: &str, body: &str) -> (u16, Value) {
    post_with(path, &[], body)
}

fn post_with(path: &str, query: &[(&str, &str)], body: &str) -> (u16, Value) {
    let req = ProxyRequest {
        http_method: "POST".into(),
        path: path.into(),
        body: Some(body.into()),
        query_string_parameters: Some(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..ProxyRequest::default()
    };
    let out = ready(service().handle(&req));
    let v: Value = serde_json::from_str(&out.response.body).unwrap_or(Value::Null);
    (out.response.status_code, v)
}

fn valid() -> Value {
    json!({"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2,
        "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6})
}

#[test]
fn a_valid_request_is_answered_with_probabilities() {
    let (status, body) = post(
        "/predict",
        &json!({"instances": [valid(), valid()]}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let p = &body["predictions"][0]["probabilities"];
    let sum = p["0"].as_f64().unwrap() + p["1"].as_f64().unwrap();
    assert!((sum - 1.0).abs() < 1e-6);
    let (status, body) = post("/predict", &json!({"features": valid()}).to_string());
    assert_eq!(status, 200, "{body}");
    let mut out_of_range = valid();
    out_of_range["chol"] = json!(9000);
    let (status, body) = post("/predict", &json!({"features": out_of_range}).to_string());
    assert_eq!(
        status, 200,
        "a value outside the range is a warning: {body}"
    );
    assert!(
        body["warnings"][0]["field"]
            .as_str()
            .unwrap()
            .ends_with("chol")
    );
}

#[test]
fn explain_true_adds_each_predictions_explanation_which_adds_up_to_its_log_odds() {
    let mut missing = valid();
    missing["chol"] = Value::Null;
    let (status, body) = post_with(
        "/predict",
        &[("explain", "true")],
        &json!({"instances": [valid(), missing]}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    for p in body["predictions"].as_array().unwrap() {
        let e = &p["explanation"];
        assert_eq!(e["output"], "log_odds(1)", "{e}");
        let c = e["contributions"].as_object().unwrap();
        assert_eq!(c.len(), 13, "one per raw feature: {e}");
        assert!(c.values().any(|v| v.as_f64().unwrap().abs() > 1e-3), "{e}");
        let margin =
            e["base"].as_f64().unwrap() + c.values().map(|v| v.as_f64().unwrap()).sum::<f64>();
        assert!((margin - e["margin"].as_f64().unwrap()).abs() < 1e-9, "{e}");
        // The margin is the served probability's log-odds (to f32's precision).
        let p1 = p["probabilities"]["1"].as_f64().unwrap();
        let sigmoid = 1.0 / (1.0 + (-margin).exp());
        assert!((sigmoid - p1).abs() < 1e-6, "{sigmoid} vs {p1}");
    }
    let (status, body) = post("/predict", &json!({"features": valid()}).to_string());
    assert_eq!(status, 200);
    assert!(
        body["predictions"][0].get("explanation").is_none(),
        "only when asked"
    );
    let (status, body) = post_with(
        "/predict",
        &[("explain", "maybe")],
        &json!({"features": valid()}).to_string(),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "explain", "{body}");
    // A model file without the model's own evaluator cannot be explained, and says so.
    let m = logistic();
    let bare = export(&m, &Metadata { entries: vec![] }).unwrap();
    let served =
        mlinfra_core::serving::Served::load(&bare, "heart", 1, Stage::Production, "").unwrap();
    let row = [
        63.0, 1.0, 1.0, 145.0, 233.0, 1.0, 2.0, 150.0, 0.0, 2.3, 3.0, 0.0, 6.0,
    ];
    let err = served.explain(1, &row, &[1]).unwrap_err();
    assert!(err.contains("evaluator"), "{err}");
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| json!(v)),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("instances".to_string()),
                    Just("features".to_string()),
                    Just("age".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_never_give_a_server_error(body in "\\PC{0,300}", path in prop_oneof![Just("/predict".to_string()), Just("/feedback".to_string()), Just("/health".to_string()), "/[a-z]{0,8}"]) {
        let (status, _) = post(&path, &body);
        prop_assert!((200..500).contains(&status), "status {}", status);
    }

    #[test]
    fn arbitrary_json_never_gives_a_server_error(v in json_value()) {
        let (status, body) = post("/predict", &v.to_string());
        prop_assert!((200..500).contains(&status), "status {} for {}", status, v);
        prop_assert!(body.is_object(), "the answer is JSON");
    }

    #[test]
    fn mutated_valid_requests_never_give_a_server_error(key in prop_oneof![Just("age".to_string()), Just("thal".to_string()), Just("ca".to_string()), Just("nope".to_string())], v in json_value(), n in 1usize..4) {
        let mut inst = valid();
        inst[key.as_str()] = v;
        let (status, body) = post("/predict", &json!({"instances": vec![inst; n]}).to_string());
        prop_assert!(status == 200 || status == 400, "status {}: {}", status, body);
        if status == 400 {
            prop_assert!(body["details"].as_array().is_some_and(|d| !d.is_empty()), "400 names the fields: {}", body);
        }
    }
}

#[test]
fn the_native_evaluator_is_used_only_when_it_agrees_with_the_graph() {
    use mlinfra_core::model::Estimator;
    use mlinfra_core::serving::Served;
    let m = logistic();
    let with = |model: &Model| Metadata {
        entries: vec![(
            "mlinfra.model".into(),
            serde_json::to_string(model).unwrap(),
        )],
    };
    let good = export(&m, &with(&m)).unwrap();
    let served = Served::load(&good, "heart", 1, Stage::Production, "").unwrap();
    assert!(served.is_native());
    let row = [
        63.0,
        1.0,
        1.0,
        145.0,
        233.0,
        1.0,
        2.0,
        150.0,
        0.0,
        2.3,
        3.0,
        0.0,
        f32::NAN,
    ];
    let native = served.score(1, &row).unwrap();
    let graph = served.scorer.score(1, &row).unwrap();
    assert_eq!(native.labels, graph.labels);
    assert!((native.probabilities[1] - graph.probabilities[1]).abs() < 1e-6);

    // An embedded model that disagrees with the graph is not used.
    let mut wrong = m.clone();
    if let Estimator::LogisticRegression(lr) = &mut wrong.estimator {
        lr.intercepts[0] += 1.0;
    }
    let tampered = export(&m, &with(&wrong)).unwrap();
    let served = Served::load(&tampered, "heart", 1, Stage::Production, "").unwrap();
    assert!(
        !served.is_native(),
        "a disagreeing native model must fall back to tract"
    );
    assert_eq!(served.score(1, &row).unwrap(), graph);
    // Without it, tract scores.
    let plain = export(&m, &Metadata::default()).unwrap();
    assert!(
        !Served::load(&plain, "heart", 1, Stage::Production, "")
            .unwrap()
            .is_native()
    );
}

/// A registry whose pointers a test moves, over the fixture's one good model file: any other
/// sha256 is a tampered object, which fails its check.
struct Moving(std::sync::Mutex<Current>);

impl ModelSource for Moving {
    async fn current(&self) -> Result<Option<Current>, String> {
        Ok(Some(self.0.lock().unwrap().clone()))
    }

    async fn fetch(&self, p: &Pointer) -> Result<Vec<u8>, String> {
        let f = fixture();
        mlinfra_core::registry::verify(&f.bytes, &p.sha256, "the model object")
            .map_err(|e| e.to_string())?;
        Ok(f.bytes.clone())
    }
}

fn production(version: u64, sha256: &str) -> Current {
    Current {
        model: "heart".into(),
        production: Some(Pointer {
            version,
            artifact_uri: format!("memory://v{version}"),
            sha256: sha256.into(),
        }),
        staging: None,
    }
}

#[test]
fn a_tampered_model_is_not_served_the_old_one_keeps_serving_and_the_failure_is_counted() {
    let good = fixture().sha.clone();
    let service = Service::new(
        Config {
            model: "heart".into(),
            max_batch: 100,
            refresh: Duration::from_secs(3600),
            sample_rate: 0.0,
        },
        Moving(std::sync::Mutex::new(production(1, &good))),
        Discard,
    );
    assert!(ready(service.refresh(true)).is_empty());
    assert_eq!(service.serving(Stage::Production).unwrap().version, 1);
    // Version 2 is approved, but its object does not match its registered sha256.
    *service.source().0.lock().unwrap() = production(2, &format!("sha256:{}", "0".repeat(64)));
    let problems = ready(service.refresh(true));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("version 2: ") && problems[0].contains("sha256"),
        "{problems:?}"
    );
    assert_eq!(service.serving(Stage::Production).unwrap().version, 1);
    assert_eq!(service.refresh_failures(), 1);
    let (status, body) = {
        let req = ProxyRequest {
            http_method: "POST".into(),
            path: "/predict".into(),
            body: Some(json!({"instances": [valid()]}).to_string()),
            ..ProxyRequest::default()
        };
        let out = ready(service.handle(&req));
        (out.response.status_code, out.response.body)
    };
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"version\":1"), "{body}");
    // Once the registry points at a good object again, it is served.
    *service.source().0.lock().unwrap() = production(3, &good);
    assert!(ready(service.refresh(true)).is_empty());
    assert_eq!(service.serving(Stage::Production).unwrap().version, 3);
}

/// The edges the OpenAPI document draws are the handler's: the largest `f32` is a valid value
/// and the next number up is not; the body has one shape; parameters take exactly the listed
/// values; a stage without a model is a 404, not a server error.
#[test]
fn the_handler_enforces_exactly_what_the_openapi_document_says() {
    let with = |k: &str, v: Value| {
        let mut o = valid();
        o[k] = v;
        json!({"instances": [o]}).to_string()
    };
    let max = mlinfra_core::serving::openapi::MAX_VALUE;
    assert_eq!(post("/predict", &with("chol", json!(max))).0, 200);
    assert_eq!(post("/predict", &with("chol", json!(-max))).0, 200);
    // The next f64 above f32::MAX, written as the shortest decimal that parses back to it.
    let above = f64::from_bits(max.to_bits() + 1);
    let (status, body) = post("/predict", &with("chol", json!(above)));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "instances[0].chol", "{body}");
    let both = json!({"instances": [valid()], "features": valid()}).to_string();
    assert_eq!(post("/predict", &both).0, 400);
    let extra = json!({"instances": [valid()], "x": 1}).to_string();
    let (status, body) = post("/predict", &extra);
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("x"))
    );
    let one = json!({"instances": [valid()]}).to_string();
    for (k, v) in [
        ("stage", "Production"),
        ("explain", "1"),
        ("explain", "TRUE"),
    ] {
        let (status, body) = post_with("/predict", &[(k, v)], &one);
        assert_eq!(status, 400, "{k}={v}: {body}");
        assert_eq!(body["details"][0]["field"], k, "{body}");
    }
    let (status, body) = post_with("/predict", &[("stage", "staging")], &one);
    assert_eq!(status, 404, "{body}");
    let too_many = json!({"instances": vec![valid(); 101]}).to_string();
    assert_eq!(post("/predict", &too_many).0, 400);
    let get = ProxyRequest {
        http_method: "GET".into(),
        path: "/predict".into(),
        ..ProxyRequest::default()
    };
    let out = ready(service().handle(&get));
    assert_eq!(out.response.status_code, 405);
    assert_eq!(
        out.response.headers.get("allow").map(String::as_str),
        Some("POST")
    );
}
