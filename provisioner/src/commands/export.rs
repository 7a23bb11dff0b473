//! `mlinfra export arm`: the platform as an Azure Resource Manager template, from the stack file
//! alone (pure: no network), for `az deployment group create --template-file`.

use std::path::Path;

use super::{Failure, desired_graph, load_stack};
use crate::cli::Global;
use crate::providers::azure::{self, arm};

pub fn arm(g: &Global, out: Option<&Path>) -> Result<i32, Failure> {
    let loaded = load_stack(g)?;
    let stack = &loaded.stack;
    let mut graph = desired_graph(stack)?;
    azure::add_defaults(&mut graph).map_err(Failure::new)?;
    azure::check_container_name(&stack.lake.bucket)
        .map_err(|e| Failure::new(format!("lake.bucket: {e}")))?;
    let registry = format!("{}-registry", stack.name);
    let template = arm::template(&graph, &stack.name, &stack.lake.bucket, &registry);
    let mut text = serde_json::to_string_pretty(&template)
        .map_err(|e| Failure::new(format!("cannot encode the template: {e}")))?;
    text.push('\n');
    match out {
        None => print!("{text}"),
        Some(p) => {
            std::fs::write(p, &text)
                .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", p.display())))?;
            eprintln!("wrote the ARM template to {}", p.display());
        }
    }
    Ok(0)
}
