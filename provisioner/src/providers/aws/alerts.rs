//! Alerts: the SNS topic (encrypted with the AWS-managed key) with the stack's email and
//! webhook subscriptions, and one CloudWatch alarm per monitoring threshold, notifying it.
//! The `monitor` and `predict` functions publish the metrics in namespace [`NAMESPACE`] with the
//! dimension `Stack`.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use serde_json::{Value, json};

use super::{AwsProvider, Ctx as _, invalid, prop_str, recorded_or};
use crate::engine::Resource;
use crate::providers::{Deleted, ProviderError};

/// The CloudWatch namespace of mlinfra's metrics.
pub const NAMESPACE: &str = "mlinfra";

fn name_of(p: &AwsProvider, addr: &str, live: &Value, fallback: &str) -> String {
    recorded_or(live, "name", || {
        p.name(addr.split_once('.').map_or(fallback, |(_, l)| l))
    })
}

fn endpoints(subs: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = subs
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some((
                        s["protocol"].as_str()?.to_string(),
                        s["endpoint"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

async fn subscriptions(
    p: &AwsProvider,
    addr: &str,
    arn: &str,
) -> Result<Vec<(String, String, String)>, ProviderError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = p
            .clients
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(arn)
            .set_next_token(token)
            .send()
            .await
            .ctx(addr, "sns:ListSubscriptionsByTopic")?;
        for s in page.subscriptions.unwrap_or_default() {
            out.push((
                s.protocol.unwrap_or_default(),
                s.endpoint.unwrap_or_default(),
                s.subscription_arn.unwrap_or_default(),
            ));
        }
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

pub async fn read_topic(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let name = name_of(p, addr, &live, "alerts");
    let arn = p.arn("sns", &name).await?;
    if p.clients
        .sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .found(addr, "sns:GetTopicAttributes")?
        .is_none()
    {
        return Ok(None);
    }
    live["name"] = json!(name);
    let mut have: Vec<(String, String)> = subscriptions(p, addr, &arn)
        .await?
        .into_iter()
        .map(|(proto, ep, _)| (proto, ep))
        .collect();
    have.sort();
    have.dedup();
    if have != endpoints(&live["subscriptions"]) {
        live["subscriptions"] = json!(
            have.iter()
                .map(|(proto, ep)| json!({"protocol": proto, "endpoint": ep}))
                .collect::<Vec<_>>()
        );
    }
    Ok(Some(live))
}

pub async fn put_topic(p: &AwsProvider, r: &Resource) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let sns = &p.clients.sns;
    let arn = sns
        .create_topic()
        .name(name)
        .attributes("KmsMasterKeyId", "alias/aws/sns")
        .send()
        .await
        .ctx(addr, "sns:CreateTopic")?
        .topic_arn
        .ok_or_else(|| invalid(addr, "CreateTopic returned no ARN"))?;
    let want = endpoints(&r.props["subscriptions"]);
    let have = subscriptions(p, addr, &arn).await?;
    for (proto, ep) in &want {
        if !have.iter().any(|(hp, he, _)| hp == proto && he == ep) {
            sns.subscribe()
                .topic_arn(&arn)
                .protocol(proto)
                .endpoint(ep)
                .send()
                .await
                .ctx(addr, "sns:Subscribe")?;
        }
    }
    for (proto, ep, sub) in &have {
        let wanted = want.iter().any(|(wp, we)| wp == proto && we == ep);
        // A pending subscription has no ARN yet and cannot be removed.
        if !wanted && sub.starts_with("arn:") {
            sns.unsubscribe()
                .subscription_arn(sub)
                .send()
                .await
                .found(addr, "sns:Unsubscribe")?;
        }
    }
    Ok(json!({ "arn": arn }))
}

pub async fn delete_topic(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
) -> Result<Deleted, ProviderError> {
    let name = name_of(p, addr, props, "alerts");
    let arn = p.arn("sns", &name).await?;
    let sns = &p.clients.sns;
    if sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .found(addr, "sns:GetTopicAttributes")?
        .is_none()
    {
        return Ok(Deleted::AlreadyGone);
    }
    sns.delete_topic()
        .topic_arn(&arn)
        .send()
        .await
        .ctx(addr, "sns:DeleteTopic")?;
    Ok(Deleted::Deleted)
}

fn operator(cmp: &str) -> ComparisonOperator {
    match cmp {
        "<" => ComparisonOperator::LessThanThreshold,
        ">=" => ComparisonOperator::GreaterThanOrEqualToThreshold,
        _ => ComparisonOperator::GreaterThanThreshold,
    }
}

pub async fn read_alarm(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let name = name_of(p, addr, &live, "alarm");
    let Some(alarm) = p
        .clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .ctx(addr, "cloudwatch:DescribeAlarms")?
        .metric_alarms
        .and_then(|a| a.into_iter().next())
    else {
        return Ok(None);
    };
    live["name"] = json!(name);
    live["metric"] = json!(alarm.metric_name);
    live["comparison"] = json!(match alarm.comparison_operator {
        Some(ComparisonOperator::LessThanThreshold) => "<",
        Some(ComparisonOperator::GreaterThanThreshold) => ">",
        Some(ComparisonOperator::GreaterThanOrEqualToThreshold) => ">=",
        other =>
            return Ok(Some(
                json!({"comparison": other.map(|o| o.as_str().to_string())})
            )),
    });
    live["threshold"] = json!(alarm.threshold);
    let topic = p.arn("sns", &p.name("alerts")).await?;
    if !alarm.alarm_actions.unwrap_or_default().contains(&topic) {
        live["notify"] = Value::Null;
    }
    Ok(Some(live))
}

pub async fn put_alarm(p: &AwsProvider, r: &Resource) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let name = prop_str(r, "name")?;
    let metric = prop_str(r, "metric")?;
    let cmp = prop_str(r, "comparison")?;
    let threshold = r.props["threshold"]
        .as_f64()
        .ok_or_else(|| invalid(addr, "`threshold` is not a number"))?;
    let topic = p.arn("sns", &p.name("alerts")).await?;
    p.clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description(format!(
            "mlinfra: {metric} {cmp} {threshold} on stack {}",
            p.settings.stack
        ))
        .namespace(NAMESPACE)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name("Stack")
                .value(&p.settings.stack)
                .build(),
        )
        .statistic(Statistic::Maximum)
        .period(86_400)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(operator(cmp))
        .treat_missing_data("notBreaching")
        .alarm_actions(&topic)
        .send()
        .await
        .ctx(addr, "cloudwatch:PutMetricAlarm")?;
    Ok(json!({ "arn": p.arn("cloudwatch", &format!("alarm:{name}")).await? }))
}

pub async fn delete_alarm(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
) -> Result<Deleted, ProviderError> {
    let name = name_of(p, addr, props, "alarm");
    let cw = &p.clients.cloudwatch;
    let exists = cw
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .ctx(addr, "cloudwatch:DescribeAlarms")?
        .metric_alarms
        .is_some_and(|a| !a.is_empty());
    if !exists {
        return Ok(Deleted::AlreadyGone);
    }
    cw.delete_alarms()
        .alarm_names(&name)
        .send()
        .await
        .ctx(addr, "cloudwatch:DeleteAlarms")?;
    Ok(Deleted::Deleted)
}
