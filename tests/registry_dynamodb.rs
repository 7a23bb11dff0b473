//! The registry on DynamoDB, against the moto server: the same workflow and bad-input scenario as
//! the local store, a race of concurrent approvals, and independent reads of the items written.

#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;
#[path = "../functions/core/tests/workflow/mod.rs"]
mod workflow;

use mlinfra_core::registry::dynamodb::DynamoDbStore;
use mlinfra_core::registry::{Registry, RegistryError, Stage, Store};

async fn registry(table: &str) -> (Registry<DynamoDbStore>, aws_sdk_dynamodb::Client) {
    let client = moto::dynamodb(&moto::server().endpoint);
    DynamoDbStore::create_table(&client, table).await.unwrap();
    (
        Registry::new(
            DynamoDbStore::new(client.clone(), table),
            workflow::policy(),
        ),
        client,
    )
}

#[tokio::test]
async fn the_whole_workflow_on_dynamodb() {
    let (reg, client) = registry("wf-registry").await;
    let dir = tempfile::tempdir().unwrap();
    workflow::workflow(&reg, dir.path()).await;
    // Read the table independently of the store: one audit item per event, the serving pointer.
    let items = client
        .query()
        .table_name("wf-registry")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("MODEL#heart".into()),
        )
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = items
        .items()
        .iter()
        .map(|i| i["sk"].as_s().unwrap().clone())
        .collect();
    assert_eq!(keys.iter().filter(|k| k.starts_with("AUDIT#")).count(), 19);
    assert!(keys.contains(&"DOC".to_string()) && keys.contains(&"CURRENT".to_string()));
    let current = items
        .items()
        .iter()
        .find(|i| i["sk"].as_s().unwrap() == "CURRENT")
        .unwrap();
    let pointer: serde_json::Value =
        serde_json::from_str(current["current"].as_s().unwrap()).unwrap();
    assert_eq!(pointer["production"]["version"], 1);
}

#[tokio::test]
async fn bad_input_on_dynamodb_writes_nothing() {
    let (reg, _) = registry("bad-registry").await;
    let dir = tempfile::tempdir().unwrap();
    workflow::bad_input(&reg, dir.path()).await;
}

#[tokio::test]
async fn an_audit_entry_is_never_overwritten() {
    let (reg, client) = registry("append-only").await;
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
    let r = reg.store.commit(&next, doc.rev, &[forged]).await;
    assert!(matches!(r, Err(RegistryError::Conflict(_))), "{r:?}");
    assert_eq!(reg.doc("m").await.unwrap().rev, doc.rev, "nothing written");
    assert_eq!(reg.store.audit("m").await.unwrap()[0].actor, "alice");
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approvals_exactly_one_wins() {
    let (reg, client) = registry("race-registry").await;
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
        let reg = Registry::new(
            DynamoDbStore::new(client.clone(), "race-registry"),
            workflow::policy(),
        );
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

#[tokio::test]
async fn the_aws_identity_is_the_callers_arn() {
    let sts = moto::sts(&moto::server().endpoint, "testing", "testing");
    let arn = mlinfra_core::registry::dynamodb::caller_identity(&sts)
        .await
        .unwrap();
    assert!(arn.starts_with("arn:aws:"), "{arn}");
    assert!(
        arn.contains(":123456789012:"),
        "moto's default account: {arn}"
    );
}
