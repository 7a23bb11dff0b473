//! EventBridge rules on a schedule (the weekly retrain → `train`, the daily check → `monitor`),
//! each with its target and the permission to invoke the function. Rules rather than
//! EventBridge Scheduler: LocalStack's Scheduler never fires.

use aws_sdk_eventbridge::types::{RuleState, Target};
use serde_json::{Value, json};

use super::{AwsProvider, Ctx as _, invalid, prop_str, recorded_or};
use crate::engine::Resource;
use crate::providers::{Deleted, ProviderError};

/// The id of a rule's one target.
const TARGET_ID: &str = "mlinfra-function";

fn rule_name(p: &AwsProvider, addr: &str, live: &Value) -> String {
    recorded_or(live, "name", || {
        p.name(addr.strip_prefix("schedule.").unwrap_or(addr))
    })
}

fn permission_id(rule: &str) -> String {
    format!("mlinfra-rule-{rule}")
}

pub async fn read(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let name = rule_name(p, addr, &live);
    let events = &p.clients.events;
    let Some(rule) = events
        .describe_rule()
        .name(&name)
        .send()
        .await
        .found(addr, "events:DescribeRule")?
    else {
        return Ok(None);
    };
    live["name"] = json!(name);
    live["expression"] = json!(rule.schedule_expression);
    live["enabled"] = json!(rule.state == Some(RuleState::Enabled));
    let targets = events
        .list_targets_by_rule()
        .rule(&name)
        .send()
        .await
        .ctx(addr, "events:ListTargetsByRule")?
        .targets
        .unwrap_or_default();
    let target = targets
        .iter()
        .find(|t| t.id == TARGET_ID)
        .map(|t| t.arn.clone());
    let function = live["function"].as_str().map(str::to_string);
    live["function"] = match (target, function) {
        (None, _) => Value::Null,
        (Some(arn), Some(f)) if arn == p.alias_arn(&f).await? => {
            let sids = p.invoke_statements(addr, &f).await?;
            if !sids.contains(&permission_id(&name)) {
                live["permission"] = json!("missing");
            }
            json!(f)
        }
        (Some(arn), _) => json!(arn),
    };
    Ok(Some(live))
}

pub async fn put(p: &AwsProvider, r: &Resource) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let expression = prop_str(r, "expression")?;
    let function = prop_str(r, "function")?;
    let enabled = r.props["enabled"].as_bool().unwrap_or(true);
    let events = &p.clients.events;
    let arn = events
        .put_rule()
        .name(name)
        .schedule_expression(expression)
        .state(if enabled {
            RuleState::Enabled
        } else {
            RuleState::Disabled
        })
        .description(format!("mlinfra: {} of stack {}", addr, p.settings.stack))
        .send()
        .await
        .ctx(addr, "events:PutRule")?
        .rule_arn
        .ok_or_else(|| invalid(addr, "PutRule returned no ARN"))?;
    p.allow_invoke(
        addr,
        function,
        &permission_id(name),
        "events.amazonaws.com",
        &arn,
    )
    .await?;
    let target = Target::builder()
        .id(TARGET_ID)
        .arn(p.alias_arn(function).await?)
        .build()
        .map_err(|e| invalid(addr, e.to_string()))?;
    let out = events
        .put_targets()
        .rule(name)
        .targets(target)
        .send()
        .await
        .ctx(addr, "events:PutTargets")?;
    if out.failed_entry_count > 0 {
        let e = out.failed_entries.unwrap_or_default();
        let first = e.first();
        return Err(ProviderError::new(
            addr,
            first
                .and_then(|f| f.error_code.as_deref())
                .unwrap_or("PutTargets"),
            first
                .and_then(|f| f.error_message.clone())
                .unwrap_or_else(|| "EventBridge refused the target".into()),
        ));
    }
    Ok(json!({ "arn": arn }))
}

pub async fn delete(p: &AwsProvider, addr: &str, props: &Value) -> Result<Deleted, ProviderError> {
    let name = rule_name(p, addr, props);
    let events = &p.clients.events;
    let removed = events
        .remove_targets()
        .rule(&name)
        .ids(TARGET_ID)
        .send()
        .await
        .found(addr, "events:RemoveTargets")?;
    let deleted = if removed.is_some() {
        events
            .delete_rule()
            .name(&name)
            .send()
            .await
            .found(addr, "events:DeleteRule")?
    } else {
        None
    };
    if let Some(f) = props["function"].as_str() {
        p.revoke_invoke(addr, f, &permission_id(&name)).await?;
    }
    Ok(Deleted::if_existed(deleted.is_some()))
}
