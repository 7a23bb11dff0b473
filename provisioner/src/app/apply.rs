//! Applying a plan for a person at a terminal: progress lines on stderr, Ctrl-C finishing the
//! running steps and saving the state (exit code 130), and the AWS calls counted. Shared by
//! `up` and `down`.

use serde_json::json;

use super::Failure;
use crate::engine::apply::{self, Event, Report};
use crate::engine::hooks::Hooks;
use crate::engine::store::Store;
use crate::engine::{Action, Plan, State};
use crate::output::Out;
use crate::providers::{AnyProvider, DeleteOptions, Deleted, Provider};

/// The calls the AWS provider made: total, mutating, and the mutating ones by operation.
pub fn api_calls(provider: &AnyProvider) -> Option<serde_json::Value> {
    match provider {
        AnyProvider::Aws(p) => Some(json!({
            "total": p.counter.total(),
            "mutating": p.counter.mutating_total(),
            "mutating_by_operation": p.counter.mutating(),
        })),
        AnyProvider::Local(_) | AnyProvider::Azurite(_) => None,
    }
}

/// Apply a plan with progress lines on stderr; shared by `up` and `down`.
pub async fn execute<P: Provider>(
    out: &Out,
    plan: &Plan,
    provider: &P,
    store: &Store,
    state: &mut State,
    opts: DeleteOptions,
) -> Result<Report, Failure> {
    let cancel = interrupt_flag();
    let out: Out = *out;
    let total = plan.changes().count();
    let mut n = 0usize;
    let mut progress = |e: Event<'_>| match e {
        Event::Started(s) => out.detail(format!("  ... {} {}", verb(s.action, false), s.addr)),
        Event::Finished(s, took, deleted) => {
            n += 1;
            let what = match deleted {
                Some(Deleted::Retained(_)) => "kept".to_string(),
                Some(Deleted::AlreadyGone) => "already gone:".to_string(),
                _ => verb(s.action, true).to_string(),
            };
            out.progress(format!(
                "  [{n}/{total}] {what} {} ({} ms)",
                s.addr,
                took.as_millis()
            ));
        }
        Event::Failed(s, err) => out.progress(format!(
            "  failed to {} {}: {} ({})",
            verb(s.action, false),
            s.addr,
            err.message,
            err.code
        )),
    };
    let hooks = Hooks::from_env();
    let result = apply::apply(
        plan,
        provider,
        store,
        state,
        opts,
        &hooks,
        &cancel,
        &mut progress,
    )
    .await;
    match result {
        Ok(report) => Ok(report),
        // The conventional exit code of a process stopped by SIGINT.
        Err(e @ apply::ApplyError::Interrupted { .. }) => {
            Err(Failure::new(e.to_string()).with_code(130))
        }
        Err(e) => Err(e.into()),
    }
}

fn verb(a: Action, past: bool) -> &'static str {
    match (a, past) {
        (Action::Create, false) => "create",
        (Action::Create, true) => "created",
        (Action::Update, false) => "update",
        (Action::Update, true) => "updated",
        (Action::Delete, false) => "delete",
        (Action::Delete, true) => "deleted",
        (Action::NoOp, _) => "keep",
    }
}

/// A flag set at Ctrl-C (SIGINT): the applier then starts no new step, lets the running ones
/// finish, records them and returns. The handler is registered before this returns, so there is
/// no window in which Ctrl-C kills the process mid-apply.
pub fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::Ordering;
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    let notice = move || {
        f.store(true, Ordering::SeqCst);
        eprintln!(
            "\ninterrupt received: finishing the steps already running and saving the state..."
        );
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut sig) => {
                tokio::spawn(async move {
                    if sig.recv().await.is_some() {
                        notice();
                    }
                });
            }
            Err(e) => eprintln!(
                "warning: cannot handle Ctrl-C ({e}); an interrupt will stop mlinfra at once"
            ),
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            notice();
        }
    });
    flag
}
