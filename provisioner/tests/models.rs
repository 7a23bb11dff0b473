//! The registry workflow from the command line on the local environment: Pusher registration,
//! requests, approval by a second person, archiving, rollback, the audit trail, integrity.

#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

fn json(r: &common::Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}", r.snapshot());
    serde_json::from_str(&r.raw_stdout).unwrap()
}

#[test]
fn the_whole_workflow_from_the_cli() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let r = p.run(&["models", "list"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("model `heart-disease` has no versions yet"),
        "{}",
        r.stdout
    );

    // Run 1 (logistic regression wins): registered by alice, Staging automatically (the stack).
    let run1 = json(&p.run(&["pipeline", "run", "--as", "alice", "--output", "json"]));
    assert_eq!(run1["registered_version"], 1);
    let req = json(&p.run(&[
        "models",
        "request",
        "1",
        "--to",
        "production",
        "--as",
        "alice",
        "-m",
        "good AUC",
        "--output",
        "json",
    ]));
    let r1 = req["id"].as_str().unwrap().to_string();
    let own = p.run(&["models", "approve", &r1, "--as", "alice"]);
    assert_eq!(own.code, 1);
    assert!(
        own.stderr.contains("alice requested this transition"),
        "{}",
        own.stderr
    );
    let nobody = p
        .cmd(&["models", "approve", &r1])
        .env_remove("MLINFRA_USER")
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("an identity is required"));
    p.run(&["models", "approve", &r1, "--as", "bob"]).ok();
    let again = p.run(&["models", "approve", &r1, "--as", "carol"]);
    assert!(
        again.stderr.contains("already approved by bob"),
        "{}",
        again.stderr
    );

    // Run 2 (only trees this time): a different model, registered by carol, promoted by bob.
    p.edit_stack(
        "families: [logistic_regression, gradient_boosted_trees]",
        "families: [gradient_boosted_trees]",
    );
    let run2 = json(&p.run(&["pipeline", "run", "--as", "carol", "--output", "json"]));
    assert_eq!(run2["registered_version"], 2, "{run2}");
    assert!(
        run2["run"]["blessing"]["baseline"].as_f64().is_some(),
        "production was the baseline: {run2}"
    );
    let req = json(&p.run(&[
        "models",
        "request",
        "2",
        "--to",
        "production",
        "--as",
        "carol",
        "--output",
        "json",
    ]));
    let approved = p.run(&[
        "models",
        "approve",
        req["id"].as_str().unwrap(),
        "--as",
        "bob",
    ]);
    approved.ok();
    assert!(
        approved
            .stdout
            .contains("Version 2 is in Production; version 1 is archived."),
        "{}",
        approved.stdout
    );

    // Rollback: requested by carol, approved by alice.
    let rb = json(&p.run(&[
        "models",
        "rollback",
        "--as",
        "carol",
        "-m",
        "v2 misbehaves",
        "--output",
        "json",
    ]));
    p.run(&[
        "models",
        "approve",
        rb["id"].as_str().unwrap(),
        "--as",
        "alice",
    ])
    .ok();
    let list = json(&p.run(&["models", "list", "--output", "json"]));
    let stages: Vec<(u64, String)> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![(1, "Production".into()), (2, "Archived".into())]
    );

    let audit = json(&p.run(&["models", "audit", "--output", "json"]));
    let trail: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} v{}",
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["version"]
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            "alice register v1",
            "alice promote v1",
            "alice request v1",
            "bob approve v1",
            "bob promote v1",
            "carol register v2",
            "carol promote v2",
            "carol request v2",
            "bob approve v2",
            "bob archive v1",
            "bob promote v2",
            "carol request v1",
            "alice approve v1",
            "alice archive v2",
            "alice rollback v1",
        ]
    );
    let csv = p.run(&["models", "audit", "--output", "csv"]);
    csv.ok();
    assert_eq!(csv.stdout.lines().count(), 16, "header + 15 events");
    assert!(csv.stdout.starts_with(
        "seq,at,actor,action,model,version,from,to,comment,request,model_sha256,run_id,data_hash\n"
    ));
    let run1_id = run1["run"]["run_id"].as_str().unwrap();
    assert!(csv.stdout.contains(run1_id));
}

#[test]
fn a_model_file_that_does_not_match_its_checksum_is_neither_registered_nor_used() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    let run = json(&p.run(&["pipeline", "run", "--no-register", "--output", "json"]));
    let id = run["run"]["run_id"].as_str().unwrap();
    let file = p
        .env_dir()
        .join(format!("lake/models/heart-disease/{id}/model.onnx"));
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"not the model").unwrap();
    let r = p.run(&["models", "register", "--run", id, "--as", "alice"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does not match its recorded checksum"),
        "{}",
        r.stderr
    );
    assert!(
        p.run(&["models", "list"])
            .stdout
            .contains("model `heart-disease` has no versions yet"),
        "nothing was registered"
    );

    // Registered intact, then tampered: the pipeline refuses to use it as the baseline.
    std::fs::write(&file, &good).unwrap();
    p.run(&["models", "register", "--run", id, "--as", "alice"])
        .ok();
    p.approve_to_production("1", "alice", "bob");
    std::fs::write(&file, b"tampered").unwrap();
    let r = p.run(&["pipeline", "run", "--as", "alice"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does not match its recorded checksum"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("refusing to use it"), "{}", r.stderr);
}

#[test]
fn bad_registry_input_is_a_clear_error() {
    let p = Project::with_data();
    p.run(&["up", "--yes"]).ok();
    p.run(&["pipeline", "run", "--as", "alice"]).ok();
    let cases: [(&[&str], &str); 5] = [
        (
            &["models", "show", "9"],
            "has no version 9; its versions are 1",
        ),
        (
            &["models", "list", "--model", "nope"],
            "no model `nope` in the registry",
        ),
        (
            &["models", "approve", "r42", "--as", "bob"],
            "has no transition request `r42`",
        ),
        (
            &["models", "register", "--run", "ffff", "--as", "bob"],
            "no run `ffff`",
        ),
        (
            &["models", "request", "1", "--to", "staging", "--as", "bob"],
            "version 1 is in Staging; it cannot move to Staging",
        ),
    ];
    for (args, expected) in cases {
        let r = p.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.snapshot());
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
    }
    let r = p.run(&["models", "request", "1", "--to", "archived", "--as", "bob"]);
    assert_eq!(r.code, 2, "clap rejects an unknown stage");
    let r = p.run(&["models", "list", "--output", "csv"]);
    assert_eq!(r.code, 2);
}
