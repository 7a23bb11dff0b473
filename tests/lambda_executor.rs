//! The Lambda executor (`mlinfra::lambda`) against a real process speaking the Runtime API: a
//! few lines of Python (`tests/fixtures/runtime/bootstrap.py`) that sleep, crash, fail or report
//! an init error on request, so that every path of the executor is taken: warm reuse, the
//! concurrency limit, the timeout (instance killed, `Task timed out`, a new instance next),
//! exits, function errors, init errors, and the instances' logs, prefixed. The real packaged
//! functions run through the same executor in `lambda_bootstrap.rs` (`mlinfra invoke`).

#![allow(clippy::unwrap_used)]

#[path = "support/cli.rs"]
mod cli;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use mlinfra::lambda::{Executor, FunctionSpec, LogSink, Outcome};
use serde_json::{Value, json};

fn spec(timeout_ms: u64, concurrency: usize, env: &[(&str, &str)]) -> FunctionSpec {
    FunctionSpec {
        name: "test-fn".into(),
        bootstrap: cli::repo_root().join("tests/fixtures/runtime/bootstrap.py"),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        memory_mb: 128,
        timeout: Duration::from_millis(timeout_ms),
        concurrency,
        arn: "arn:aws:lambda:us-east-1:000000000000:function:test-fn".into(),
    }
}

fn capture() -> (LogSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lines);
    let sink: LogSink = Arc::new(move |label: &str, line: &str| {
        l.lock().unwrap().push(format!("[{label}] {line}"));
    });
    (sink, lines)
}

async fn call(ex: &Executor, id: &str, event: Value) -> Outcome {
    ex.invoke(id, Bytes::from(event.to_string())).await.unwrap()
}

fn response(o: &Outcome) -> Value {
    match o {
        Outcome::Response(b) => serde_json::from_slice(b).unwrap(),
        Outcome::Error(f) => panic!("expected a response, got {f}"),
    }
}

#[tokio::test]
async fn warm_instances_are_reused_and_the_limit_holds() {
    let (sink, lines) = capture();
    let ex = Arc::new(Executor::new(spec(10_000, 2, &[]), sink));
    let a = response(&call(&ex, "req-1", json!({"n": 1})).await);
    assert_eq!(a["echo"], json!({"n": 1}));
    assert_eq!(a["request_id"], "req-1");
    let deadline = a["deadline_ms"].as_u64().unwrap() as u128;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        deadline > now && deadline <= now + 10_000,
        "deadline {deadline}"
    );
    let b = response(&call(&ex, "req-2", json!({"n": 2})).await);
    assert_eq!(
        a["pid"], b["pid"],
        "the second call goes to the warm instance"
    );
    assert_eq!(ex.cold_starts(), 1);
    // Four slow calls at once: two instances, no more.
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let ex = Arc::clone(&ex);
            tokio::spawn(async move { call(&ex, &format!("c-{i}"), json!({"sleep": 0.3})).await })
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for c in calls {
        pids.insert(response(&c.await.unwrap())["pid"].as_u64().unwrap());
    }
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_eq!(ex.cold_starts(), 2);
    let logs = lines.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.starts_with("[test-fn 1] started ")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("[test-fn 2] handling c-")),
        "{logs:?}"
    );
    ex.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_timed_out_instance_is_killed_and_replaced() {
    let (sink, _) = capture();
    let ex = Executor::new(spec(700, 1, &[]), sink);
    let first = response(&call(&ex, "req-1", json!({})).await);
    let started = std::time::Instant::now();
    let Outcome::Error(f) = call(&ex, "req-2", json!({"sleep": 30})).await else {
        panic!("a 30 s sleep past a 0.7 s timeout answered")
    };
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(f.error_type, "Sandbox.Timedout");
    assert!(
        f.message
            .contains("req-2 Task timed out after 0.70 seconds"),
        "{}",
        f.message
    );
    assert!(!f.handled);
    let next = response(&call(&ex, "req-3", json!({})).await);
    assert_ne!(
        next["pid"], first["pid"],
        "a new instance after the timeout"
    );
    assert_eq!(ex.cold_starts(), 2);
    // The killed instance is gone.
    let pid = first["pid"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            break; // ended, not yet reaped
        }
        assert!(std::time::Instant::now() < deadline, "{pid} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn exits_function_errors_and_init_errors_are_lambdas() {
    let (sink, lines) = capture();
    let ex = Executor::new(spec(10_000, 1, &[]), sink);
    let first = response(&call(&ex, "req-1", json!({})).await);
    // A function error leaves the instance warm.
    let Outcome::Error(f) = call(&ex, "req-2", json!({"fail": "bad input"})).await else {
        panic!("no error")
    };
    assert_eq!(
        (f.error_type.as_str(), f.message.as_str()),
        ("Test.Failed", "bad input")
    );
    assert!(f.handled);
    assert_eq!(
        f.body(),
        json!({"errorType": "Test.Failed", "errorMessage": "bad input"})
    );
    // An exit fails the invocation as Lambda reports it; the next one gets a new instance.
    let Outcome::Error(f) = call(&ex, "req-3", json!({"crash": 3})).await else {
        panic!("no error")
    };
    assert_eq!(f.error_type, "Runtime.ExitError");
    assert!(f.message.contains("RequestId: req-3"), "{}", f.message);
    assert!(f.message.contains("exit status: 3"), "{}", f.message);
    let after = response(&call(&ex, "req-4", json!({})).await);
    assert_ne!(after["pid"], first["pid"]);
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("[test-fn 1] instance ended (exit status: 3)")),
        "{:?}",
        lines.lock().unwrap()
    );
    // An init error is the invocation's error, with the function's type and message.
    let (sink, _) = capture();
    let broken = Executor::new(spec(10_000, 1, &[("MODE", "init-error")]), sink);
    let Outcome::Error(f) = call(&broken, "req-1", json!({})).await else {
        panic!("no error")
    };
    assert_eq!(f.error_type, "Test.InitFailed", "{f}");
    assert_eq!(f.message, "no configuration");
    // A bootstrap that does not exist is an error of the executor, with the hint.
    let mut missing = spec(1000, 1, &[]);
    missing.bootstrap = "/nonexistent/bootstrap".into();
    let (sink, _) = capture();
    let e = Executor::new(missing, sink)
        .invoke("req-1", Bytes::from("{}"))
        .await
        .unwrap_err();
    assert!(e.contains("cannot run `/nonexistent/bootstrap`"), "{e}");
    assert!(e.contains("mlinfra build"), "{e}");
}
