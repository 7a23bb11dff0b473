//! `mlinfra serve` as a child process on a free port, and one-request HTTP/1.1 calls to it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Project;

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    http_bytes(port, method, path, headers, body.as_bytes())
}

/// [`http`] with a body of any bytes (a picture).
pub fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

impl Server {
    pub fn start(p: &Project) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = p
            .cmd(&[
                "serve",
                "--port",
                &port.to_string(),
                "--refresh-seconds",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The one environment under `.mlinfra/` (the stack's name need not be the example's).
        let env = std::fs::read_dir(p.path().join(".mlinfra"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|d| d.join("secrets/api-key").exists())
            .unwrap_or_else(|| p.env_dir());
        let key = std::fs::read_to_string(env.join("secrets/api-key"))
            .unwrap()
            .trim()
            .to_string();
        Server { child, port, key }
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let (s, b) = http(
            self.port,
            "POST",
            path,
            &[
                ("x-api-key", &self.key),
                ("content-type", "application/json"),
            ],
            body,
        );
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    /// POST `body` of `content_type` (a picture's bytes).
    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let (s, b) = http_bytes(
            self.port,
            "POST",
            path,
            &[("x-api-key", &self.key), ("content-type", content_type)],
            body,
        );
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    /// Poll until `/health` reports `version` for `stage` (the refresh is one second).
    pub fn wait_for(&self, stage: &str, version: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, b) = http(
                self.port,
                "GET",
                "/v1/health",
                &[("x-api-key", &self.key)],
                "",
            );
            let v: Value = serde_json::from_str(&b).unwrap();
            if v[stage]["version"] == version {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{stage} never became version {version}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
