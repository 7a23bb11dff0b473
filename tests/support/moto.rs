//! A moto server for the tests: the AWS API on a free loopback port, started from the project's
//! venv (`make venv` installs the pinned `moto[server]`), shared by the tests of one binary and
//! killed when the binary exits. No Docker.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    child: Mutex<Option<Child>>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.child.lock()
            && let Some(c) = guard.as_mut()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn venv_bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name)
}

/// The shared server, started on first use; or, when `MLINFRA_TEST_ENDPOINT` is set, that
/// endpoint (a LocalStack, say) instead.
pub fn server() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MLINFRA_TEST_ENDPOINT") {
            return Moto {
                endpoint,
                child: Mutex::new(None),
            };
        }
        start(Command::new(venv_bin("moto_server")))
    })
}

/// A server of its own that enforces IAM once [`Moto::enforce_iam`] is called, checking what AWS
/// checks (`tests/support/moto_iam.py`: each call against the ARN it touches, AWS's action names,
/// `s3:prefix` conditions). Not the shared one: switching enforcement on is global to a server.
pub fn enforcing_server() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let mut c = Command::new(venv_bin("python"));
        c.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("support/moto_iam.py"));
        start(c)
    })
}

/// Start `program` (`moto_server` or a launcher with its arguments) on a free loopback port.
fn start(mut program: Command) -> Moto {
    let bin = PathBuf::from(program.get_program());
    assert!(
        bin.exists(),
        "moto is not installed at `{}`: run `make venv`",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `MLINFRA_TEST_MOTO_LOG=FILE` keeps the server's log (its tracebacks say why it answered 500).
    let log = match std::env::var_os("MLINFRA_TEST_MOTO_LOG") {
        Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
        None => Stdio::null(),
    };
    let child = program
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // This machine has no Docker engine: Lambda's Invoke is answered without running the
    // function (202 for `InvocationType=Event`), as moto's simple Lambda backend does.
    let (status, body) = http(
        port,
        "POST",
        "/moto-api/config",
        r#"{"lambda": {"use_docker": false}}"#,
    );
    assert!(
        (200..300).contains(&status),
        "moto refused its configuration: {status} {body}"
    );
    // The statics of a test binary are never dropped: stop the server when the binary exits.
    let pid = child.id();
    std::thread::spawn(move || {
        let me = std::process::id();
        // Watchdog: a child shell kills moto once this test process is gone.
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null"
                ),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    });
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        child: Mutex::new(Some(child)),
    }
}

impl Moto {
    /// The server's port.
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// From now on every request must be signed by a known identity whose policies allow it.
    pub fn enforce_iam(&self) {
        let (status, body) = http(self.port(), "POST", "/moto-api/reset-auth", "0");
        assert_eq!(
            status, 200,
            "moto did not switch IAM enforcement on: {body}"
        );
    }
}

/// A DynamoDB client for the server, with test credentials.
pub fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "mlinfra-tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// An STS client for the server, with the given access key (moto maps keys to identities).
pub fn sts(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_sts::Client {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access_key,
            secret,
            None,
            None,
            "mlinfra-tests",
        ))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// The SDK configuration for the server: its endpoint, us-east-1, test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config_as(endpoint, "testing", "testing", None).await
}

/// The SDK configuration for the server with these credentials.
pub async fn sdk_config_as(
    endpoint: &str,
    access_key: &str,
    secret: &str,
    session_token: Option<String>,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            access_key,
            secret,
            session_token,
            None,
            "mlinfra-tests",
        ))
        .load()
        .await
}

/// One HTTP/1.1 request to the server on `port`: the status and the body.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}
