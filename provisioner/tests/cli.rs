//! The `mlinfra` binary on the local environment, run as a user runs it: idempotent `up`, exact
//! plans, failure injection after every step, the state lock, `down`, bad input, and snapshots
//! of the output (`MLINFRA_BLESS=1` rewrites them).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Project, Run, assert_golden, manifest_dir};

const TOTAL: usize = 22;

fn snapshot_path(name: &str) -> std::path::PathBuf {
    manifest_dir()
        .join("tests/snapshots")
        .join(format!("{name}.txt"))
}

/// Progress lines arrive in completion order, which concurrency makes vary: sort them and drop
/// the counters for snapshots.
fn stable(run: &Run) -> String {
    let mut lines: Vec<String> = run
        .stderr
        .lines()
        .map(|l| match l.find("] ") {
            Some(i) if l.trim_start().starts_with('[') => format!("  [n/N] {}", &l[i + 2..]),
            _ => l.to_string(),
        })
        .collect();
    lines.sort();
    format!(
        "exit: {}\n--- stdout\n{}--- stderr (sorted)\n{}\n",
        run.code,
        run.stdout,
        lines.join("\n")
    )
}

fn addrs(state: &serde_json::Value) -> BTreeSet<String> {
    state["resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn up_creates_everything_then_changes_nothing() {
    let p = Project::new();
    let first = p.run(&["up", "--yes"]);
    first.ok();
    assert_eq!(addrs(&p.state()).len(), TOTAL);
    assert!(p.env_dir().join("lake/raw").is_dir());
    assert!(p.env_dir().join("functions/predict.json").is_file());

    let before = p.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = p.run(&["up", "--yes"]);
    second.ok();
    assert!(
        second.stdout.starts_with("No changes."),
        "{}",
        second.snapshot()
    );
    assert_eq!(p.snapshot(), before, "a no-change `up` wrote files");

    let diff = p.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(diff.code, 0, "{}", diff.snapshot());
    assert_eq!(p.snapshot(), before, "`diff` wrote files");
}

#[test]
fn changing_one_threshold_is_exactly_one_update_with_old_and_new() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    p.edit_stack("min_accuracy: 0.75", "min_accuracy: 0.8");
    let diff = p.run(&["diff", "--detailed-exitcode"]);
    assert_eq!(diff.code, 2, "{}", diff.snapshot());
    assert_golden(&snapshot_path("diff-one-update"), &diff.snapshot());
    // The threshold lives in the alarm and in the jobs' settings: exactly those two change.
    let updates = |p: &Project| -> Vec<serde_json::Value> {
        let json = p.run(&["diff", "--output", "json"]);
        let plan: serde_json::Value = serde_json::from_str(&json.raw_stdout).unwrap();
        assert_eq!(plan["summary"]["create"], 0);
        assert_eq!(plan["summary"]["delete"], 0);
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "update")
            .cloned()
            .collect()
    };
    let steps = updates(&p);
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert_eq!(steps[0]["addr"], "alarm.accuracy");
    assert_eq!(steps[0]["changes"][0]["field"], "threshold");
    assert_eq!(steps[0]["changes"][0]["old"], 0.75);
    assert_eq!(steps[0]["changes"][0]["new"], 0.8);
    assert_eq!(steps[1]["addr"], "settings.jobs");
    assert_eq!(steps[1]["changes"][0]["field"], "monitoring.min_accuracy");
    p.run(&["up", "--yes"]).ok();
    assert_eq!(p.run(&["diff", "--detailed-exitcode"]).code, 0);
    // A policy only the jobs read: one update, of the settings.
    p.edit_stack("ks_p_value: 0.05", "ks_p_value: 0.01");
    let steps = updates(&p);
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert_eq!(steps[0]["addr"], "settings.jobs");
    assert_eq!(
        steps[0]["changes"],
        serde_json::json!([{"field": "monitoring.drift.ks_p_value", "old": 0.05, "new": 0.01}])
    );
    p.run(&["up", "--yes"]).ok();
    let settings =
        std::fs::read_to_string(p.env_dir().join("lake/artifacts/config/jobs.json")).unwrap();
    assert!(settings.contains("\"ks_p_value\": 0.01"), "{settings}");
    assert_eq!(p.run(&["diff", "--detailed-exitcode"]).code, 0);
}

#[test]
fn out_of_band_changes_show_in_diff_and_up_repairs_them() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    std::fs::remove_file(p.env_dir().join("schedules/retrain.json")).unwrap();
    let f = p.env_dir().join("functions/predict.json");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("\"memory_mb\": 256", "\"memory_mb\": 999");
    std::fs::write(&f, text).unwrap();
    let diff = p.run(&["diff"]);
    assert!(
        diff.stdout.contains("+ create schedule.retrain"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("deleted outside mlinfra"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("memory_mb: 999 -> 256"),
        "{}",
        diff.stdout
    );
    p.run(&["up", "--yes"]).ok();
    assert_eq!(p.run(&["diff", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_failure_after_any_step_leaves_valid_state_and_the_next_up_completes() {
    for n in 1..TOTAL {
        let p = Project::new();
        let failed = p.run_env(
            &["up", "--yes"],
            &[("MLINFRA_TEST_FAIL_AFTER", &n.to_string())],
        );
        assert_eq!(failed.code, 1, "n={n}\n{}", failed.snapshot());
        assert!(
            failed.stderr.contains("injected failure"),
            "n={n}\n{}",
            failed.stderr
        );
        // The state parses, and records at least the n steps that completed, each really there.
        let state = p.state();
        let recorded = addrs(&state);
        // Steps already running when the failure fires finish and are recorded too.
        assert!(
            recorded.len() >= n,
            "n={n}: only {} recorded",
            recorded.len()
        );
        assert!(
            !p.env_dir().join("state.lock").exists(),
            "n={n}: lock left behind"
        );
        let diff = p.run(&["diff", "--output", "json"]);
        let plan: serde_json::Value = serde_json::from_str(&diff.raw_stdout).unwrap();
        assert_eq!(plan["summary"]["create"], TOTAL - recorded.len(), "n={n}");
        assert_eq!(
            plan["summary"]["update"], 0,
            "n={n}: a recorded resource differs"
        );
        // The next `up` creates exactly what is missing, and then everything is in place.
        let next = p.run(&["up", "--yes"]);
        next.ok();
        let expected = match TOTAL - recorded.len() {
            0 => "No changes.".to_string(),
            k => format!("Apply complete: {k} created, 0 updated, 0 deleted"),
        };
        assert!(next.stdout.contains(&expected), "n={n}\n{}", next.stdout);
        assert_eq!(addrs(&p.state()).len(), TOTAL, "n={n}");
        assert_eq!(p.run(&["diff", "--detailed-exitcode"]).code, 0, "n={n}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_lets_running_steps_finish_saves_state_and_the_next_up_completes() {
    let p = Project::new();
    let child = p
        .cmd(&["up", "--yes"])
        .env("MLINFRA_TEST_STEP_DELAY_MS", "300")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first steps are recorded, then interrupt as a terminal's Ctrl-C does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !p.env_dir().join("state.json").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupt received"), "{stderr}");
    assert!(stderr.contains("error: interrupted: "), "{stderr}");
    let recorded = addrs(&p.state()).len();
    assert!(recorded > 0 && recorded < TOTAL, "{recorded} recorded");
    assert!(
        !p.env_dir().join("state.lock").exists(),
        "the lock was not released"
    );
    let next = p.run(&["up", "--yes"]);
    next.ok();
    assert!(
        next.stdout
            .contains(&format!("Apply complete: {} created", TOTAL - recorded)),
        "{}",
        next.stdout
    );
}

#[test]
fn a_resource_created_but_not_recorded_is_adopted_not_duplicated() {
    // What an `up` killed between the provider call and the state write leaves behind.
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    let path = p.env_dir().join("state.json");
    let mut state = p.state();
    state["resources"]
        .as_object_mut()
        .unwrap()
        .remove("function.train");
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let up = p.run(&["up", "--yes"]);
    up.ok();
    assert!(up.stdout.contains("No changes."), "{}", up.stdout);
    assert!(
        up.stdout.contains("Recorded 1 existing resources"),
        "{}",
        up.stdout
    );
    assert_eq!(addrs(&p.state()).len(), TOTAL);
}

#[test]
fn two_concurrent_ups_one_proceeds_the_other_meets_the_lock() {
    let p = Project::new();
    let spawn = || {
        p.cmd(&["up", "--yes"])
            .env("MLINFRA_TEST_STEP_DELAY_MS", "100")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn();
    let b = spawn();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    assert!(
        codes.contains(&0) && codes.contains(&1),
        "exit codes {codes:?}"
    );
    let loser = if codes[0] == 1 { &a } else { &b };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        err.contains("error: the state is locked by tester on "),
        "{err}"
    );
    assert!(err.contains("`mlinfra up`) since "), "{err}");
    assert!(err.contains("hint: wait for it to finish; if no mlinfra is running, break the lock with `mlinfra unlock`"), "{err}");
    assert_eq!(addrs(&p.state()).len(), TOTAL);
}

#[test]
fn a_stale_lock_is_named_and_unlock_breaks_it() {
    let p = Project::new();
    std::fs::create_dir_all(p.env_dir()).unwrap();
    let host = mlinfra::identity::host_name();
    std::fs::write(
        p.env_dir().join("state.lock"),
        format!(r#"{{"id":"x","holder":"alice","host":"{host}","pid":999999999,"operation":"up","since":"2026-01-01T00:00:00Z"}}"#),
    )
    .unwrap();
    let up = p.run(&["up", "--yes"]);
    assert_eq!(up.code, 1);
    assert!(up.stderr.contains("locked by alice"), "{}", up.stderr);
    assert!(up.stderr.contains("the lock is stale"), "{}", up.stderr);
    // With `--output json` the failure is one object, its hint apart from its message.
    let json = p.run(&["up", "--yes", "--output", "json"]);
    assert_eq!(json.code, 1);
    // The error is the last line of stderr (warnings come before it).
    let last = json.stderr.trim_end().lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).expect(&json.stderr);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the state is locked by alice"),
        "{message}"
    );
    assert!(!message.contains("hint:"), "{message}");
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .ends_with("break the lock with `mlinfra unlock`"),
        "{v}"
    );
    assert_eq!(v["error"]["exit_code"], 1);
    assert!(
        up.stderr.contains(&format!("error: {message}\nhint: ")),
        "{}",
        up.stderr
    );
    let status = p.run(&["status"]);
    assert!(status.stdout.contains("held by alice"), "{}", status.stdout);
    let unlock = p.run(&["unlock"]);
    unlock.ok();
    assert!(
        unlock.stdout.contains("Broke the lock held by alice"),
        "{}",
        unlock.stdout
    );
    p.run(&["up", "--yes"]).ok();
    assert_eq!(
        p.run(&["unlock"]).stdout,
        "The state of stack `heart-disease` on `local` is not locked.\n"
    );
}

#[test]
fn down_keeps_data_unless_asked_and_leaves_nothing_else() {
    let p = Project::new();
    p.run(&["up", "--yes"]).ok();
    std::fs::write(p.env_dir().join("lake/raw/new.csv"), "age,num\n63,1\n").unwrap();
    let down = p.run(&["down", "--yes"]);
    down.ok();
    assert!(
        down.stdout.contains("Destroy complete: 21 deleted, 1 kept"),
        "{}",
        down.stdout
    );
    assert!(
        down.stdout.contains("kept the data lake"),
        "{}",
        down.stdout
    );
    assert!(
        down.stdout.contains("1 object (13 bytes)"),
        "{}",
        down.stdout
    );
    let left: Vec<_> = p.snapshot().into_iter().map(|(path, _, _)| path).collect();
    assert_eq!(
        left,
        vec![
            p.env_dir().join("lake/.mlinfra-resource.json"),
            p.env_dir().join("lake/raw/new.csv"),
            p.env_dir().join("state.json"),
            p.env_dir().join("state.json.bak"),
        ]
    );
    // The kept lake stays recorded (a later `down --delete-data` finds it); the next `up`
    // keeps it, not duplicates it.
    let status = p.run(&["status"]);
    assert!(status.stdout.contains("resources: 1"), "{}", status.stdout);
    let up = p.run(&["up", "--yes"]);
    up.ok();
    assert!(up.stdout.contains("21 created"), "{}", up.stdout);
    let down = p.run(&["down", "--yes", "--delete-data"]);
    down.ok();
    assert!(
        down.stdout
            .contains("deleted the data lake with its 1 object"),
        "{}",
        down.stdout
    );
    assert!(
        !p.path().join(".mlinfra").exists(),
        "`down --delete-data` left files behind"
    );
}

#[test]
fn up_without_a_terminal_refuses_without_yes_and_changes_nothing() {
    let p = Project::new();
    let up = p.run(&["up"]);
    assert_eq!(up.code, 1);
    assert!(
        up.stderr
            .contains("refusing to continue without confirmation"),
        "{}",
        up.stderr
    );
    assert!(!p.env_dir().join("state.json").exists());
    assert!(!p.env_dir().join("lake").exists());
}

#[test]
fn secrets_stay_out_of_state_and_output() {
    let p = Project::new();
    let up = p.run(&["up", "--yes"]);
    let key_file = p.env_dir().join("secrets/api-key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(key.starts_with("mlk_") && key.len() > 40);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let state = std::fs::read_to_string(p.env_dir().join("state.json")).unwrap();
    assert!(!state.contains(&key), "the API key is in the state");
    assert!(!up.stdout.contains(&key) && !up.stderr.contains(&key));
    let outputs = p.run(&["outputs"]);
    outputs.ok();
    assert!(
        outputs.stdout.contains("api_key_file"),
        "{}",
        outputs.stdout
    );
    assert!(!outputs.stdout.contains(&key));
    let url = p.run(&["outputs", "api_url"]);
    assert_eq!(url.stdout, "http://127.0.0.1:8080/v1/\n");
}

#[test]
fn bad_flags_state_and_stack_files_give_clear_errors() {
    let p = Project::new();
    let r = p.run(&["diff", "--env", "azure"]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(
        r.stderr.contains("invalid value 'azure' for '--env <ENV>'"),
        "{}",
        r.stderr
    );
    let r = p.run(&["diff", "--output", "xml"]);
    assert_eq!(r.code, 2);
    // AWS without packaged functions: says what to run, touches nothing.
    let r = p.run(&["up", "--yes", "--env", "aws", "--artifacts", "no-such-dir"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("cannot read the `etl` function's package `no-such-dir/etl/bootstrap.zip`")
            && r.stderr.contains("hint: run `mlinfra build` first"),
        "{}",
        r.stderr
    );
    // The lifecycle verbs run on the cloud environments too: with no emulator at the stack's
    // endpoint, they say so and what to do.
    let r = p.run(&["pipeline", "run", "--env", "localstack"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("error: cannot reach http://localhost:4566: connection refused")
            && r.stderr.contains("hint: start it"),
        "{}",
        r.stderr
    );
    let r = p.run(&["validate", "-f", "missing.yaml"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: cannot read stack file `missing.yaml`"),
        "{}",
        r.stderr
    );
    std::fs::write(p.path().join("bin.yaml"), [0xff, 0xfe, 0x00]).unwrap();
    let r = p.run(&["validate", "-f", "bin.yaml"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not UTF-8"), "{}", r.stderr);

    p.run(&["up", "--yes"]).ok();
    std::fs::write(
        p.env_dir().join("state.json"),
        "{\"format\": 1, \"stack\": ",
    )
    .unwrap();
    let r = p.run(&["diff"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not valid: line 1"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: if it was edited by hand, restore"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn validate_json_lists_every_error() {
    let p = Project::new();
    p.edit_stack("min_accuracy: 0.75", "min_accuracy: 7.5");
    p.edit_stack("function: train", "function: trian");
    let r = p.run(&["validate", "--output", "json"]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
    assert_eq!(v["valid"], false);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", r.stdout);
    assert_eq!(
        errors[0]["message"],
        "unknown function `trian` in `schedules.retrain.function`"
    );
    assert_eq!(errors[0]["hint"], "did you mean `train`?");
    assert!(errors[0]["line"].as_u64().unwrap() > 1);
}

#[test]
fn snapshots_of_help_validate_diff_up_and_down() {
    let p = Project::new();
    assert_golden(&snapshot_path("help"), &p.run(&["--help"]).snapshot());
    assert_golden(
        &snapshot_path("up-help"),
        &p.run(&["up", "--help"]).snapshot(),
    );
    assert_golden(&snapshot_path("validate"), &p.run(&["validate"]).snapshot());
    assert_golden(&snapshot_path("diff-fresh"), &p.run(&["diff"]).snapshot());
    assert_golden(&snapshot_path("up"), &stable(&p.run(&["up", "--yes"])));
    assert_golden(
        &snapshot_path("up-no-changes"),
        &p.run(&["up", "--yes"]).snapshot(),
    );
    assert_golden(&snapshot_path("status"), &{
        let s = p.run(&["status"]).snapshot();
        s.lines()
            .map(|l| {
                if l.starts_with("updated:") {
                    "updated:   [TIME]"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    assert_golden(&snapshot_path("down"), &stable(&p.run(&["down", "--yes"])));
}
