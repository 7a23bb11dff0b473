//! The registry workflow scenario, shared by the local-store tests (`functions/core/tests/registry.rs`)
//! and the DynamoDB tests against the moto server (`tests/registry_dynamodb.rs`): every backend must
//! pass exactly the same checks.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

pub use mlinfra_core::registry::RequestStatus;
use mlinfra_core::registry::{
    Action, Candidate, Policy, Registry, RegistryError, RollbackOutcome, Stage, Store,
};

pub fn policy() -> Policy {
    Policy {
        metric: mlinfra_core::metrics::Metric::RocAuc,
        min_metric: 0.85,
        staging_automatic: false,
        production_automatic: false,
        emergency_rollback: false,
    }
}

pub fn candidate(dir: &std::path::Path, n: u8, auc: f64) -> Candidate {
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

pub fn refused(r: Result<impl std::fmt::Debug, RegistryError>, contains: &str) {
    match r {
        Err(e @ (RegistryError::Refused(_) | RegistryError::AlreadyRegistered { .. })) => {
            let m = e.to_string();
            assert!(m.contains(contains), "message: {m}")
        }
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

/// After 8 approvals of the same request raced: exactly one won, the others were told of the
/// conflict or that the request is already approved, and the store records one approval.
pub async fn exactly_one_approval<S: Store, T: std::fmt::Debug>(
    reg: &Registry<S>,
    model: &str,
    results: &[Result<T, RegistryError>],
) {
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(RegistryError::Conflict(_)) => {}
            Err(RegistryError::Refused(m)) if m.contains("already approved") => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let doc = reg.doc(model).await.unwrap();
    assert_eq!(doc.version(1).unwrap().stage, Stage::Staging);
    assert_eq!(doc.requests[0].status, RequestStatus::Approved);
    let approvals = reg
        .store
        .audit(model)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == Action::Approve)
        .count();
    assert_eq!(approvals, 1);
}
