//! The Lambda executor (`mlinfra::lambda`) against a real process speaking the Runtime API: a
//! few lines of Python (`tests/fixtures/runtime/bootstrap.py`) that sleep, crash, fail or report
//! an init error on request, so that every path of the executor is taken: warm reuse, the
//! concurrency limit, the timeout (instance killed, `Task timed out`, a new instance next),
//! exits, function errors, init errors, and the instances' logs, prefixed. The real packaged
//! functions run through the same executor in `lambda_bootstrap.rs` (`mlinfra invoke`).
//!
//! The API Gateway front (`mlinfra::lambda::gateway`) over it, on a real HTTP server: the REST
//! v1 proxy event, API Gateway's own answers (403 without the key or for an unknown route, 429
//! past the usage plan's burst, 502 when the function crashes or times out, the instance then
//! replaced). Its HTTPS and its routes read from a deployed API are tested on moto in `aws.rs`.

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

/// A gateway over the test function: `POST /echo` (API key `k-secret`), `GET /open` (no key),
/// `GET /elsewhere` (not a Lambda proxy), stage `v1`; the function times out after `timeout_ms`.
async fn gateway(
    timeout_ms: u64,
    throttle: Option<(f64, u32)>,
) -> (String, Arc<mlinfra::lambda::gateway::Gateway>) {
    use mlinfra::lambda::deployed::{DeployedApi, Route};
    let route = |path: &str, method: &str, key: bool, f: Option<&str>| Route {
        path: path.into(),
        method: method.into(),
        resource_id: format!("r{path}"),
        key_required: key,
        function: f.map(str::to_string),
    };
    let api = DeployedApi {
        id: "api123".into(),
        stage: "v1".into(),
        routes: vec![
            route("/echo", "POST", true, Some("test-fn")),
            route("/open", "GET", false, Some("test-fn")),
            route("/elsewhere", "GET", false, None),
        ],
        keys: vec![("k-secret".into(), "kid-1".into())],
        throttle,
        binary_media_types: vec!["image/png".into()],
        too_large: Some((413, mlinfra::lambda::gateway::TOO_LARGE.into())),
    };
    let (sink, _) = capture();
    let ex = Arc::new(Executor::new(spec(timeout_ms, 2, &[]), sink));
    let gw = Arc::new(mlinfra::lambda::gateway::Gateway::new(
        api,
        [("test-fn".to_string(), ex)].into_iter().collect(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(mlinfra::lambda::gateway::serve(
        Arc::clone(&gw),
        Default::default(),
        listener,
        None,
        std::future::pending(),
    ));
    (addr, gw)
}

/// One HTTP/1.1 request: (status, headers, body).
async fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let key = key.map_or(String::new(), |k| format!("x-api-key: {k}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{key}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_sends_proxy_events_and_answers_as_api_gateway() {
    let (addr, gw) = gateway(1500, None).await;
    let msg = |b: &str| serde_json::from_str::<Value>(b).unwrap()["message"].clone();
    // What API Gateway answers itself.
    let (code, head, body) = http(&addr, "POST", "/v1/echo", None, "{}").await;
    assert_eq!((code, msg(&body)), (403, json!("Forbidden")));
    assert!(
        head.contains("x-amzn-errortype: forbiddenexception"),
        "{head}"
    );
    assert!(head.contains("x-amzn-requestid: "), "{head}");
    let (code, _, body) = http(&addr, "POST", "/v1/echo", Some("wrong"), "{}").await;
    assert_eq!((code, msg(&body)), (403, json!("Forbidden")));
    for path in ["/v1/nowhere", "/v2/echo", "/echo"] {
        let (code, _, body) = http(&addr, "POST", path, Some("k-secret"), "{}").await;
        assert_eq!(
            (code, msg(&body)),
            (403, json!("Missing Authentication Token")),
            "{path}"
        );
    }
    let (code, _, body) = http(&addr, "GET", "/v1/echo", Some("k-secret"), "").await;
    assert_eq!(
        (code, msg(&body)),
        (403, json!("Missing Authentication Token")),
        "wrong method"
    );
    let (code, _, body) = http(&addr, "GET", "/v1/elsewhere", None, "").await;
    assert_eq!((code, msg(&body)), (502, json!("Internal server error")));

    // The proxy event, as API Gateway sends it.
    let (code, head, body) = http(
        &addr,
        "POST",
        "/v1/echo?x=1&x=2&q=a%20b",
        Some("k-secret"),
        r#"{"a":1}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        head.contains("x-seen: 1") && head.contains("x-seen: 2"),
        "{head}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    let e = &answer["echo"];
    assert_eq!(e["resource"], "/echo");
    assert_eq!(e["path"], "/echo");
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["body"], r#"{"a":1}"#);
    assert_eq!(e["isBase64Encoded"], false);
    assert_eq!(e["queryStringParameters"], json!({"x": "2", "q": "a b"}));
    assert_eq!(e["multiValueQueryStringParameters"]["x"], json!(["1", "2"]));
    assert_eq!(e["headers"]["x-api-key"], "k-secret");
    assert_eq!(
        e["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    let ctx = &e["requestContext"];
    assert_eq!(ctx["stage"], "v1");
    assert_eq!(ctx["path"], "/v1/echo");
    assert_eq!(ctx["resourcePath"], "/echo");
    assert_eq!(ctx["apiId"], "api123");
    assert_eq!(ctx["identity"]["apiKey"], "k-secret");
    assert_eq!(ctx["identity"]["apiKeyId"], "kid-1");
    assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        ctx["requestId"], answer["request_id"],
        "the invocation's id is the request's"
    );
    let (code, _, _) = http(&addr, "GET", "/v1/open", None, "").await;
    assert_eq!(code, 200, "no key needed there");

    // A crash and a timeout are 502s; the next request gets a new instance.
    let starts = |gw: &mlinfra::lambda::gateway::Gateway| {
        gw.executors().map(|e| e.cold_starts()).sum::<usize>()
    };
    let before = starts(&gw);
    let (code, _, body) = http(
        &addr,
        "POST",
        "/v1/echo",
        Some("k-secret"),
        r#"{"crash": 2}"#,
    )
    .await;
    assert_eq!((code, msg(&body)), (502, json!("Internal server error")));
    let (code, _, body) = http(
        &addr,
        "POST",
        "/v1/echo",
        Some("k-secret"),
        r#"{"sleep": 20}"#,
    )
    .await;
    assert_eq!((code, msg(&body)), (502, json!("Internal server error")));
    let (code, _, _) = http(&addr, "POST", "/v1/echo", Some("k-secret"), "{}").await;
    assert_eq!(code, 200);
    assert_eq!(starts(&gw), before + 2, "each failed instance replaced");
}

/// One keyed `POST /v1/echo` of `body` as `content_type`: (status, body).
async fn post_bytes(addr: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/echo HTTP/1.1\r\nHost: localhost\r\nx-api-key: k-secret\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (
        head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

/// A body of one of the API's binary media types reaches the function base64-encoded; any
/// other as text, bytes that are not UTF-8 replaced (as API Gateway passes them). A request
/// over Lambda's 6 MB event or API Gateway's 10 MB body gets the API's 413 gateway response,
/// which names both limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_media_types_are_base64_encoded_and_oversized_requests_get_the_413() {
    use base64::Engine as _;
    let (addr, _gw) = gateway(10_000, None).await;
    let picture: Vec<u8> = [0x89, b'P', b'N', b'G', 0xff, 0x00, 0xfe]
        .into_iter()
        .cycle()
        .take(3000)
        .collect();
    let (code, body) = post_bytes(&addr, "image/png", &picture).await;
    assert_eq!(code, 200, "{body}");
    let e = &serde_json::from_str::<Value>(&body).unwrap()["echo"];
    assert_eq!(e["isBase64Encoded"], true);
    let sent = base64::engine::general_purpose::STANDARD
        .decode(e["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(sent, picture);
    // Not declared binary: text, as API Gateway passes it.
    let (code, body) = post_bytes(&addr, "image/jpeg; q=1", &picture).await;
    assert_eq!(code, 200, "{body}");
    let e = &serde_json::from_str::<Value>(&body).unwrap()["echo"];
    assert_eq!(e["isBase64Encoded"], false);
    assert!(e["body"].as_str().unwrap().contains('\u{fffd}'));

    let expected: Value = serde_json::from_str(mlinfra::lambda::gateway::TOO_LARGE).unwrap();
    assert!(
        expected["error"].as_str().unwrap().contains("10 MB")
            && expected["error"].as_str().unwrap().contains("6 MB"),
        "{expected}"
    );
    // 5 MB of picture is 6.7 MB once base64-encoded in the event: over Lambda's limit.
    for (what, size, content_type) in [
        ("event", 5 * 1024 * 1024, "image/png"),
        ("body", 11 * 1024 * 1024, "application/json"),
    ] {
        let big = vec![b'7'; size];
        let (code, body) = post_bytes(&addr, content_type, &big).await;
        assert_eq!(code, 413, "{what}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            expected,
            "{what}"
        );
    }
    // Under both limits: answered.
    let (code, _) = post_bytes(&addr, "image/png", &vec![b'7'; 4 * 1024 * 1024]).await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_usage_plans_burst_requests_get_429() {
    let (addr, _gw) = gateway(10_000, Some((0.5, 3))).await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(
            http(&addr, "POST", "/v1/echo", Some("k-secret"), "{}")
                .await
                .0,
        );
    }
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    let (_, head, body) = http(&addr, "POST", "/v1/echo", Some("k-secret"), "{}").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "Too Many Requests"})
    );
    assert!(
        head.contains("x-amzn-errortype: toomanyrequestsexception"),
        "{head}"
    );
    // The bucket refills at the plan's rate: one request every 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http(&addr, "POST", "/v1/echo", Some("k-secret"), "{}")
            .await
            .0,
        200
    );
}
