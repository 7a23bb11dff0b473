//! `mlinfra down`: delete everything `up` created, dependents first and the data lake last.
//! The data lake's and the registry's contents are kept unless `--delete-data`; the output says
//! which.

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure, confirm};
use crate::cli::{DownArgs, Global};
use crate::engine::plan;
use crate::engine::store::Store;
use crate::providers::{AnyProvider, DeleteOptions, Provider};

pub async fn run(g: &Global, args: &DownArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    cx.refuse_if_terraform("down")?;
    let (provider, store) = cx.infra().await?;
    if let Some(holder) = store.holder()
        && !store.exists().await?
    {
        cx.out.result(
            format!(
                "Nothing to delete: stack `{}` has no state on `{}` ({} does not exist).\n",
                cx.stack_name(),
                cx.env.as_str(),
                holder.description
            ),
            &json!({ "plan": null }),
        );
        return Ok(0);
    }
    // Look before locking: with nothing deployed, `down` ends here having written nothing (not
    // even the lock file, or the directory that would hold it).
    if !plan::plan_down(&cx.state_in(&store).await?).has_changes() {
        nothing_to_delete(&cx);
        return Ok(0);
    }
    let lock = cx.lock(&store, "down").await?;
    let result = locked(&cx, args, &provider, &store).await;
    lock.release().await;
    let (code, all_gone) = result?;
    if all_gone && store.is_local() {
        // Leave nothing behind: the environment directory, and `.mlinfra/` if it is now empty.
        if std::fs::remove_dir(&cx.root).is_ok()
            && let Some(parent) = cx.root.parent().filter(|p| p.ends_with(".mlinfra"))
        {
            let _ = std::fs::remove_dir(parent);
        }
    }
    Ok(code)
}

fn nothing_to_delete(cx: &Context) {
    cx.out.result(
        format!(
            "Nothing to delete: stack `{}` has no resources on `{}`.\n",
            cx.stack_name(),
            cx.env.as_str()
        ),
        &json!({ "plan": null }),
    );
}

/// The work under the lock; returns the exit code and whether nothing is left.
async fn locked(
    cx: &Context,
    args: &DownArgs,
    provider: &AnyProvider,
    store: &Store,
) -> Result<(i32, bool), Failure> {
    let mut state = cx.state_in(store).await?;
    let plan = plan::plan_down(&state);
    if !plan.has_changes() {
        // Taken down by another `down` since the look before the lock.
        nothing_to_delete(cx);
        return Ok((0, false));
    }
    if !cx.out.json() {
        let data = if args.delete_data {
            "The data lake's and the registry's contents WILL BE DELETED (--delete-data)."
        } else {
            "The data lake's and the registry's contents are kept (pass --delete-data to delete them)."
        };
        cx.out.result(
            format!(
                "mlinfra will delete stack `{}` from {}:\n\n{plan}{data}\n",
                cx.stack_name(),
                provider.target()
            ),
            &(),
        );
    }
    if !confirm("\nDelete these resources?", args.yes, "mlinfra down --yes")? {
        cx.out.progress("Nothing was deleted.");
        return Ok((1, false));
    }
    let opts = DeleteOptions {
        delete_data: args.delete_data,
    };
    let report =
        crate::app::apply::execute(&cx.out, &plan, provider, store, &mut state, opts).await?;
    let all_gone = state.resources.is_empty();
    if all_gone {
        store.remove().await?;
    }
    let mut text = format!("\nDestroy complete: {} deleted", report.deleted);
    if report.recorded > 0 {
        let _ = write!(text, ", {} already gone", report.recorded);
    }
    if !report.retained.is_empty() {
        let _ = write!(text, ", {} kept", report.retained.len());
    }
    let _ = writeln!(text, " in {} ms.", report.elapsed_ms);
    for (_, what) in report.retained.iter().chain(&report.emptied) {
        let _ = writeln!(text, "Note: {what}.");
    }
    cx.out.result(
        text,
        &json!({ "plan": plan, "applied": report, "api_calls": crate::app::apply::api_calls(provider) }),
    );
    Ok((0, all_gone))
}
