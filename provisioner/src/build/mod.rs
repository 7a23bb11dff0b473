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

/// Build the function binaries with cargo, in `profile` (`release`, or `dev` for a quick
/// debug build); returns each function's executable. Each function is its own `cargo build`:
/// built together, cargo would give every function the union of their features (the ONNX
/// runtime that only `predict` uses in every package).
pub fn cargo_build(
    functions: &[&str],
    target: Target,
    profile: &str,
) -> Result<Vec<(String, PathBuf)>, String> {
    functions
        .iter()
        .map(|f| Ok((f.to_string(), cargo_build_one(f, target, profile)?)))
        .collect()
}

/// `cargo build -p mlinfra-<function>` with the target's features; the executable it built.
fn cargo_build_one(function: &str, target: Target, profile: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--profile",
        profile,
        "--message-format=json-render-diagnostics",
        "-p",
        &format!("mlinfra-{function}"),
    ]);
    if let Some(features) = target.features(function) {
        cmd.args(["--features", &features]);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let out = cmd.output().map_err(|e| {
        format!("cannot run cargo: {e}\nhint: `mlinfra build` runs in a checkout of the mlinfra repository, with Rust installed")
    })?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of `{function}` failed ({}); its errors are above\nhint: `mlinfra build` runs in a checkout of the mlinfra repository",
            out.status
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == function)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built no `{function}` executable"))
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
