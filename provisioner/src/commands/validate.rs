//! `mlinfra validate`: check a stack file, report every error at once. Pure: no network.

use serde_json::json;

use super::{Failure, default_stack_file};
use crate::cli::Global;
use crate::output::Out;
use crate::stack;

pub fn run(g: &Global) -> Result<i32, Failure> {
    let out = Out::new(g);
    let path = match &g.file {
        Some(p) => p.clone(),
        None => default_stack_file()?,
    };
    let file = path.display().to_string();
    match stack::load(&path) {
        Ok(loaded) => {
            let data = stack::data::check(&loaded);
            for w in &data.warnings {
                out.warn(w);
            }
            if !data.errors.is_empty() {
                if out.json() {
                    out.result(
                        "",
                        &json!({ "file": file, "valid": false, "errors": data.errors }),
                    );
                    return Ok(1);
                }
                let src = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(Failure::rendered(crate::diag::render_all(
                    &data.errors,
                    &file,
                    &src,
                )));
            }
            let s = &loaded.stack;
            let graph = super::desired_graph(s)
                .map_err(|e| Failure::new(format!("{file}: {}", e.message)))?;
            let text = format!(
                "`{file}` is valid: stack `{}`, {} functions, {} schedules, {} resources\n",
                s.name,
                s.functions.len(),
                s.schedules.len(),
                graph.len()
            );
            out.result(
                text,
                &json!({ "file": file, "valid": true, "stack": s.name, "resources": graph.len(), "errors": [] }),
            );
            Ok(0)
        }
        Err(e) if out.json() && e.io.is_none() => {
            out.result(
                "",
                &json!({ "file": file, "valid": false, "errors": e.diags }),
            );
            Ok(1)
        }
        Err(e) => Err(Failure::rendered(e.render())),
    }
}
