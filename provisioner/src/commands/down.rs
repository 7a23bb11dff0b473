//! `mlinfra down`: delete everything `up` created, dependents first. The data lake's and the
//! registry's contents are kept unless `--delete-data`; the output says which.

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure, confirm};
use crate::cli::{DownArgs, Global};
use crate::engine::{lock, plan};
use crate::providers::{DeleteOptions, Provider};

pub async fn run(g: &Global, args: &DownArgs) -> Result<i32, Failure> {
    let cx = Context::new(g)?;
    let lock = lock::acquire(&cx.lock_path(), "down")?;
    let mut state = cx.state()?;
    let provider = cx.provider();
    let plan = plan::plan_down(&state);
    if !plan.has_changes() {
        cx.out.result(
            format!(
                "Nothing to delete: stack `{}` has no resources on `{}`.\n",
                cx.stack_name(),
                cx.env.as_str()
            ),
            &json!({ "plan": plan }),
        );
        return Ok(0);
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
        return Ok(1);
    }
    let opts = DeleteOptions {
        delete_data: args.delete_data,
    };
    let report = super::up::execute(&cx, &plan, &provider, &mut state, opts).await?;
    if state.resources.is_empty() {
        cx.store().remove()?;
        drop(lock);
        // Leave nothing behind: the environment directory, and `.mlinfra/` if it is now empty.
        if std::fs::remove_dir(&cx.root).is_ok() {
            if let Some(parent) = cx.root.parent().filter(|p| p.ends_with(".mlinfra")) {
                let _ = std::fs::remove_dir(parent);
            }
        }
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
    cx.out
        .result(text, &json!({ "plan": plan, "applied": report }));
    Ok(0)
}
