//! The S3 lake against the moto server meets the same [`mlinfra_core::lake::Lake`] contract as
//! the local directory, and its errors are one sentence; the state lock kept in it has one
//! holder even where the server's conditional write is not atomic.

#![allow(clippy::unwrap_used)]

#[path = "../functions/core/tests/lake_contract/mod.rs"]
mod lake_contract;
#[path = "support/moto.rs"]
mod moto;

use mlinfra_core::lake::Lake as _;
use mlinfra_core::lake_s3::S3Lake;

async fn client() -> aws_sdk_s3::Client {
    let conf = moto::sdk_config(&moto::server().endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

async fn lake(bucket: &str) -> S3Lake {
    let client = client().await;
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

/// An S3-compatible server that ignores `If-None-Match` (as some emulators do, and as moto's
/// check-then-write can under load): every `PUT` succeeds and the last body stays.
async fn careless_s3() -> String {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    type Objects = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Bytes>>>;
    let objects = Objects::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let objects = objects.clone();
            let svc = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let objects = objects.clone();
                    async move {
                        let key = req.uri().path().to_string();
                        let method = req.method().clone();
                        let body = req.into_body().collect().await?.to_bytes();
                        let (status, out) = match method {
                        hyper::Method::PUT => {
                            objects.lock().unwrap().insert(key, body);
                            (200, Bytes::new())
                        }
                        hyper::Method::DELETE => {
                            objects.lock().unwrap().remove(&key);
                            (204, Bytes::new())
                        }
                        _ => match objects.lock().unwrap().get(&key) {
                            Some(b) => (200, b.clone()),
                            None => (404, Bytes::from_static(
                                b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>",
                            )),
                        },
                    };
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .status(status)
                                .header("ETag", "\"0\"")
                                .body(Full::new(out))
                                .unwrap(),
                        )
                    }
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    endpoint
}

/// Where the server does not make the lock's conditional create atomic, the lock is read back
/// before it counts: of racing takers exactly one holds it, the others are told who does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_racing_lock_takers_exactly_one_holds_the_state_lock() {
    use mlinfra::engine::lock::LockError;
    use mlinfra::providers::aws::state::S3Store;
    let conf = moto::sdk_config(&careless_s3().await).await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    let store = S3Store::new(client, "lock-race", "localstack");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let takers: Vec<_> = (0..4)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.lock("up").await
            })
        })
        .collect();
    let (mut held, mut told) = (Vec::new(), 0);
    for t in takers {
        match t.await.unwrap() {
            Ok(lock) => held.push(lock),
            Err(e @ LockError::Held(..)) => {
                let msg = e.to_string();
                assert!(msg.contains("the state is locked by"), "{msg}");
                assert!(
                    msg.contains("s3://lock-race/state/localstack/state.lock"),
                    "{msg}"
                );
                told += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((held.len(), told), (1, 3), "one holder, three told");
    let holder = store.holder_of_lock().await.unwrap().unwrap();
    assert_eq!(holder.id, held[0].info().id);
    held.pop().unwrap().release().await;
    assert!(store.holder_of_lock().await.unwrap().is_none());
}
