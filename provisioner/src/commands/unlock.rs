//! `mlinfra unlock`: break a lock left behind by an `up` or `down` that was killed.

use serde_json::json;

use super::{Context, Failure};
use crate::cli::{Global, UnlockArgs};

pub async fn run(g: &Global, args: &UnlockArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let (_, store) = cx.infra().await?;
    let Some(holder) = store.lock_holder().await? else {
        cx.out.result(
            format!(
                "The state of stack `{}` on `{}` is not locked.\n",
                cx.stack_name(),
                cx.env.as_str()
            ),
            &json!({ "unlocked": false, "lock": null }),
        );
        return Ok(0);
    };
    let same_host = holder.host == crate::identity::host_name();
    if same_host && !holder.is_stale() && !args.force {
        return Err(Failure::new(format!(
            "the lock is held by a running process: {} (pid {}, `mlinfra {}`) since {}\nhint: wait for it to finish; `mlinfra unlock --force` breaks the lock anyway",
            holder.holder, holder.pid, holder.operation, holder.since
        )));
    }
    store.force_unlock().await?;
    cx.out.result(
        format!(
            "Broke the lock held by {} on {} (pid {}, `mlinfra {}`) since {}.\n",
            holder.holder, holder.host, holder.pid, holder.operation, holder.since
        ),
        &json!({ "unlocked": true, "lock": holder }),
    );
    Ok(0)
}
