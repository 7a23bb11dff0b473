//! An Azurite blob service for the tests: Microsoft's Azure Storage emulator on a free loopback
//! port, from the npm package pinned in `azurite/package-lock.json` (`make azurite` installs it),
//! in memory, shared by the tests of one binary and stopped by PID when the binary exits. It is
//! started with `--disableTelemetry`, without which it does not exit on SIGTERM. No Docker.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Azurite {
    /// The blob endpoint, with the account in its path (`http://127.0.0.1:PORT/devstoreaccount1`).
    pub blob_endpoint: String,
    child: Mutex<Option<Child>>,
}

impl Azurite {
    /// The connection string Azure tools take for this emulator.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint={};",
            self.blob_endpoint
        )
    }
}

fn azurite_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../azurite/node_modules/.bin/azurite-blob")
}

/// The shared emulator, started on first use; or, when `MLINFRA_TEST_AZURE_BLOB_ENDPOINT` is
/// set, that endpoint instead.
pub fn server() -> &'static Azurite {
    static AZURITE: OnceLock<Azurite> = OnceLock::new();
    AZURITE.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MLINFRA_TEST_AZURE_BLOB_ENDPOINT") {
            return Azurite {
                blob_endpoint: endpoint,
                child: Mutex::new(None),
            };
        }
        start()
    })
}

fn start() -> Azurite {
    let bin = azurite_bin();
    assert!(
        bin.exists(),
        "Azurite is not installed at `{}`: run `make azurite`",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // It writes its debug log and settings to the working directory even in memory.
    let workspace = std::env::temp_dir().join(format!("mlinfra-azurite-{port}"));
    std::fs::create_dir_all(&workspace).unwrap();
    let child = Command::new(&bin)
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ])
        .current_dir(&workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "Azurite did not start on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The statics of a test binary are never dropped: stop the emulator by its PID when the
    // binary exits.
    let pid = child.id();
    let me = std::process::id();
    let _ = Command::new("sh")
        .args([
            "-c",
            &format!(
                "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null; rm -rf '{}'",
                workspace.display()
            ),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    Azurite {
        blob_endpoint: format!("http://127.0.0.1:{port}/devstoreaccount1"),
        child: Mutex::new(Some(child)),
    }
}
