//! A small W3C WebDriver client over plain HTTP/1.1: Debian's `chromedriver` driving headless
//! Debian `chromium`, for the console's browser tests. Each call is one request on a fresh
//! connection; failures panic with what the driver said.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head, body_start, len) = loop {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("{method} {path}: the driver closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            break (head, i + 4, len);
        }
    };
    while buf.len() < body_start + len {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf[body_start..]).to_string();
    let text = text.as_str();
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{method} {path}: {head}\n{text}"));
    }
    Ok(v["value"].clone())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Start chromedriver and a headless Chromium session (a new, empty profile).
    pub fn start() -> Browser {
        let driver_bin =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&driver_bin).exists() && Path::new(&chromium).exists(),
            "`{driver_bin}` or `{chromium}` is missing: `make browser` installs Debian's chromium and chromium-driver"
        );
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while call(port, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let v = call(port, "POST", "/session", Some(&caps)).unwrap();
        let session = v["sessionId"].as_str().unwrap().to_string();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
        .unwrap()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_string()
    }

    /// The element `css` matches, waiting up to 10 s for it to appear.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = call(
                self.port,
                "POST",
                &format!("/session/{}/element", self.session),
                Some(&json!({"using": "css selector", "value": css})),
            );
            match r {
                Ok(v) => return v[ELEMENT].as_str().unwrap().to_string(),
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "no element `{css}` on {}: {e}\n{}",
                        self.url(),
                        self.body_text()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    pub fn exists(&self, css: &str) -> bool {
        let v = self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        !v.as_array().unwrap().is_empty()
    }

    /// Run `f` on the element `css` matches, finding it again when the page re-rendered it
    /// between the find and the command (WebDriver's "stale element reference"), for up to 10 s.
    fn on_element(&self, css: &str, f: impl Fn(&str) -> Result<Value, String>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.find(css);
            match f(&e) {
                Ok(v) => return v,
                Err(err) if err.contains("stale element") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => panic!("`{css}` on {}: {err}", self.url()),
            }
        }
    }

    fn element_cmd(
        &self,
        method: &str,
        e: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        call(
            self.port,
            method,
            &format!("/session/{}/element/{e}{path}", self.session),
            body.as_ref(),
        )
    }

    pub fn click(&self, css: &str) {
        self.on_element(css, |e| {
            self.element_cmd("POST", e, "/click", Some(json!({})))
        });
    }

    /// Replace the value of the input `css` with `text`.
    pub fn fill(&self, css: &str, text: &str) {
        self.on_element(css, |e| {
            self.element_cmd("POST", e, "/clear", Some(json!({})))?;
            self.element_cmd("POST", e, "/value", Some(json!({ "text": text })))
        });
    }

    /// Set the input or select `css` to `value`: a select's option is the one whose value is
    /// `value`, or equals it as a number (`6` for `6.0`).
    pub fn set(&self, css: &str, value: &str) {
        let e = self.find(css);
        let tag = self.cmd("GET", &format!("/element/{e}/name"), None);
        if tag.as_str() != Some("select") {
            return self.fill(css, value);
        }
        let options = self.cmd(
            "POST",
            &format!("/element/{e}/elements"),
            Some(json!({"using": "css selector", "value": "option"})),
        );
        for o in options.as_array().unwrap() {
            let id = o[ELEMENT].as_str().unwrap();
            let v = self.cmd("GET", &format!("/element/{id}/property/value"), None);
            let v = v.as_str().unwrap_or("");
            let same_number =
                matches!((v.parse::<f64>(), value.parse::<f64>()), (Ok(a), Ok(b)) if a == b);
            if v == value || same_number {
                self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
                return;
            }
        }
        panic!("`{css}` has no option `{value}`");
    }

    /// The rendered text of the first element `css` matches (waiting for it as [`Self::find`]).
    pub fn text(&self, css: &str) -> String {
        self.on_element(css, |e| self.element_cmd("GET", e, "/text", None))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The page's text, for failure messages.
    pub fn body_text(&self) -> String {
        let v = self.script("return document.body ? document.body.innerText : ''");
        v.as_str().unwrap_or("").to_string()
    }

    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Run `script` in the page (used to forge what a browser would not send by itself).
    pub fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    pub fn cookies(&self) -> Value {
        self.cmd("GET", "/cookie", None)
    }

    pub fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", None);
    }

    /// Save a PNG of the window.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}
