//! Helpers shared by the provisioner's integration tests: golden files with a bless mode, and
//! running the `mlinfra` binary in a scratch project directory.

#![allow(dead_code, clippy::unwrap_used)]

pub mod server;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Set `MLINFRA_BLESS=1` to rewrite golden files from the actual output.
pub fn bless() -> bool {
    std::env::var("MLINFRA_BLESS").is_ok_and(|v| v == "1")
}

/// Compare `actual` with the golden file, or rewrite it in bless mode.
pub fn assert_golden(path: &Path, actual: &str) {
    if bless() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "golden file `{}` is missing; run with MLINFRA_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "output differs from `{}` (run with MLINFRA_BLESS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn repo_root() -> PathBuf {
    manifest_dir().parent().unwrap().to_path_buf()
}

/// The project's heart data: the header and the rows, as cells.
pub fn heart_cells(p: &Project) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(
        p.path()
            .join("examples/heart-disease/processed.cleveland.csv"),
    )
    .unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// A heart row as an API instance: the 13 features, numbers, `?` as null.
pub fn heart_instance(header: &[String], row: &[String]) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for (h, c) in header.iter().zip(row).take(13) {
        o.insert(
            h.clone(),
            c.parse::<f64>()
                .map_or(serde_json::Value::Null, |x| serde_json::json!(x)),
        );
    }
    serde_json::Value::Object(o)
}

/// A scratch project: a temp directory holding a copy of the example stack.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        std::fs::copy(
            repo_root().join("stacks/heart-disease.yaml"),
            dir.path().join("stacks/heart-disease.yaml"),
        )
        .unwrap();
        Project { dir }
    }

    /// A project that also holds the example data the stack points to.
    pub fn with_data() -> Project {
        let p = Project::new();
        let dir = p.path().join("examples/heart-disease");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            repo_root().join("examples/heart-disease/processed.cleveland.csv"),
            dir.join("processed.cleveland.csv"),
        )
        .unwrap();
        p
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `mlinfra models request VERSION --to production` by `requester`, approved by `approver`;
    /// both must succeed.
    pub fn approve_to_production(&self, version: &str, requester: &str, approver: &str) {
        let r = self.run(&[
            "models",
            "request",
            version,
            "--to",
            "production",
            "--as",
            requester,
            "--output",
            "json",
        ]);
        r.ok();
        let req: serde_json::Value = serde_json::from_str(&r.raw_stdout).unwrap();
        self.run(&[
            "models",
            "approve",
            req["id"].as_str().unwrap(),
            "--as",
            approver,
        ])
        .ok();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn env_dir(&self) -> PathBuf {
        self.path().join(".mlinfra/heart-disease")
    }

    pub fn stack_file(&self) -> PathBuf {
        self.path().join("stacks/heart-disease.yaml")
    }

    /// Replace text in the stack file (panics if `from` is not there, so tests cannot pass
    /// vacuously).
    pub fn edit_stack(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.stack_file()).unwrap();
        assert!(text.contains(from), "`{from}` not in the stack file");
        std::fs::write(self.stack_file(), text.replacen(from, to, 1)).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mlinfra"));
        c.args(args)
            .current_dir(self.path())
            .env_remove("MLINFRA_STACK_FILE")
            .env_remove("MLINFRA_ENV")
            .env_remove("MLINFRA_TEST_FAIL_AFTER")
            .env_remove("MLINFRA_MAX_DATA_BYTES")
            .env_remove("MLINFRA_TEST_STEP_DELAY_MS")
            .env("MLINFRA_USER", "tester")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().unwrap(), self.path())
    }

    /// Run from another working directory (the redactions still name the project `[TMP]`).
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        Run::from(
            self.cmd(args).current_dir(cwd).output().unwrap(),
            self.path(),
        )
    }

    /// Run with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write as _;
        let mut child = self
            .cmd(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap(), self.path())
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().unwrap(), self.path())
    }

    /// Every file under the environment directory with its modification time and content.
    pub fn snapshot(&self) -> Vec<(PathBuf, std::time::SystemTime, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.env_dir()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let m = e.metadata().unwrap().modified().unwrap();
                    out.push((p.clone(), m, std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    pub fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.env_dir().join("state.json")).unwrap())
            .unwrap()
    }
}

/// The result of one run of the binary, with volatile parts redacted for snapshots.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    /// Stdout as printed, for parsing JSON.
    pub raw_stdout: String,
    /// Stdout with volatile parts redacted, for snapshots and text checks.
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output, tmp: &Path) -> Run {
        let red = |b: &[u8]| redact(&String::from_utf8_lossy(b), tmp);
        Run {
            code: o.status.code().unwrap_or(-1),
            raw_stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stdout: red(&o.stdout),
            stderr: red(&o.stderr),
        }
    }

    /// The form kept in snapshot files.
    pub fn snapshot(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{}", self.snapshot());
        self
    }
}

/// Replace what changes from run to run: the temp directory, durations, fingerprints.
pub fn redact(s: &str, tmp: &Path) -> String {
    let mut s = s.replace(&tmp.display().to_string(), "[TMP]");
    if let Ok(canon) = tmp.canonicalize() {
        s = s.replace(&canon.display().to_string(), "[TMP]");
    }
    let mut out = String::with_capacity(s.len());
    let words: Vec<&str> = s.split_inclusive(' ').collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let bare = w.trim_start_matches('(');
        let digits = bare.trim_end();
        if !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
            && words.get(i + 1).is_some_and(|n| n.starts_with("ms"))
        {
            out.push_str(&w[..w.len() - bare.len()]);
            out.push_str("[N]");
            out.push_str(&w[w.len() - (w.len() - w.trim_end().len())..]);
        } else if let Some(pos) = w.find("sha256:") {
            let hex_start = pos + "sha256:".len();
            let end = w[hex_start..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .map_or(w.len(), |e| hex_start + e);
            out.push_str(&w[..pos]);
            out.push_str("sha256:[FINGERPRINT]");
            out.push_str(&w[end..]);
        } else {
            out.push_str(w);
        }
        i += 1;
    }
    out
}
