//! Running the `mlinfra` binary of this build from the tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `mlinfra` binary of this build: `target/<profile>/mlinfra` next to this test's `deps/`.
/// Built with cargo when this test runs on its own.
pub fn mlinfra() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join(format!("mlinfra{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "mlinfra", "--bin", "mlinfra"])
            .current_dir(repo_root())
            .status()
            .unwrap();
        assert!(status.success(), "building mlinfra failed");
    }
    bin
}

/// A command for `mlinfra` in `dir`, cleared of the variables that would change its behaviour.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(mlinfra());
    c.args(args)
        .current_dir(dir)
        .env_remove("MLINFRA_STACK_FILE")
        .env_remove("MLINFRA_ENV")
        .env_remove("MLINFRA_TEST_FAIL_AFTER")
        .env_remove("MLINFRA_TEST_STEP_DELAY_MS")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .stdin(std::process::Stdio::null());
    c
}

/// Run `mlinfra`: (exit code, stdout, stderr).
pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    output(command(dir, args))
}

pub fn output(mut c: Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The functions' Lambda packages, built once with `mlinfra build` (release) when missing.
/// `make test` builds them before the tests run.
pub fn artifacts() -> PathBuf {
    let dir = repo_root().join("target").join("lambda");
    let all = ["etl", "train", "predict", "monitor"]
        .iter()
        .all(|f| dir.join(f).join("bootstrap.zip").is_file());
    if !all {
        let (code, out, err) = run(
            &repo_root(),
            &["build", "--artifacts", dir.to_str().unwrap()],
        );
        assert_eq!(code, 0, "mlinfra build failed:\n{out}\n{err}");
    }
    dir
}

/// `POST` `body` (JSON) to an HTTPS `url` with curl, trusting the certificate file `cert`, with
/// the API key when given: the status and the JSON answer (`null` when not JSON).
#[allow(dead_code)]
pub fn https_post(
    cert: &str,
    url: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--cacert", cert, "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", body, "-w", "\n%{http_code}"]);
    if let Some(k) = key {
        c.args(["-H", &format!("x-api-key: {k}")]);
    }
    let out = c.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl {url}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// `POST path` to `127.0.0.1:port` over plain HTTP with a JSON body and extra `headers`:
/// (status, body).
pub fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// A console session over curl: signs `name` in at `base` (`https://localhost:PORT` with the
/// certificate file `cert`, or plain `http://...`) and keeps its cookies in `jar`.
#[allow(dead_code)]
pub struct Console {
    base: String,
    cert: Option<String>,
    jar: PathBuf,
    /// The session's CSRF token, for forms.
    pub csrf: String,
}

#[allow(dead_code)]
impl Console {
    fn curl(&self, args: &[&str]) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args(["-sS", "-b"])
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar);
        if let Some(cert) = &self.cert {
            c.args(["--cacert", cert]);
        }
        let out = c
            .args(args)
            .args(["-w", "\n%{http_code}"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "curl {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    }

    pub fn sign_in(
        base: &str,
        cert: Option<&str>,
        jar: PathBuf,
        name: &str,
        password: &str,
    ) -> Console {
        let mut c = Console {
            base: base.to_string(),
            cert: cert.map(str::to_string),
            jar,
            csrf: String::new(),
        };
        let (code, page) = c.get("/ui/signin");
        assert_eq!(code, 200, "{page}");
        let token = csrf(&page);
        let (code, page) = c.post(
            "/ui/signin",
            &[("csrf", &token), ("name", name), ("password", password)],
        );
        assert_eq!(code, 303, "sign-in: {page}");
        let (code, page) = c.get("/ui/models");
        assert_eq!(code, 200, "{page}");
        c.csrf = csrf(&page);
        c
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.curl(&[&format!("{}{path}", self.base)])
    }

    /// A form post (urlencoded by curl).
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut args: Vec<String> = Vec::new();
        for (k, v) in fields {
            args.push("--data-urlencode".into());
            args.push(format!("{k}={v}"));
        }
        args.push(format!("{}{path}", self.base));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.curl(&refs)
    }
}

/// The first CSRF field's value in a console page.
#[allow(dead_code)]
pub fn csrf(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no CSRF field in {page}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// The number in `<span id="ID">NUMBER</span>` of a console page.
#[allow(dead_code)]
pub fn span_number(page: &str, id: &str) -> f64 {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number `{id}` in {page}"))
}

/// `schemathesis run SPEC --url BASE --checks all` from the test venv, with `-H` for each of
/// `headers` and then `args`; whether it found nothing, and what it printed.
pub fn schemathesis(
    spec: &Path,
    base: &str,
    headers: &[&str],
    args: &[&str],
    dir: &Path,
) -> (bool, String) {
    let mut c = Command::new(repo_root().join(".venv/bin/schemathesis"));
    c.arg("run")
        .arg(spec)
        .args(["--url", base, "--checks", "all", "--seed", "20261130"]);
    for h in headers {
        c.args(["-H", h]);
    }
    let o = c
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}
