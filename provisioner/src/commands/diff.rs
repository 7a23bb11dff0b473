//! `mlinfra diff`: the plan of an `up`, read from the state and the live resources; changes
//! nothing (on AWS, only read calls).

use super::{Context, Failure};
use crate::cli::{DiffArgs, Global};
use crate::engine::plan;

pub async fn run(g: &Global, args: &DiffArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let graph = cx.desired()?;
    let (provider, store) = cx.infra().await?;
    let state = cx.state_in(&store).await?;
    let plan = plan::plan_up(&graph, &state, &provider).await?;
    cx.out.result(&plan, &plan);
    Ok(if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        0
    })
}
