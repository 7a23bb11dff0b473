//! `mlinfra build`: build the function crates and package each for its target: Lambda's
//! `<artifacts>/<function>/bootstrap.zip`, or with `--target azure` the function app
//! `<artifacts>/<function>/functionapp.zip`, whose triggers come from the stack file.

use std::fmt::Write as _;

use serde_json::json;

use super::Failure;
use crate::build::{self, FUNCTIONS, Target};
use crate::cli::{BuildArgs, Global};
use crate::output::Out;

pub async fn run(g: &Global, args: &BuildArgs) -> Result<i32, Failure> {
    let out = Out::new(g);
    let mut functions: Vec<&str> = Vec::new();
    for f in &args.functions {
        match FUNCTIONS.iter().find(|k| **k == f.as_str()) {
            Some(k) => functions.push(k),
            None => {
                return Err(Failure::new(format!(
                    "--function `{f}`: there is no such function\nhint: the functions are {}",
                    FUNCTIONS.join(", ")
                )));
            }
        }
    }
    if functions.is_empty() {
        functions = FUNCTIONS.to_vec();
    }
    // Azure's triggers come from the stack's schedules, lake and API: read it before building.
    let graph = match args.target {
        Target::Lambda => None,
        Target::Azure => {
            let loaded = super::load_stack(g)?;
            let mut graph = super::desired_graph(&loaded.stack)?;
            crate::providers::azure::add_defaults(&mut graph).map_err(Failure::new)?;
            Some(graph)
        }
    };
    let (target, profile) = (args.target, args.profile.clone());
    out.progress(format!(
        "Building {} for {} (cargo build --profile {profile})...",
        functions.join(", "),
        match target {
            Target::Lambda => "Lambda",
            Target::Azure => "Azure Functions",
        }
    ));
    let started = std::time::Instant::now();
    let built =
        tokio::task::spawn_blocking(move || build::cargo_build(&functions, target, &profile))
            .await
            .map_err(|e| Failure::new(format!("the build task failed: {e}")))?
            .map_err(Failure::new)?;
    let mut packages = Vec::new();
    for (f, exe) in &built {
        packages.push(
            match &graph {
                None => build::lambda::package(f, exe, &g.artifacts),
                Some(graph) => {
                    build::azure::package(graph, f, exe, &g.artifacts, args.profile == "release")
                }
            }
            .map_err(Failure::new)?,
        );
    }
    let manifest = build::write_manifest(&g.artifacts, target, &packages).map_err(Failure::new)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<8} {:>12} {:>12}  {:<9} code sha256",
        "function", "binary", "zip", ""
    );
    for p in &packages {
        let _ = writeln!(
            text,
            "{:<8} {:>9.1} MB {:>9.1} MB  {:<9} {}",
            p.function,
            p.binary_bytes as f64 / 1e6,
            p.zip_bytes as f64 / 1e6,
            if p.changed { "changed" } else { "unchanged" },
            p.code_sha256
        );
    }
    let _ = writeln!(
        text,
        "\nPackages in `{}` ({} s); manifest `{}`.",
        g.artifacts.display(),
        started.elapsed().as_secs(),
        manifest.display()
    );
    out.result(text, &json!({ "packages": packages, "manifest": manifest }));
    Ok(0)
}
