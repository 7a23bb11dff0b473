//! The S3 lake against the moto server meets the same [`mlinfra_core::lake::Lake`] contract as
//! the local directory, and its errors are one sentence.

#![allow(clippy::unwrap_used)]

#[path = "../functions/core/tests/lake_contract/mod.rs"]
mod lake_contract;
#[path = "support/moto.rs"]
mod moto;

use mlinfra_core::lake::Lake as _;
use mlinfra_core::lake_s3::S3Lake;

async fn lake(bucket: &str) -> S3Lake {
    let conf = moto::sdk_config(&moto::server().endpoint).await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    client.create_bucket().bucket(bucket).send().await.unwrap();
    S3Lake::new(client, bucket)
}

#[tokio::test]
async fn the_s3_lake_meets_the_contract() {
    let lake = lake("lake-contract").await;
    lake_contract::contract(&lake).await;
    assert_eq!(lake.uri("raw/a.csv"), "s3://lake-contract/raw/a.csv");
}

#[tokio::test]
async fn a_missing_bucket_is_one_sentence() {
    let mut lake = lake("lake-errors").await;
    lake.bucket = "no-such-bucket".into();
    let e = lake.put("raw/a.csv", b"a").await.unwrap_err().to_string();
    assert!(
        e.starts_with("data lake `raw/a.csv`: s3:PutObject: "),
        "{e}"
    );
    assert!(e.contains("NoSuchBucket"), "{e}");
    assert!(!e.contains("ServiceError") && !e.contains(" { "), "{e}");
}
