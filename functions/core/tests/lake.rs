//! The local directory lake meets the [`mlinfra_core::lake::Lake`] contract.

#![allow(clippy::unwrap_used)]

mod lake_contract;

#[tokio::test]
async fn the_local_lake_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    lake_contract::contract(&mlinfra_core::lake::LocalLake::new(dir.path())).await;
}
