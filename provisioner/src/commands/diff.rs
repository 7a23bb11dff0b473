//! `mlinfra diff`: the plan of an `up`, read from the state and the live resources; changes
//! nothing.

use super::{Context, Failure};
use crate::cli::{DiffArgs, Global};
use crate::engine::{graph, plan};

pub async fn run(g: &Global, args: &DiffArgs) -> Result<i32, Failure> {
    let cx = Context::new(g)?;
    let graph = graph::desired(&cx.loaded.stack)?;
    let state = cx.state()?;
    let plan = plan::plan_up(&graph, &state, &cx.provider()).await?;
    cx.out.result(&plan, &plan);
    Ok(if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        0
    })
}
