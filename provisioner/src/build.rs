//! Packaging the functions for Lambda: release binaries (stripped by the release profile),
//! each zipped alone as `bootstrap` (mode 0755, fixed timestamps, so the same binary gives the
//! same zip and the same hash), and a manifest of the hashes.
//!
//! `up` compares each zip's SHA-256 (base64, Lambda's `CodeSha256`) with the deployed
//! function's and uploads only the functions whose code changed.

use std::io::Write as _;
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

/// Zip one executable as `bootstrap`, deterministically.
pub fn zip_bootstrap(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .unix_permissions(0o755)
            .last_modified_time(zip::DateTime::default());
        z.start_file("bootstrap", opts)
            .map_err(std::io::Error::other)?;
        z.write_all(binary)?;
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
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

/// Write `<out>/<function>/bootstrap.zip` from a built binary.
pub fn package(function: &str, binary: &Path, out: &Path) -> Result<Package, String> {
    let bytes = std::fs::read(binary)
        .map_err(|e| format!("cannot read the built binary `{}`: {e}", binary.display()))?;
    let zip = zip_bootstrap(&bytes).map_err(|e| format!("cannot zip `{function}`: {e}"))?;
    let dir = out.join(function);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let path = dir.join("bootstrap.zip");
    let changed = std::fs::read(&path).map(|old| old != zip).unwrap_or(true);
    if changed {
        write_atomic(&path, &zip).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(Package {
        function: function.to_string(),
        zip: path,
        binary_bytes: bytes.len() as u64,
        zip_bytes: zip.len() as u64,
        code_sha256: code_sha256(&zip),
        changed,
    })
}

/// Build the function binaries in release mode with cargo; returns each function's executable.
pub fn cargo_build(functions: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
    ]);
    for f in functions {
        cmd.args(["-p", &format!("mlinfra-{f}")]);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let out = cmd.output().map_err(|e| {
        format!("cannot run cargo: {e}\nhint: `mlinfra build` runs in a checkout of the mlinfra repository, with Rust installed")
    })?;
    if !out.status.success() {
        return Err(format!(
            "cargo build failed ({}); its errors are above\nhint: `mlinfra build` runs in a checkout of the mlinfra repository",
            out.status
        ));
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        if let (true, Some(exe)) = (functions.contains(&name), msg["executable"].as_str()) {
            found.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    for f in functions {
        if !found.iter().any(|(n, _)| n == f) {
            return Err(format!("cargo built no `{f}` executable"));
        }
    }
    Ok(found)
}

/// Write the manifest of the packages.
pub fn write_manifest(out: &Path, packages: &[Package]) -> Result<PathBuf, String> {
    let path = out.join("manifest.json");
    let mut text = serde_json::to_string_pretty(packages).map_err(|e| e.to_string())?;
    text.push('\n');
    write_atomic(&path, text.as_bytes())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_deterministic_and_hold_an_executable_bootstrap() {
        let a = zip_bootstrap(b"\x7fELF binary").expect("zip");
        let b = zip_bootstrap(b"\x7fELF binary").expect("zip");
        assert_eq!(a, b, "same binary, same zip");
        assert_eq!(code_sha256(&a), code_sha256(&b));
        assert_ne!(
            code_sha256(&a),
            code_sha256(&zip_bootstrap(b"other").expect("zip"))
        );
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(a)).expect("read back");
        assert_eq!(z.len(), 1);
        let f = z.by_index(0).expect("entry");
        assert_eq!(f.name(), "bootstrap");
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o755));
    }
}
