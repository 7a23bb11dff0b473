//! `mlinfra init`: a newcomer's stack file from their data, that validates and trains; bad input
//! refused with a clear error and no file written.

#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

const HEART: &str = "examples/heart-disease/processed.cleveland.csv";

#[test]
fn init_on_the_heart_data_writes_a_stack_that_validates_and_trains() {
    let p = Project::with_data();
    let r = p.run(&[
        "init",
        "--data",
        HEART,
        "--label",
        "num",
        "--positive-when",
        "> 0",
    ]);
    r.ok();
    assert!(r.stdout.contains("wrote `mlinfra.yaml`"), "{}", r.stdout);
    let text = std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap();
    assert!(
        text.contains(
            r#"categorical: ["sex", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal"]"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"positive_when: "> 0""#), "{text}");
    assert!(text.contains("name: processed-cleveland"), "{text}");
    let stack = ["-f", "mlinfra.yaml"];
    p.run(&[&stack[..], &["validate"]].concat()).ok();
    p.run(&[&stack[..], &["up", "--yes"]].concat()).ok();
    let r = p.run(&[&stack[..], &["pipeline", "run", "--output", "json"]].concat());
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert!(
        v["run"]["metrics"]["roc_auc"].as_f64().unwrap() >= 0.85,
        "{v}"
    );
    assert_eq!(v["run"]["blessing"]["blessed"], true, "{v}");

    // A second `init` does not overwrite it.
    let again = p.run(&["init", "--data", HEART, "--label", "num"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap(),
        text
    );
    // Without `--positive-when`, five numeric classes are a multiclass task.
    let r = p.run(&[
        "-f",
        "multi.yaml",
        "init",
        "--data",
        HEART,
        "--label",
        "num",
    ]);
    r.ok();
    assert!(r.stderr.contains("multiclass: 5 classes"), "{}", r.stderr);
    let text = std::fs::read_to_string(p.path().join("multi.yaml")).unwrap();
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("positive_when:")),
        "{text}"
    );
    assert!(text.contains("metric: f1"), "{text}");
}

/// Rows with two numeric features, `NA` for missing cells, and a text label (`malignant` is the
/// rarer class, more likely with a larger `size`).
/// A numeric label with many distinct values (`chol`) is a regression's: the stack says so and
/// why, reads RMSE, validates, deploys, and trains one with its interval.
#[test]
fn init_on_a_numeric_label_of_many_values_writes_a_regression_stack() {
    let p = Project::with_data();
    let r = p.run(&["init", "--data", HEART, "--label", "chol"]);
    r.ok();
    assert!(
        r.stderr
            .contains("regression: `chol` is a number with 152 distinct values"),
        "{}",
        r.snapshot()
    );
    assert!(
        r.stdout
            .contains("then `mlinfra -f mlinfra.yaml pipeline run`"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap();
    assert!(text.contains("  task: regression"), "{text}");
    assert!(text.contains("    metric: rmse"), "{text}");
    assert!(!text.contains("positive_when"), "{text}");
    let stack = ["-f", "mlinfra.yaml"];
    p.run(&[&stack[..], &["validate"]].concat()).ok();
    p.run(&[&stack[..], &["up", "--yes"]].concat()).ok();
    let r = p.run(&[&stack[..], &["pipeline", "run"]].concat());
    r.ok();
    assert!(r.stdout.contains("eval      rmse "), "{}", r.stdout);
    assert!(r.stdout.contains("interval  90%"), "{}", r.stdout);
}

fn tumours() -> String {
    let mut s = String::from("size,grade,diagnosis\n");
    let mut x: u64 = 7;
    for i in 0..300 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = (x >> 33) % 100;
        let grade = (x >> 20) % 4;
        let noisy = (x >> 12).is_multiple_of(10);
        let malignant = (size + grade * 10 > 85) != noisy;
        let size = if i % 25 == 3 {
            "NA".to_string()
        } else {
            size.to_string()
        };
        let d = if malignant { "malignant" } else { "benign" };
        s.push_str(&format!("{size},{grade},{d}\n"));
    }
    s
}

#[test]
fn init_names_the_positive_class_of_a_text_label_and_the_stack_trains_and_predicts() {
    let p = Project::new();
    p.write("tumours.csv", tumours().as_bytes());
    let r = p.run(&["init", "--data", "tumours.csv", "--label", "diagnosis"]);
    r.ok();
    assert!(
        r.stderr
            .contains("binary: the positive class is `malignant`, the rarer of"),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(p.path().join("mlinfra.yaml")).unwrap();
    assert!(text.contains(r#"positive: "malignant""#), "{text}");
    assert!(text.contains(r#"categorical: ["grade"]"#), "{text}");
    assert!(text.contains(r#""NA""#), "NA is a missing marker: {text}");
    p.run(&["up", "--yes"]).ok();
    let r = p.run(&["pipeline", "run", "--output", "json"]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert!(
        v["run"]["metrics"]["roc_auc"].as_f64().unwrap() >= 0.75,
        "{v}"
    );
    // The model answers with the label's own values.
    p.write("batch.csv", b"size,grade\n95,3\n5,0\nNA,1\n");
    p.run(&[
        "predict",
        "--input",
        "batch.csv",
        "--stage",
        "staging",
        "--out",
        "predicted.csv",
    ])
    .ok();
    let out = std::fs::read_to_string(p.path().join("predicted.csv")).unwrap();
    let mut lines = out.lines();
    let at = lines
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == "label")
        .unwrap();
    let labels: Vec<&str> = lines.map(|l| l.split(',').nth(at).unwrap()).collect();
    assert_eq!(labels.len(), 3, "{out}");
    assert_eq!(labels[..2], ["malignant", "benign"], "{out}");
    // `--positive` chooses the other class.
    let r = p.run(&[
        "-f",
        "other.yaml",
        "init",
        "--data",
        "tumours.csv",
        "--label",
        "diagnosis",
        "--positive",
        "benign",
    ]);
    r.ok();
    assert!(
        std::fs::read_to_string(p.path().join("other.yaml"))
            .unwrap()
            .contains(r#"positive: "benign""#)
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_no_file() {
    let p = Project::with_data();
    let cases: [(&str, &[u8], &str, &str); 5] = [
        (
            "noheader.csv",
            b"63,1,1,145\n67,1,4,160\n",
            "num",
            "has no header row: its first line holds only numbers (63, 1, 1, 145)",
        ),
        (
            "oneclass.csv",
            b"x,y\n1,a\n2,a\n",
            "y",
            "label column `y` holds a single class `a`",
        ),
        (
            "columns.csv",
            b"x,y\n1,a\n2,b\n",
            "z",
            "label column `z` is not in `columns.csv`; its columns are `x`, `y`",
        ),
        (
            "image.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "y",
            "is neither CSV nor Parquet",
        ),
        (
            "data.parquet",
            b"PAR1\x15\x04\x15\x10",
            "y",
            "`data.parquet`: not a readable Parquet file: ",
        ),
    ];
    for (file, bytes, label, expected) in cases {
        p.write(file, bytes);
        let r = p.run(&["init", "--data", file, "--label", label]);
        assert_eq!(r.code, 1, "{file}: {}", r.snapshot());
        assert!(r.stderr.contains(expected), "{file}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!p.path().join("mlinfra.yaml").exists(), "{file}");
    }
    let r = p.run(&["init", "--data", HEART, "--label", "num", "--positive", "7"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("`--positive 7`: label column `num` has no such value"),
        "{}",
        r.stderr
    );
    let r = p.run(&[
        "init",
        "--data",
        HEART,
        "--label",
        "num",
        "--name",
        "Heart_Disease",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("--name `Heart_Disease` contains `_` (use `-`), contains uppercase letters"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: for example `heart-disease`"),
        "{}",
        r.stderr
    );
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn init_ci_github_writes_a_workflow_and_pre_commit_for_the_stack() {
    use yaml_rust2::YamlLoader;
    let p = Project::with_data();
    let r = p.run(&["-f", "stacks/heart-disease.yaml", "init", "--ci", "github"]);
    r.ok();
    let workflow = std::fs::read_to_string(p.path().join(".github/workflows/mlinfra.yml")).unwrap();
    common::assert_golden(
        &common::manifest_dir().join("tests/snapshots/init-ci-github.yml"),
        &workflow,
    );
    let doc = &YamlLoader::load_from_str(&workflow).unwrap()[0];
    let jobs: Vec<&str> = doc["jobs"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["validate", "plan", "evaluate", "deploy"]);
    assert!(!doc["on"]["pull_request"].is_badvalue());
    assert_eq!(doc["on"]["push"]["branches"][0].as_str(), Some("main"));
    let steps = |job: &str| -> String {
        doc["jobs"][job]["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(steps("validate").contains("mlinfra -f \"$MLINFRA_STACK\" validate"));
    assert!(steps("plan").contains(" diff ") && steps("plan").contains("GITHUB_STEP_SUMMARY"));
    assert!(steps("evaluate").contains("pipeline run --no-register"));
    assert!(steps("evaluate").contains("GITHUB_STEP_SUMMARY"));
    assert!(steps("deploy").contains("up --yes"));
    assert_eq!(
        doc["jobs"]["deploy"]["if"].as_str(),
        Some("github.event_name == 'push' && github.ref == 'refs/heads/main'")
    );
    assert_eq!(
        doc["env"]["MLINFRA_STACK"].as_str(),
        Some("stacks/heart-disease.yaml")
    );
    let pre = std::fs::read_to_string(p.path().join(".pre-commit-config.yaml")).unwrap();
    let pre = &YamlLoader::load_from_str(&pre).unwrap()[0];
    let hooks: Vec<&str> = pre["repos"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|r| r["hooks"].as_vec().unwrap())
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert!(hooks.contains(&"mlinfra-validate"), "{hooks:?}");
    // The hook's command validates the stack, for real.
    let entry = pre["repos"][1]["hooks"][0]["entry"].as_str().unwrap();
    let args: Vec<&str> = entry.split_whitespace().skip(1).collect();
    p.run(&args).ok();
    // Never overwritten: a second run refuses and changes nothing.
    let again = p.run(&["-f", "stacks/heart-disease.yaml", "init", "--ci", "github"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    // Without a stack file: a clear error.
    let none = p.run(&["-f", "nope.yaml", "init", "--ci", "github"]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("`nope.yaml` does not exist"),
        "{}",
        none.stderr
    );
}

#[test]
fn this_repositorys_ci_runs_the_readmes_test_command() {
    use yaml_rust2::YamlLoader;
    let root = common::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("make test   #"),
        "the README's test command is `make test`"
    );
    let ci = std::fs::read_to_string(root.join(".github/workflows/ci.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&ci).unwrap()[0];
    let runs: Vec<&str> = doc["jobs"]["test"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.contains(&"make test"), "{runs:?}");
    let local = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(local.lines().any(|l| l.trim() == "make test"));
    let pre = std::fs::read_to_string(root.join(".pre-commit-config.yaml")).unwrap();
    let pre = &YamlLoader::load_from_str(&pre).unwrap()[0];
    let ids: Vec<&str> = pre["repos"][0]["hooks"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "cargo-fmt",
            "cargo-clippy",
            "terraform-fmt",
            "mlinfra-validate"
        ]
    );
}
