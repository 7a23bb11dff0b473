//! `mlinfra outputs`: the values a user needs after `up` (where the lake is, the API URL, where
//! the API key is kept), read from the state. Secrets are never printed, only where they are.

use super::{Context, Failure};
use crate::app::outputs::{collect, render};
use crate::cli::{Global, OutputsArgs};

pub async fn run(g: &Global, args: &OutputsArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (_, store) = cx.infra().await?;
    let state = cx.state_in(&store).await?;
    let outputs = collect(&state);
    if outputs.is_empty() {
        return Err(Failure::new(format!(
            "stack `{}` has no outputs on `{}`: nothing is deployed\nhint: run `mlinfra up`",
            cx.stack_name(),
            cx.env.as_str()
        )));
    }
    match &args.name {
        Some(name) => match outputs.get(name) {
            Some(v) => cx.out.result(format!("{v}\n"), v),
            None => {
                return Err(Failure::new(format!(
                    "no output named `{name}`\nhint: the outputs are {}",
                    outputs
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
        None => cx.out.result(render(&outputs), &outputs),
    }
    Ok(0)
}
