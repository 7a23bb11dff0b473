//! Packaging the functions: release binaries (stripped by the release profile) built by cargo,
//! packed for where they run —
//!
//! - [`lambda`]: each binary alone as `bootstrap` in `<artifacts>/<function>/bootstrap.zip`
//!   (for `--env aws|localstack`);
//! - [`azure`]: each binary as an Azure Functions custom handler with its `host.json` and one
//!   `function.json` per trigger, in `<artifacts>/<function>/functionapp.zip` (for `--env
//!   azure|azurite`).
//!
//! Zips are deterministic (fixed timestamps and modes), so the same binary gives the same zip
//! and the same hash; a manifest per target lists the hashes. `up` compares each zip's SHA-256
//! (base64, Lambda's `CodeSha256`) with the deployed function's and uploads only the functions
//! whose code changed.

pub mod azure;
pub mod function_app;
pub mod lambda;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use sha2::Digest as _;

use crate::engine::state::write_atomic;

/// The functions, in the order they are built and deployed.
pub const FUNCTIONS: [&str; 4] = ["etl", "train", "predict", "monitor"];

/// Lambda's hash of a package: base64 of its SHA-256.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(zip))
}

/// One packaged function.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Package {
    pub function: String,
    pub zip: PathBuf,
    pub binary_bytes: u64,
    pub zip_bytes: u64,
    /// Base64 SHA-256 of the zip, as Lambda reports it.
    pub code_sha256: String,
    /// Whether the zip differs from the one that was there before.
    pub changed: bool,
}

/// Write `<out>/<function>/<file>` (when it differs from what is there) and describe it.
pub(crate) fn write_package(
    function: &str,
    file: &str,
    zip: &[u8],
    binary_bytes: usize,
    out: &Path,
) -> Result<Package, String> {
    let dir = out.join(function);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let path = dir.join(file);
    let changed = std::fs::read(&path).map(|old| old != zip).unwrap_or(true);
    if changed {
        write_atomic(&path, zip).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(Package {
        function: function.to_string(),
        zip: path,
        binary_bytes: binary_bytes as u64,
        zip_bytes: zip.len() as u64,
        code_sha256: code_sha256(zip),
        changed,
    })
}

/// Where the packages run: what `--target` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// AWS Lambda (`provided.al2023`): `bootstrap.zip`
    Lambda,
    /// Azure Functions custom handlers (Flex Consumption): `functionapp.zip`
    Azure,
}

impl Target {
    /// The cargo features each function is built with for this target.
    fn features(self, function: &str) -> Option<String> {
        match self {
            Target::Lambda => None,
            Target::Azure => Some(format!("mlinfra-{function}/azure")),
        }
    }

    /// The manifest's file name in `--artifacts`.
    pub fn manifest(self) -> &'static str {
        match self {
            Target::Lambda => "manifest.json",
            Target::Azure => "manifest-azure.json",
        }
    }
}

/// The functions that score models, and so link the ONNX runtime.
const SCORING: [&str; 1] = ["predict"];

/// Build the function binaries with cargo, in `profile` (`release`, or `dev` for a quick
/// debug build); returns each function's executable. In `release` the functions that score
/// ([`SCORING`]) are built apart from the others: built together, cargo gives every function
/// the union of their features, and the ONNX runtime only `predict` uses would be in every
/// package. (Those that do not score share one build: one compile of the core instead of one
/// per function, their features' union costing only code the linker drops.) A `dev` build, for
/// trying the packages here, builds them all together, once.
pub fn cargo_build(
    functions: &[&str],
    target: Target,
    profile: &str,
) -> Result<Vec<(String, PathBuf)>, String> {
    if profile == "dev" {
        return cargo_build_group(functions, target, profile);
    }
    let (scoring, other): (Vec<&str>, Vec<&str>) =
        functions.iter().partition(|f| SCORING.contains(f));
    let mut built = Vec::new();
    for group in [other, scoring] {
        if !group.is_empty() {
            built.extend(cargo_build_group(&group, target, profile)?);
        }
    }
    // In the order asked for.
    built.sort_by_key(|(f, _)| functions.iter().position(|g| g == f));
    Ok(built)
}

/// One `cargo build` of `functions` with the target's features; each function's executable.
fn cargo_build_group(
    functions: &[&str],
    target: Target,
    profile: &str,
) -> Result<Vec<(String, PathBuf)>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--profile",
        profile,
        "--message-format=json-render-diagnostics",
    ]);
    for f in functions {
        cmd.args(["-p", &format!("mlinfra-{f}")]);
        if let Some(features) = target.features(f) {
            cmd.args(["--features", &features]);
        }
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let out = cmd.output().map_err(|e| {
        format!("cannot run cargo: {e}\nhint: `mlinfra build` runs in a checkout of the mlinfra repository, with Rust installed")
    })?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of {} failed ({}); its errors are above\nhint: `mlinfra build` runs in a checkout of the mlinfra repository",
            functions
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", "),
            out.status
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    functions
        .iter()
        .map(|f| {
            stdout
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == *f)
                .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
                .map(|exe| (f.to_string(), exe))
                .ok_or_else(|| format!("cargo built no `{f}` executable"))
        })
        .collect()
}

/// Write the manifest of a target's packages.
pub fn write_manifest(out: &Path, target: Target, packages: &[Package]) -> Result<PathBuf, String> {
    let path = out.join(target.manifest());
    let mut text = serde_json::to_string_pretty(packages).map_err(|e| e.to_string())?;
    text.push('\n');
    write_atomic(&path, text.as_bytes())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(path)
}
