//! End to end on the `local` environment, across crates: the `mlinfra` binary provisions the
//! example stack from the repository, and the configuration it writes for each function is read
//! back by `mlinfra-core`, exactly as the function binaries read it from their environment.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mlinfra_core::{FunctionConfig, FunctionName};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `mlinfra` binary of this build: `target/<profile>/mlinfra` next to this test's `deps/`.
/// Built with cargo when this test runs on its own.
fn mlinfra() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join(format!("mlinfra{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "mlinfra", "--bin", "mlinfra"])
            .current_dir(repo_root())
            .status()
            .unwrap();
        assert!(status.success(), "building mlinfra failed");
    }
    bin
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(mlinfra())
        .args(args)
        .current_dir(dir)
        .env_remove("MLINFRA_STACK_FILE")
        .env_remove("MLINFRA_ENV")
        .env_remove("MLINFRA_TEST_FAIL_AFTER")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_example_stack_goes_up_its_functions_read_their_config_and_down_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = repo_root().join("stacks/heart-disease.yaml");
    let stack = stack.to_str().unwrap();

    let (code, out, err) = run(tmp.path(), &["validate", "-f", stack]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = run(tmp.path(), &["up", "-f", stack, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let env_dir = tmp.path().join(".mlinfra/heart-disease");

    for f in FunctionName::ALL {
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(env_dir.join(format!("functions/{f}.json"))).unwrap(),
        )
        .unwrap();
        let env: std::collections::BTreeMap<String, String> =
            serde_json::from_value(doc["env"].clone()).unwrap();
        let config = FunctionConfig::from_env(|k| env.get(k).cloned()).unwrap();
        assert_eq!(config.function, f);
        assert_eq!(config.stack, "heart-disease");
        assert_eq!(config.model, "heart-disease");
        let lake = config.lake.strip_prefix("file://").unwrap();
        assert!(Path::new(lake).join("raw").is_dir(), "{lake}");
        assert_eq!(
            u64::from(config.memory_mb),
            doc["props"]["memory_mb"].as_u64().unwrap(),
            "{f}: the configuration and the resource disagree"
        );
    }

    let (code, out, err) = run(tmp.path(), &["diff", "-f", stack, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(tmp.path(), &["down", "-f", stack, "--yes", "--delete-data"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!tmp.path().join(".mlinfra").exists());
}
