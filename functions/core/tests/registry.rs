//! The registry workflow, end to end, on the local store: registration, requests, approval by a
//! second person, automatic archiving, rollback, the audit trail; races; integrity; bad input.

#![allow(clippy::unwrap_used)]

mod workflow;

use mlinfra_core::registry::local::LocalStore;
use mlinfra_core::registry::{
    Registry, RegistryError, RequestStatus, RollbackOutcome, Stage, Store, read_artifact,
};
use workflow::{bad_input, candidate, policy, workflow};

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
    rt.block_on(workflow::exactly_one_approval(&reg, "heart", &results));
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
