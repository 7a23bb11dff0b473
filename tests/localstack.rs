//! The whole loop of `lambda_bootstrap.rs`
//! (`the_whole_loop_runs_through_serve_on_the_cloud_environment`) against real LocalStack 4.14.0,
//! the last image that runs without an account token, started here by `testcontainers`.
//!
//! Behind the `localstack` feature: `make test-localstack` runs it when a Docker engine answers
//! and reports it as skipped otherwise. Without Docker this test fails (it never passes without
//! having run). The container shares the host's network, so that the SNS subscription's webhook
//! on the host's loopback is reachable from LocalStack, as it is from moto.

#![allow(clippy::unwrap_used)]

use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{GenericImage, ImageExt as _};

#[tokio::test]
async fn the_whole_loop_runs_against_localstack_4_14() {
    let container = GenericImage::new("localstack/localstack", "4.14.0")
        .with_wait_for(WaitFor::message_on_stdout("Ready."))
        .with_network("host")
        .start()
        .await
        .unwrap_or_else(|e| {
            panic!("LocalStack 4.14.0 did not start ({e}): this test needs a Docker engine")
        });
    let endpoint = "http://127.0.0.1:4566";
    // The loop's own test, unchanged, pointed at LocalStack (`tests/support/moto.rs` takes
    // `MLINFRA_TEST_ENDPOINT` instead of starting moto).
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO"))
            .args([
                "nextest",
                "run",
                "-p",
                "mlinfra-e2e",
                "--test",
                "lambda_bootstrap",
                "-E",
                "test(the_whole_loop_runs_through_serve_on_the_cloud_environment)",
            ])
            .env("MLINFRA_TEST_ENDPOINT", endpoint)
            .status()
    })
    .await
    .unwrap()
    .unwrap();
    drop(container);
    assert!(
        status.success(),
        "the whole loop failed against LocalStack 4.14.0 at {endpoint}"
    );
}
