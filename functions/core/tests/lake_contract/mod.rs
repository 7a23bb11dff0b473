//! The [`Lake`] contract, one scenario for every implementation (the local directory here, S3
//! against the moto server in `tests/lake_s3.rs`): read back what was written, `None` for a
//! missing key, sorted listings by prefix, idempotent deletes, and a conditional create that
//! exactly one of several racing writers wins.

#![allow(dead_code, clippy::unwrap_used)]

use mlinfra_core::lake::Lake;

pub async fn contract(lake: &impl Lake) {
    lake.put("raw/b.csv", b"b").await.unwrap();
    lake.put("raw/a.csv", b"a").await.unwrap();
    lake.put("raw/quarantine/c.csv", b"c").await.unwrap();
    lake.put("curated/x/data.csv", b"x").await.unwrap();
    assert_eq!(lake.get("raw/a.csv").await.unwrap(), Some(b"a".to_vec()));
    assert_eq!(lake.get("raw/none.csv").await.unwrap(), None);
    assert_eq!(
        lake.list("raw/").await.unwrap(),
        ["raw/a.csv", "raw/b.csv", "raw/quarantine/c.csv"]
    );
    assert_eq!(
        lake.list("raw/quar").await.unwrap(),
        ["raw/quarantine/c.csv"]
    );
    assert!(lake.list("nothing/").await.unwrap().is_empty());
    // An overwrite replaces; a delete is idempotent.
    lake.put("raw/a.csv", b"a2").await.unwrap();
    assert_eq!(lake.get("raw/a.csv").await.unwrap(), Some(b"a2".to_vec()));
    lake.delete("raw/a.csv").await.unwrap();
    lake.delete("raw/a.csv").await.unwrap();
    assert_eq!(lake.get("raw/a.csv").await.unwrap(), None);
    // Empty objects and binary bytes round-trip.
    lake.put("artifacts/empty", b"").await.unwrap();
    assert_eq!(lake.get("artifacts/empty").await.unwrap(), Some(vec![]));
    let binary: Vec<u8> = (0..=255).collect();
    lake.put("models/m/model.onnx", &binary).await.unwrap();
    assert_eq!(lake.get("models/m/model.onnx").await.unwrap(), Some(binary));
    // A conditional create: the first wins, the second changes nothing.
    assert!(lake.put_if_absent("state/lock", b"first").await.unwrap());
    assert!(!lake.put_if_absent("state/lock", b"second").await.unwrap());
    assert_eq!(
        lake.get("state/lock").await.unwrap(),
        Some(b"first".to_vec())
    );
    // Eight racing creators: exactly one wins, and its bytes are the object's.
    let racers =
        (0..8u8).map(|i| async move { (i, lake.put_if_absent("state/race", &[i]).await.unwrap()) });
    let results = futures_join(racers).await;
    let winners: Vec<u8> = results
        .iter()
        .filter(|(_, won)| *won)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(
        lake.get("state/race").await.unwrap(),
        Some(vec![winners[0]])
    );
    assert!(lake.uri("raw/a.csv").ends_with("raw/a.csv"));
}

/// Run futures concurrently on the current task (no extra dependency).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("ready")).collect()
}
