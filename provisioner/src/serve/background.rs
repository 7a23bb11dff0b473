//! What `mlinfra serve` runs besides the API, as the platform does on AWS: the stack's
//! schedules (the weekly retrain, the daily monitor) on the same expressions EventBridge uses,
//! over the local environment's lake and registry, and ETL for each new file in the lake's
//! `raw/` (the S3 notification's job on AWS). The jobs are the functions' own (`mlinfra_core::jobs`), with the settings `up`
//! wrote into the lake.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mlinfra_core::any::AnyLake;
use mlinfra_core::any::AnyStore;
use mlinfra_core::jobs::{self, etl, monitor, train};
use mlinfra_core::lake::LocalLake;

use crate::stack::Stack;
use crate::stack::schedule::Schedule;

pub struct Background {
    pub lake: AnyLake,
    pub store: AnyStore,
    pub stack: Stack,
    /// The stack file's directory and the environment's, where `training.command` runs.
    pub stack_dir: PathBuf,
    pub root: PathBuf,
}

impl Background {
    fn lake(&self) -> AnyLake {
        self.lake.clone()
    }

    fn store(&self) -> AnyStore {
        self.store.clone()
    }

    async fn retrain(&self, actor: &str, reason: &str) -> Result<String, String> {
        let lake = self.lake();
        let s = jobs::settings(&lake).await.map_err(|e| e.to_string())?;
        // An imported model: the user's own training code, in a subprocess.
        if let Some(t) = &self.stack.training {
            let place = crate::app::training::Place {
                stack: &self.stack,
                stack_dir: self.stack_dir.clone(),
                root: self.root.clone(),
            };
            let registry = s.registry(self.store());
            let (text, _) =
                crate::app::training::retrain(&place, &lake, &registry, t, actor, reason, &|m| {
                    eprintln!("{m}")
                })
                .await
                .map_err(|e| e.text())?;
            return Ok(text.trim_end().replace('\n', "; "));
        }
        let r = train::retrain_and_notify(
            &lake,
            &s.registry(self.store()),
            &s.train_job(actor, reason),
            &crate::alerts::WebhookNotifier::new(&self.stack),
            jobs::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let t = &r.trained;
        Ok(match (&t.registered, &t.not_registered, &t.request) {
            (Some(v), _, Some(r)) => format!(
                "registered version {} ({}); Production requested as {r}",
                v.version, v.stage
            ),
            (Some(v), _, None) => format!("registered version {} ({})", v.version, v.stage),
            (None, Some(why), _) => format!("not registered: {why}"),
            _ => "done".into(),
        })
    }

    async fn monitor(&self) -> Result<String, String> {
        let lake = self.lake();
        let s = jobs::settings(&lake).await.map_err(|e| e.to_string())?;
        let notifier = crate::alerts::WebhookNotifier::new(&self.stack);
        let job = s.monitor_job(jobs::now(), true);
        let (m, _) = monitor::run_and_notify(&lake, &self.store(), &job, &notifier)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = format!(
            "{} of {} features drift{}",
            m.report.dataset.drifted_features.len(),
            m.report.dataset.features,
            if m.report.dataset.drifted {
                " (dataset drift)"
            } else {
                ""
            }
        );
        if m.retrain {
            let why = m.report.decision.retrain_reasons.join(", ");
            out.push_str(&format!(
                "; retraining ({why}): {}",
                self.retrain(monitor::ACTOR, &why).await?
            ));
        }
        Ok(out)
    }

    /// Run the function a schedule names, in a blocking thread (training takes seconds).
    async fn run_scheduled(self: &Arc<Self>, name: &str, function: mlinfra_core::FunctionName) {
        let me = Arc::clone(self);
        let handle = tokio::runtime::Handle::current();
        let result = tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                match function {
                    mlinfra_core::FunctionName::Train => {
                        me.retrain(train::SCHEDULE_ACTOR, "schedule").await
                    }
                    mlinfra_core::FunctionName::Monitor => me.monitor().await,
                    other => Err(format!("`{other}` has no scheduled job locally")),
                }
            })
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match result {
            Ok(m) => eprintln!("schedule.{name}: {m}"),
            Err(e) => eprintln!("schedule.{name}: failed: {e}"),
        }
    }
}

/// Fire each enabled schedule at the times its expression gives, until the process ends.
pub async fn schedules(bg: Arc<Background>) {
    let mut tasks = vec![];
    for (name, spec) in &bg.stack.schedules {
        if !spec.enabled {
            continue;
        }
        let Ok(schedule) = Schedule::parse(&spec.expression) else {
            continue;
        };
        let (bg, name, function) = (Arc::clone(&bg), name.clone(), spec.function);
        tasks.push(tokio::spawn(async move {
            let mut last = jobs::now();
            while let Some(next) = schedule.next_after(last) {
                tokio::time::sleep(Duration::from_secs(next.saturating_sub(jobs::now()))).await;
                bg.run_scheduled(&name, function).await;
                last = next.max(jobs::now());
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// New files in `raw/` (not in `raw/quarantine/`, not already curated) that have not changed
/// for a poll: ETL each once, as the S3 notification does on AWS.
pub async fn watch_raw(bg: Arc<Background>, root: PathBuf, every: Duration) {
    let lake = LocalLake::new(root.join("lake"));
    let mut seen: BTreeSet<String> = lake
        .list_sync(mlinfra_core::keys::RAW)
        .unwrap_or_default()
        .into_iter()
        .collect();
    loop {
        tokio::time::sleep(every).await;
        let Ok(keys) = lake.list_sync(mlinfra_core::keys::RAW) else {
            continue;
        };
        for key in keys {
            if seen.contains(&key) || key.starts_with(mlinfra_core::keys::QUARANTINE) {
                continue;
            }
            // Wait until the file has not been written to for a poll.
            let settled = std::fs::metadata(lake.path(&key))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= every);
            if !settled {
                continue;
            }
            seen.insert(key.clone());
            // A file the pipeline itself put there is already a curated version.
            let curated = lake.get_sync(&key).ok().flatten().is_some_and(|b| {
                lake.path(&mlinfra_core::keys::curated_data(
                    &mlinfra_core::pipeline::sha256_hex(&b),
                ))
                .is_file()
            });
            if curated {
                continue;
            }
            etl_one(&bg, &key).await;
        }
    }
}

/// ETL of one raw object, in a blocking thread (validation and curation take a moment), with
/// its outcome on stderr and a quarantine's alert delivered.
async fn etl_one(bg: &Arc<Background>, key: &str) {
    let bg2 = Arc::clone(bg);
    let k = key.to_string();
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            let lake = bg2.lake();
            let s = jobs::settings(&lake).await.map_err(|e| e.to_string())?;
            let notifier = crate::alerts::WebhookNotifier::new(&bg2.stack);
            etl::ingest_and_notify(&lake, &k, &s.etl_job(jobs::now()), &notifier)
                .await
                .map_err(|e| e.to_string())
        })
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match outcome {
        Ok(etl::Ingested::Curated {
            rows_added, rows, ..
        }) => {
            eprintln!("etl: {key}: {rows_added} rows curated ({rows} in all)");
        }
        Ok(etl::Ingested::Quarantined { quarantined, .. }) => {
            eprintln!("etl: {key}: failed validation, moved to {quarantined}");
        }
        Ok(etl::Ingested::Skipped { reason, .. }) => {
            eprintln!("etl: {key}: skipped: {reason}")
        }
        Err(e) => eprintln!("etl: {key}: failed: {e}"),
    }
}
