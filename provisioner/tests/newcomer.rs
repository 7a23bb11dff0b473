//! What a new user trips over first: relative paths that must not depend on the working
//! directory, job settings that `diff` must show, data columns that `validate` must check, and
//! commands that must end quietly when their output is closed.

#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

#[test]
fn every_command_finds_the_same_platform_from_another_directory() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let elsewhere = p.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let stack = "../stacks/heart-disease.yaml";

    let status = p.run_in(&elsewhere, &["status", "-f", stack, "--output", "json"]);
    status.ok();
    let doc: serde_json::Value = serde_json::from_str(&status.raw_stdout).unwrap();
    assert_eq!(doc["resources"].as_array().map(Vec::len), Some(21), "{doc}");

    let diff = p.run_in(&elsewhere, &["diff", "-f", stack, "--detailed-exitcode"]);
    assert_eq!(diff.code, 0, "{}", diff.snapshot());
    p.run_in(&elsewhere, &["data", "stats", "-f", stack]).ok();
    p.run_in(&elsewhere, &["validate", "-f", stack]).ok();
    assert!(
        !elsewhere.join(".mlinfra").exists(),
        "nothing is created beside the working directory"
    );
    // And from the stack's own directory.
    let stacks = p.path().join("stacks");
    p.run_in(&stacks, &["diff", "-f", "heart-disease.yaml", "--detailed-exitcode"])
        .ok();
    assert!(!stacks.join(".mlinfra").exists());
    p.run_in(&elsewhere, &["down", "-f", stack, "--yes", "--delete-data"])
        .ok();
    assert!(!p.env_dir().exists());
}

#[test]
fn a_change_of_the_job_settings_is_planned_and_applied() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    p.edit_stack(
        "categorical: [sex, cp, fbs, restecg, exang, slope, ca, thal]",
        "categorical: [sex, cp, fbs, restecg, exang, slope, ca]",
    );
    let diff = p.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(diff.code, 2, "{}", diff.snapshot());
    assert!(diff.stdout.contains("~ update settings.jobs"), "{}", diff.stdout);
    assert!(diff.stdout.contains("categorical"), "{}", diff.stdout);
    assert!(!diff.stdout.contains("No changes"), "{}", diff.stdout);
    let json = p.run(&["diff", "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.raw_stdout).unwrap();
    assert_eq!(plan["settings"]["addr"], "settings.jobs", "{plan}");

    let up = p.run(&["up", "--yes"]);
    up.ok();
    assert!(up.stdout.contains("the jobs' settings updated"), "{}", up.stdout);
    let settings = std::fs::read_to_string(
        p.env_dir().join("lake/artifacts/config/jobs.json"),
    )
    .unwrap();
    assert!(!settings.contains("\"thal\""), "{settings}");
    let again = p.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.snapshot());
}

#[test]
fn validate_checks_the_label_and_categorical_columns_against_the_data() {
    let p = Project::with_data();
    p.edit_stack("column: num", "column: nmu");
    p.edit_stack("exang, slope", "exang, slopes");
    let v = p.run(&["validate"]);
    assert_eq!(v.code, 1, "{}", v.snapshot());
    assert!(
        v.stderr.contains(
            "error: `dataset.label.column` is `nmu`, which is not a column of `examples/heart-disease/processed.cleveland.csv`"
        ),
        "{}",
        v.stderr
    );
    assert!(v.stderr.contains("hint: did you mean `num`?"), "{}", v.stderr);
    assert!(v.stderr.contains("hint: did you mean `slope`?"), "{}", v.stderr);
    assert!(v.stderr.contains("stacks/heart-disease.yaml:27:13"), "{}", v.stderr);
    assert!(v.stderr.contains("2 errors"), "{}", v.stderr);
    let up = p.run(&["up", "--yes"]);
    assert_eq!(up.code, 1, "{}", up.snapshot());
    assert!(up.stderr.contains("did you mean `num`?"), "{}", up.stderr);
    assert!(!p.env_dir().exists(), "nothing is built on a stack that names no such column");

    // A stack whose data is not here validates, with a warning.
    let q = Project::new();
    let v = q.run(&["validate"]);
    v.ok();
    assert!(
        v.stderr.contains("warning: `dataset.source`") && v.stderr.contains("does not exist"),
        "{}",
        v.stderr
    );
}
