//! The registry workflow, end to end, on the local store: registration, requests, approval by a
//! second person, automatic archiving, rollback, the audit trail; races; integrity; bad input.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use mlinfra_core::registry::local::LocalStore;
use mlinfra_core::registry::{
    Action, Candidate, Policy, Registry, RegistryError, RequestStatus, RollbackOutcome, Stage,
    Store, read_artifact,
};

fn policy() -> Policy {
    Policy {
        metric: "roc_auc".into(),
        min_metric: 0.85,
        staging_automatic: false,
        production_automatic: false,
        emergency_rollback: false,
    }
}

fn candidate(dir: &std::path::Path, n: u8, auc: f64) -> Candidate {
    let path = dir.join(format!("model-{n}.onnx"));
    let bytes = vec![n; 64];
    std::fs::write(&path, &bytes).unwrap();
    Candidate {
        artifact_uri: format!("file://{}", path.display()),
        sha256: format!("sha256:{}", mlinfra_core::pipeline::sha256_hex(&bytes)),
        run_id: format!("run{n}"),
        data_hash: "sha256:data".into(),
        schema_version: "sha256:schema".into(),
        metrics: BTreeMap::from([("roc_auc".to_string(), auc)]),
    }
}

fn refused(r: Result<impl std::fmt::Debug, RegistryError>, contains: &str) {
    match r {
        Err(RegistryError::Refused(m)) => assert!(m.contains(contains), "message: {m}"),
        other => panic!("expected a refusal containing `{contains}`, got {other:?}"),
    }
}

/// The briefs' workflow, on any store.
pub async fn workflow<S: Store>(reg: &Registry<S>, artifacts: &std::path::Path) {
    let m = "heart";
    let v1 = reg
        .register(m, candidate(artifacts, 1, 0.90), "alice")
        .await
        .unwrap();
    assert_eq!((v1.version, v1.stage), (1, Stage::None));
    let r = reg
        .request(m, 1, Stage::Staging, "candidate from run1", "alice")
        .await
        .unwrap();
    refused(
        reg.approve(m, &r.id, "", "alice").await,
        "alice requested this transition",
    );
    reg.approve(m, &r.id, "checked", "bob").await.unwrap();
    let r = reg
        .request(m, 1, Stage::Production, "accepted in staging", "alice")
        .await
        .unwrap();
    reg.approve(m, &r.id, "ship it", "bob").await.unwrap();
    assert_eq!(
        reg.store
            .current(m)
            .await
            .unwrap()
            .unwrap()
            .production
            .unwrap()
            .version,
        1
    );

    reg.register(m, candidate(artifacts, 2, 0.92), "carol")
        .await
        .unwrap();
    let r = reg
        .request(m, 2, Stage::Staging, "", "carol")
        .await
        .unwrap();
    reg.approve(m, &r.id, "", "alice").await.unwrap();
    let r = reg
        .request(m, 2, Stage::Production, "better AUC", "carol")
        .await
        .unwrap();
    reg.approve(m, &r.id, "", "bob").await.unwrap();
    let doc = reg.doc(m).await.unwrap();
    assert_eq!(doc.version(2).unwrap().stage, Stage::Production);
    assert_eq!(
        doc.version(1).unwrap().stage,
        Stage::Archived,
        "the previous Production version is archived"
    );

    // Rollback needs a second person.
    let RollbackOutcome::Requested(r) = reg.rollback(m, "v2 misbehaves", "carol").await.unwrap()
    else {
        panic!("rollback should need approval")
    };
    assert_eq!(r.version, 1);
    refused(
        reg.approve(m, &r.id, "", "carol").await,
        "a different person must approve it",
    );
    reg.approve(m, &r.id, "confirmed", "bob").await.unwrap();
    let current = reg.store.current(m).await.unwrap().unwrap();
    assert_eq!(current.production.unwrap().version, 1);
    assert!(current.staging.is_none());
    assert_eq!(
        reg.doc(m).await.unwrap().version(2).unwrap().stage,
        Stage::Archived
    );

    let audit = reg.store.audit(m).await.unwrap();
    let trail: Vec<(Action, &str, u64)> = audit
        .iter()
        .map(|e| (e.action, e.actor.as_str(), e.version))
        .collect();
    use Action::*;
    assert_eq!(
        trail,
        vec![
            (Register, "alice", 1),
            (Request, "alice", 1),
            (Approve, "bob", 1),
            (Promote, "bob", 1),
            (Request, "alice", 1),
            (Approve, "bob", 1),
            (Promote, "bob", 1),
            (Register, "carol", 2),
            (Request, "carol", 2),
            (Approve, "alice", 2),
            (Promote, "alice", 2),
            (Request, "carol", 2),
            (Approve, "bob", 2),
            (Archive, "bob", 1),
            (Promote, "bob", 2),
            (Request, "carol", 1),
            (Approve, "bob", 1),
            (Archive, "bob", 2),
            (Rollback, "bob", 1),
        ]
    );
    let seqs: Vec<u64> = audit.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=audit.len() as u64).collect::<Vec<_>>(),
        "sequence numbers are gapless"
    );
    assert!(
        audit
            .iter()
            .all(|e| e.model_sha256.starts_with("sha256:") && !e.run_id.is_empty())
    );
    let promote_v2 = audit
        .iter()
        .find(|e| e.action == Promote && e.version == 2 && e.to == Some(Stage::Production))
        .unwrap();
    assert_eq!(promote_v2.run_id, "run2");
}

/// Bad input changes nothing.
pub async fn bad_input<S: Store>(reg: &Registry<S>, artifacts: &std::path::Path) {
    let m = "bad";
    reg.register(m, candidate(artifacts, 7, 0.9), "alice")
        .await
        .unwrap();
    let before = (reg.doc(m).await.unwrap(), reg.store.audit(m).await.unwrap());
    assert!(matches!(
        reg.request("nope", 1, Stage::Staging, "", "alice").await,
        Err(RegistryError::UnknownModel(_))
    ));
    assert!(matches!(
        reg.request(m, 9, Stage::Staging, "", "alice").await,
        Err(RegistryError::UnknownVersion { .. })
    ));
    refused(
        reg.request(m, 1, Stage::Production, "", "alice").await,
        "request Staging first",
    );
    assert!(matches!(
        reg.request(m, 1, Stage::Staging, "", " ").await,
        Err(RegistryError::NoIdentity)
    ));
    assert!(matches!(
        reg.approve(m, "r99", "", "bob").await,
        Err(RegistryError::UnknownRequest { .. })
    ));
    refused(
        reg.register(m, candidate(artifacts, 7, 0.9), "alice").await,
        "already registered as version 1",
    );
    let low = reg
        .register(m, candidate(artifacts, 8, 0.5), "alice")
        .await
        .unwrap();
    refused(
        reg.request(m, low.version, Stage::Staging, "", "alice")
            .await,
        "below the policy's minimum",
    );
    let after_register = reg.doc(m).await.unwrap();
    assert_eq!(
        after_register.rev,
        before.0.rev + 1,
        "only the second registration was written"
    );
    let r = reg
        .request(m, 1, Stage::Staging, "", "alice")
        .await
        .unwrap();
    reg.reject(m, &r.id, "not yet", "bob").await.unwrap();
    let decided = reg.doc(m).await.unwrap();
    refused(
        reg.approve(m, &r.id, "", "carol").await,
        "already rejected by bob",
    );
    assert_eq!(
        reg.doc(m).await.unwrap(),
        decided,
        "a refused approval wrote nothing"
    );
}

#[tokio::test]
async fn the_whole_workflow_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(LocalStore::new(dir.path().join("registry")), policy());
    workflow(&reg, dir.path()).await;
}

#[tokio::test]
async fn bad_input_on_the_local_store_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(LocalStore::new(dir.path().join("registry")), policy());
    bad_input(&reg, dir.path()).await;
}

#[test]
fn racing_approvals_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("registry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let reg = Registry::new(LocalStore::new(&store_dir), policy());
    let id = rt.block_on(async {
        reg.register("heart", candidate(dir.path(), 1, 0.9), "alice")
            .await
            .unwrap();
        reg.request("heart", 1, Stage::Staging, "", "alice")
            .await
            .unwrap()
            .id
    });
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (store_dir, id, barrier) = (store_dir.clone(), id.clone(), barrier.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let reg = Registry::new(LocalStore::new(store_dir), policy());
                barrier.wait();
                rt.block_on(reg.approve("heart", &id, "", &format!("approver{i}")))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(RegistryError::Conflict(_)) => {}
            Err(RegistryError::Refused(m)) if m.contains("already approved") => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    rt.block_on(async {
        let doc = reg.doc("heart").await.unwrap();
        assert_eq!(doc.version(1).unwrap().stage, Stage::Staging);
        assert_eq!(doc.requests[0].status, RequestStatus::Approved);
        let approvals = reg
            .store
            .audit("heart")
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == Action::Approve)
            .count();
        assert_eq!(approvals, 1);
    });
}

#[test]
fn a_file_that_does_not_match_its_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = candidate(dir.path(), 3, 0.9);
    assert_eq!(read_artifact(&c.artifact_uri, &c.sha256).unwrap().len(), 64);
    std::fs::write(c.artifact_uri.strip_prefix("file://").unwrap(), b"tampered").unwrap();
    match read_artifact(&c.artifact_uri, &c.sha256) {
        Err(RegistryError::Integrity(m)) => {
            assert!(m.contains("does not match its recorded checksum"), "{m}")
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

#[tokio::test]
async fn automatic_staging_and_emergency_rollback_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = policy();
    p.staging_automatic = true;
    p.emergency_rollback = true;
    let reg = Registry::new(LocalStore::new(dir.path().join("registry")), p);
    assert_eq!(
        reg.register("m", candidate(dir.path(), 1, 0.9), "alice")
            .await
            .unwrap()
            .stage,
        Stage::Staging
    );
    let r = reg
        .request("m", 1, Stage::Production, "", "alice")
        .await
        .unwrap();
    assert_eq!(
        r.status,
        RequestStatus::Pending,
        "Production always waits for a person"
    );
    reg.approve("m", &r.id, "", "bob").await.unwrap();
    reg.register("m", candidate(dir.path(), 2, 0.9), "alice")
        .await
        .unwrap();
    let r = reg
        .request("m", 2, Stage::Production, "", "alice")
        .await
        .unwrap();
    reg.approve("m", &r.id, "", "bob").await.unwrap();
    assert_eq!(
        reg.rollback("m", "incident", "carol").await.unwrap(),
        RollbackOutcome::Done(1)
    );
    assert_eq!(
        reg.store
            .current("m")
            .await
            .unwrap()
            .unwrap()
            .production
            .unwrap()
            .version,
        1
    );
}
