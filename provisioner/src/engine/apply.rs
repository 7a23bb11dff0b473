//! Applying a plan: steps in dependency order, independent ones concurrently, the state saved
//! after every step.
//!
//! Creates and updates wait for the resources they depend on; deletes wait for the resources
//! that depend on them. When a step fails (or the user interrupts, or a test hook fires), no new
//! step starts, the steps already running finish and are recorded, and the error says how far
//! the apply got. The next `up` plans from that state and the live resources, so it completes
//! the work without repeating any of it.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use serde_json::Value;

use super::hooks::Hooks;
use super::plan::{Action, Plan, Step};
use super::state::{ResourceState, State, StateError};
use super::store::Store;
use crate::providers::{DeleteOptions, Deleted, Provider, ProviderError};

/// How many steps may run at once.
pub const PARALLELISM: usize = 8;

/// What happened to one step, for progress output.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Started(&'a Step),
    Finished(&'a Step, Duration, Option<&'a Deleted>),
    Failed(&'a Step, &'a ProviderError),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Resources kept on purpose, with what was kept.
    pub retained: Vec<(String, String)>,
    /// Data resources deleted with their contents (`--delete-data`), with what was deleted.
    pub emptied: Vec<(String, String)>,
    /// Resources recorded in the state without a provider call (adopted, already gone).
    pub recorded: usize,
    pub elapsed_ms: u128,
}

impl Report {
    pub fn steps(&self) -> usize {
        self.created + self.updated + self.deleted + self.retained.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{} failed; {} of {total} steps were applied and recorded\nhint: fix the cause and run the same command again: it continues from the recorded state", failures(.failed), .report.steps())]
    Failed {
        failed: Vec<ProviderError>,
        report: Report,
        total: usize,
    },
    #[error("interrupted: {} of {total} steps were applied and recorded\nhint: run the same command again to finish", .report.steps())]
    Interrupted { report: Report, total: usize },
    #[error("injected failure after {after} steps ({var}); the state is saved", var = super::hooks::FAIL_AFTER_VAR)]
    Injected { after: usize, report: Report },
    #[error(transparent)]
    State(#[from] StateError),
}

fn failures(f: &[ProviderError]) -> String {
    f.iter()
        .map(|e| format!("`{}`: {} ({})", e.addr, e.message, e.code))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Apply `plan` with `provider`, recording into `state` (saved to `store` after each step).
#[allow(clippy::too_many_arguments)]
pub async fn apply<P: Provider>(
    plan: &Plan,
    provider: &P,
    store: &Store,
    state: &mut State,
    opts: DeleteOptions,
    hooks: &Hooks,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Event<'_>),
) -> Result<Report, ApplyError> {
    let started = Instant::now();
    let mut report = Report::default();

    // No-op steps whose resource is live but unrecorded (an earlier apply stopped between the
    // provider call and the state write): record them, without a provider call.
    let mut recorded_any = false;
    for s in plan
        .steps
        .iter()
        .filter(|s| s.action == Action::NoOp && s.record)
    {
        if let Some(r) = &s.desired {
            let outputs = state
                .resources
                .get(&s.addr)
                .map(|rs| rs.outputs.clone())
                .filter(|o| !o.is_null())
                .unwrap_or_else(|| provider.adopted_outputs(r));
            state.resources.insert(
                s.addr.clone(),
                ResourceState {
                    kind: r.kind.to_string(),
                    props: r.props.clone(),
                    outputs,
                    depends_on: r.depends_on.clone(),
                },
            );
            report.recorded += 1;
            recorded_any = true;
        }
    }
    if recorded_any {
        store.save(state).await?;
    }

    let steps: Vec<&Step> = plan.changes().collect();
    let total = steps.len();
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.addr.as_str(), i))
        .collect();
    // waits_for[i]: steps that must finish before step i starts.
    let mut waits_for: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); total];
    for (i, s) in steps.iter().enumerate() {
        match s.action {
            Action::Create | Action::Update => {
                for d in s.desired.iter().flat_map(|r| &r.depends_on) {
                    if let Some(&j) = index.get(d.as_str())
                        && matches!(steps[j].action, Action::Create | Action::Update)
                    {
                        waits_for[i].insert(j);
                    }
                }
            }
            Action::Delete => {
                // Wait for every other delete that depends on this resource.
                for (j, other) in steps.iter().enumerate() {
                    let depends = state
                        .resources
                        .get(&other.addr)
                        .is_some_and(|rs| rs.depends_on.iter().any(|d| d == &s.addr));
                    if other.action == Action::Delete && depends {
                        waits_for[i].insert(j);
                    }
                }
                // The data lake goes last: it holds the data, and on AWS the state itself.
                if s.kind == "lake" {
                    for (j, other) in steps.iter().enumerate() {
                        if j != i && other.action == Action::Delete {
                            waits_for[i].insert(j);
                        }
                    }
                }
                // Deletes of dropped resources run after the creates and updates.
                if plan.operation == "up" {
                    for (j, other) in steps.iter().enumerate() {
                        if other.action != Action::Delete {
                            waits_for[i].insert(j);
                        }
                    }
                }
            }
            Action::NoOp => {}
        }
    }

    let order: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.addr.as_str(), i))
        .collect();
    let mut done = vec![false; total];
    let mut launched = vec![false; total];
    let mut running = FuturesUnordered::new();
    let mut failed: Vec<ProviderError> = Vec::new();
    let mut completed = 0usize;
    let mut injected = false;

    loop {
        let stop = !failed.is_empty() || injected || cancel.load(Ordering::SeqCst);
        if !stop {
            for i in 0..total {
                if running.len() >= PARALLELISM {
                    break;
                }
                if !launched[i] && waits_for[i].iter().all(|j| done[*j]) {
                    launched[i] = true;
                    let step = steps[i];
                    progress(Event::Started(step));
                    let recorded = state.resources.get(&step.addr).cloned();
                    running.push(async move {
                        let t = Instant::now();
                        if let Some(d) = hooks.step_delay {
                            tokio::time::sleep(d).await;
                        }
                        let result = run_step(provider, step, recorded.as_ref(), opts).await;
                        (i, t.elapsed(), result)
                    });
                }
            }
        }
        let Some((i, took, result)) = running.next().await else {
            break;
        };
        let step = steps[i];
        match result {
            Ok(outcome) => {
                done[i] = true;
                record(state, step, &outcome, &mut report);
                if plan.operation == "up" {
                    // Keep the state in the graph's order (dependencies first), whatever order
                    // concurrent steps finish in.
                    state.resources.sort_by_cached_key(|addr, _| {
                        order.get(addr.as_str()).copied().unwrap_or(usize::MAX)
                    });
                }
                store.save(state).await?;
                let deleted = match &outcome {
                    Outcome::Deleted(d) => Some(d),
                    Outcome::Applied(_) => None,
                };
                progress(Event::Finished(step, took, deleted));
                completed += 1;
                if hooks.fail_after == Some(completed) {
                    injected = true;
                }
            }
            Err(e) => {
                progress(Event::Failed(step, &e));
                failed.push(e);
            }
        }
    }
    report.elapsed_ms = started.elapsed().as_millis();
    if !failed.is_empty() {
        return Err(ApplyError::Failed {
            failed,
            report,
            total,
        });
    }
    if injected {
        return Err(ApplyError::Injected {
            after: completed,
            report,
        });
    }
    if done.iter().any(|d| !d) {
        return Err(ApplyError::Interrupted { report, total });
    }
    Ok(report)
}

enum Outcome {
    Applied(Value),
    Deleted(Deleted),
}

async fn run_step<P: Provider>(
    provider: &P,
    step: &Step,
    recorded: Option<&ResourceState>,
    opts: DeleteOptions,
) -> Result<Outcome, ProviderError> {
    match (step.action, &step.desired, recorded) {
        (Action::Create, Some(r), _) => provider.create(r).await.map(Outcome::Applied),
        (Action::Update, Some(r), _) => provider
            .update(r, &step.changes)
            .await
            .map(Outcome::Applied),
        (Action::Delete, _, Some(rs)) => provider
            .delete(&step.addr, rs, opts)
            .await
            .map(Outcome::Deleted),
        (Action::Delete, _, None) => Ok(Outcome::Deleted(Deleted::AlreadyGone)),
        _ => Err(ProviderError::new(
            &step.addr,
            "InvalidPlan",
            "a step without its resource",
        )),
    }
}

fn record(state: &mut State, step: &Step, outcome: &Outcome, report: &mut Report) {
    match outcome {
        Outcome::Applied(outputs) => {
            if let Some(r) = &step.desired {
                state.resources.insert(
                    step.addr.clone(),
                    ResourceState {
                        kind: r.kind.to_string(),
                        props: r.props.clone(),
                        outputs: outputs.clone(),
                        depends_on: r.depends_on.clone(),
                    },
                );
            }
            match step.action {
                Action::Create => report.created += 1,
                _ => report.updated += 1,
            }
        }
        Outcome::Deleted(d) => {
            // A kept resource stays recorded, so a later `down --delete-data` still finds it.
            if !matches!(d, Deleted::Retained(_)) {
                state.resources.shift_remove(&step.addr);
            }
            match d {
                Deleted::Deleted => report.deleted += 1,
                Deleted::Emptied(what) => {
                    report.deleted += 1;
                    report.emptied.push((step.addr.clone(), what.clone()));
                }
                Deleted::AlreadyGone => report.recorded += 1,
                Deleted::Retained(what) => report.retained.push((step.addr.clone(), what.clone())),
            }
        }
    }
}
