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
    assert_eq!(doc["resources"].as_array().map(Vec::len), Some(22), "{doc}");

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
    p.run_in(
        &stacks,
        &["diff", "-f", "heart-disease.yaml", "--detailed-exitcode"],
    )
    .ok();
    assert!(!stacks.join(".mlinfra").exists());
    p.run_in(&elsewhere, &["down", "-f", stack, "--yes", "--delete-data"])
        .ok();
    assert!(!p.env_dir().exists());
    // `down` with nothing deployed says so and creates nothing.
    let again = p.run_in(&elsewhere, &["down", "-f", stack, "--yes"]);
    again.ok();
    assert!(
        again.stdout.contains("Nothing to delete"),
        "{}",
        again.stdout
    );
    assert!(!p.path().join(".mlinfra").exists());
    assert!(!elsewhere.join(".mlinfra").exists());
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
    assert!(
        diff.stdout.contains("~ update settings.jobs"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("categorical"), "{}", diff.stdout);
    assert!(!diff.stdout.contains("No changes"), "{}", diff.stdout);
    let json = p.run(&["diff", "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.raw_stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 1, "{plan}");

    let up = p.run(&["up", "--yes"]);
    up.ok();
    assert!(
        up.stdout
            .contains("Apply complete: 0 created, 1 updated, 0 deleted"),
        "{}",
        up.stdout
    );
    let settings =
        std::fs::read_to_string(p.env_dir().join("lake/artifacts/config/jobs.json")).unwrap();
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
    assert!(
        v.stderr.contains("hint: did you mean `num`?"),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr.contains("hint: did you mean `slope`?"),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr.contains("stacks/heart-disease.yaml:27:13"),
        "{}",
        v.stderr
    );
    assert!(v.stderr.contains("2 errors"), "{}", v.stderr);
    let up = p.run(&["up", "--yes"]);
    assert_eq!(up.code, 1, "{}", up.snapshot());
    assert!(up.stderr.contains("did you mean `num`?"), "{}", up.stderr);
    assert!(
        !p.env_dir().exists(),
        "nothing is built on a stack that names no such column"
    );

    // Data too large for the train function's memory: a warning with the setting to raise.
    let r = Project::with_data();
    r.edit_stack("    memory_mb: 2048\n", "    memory_mb: 128\n");
    let v = r.run(&["validate"]);
    v.ok();
    assert!(
        v.stderr.contains(
            "training on it takes about 151 MiB, more than `functions.train.memory_mb` (128)"
        ) && v
            .stderr
            .contains("set `functions.train.memory_mb` to 512 or more"),
        "{}",
        v.stderr
    );
    // With the example's memory, no such warning (a project whose stack validates: the check
    // once ran on the broken stack above, which fails before any warning).
    let ok = Project::with_data().run(&["validate"]);
    ok.ok();
    assert!(!ok.stderr.contains("memory_mb"), "{}", ok.stderr);

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

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let p = Project::with_data();
    for args in [
        &["data", "stats", "--output", "html"][..],
        &["data", "stats"],
        &["data", "schema", "--output", "json"],
        &["validate"],
        &["--help"],
    ] {
        let mut child = p
            .cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before anything is written, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn output_with_a_file_name_points_to_out() {
    let p = Project::with_data();
    for args in [
        &["predict", "--input", "x.csv", "--output", "preds.csv"][..],
        &["monitor", "report", "--output", "report.html"],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 2, "{}", r.snapshot());
        let file = args.last().unwrap();
        assert!(
            r.stderr
                .contains(&format!("hint: write to a file with `--out {file}`")),
            "{}",
            r.stderr
        );
    }
    // Elsewhere a bad format is still clap's own error with the values.
    let r = p.run(&["status", "--output", "yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("possible values"), "{}", r.stderr);
}

/// Packages for `--env aws|localstack` (only hashed by `diff`, never run here).
fn fake_artifacts(p: &Project) -> std::path::PathBuf {
    let dir = p.path().join("artifacts");
    for f in ["etl", "train", "predict", "monitor"] {
        std::fs::create_dir_all(dir.join(f)).unwrap();
        std::fs::write(dir.join(f).join("bootstrap.zip"), f.as_bytes()).unwrap();
    }
    dir
}

/// Nothing a command prints about a cloud error is a `Debug` rendering of the SDK's error.
fn no_debug(text: &str) {
    for needle in [
        "DispatchFailure",
        "ConnectorError",
        "ServiceError {",
        "Some(",
        " { ",
        "source:",
    ] {
        assert!(!text.contains(needle), "`{needle}` in:\n{text}");
    }
}

#[test]
fn cloud_errors_read_as_one_sentence_with_what_to_do() {
    let p = Project::with_data();
    let artifacts = fake_artifacts(&p);
    let artifacts = artifacts.to_str().unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    for verb in [
        &["diff"][..],
        &["status"],
        &["up", "--yes"],
        &["down", "--yes"],
    ] {
        let mut args = verb.to_vec();
        args.extend([
            "--env",
            "localstack",
            "--endpoint",
            &endpoint,
            "--artifacts",
            artifacts,
        ]);
        let r = p.run(&args);
        assert_eq!(r.code, 1, "{}", r.snapshot());
        assert!(
            r.stderr.contains(&format!(
                "error: cannot reach {endpoint}: connection refused; is the emulator running there?"
            )),
            "{verb:?}: {}",
            r.stderr
        );
        no_debug(&r.stderr);
    }

    // AWS without any credentials (and no instance metadata to ask).
    let home = tempfile::tempdir().unwrap();
    let r = p.run_env(
        &["diff", "--env", "aws", "--artifacts", artifacts],
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_PROFILE", ""),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(
        r.stderr.contains("no AWS credentials found"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("aws configure"), "{}", r.stderr);
    no_debug(&r.stderr);
    assert!(
        r.stderr.lines().count() <= 3,
        "one sentence and a hint:\n{}",
        r.stderr
    );
}

#[test]
fn an_empty_registry_and_an_unblessed_model_say_what_to_do() {
    let p = Project::with_data();
    p.edit_stack("min_metric: 0.85", "min_metric: 0.99");
    p.edit_stack("trials: 20", "trials: 2");
    p.run(&["up", "--yes"]).ok();
    let list = p.run(&["models", "list"]);
    list.ok();
    assert!(
        list.stdout
            .contains("model `heart-disease` has no versions yet"),
        "{}",
        list.stdout
    );
    let json = p.run(&["models", "list", "--output", "json"]);
    json.ok();
    let doc: serde_json::Value = serde_json::from_str(&json.raw_stdout).unwrap();
    assert_eq!(doc["versions"], serde_json::json!([]));

    let run = p.run(&["pipeline", "run", "--as", "alice", "--output", "json"]);
    run.ok();
    let out: serde_json::Value = serde_json::from_str(&run.raw_stdout).unwrap();
    let id = out["run"]["run_id"].as_str().unwrap().to_string();
    let text = p.run(&["pipeline", "run", "--as", "alice"]);
    text.ok();
    assert!(
        text.stdout.contains("does not reach the minimum 0.9900")
            && text.stdout.contains(&format!(
                "to register it anyway: `mlinfra models register --run {id}`"
            )),
        "{}",
        text.stdout
    );
    // The hint works as written.
    p.run(&["models", "register", "--run", &id, "--as", "alice"])
        .ok();
    assert!(p.run(&["models", "list"]).stdout.contains(&id));
}

#[test]
fn every_execution_of_a_run_is_kept_and_runs_can_be_compared() {
    let p = Project::with_data();
    p.edit_stack("trials: 20", "trials: 2");
    p.run(&["up", "--yes"]).ok();
    let empty = p.run(&["runs", "list"]);
    empty.ok();
    assert!(
        empty.stdout.contains("no training runs yet"),
        "{}",
        empty.stdout
    );

    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    p.run(&["pipeline", "run", "--as", "carol"]).ok();
    let list = p.run(&["runs", "list", "--output", "json"]);
    list.ok();
    let doc: serde_json::Value = serde_json::from_str(&list.raw_stdout).unwrap();
    let ex = doc["executions"].as_array().unwrap();
    assert_eq!(ex.len(), 2, "{doc}");
    assert_eq!(
        ex[0]["run_id"], ex[1]["run_id"],
        "the same data and settings: the same run"
    );
    assert_eq!(
        (ex[0]["actor"].as_str(), ex[1]["actor"].as_str()),
        (Some("alice"), Some("carol"))
    );
    assert_eq!(ex[0]["registered_version"], 1);
    assert!(
        ex[1]["outcome"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{}",
        ex[1]
    );
    let first = ex[0]["run_id"].as_str().unwrap().to_string();

    p.edit_stack(
        "families: [logistic_regression, gradient_boosted_trees]",
        "families: [gradient_boosted_trees]",
    );
    p.run(&["pipeline", "run", "--as", "dave"]).ok();
    let text = p.run(&["runs", "list"]);
    text.ok();
    assert_eq!(text.stdout.lines().count(), 1 + 3, "{}", text.stdout);
    assert!(
        text.stdout.contains("dave (pipeline run)"),
        "{}",
        text.stdout
    );

    let show = p.run(&["runs", "show", &first[..6]]);
    show.ok();
    assert!(
        show.stdout
            .contains("by alice (pipeline run): registered as version 1"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("by carol (pipeline run)"),
        "{}",
        show.stdout
    );

    let doc: serde_json::Value =
        serde_json::from_str(&p.run(&["runs", "list", "--output", "json"]).raw_stdout).unwrap();
    let second = doc["executions"][2]["run_id"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let cmp = p.run(&["runs", "compare", &first, &second]);
    cmp.ok();
    let header = cmp.stdout.lines().next().unwrap();
    assert!(
        header.contains(&first) && header.contains(&second),
        "{}",
        cmp.stdout
    );
    assert!(
        cmp.stdout.contains("gradient_boosted_trees"),
        "{}",
        cmp.stdout
    );
    let bad = p.run(&["runs", "show", "zzz"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("no run `zzz`"), "{}", bad.stderr);
}

#[test]
fn serve_stops_when_the_platform_is_taken_down() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = p
        .cmd(&["serve", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    p.run(&["down", "--yes"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running after `down`");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: stopped serving: the platform"),
        "{err}"
    );
    assert!(
        err.contains("hint: `mlinfra up` builds the platform again"),
        "{err}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
