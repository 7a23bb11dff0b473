//! The Azure data plane against Azurite: the blob lake meets the same [`Lake`] contract as the
//! local directory and S3; the blob registry passes the same workflow suite as the local and
//! DynamoDB stores, with exactly one of 8 racing approvals winning; blobs are read back
//! independently of the stores; errors are one sentence.

#![allow(clippy::unwrap_used)]

#[path = "support/azurite.rs"]
mod azurite;
#[path = "../functions/core/tests/lake_contract/mod.rs"]
mod lake_contract;
#[path = "../functions/core/tests/workflow/mod.rs"]
mod workflow;

use mlinfra_core::azure::Account;
use mlinfra_core::azure::blob::{BlobLake, Leased};
use mlinfra_core::lake::Lake as _;
use mlinfra_core::registry::blob::BlobStore;
use mlinfra_core::registry::{Registry, RegistryError, Stage, Store};

fn account() -> Account {
    Account::from_connection_string(&azurite::server().connection_string()).unwrap()
}

async fn container(name: &str) -> BlobLake {
    let lake = BlobLake::new(&account(), name).unwrap();
    assert!(lake.create_container().await.unwrap(), "new container");
    assert!(!lake.create_container().await.unwrap(), "second create");
    lake
}

async fn registry(name: &str) -> Registry<BlobStore> {
    Registry::new(BlobStore::new(container(name).await), workflow::policy())
}

#[tokio::test]
async fn the_blob_lake_meets_the_contract() {
    let lake = container("lake-contract").await;
    lake_contract::contract(&lake).await;
    assert_eq!(
        lake.uri("raw/a.csv"),
        format!(
            "{}/lake-contract/raw/a.csv",
            azurite::server().blob_endpoint
        )
    );
}

#[tokio::test]
async fn etag_swaps_and_leases() {
    let lake = container("cas").await;
    lake.put("k", b"1").await.unwrap();
    let (_, etag) = lake.get_tagged("k").await.unwrap().unwrap();
    assert!(lake.put_if_match("k", b"2", &etag).await.unwrap());
    // The ETag changed with the write: a second swap from the old one is refused.
    assert!(!lake.put_if_match("k", b"3", &etag).await.unwrap());
    assert_eq!(lake.get("k").await.unwrap(), Some(b"2".to_vec()));

    let Leased::Acquired(id) = lake.acquire_lease("k").await.unwrap() else {
        panic!("first lease")
    };
    assert_eq!(lake.acquire_lease("k").await.unwrap(), Leased::Held);
    // A leased blob refuses writes without the lease, and takes ours.
    assert!(lake.put("k", b"x").await.is_err());
    lake.put_leased("k", b"4", &id).await.unwrap();
    lake.release_lease("k", &id).await.unwrap();
    assert!(matches!(
        lake.acquire_lease("k").await.unwrap(),
        Leased::Acquired(_)
    ));
    // Broken by someone else (`unlock`): free again at once.
    lake.break_lease("k").await.unwrap();
    assert!(matches!(
        lake.acquire_lease("k").await.unwrap(),
        Leased::Acquired(_)
    ));
    lake.delete_leased("k").await.unwrap();
    assert_eq!(lake.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn errors_are_one_sentence() {
    let lake = BlobLake::new(&account(), "no-such-container").unwrap();
    let e = lake.put("raw/a.csv", b"a").await.unwrap_err().to_string();
    assert_eq!(
        e,
        "data lake `raw/a.csv`: azure blob Put Blob: HTTP 404 ContainerNotFound"
    );
    // A SAS signed with the wrong key.
    let forged = Account::from_connection_string(&format!(
        "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint={}",
        azurite::server().blob_endpoint
    ))
    .unwrap();
    let e = BlobLake::new(&forged, "lake-contract")
        .unwrap()
        .get("raw/b.csv")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 403 AuthorizationFailure") || e.contains("HTTP 403"),
        "{e}"
    );
    assert!(e.contains("access denied"), "{e}");
    // Nothing listens.
    let gone = Account::azurite(Some("http://127.0.0.1:9"));
    let e = BlobLake::new(&gone, "x")
        .unwrap()
        .get("k")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be reached"), "{e}");
    assert!(!e.contains("sig="), "no SAS in messages: {e}");
}

#[tokio::test]
async fn the_whole_workflow_on_blobs() {
    let reg = registry("wf-registry").await;
    let dir = tempfile::tempdir().unwrap();
    workflow::workflow(&reg, dir.path()).await;
    // Read the container independently of the store: one write-once blob per audit event, the
    // document with its pointers.
    let keys = reg.store.lake.list("").await.unwrap();
    let audit: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("heart/audit/"))
        .collect();
    assert_eq!(audit.len(), 19, "{keys:?}");
    assert_eq!(audit[0], "heart/audit/0000000001.json");
    let doc: serde_json::Value =
        serde_json::from_slice(&reg.store.lake.get("heart/doc.json").await.unwrap().unwrap())
            .unwrap();
    assert_eq!(doc["doc"]["audit_seq"], 19);
    // The last commit's events stay in the document's outbox, each also written as its blob.
    for e in doc["outbox"].as_array().unwrap() {
        let key = format!("heart/audit/{:010}.json", e["seq"].as_u64().unwrap());
        let written: serde_json::Value =
            serde_json::from_slice(&reg.store.lake.get(&key).await.unwrap().unwrap()).unwrap();
        assert_eq!(&written, e);
    }
}

#[tokio::test]
async fn bad_input_on_blobs_writes_nothing() {
    let reg = registry("bad-registry").await;
    let dir = tempfile::tempdir().unwrap();
    workflow::bad_input(&reg, dir.path()).await;
}

#[tokio::test]
async fn an_audit_entry_is_never_overwritten() {
    let reg = registry("append-only").await;
    let dir = tempfile::tempdir().unwrap();
    reg.register("m", workflow::candidate(dir.path(), 1, 0.9), "alice")
        .await
        .unwrap();
    // A commit that reuses an existing audit sequence number is refused as a whole.
    let doc = reg.doc("m").await.unwrap();
    let mut next = doc.clone();
    next.rev += 1;
    let mut forged = reg.store.audit("m").await.unwrap()[0].clone();
    forged.actor = "mallory".into();
    let r = reg.store.commit(&next, doc.rev, &[forged.clone()]).await;
    assert!(matches!(r, Err(RegistryError::Conflict(_))), "{r:?}");
    assert_eq!(reg.doc("m").await.unwrap().rev, doc.rev, "nothing written");
    assert_eq!(reg.store.audit("m").await.unwrap()[0].actor, "alice");
    // So is one from a stale revision.
    forged.seq = doc.audit_seq + 1;
    let r = reg.store.commit(&next, doc.rev - 1, &[forged]).await;
    assert!(matches!(r, Err(RegistryError::Conflict(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approvals_exactly_one_wins() {
    let reg = registry("race-registry").await;
    let dir = tempfile::tempdir().unwrap();
    reg.register("m", workflow::candidate(dir.path(), 1, 0.9), "alice")
        .await
        .unwrap();
    let id = reg
        .request("m", 1, Stage::Staging, "", "alice")
        .await
        .unwrap()
        .id;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let reg = Registry::new(reg.store.clone(), workflow::policy());
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            reg.approve("m", &id, "", &format!("approver{i}")).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    workflow::exactly_one_approval(&reg, "m", &results).await;
    assert_eq!(reg.store.models().await.unwrap(), vec!["m".to_string()]);
}
