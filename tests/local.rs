//! End to end on the `local` environment, across crates: the `mlinfra` binary provisions the
//! example stack from the repository, and the configuration it writes for each function is read
//! back by `mlinfra-core`, exactly as the function binaries read it from their environment.

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::{repo_root, run};
use mlinfra_core::{FunctionConfig, FunctionName};

#[test]
fn the_example_stack_goes_up_its_functions_read_their_config_and_down_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // The stack's relative paths resolve against its own directory: a copy in `tmp/stacks/`
    // deploys to `tmp/.mlinfra/heart-disease`.
    std::fs::create_dir_all(tmp.path().join("stacks")).unwrap();
    let stack = tmp.path().join("stacks/heart-disease.yaml");
    std::fs::copy(repo_root().join("stacks/heart-disease.yaml"), &stack).unwrap();
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
        // The serving settings travel with `predict` only, as the stack says.
        match f {
            FunctionName::Predict => {
                let s = config.serving.as_ref().expect("predict serves");
                assert_eq!(
                    (s.max_batch, s.model_refresh_s, s.sample_rate),
                    (1000, 30, 1.0)
                );
            }
            _ => assert_eq!(config.serving, None, "{f}"),
        }
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
