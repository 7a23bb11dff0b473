//! `mlinfra up`: plan, confirm, apply with progress, record the state after every step.

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure, confirm, interrupt_flag};
use crate::cli::{Global, UpArgs};
use crate::engine::apply::{self, Event, Report};
use crate::engine::hooks::Hooks;
use crate::engine::store::Store;
use crate::engine::{Action, Plan, State, plan};
use crate::output::Out;
use crate::providers::{AnyProvider, DeleteOptions, Deleted, Provider};

pub async fn run(g: &Global, args: &UpArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    cx.refuse_if_terraform("up")?;
    cx.check_data()?;
    let graph = cx.desired()?;
    let (provider, store) = cx.infra().await?;
    bootstrap(&cx, &graph, &provider, &store).await?;
    let http = cx.plain_http_endpoint();
    if !http.is_empty() {
        cx.out.progress(format!(
            "note: `{http}` is plain HTTP, so the data lake cannot be TLS-only there (`tls_only: false`); on AWS it is"
        ));
    }
    // Plan without the lock first: when nothing is to change, `up` ends here having made no
    // write at all (taking the remote lock is one). Otherwise it locks and plans again.
    let state = cx.state_in(&store).await?;
    let plan = plan::plan_up(&graph, &state, &provider).await?;
    if !plan.has_changes() && !plan.steps.iter().any(|s| s.record) {
        no_changes(cx.out, &plan, &Report::default(), &provider);
        return Ok(0);
    }
    let lock = cx.lock(&store, "up").await?;
    let result = locked(&cx, args, &graph, &provider, &store).await;
    lock.release().await;
    result
}

/// On the clouds the state lives in a resource that `up` also manages (the data lake bucket):
/// when it does not exist yet, create it first (with all its settings), so there is somewhere
/// to take the lock and write the state. The plan then adopts it.
async fn bootstrap(
    cx: &Context,
    graph: &crate::engine::Graph,
    provider: &AnyProvider,
    store: &Store,
) -> Result<(), Failure> {
    let Some(holder) = store.holder() else {
        return Ok(());
    };
    if store.exists().await? {
        return Ok(());
    }
    let Some(resource) = graph.get(holder.addr) else {
        return Ok(());
    };
    cx.out.progress(format!(
        "Creating {} first: it holds the state and its lock.",
        holder.description
    ));
    provider.create(resource).await?;
    Ok(())
}

async fn locked(
    cx: &Context,
    args: &UpArgs,
    graph: &crate::engine::Graph,
    provider: &AnyProvider,
    store: &Store,
) -> Result<i32, Failure> {
    let mut state = cx.state_in(store).await?;
    let plan = plan::plan_up(graph, &state, provider).await?;
    let pending_records = plan.steps.iter().any(|s| s.record);

    if !plan.has_changes() {
        let report = if pending_records {
            let never = std::sync::atomic::AtomicBool::new(false);
            apply::apply(
                &plan,
                provider,
                store,
                &mut state,
                DeleteOptions::default(),
                &Hooks::default(),
                &never,
                &mut |_| {},
            )
            .await?
        } else {
            Report::default()
        };
        no_changes(cx.out, &plan, &report, provider);
        return Ok(0);
    }
    if !cx.out.json() {
        cx.out.result(
            format!(
                "mlinfra will change stack `{}` on {}:\n\n{plan}",
                cx.stack_name(),
                provider.target()
            ),
            &(),
        );
    }
    if !confirm("\nApply these changes?", args.yes, "mlinfra up --yes")? {
        cx.out.progress("Nothing was changed.");
        return Ok(1);
    }
    let report = execute(
        &cx.out,
        &plan,
        provider,
        store,
        &mut state,
        DeleteOptions::default(),
    )
    .await?;
    let mut text = format!(
        "\nApply complete: {} created, {} updated, {} deleted in {} ms.\n",
        report.created, report.updated, report.deleted, report.elapsed_ms
    );
    let outputs = super::outputs::collect(&state);
    if !outputs.is_empty() {
        text.push_str("\nOutputs:\n");
        text.push_str(&super::outputs::render(&outputs));
    }
    cx.out.result(
        text,
        &json!({ "plan": plan, "applied": report, "outputs": outputs, "api_calls": api_calls(provider) }),
    );
    Ok(0)
}

/// Report a plan without changes, and the API calls it took.
fn no_changes(out: Out, plan: &Plan, report: &Report, provider: &AnyProvider) {
    let mut text = plan.to_string();
    if report.recorded > 0 {
        let _ = writeln!(
            text,
            "Recorded {} existing resources in the state.",
            report.recorded
        );
    }
    let calls = api_calls(provider);
    if let Some(c) = &calls {
        let _ = writeln!(
            text,
            "{} API calls, {} of them changing anything.",
            c["total"], c["mutating"]
        );
    }
    out.result(
        text,
        &json!({ "plan": plan, "applied": report, "api_calls": calls }),
    );
}

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
        Err(e @ apply::ApplyError::Interrupted { .. }) => Err(Failure {
            message: e.to_string(),
            code: 130,
        }),
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
