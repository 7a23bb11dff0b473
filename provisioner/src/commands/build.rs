//! `mlinfra build`: build the function crates for Lambda and package each as
//! `<artifacts>/<function>/bootstrap.zip`.

use std::fmt::Write as _;

use serde_json::json;

use super::Failure;
use crate::build::{self, FUNCTIONS};
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
    out.progress(format!(
        "Building {} in release mode (cargo build --release)...",
        functions.join(", ")
    ));
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || build::cargo_build(&functions))
        .await
        .map_err(|e| Failure::new(format!("the build task failed: {e}")))?
        .map_err(Failure::new)?;
    let mut packages = Vec::new();
    for (f, exe) in &built {
        packages.push(build::package(f, exe, &g.artifacts).map_err(Failure::new)?);
    }
    let manifest = build::write_manifest(&g.artifacts, &packages).map_err(Failure::new)?;
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
