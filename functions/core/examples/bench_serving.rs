//! Serving figures, in release mode (`make bench` runs this beside the Python peers).
//!
//! Usage: `bench_serving OUT_DIR` — trains logistic regression on heart (the served model of the
//! demo), writes `model.onnx` and `request.json` for the peers, and prints a JSON report:
//! - one row scored in-process by tract (median ns over 200k calls), and the full handler (JSON
//!   request in, JSON response out);
//! - one row's explanation (exact linear SHAP of the served logistic regression, and TreeSHAP of
//!   gradient-boosted trees: 100 rounds of depth 4), median ns;
//! - batch scoring throughput (rows/s) over 1M rows in chunks of 8192.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mlinfra_core::data::split::split;
use mlinfra_core::data::{read_csv, take_label};
use mlinfra_core::model::{Model, Params};
use mlinfra_core::onnx::{Metadata, export};
use mlinfra_core::registry::{Current, Pointer};
use mlinfra_core::scorer::Scorer;
use mlinfra_core::serving::{Config, FeedbackSink, ModelSource, ProxyRequest, Service};

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

struct Fixed(Vec<u8>, String);

impl ModelSource for Fixed {
    async fn current(&self) -> Result<Option<Current>, String> {
        Ok(Some(Current {
            model: "heart".into(),
            production: Some(Pointer {
                version: 1,
                artifact_uri: "memory://".into(),
                sha256: self.1.clone(),
            }),
            staging: None,
        }))
    }
    async fn fetch(&self, _: &Pointer) -> Result<Vec<u8>, String> {
        Ok(self.0.clone())
    }
}

struct Discard;
impl FeedbackSink for Discard {
    async fn store(&self, _: &str, _: &serde_json::Value) -> Result<bool, String> {
        Ok(false)
    }

    async fn logged(&self, _: &str) -> Result<Option<u64>, String> {
        Ok(None)
    }
}

fn median_ns(mut f: impl FnMut(), n: usize) -> f64 {
    let mut samples = Vec::with_capacity(n / 100);
    for _ in 0..n / 100 {
        let t = Instant::now();
        for _ in 0..100 {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / 100.0);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The medians of `f` and `g` over `n` calls each, timed in alternating batches of 100 so that a
/// change in the machine's load affects both alike.
fn median_pair_ns(mut f: impl FnMut(), mut g: impl FnMut(), n: usize) -> (f64, f64) {
    let (mut a, mut b) = (Vec::with_capacity(n / 100), Vec::with_capacity(n / 100));
    let batch = |h: &mut dyn FnMut(), into: &mut Vec<f64>| {
        let t = Instant::now();
        for _ in 0..100 {
            h();
        }
        into.push(t.elapsed().as_nanos() as f64 / 100.0);
    };
    for _ in 0..n / 100 {
        batch(&mut f, &mut a);
        batch(&mut g, &mut b);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(a), median(b))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: bench_serving OUT_DIR")?,
    );
    std::fs::create_dir_all(&out)?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let opts = common::heart_options();
    let mut frame = read_csv(
        std::fs::File::open(root.join("examples/heart-disease/processed.cleveland.csv"))?,
        &opts,
    )?;
    let rule = common::binary();
    let (labels, _) = take_label(&mut frame, "num", &rule)?;
    let s = split(&frame, &labels, 0.2, 42);
    let model = Model::fit(
        &frame,
        &labels.y,
        &s.train,
        &labels,
        &Params::LogisticRegression { l2: 1.0 },
    );
    let meta = Metadata {
        entries: vec![("mlinfra.model".into(), serde_json::to_string(&model)?)],
    };
    let bytes = export(&model, &meta)?;
    std::fs::write(out.join("model.onnx"), &bytes)?;
    let row: [f32; 13] = [
        63.0, 1.0, 1.0, 145.0, 233.0, 1.0, 2.0, 150.0, 0.0, 2.3, 3.0, 0.0, 6.0,
    ];
    let body = r#"{"instances": [{"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6}]}"#;
    std::fs::write(out.join("request.json"), body)?;

    let scorer = Scorer::load(&bytes, 13, 2)?;
    let score_ns = median_ns(
        || {
            std::hint::black_box(scorer.score(1, &row).ok());
        },
        200_000,
    );
    let served = mlinfra_core::serving::Served::load(
        &bytes,
        "heart",
        1,
        mlinfra_core::registry::Stage::Production,
        "",
    )?;
    assert!(
        served.is_native(),
        "the native evaluator did not verify against tract"
    );
    let native_ns = median_ns(
        || {
            std::hint::black_box(served.score(1, &row).ok());
        },
        200_000,
    );
    let label = served.score(1, &row)?.labels;
    let explain_ns = median_ns(
        || {
            std::hint::black_box(served.explain(1, &row, &label).ok());
        },
        200_000,
    );
    let trees = Model::fit(
        &frame,
        &labels.y,
        &s.train,
        &labels,
        &Params::GradientBoostedTrees(mlinfra_core::model::GbtParams {
            max_depth: 4,
            learning_rate: 0.1,
            rounds: 100,
            min_leaf: 5,
        }),
    );
    let values: Vec<f64> = row.iter().map(|x| f64::from(*x)).collect();
    let tree_explain_ns = median_ns(
        || {
            std::hint::black_box(mlinfra_core::explain::explain(&trees, &values).ok());
        },
        20_000,
    );
    let sha = format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(&bytes));
    let service_at = |sample_rate: f64| {
        let s = Service::new(
            Config {
                model: "heart".into(),
                max_batch: 1000,
                refresh: Duration::from_secs(3600),
                sample_rate,
            },
            Fixed(bytes.clone(), sha.clone()),
            Discard,
        );
        ready(s.refresh(true));
        s
    };
    let service = service_at(0.0);
    let sampled = service_at(1.0);
    let req = ProxyRequest {
        http_method: "POST".into(),
        path: "/predict".into(),
        body: Some(body.into()),
        ..ProxyRequest::default()
    };
    // Every request sampled: the record left in the service's log buffer, as in the predict
    // function; another thread takes (and decodes) what waits every millisecond, off the
    // measurement, as the writer does on its timer.
    let buffer = sampled.logs();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let (buffer, done) = (buffer.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::black_box(buffer.take());
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    // The two handlers measured in alternating batches, so that both see the same load.
    let (handler_ns, sampled_ns) = median_pair_ns(
        || {
            std::hint::black_box(ready(service.handle(&req)).response.status_code);
        },
        || {
            std::hint::black_box(ready(sampled.handle(&req)).response.status_code);
        },
        200_000,
    );
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = drain.join();
    // Batch: 1M rows in chunks.
    let chunk = 8192;
    let data: Vec<f32> = (0..chunk)
        .flat_map(|i| row.map(|x| x + (i % 7) as f32))
        .collect();
    let t = Instant::now();
    let mut done = 0;
    while done < 1_000_000 {
        std::hint::black_box(scorer.score(chunk, &data)?);
        done += chunk;
    }
    let batch_rows_per_s = done as f64 / t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"explain_one_row_ns": explain_ns, "tree_explain_one_row_ns": tree_explain_ns, "score_one_row_ns": native_ns, "tract_one_row_ns": score_ns, "handler_one_row_ns": handler_ns, "handler_sampled_one_row_ns": sampled_ns, "sampling_cost_ns": sampled_ns - handler_ns, "batch_rows_per_s": batch_rows_per_s})
    );
    Ok(())
}
