//! The console's server-side render time (`make bench`, `bench/console.sh`): a project with one
//! real training run is grown to RUNS runs (copies of the real run's records under new ids) and
//! VERSIONS registered versions (every fifth one requested and approved to Production, so the
//! audit trail grows too), version 1 (the real model) ends in Production; then each page is
//! rendered in-process, without HTTP, and timed.
//!
//! `bench_console ENV_DIR STACK_FILE RUNS VERSIONS` prints one JSON object: per page, the
//! median and 90th percentile in milliseconds and the page's size.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlinfra::app::settings::registry_policy as policy;
use mlinfra::console::Console;
use mlinfra_core::any::AnyLake;
use mlinfra_core::any::AnyStore;
use mlinfra_core::jobs::runs;
use mlinfra_core::lake::{Lake as _, LocalLake};
use mlinfra_core::pipeline::RunRecord;
use mlinfra_core::registry::local::LocalStore;
use mlinfra_core::registry::{Candidate, Registry, Stage};

const ITERATIONS: usize = 30;

fn fail(m: impl std::fmt::Display) -> ! {
    eprintln!("bench_console: {m}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, env_dir, stack_file, runs_n, versions_n] = &args[..] else {
        fail("usage: bench_console ENV_DIR STACK_FILE RUNS VERSIONS")
    };
    let env_dir = PathBuf::from(env_dir);
    let n_runs: usize = runs_n.parse().unwrap_or_else(|e| fail(e));
    let n_versions: u64 = versions_n.parse().unwrap_or_else(|e| fail(e));
    let stack = mlinfra::stack::load(std::path::Path::new(stack_file))
        .unwrap_or_else(|e| fail(format!("{e:?}")))
        .stack;
    let model = stack.model.name.clone();
    let lake = AnyLake::Local(LocalLake::new(env_dir.join("lake")));
    let registry = Registry::new(
        AnyStore::Local(LocalStore::new(env_dir.join("registry"))),
        policy(&stack),
    );

    // Grow the history from the one real run.
    let executions = runs::list(&lake).await.unwrap_or_else(|e| fail(e));
    let first = executions
        .first()
        .unwrap_or_else(|| fail("no run: `mlinfra pipeline run` first"));
    let run_key = |id: &str, f: &str| format!("artifacts/runs/{id}/{f}");
    let get = |k: String| {
        let lake = lake.clone();
        async move {
            lake.get(&k)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| fail(format!("`{k}` is missing")))
        }
    };
    let record: RunRecord = serde_json::from_slice(&get(run_key(&first.run_id, "run.json")).await)
        .unwrap_or_else(|e| fail(e));
    let t0 = 1_900_000_000u64;
    for i in executions.len()..n_runs {
        let id = format!("{:016x}", 0xbe00_0000_0000_0000u64 + i as u64);
        let mut r = record.clone();
        r.run_id = id.clone();
        r.cv_score -= i as f64 * 1e-4;
        for f in ["evaluation.json", "timings.json", "search.json"] {
            let bytes = get(run_key(&first.run_id, f)).await;
            lake.put(&run_key(&id, f), &bytes)
                .await
                .unwrap_or_else(|e| fail(e));
        }
        lake.put(
            &run_key(&id, "run.json"),
            &serde_json::to_vec(&r).unwrap_or_default(),
        )
        .await
        .unwrap_or_else(|e| fail(e));
        let mut e = runs::Execution::new(&r, t0 + i as u64, "alice", "bench", "registered".into());
        runs::record(&lake, &mut e, t0 + i as u64)
            .await
            .unwrap_or_else(|e| fail(e));
    }
    let doc = registry.doc(&model).await.ok();
    let have = doc.map_or(0, |d| d.versions.len() as u64);
    let original = registry
        .doc(&model)
        .await
        .ok()
        .and_then(|d| d.versions.first().cloned());
    let original =
        original.unwrap_or_else(|| fail("no registered version: `mlinfra pipeline run` first"));
    for v in have..n_versions {
        let c = Candidate {
            artifact_uri: original.artifact_uri.clone(),
            // A distinct file per version: the registry refuses to register one twice.
            sha256: format!(
                "sha256:{}",
                mlinfra_core::pipeline::sha256_hex(format!("bench {v}").as_bytes())
            ),
            run_id: format!("{:016x}", 0xbe00_0000_0000_0000u64 + v),
            data_hash: original.data_hash.clone(),
            schema_version: original.schema_version.clone(),
            metrics: original.metrics.clone(),
        };
        let version = registry
            .register(&model, c, "alice")
            .await
            .unwrap_or_else(|e| fail(e));
        if version.version % 5 == 0 {
            let r = registry
                .request(&model, version.version, Stage::Production, "bench", "alice")
                .await
                .unwrap_or_else(|e| fail(e));
            registry
                .approve(&model, &r.id, "", "bob")
                .await
                .unwrap_or_else(|e| fail(e));
        }
    }

    // Version 1 (the real run's model, whose file loads) serves Production, for Try it.
    if let Ok(r) = registry
        .request(&model, 1, Stage::Production, "bench", "alice")
        .await
    {
        registry
            .approve(&model, &r.id, "", "bob")
            .await
            .unwrap_or_else(|e| fail(e));
    }
    let gateway = mlinfra::serve::gateway(
        lake.clone(),
        registry.store.clone(),
        None,
        &stack,
        Duration::from_secs(3600),
    );
    gateway.service.refresh(true).await;
    let console = Console::new(
        &stack,
        lake.clone(),
        registry,
        mlinfra::accounts::Accounts::at(&env_dir),
        Arc::clone(&gateway),
    );
    let all = runs::list(&lake).await.unwrap_or_else(|e| fail(e));
    let (a, b) = (&all[0].run_id, &all[all.len() - 1].run_id);
    let pages = [
        ("runs", "/ui/runs".to_string()),
        (
            "compare (2 runs)",
            format!("/ui/runs/compare?run={a}&run={b}"),
        ),
        ("run", format!("/ui/runs/{a}")),
        ("models", "/ui/models".to_string()),
        ("data", "/ui/data".to_string()),
        ("monitoring", "/ui/monitoring".to_string()),
        ("try it", "/ui/try".to_string()),
    ];
    let mut out = serde_json::Map::new();
    for (name, path) in &pages {
        let mut times = Vec::with_capacity(ITERATIONS);
        let mut size = 0;
        for i in 0..ITERATIONS + 3 {
            let t = Instant::now();
            let (status, html) = console.get_as("alice", path).await;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if status != 200 {
                fail(format!("{path}: {status}\n{html}"));
            }
            size = html.len();
            if i >= 3 {
                times.push(ms);
            }
        }
        times.sort_by(f64::total_cmp);
        out.insert(
            name.to_string(),
            serde_json::json!({
                "median_ms": times[times.len() / 2],
                "p90_ms": times[times.len() * 9 / 10],
                "bytes": size,
            }),
        );
    }
    let v = serde_json::json!({"runs": all.len(), "versions": n_versions, "pages": out});
    println!("{v}");
}
