//! An environment written by the previous release keeps working: `tests/fixtures/previous-release/`
//! is the `.mlinfra/heart-disease` directory that mlinfra at 84e9be3 (before the core split and
//! the application layer) left after `up`, `pipeline run`, a request and its approval (made by
//! `tests/fixtures/previous-release.sh`; the project's path replaced by `@PROJECT@`). This
//! build reads its state, lake and registry as they are, plans nothing to change, serves its
//! model and carries on its lifecycle.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Project, manifest_dir};

/// Copy `from` into `to`, `@PROJECT@` in text files replaced by `project`.
fn copy_fixture(from: &Path, to: &Path, project: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_fixture(&e.path(), &target, project);
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        let bytes = match String::from_utf8(bytes) {
            Ok(text) => text
                .replace("@PROJECT@", project.to_str().unwrap())
                .into_bytes(),
            Err(e) => e.into_bytes(),
        };
        std::fs::write(&target, bytes).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let secrets = to.join("secrets");
        if secrets.is_dir() {
            std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
            for f in std::fs::read_dir(&secrets).unwrap() {
                let f = f.unwrap().path();
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }
}

#[test]
fn an_environment_from_the_previous_release_keeps_working() {
    let p = Project::with_data();
    copy_fixture(
        &manifest_dir().join("tests/fixtures/previous-release"),
        &p.env_dir(),
        p.path(),
    );

    let status = p.run(&["status", "--output", "json"]);
    status.ok();
    let doc: serde_json::Value = serde_json::from_str(&status.raw_stdout).unwrap();
    assert_eq!(doc["resources"].as_array().map(Vec::len), Some(22), "{doc}");
    // The same graph and the same jobs' settings, but for the API's routes this release adds
    // (the Open Inference Protocol's `/v2`), the pictures' binary media types and the 413 over
    // the payload limits: one update, then nothing to change.
    let diff = p.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(diff.code, 2, "{}", diff.snapshot());
    assert!(
        diff.stdout.contains("~ update api\n      routes: ")
            && diff
                .stdout
                .contains("Plan: 0 to create, 1 to update, 0 to delete, 21 unchanged."),
        "{}",
        diff.snapshot()
    );
    p.run(&["up", "--yes"]).ok();
    let before = p.snapshot();
    let up = p.run(&["up", "--yes"]);
    up.ok();
    assert!(up.stdout.starts_with("No changes."), "{}", up.snapshot());
    assert_eq!(p.snapshot(), before, "a no-change `up` wrote files");

    // Its registry and runs as they were recorded.
    let models = p.run(&["models", "list", "--output", "json"]);
    models.ok();
    let listed: serde_json::Value = serde_json::from_str(&models.raw_stdout).unwrap();
    let text = listed.to_string();
    assert!(text.contains("\"Production\""), "{listed:#}");
    let audit = p.run(&["models", "audit"]);
    audit.ok();
    assert!(audit.stdout.contains("approve"), "{}", audit.stdout);
    assert!(audit.stdout.contains("bob"), "{}", audit.stdout);
    let runs = p.run(&["runs", "list"]);
    runs.ok();
    assert!(runs.stdout.contains("alice"), "{}", runs.stdout);

    // Its Production model, read from the old lake and checked against its recorded sha256.
    let predicted = p.run(&[
        "predict",
        "--input",
        "examples/heart-disease/processed.cleveland.csv",
        "--out",
        "out.csv",
    ]);
    predicted.ok();
    let out = std::fs::read_to_string(p.path().join("out.csv")).unwrap();
    assert_eq!(out.lines().count(), 304, "a header and 303 rows");

    // And the lifecycle goes on in it: a retraining registers the next version.
    let retrained = p.run(&["retrain", "--as", "carol", "--output", "json"]);
    retrained.ok();
    let r: serde_json::Value = serde_json::from_str(&retrained.raw_stdout).unwrap();
    assert!(
        r["registered_version"] == 2 || r["not_registered"].is_string(),
        "{r:#}"
    );
    p.run(&["down", "--yes", "--delete-data"]).ok();
    assert!(!p.env_dir().exists());
}
