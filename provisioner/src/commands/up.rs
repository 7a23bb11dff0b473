//! `mlinfra up`: plan, confirm, apply with progress, record the state after every step.

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure, confirm};
use crate::app::apply::{api_calls, execute};
use crate::cli::{Global, UpArgs};
use crate::engine::apply::{self, Report};
use crate::engine::hooks::Hooks;
use crate::engine::store::Store;
use crate::engine::{Plan, plan};
use crate::output::Out;
use crate::providers::{AnyProvider, DeleteOptions, Provider};

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
    let outputs = crate::app::outputs::collect(&state);
    if !outputs.is_empty() {
        text.push_str("\nOutputs:\n");
        text.push_str(&crate::app::outputs::render(&outputs));
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
