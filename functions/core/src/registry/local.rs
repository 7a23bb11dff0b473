//! The registry in a directory (the local environment's `registry/`).
//!
//! ```text
//! <dir>/<model>/doc.json            the model document (written atomically)
//! <dir>/<model>/audit/<seq>.json    audit events, each created once (O_EXCL) and never rewritten
//! <dir>/<model>/.lock               held during a commit
//! ```
//! A commit takes the model's lock, checks the stored revision, writes the new document with the
//! new events in its outbox (the commit point), creates the event files, then clears the outbox.
//! A crash after the commit point leaves the events in the outbox; they count as written and the
//! next commit creates their files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Current, Event, ModelDoc, RegistryError, Store};

#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    doc: ModelDoc,
    #[serde(default)]
    outbox: Vec<Event>,
}

fn io(what: &str, p: &Path, e: std::io::Error) -> RegistryError {
    RegistryError::Store(format!("cannot {what} `{}`: {e}", p.display()))
}

struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore { dir: dir.into() }
    }

    fn model_dir(&self, model: &str) -> Result<PathBuf, RegistryError> {
        if model.is_empty()
            || !model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RegistryError::Refused(format!(
                "`{model}` is not a model name (letters, digits, `-`)"
            )));
        }
        Ok(self.dir.join(model))
    }

    fn read(&self, model: &str) -> Result<Option<Stored>, RegistryError> {
        let p = self.model_dir(model)?.join("doc.json");
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
                RegistryError::Store(format!(
                    "`{}` is not a valid registry document: {e}",
                    p.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &p, e)),
        }
    }

    fn write_doc(&self, model: &str, stored: &Stored) -> Result<(), RegistryError> {
        let dir = self.model_dir(model)?;
        let p = dir.join("doc.json");
        let mut text = serde_json::to_string_pretty(stored)
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        text.push('\n');
        let tmp = dir.join(format!(".doc.json.tmp-{}", std::process::id()));
        let res = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &p)
        })();
        res.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("write", &p, e)
        })
    }

    /// Create the files of committed events; an existing identical file is fine.
    fn flush(&self, model: &str, events: &[Event]) -> Result<(), RegistryError> {
        let dir = self.model_dir(model)?.join("audit");
        std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
        for e in events {
            let p = dir.join(format!("{:010}.json", e.seq));
            let text = serde_json::to_string_pretty(e)
                .map_err(|e| RegistryError::Store(e.to_string()))?
                + "\n";
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
            {
                Ok(mut f) => f
                    .write_all(text.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|err| io("write", &p, err))?,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let existing =
                        std::fs::read_to_string(&p).map_err(|err| io("read", &p, err))?;
                    if existing != text {
                        return Err(RegistryError::Integrity(format!(
                            "audit entry `{}` exists with other content; audit entries are never rewritten",
                            p.display()
                        )));
                    }
                }
                Err(err) => return Err(io("create", &p, err)),
            }
        }
        Ok(())
    }

    fn lock(&self, model: &str) -> Result<Lock, RegistryError> {
        let dir = self.model_dir(model)?;
        std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
        let p = dir.join(".lock");
        for _ in 0..2000 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
            {
                Ok(_) => return Ok(Lock(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(io("lock", &p, e)),
            }
        }
        Err(RegistryError::Store(format!(
            "`{}` has been locked for 10 s; if no mlinfra is running, delete it",
            p.display()
        )))
    }
}

impl Store for LocalStore {
    async fn load(&self, model: &str) -> Result<Option<ModelDoc>, RegistryError> {
        Ok(self.read(model)?.map(|s| s.doc))
    }

    async fn commit(
        &self,
        doc: &ModelDoc,
        expected_rev: u64,
        events: &[Event],
    ) -> Result<(), RegistryError> {
        let _lock = self.lock(&doc.model)?;
        let stored = self.read(&doc.model)?;
        let current_rev = stored.as_ref().map_or(0, |s| s.doc.rev);
        if current_rev != expected_rev {
            return Err(RegistryError::Conflict(String::new()));
        }
        if let Some(s) = &stored {
            self.flush(&doc.model, &s.outbox)?;
        }
        // The commit point: the new document, with its events in the outbox.
        self.write_doc(
            &doc.model,
            &Stored {
                doc: doc.clone(),
                outbox: events.to_vec(),
            },
        )?;
        self.flush(&doc.model, events)?;
        self.write_doc(
            &doc.model,
            &Stored {
                doc: doc.clone(),
                outbox: Vec::new(),
            },
        )
    }

    async fn audit(&self, model: &str) -> Result<Vec<Event>, RegistryError> {
        let Some(stored) = self.read(model)? else {
            return Err(RegistryError::UnknownModel(model.to_string()));
        };
        let dir = self.model_dir(model)?.join("audit");
        let mut events: Vec<Event> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") {
                    let t = std::fs::read_to_string(&p).map_err(|err| io("read", &p, err))?;
                    let ev: Event = serde_json::from_str(&t).map_err(|err| {
                        RegistryError::Store(format!(
                            "`{}` is not a valid audit entry: {err}",
                            p.display()
                        ))
                    })?;
                    events.push(ev);
                }
            }
        }
        Ok(super::with_outbox(
            events,
            stored.outbox,
            stored.doc.audit_seq,
        ))
    }

    async fn models(&self) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.path().join("doc.json").is_file() {
                    out.push(e.file_name().to_string_lossy().to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn current(&self, model: &str) -> Result<Option<Current>, RegistryError> {
        Ok(self.read(model)?.map(|s| s.doc.current()))
    }
}
