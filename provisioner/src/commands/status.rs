//! `mlinfra status`: what the state records, and who holds the lock.

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure};
use crate::cli::Global;

pub async fn run(g: &Global) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (_, store) = cx.infra().await?;
    let recorded = store.load(cx.stack_name(), cx.env.as_str()).await?;
    let holder = store.lock_holder().await?;
    let mut text = String::new();
    let _ = writeln!(text, "stack:     {}", cx.stack_name());
    let _ = writeln!(text, "env:       {}", cx.env.as_str());
    let _ = writeln!(text, "state:     {}", store.location());
    match &recorded {
        None => {
            let _ = writeln!(text, "resources: none (run `mlinfra up`)");
        }
        Some(s) => {
            let _ = writeln!(text, "serial:    {}", s.serial);
            let _ = writeln!(text, "updated:   {}", s.updated_at);
            let _ = writeln!(text, "resources: {}", s.resources.len());
            let width = s.resources.keys().map(String::len).max().unwrap_or(0);
            for (addr, r) in &s.resources {
                let _ = writeln!(text, "  {addr:<width$}  {}", r.kind);
            }
        }
    }
    match &holder {
        Some(h) => {
            let _ = writeln!(
                text,
                "lock:      held by {} on {} (pid {}, `mlinfra {}`) since {}{}",
                h.holder,
                h.host,
                h.pid,
                h.operation,
                h.since,
                if h.is_stale() {
                    " — stale, `mlinfra unlock` breaks it"
                } else {
                    ""
                }
            );
        }
        None => {
            let _ = writeln!(text, "lock:      free");
        }
    }
    let resources: Vec<_> = recorded
        .as_ref()
        .map(|s| {
            s.resources
                .iter()
                .map(|(a, r)| json!({"addr": a, "kind": r.kind}))
                .collect()
        })
        .unwrap_or_default();
    cx.out.result(
        text,
        &json!({
            "stack": cx.stack_name(),
            "env": cx.env.as_str(),
            "state_file": store.location(),
            "serial": recorded.as_ref().map(|s| s.serial),
            "updated_at": recorded.as_ref().map(|s| s.updated_at.clone()),
            "resources": resources,
            "lock": holder,
        }),
    );
    Ok(0)
}
